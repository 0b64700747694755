#include "scan/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace hubgate::scan {
namespace {

enum : std::uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 };
enum : std::uint32_t { GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q8_0 = 8, GGML_Q4_K = 12 };

template <class T>
std::string le(T v) {
  std::string out(sizeof(T), '\0');
  std::memcpy(out.data(), &v, sizeof(T));  // the test host is little-endian (x86-64, arm64)
  return out;
}
std::string gstr(std::string_view s) { return le<std::uint64_t>(s.size()) + std::string(s); }
std::string kv(std::string_view key, std::uint32_t type, const std::string& payload) {
  return gstr(key) + le(type) + payload;
}
std::string strArray(const std::vector<std::string>& items) {
  std::string out = le<std::uint32_t>(STRING) + le<std::uint64_t>(items.size());
  for (const auto& s : items) out += gstr(s);
  return out;
}

struct Tensor {
  std::string name;
  std::vector<std::uint64_t> dims;
  std::uint32_t type;
  std::uint64_t nbytes;                 // data bytes
  std::optional<std::uint64_t> offset;  // computed (aligned, in order) when empty
};

std::uint64_t padTo(std::uint64_t n, std::uint64_t a) { return (a - n % a) % a; }

// A GGUF file; tensor data zero-filled and padded (or `data_bytes` of it).
std::string gguf(const std::vector<std::string>& kvs, const std::vector<Tensor>& tensors,
                 std::uint32_t alignment = 32, std::uint32_t version = 3,
                 std::optional<std::uint64_t> data_bytes = std::nullopt) {
  std::string out =
      "GGUF" + le(version) + le<std::uint64_t>(tensors.size()) + le<std::uint64_t>(kvs.size());
  for (const auto& k : kvs) out += k;
  std::uint64_t at = 0, data_end = 0;
  for (const auto& t : tensors) {
    std::uint64_t off = t.offset.value_or(at);
    out += gstr(t.name) + le<std::uint32_t>(static_cast<std::uint32_t>(t.dims.size()));
    for (auto d : t.dims) out += le(d);
    out += le(t.type) + le(off);
    at = off + t.nbytes + padTo(t.nbytes, alignment);
    data_end = std::max(data_end, at);
  }
  if (!tensors.empty()) out += std::string(padTo(out.size(), alignment), '\0');
  return out + std::string(data_bytes.value_or(data_end), '\0');
}

Report validate(const std::string& bytes) {
  MemorySource src(bytes);
  Report report;
  validateGguf(src, Limits{}, report);
  return report;
}

bool hasRule(const Report& r, std::string_view rule) {
  return std::any_of(r.findings.begin(), r.findings.end(),
                     [&](const Finding& f) { return f.rule == rule; });
}

std::string rules(const Report& r) {
  std::string out;
  for (const auto& f : r.findings)
    out += f.rule + " (" + f.message + " @" + std::to_string(f.offset) + "); ";
  return out;
}

#define EXPECT_CLEAN(report) EXPECT_EQ((report).verdict, Verdict::Clean) << rules(report)
#define EXPECT_VERDICT_WITH(report, want, rule)                                 \
  do {                                                                          \
    Report r_ = (report);                                                       \
    EXPECT_EQ(r_.verdict, want) << rules(r_);                                   \
    EXPECT_TRUE(hasRule(r_, rule)) << "want " << rule << ", got " << rules(r_); \
  } while (0)
#define EXPECT_INVALID_WITH(report, rule) EXPECT_VERDICT_WITH(report, Verdict::Invalid, rule)

const std::string kBenignTemplate =
    "{%- set ns = namespace(found=false) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}{%- endif -%}"
    "{%- if loop.first and message['role'] != 'system' -%}{{ raise_exception('no system') }}{%- "
    "endif -%}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] | trim + '<|end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
    "Kudos. The OS. Use namespace(x=1) and cycler('a','b').next() and joiner(', ')()";

