// libFuzzer target: scan::validateGguf and scan::chatTemplateIndicators on arbitrary bytes (the
// whole input is the file).
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
// - reads stay inside the file, and the validator reads each byte about once (total bytes
//   read <= size + one 64 KiB window);
// - findings are capped (at most 65), carry "gguf." rule ids and offsets inside the file, and
//   the same input gives the same findings;
// - a Clean verdict implies, checked by the independent walker below (written from the GGUF
//   spec, not from the validator): magic "GGUF", version 2 or 3, every key/value and tensor
//   info parses, no duplicate keys or tensor names, the alignment is a power of two, and every
//   tensor lies inside the file at the offset ggml expects;
// - chatTemplateIndicators never reports a position outside its input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "oracles.h"
#include "scan/gguf.h"

namespace {

using namespace hubgate::scan;

class TracingSource final : public ByteSource {
 public:
  explicit TracingSource(std::string_view bytes) : bytes_(bytes) {}
  std::uint64_t size() const override { return bytes_.size(); }
  hubgate::Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    CHECK(offset < bytes_.size());
    std::size_t n = std::min<std::size_t>(out.size(), bytes_.size() - offset);
    std::copy_n(reinterpret_cast<const std::byte*>(bytes_.data() + offset), n, out.data());
    total += n;
    return n;
  }
  std::uint64_t total = 0;

 private:
  std::string_view bytes_;
};

// A second, deliberately simple reading of the format.
class Walker {
 public:
  explicit Walker(std::string_view b) : b_(b) {}

  bool run() {
    if (b_.substr(0, 4) != "GGUF") return false;
    pos_ = 4;
    auto version = u32();
    if (!version || (*version != 2 && *version != 3)) return false;
    auto nt = u64(), nkv = u64();
    if (!nt || !nkv) return false;
    std::set<std::string> keys;
    std::uint64_t alignment = 32;
    for (std::uint64_t i = 0; i < *nkv; ++i) {
      auto key = str();
      auto type = u32();
      if (!key || !type || !keys.insert(*key).second) return false;
      if (*key == "general.alignment") {
        if (*type != 4) return false;
        auto a = u32();
        if (!a || *a == 0 || (*a & (*a - 1)) != 0) return false;
        alignment = *a;
        continue;
      }
      if (!skipValue(*type, 0)) return false;
    }
    std::set<std::string> names;
    std::uint64_t expected = 0;
    struct T {
      std::uint64_t offset, bytes;
    };
    std::vector<T> ts;
    for (std::uint64_t i = 0; i < *nt; ++i) {
      auto name = str();
      auto dims = u32();
      if (!name || name->size() >= 64 || !names.insert(*name).second || !dims || *dims > 4) return false;
      unsigned __int128 elements = 1;
      std::uint64_t ne0 = 1;
      std::vector<std::uint64_t> ne;
      for (std::uint32_t d = 0; d < *dims; ++d) {
        auto v = u64();
        if (!v || *v > static_cast<std::uint64_t>(INT64_MAX)) return false;
        if (d == 0) ne0 = *v;
        ne.push_back(*v);
      }
      if (std::find(ne.begin(), ne.end(), 0u) != ne.end()) {
        elements = 0;  // an empty tensor: ggml checks no count
      } else {
        for (auto v : ne) {
          elements *= v;
          if (elements > static_cast<unsigned __int128>(INT64_MAX)) return false;
        }
      }
      auto type = u32();
      auto offset = u64();
      if (!type || !offset) return false;
      GgmlType info{};
      if (ggmlTypeInfo(*type, info) != GgmlTypeStatus::Known || ne0 % info.block_size != 0) return false;
      unsigned __int128 bytes = elements / info.block_size * info.type_size;
      if (bytes > UINT64_MAX) return false;
      if (*offset != expected) return false;
      ts.push_back({*offset, static_cast<std::uint64_t>(bytes)});
      expected = *offset + static_cast<std::uint64_t>(bytes);
      expected += (alignment - expected % alignment) % alignment;
    }
    std::uint64_t data = pos_;
    if (*nt > 0) data += (alignment - data % alignment) % alignment;
    for (const auto& t : ts) {
      if (data > b_.size() || t.offset > b_.size() - data || t.bytes > b_.size() - data - t.offset) return false;
    }
    return true;
  }

 private:
  std::optional<std::uint64_t> fixed(std::size_t n) {
    if (b_.size() - pos_ < n) return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(b_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::optional<std::uint32_t> u32() {
    auto v = fixed(4);
    return v ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(*v)) : std::nullopt;
  }
  std::optional<std::uint64_t> u64() { return fixed(8); }
  std::optional<std::string> str() {
    auto n = u64();
    if (!n || *n > b_.size() - pos_) return std::nullopt;
    std::string s(b_.substr(pos_, static_cast<std::size_t>(*n)));
    pos_ += static_cast<std::size_t>(*n);
    return s;
  }
  bool skipValue(std::uint32_t type, int depth) {
    static constexpr std::size_t kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type > 12) return false;
    if (type == 8) return str().has_value();
    if (type == 9) {
      auto et = u32();
      auto count = u64();
      if (!et || !count || depth >= 2) return false;
      for (std::uint64_t i = 0; i < *count; ++i) {
        if (!skipValue(*et, depth + 1)) return false;
      }
      return true;
    }
    if (type == 7) {
      auto v = fixed(1);
      return v && *v <= 1;
    }
    return fixed(kSize[type]).has_value();
  }

  std::string_view b_;
  std::size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits limits;

  TracingSource src(in);
  Report report;
  validateGguf(src, limits, report);
  CHECK(src.total <= size + 64 * 1024);
  CHECK(report.findings.size() <= 65);
  for (const auto& f : report.findings) {
    CHECK(f.rule.starts_with("gguf."));
    CHECK(f.offset <= size);
  }

  MemorySource again{std::string(in)};
  Report second;
  validateGguf(again, limits, second);
  CHECK(second.verdict == report.verdict && second.findings.size() == report.findings.size());
  for (std::size_t i = 0; i < second.findings.size(); ++i) CHECK(second.findings[i].rule == report.findings[i].rule);

  if (report.verdict == Verdict::Clean) CHECK(Walker(in).run());

  for (const auto& ind : chatTemplateIndicators(in)) CHECK(ind.pos < size);
  return 0;
}
