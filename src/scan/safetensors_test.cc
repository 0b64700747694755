#include "scan/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace hubgate::scan {
namespace {

std::string le64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// A safetensors file: length prefix, header, `data` zero bytes.
std::string file(std::string_view header, std::uint64_t data = 0) {
  return le64(header.size()) + std::string(header) +
         std::string(static_cast<std::size_t>(data), '\0');
}

Report validate(const std::string& bytes, Limits limits = {}) {
  MemorySource src(bytes);
  Report report;
  validateSafetensors(src, limits, report);
  return report;
}

bool hasRule(const Report& r, std::string_view rule) {
  return std::any_of(r.findings.begin(), r.findings.end(),
                     [&](const Finding& f) { return f.rule == rule; });
}

std::string rules(const Report& r) {
  std::string out;
  for (const auto& f : r.findings) out += f.rule + " (" + f.message + "); ";
  return out;
}

#define EXPECT_CLEAN(report) EXPECT_EQ((report).verdict, Verdict::Clean) << rules(report)
#define EXPECT_INVALID_WITH(report, rule)                                       \
  do {                                                                          \
    Report r_ = (report);                                                       \
    EXPECT_EQ(r_.verdict, Verdict::Invalid) << rules(r_);                       \
    EXPECT_TRUE(hasRule(r_, rule)) << "want " << rule << ", got " << rules(r_); \
  } while (0)

TEST(Safetensors, MinimalIsClean) {
  auto bytes = file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 24);
  EXPECT_CLEAN(validate(bytes));
  MemorySource src(bytes);
  EXPECT_TRUE(looksLikeSafetensors(src));
}

TEST(Safetensors, EmptyHeaderObjectWithoutDataIsClean) { EXPECT_CLEAN(validate(file("{}"))); }

TEST(Safetensors, WhitespacePaddedHeaderIsClean) {
  std::string header = R"(  {"w":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})";
  while (header.size() % 8 != 0) header += ' ';
  header += "\n\t\r ";
  auto bytes = file(header, 4);
  EXPECT_CLEAN(validate(bytes));
  MemorySource src(bytes);
  EXPECT_TRUE(looksLikeSafetensors(src));
}

TEST(Safetensors, RankZeroZeroDimAndMetadataAreClean) {
  auto bytes = file(R"({"__metadata__":{"format":"pt","note":"caf\u00e9 \"quoted\""},)"
                    R"("scalar":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
                    R"("empty":{"dtype":"BF16","shape":[0,7],"data_offsets":[8,8]},)"
                    R"("also_empty":{"dtype":"F16","shape":[3,0],"data_offsets":[8,8]},)"
                    R"("nibbles":{"dtype":"F4","shape":[6],"data_offsets":[8,11]},)"
                    R"("six":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[11,14]},)"
                    R"("fp8":{"dtype":"F8_E4M3FNUZ","shape":[2],"data_offsets":[14,16]}})",
                    16);
  EXPECT_CLEAN(validate(bytes));
}

TEST(Safetensors, OffsetsMayBeListedOutOfOrder) {
  auto bytes = file(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},)"
                    R"("a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})",
                    5);
  EXPECT_CLEAN(validate(bytes));
}

TEST(Safetensors, DtypeTable) {
  EXPECT_EQ(safetensorsDtypeBits("F32"), 32u);
  EXPECT_EQ(safetensorsDtypeBits("C64"), 64u);
  EXPECT_EQ(safetensorsDtypeBits("F8_E8M0"), 8u);
  EXPECT_EQ(safetensorsDtypeBits("F4"), 4u);
  EXPECT_EQ(safetensorsDtypeBits("F6_E3M2"), 6u);
  EXPECT_EQ(safetensorsDtypeBits("BOOL"), 8u);
  EXPECT_FALSE(safetensorsDtypeBits("f32"));
  EXPECT_FALSE(safetensorsDtypeBits("F128"));
}