std::vector<std::string> baseKvs() {
  return {
      kv("general.architecture", STRING, gstr("llama")),
      kv("general.alignment", U32, le<std::uint32_t>(32)),
      kv("llama.context_length", U32, le<std::uint32_t>(2048)),
      kv("llama.rope.freq_base", F32, le<float>(10000.0f)),
      kv("general.quantized", BOOL, le<std::uint8_t>(1)),
      kv("general.file_type", U64, le<std::uint64_t>(2)),
      kv("tokenizer.ggml.tokens", ARRAY, strArray({"<s>", "</s>", "hello", "world"})),
      kv("tokenizer.ggml.scores", ARRAY,
         le<std::uint32_t>(F32) + le<std::uint64_t>(4) + std::string(16, '\0')),
      kv("command-r.block_count", U32, le<std::uint32_t>(1)),
  };
}

std::vector<Tensor> baseTensors() {
  return {
      {"token_embd.weight", {4, 2}, GGML_F32, 32, {}},
      {"blk.0.ffn_down.weight", {64, 2}, GGML_Q4_0, 4 * 18, {}},
      {"blk.0.attn_q.weight", {256}, GGML_Q4_K, 144, {}},
  };
}

TEST(Gguf, ValidV3IsClean) {
  auto kvs = baseKvs();
  kvs.push_back(kv("tokenizer.chat_template", STRING, gstr(kBenignTemplate)));
  auto bytes = gguf(kvs, baseTensors());
  EXPECT_CLEAN(validate(bytes));
  MemorySource src(bytes);
  EXPECT_TRUE(looksLikeGguf(src));
}

TEST(Gguf, ValidV2WithoutTensorsIsClean) {
  EXPECT_CLEAN(validate(gguf({kv("general.architecture", STRING, gstr("llama"))}, {}, 32, 2)));
  EXPECT_CLEAN(validate(gguf({}, {})));
}

TEST(Gguf, ZeroSizedTensorsAndLargeAlignmentAreClean) {
  auto bytes = gguf({kv("general.alignment", U32, le<std::uint32_t>(64))},
                    {{"empty", {0, 4}, GGML_F32, 0, {}}, {"w", {8}, GGML_F16, 16, {}}}, 64);
  EXPECT_CLEAN(validate(bytes));
}

TEST(Gguf, MissingFinalPaddingIsClean) {
  auto bytes = gguf({}, {{"w", {3}, GGML_F32, 12, {}}});
  bytes.resize(bytes.size() - 20);  // 12 bytes of data, no padding after it
  EXPECT_CLEAN(validate(bytes));
}

TEST(Gguf, NestedArrayOfDepthTwoIsCleanDepthThreeIsNot) {
  std::string inner = le<std::uint32_t>(U8) + le<std::uint64_t>(2) + std::string("\1\2", 2);
  std::string depth2 = le<std::uint32_t>(ARRAY) + le<std::uint64_t>(1) + inner;
  EXPECT_CLEAN(validate(gguf({kv("general.nested", ARRAY, depth2)}, {})));
  std::string depth3 = le<std::uint32_t>(ARRAY) + le<std::uint64_t>(1) + depth2;
  EXPECT_INVALID_WITH(validate(gguf({kv("general.nested", ARRAY, depth3)}, {})),
                      "gguf.kv.array-depth");
}

TEST(Gguf, BadMagic) {
  EXPECT_INVALID_WITH(validate("GGUG" + le<std::uint32_t>(3) + std::string(16, '\0')),
                      "gguf.magic");
  EXPECT_INVALID_WITH(validate("GG"), "gguf.too-small");
  MemorySource src(std::string("GGML1234"));
  EXPECT_FALSE(looksLikeGguf(src));
}

TEST(Gguf, Versions) {
  EXPECT_INVALID_WITH(validate("GGUF" + le<std::uint32_t>(1) + std::string(8, '\0')),
                      "gguf.version");
  EXPECT_INVALID_WITH(validate(gguf({}, {}, 32, 4)), "gguf.version");
  EXPECT_INVALID_WITH(validate(gguf({}, {}, 32, 0)), "gguf.version");
  // A big-endian v3 file reads as 0x03000000 here.
  EXPECT_INVALID_WITH(validate(gguf({}, {}, 32, 0x03000000)), "gguf.version");
}

TEST(Gguf, TruncatedHeader) {
  EXPECT_INVALID_WITH(validate("GGUF" + le<std::uint32_t>(3) + le<std::uint64_t>(0)),
                      "gguf.truncated");
}

