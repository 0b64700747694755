#include "scan/containers.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "scan/sniff.h"

namespace hubgate::scan {
namespace {

__extension__ typedef unsigned __int128 U128;

constexpr std::uint64_t kSmallMember = 1ull << 20;  // read/inflated whole, hashed, inspected
constexpr std::uint64_t kMaterializeMax = 64ull
                                          << 20;   // stored pickles read into memory up to this
constexpr std::uint64_t kSniffPrefix = 64 * 1024;  // inflated to decide about a large member
constexpr std::uint64_t kLegacyMagicMaxBytes = 4096;

// 0x1950a86a20f9469cfc6c, torch/serialization.py MAGIC_NUMBER.
constexpr U128 kTorchMagic = (static_cast<U128>(0x1950u) << 64) | 0xa86a20f9469cfc6cull;
constexpr std::uint64_t kTorchProtocolVersion = 1001;

std::string num(std::uint64_t v) { return std::to_string(v); }

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}
std::string_view basename(std::string_view name) {
  auto slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

// Buffered forward reader for skipPickle().
class Cursor {
 public:
  Cursor(ByteSource& source, std::uint64_t pos)
      : source_(source), pos_(pos), size_(source.size()) {}
  std::uint64_t pos() const { return pos_; }
  std::optional<unsigned char> byte() {
    if (pos_ >= size_) return std::nullopt;
    if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_.size()) {
      std::uint64_t n = std::min<std::uint64_t>(64 * 1024, size_ - pos_);
      auto r = source_.readString(pos_, static_cast<std::size_t>(n));
      if (!r) return std::nullopt;
      buf_ = std::move(*r);
      buf_start_ = pos_;
    }
    return static_cast<unsigned char>(buf_[static_cast<std::size_t>(pos_++ - buf_start_)]);
  }
  bool skip(std::uint64_t n) {
    if (n > size_ - pos_) return false;
    pos_ += n;
    return true;
  }
  std::optional<std::uint64_t> le(int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      auto b = byte();
      if (!b) return std::nullopt;
      v |= static_cast<std::uint64_t>(*b) << (8 * i);
    }
    return v;
  }
  bool skipLine() {
    for (;;) {
      auto b = byte();
      if (!b) return false;
      if (*b == '\n') return true;
    }
  }

 private:
  ByteSource& source_;
  std::uint64_t pos_;
  std::uint64_t size_;
  std::string buf_;
  std::uint64_t buf_start_ = 0;
};

// The value of a pickle that holds one non-negative integer and nothing else:
// [PROTO n] (BININT1 | BININT2 | BININT | LONG1 | LONG4 | INT line | LONG line) STOP.
std::optional<U128> pickleInt(std::string_view p) {
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(p[k]); };
  if (p.size() >= 2 && at(0) == 0x80) i = 2;
  if (i >= p.size()) return std::nullopt;
  const unsigned char op = at(i++);
  U128 v = 0;
  auto need = [&](std::size_t n) { return p.size() >= i + n; };
  switch (op) {
    case 'K':
      if (!need(1)) return std::nullopt;
      v = at(i++);
      break;
    case 'M':
      if (!need(2)) return std::nullopt;
      v = at(i) | (at(i + 1) << 8);
      i += 2;
      break;
    case 'J': {
      if (!need(4)) return std::nullopt;
      std::uint32_t u = at(i) | (at(i + 1) << 8) | (at(i + 2) << 16) |
                        (static_cast<std::uint32_t>(at(i + 3)) << 24);
      if (u & 0x80000000u) return std::nullopt;
      v = u;
      i += 4;
      break;
    }
    case 0x8a:
    case 0x8b: {
      std::size_t n = 0;
      if (op == 0x8a) {
        if (!need(1)) return std::nullopt;
        n = at(i++);
      } else {
        if (!need(4)) return std::nullopt;
        n = at(i) | (at(i + 1) << 8) | (at(i + 2) << 16) |
            (static_cast<std::size_t>(at(i + 3)) << 24);
        i += 4;
      }
      if (n == 0 || n > 16 || !need(n)) return std::nullopt;
      if (at(i + n - 1) & 0x80) return std::nullopt;  // negative
      for (std::size_t k = n; k-- > 0;) v = (v << 8) | at(i + k);
      i += n;
      break;
    }
    case 'I':
    case 'L': {
      std::size_t digits = 0;
      while (i < p.size() && p[i] >= '0' && p[i] <= '9') {
        if (++digits > 38) return std::nullopt;
        v = v * 10 + static_cast<unsigned>(p[i] - '0');
        ++i;
      }
      if (digits == 0) return std::nullopt;
      if (op == 'L' && i < p.size() && p[i] == 'L') ++i;
      if (i >= p.size() || p[i] != '\n') return std::nullopt;
      ++i;
      break;
    }
    default:
      return std::nullopt;
  }
  if (i + 1 != p.size() || p[i] != '.') return std::nullopt;
  return v;
}

std::optional<U128> pickleIntAt(ByteSource& source, std::uint64_t begin, std::uint64_t end) {
  if (end <= begin || end - begin > kLegacyMagicMaxBytes) return std::nullopt;
  auto bytes = source.readString(begin, static_cast<std::size_t>(end - begin));
  if (!bytes) return std::nullopt;
  return pickleInt(*bytes);
}

// Walks exactly the pickle(s) in [begin, end) of `source` (offsets stay those of `source`).
PickleOutcome walkRange(ByteSource& source, std::uint64_t begin, std::uint64_t end,
                        const PickleContext& pctx, Report& report) {
  SliceSource bounded(source, 0, end);
  return walkPickle(bounded, begin, pctx, report);
}

void inspectRange(ByteSource& source, std::uint64_t begin, std::uint64_t end,
                  const std::string& location, ContainerContext& ctx, Report& report) {
  if (!ctx.wantsDecodedBytes() || end <= begin || end - begin > kMaterializeMax) return;
  auto bytes = source.readString(begin, static_cast<std::size_t>(end - begin));
  if (bytes) ctx.inspectDecoded(*bytes, location, report);
}

bool isShortText(std::string_view s) {
  if (s.size() > 256) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c >= 0x7F) return false;
  }
  return true;
}