TEST(Safetensors, TooSmall) {
  EXPECT_INVALID_WITH(validate("abc"), "safetensors.too-small");
  MemorySource src(std::string("abc"));
  EXPECT_FALSE(looksLikeSafetensors(src));
}

TEST(Safetensors, HeaderLengthTooLarge) {
  std::string bytes = le64(kSafetensorsMaxHeader + 1) + "{}";
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.header.too-large");
  MemorySource src(bytes);
  EXPECT_FALSE(looksLikeSafetensors(src));
}

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  std::string bytes = le64(100) + "{}";
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.header.truncated");
  // A length near 2^64 must not wrap around.
  EXPECT_INVALID_WITH(validate(le64(~0ull) + "{}"), "safetensors.header.too-large");
  MemorySource src(bytes);
  EXPECT_FALSE(looksLikeSafetensors(src));
}

TEST(Safetensors, HeaderNotUtf8) {
  EXPECT_INVALID_WITH(validate(file("{\"\xff\":{}}")), "safetensors.header.utf8");
  EXPECT_INVALID_WITH(validate(file("{\"\xc0\xaf\":1}")), "safetensors.header.utf8");  // overlong
}

TEST(Safetensors, HeaderNotAnObject) {
  EXPECT_INVALID_WITH(validate(file("[1,2]")), "safetensors.header.not-object");
  EXPECT_INVALID_WITH(validate(file("\"x\"")), "safetensors.header.not-object");
  MemorySource src(file("[1,2]"));
  EXPECT_FALSE(looksLikeSafetensors(src));
}

TEST(Safetensors, HeaderJsonSyntax) {
  EXPECT_INVALID_WITH(validate(file("{")), "safetensors.header.json");
  EXPECT_INVALID_WITH(validate(file("")), "safetensors.header.json");
  EXPECT_INVALID_WITH(validate(file("{} x")), "safetensors.header.json");  // non-space padding
  EXPECT_INVALID_WITH(validate(file(std::string("{}\0\0", 4))),
                      "safetensors.header.json");  // NUL padding
  EXPECT_INVALID_WITH(validate(file("{'a':1}")), "safetensors.header.json");
  EXPECT_INVALID_WITH(validate(file("{\"a\":01}")), "safetensors.header.json");
  EXPECT_INVALID_WITH(validate(file("{\"a\":\"\\ud800\"}")),
                      "safetensors.header.json");  // lone surrogate
  EXPECT_INVALID_WITH(validate(file("{\"a\":\"x\ty\"}")),
                      "safetensors.header.json");  // raw control
  EXPECT_INVALID_WITH(validate(file("{\"a\":tru}")), "safetensors.header.json");
  EXPECT_INVALID_WITH(validate(file("{\"a\":1,}")), "safetensors.header.json");
  EXPECT_INVALID_WITH(validate(file("8 {}")), "safetensors.header.json");  // a value, then more
  EXPECT_INVALID_WITH(validate(file("8")), "safetensors.header.not-object");
}

TEST(Safetensors, DuplicateKeys) {
  auto bytes = file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                    R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                    2);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.duplicate-key");
  // Equal after unescaping.
  auto escaped = file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                      R"("\u0077":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                      2);
  EXPECT_INVALID_WITH(validate(escaped), "safetensors.duplicate-key");
  // Inside a tensor entry.
  auto field = file(R"({"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_INVALID_WITH(validate(field), "safetensors.duplicate-key");
  // Inside __metadata__.
  auto meta = file(R"({"__metadata__":{"a":"1","a":"2"}})");
  EXPECT_INVALID_WITH(validate(meta), "safetensors.duplicate-key");
}