TEST(Gguf, HugeCounts) {
  std::string head = "GGUF" + le<std::uint32_t>(3);
  EXPECT_INVALID_WITH(validate(head + le<std::uint64_t>(~0ull) + le<std::uint64_t>(0)),
                      "gguf.count.too-large");
  EXPECT_INVALID_WITH(validate(head + le<std::uint64_t>(0) + le<std::uint64_t>(1ull << 62)),
                      "gguf.count.too-large");
  // Each fits alone, not together.
  std::string body(100, '\0');
  EXPECT_INVALID_WITH(validate(head + le<std::uint64_t>(4) + le<std::uint64_t>(1) + body),
                      "gguf.count.too-large");
  // Array count beyond the remaining bytes.
  std::string arr = le<std::uint32_t>(U64) + le<std::uint64_t>(1ull << 40);
  EXPECT_INVALID_WITH(validate(gguf({kv("general.big", ARRAY, arr)}, {})), "gguf.count.too-large");
  // String length beyond the remaining bytes.
  EXPECT_INVALID_WITH(
      validate(gguf({kv("general.name", STRING, le<std::uint64_t>(1ull << 50))}, {})),
      "gguf.truncated");
}

TEST(Gguf, BoolMustBeZeroOrOne) {
  EXPECT_INVALID_WITH(validate(gguf({kv("general.flag", BOOL, le<std::uint8_t>(2))}, {})),
                      "gguf.kv.bool");
  std::string arr = le<std::uint32_t>(BOOL) + le<std::uint64_t>(3) + std::string("\0\1\x7f", 3);
  EXPECT_INVALID_WITH(validate(gguf({kv("general.flags", ARRAY, arr)}, {})), "gguf.kv.bool");
}

TEST(Gguf, UnknownValueType) {
  EXPECT_INVALID_WITH(validate(gguf({kv("general.x", 13, "")}, {})), "gguf.kv.type");
  std::string arr = le<std::uint32_t>(99) + le<std::uint64_t>(0);
  EXPECT_INVALID_WITH(validate(gguf({kv("general.x", ARRAY, arr)}, {})), "gguf.kv.type");
}

TEST(Gguf, DuplicateKey) {
  EXPECT_INVALID_WITH(
      validate(
          gguf({kv("general.name", STRING, gstr("a")), kv("general.name", STRING, gstr("b"))}, {})),
      "gguf.kv.duplicate");
}

TEST(Gguf, KeyRules) {
  EXPECT_INVALID_WITH(validate(gguf({kv("", U8, "\1")}, {})), "gguf.key.invalid");
  EXPECT_INVALID_WITH(validate(gguf({kv("general.n\xc3\xa4me", U8, "\1")}, {})),
                      "gguf.key.invalid");
  EXPECT_INVALID_WITH(validate(gguf({kv("general.na me", U8, "\1")}, {})), "gguf.key.invalid");
  EXPECT_INVALID_WITH(validate(gguf({kv("general.\n", U8, "\1")}, {})), "gguf.key.invalid");
  EXPECT_VERDICT_WITH(validate(gguf({kv("General.Name", U8, "\1")}, {})), Verdict::Suspicious,
                      "gguf.key.style");
  EXPECT_VERDICT_WITH(validate(gguf({kv("general..name", U8, "\1")}, {})), Verdict::Suspicious,
                      "gguf.key.style");
  // Over 65 535 bytes.
  std::string longkey =
      le<std::uint64_t>(70000) + std::string(70000, 'a') + le<std::uint32_t>(U8) + "\1";
  EXPECT_INVALID_WITH(validate(gguf({longkey}, {})), "gguf.key.invalid");
}

TEST(Gguf, Alignment) {
  for (std::uint32_t bad : {0u, 4u, 48u, 3u}) {
    SCOPED_TRACE(bad);
    EXPECT_INVALID_WITH(validate(gguf({kv("general.alignment", U32, le(bad))}, {})),
                        "gguf.alignment");
  }
  EXPECT_INVALID_WITH(validate(gguf({kv("general.alignment", U64, le<std::uint64_t>(32))}, {})),
                      "gguf.alignment");
  EXPECT_CLEAN(validate(gguf({kv("general.alignment", U32, le<std::uint32_t>(8))},
                             {{"w", {2}, GGML_F32, 8, {}}}, 8)));
}