// Element size of a legacy storage type ("torch.FloatStorage", "torch.cuda.HalfStorage").
std::optional<std::uint64_t> storageElementSize(std::string_view global) {
  static const std::map<std::string_view, std::uint64_t, std::less<>> kSizes = {
      {"DoubleStorage", 8},
      {"FloatStorage", 4},
      {"HalfStorage", 2},
      {"LongStorage", 8},
      {"IntStorage", 4},
      {"ShortStorage", 2},
      {"CharStorage", 1},
      {"ByteStorage", 1},
      {"BoolStorage", 1},
      {"BFloat16Storage", 2},
      {"ComplexDoubleStorage", 16},
      {"ComplexFloatStorage", 8},
      {"QUInt8Storage", 1},
      {"QInt8Storage", 1},
      {"QInt32Storage", 4},
      {"QUInt4x2Storage", 1},
      {"QUInt2x4Storage", 1},
      {"UntypedStorage", 1}};
  if (!startsWith(global, "torch.")) return std::nullopt;
  auto it = kSizes.find(global.substr(global.rfind('.') + 1));
  if (it == kSizes.end()) return std::nullopt;
  return it->second;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ContainerContext

ContainerContext::ContainerContext(const Limits& limits, std::vector<std::string> extra_profiles,
                                   std::uint64_t file_size)
    : limits_(limits), extra_profiles_(std::move(extra_profiles)) {
  std::uint64_t four = file_size > UINT64_MAX / 4 ? UINT64_MAX : 4 * file_size;
  inflate_remaining_ = std::max(four, limits.max_inflate_total_min);
  auto per_gib = limits.time_per_gib.count();
  auto base = limits.time_base.count();
  if (per_gib > 0 || base > 0) {
    long double ms = static_cast<long double>(base) + static_cast<long double>(per_gib) *
                                                          static_cast<long double>(file_size) /
                                                          (1ull << 30);
    ms = std::min<long double>(ms, 24.0L * 3600 * 1000);
    deadline_ =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  }
}

void ContainerContext::inspectDecoded(std::string_view, const std::string&, Report&) {}

PickleContext ContainerContext::pickleContext(const std::string& location, bool torch_container,
                                              bool trailing_data_ok, int depth) {
  PickleContext p;
  p.limits = &limits_;
  p.extra_profiles = extra_profiles_;
  p.torch_container = torch_container;
  p.trailing_data_ok = trailing_data_ok;
  p.location = location;
  p.scan_nested = [this, depth](ByteSource& bytes, const PickleContext& nested, Report& report) {
    scanContent(bytes, nested.location, depth + 1 + nested.nested_depth, report);
  };
  return p;
}

bool ContainerContext::admitMember(const std::string& location, Report& report) {
  if (members_ < limits_.max_members) {
    ++members_;
    return true;
  }
  if (!members_reported_) {
    members_reported_ = true;
    report.add({Verdict::Invalid, "limit.members",
                "more than " + num(limits_.max_members) +
                    " archive members in this file; the rest are not scanned",
                location, 0});
  }
  return false;
}

bool ContainerContext::outOfTime(const std::string& location, Report& report) {
  if (!deadline_ || std::chrono::steady_clock::now() < *deadline_) return false;
  if (!time_reported_) {
    time_reported_ = true;
    report.add({Verdict::Error, "limit.time", "scan time limit reached; the rest is not scanned",
                location, 0});
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Pickle framing

namespace {

// Argument shapes of the 68 opcodes (scanning.md §3.2); Invalid for every other byte.
enum class OpArg : std::uint8_t {
  Invalid,
  Stop,
  None,
  Line,
  TwoLines,
  Fixed1,
  Fixed2,
  Fixed4,
  Fixed8,
  Len1,
  Len4,
  Len4Signed,
  Len8
};

constexpr std::array<OpArg, 256> kOpArgs = [] {
  std::array<OpArg, 256> t{};
  auto set = [&t](std::string_view ops, OpArg a) {
    for (char c : ops) t[static_cast<unsigned char>(c)] = a;
  };
  set(".", OpArg::Stop);
  set("(012NRabdelostu]})Q", OpArg::None);
  set("\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98", OpArg::None);
  set("FILPSVgp", OpArg::Line);
  set("ci", OpArg::TwoLines);
  set("Khq\x80\x82", OpArg::Fixed1);
  set("M\x83", OpArg::Fixed2);
  set("Jjr\x84", OpArg::Fixed4);
  set("G\x95", OpArg::Fixed8);
  set("UC\x8c\x8a", OpArg::Len1);
  set("XB", OpArg::Len4);
  set("T\x8b", OpArg::Len4Signed);
  set("\x8d\x8e\x96", OpArg::Len8);
  return t;
}();

}  // namespace

std::optional<std::uint64_t> skipPickle(ByteSource& source, std::uint64_t begin) {
  Cursor c(source, begin);
  for (;;) {
    auto op = c.byte();
    if (!op) return std::nullopt;
    bool ok = true;
    switch (kOpArgs[*op]) {
      case OpArg::Invalid:
        return std::nullopt;
      case OpArg::Stop:
        return c.pos();
      case OpArg::None:
        break;
      case OpArg::Line:
        ok = c.skipLine();
        break;
      case OpArg::TwoLines:
        ok = c.skipLine() && c.skipLine();
        break;
      case OpArg::Fixed1:
        ok = c.skip(1);
        break;
      case OpArg::Fixed2:
        ok = c.skip(2);
        break;
      case OpArg::Fixed4:
        ok = c.skip(4);
        break;
      case OpArg::Fixed8:
        ok = c.skip(8);
        break;
      case OpArg::Len1:
      case OpArg::Len4:
      case OpArg::Len4Signed:
      case OpArg::Len8: {
        const OpArg a = kOpArgs[*op];
        auto n = c.le(a == OpArg::Len1 ? 1 : a == OpArg::Len8 ? 8 : 4);
        ok = n && !(a == OpArg::Len4Signed && (*n & 0x80000000u)) && c.skip(*n);
        break;
      }
    }
    if (!ok) return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// Legacy torch

bool hasLegacyTorchMagic(ByteSource& source) {
  // The magic pickle is a few bytes long: never frame more than its bound (a plain pickle may
  // be gigabytes).
  SliceSource head(source, 0, std::min<std::uint64_t>(source.size(), kLegacyMagicMaxBytes));
  auto end = skipPickle(head, 0);
  if (!end) return false;
  auto v = pickleIntAt(source, 0, *end);
  return v && *v == kTorchMagic;
}

std::string scanLegacyTorch(ByteSource& source, const std::string& location, int depth,
                            ContainerContext& ctx, Report& report) {
  std::vector<std::uint64_t> ends;
  std::uint64_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    auto e = skipPickle(source, pos);
    if (!e) break;
    ends.push_back(*e);
    pos = *e;
  }
  const PickleContext pctx = ctx.pickleContext(location, /*torch_container=*/true, false, depth);
  if (ends.size() < 5) {
    report.add({Verdict::Invalid, "torch.legacy.structure",
                "legacy PyTorch file with " + num(ends.size()) + " of its 5 pickles", location,
                pos});
    walkPickle(source, 0, pctx, report);
    inspectRange(source, 0, source.size(), location, ctx, report);
    return "legacy-torch";
  }
  auto protocol = pickleIntAt(source, ends[0], ends[1]);
  if (!protocol || *protocol != kTorchProtocolVersion) {
    report.add({Verdict::Invalid, "torch.legacy.structure",
                "legacy PyTorch protocol version is not " + num(kTorchProtocolVersion), location,
                ends[0]});
  }
  // Exactly the five pickles torch reads; the storage area after them is raw bytes.
  walkRange(source, 0, ends[4], pctx, report);
  inspectRange(source, 0, ends[4], location, ctx, report);
  return "legacy-torch";
}

// ---------------------------------------------------------------------------------------------
// Tar

namespace {

struct TarMember {
  std::string name;
  char type = '0';
  std::uint64_t header = 0;
  std::uint64_t data = 0;
  std::uint64_t size = 0;
};

std::optional<std::uint64_t> tarNumber(std::string_view field) {
  if (field.empty()) return std::nullopt;
  auto first = static_cast<unsigned char>(field[0]);
  if (first == 0x80 || first == 0xFF) {      // base-256
    if (first == 0xFF) return std::nullopt;  // negative
    std::uint64_t v = 0;
    for (std::size_t i = 1; i < field.size(); ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  std::size_t i = 0;
  while (i < field.size() && (field[i] == ' ' || field[i] == '\0')) ++i;
  std::uint64_t v = 0;
  bool any = false;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + static_cast<unsigned>(field[i] - '0');
    any = true;
  }
  for (; i < field.size(); ++i) {
    if (field[i] != ' ' && field[i] != '\0') return std::nullopt;
  }
  if (!any) return std::uint64_t{0};
  return v;
}

std::string cString(std::string_view field) {
  auto nul = field.find('\0');
  return std::string(nul == std::string_view::npos ? field : field.substr(0, nul));
}

// PAX records "len key=value\n": path and size.
void parsePax(std::string_view data, std::optional<std::string>& path,
              std::optional<std::uint64_t>& size) {
  std::size_t p = 0;
  while (p < data.size()) {
    std::size_t space = data.find(' ', p);
    if (space == std::string_view::npos) return;
    std::uint64_t len = 0;
    for (std::size_t i = p; i < space; ++i) {
      if (data[i] < '0' || data[i] > '9' || len > (1u << 30)) return;
      len = len * 10 + static_cast<unsigned>(data[i] - '0');
    }
    if (len <= space - p || p + len > data.size()) return;
    std::string_view rec = data.substr(space + 1, p + len - space - 1);
    if (!rec.empty() && rec.back() == '\n') rec.remove_suffix(1);
    auto eq = rec.find('=');
    if (eq != std::string_view::npos) {
      std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
      if (key == "path") path = std::string(value);
      if (key == "size") {
        std::uint64_t d = 0;
        bool ok = !value.empty();
        for (char ch : value) {
          if (ch < '0' || ch > '9' || d > UINT64_MAX / 10 - 9) {
            ok = false;
            break;
          }
          d = d * 10 + static_cast<unsigned>(ch - '0');
        }
        if (ok) size = d;
      }
    }
    p += len;
  }
}

std::vector<TarMember> readTar(ByteSource& source, const std::string& location,
                               ContainerContext& ctx, Report& report) {
  std::vector<TarMember> out;
  const std::uint64_t size = source.size();
  std::uint64_t pos = 0;
  std::optional<std::string> next_name;
  std::optional<std::uint64_t> next_size;
  std::size_t meta = 0;
  while (size - pos >= 512) {
    if (ctx.outOfTime(location, report)) break;
    auto block_or = source.readString(pos, 512);
    if (!block_or) {
      report.add({Verdict::Error, "tar.io", "cannot read the archive: " + block_or.error().context,
                  location, pos});
      break;
    }
    const std::string& b = *block_or;
    if (b.find_first_not_of('\0') == std::string::npos) break;  // end of archive
    // Header checksum: sum of all bytes with the checksum field read as spaces (unsigned, or
    // signed as some old writers computed it).
    std::uint64_t usum = 0;
    std::int64_t ssum = 0;
    for (std::size_t i = 0; i < 512; ++i) {
      unsigned char c = (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(b[i]);
      usum += c;
      ssum += static_cast<signed char>(c);
    }
    auto stored = tarNumber(std::string_view(b).substr(148, 8));
    if (!stored || (*stored != usum && static_cast<std::int64_t>(*stored) != ssum)) {
      report.add({Verdict::Invalid, "tar.checksum", "tar header checksum mismatch", location, pos});
      break;
    }
    auto field_size = tarNumber(std::string_view(b).substr(124, 12));
    if (!field_size) {
      report.add({Verdict::Invalid, "tar.truncated", "tar header with an invalid size field",
                  location, pos});
      break;
    }
    const char type = b[156];
    std::uint64_t data = pos + 512;
    std::uint64_t member_size = *field_size;
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      if (member_size > size - data || member_size > (1u << 20)) {
        report.add({Verdict::Invalid, "tar.truncated", "tar extended header runs past the end",
                    location, pos});
        break;
      }
      if (++meta > ctx.limits().max_members) {
        report.add(
            {Verdict::Invalid, "limit.members", "too many tar extended headers", location, pos});
        break;
      }
      auto body = source.readString(data, static_cast<std::size_t>(member_size));
      if (!body) break;
      if (type == 'x') parsePax(*body, next_name, next_size);
      if (type == 'L') next_name = cString(*body);
    } else {
      TarMember m;
      std::string name = cString(std::string_view(b).substr(0, 100));
      if (b.compare(257, 5, "ustar") == 0) {
        std::string prefix = cString(std::string_view(b).substr(345, 155));
        if (!prefix.empty()) name = prefix + "/" + name;
      }
      m.name = next_name ? *next_name : name;
      if (next_size) member_size = *next_size;
      next_name.reset();
      next_size.reset();
      m.type = type;
      m.header = pos;
      m.data = data;
      m.size = member_size;
      const bool has_data =
          !(type == '1' || type == '2' || type == '3' || type == '4' || type == '5' || type == '6');
      if (!has_data) member_size = 0;
      if (member_size > size - data) {
        report.add({Verdict::Invalid, "tar.truncated",
                    "member '" + printableName(m.name) + "' runs past the end of the archive",
                    location, pos});
        break;
      }
      m.size = member_size;
      out.push_back(std::move(m));
    }
    std::uint64_t padded = member_size + ((512 - member_size % 512) % 512);
    if (padded > size - data) break;
    pos = data + padded;
  }
  return out;
}

}  // namespace

namespace {

// One pickle of a legacy tar member: found by framing, walked alone.
struct PickleStep {
  std::uint64_t end = 0;
  PickleOutcome outcome;
};

std::optional<PickleStep> walkOne(ByteSource& member, std::uint64_t pos, const PickleContext& pctx,
                                  Report& report) {
  auto end = skipPickle(member, pos);
  if (!end) return std::nullopt;
  PickleStep s;
  s.end = *end;
  s.outcome = walkRange(member, pos, *end, pctx, report);
  return s;
}

void structure(Report& report, const std::string& location, std::uint64_t offset,
               std::string what) {
  report.add({Verdict::Invalid, "torch.legacy.structure", std::move(what), location, offset});
}

// `storages`: count pickle, then per storage (key, location, type) pickle + u64 numel + raw
// bytes, then the storage views pickle.
void scanLegacyStorages(ByteSource& m, const std::string& loc, ContainerContext& ctx,
                        Report& report) {
  const PickleContext pctx = ctx.pickleContext(loc, false);
  auto count = walkOne(m, 0, pctx, report);
  if (!count) return structure(report, loc, 0, "storages member does not start with a pickle");
  auto n = pickleIntAt(m, 0, count->end);
  if (!n || *n > ctx.limits().max_members)
    return structure(report, loc, 0, "storages count is not a small integer");
  std::uint64_t pos = count->end;
  for (U128 i = 0; i < *n; ++i) {
    auto args = walkOne(m, pos, pctx, report);
    if (!args) return structure(report, loc, pos, "storage header pickle expected");
    std::optional<std::uint64_t> elem;
    for (const auto& g : args->outcome.globals) {
      if (auto e = storageElementSize(g)) elem = e;
    }
    if (!elem) return structure(report, loc, pos, "storage of unknown type");
    pos = args->end;
    auto numel_s = m.readString(pos, 8);
    if (!numel_s) return structure(report, loc, pos, "storage size missing");
    std::uint64_t numel = 0;
    for (int k = 7; k >= 0; --k) numel = (numel << 8) | static_cast<unsigned char>((*numel_s)[k]);
    U128 bytes = static_cast<U128>(numel) * *elem;
    if (bytes > m.size() - pos - 8)
      return structure(report, loc, pos, "storage data runs past the member");
    pos += 8 + static_cast<std::uint64_t>(bytes);
  }
  auto views = walkOne(m, pos, pctx, report);
  if (!views) return structure(report, loc, pos, "storage views pickle expected");
  if (views->end != m.size()) structure(report, loc, views->end, "bytes after the storage views");
}

// `tensors`: count pickle, then per tensor key pickle + (storage id, type) pickle + i32 ndim,
// 4 bytes, ndim x i64 sizes, ndim x i64 strides, i64 offset.
void scanLegacyTensors(ByteSource& m, const std::string& loc, ContainerContext& ctx,
                       Report& report) {
  const PickleContext pctx = ctx.pickleContext(loc, false);
  auto count = walkOne(m, 0, pctx, report);
  if (!count) return structure(report, loc, 0, "tensors member does not start with a pickle");
  auto n = pickleIntAt(m, 0, count->end);
  if (!n || *n > ctx.limits().max_members)
    return structure(report, loc, 0, "tensors count is not a small integer");
  std::uint64_t pos = count->end;
  for (U128 i = 0; i < *n; ++i) {
    auto key = walkOne(m, pos, pctx, report);
    if (!key) return structure(report, loc, pos, "tensor key pickle expected");
    auto ids = walkOne(m, key->end, pctx, report);
    if (!ids) return structure(report, loc, key->end, "tensor storage pickle expected");
    pos = ids->end;
    auto ndim_s = m.readString(pos, 4);
    if (!ndim_s) return structure(report, loc, pos, "tensor dimensions missing");
    std::uint32_t ndim = 0;
    for (int k = 3; k >= 0; --k) ndim = (ndim << 8) | static_cast<unsigned char>((*ndim_s)[k]);
    if (ndim > 64) return structure(report, loc, pos, "tensor with " + num(ndim) + " dimensions");
    std::uint64_t skip = 8 + 16ull * ndim + 8;
    if (skip > m.size() - pos)
      return structure(report, loc, pos, "tensor metadata runs past the member");
    pos += skip;
  }
  if (pos != m.size()) structure(report, loc, pos, "bytes after the tensors");
}

}  // namespace

std::string scanTar(ByteSource& source, const std::string& location, int depth,
                    ContainerContext& ctx, Report& report) {
  std::vector<TarMember> members = readTar(source, location, ctx, report);
  std::map<std::string, std::size_t> last;  // tarfile.getmember() returns the last one
  std::map<std::string, int> seen;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const TarMember& m = members[i];
    last[m.name] = i;
    if (++seen[m.name] == 2) {
      report.add({Verdict::Invalid, "tar.duplicate-name", "several members share this name",
                  joinLocation(location, printableName(m.name)), m.header});
    }
  }
  const bool legacy = last.count("pickle") && last.count("storages") && last.count("tensors");
  for (std::size_t i = 0; i < members.size(); ++i) {
    const TarMember& m = members[i];
    const std::string loc = joinLocation(location, printableName(m.name));
    if (ctx.outOfTime(loc, report) || !ctx.admitMember(loc, report)) break;
    if (zipNameIsUnsafe(m.name)) {
      report.add({Verdict::Invalid, "tar.unsafe-name",
                  "unsafe member name (absolute, '..', backslash or control bytes)", loc,
                  m.header});
    }
    if (m.type == '5') continue;
    if (m.type == '1' || m.type == '2' || m.type == '3' || m.type == '4' || m.type == '6') {
      report.add(
          {Verdict::Suspicious, "tar.special-member", "link or device member", loc, m.header});
      continue;
    }
    SliceSource content(source, m.data, m.size);
    const bool primary = last[m.name] == i;
    if (legacy && primary && m.name == "pickle") {
      walkPickle(content, 0, ctx.pickleContext(loc, true, false, depth + 1), report);
      inspectRange(content, 0, content.size(), loc, ctx, report);
    } else if (legacy && primary && m.name == "storages") {
      scanLegacyStorages(content, loc, ctx, report);
      inspectRange(content, 0, std::min<std::uint64_t>(content.size(), kSmallMember), loc, ctx,
                   report);
    } else if (legacy && primary && m.name == "tensors") {
      scanLegacyTensors(content, loc, ctx, report);
      inspectRange(content, 0, std::min<std::uint64_t>(content.size(), kSmallMember), loc, ctx,
                   report);
    } else {
      if (m.size <= kSmallMember) inspectRange(content, 0, content.size(), loc, ctx, report);
      ctx.scanContent(content, loc, depth + 1, report);
    }
  }
  return legacy ? "legacy-torch-tar" : "tar";
}

// ---------------------------------------------------------------------------------------------
// Compressed files (joblib)

std::string scanCompressed(ByteSource& source, Codec codec, const std::string& location, int depth,
                           ContainerContext& ctx, Report& report) {
  const std::string name(codecName(codec));
  if (codec == Codec::Lz4 || codec == Codec::Zstd || codec == Codec::Deflate64) {
    report.add({Verdict::Error, "container.unsupported",
                name + "-compressed data is not scanned (" + name + " is not supported)", location,
                0});
    return name;
  }
  DecodeLimits dl;
  dl.max_out = ctx.inflateRemaining();
  dl.max_ratio = ctx.limits().max_inflate_ratio;
  DecodeResult r = decode(source, 0, source.size(), codec, dl);
  ctx.chargeInflate(r.produced);
  switch (r.status) {
    case DecodeStatus::Ok:
      break;
    case DecodeStatus::OutputLimit:
      report.add({Verdict::Invalid, "limit.inflate-total",
                  "decompressed data exceeds the inflation budget; scanned the first " +
                      num(r.produced) + " bytes",
                  location, 0});
      break;
    case DecodeStatus::RatioLimit:
      report.add({Verdict::Invalid, "limit.inflate-ratio",
                  "compression ratio above " + num(ctx.limits().max_inflate_ratio) + ":1 (" +
                      r.detail + ")",
                  location, 0});
      break;
    case DecodeStatus::Corrupt:
    case DecodeStatus::Truncated:
    case DecodeStatus::Unsupported: {
      const bool trailing = r.detail.rfind("trailing", 0) == 0;
      report.add({Verdict::Invalid, trailing ? "compressed.trailing-data" : "compressed.corrupt",
                  name + ": " + r.detail, location, r.consumed});
      break;
    }
    case DecodeStatus::Io:
      report.add({Verdict::Error, "compressed.io", name + ": " + r.detail, location, 0});
      return name;
  }
  const std::string inner_loc = location + "[" + name + "]";
  if (r.produced == 0) return name;
  ctx.inspectDecoded(r.bytes, inner_loc, report);
  MemorySource inner(std::move(r.bytes));
  std::string fmt = ctx.scanContent(inner, inner_loc, depth + 1, report);
  if (fmt == "pickle") return "joblib";
  if (fmt == "unknown") return name;
  return name + "+" + fmt;
}

// ---------------------------------------------------------------------------------------------
// NumPy

namespace {

// A Python literal, as numpy's header writer produces it (and nothing that needs evaluation).
struct PyValue {
  enum class Kind { Str, Int, Bool, None, Tuple, List, Dict } kind = Kind::None;
  std::string str;
  std::uint64_t magnitude = 0;
  bool negative = false;
  bool flag = false;
  std::vector<PyValue> items;   // Tuple, List; Dict: the keys
  std::vector<PyValue> values;  // Dict: the values, parallel to items
};

class LiteralParser {
 public:
  explicit LiteralParser(std::string_view text) : s_(text) {}

  Result<PyValue> parseAll() {
    auto v = value(0);
    if (!v) return v;
    space();
    if (p_ != s_.size()) return error("unexpected text after the header dict");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 32;

  std::unexpected<Error> error(std::string what) const {
    return fail(ErrorCode::Corruption, what + " at byte " + std::to_string(p_) + " of the header");
  }
  void space() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r'))
      ++p_;
  }
  bool eat(char c) {
    space();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }

  Result<PyValue> value(int depth) {
    if (depth > kMaxDepth) return error("literal nested too deeply");
    space();
    if (p_ >= s_.size()) return error("unexpected end");
    char c = s_[p_];
    if (c == '{') return dict(depth);
    if (c == '(' || c == '[') return sequence(depth);
    if (c == '\'' || c == '"') return string();
    if ((c == 'u' || c == 'b' || c == 'U' || c == 'B') && p_ + 1 < s_.size() &&
        (s_[p_ + 1] == '\'' || s_[p_ + 1] == '"')) {
      ++p_;
      return string();
    }
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return integer();
    for (auto [word, kind, flag] :
         {std::tuple{std::string_view("True"), PyValue::Kind::Bool, true},
          std::tuple{std::string_view("False"), PyValue::Kind::Bool, false},
          std::tuple{std::string_view("None"), PyValue::Kind::None, false}}) {
      if (s_.substr(p_, word.size()) == word) {
        p_ += word.size();
        PyValue v;
        v.kind = kind;
        v.flag = flag;
        return v;
      }
    }
    return error("unsupported literal");
  }

  Result<PyValue> integer() {
    PyValue v;
    v.kind = PyValue::Kind::Int;
    if (s_[p_] == '-' || s_[p_] == '+') v.negative = s_[p_++] == '-';
    std::size_t digits = 0;
    while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') {
      unsigned d = static_cast<unsigned>(s_[p_] - '0');
      if (v.magnitude > (UINT64_MAX - d) / 10) return error("integer too large");
      v.magnitude = v.magnitude * 10 + d;
      ++p_;
      ++digits;
    }
    if (digits == 0) return error("integer expected");
    if (p_ < s_.size() && (s_[p_] == 'L' || s_[p_] == 'l')) ++p_;  // Python 2 long
    return v;
  }

  Result<PyValue> string() {
    const char quote = s_[p_++];
    PyValue v;
    v.kind = PyValue::Kind::Str;
    while (p_ < s_.size() && s_[p_] != quote) {
      char c = s_[p_++];
      if (c == '\n') return error("newline in a string");
      if (c != '\\') {
        v.str.push_back(c);
        continue;
      }
      if (p_ >= s_.size()) break;
      char e = s_[p_++];
      switch (e) {
        case 'n':
          v.str.push_back('\n');
          break;
        case 't':
          v.str.push_back('\t');
          break;
        case 'r':
          v.str.push_back('\r');
          break;
        case '0':
          v.str.push_back('\0');
          break;
        case '\\':
        case '\'':
        case '"':
          v.str.push_back(e);
          break;
        case 'x': {
          if (p_ + 2 > s_.size()) return error("bad \\x escape");
          unsigned h = 0;
          for (int k = 0; k < 2; ++k) {
            char d = s_[p_++];
            h = h * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(d)) ? d - '0'
                                               : (d | 0x20) >= 'a' && (d | 0x20) <= 'f'
                                                   ? (d | 0x20) - 'a' + 10
                                                   : 99);
          }
          if (h > 255) return error("bad \\x escape");
          v.str.push_back(static_cast<char>(h));
          break;
        }
        default:
          v.str.push_back('\\');
          v.str.push_back(e);
      }
    }
    if (p_ >= s_.size()) return error("unterminated string");
    ++p_;
    return v;
  }

  Result<PyValue> sequence(int depth) {
    const char open = s_[p_++];
    const char close = open == '(' ? ')' : ']';
    PyValue v;
    v.kind = open == '(' ? PyValue::Kind::Tuple : PyValue::Kind::List;
    bool comma = false;
    for (;;) {
      if (eat(close)) break;
      if (!v.items.empty() && !comma) return error("',' expected");
      auto item = value(depth + 1);
      if (!item) return item;
      v.items.push_back(std::move(*item));
      comma = eat(',');
    }
    // "(x)" is x in Python, not a tuple.
    if (open == '(' && v.items.size() == 1 && !comma) return std::move(v.items[0]);
    return v;
  }

  Result<PyValue> dict(int depth) {
    ++p_;
    PyValue v;
    v.kind = PyValue::Kind::Dict;
    bool comma = false;
    for (;;) {
      if (eat('}')) break;
      if (!v.items.empty() && !comma) return error("',' expected");
      auto key = value(depth + 1);
      if (!key) return key;
      if (!eat(':')) return error("':' expected");
      auto val = value(depth + 1);
      if (!val) return val;
      v.items.push_back(std::move(*key));
      v.values.push_back(std::move(*val));
      comma = eat(',');
    }
    return v;
  }

  std::string_view s_;
  std::size_t p_ = 0;
};

// Item size and object-ness of a dtype string ('<f4', '|O', '<U10', 'float32', ...).
void simpleDtype(std::string_view d, bool& object, std::optional<std::uint64_t>& itemsize) {
  object = d.find('O') != std::string_view::npos || d.find("object") != std::string_view::npos;
  itemsize.reset();
  std::string_view t = d;
  if (!t.empty() && (t[0] == '<' || t[0] == '>' || t[0] == '|' || t[0] == '=')) t.remove_prefix(1);
  if (t.empty()) return;
  const char kind = t[0];
  t.remove_prefix(1);
  std::string_view digits = t.substr(0, t.find('['));
  std::uint64_t n = 0;
  if (digits.empty() || digits.size() > 12) {
    if (kind == '?' && digits.empty()) itemsize = 1;
    if (kind == 'O' && digits.empty()) itemsize = 8;
    return;
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  switch (kind) {
    case 'b':
    case 'i':
    case 'u':
    case 'f':
    case 'c':
    case 'S':
    case 'a':
    case 'V':
    case 'm':
    case 'M':
    case 'O':
      itemsize = n;
      break;
    case 'U':
      itemsize = n * 4;
      break;
    default:
      break;
  }
}

// A structured descr: a list of (name, dtype[, shape]) tuples, possibly nested.
void structuredDtype(const PyValue& list, int depth, bool& object,
                     std::optional<std::uint64_t>& itemsize) {
  std::uint64_t total = 0;
  bool known = true;
  for (const PyValue& field : list.items) {
    if (field.kind != PyValue::Kind::Tuple || field.items.size() < 2 || depth > 16) {
      known = false;
      continue;
    }
    const PyValue& dt = field.items[1];
    bool obj = false;
    std::optional<std::uint64_t> size;
    if (dt.kind == PyValue::Kind::Str) {
      simpleDtype(dt.str, obj, size);
    } else if (dt.kind == PyValue::Kind::List) {
      structuredDtype(dt, depth + 1, obj, size);
    } else {
      known = false;
    }
    object = object || obj;
    std::uint64_t count = 1;
    if (field.items.size() >= 3) {
      const PyValue& shape = field.items[2];
      if (shape.kind == PyValue::Kind::Int && !shape.negative) {
        count = shape.magnitude;
      } else if (shape.kind == PyValue::Kind::Tuple) {
        for (const PyValue& d : shape.items) {
          if (d.kind != PyValue::Kind::Int || d.negative ||
              (d.magnitude && count > UINT64_MAX / d.magnitude)) {
            known = false;
            break;
          }
          count *= d.magnitude;
        }
      } else {
        known = false;
      }
    }
    if (!size || (count && *size > UINT64_MAX / count) || total > UINT64_MAX - *size * count) {
      known = false;
    } else {
      total += *size * count;
    }
  }
  if (known) itemsize = total;
}

}  // namespace

Result<NpyHeader> parseNpyHeader(ByteSource& source) {
  auto pre = source.readString(0, std::min<std::uint64_t>(source.size(), 12));
  if (!pre) return std::unexpected(pre.error());
  const std::string& p = *pre;
  if (p.size() < 10 || p.compare(0, 6, "\x93NUMPY") != 0)
    return fail(ErrorCode::Corruption, "not an .npy file");
  NpyHeader h;
  h.major = static_cast<unsigned char>(p[6]);
  h.minor = static_cast<unsigned char>(p[7]);
  std::uint64_t len = 0;
  if (h.major == 1) {
    len = static_cast<unsigned char>(p[8]) | (static_cast<unsigned char>(p[9]) << 8);
    h.header_offset = 10;
  } else if (h.major == 2 || h.major == 3) {
    if (p.size() < 12) return fail(ErrorCode::Corruption, "truncated header length");
    for (int k = 11; k >= 8; --k) len = (len << 8) | static_cast<unsigned char>(p[k]);
    h.header_offset = 12;
  } else {
    return fail(ErrorCode::Corruption, "unknown .npy format version " + std::to_string(h.major));
  }
  if (len > (1u << 20))
    return fail(ErrorCode::Corruption, "header of " + std::to_string(len) + " bytes");
  auto text = source.readString(h.header_offset, static_cast<std::size_t>(len));
  if (!text) {
    if (text.error().code == ErrorCode::InvalidArgument)
      return fail(ErrorCode::Corruption, "truncated header");
    return std::unexpected(text.error());
  }
  h.data_offset = h.header_offset + len;
  auto v = LiteralParser(*text).parseAll();
  if (!v) return std::unexpected(v.error());
  if (v->kind != PyValue::Kind::Dict) return fail(ErrorCode::Corruption, "header is not a dict");
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (std::size_t i = 0; i < v->items.size(); ++i) {
    const PyValue& k = v->items[i];
    const PyValue& val = v->values[i];
    if (k.kind != PyValue::Kind::Str)
      return fail(ErrorCode::Corruption, "header key is not a string");
    const PyValue** slot = k.str == "descr"           ? &descr
                           : k.str == "fortran_order" ? &fortran
                           : k.str == "shape"         ? &shape
                                                      : nullptr;
    if (slot == nullptr)
      return fail(ErrorCode::Corruption, "unexpected header key '" + printableName(k.str) + "'");
    if (*slot != nullptr)
      return fail(ErrorCode::Corruption, "duplicate header key '" + k.str + "'");
    *slot = &val;
  }
  if (!descr || !fortran || !shape)
    return fail(ErrorCode::Corruption, "header lacks descr, fortran_order or shape");
  if (descr->kind == PyValue::Kind::Str) {
    h.descr = descr->str;
    simpleDtype(descr->str, h.object, h.itemsize);
  } else if (descr->kind == PyValue::Kind::List) {
    h.structured = true;
    h.descr = "[structured]";
    structuredDtype(*descr, 0, h.object, h.itemsize);
  } else {
    return fail(ErrorCode::Corruption, "descr is not a string or a list");
  }
  if (fortran->kind != PyValue::Kind::Bool)
    return fail(ErrorCode::Corruption, "fortran_order is not a bool");
  h.fortran_order = fortran->flag;
  if (shape->kind != PyValue::Kind::Tuple)
    return fail(ErrorCode::Corruption, "shape is not a tuple");
  for (const PyValue& d : shape->items) {
    if (d.kind != PyValue::Kind::Int || d.negative)
      return fail(ErrorCode::Corruption, "shape holds a non-natural number");
    h.shape.push_back(d.magnitude);
  }
  return h;
}

std::string scanNpy(ByteSource& source, const std::string& location, int depth,
                    ContainerContext& ctx, Report& report) {
  auto h = parseNpyHeader(source);
  if (!h) {
    report.add({h.error().code == ErrorCode::Corruption ? Verdict::Invalid : Verdict::Error,
                h.error().code == ErrorCode::Corruption ? "npy.header.invalid" : "npy.io",
                h.error().context, location, 0});
    return "npy";
  }
  inspectRange(source, 0, h->data_offset, location, ctx, report);
  if (h->object) {
    // np.load(allow_pickle=True) unpickles the body.
    walkPickle(source, h->data_offset, ctx.pickleContext(location, false, false, depth), report);
    inspectRange(source, h->data_offset, source.size(), location, ctx, report);
    return "npy";
  }
  if (!h->itemsize) return "npy";
  U128 count = 1;
  for (std::uint64_t d : h->shape) {
    count *= d;
    if (count > UINT64_MAX) {
      report.add({Verdict::Invalid, "npy.header.invalid", "element count overflows", location, 0});
      return "npy";
    }
  }
  U128 expected = count * *h->itemsize;
  U128 have = source.size() - std::min(source.size(), h->data_offset);
  if (have < expected) {
    report.add(
        {Verdict::Invalid, "npy.truncated",
         "body has " + num(static_cast<std::uint64_t>(have)) + " bytes, the header describes more",
         location, h->data_offset});
  } else if (have > expected) {
    report.add({Verdict::Invalid, "npy.trailing-bytes",
                num(static_cast<std::uint64_t>(have - expected)) + " bytes after the array data",
                location, static_cast<std::uint64_t>(h->data_offset + expected)});
  }
  return "npy";
}

// ---------------------------------------------------------------------------------------------
// Zip

namespace {

enum class View { Central, LocalOnly, LocalHeader };
enum class Role { Generic, TorchPickle, TorchMeta, RawTensor };

struct ZipLayout {
  std::string prefix;  // first component of entry 0 ("archive"), "" if none
  bool torch = false;
  bool torchscript = false;
  bool npz = false;
  int data_pkl = 0;
};

ZipLayout layoutOf(const ZipArchive& ar) {
  ZipLayout l;
  if (!ar.entries.empty()) {
    const std::string& first = ar.entries[0].name;
    auto slash = first.find('/');
    if (slash != std::string::npos && slash > 0) l.prefix = first.substr(0, slash);
  }
  bool constants = false, code = false;
  std::size_t files = 0, npy = 0;
  for (const ZipEntry& e : ar.entries) {
    if (!l.prefix.empty()) {
      if (e.name == l.prefix + "/data.pkl") ++l.data_pkl;
      if (e.name == l.prefix + "/constants.pkl") constants = true;
      if (startsWith(e.name, l.prefix + "/code/")) code = true;
    }
    if (!e.isDirectory()) {
      ++files;
      if (endsWith(e.name, ".npy")) ++npy;
    }
  }
  l.torch = l.data_pkl > 0;
  l.torchscript = constants && code;
  l.npz = files > 0 && npy == files;
  return l;
}

class ZipScanner {
 public:
  ZipScanner(ByteSource& source, const std::string& location, int depth, ContainerContext& ctx,
             Report& report)
      : source_(source), location_(location), depth_(depth), ctx_(ctx), report_(report) {}

  std::string run() {
    ZipArchive ar = readZip(source_, ctx_.limits(), location_, report_);
    layout_ = layoutOf(ar);
    std::string format = layout_.torchscript ? "torchscript-zip"
                         : layout_.torch     ? "pytorch-zip"
                         : layout_.npz       ? "npz"
                                             : "zip";
    if (layout_.data_pkl > 1) {
      report_.add({Verdict::Invalid, "torch.data-pkl.duplicate",
                   num(layout_.data_pkl) + " records named " + layout_.prefix +
                       "/data.pkl; loaders pick different ones",
                   location_, 0});
    }
    if (layout_.torchscript) {
      report_.add(
          {Verdict::Suspicious, "torchscript.code",
           "TorchScript archive: carries code (" + layout_.prefix + "/code/) run by torch.jit.load",
           location_, 0});
    }
    // Every central entry, then every record only the local walk found, then the local
    // readings that differ from the central ones; member() is false once a limit stops us.
    bool go = true;
    for (std::size_t i = 0; go && i < ar.entries.size(); ++i)
      go = member(ar.entries[i], View::Central);
    for (std::size_t i = 0; go && i < ar.local_only.size(); ++i)
      go = member(ar.local_only[i], View::LocalOnly);
    for (std::size_t i = 0; go && i < ar.entries.size(); ++i) {
      if (ar.entries[i].local_view_differs) go = member(ar.entries[i], View::LocalHeader);
    }
    if (layout_.torch && !layout_.torchscript && main_pickle_walked_) checkStorages();
    return format;
  }

 private:
  Role roleOf(const ZipEntry& e, View view) const {
    const std::string& name = view == View::LocalHeader ? e.local_name : e.name;
    std::string_view base = basename(name);
    if (base == "data.pkl" || base == "constants.pkl") return Role::TorchPickle;
    if (view != View::Central || !layout_.torch || layout_.prefix.empty()) return Role::Generic;
    const std::string pre = layout_.prefix + "/";
    if (startsWith(name, pre + "data/") && name.find('/', pre.size() + 5) == std::string::npos &&
        name.size() > pre.size() + 5) {
      return Role::RawTensor;
    }
    if (name == pre + "version" || name == pre + "byteorder" || name == pre + ".format_version" ||
        name == pre + ".storage_alignment" || name == pre + ".data/serialization_id" ||
        name == pre + ".data/version") {
      return Role::TorchMeta;
    }
    return Role::Generic;
  }

  // Scans one record; false when a scan-wide limit stops the archive.
  bool member(const ZipEntry& e, View view) {
    const std::string& name = view == View::LocalHeader ? e.local_name : e.name;
    std::string loc = joinLocation(location_, printableName(name));
    if (view == View::LocalOnly) loc += "#local@" + num(e.header_offset);
    if (view == View::LocalHeader) loc += "#local-header";
    if (ctx_.outOfTime(loc, report_)) return false;
    if (!ctx_.admitMember(loc, report_)) return false;
    if (!e.has_local) return true;
    const std::uint16_t method = view == View::LocalHeader ? e.local_method : e.method;
    const std::uint64_t csize =
        view == View::LocalHeader ? e.local_compressed_size : e.compressed_size;
    const std::uint64_t usize =
        view == View::LocalHeader ? e.local_uncompressed_size : e.uncompressed_size;
    const std::uint32_t crc = view == View::LocalHeader ? e.local_crc32 : e.crc32;
    const std::uint16_t flags = e.flags | e.local_flags;
    const bool readable = view == View::LocalHeader ? e.local_view_readable : e.readable;
    if (!readable) return true;  // reported by readZip
    if (!name.empty() && name.back() == '/') {
      if (csize == 0) return true;
      report_.add({Verdict::Invalid, "zip.directory-with-data",
                   "directory entry with " + num(csize) + " bytes of data", loc, e.header_offset});
    }
    const Role role = roleOf(e, view);
    if (role == Role::RawTensor) {
      data_members_.insert(name.substr(layout_.prefix.size() + 6));
      return true;  // raw storage: never read
    }
    // Entries sharing one local header (or any two readings of the same bytes in the same
    // role) are scanned once: the anomaly is reported already, the work is not repeated.
    if (!scanned_.insert({e.data_offset, csize, method, static_cast<int>(role)}).second)
      return true;
    auto codec = codecForZipMethod(method);
    if (!codec || *codec == Codec::Deflate64 || *codec == Codec::Zstd) {
      report_.add(
          {Verdict::Invalid, "zip.member.unsupported",
           "compression method " + num(method) + " is not supported; the member is not scanned",
           loc, e.header_offset});
      return true;
    }
    const bool encrypted = flags & (kZipFlagEncrypted | kZipFlagStrongEncryption);
    const bool must_parse = role == Role::TorchPickle || role == Role::TorchMeta;

    std::optional<std::string> bytes;  // the whole decoded member, when we have it
    if (*codec == Codec::Stored) {
      SliceSource slice(source_, e.data_offset, csize);
      if (csize <= kSmallMember || (must_parse && csize <= kMaterializeMax)) {
        auto b = slice.readString(0, static_cast<std::size_t>(csize));
        if (!b) {
          report_.add({Verdict::Error, "zip.io", "cannot read the member: " + b.error().context,
                       loc, e.data_offset});
          return true;
        }
        bytes = std::move(*b);
        checkCrc(*bytes, crc, loc, e);
      }
      if (encrypted && !plausiblePlaintext(bytes ? nullptr : &slice, bytes, role)) {
        encryptedFinding(loc, e);
        return true;
      }
      if (bytes) {
        MemorySource mem(std::move(*bytes));
        return dispatch(mem, role, loc, e);
      }
      return dispatch(slice, role, loc, e);
    }

    // Compressed. A member that must be parsed by its role is inflated whole. Any other member
    // is first inflated up to kSniffPrefix bytes (not charged to the inflation budget: bounded
    // per member, and members by Limits::max_members). If that is all of it, it is used as is;
    // otherwise the prefix decides: raw data (unknown content, HDF5, an .npy of a plain dtype,
    // whose header is all that needs parsing) is left alone, anything else is inflated whole.
    std::optional<DecodeResult> got;
    if (!must_parse) {
      DecodeLimits pl;
      pl.max_out = kSniffPrefix;
      DecodeResult prefix = decode(source_, e.data_offset, csize, *codec, pl);
      if (prefix.status != DecodeStatus::OutputLimit) {
        got = std::move(prefix);  // complete, or failed: nothing more to inflate
      } else {
        MemorySource head(std::move(prefix.bytes));
        Format f = sniff(head).format;
        if (f == Format::Unknown || f == Format::Hdf5) return true;  // not parsed: raw data
        if (f == Format::Npy) {
          auto h = parseNpyHeader(head);
          if (h && !h->object) {
            if (ctx_.wantsDecodedBytes()) {
              ctx_.inspectDecoded(std::string_view(head.bytes()).substr(0, h->data_offset), loc,
                                  report_);
            }
            return true;
          }
        }
      }
    }
    if (!got) {
      DecodeLimits dl;
      dl.max_out = ctx_.inflateRemaining();
      dl.max_ratio = ctx_.limits().max_inflate_ratio;
      got = decode(source_, e.data_offset, csize, *codec, dl);
      ctx_.chargeInflate(got->produced);
    }
    DecodeResult& d = *got;
    if (d.status == DecodeStatus::Ok) {
      if (d.produced != usize) {
        report_.add({Verdict::Invalid, "zip.member.size-mismatch",
                     "decodes to " + num(d.produced) + " bytes, the directory says " + num(usize),
                     loc, e.header_offset});
      }
      checkCrc(d.bytes, crc, loc, e);
    } else {
      decodeFinding(d, encrypted, loc, e);
      if (d.status == DecodeStatus::Io || d.status == DecodeStatus::Unsupported) return true;
      if (d.produced == 0) return true;
    }
    MemorySource mem(std::move(d.bytes));
    return dispatch(mem, role, loc, e);
  }

  bool dispatch(ByteSource& content, Role role, const std::string& loc, const ZipEntry& e) {
    if (ctx_.wantsDecodedBytes() && content.size() <= kMaterializeMax &&
        (role != Role::Generic || content.size() <= kSmallMember)) {
      if (auto b = content.readString(0, static_cast<std::size_t>(content.size()))) {
        ctx_.inspectDecoded(*b, loc, report_);
      }
    }
    switch (role) {
      case Role::TorchPickle: {
        PickleOutcome o =
            walkPickle(content, 0, ctx_.pickleContext(loc, true, false, depth_ + 1), report_);
        if (e.index != kZipNoIndex && e.name == layout_.prefix + "/data.pkl") {
          main_pickle_walked_ = true;
          for (const auto& key : o.storage_keys) referenced_.insert(key);
        }
        return true;
      }
      case Role::TorchMeta: {
        if (content.size() <= 256) {
          auto text = content.readString(0, static_cast<std::size_t>(content.size()));
          if (text && isShortText(*text)) return true;
        }
        report_.add({Verdict::Suspicious, "torch.metadata.not-text",
                     "PyTorch metadata record is not short text", loc, e.header_offset});
        ctx_.scanContent(content, loc, depth_ + 1, report_);
        return true;
      }
      case Role::Generic:
      case Role::RawTensor:
        ctx_.scanContent(content, loc, depth_ + 1, report_);
        return true;
    }
    return true;
  }

  // Encryption flags on stored data: scanned as plaintext when it looks like something we know.
  bool plausiblePlaintext(ByteSource* slice, const std::optional<std::string>& bytes, Role role) {
    std::optional<MemorySource> mem;
    ByteSource* src = slice;
    if (bytes) {
      mem.emplace(*bytes);
      src = &*mem;
    }
    if (src == nullptr || src->size() == 0) return false;
    if (role == Role::TorchPickle && looksLikePickle(*src, 0)) return true;
    if (role == Role::TorchMeta) return true;
    return sniff(*src).format != Format::Unknown;
  }

  void encryptedFinding(const std::string& loc, const ZipEntry& e) {
    report_.add({Verdict::Invalid, "zip.member.encrypted",
                 "encrypted member data cannot be scanned", loc, e.header_offset});
  }

  void decodeFinding(const DecodeResult& d, bool encrypted, const std::string& loc,
                     const ZipEntry& e) {
    switch (d.status) {
      case DecodeStatus::Ok:
        return;
      case DecodeStatus::OutputLimit:
        report_.add({Verdict::Invalid, "limit.inflate-total",
                     "inflated data exceeds the budget for this file; scanned the first " +
                         num(d.produced) + " bytes",
                     loc, e.header_offset});
        return;
      case DecodeStatus::RatioLimit:
        report_.add({Verdict::Invalid, "limit.inflate-ratio",
                     "compression ratio above " + num(ctx_.limits().max_inflate_ratio) + ":1 (" +
                         d.detail + ")",
                     loc, e.header_offset});
        return;
      case DecodeStatus::Corrupt:
      case DecodeStatus::Truncated:
        if (encrypted) return encryptedFinding(loc, e);
        report_.add({Verdict::Invalid, "zip.member.corrupt",
                     "member data does not decode: " + d.detail, loc, e.header_offset});
        return;
      case DecodeStatus::Unsupported:
        report_.add({Verdict::Invalid, "zip.member.unsupported", d.detail, loc, e.header_offset});
        return;
      case DecodeStatus::Io:
        report_.add({Verdict::Error, "zip.io", "cannot read the member: " + d.detail, loc,
                     e.header_offset});
        return;
    }
  }

  void checkCrc(std::string_view bytes, std::uint32_t expected, const std::string& loc,
                const ZipEntry& e) {
    std::uint32_t got = crc32Of(bytes);
    if (got == expected) return;
    report_.add({Verdict::Invalid, "zip.crc-mismatch",
                 "CRC-32 of the data differs from the recorded one (scanned anyway)", loc,
                 e.header_offset});
  }

  void checkStorages() {
    for (const std::string& key : referenced_) {
      if (!data_members_.count(key)) {
        report_.add({Verdict::Invalid, "torch.storage.missing",
                     "data.pkl references storage '" + printableName(key) + "' but no " +
                         layout_.prefix + "/data/" + printableName(key) + " record exists",
                     location_, 0});
      }
    }
    for (const std::string& key : data_members_) {
      if (!referenced_.count(key)) {
        report_.add({Verdict::Suspicious, "torch.storage.unreferenced",
                     "record " + layout_.prefix + "/data/" + printableName(key) +
                         " is not referenced by data.pkl",
                     location_, 0});
      }
    }
  }

  ByteSource& source_;
  const std::string& location_;
  int depth_;
  ContainerContext& ctx_;
  Report& report_;
  ZipLayout layout_;
  bool main_pickle_walked_ = false;
  std::set<std::string> referenced_;
  std::set<std::string> data_members_;
  std::set<std::tuple<std::uint64_t, std::uint64_t, std::uint16_t, int>> scanned_;
};

}  // namespace

std::string scanZipContainer(ByteSource& source, const std::string& location, int depth,
                             ContainerContext& ctx, Report& report) {
  return ZipScanner(source, location, depth, ctx, report).run();
}

}  // namespace hubgate::scan