TEST(Safetensors, MetadataValuesMustBeStrings) {
  EXPECT_INVALID_WITH(validate(file(R"({"__metadata__":{"epoch":3}})")),
                      "safetensors.metadata.invalid");
  EXPECT_INVALID_WITH(validate(file(R"({"__metadata__":["a"]})")), "safetensors.metadata.invalid");
  EXPECT_INVALID_WITH(validate(file(R"({"__metadata__":{"n":{"x":"y"}}})")),
                      "safetensors.metadata.invalid");
}

TEST(Safetensors, UnknownDtype) {
  auto bytes = file(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.dtype.unknown");
  auto lower = file(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4);
  EXPECT_INVALID_WITH(validate(lower), "safetensors.dtype.unknown");
}

TEST(Safetensors, BadShapes) {
  EXPECT_INVALID_WITH(validate(file(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})")),
                      "safetensors.shape.invalid");
  EXPECT_INVALID_WITH(
      validate(file(R"({"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})", 1)),
      "safetensors.shape.invalid");
  EXPECT_INVALID_WITH(
      validate(file(R"({"w":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}})", 1)),
      "safetensors.shape.invalid");
  EXPECT_INVALID_WITH(
      validate(file(R"({"w":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}})", 1)),
      "safetensors.shape.invalid");
  EXPECT_INVALID_WITH(validate(file(R"({"w":{"dtype":"U8","shape":3,"data_offsets":[0,3]}})", 3)),
                      "safetensors.shape.invalid");
  // Larger than u64.
  EXPECT_INVALID_WITH(
      validate(
          file(R"({"w":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}})", 1)),
      "safetensors.shape.invalid");
}

TEST(Safetensors, MissingFieldsAndNonObjectTensor) {
  EXPECT_INVALID_WITH(validate(file(R"({"w":{"dtype":"U8","shape":[1]}})")),
                      "safetensors.tensor.invalid");
  EXPECT_INVALID_WITH(validate(file(R"({"w":[1,2]})")), "safetensors.tensor.invalid");
}

TEST(Safetensors, BadDataOffsets) {
  // begin > end
  EXPECT_INVALID_WITH(validate(file(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4)),
                      "safetensors.offsets.invalid");
  EXPECT_INVALID_WITH(validate(file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1)),
                      "safetensors.offsets.invalid");
  EXPECT_INVALID_WITH(
      validate(file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 1)),
      "safetensors.offsets.invalid");
  EXPECT_INVALID_WITH(
      validate(file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[-0,1]}})", 1)),
      "safetensors.offsets.invalid");
}

TEST(Safetensors, Gap) {
  auto bytes = file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                    R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                    6);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.offsets.gap");
}

TEST(Safetensors, FirstTensorNotAtZero) {
  auto bytes = file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.offsets.gap");
}

TEST(Safetensors, Overlap) {
  auto bytes = file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                    R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                    6);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.offsets.overlap");
  // The same region twice.
  auto twice = file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                    R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                    4);
  EXPECT_INVALID_WITH(validate(twice), "safetensors.offsets.overlap");
}

TEST(Safetensors, TrailingBytesPolyglot) {
  std::string bytes = file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 2);
  bytes += "PK\x05\x06" + std::string(18, '\0');  // an empty zip appended
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.trailing-bytes");
  // Data but no tensors.
  EXPECT_INVALID_WITH(validate(file("{}", 3)), "safetensors.trailing-bytes");
}

TEST(Safetensors, DataShorterThanDeclared) {
  auto bytes = file(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", 4);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.truncated");
}

TEST(Safetensors, ElementCountOverflow) {
  auto bytes =
      file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})");
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.shape.overflow");
  // count fits but count x bits does not
  auto bits = file(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})");
  EXPECT_INVALID_WITH(validate(bits), "safetensors.shape.overflow");
}

TEST(Safetensors, ByteCountMismatch) {
  auto bytes = file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4);
  EXPECT_INVALID_WITH(validate(bytes), "safetensors.size-mismatch");
  // 3 x 4 bits is not a whole number of bytes.
  auto nibbles = file(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2);
  EXPECT_INVALID_WITH(validate(nibbles), "safetensors.size-mismatch");
}

