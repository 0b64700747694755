// libFuzzer target: scan::walkPickle and scan::looksLikePickle on arbitrary bytes.
//
// Input layout: byte 0 selects the context (bit 0 torch_container, bit 1 trailing_data_ok,
// bit 2 the opt-in profiles, bits 3-5 the read chunk size of the second walk); the rest is the
// stream. Invariants (a violation aborts, which libFuzzer reports as a crash):
// - the report's verdict is the most severe finding; Clean means no finding and a complete walk;
// - outcome.end stays inside the input; complete implies at least one pickle, and (without
//   trailing_data_ok) that the whole input was consumed;
// - top-level finding offsets point inside the input;
// - reading through a source that returns a few bytes per read gives the same report and
//   outcome as one that returns everything (the buffered reader hides read sizes);
// - walking the same stream behind a junk prefix (begin > 0) gives the same verdict and rules,
//   with top-level offsets shifted by the prefix;
// - when the walk completes, an independent opcode-argument table (written here from
//   scanning.md §3.2, not shared with the walker) finds STOP opcodes at the same places: both
//   agree on where every opcode and argument ends (not for joblib streams, whose raw array bytes
//   sit between opcodes).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "scan/pickle.h"

namespace {

using namespace hubgate;
using namespace hubgate::scan;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "pickle_fuzz: invariant violated: %s\n", what);
  std::abort();
}

class ChunkySource final : public ByteSource {
 public:
  ChunkySource(const std::string& bytes, std::size_t chunk) : bytes_(bytes), chunk_(chunk) {}
  std::uint64_t size() const override { return bytes_.size(); }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= bytes_.size()) return std::size_t{0};
    std::size_t n = std::min({out.size(), chunk_, static_cast<std::size_t>(bytes_.size() - offset)});
    std::memcpy(out.data(), bytes_.data() + offset, n);
    return n;
  }

 private:
  const std::string& bytes_;
  std::size_t chunk_;
};

// Independent argument table: how many bytes follow each opcode.
enum class Arg { None, Fixed, Line, TwoLines, Len1, Len4, Len4Signed, Len8, Invalid };
struct OpArg {
  Arg kind;
  int n;  // Fixed: byte count
};

OpArg argOf(std::uint8_t op) {
  switch (op) {
    case '(': case '.': case '0': case '1': case '2': case 'N': case 'R': case 'a': case 'b':
    case 'd': case '}': case 'e': case 'l': case ']': case 'o': case 's': case 't': case ')':
    case 'u': case 'Q': case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89:
    case 0x8f: case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x97: case 0x98:
      return {Arg::None, 0};
    case 'F': case 'I': case 'L': case 'P': case 'S': case 'V': case 'g': case 'p':
      return {Arg::Line, 0};
    case 'c': case 'i':
      return {Arg::TwoLines, 0};
    case 'G': return {Arg::Fixed, 8};
    case 'J': return {Arg::Fixed, 4};
    case 'K': return {Arg::Fixed, 1};
    case 'M': return {Arg::Fixed, 2};
    case 'h': case 'q': case 0x80: case 0x82: return {Arg::Fixed, 1};
    case 'j': case 'r': case 0x84: return {Arg::Fixed, 4};
    case 0x83: return {Arg::Fixed, 2};
    case 0x95: return {Arg::Fixed, 8};
    case 'U': case 'C': case 0x8a: case 0x8c: return {Arg::Len1, 0};
    case 'X': case 'B': return {Arg::Len4, 0};
    case 'T': case 0x8b: return {Arg::Len4Signed, 0};
    case 0x8d: case 0x8e: case 0x96: return {Arg::Len8, 0};
    default: return {Arg::Invalid, 0};
  }
}

// Offsets of the STOP opcodes found by walking [begin, end) with the table, or nullopt when the
// table cannot walk it (truncated argument or unknown opcode).
std::optional<std::vector<std::uint64_t>> stopsByTable(const std::string& s, std::uint64_t begin,
                                                       std::uint64_t end) {
  std::vector<std::uint64_t> stops;
  std::uint64_t i = begin;
  auto le = [&](std::uint64_t at, int n) {
    std::uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(s[at + k]);
    return v;
  };
  while (i < end) {
    std::uint8_t op = static_cast<unsigned char>(s[i]);
    std::uint64_t at = i + 1;
    OpArg a = argOf(op);
    std::uint64_t len = 0;
    switch (a.kind) {
      case Arg::None: break;
      case Arg::Fixed: len = a.n; break;
      case Arg::Line:
      case Arg::TwoLines: {
        int lines = a.kind == Arg::Line ? 1 : 2;
        std::uint64_t p = at;
        for (int l = 0; l < lines; ++l) {
          while (p < end && s[p] != '\n') ++p;
          if (p >= end) return std::nullopt;
          ++p;
        }
        len = p - at;
        break;
      }
      case Arg::Len1:
      case Arg::Len4:
      case Arg::Len4Signed:
      case Arg::Len8: {
        int w = a.kind == Arg::Len1 ? 1 : a.kind == Arg::Len8 ? 8 : 4;
        if (end - at < static_cast<std::uint64_t>(w)) return std::nullopt;
        std::uint64_t n = le(at, w);
        if (a.kind == Arg::Len4Signed && (n & 0x80000000u)) return std::nullopt;
        if (n > end - at - w) return std::nullopt;
        len = w + n;
        break;
      }
      case Arg::Invalid:
        return std::nullopt;
    }
    if (len > end - at) return std::nullopt;
    if (op == '.') stops.push_back(i);
    i = at + len;
  }
  return stops;
}

