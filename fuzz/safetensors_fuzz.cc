// libFuzzer target: scan::validateSafetensors and scan::looksLikeSafetensors on arbitrary bytes
// (the whole input is the file).
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
// - only the length prefix and the header are read: no read ends past 8 + N (N the declared
//   header length, when it is within the file), nothing past the end of the file;
// - findings are capped (at most 65) and every one is Invalid, Suspicious or Error (the
//   validator has no Malicious rule); the verdict is the worst finding; the same input gives
//   the same findings;
// - a Clean verdict implies, checked independently: N <= 100 000 000 and 8 + N <= size, the
//   header is well-formed UTF-8 (oracles.h), looksLikeSafetensors agrees, nlohmann::json
//   parses the header as an object without duplicate keys, and the tensors' byte ranges sum
//   to exactly the data buffer (size - 8 - N).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "oracles.h"
#include "scan/safetensors.h"

namespace {

using namespace hubgate::scan;

class TracingSource final : public ByteSource {
 public:
  explicit TracingSource(std::string_view bytes) : bytes_(bytes) {}
  std::uint64_t size() const override { return bytes_.size(); }
  hubgate::Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    CHECK(offset <= bytes_.size());
    if (offset >= bytes_.size()) return std::size_t{0};
    std::size_t n = std::min<std::size_t>(out.size(), bytes_.size() - offset);
    std::copy_n(reinterpret_cast<const std::byte*>(bytes_.data() + offset), n, out.data());
    max_end = std::max<std::uint64_t>(max_end, offset + n);
    return n;
  }
  std::uint64_t max_end = 0;

 private:
  std::string_view bytes_;
};

// Duplicate-key detection for the oracle: nlohmann's SAX interface sees every key.
struct DuplicateKeys : nlohmann::json_sax<nlohmann::json> {
  std::vector<std::set<std::string>> stack;
  bool duplicate = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    stack.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!stack.back().insert(k).second) duplicate = true;
    return true;
  }
  bool end_object() override {
    stack.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

std::uint64_t le64(std::string_view b) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits limits;

  TracingSource src(in);
  Report report;
  validateSafetensors(src, limits, report);

  // Reads stay within the length prefix and the header.
  std::uint64_t n = size >= 8 ? le64(in) : 0;
  bool sane = size >= 8 && n <= kSafetensorsMaxHeader && n <= size - 8;
  CHECK(src.max_end <= (sane ? 8 + n : std::min<std::uint64_t>(size, 8)));

  CHECK(report.findings.size() <= 65);
  Verdict worst = Verdict::Clean;
  for (const auto& f : report.findings) {
    CHECK(f.severity == Verdict::Invalid || f.severity == Verdict::Suspicious || f.severity == Verdict::Error);
    CHECK(f.rule.starts_with("safetensors."));
    worst = worse(worst, f.severity);
  }
  CHECK(report.verdict == worst || report.findings.size() == 65);

  // Deterministic.
  MemorySource again{std::string(in)};
  Report second;
  validateSafetensors(again, limits, second);
  CHECK(second.verdict == report.verdict && second.findings.size() == report.findings.size());
  for (std::size_t i = 0; i < second.findings.size(); ++i) CHECK(second.findings[i].rule == report.findings[i].rule);

  TracingSource sniff(in);
  bool looks = looksLikeSafetensors(sniff);
  CHECK(sniff.max_end <= (sane ? 8 + n : std::min<std::uint64_t>(size, 8)));
  if (looks) CHECK(sane);

  if (report.verdict != Verdict::Clean) return 0;
  CHECK(sane);
  std::string_view header = in.substr(8, static_cast<std::size_t>(n));
  CHECK(hubgate::fuzz::wellFormedUtf8(header));
  CHECK(looks);
  DuplicateKeys dup;
  CHECK(nlohmann::json::sax_parse(header, &dup));
  CHECK(!dup.duplicate);
  auto j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  CHECK(j.is_object());
  std::uint64_t total = 0;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      CHECK(value.is_object());
      for (const auto& [mk, mv] : value.items()) CHECK(mv.is_string());
      continue;
    }
    CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") && value.contains("data_offsets"));
    const auto& off = value["data_offsets"];
    CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned());
    auto b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
    CHECK(b <= e);
    CHECK(safetensorsDtypeBits(value["dtype"].get<std::string>()).has_value());
    total += e - b;
  }
  CHECK(total == size - 8 - n);
  return 0;
}