TEST(Safetensors, DeepNesting) {
  std::string deep = "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}}";
  EXPECT_INVALID_WITH(validate(file(deep)), "safetensors.header.depth");
  // Within the limit it is only an unknown field (Suspicious).
  Limits generous;
  generous.max_json_depth = 200;
  Report r = validate(file(deep), generous);
  EXPECT_EQ(r.verdict, Verdict::Suspicious) << rules(r);
  EXPECT_TRUE(hasRule(r, "safetensors.tensor.unknown-field"));
  // A header that is only brackets.
  EXPECT_INVALID_WITH(validate(file(std::string(100000, '['))), "safetensors.header.depth");
}

TEST(Safetensors, ControlCharactersInNameAreSuspicious) {
  Report r = validate(file(R"({"a\nb":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1));
  EXPECT_EQ(r.verdict, Verdict::Suspicious) << rules(r);
  EXPECT_TRUE(hasRule(r, "safetensors.tensor.name"));
}

TEST(Safetensors, FindingsAreCapped) {
  std::string header = "{";
  for (int i = 0; i < 500; ++i) {
    if (i) header += ",";
    header +=
        "\"t" + std::to_string(i) + "\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,1]}";
  }
  header += "}";
  Report r = validate(file(header, 1));
  EXPECT_EQ(r.verdict, Verdict::Invalid);
  EXPECT_LE(r.findings.size(), 65u);
  EXPECT_TRUE(hasRule(r, "safetensors.findings.truncated"));
}

// Records every read; bytes past the header are never stored (the file is "2 GiB").
class CountingSource final : public ByteSource {
 public:
  CountingSource(std::string head, std::uint64_t size) : head_(std::move(head)), size_(size) {}
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= size_) return std::size_t{0};
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset));
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t at = offset + i;
      out[i] = at < head_.size() ? static_cast<std::byte>(head_[static_cast<std::size_t>(at)])
                                 : std::byte{0};
    }
    bytes_read += n;
    max_end = std::max(max_end, offset + n);
    return n;
  }
  std::uint64_t bytes_read = 0;
  std::uint64_t max_end = 0;

 private:
  std::string head_;
  std::uint64_t size_;
};

TEST(Safetensors, ReadsOnlyTheHeaderOfATwoGibFile) {
  const std::uint64_t data = 2ull << 30;  // 2 GiB of F32
  std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[536870912],)"
                       R"("data_offsets":[0,2147483648]}})";
  std::string head = le64(header.size()) + header;
  CountingSource src(head, head.size() + data);
  Report report;
  validateSafetensors(src, Limits{}, report);
  EXPECT_EQ(report.verdict, Verdict::Clean) << rules(report);
  EXPECT_LE(src.max_end, head.size());
  EXPECT_LE(src.bytes_read, head.size());
  src.max_end = 0;
  EXPECT_TRUE(looksLikeSafetensors(src));
  EXPECT_LE(src.max_end, head.size());

  // One byte more than declared: trailing bytes, still without reading them.
  CountingSource longer(head, head.size() + data + 1);
  Report r2;
  validateSafetensors(longer, Limits{}, r2);
  EXPECT_TRUE(hasRule(r2, "safetensors.trailing-bytes"));
  EXPECT_LE(longer.max_end, head.size());
}

// The committed samples (tests/scan_samples/gen_weights.py): the name prefix is the verdict.
TEST(Safetensors, CommittedSamples) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(HUBGATE_SOURCE_DIR) / "tests/scan_samples/weights";
  int seen = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string name = e.path().filename().string();
    std::string want = name.substr(0, name.find('_'));
    Report r = validate(ss.str());
    EXPECT_EQ(verdictName(r.verdict), want) << name << ": " << rules(r);
    ++seen;
  }
  EXPECT_GE(seen, 5);
}

}  // namespace
}  // namespace hubgate::scan