TEST(Gguf, MisalignedTensorOffset) {
  EXPECT_INVALID_WITH(
      validate(gguf({}, {{"a", {8}, GGML_F32, 32, {}}, {"b", {8}, GGML_F32, 32, 40}})),
      "gguf.tensor.misaligned");
}

TEST(Gguf, TensorOutOfFile) {
  auto bytes = gguf({}, {{"a", {64}, GGML_F32, 256, {}}});
  bytes.resize(bytes.size() - 100);
  EXPECT_INVALID_WITH(validate(bytes), "gguf.tensor.out-of-file");
  // An offset far past the end.
  auto far = gguf({}, {{"a", {8}, GGML_F32, 32, 1ull << 40}}, 32, 3, 64);
  EXPECT_INVALID_WITH(validate(far), "gguf.tensor.gap");
  Report r = validate(far);
  EXPECT_TRUE(hasRule(r, "gguf.tensor.out-of-file")) << rules(r);
}

TEST(Gguf, TensorOverlapAndGap) {
  EXPECT_INVALID_WITH(
      validate(gguf({}, {{"a", {8}, GGML_F32, 32, 0}, {"b", {8}, GGML_F32, 32, 0}})),
      "gguf.tensor.overlap");
  EXPECT_INVALID_WITH(
      validate(gguf({}, {{"a", {8}, GGML_F32, 32, 0}, {"b", {8}, GGML_F32, 32, 64}})),
      "gguf.tensor.gap");
  // Out of order: b listed first but stored after a.
  EXPECT_INVALID_WITH(
      validate(gguf({}, {{"b", {8}, GGML_F32, 32, 32}, {"a", {8}, GGML_F32, 32, 0}})),
      "gguf.tensor.gap");
}

TEST(Gguf, UnknownAndRetiredGgmlTypes) {
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {32}, 99, 32, {}}})), "gguf.tensor.type");
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {32}, 43, 32, {}}})), "gguf.tensor.type");
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {32}, 31, 18, {}}})), "gguf.tensor.type-removed");
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {32}, 4, 18, {}}})), "gguf.tensor.type-removed");
}

TEST(Gguf, GgmlTypeTable) {
  GgmlType t{};
  ASSERT_EQ(ggmlTypeInfo(2, t), GgmlTypeStatus::Known);
  EXPECT_EQ(t.name, "Q4_0");
  EXPECT_EQ(t.block_size, 32u);
  EXPECT_EQ(t.type_size, 18u);
  struct Want {
    std::uint32_t id;
    std::string_view name;
    std::uint32_t block, size;
  };
  for (auto w :
       {Want{0, "F32", 1, 4}, Want{8, "Q8_0", 32, 34}, Want{10, "Q2_K", 256, 84},
        Want{14, "Q6_K", 256, 210}, Want{15, "Q8_K", 256, 292}, Want{16, "IQ2_XXS", 256, 66},
        Want{21, "IQ3_S", 256, 110}, Want{23, "IQ4_XS", 256, 136}, Want{29, "IQ1_M", 256, 56},
        Want{30, "BF16", 1, 2}, Want{34, "TQ1_0", 256, 54}, Want{35, "TQ2_0", 256, 66},
        Want{39, "MXFP4", 32, 17}}) {
    ASSERT_EQ(ggmlTypeInfo(w.id, t), GgmlTypeStatus::Known) << w.name;
    EXPECT_EQ(t.name, w.name);
    EXPECT_EQ(t.block_size, w.block) << w.name;
    EXPECT_EQ(t.type_size, w.size) << w.name;
  }
  EXPECT_EQ(ggmlTypeInfo(5, t), GgmlTypeStatus::Removed);
  EXPECT_EQ(ggmlTypeInfo(38, t), GgmlTypeStatus::Removed);
  EXPECT_EQ(ggmlTypeInfo(1000, t), GgmlTypeStatus::Unknown);
}