std::string describe(const Report& r) {
  std::string out(verdictName(r.verdict));
  for (const auto& f : r.findings) {
    out += "|" + std::string(verdictName(f.severity)) + " " + f.rule + " @" + std::to_string(f.offset) + " " +
           f.location + " " + f.message;
  }
  return out;
}

std::string rules(const Report& r) {
  std::string out(verdictName(r.verdict));
  for (const auto& f : r.findings) out += "|" + f.rule;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  Limits limits;
  limits.max_pickle_opcodes = 200'000;
  limits.max_pickle_stack = 20'000;
  limits.max_pickle_memo = 20'000;
  PickleContext ctx;
  ctx.limits = &limits;
  ctx.torch_container = flags & 1;
  ctx.trailing_data_ok = flags & 2;
  if (flags & 4) ctx.extra_profiles = {"sklearn", "hf-training"};

  MemorySource whole(bytes);
  Report report;
  PickleOutcome outcome = walkPickle(whole, 0, ctx, report);

  Verdict worst = Verdict::Clean;
  for (const auto& f : report.findings) {
    worst = worse(worst, f.severity);
    if (f.location.empty() && f.offset > bytes.size()) violated("finding offset outside the input");
    if (f.rule.empty() || f.message.empty()) violated("finding without rule or message");
  }
  if (worst != report.verdict) violated("verdict is not the most severe finding");
  if (outcome.end > bytes.size()) violated("outcome.end past the input");
  if (outcome.complete && outcome.pickles < 1) violated("complete without a pickle");
  if (outcome.complete && !ctx.trailing_data_ok && outcome.end != bytes.size()) {
    violated("complete but the input was not consumed");
  }
  if (report.verdict == Verdict::Clean && !outcome.complete) violated("clean but incomplete");
  if (report.verdict == Verdict::Clean && !report.findings.empty()) violated("clean with findings");

  // Short reads change nothing.
  std::size_t chunk = 1 + ((flags >> 3) & 7);
  ChunkySource chunky(bytes, chunk);
  Report report2;
  PickleOutcome outcome2 = walkPickle(chunky, 0, ctx, report2);
  if (describe(report) != describe(report2)) violated("short reads changed the report");
  if (outcome.end != outcome2.end || outcome.pickles != outcome2.pickles || outcome.complete != outcome2.complete ||
      outcome.globals != outcome2.globals || outcome.persistent_ids != outcome2.persistent_ids) {
    violated("short reads changed the outcome");
  }

  // A junk prefix skipped by `begin` shifts offsets and changes nothing else.
  const std::string prefixed = "\xff\x00junk" + bytes;
  const std::uint64_t shift = prefixed.size() - bytes.size();
  MemorySource behind(prefixed);
  Report report3;
  PickleOutcome outcome3 = walkPickle(behind, shift, ctx, report3);
  if (rules(report) != rules(report3)) violated("begin offset changed the findings");
  if (outcome3.end != outcome.end + shift || outcome3.globals != outcome.globals) violated("begin offset changed the outcome");
  for (std::size_t k = 0; k < report.findings.size() && k < report3.findings.size(); ++k) {
    const auto& a = report.findings[k];
    const auto& b = report3.findings[k];
    if (a.location.empty() && b.location.empty() && a.offset + shift != b.offset) violated("offsets not shifted");
  }

  // Argument decoding agrees with the independent table on every complete walk (joblib streams
  // excepted: their raw array bytes are not opcodes).
  const bool joblib = std::find(outcome.globals.begin(), outcome.globals.end(),
                                "joblib.numpy_pickle.NumpyArrayWrapper") != outcome.globals.end();
  if (outcome.complete && outcome.pickles > 0 && !joblib) {
    auto stops = stopsByTable(bytes, 0, outcome.end);
    if (!stops) violated("walker completed a stream the argument table cannot walk");
    if (stops->size() != static_cast<std::size_t>(outcome.pickles)) violated("STOP count differs from the table");
    if (stops->back() + 1 != outcome.end) violated("last STOP differs from the table");
  }

  (void)looksLikePickle(whole, 0);
  if (bytes.size() > 3) (void)looksLikePickle(whole, 3);
  return 0;
}