TEST(Gguf, BlockSizeAndSizes) {
  // Q4_0 rows must be a multiple of 32 elements.
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {48}, GGML_Q4_0, 36, {}}})), "gguf.tensor.block");
  // Q8_0 [64, 3] = 2 blocks x 34 bytes x 3 rows.
  EXPECT_CLEAN(
      validate(gguf({}, {{"a", {64, 3}, GGML_Q8_0, 204, {}}, {"b", {1}, GGML_F32, 4, {}}})));
  // Declaring the Q8_0 tensor as 1 byte shorter shifts b onto a's padding: overlap.
  EXPECT_INVALID_WITH(
      validate(gguf({}, {{"a", {64, 3}, GGML_Q8_0, 204, {}}, {"b", {1}, GGML_F32, 4, 192}})),
      "gguf.tensor.overlap");
}

TEST(Gguf, TooManyDims) {
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {1, 1, 1, 1, 1}, GGML_F32, 4, {}}})),
                      "gguf.tensor.dims");
}

TEST(Gguf, ElementCountOverflow) {
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {1ull << 32, 1ull << 32}, GGML_F32, 0, {}}})),
                      "gguf.tensor.overflow");
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {1ull << 63}, GGML_F32, 0, {}}})),
                      "gguf.tensor.dims");
  // Elements fit in int64, bytes do not fit in 64 bits.
  EXPECT_INVALID_WITH(validate(gguf({}, {{"a", {1ull << 31, 1ull << 31}, 28, 0, {}}})),
                      "gguf.tensor.overflow");
}

TEST(Gguf, TensorNames) {
  std::string name63(63, 'n');
  EXPECT_CLEAN(validate(gguf({}, {{name63, {1}, GGML_F32, 4, {}}})));
  std::string name64(64, 'n');  // GGML_MAX_NAME counts the NUL
  EXPECT_INVALID_WITH(validate(gguf({}, {{name64, {1}, GGML_F32, 4, {}}})), "gguf.tensor.name");
  std::string name65(65, 'n');
  EXPECT_INVALID_WITH(validate(gguf({}, {{name65, {1}, GGML_F32, 4, {}}})), "gguf.tensor.name");
  EXPECT_INVALID_WITH(
      validate(gguf({}, {{"w", {1}, GGML_F32, 4, {}}, {"w", {1}, GGML_F32, 4, {}}})),
      "gguf.tensor.duplicate-name");
}

TEST(Gguf, TrailingBytesAreSuspicious) {
  auto bytes = gguf({}, baseTensors()) + std::string(40, 'X');
  EXPECT_VERDICT_WITH(validate(bytes), Verdict::Suspicious, "gguf.trailing-bytes");
  EXPECT_VERDICT_WITH(validate(gguf({}, {}) + std::string(40, 'X')), Verdict::Suspicious,
                      "gguf.trailing-bytes");
}

TEST(Gguf, SstiTemplateIsMalicious) {
  const char* payloads[] = {
      "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
      "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os').system('id') }}",
      "{% for c in ().__class__.__base__.__subclasses__() %}{% endfor %}",
      "{{ lipsum|attr('\\x5f\\x5fglobals\\x5f\\x5f') }}",
      "{{ namespace . __init__ }}",
      "{{ self._TemplateReference__context.cycler }}",
      "{{ x.os.popen }}",
      "{{ cycler['next'] }}",
      "{{ g.os.system('id') }}",
  };
  for (const char* p : payloads) {
    std::string tmpl = std::string("{% for m in messages %}{{ m['content'] }}{% endfor %}") + p;
    auto kvs = baseKvs();
    kvs.push_back(kv("tokenizer.chat_template", STRING, gstr(tmpl)));
    SCOPED_TRACE(p);
    EXPECT_VERDICT_WITH(validate(gguf(kvs, baseTensors())), Verdict::Malicious,
                        "gguf.chat-template.ssti");
  }
  // Named templates (tokenizer.chat_template.<name>) are inspected too.
  auto kvs = baseKvs();
  kvs.push_back(kv("tokenizer.chat_template.tool_use", STRING, gstr(payloads[0])));
  Report r = validate(gguf(kvs, baseTensors()));
  EXPECT_VERDICT_WITH(r, Verdict::Malicious, "gguf.chat-template.ssti");
}

TEST(Gguf, SstiFindingPointsAtTheTemplate) {
  std::string tmpl = "hello {{ cycler.__init__ }}";
  auto bytes = gguf({kv("tokenizer.chat_template", STRING, gstr(tmpl))}, {});
  Report r = validate(bytes);
  ASSERT_EQ(r.verdict, Verdict::Malicious) << rules(r);
  const Finding& f = r.findings.front();
  ASSERT_LT(f.offset, bytes.size());
  EXPECT_EQ(bytes.substr(static_cast<std::size_t>(f.offset), 6), "cycler");
}

TEST(Gguf, TemplateIndicatorNames) {
  auto found = chatTemplateIndicators("{{ g.os.system('id') }}");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(found[0].malicious);
  EXPECT_EQ(found[0].what, "os.");
  EXPECT_EQ(found[0].pos, 5u);
  EXPECT_TRUE(chatTemplateIndicators("kudos. macos.x photos.jpg").empty());
}

TEST(Gguf, BenignTemplatesAreClean) {
  EXPECT_TRUE(chatTemplateIndicators(kBenignTemplate).empty());
  // A real-world style template (Llama 3 / Qwen): namespace() calls, loop variables, tojson.
  std::string llama =
      "{{- bos_token }}{%- set date_string = strftime_now('%d %b %Y') %}"
      "{%- set ns = namespace(system='') %}"
      "{%- for message in messages %}{%- if message.role == 'system' %}"
      "{%- set ns.system = message.content | trim %}{%- endif %}"
      "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
      "{%- if tools is not none %}{{- tools | tojson(indent=4) }}{%- endif %}"
      "{%- endfor %}{%- if add_generation_prompt %}{{- "
      "'<|start_header_id|>assistant<|end_header_id|>' }}{%- endif %}";
  EXPECT_TRUE(chatTemplateIndicators(llama).empty());
  auto kvs = baseKvs();
  kvs.push_back(kv("tokenizer.chat_template", STRING, gstr(llama)));
  EXPECT_CLEAN(validate(gguf(kvs, baseTensors())));
}

TEST(Gguf, WeakTemplateIndicatorsAreSuspicious) {
  auto r =
      validate(gguf({kv("tokenizer.chat_template", STRING, gstr("{{ m|attr('content') }}"))}, {}));
  EXPECT_VERDICT_WITH(r, Verdict::Suspicious, "gguf.chat-template.suspicious");
  auto concat = validate(
      gguf({kv("tokenizer.chat_template", STRING, gstr("{{ x['__cla' ~ 'ss__'] }}"))}, {}));
  EXPECT_VERDICT_WITH(concat, Verdict::Suspicious, "gguf.chat-template.suspicious");
}

// Reads through a 64 KiB window: a tokenizer with many strings costs few reads, and tensor data
// is never touched.
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
    ++reads;
    max_offset_read = std::max(max_offset_read, offset);
    return n;
  }
  int reads = 0;
  std::uint64_t max_offset_read = 0;

 private:
  std::string head_;
  std::uint64_t size_;
};

TEST(Gguf, ReadsOnlyMetadataOfAHugeFile) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 20000; ++i) tokens.push_back("tok" + std::to_string(i));
  const std::uint64_t nbytes = 1ull << 32;  // a 4 GiB F32 tensor
  std::string with = gguf({kv("tokenizer.ggml.tokens", ARRAY, strArray(tokens))},
                          {{"w", {1ull << 30}, GGML_F32, 0, {}}});
  // gguf() wrote no data (nbytes 0 above); the source pretends the 4 GiB are there.
  CountingSource src(with, with.size() + nbytes);
  Report r;
  validateGguf(src, Limits{}, r);
  EXPECT_EQ(r.verdict, Verdict::Clean) << rules(r);
  EXPECT_LT(src.max_offset_read, with.size());
  EXPECT_LT(src.reads, 10);
}

// The committed samples (tests/scan_samples/gen_weights.py): the name prefix is the verdict.
TEST(Gguf, CommittedSamples) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(HUBGATE_SOURCE_DIR) / "tests/scan_samples/weights";
  int seen = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
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
