#include "scan/gguf.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hubgate::scan {
namespace {

constexpr std::size_t kMaxFindings = 64;
constexpr std::uint64_t kMaxKeyLength = 65'535;
constexpr std::uint64_t kMaxTensorName = 63;  // GGML_MAX_NAME (64) includes the NUL
constexpr std::uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr std::uint32_t kDefaultAlignment = 32;
constexpr std::uint64_t kMaxTemplate = 16ull << 20;
constexpr int kMaxArrayDepth = 2;
constexpr std::uint64_t kMinKvSize = 8 + 4 + 1;              // key length, type, a 1-byte value
constexpr std::uint64_t kMinTensorInfoSize = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

enum GgufType : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
constexpr std::uint32_t kGgufTypeCount = 13;
constexpr std::array<std::uint64_t, kGgufTypeCount> kFixedSize{1, 1, 2, 2, 4, 4, 4,
                                                               1, 0, 0, 8, 8, 8};

// ggml.h / ggml.c type_traits (block size, bytes per block); ids 4, 5, 31-33, 36-38 are retired.
constexpr std::array<GgmlType, 35> kGgmlTypes{{
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},    {40, "NVFP4", 64, 36},
    {41, "Q1_0", 128, 18},    {42, "Q2_0", 64, 18},
}};
constexpr std::uint32_t kGgmlTypeCount = 43;
struct Retired {
  std::uint32_t id;
  std::string_view name;
};
constexpr std::array<Retired, 8> kRetiredTypes{{{4, "Q4_2"},
                                                {5, "Q4_3"},
                                                {31, "Q4_0_4_4"},
                                                {32, "Q4_0_4_8"},
                                                {33, "Q4_0_8_8"},
                                                {36, "IQ4_NL_4_4"},
                                                {37, "IQ4_NL_4_8"},
                                                {38, "IQ4_NL_8_8"}}};

std::string_view typeName(std::uint32_t t) {
  static constexpr std::array<std::string_view, kGgufTypeCount> kNames{
      "u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
      "bool", "string", "array", "u64", "i64", "f64"};
  return t < kGgufTypeCount ? kNames[t] : "?";
}

std::uint64_t alignUp(std::uint64_t v, std::uint64_t a) { return v + (a - v % a) % a; }

// For messages: at most 80 bytes, non-printable bytes escaped.
std::string display(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7F || c == '\'') {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

// Findings are capped (a hostile header can describe endless problems).
class Sink : public FindingSink {
 public:
  explicit Sink(Report& report) : FindingSink(report, "gguf", kMaxFindings) {}
};

// Sequential little-endian reads through a 64 KiB window. A read past the end (or an I/O error)
// fails and latches: every later read fails too.
class Cursor {
 public:
  explicit Cursor(ByteSource& source) : source_(source), size_(source.size()) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t remaining() const { return size_ - pos_; }
  bool failed() const { return truncated_ || !io_error_.empty(); }
  bool truncated() const { return truncated_; }
  const std::string& ioError() const { return io_error_; }

  bool bytes(void* out, std::size_t n) {
    if (failed()) return false;
    if (n > remaining()) {
      truncated_ = true;
      return false;
    }
    auto* dst = static_cast<std::byte*>(out);
    while (n > 0) {
      if (pos_ < window_start_ || pos_ >= window_start_ + window_len_) {
        if (!fill()) return false;
      }
      std::size_t off = static_cast<std::size_t>(pos_ - window_start_);
      std::size_t take = std::min(n, window_len_ - off);
      std::memcpy(dst, window_.data() + off, take);
      dst += take;
      pos_ += take;
      n -= take;
    }
    return true;
  }
  bool skip(std::uint64_t n) {
    if (failed()) return false;
    if (n > remaining()) {
      truncated_ = true;
      return false;
    }
    pos_ += n;
    return true;
  }
  template <class T>
  bool le(T& out) {
    std::array<unsigned char, sizeof(T)> b{};
    if (!bytes(b.data(), b.size())) return false;
    std::uint64_t v = 0;
    for (std::size_t i = sizeof(T); i-- > 0;) v = (v << 8) | b[i];
    out = static_cast<T>(v);
    return true;
  }
  // Reads n bytes into `out`; n is checked against what remains before allocating.
  bool string(std::uint64_t n, std::string& out) {
    if (failed()) return false;
    if (n > remaining()) {
      truncated_ = true;
      return false;
    }
    out.resize(static_cast<std::size_t>(n));
    return bytes(out.data(), out.size());
  }

 private:
  bool fill() {
    window_.resize(kWindow);
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kWindow, remaining()));
    auto got = source_.read(pos_, std::span(window_.data(), want));
    if (!got) {
      io_error_ = got.error().context.empty() ? "read error" : got.error().context;
      return false;
    }
    if (*got == 0) {
      io_error_ = "unexpected end of data at offset " + std::to_string(pos_);
      return false;
    }
    window_start_ = pos_;
    window_len_ = *got;
    return true;
  }

  static constexpr std::size_t kWindow = 64 * 1024;
  ByteSource& source_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  std::vector<std::byte> window_;
  std::uint64_t window_start_ = 0;
  std::size_t window_len_ = 0;
  bool truncated_ = false;
  std::string io_error_;
};

enum class KeyCheck { Ok, Style, Invalid };

KeyCheck checkKey(std::string_view key) {
  if (key.empty()) return KeyCheck::Invalid;
  for (char ch : key) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) return KeyCheck::Invalid;
  }
  // Dotted segments of [a-z0-9_-] (architecture names such as "command-r" carry a '-').
  std::size_t start = 0;
  while (true) {
    std::size_t dot = key.find('.', start);
    std::string_view seg = key.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (seg.empty()) return KeyCheck::Style;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (!ok) return KeyCheck::Style;
    }
    if (dot == std::string_view::npos) return KeyCheck::Ok;
    start = dot + 1;
  }
}

bool isTemplateKey(std::string_view key) {
  return key == "tokenizer.chat_template" || key.starts_with("tokenizer.chat_template.");
}

struct TensorInfo {
  std::uint64_t info_pos = 0;
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t nbytes = 0;
  bool usable = false;  // type and byte size known
  bool aligned = true;
};

class GgufParser {
 public:
  GgufParser(ByteSource& source, Sink& sink) : cur_(source), sink_(sink) {}

  void run() {
    if (!header()) return;
    if (!keyValues()) return;
    if (!tensorInfos()) return;
    layout();
  }

 private:
  // Reports why the cursor stopped; always returns false.
  bool cursorFailed(const std::string& what, std::uint64_t at) {
    if (!cur_.ioError().empty()) {
      sink_.add(Verdict::Error, "gguf.io", "cannot read " + what + ": " + cur_.ioError(), at);
    } else {
      sink_.invalid("gguf.truncated", what + " runs past the end of the file", at);
    }
    return false;
  }

  bool header() {
    const std::uint64_t size = cur_.size();
    std::array<char, 4> magic{};
    if (size < 4) {
      sink_.invalid("gguf.too-small", "file has " + std::to_string(size) + " bytes", 0);
      return false;
    }
    if (!cur_.bytes(magic.data(), 4)) return cursorFailed("the magic", 0);
    if (std::string_view(magic.data(), 4) != "GGUF") {
      sink_.invalid("gguf.magic",
                    "magic is " + display(std::string_view(magic.data(), 4)) + ", not 'GGUF'", 0);
      return false;
    }
    std::uint32_t version = 0;
    if (!cur_.le(version)) return cursorFailed("the version", 4);
    if (version == 1) {
      sink_.invalid("gguf.version", "GGUF version 1 is obsolete (32-bit counts)", 4);
      return false;
    }
    if (version == 0 || (version & 0xFFFF) == 0) {
      sink_.invalid("gguf.version",
                    "GGUF version " + std::to_string(version) +
                        " (byte-swapped: a big-endian file, unsupported)",
                    4);
      return false;
    }
    if (version > 3) {
      sink_.invalid("gguf.version", "unsupported GGUF version " + std::to_string(version), 4);
      return false;
    }
    if (!cur_.le(tensor_count_) || !cur_.le(kv_count_)) return cursorFailed("the header", 8);
    const std::uint64_t rest = cur_.remaining();
    if (kv_count_ > rest / kMinKvSize || tensor_count_ > rest / kMinTensorInfoSize ||
        kv_count_ * kMinKvSize > rest - tensor_count_ * kMinTensorInfoSize) {
      sink_.invalid("gguf.count.too-large",
                    std::to_string(tensor_count_) + " tensors and " + std::to_string(kv_count_) +
                        " key/value pairs cannot fit in the " + std::to_string(rest) +
                        " remaining bytes",
                    8);
      return false;
    }
    return true;
  }

  bool keyValues() {
    std::unordered_set<std::string> seen;
    for (std::uint64_t i = 0; i < kv_count_; ++i) {
      const std::uint64_t key_pos = cur_.pos();
      std::uint64_t len = 0;
      if (!cur_.le(len)) return cursorFailed("key " + std::to_string(i), key_pos);
      if (len > kMaxKeyLength) {
        sink_.invalid("gguf.key.invalid",
                      "key " + std::to_string(i) + " is " + std::to_string(len) +
                          " bytes long (limit " + std::to_string(kMaxKeyLength) + ")",
                      key_pos);
        return false;
      }
      std::string key;
      if (!cur_.string(len, key)) return cursorFailed("key " + std::to_string(i), key_pos);
      switch (checkKey(key)) {
        case KeyCheck::Invalid:
          sink_.invalid(
              "gguf.key.invalid",
              "key " + display(key) + " is empty or has non-ASCII, control or space bytes",
              key_pos);
          break;
        case KeyCheck::Style:
          sink_.add(Verdict::Suspicious, "gguf.key.style",
                    "key " + display(key) + " is not dotted lower_snake_case", key_pos);
          break;
        case KeyCheck::Ok:
          break;
      }
      if (!seen.insert(key).second) {
        sink_.invalid("gguf.kv.duplicate", "duplicate key " + display(key), key_pos);
      }
      std::uint32_t type = 0;
      const std::uint64_t type_pos = cur_.pos();
      if (!cur_.le(type)) return cursorFailed("the type of key " + display(key), type_pos);
      if (type >= kGgufTypeCount) {
        sink_.invalid("gguf.kv.type",
                      "key " + display(key) + " has value type " + std::to_string(type), type_pos);
        return false;
      }
      if (key == "general.alignment") {
        if (type != kU32) {
          sink_.invalid("gguf.alignment",
                        "general.alignment is a " + std::string(typeName(type)) + ", not a u32",
                        type_pos);
        } else {
          std::uint32_t a = 0;
          const std::uint64_t at = cur_.pos();
          if (!cur_.le(a)) return cursorFailed("general.alignment", at);
          if (a == 0 || (a & (a - 1)) != 0 || a % 8 != 0) {
            sink_.invalid(
                "gguf.alignment",
                "general.alignment " + std::to_string(a) + " is not a power of two multiple of 8",
                at);
          } else {
            alignment_ = a;
          }
          continue;
        }
      }
      if (!value(type, 0, key, key_pos)) return false;
    }
    return true;
  }

  // Consumes one value of `type`; `depth` counts the arrays around it.
  bool value(std::uint32_t type, int depth, const std::string& key, std::uint64_t key_pos) {
    const std::uint64_t at = cur_.pos();
    switch (type) {
      case kBool: {
        std::uint8_t b = 0;
        if (!cur_.le(b)) return cursorFailed("the value of " + display(key), at);
        if (b > 1)
          sink_.invalid("gguf.kv.bool", "bool value " + std::to_string(b) + " in " + display(key),
                        at);
        return true;
      }
      case kString: {
        std::uint64_t len = 0;
        if (!cur_.le(len)) return cursorFailed("a string in " + display(key), at);
        if (len > cur_.remaining()) {
          return cursorFailed("a string of " + std::to_string(len) + " bytes in " + display(key),
                              at);
        }
        if (!isTemplateKey(key))
          return cur_.skip(len) || cursorFailed("a string in " + display(key), at);
        if (len > kMaxTemplate) {
          sink_.add(Verdict::Error, "gguf.chat-template.too-large",
                    display(key) + " is " + std::to_string(len) + " bytes, above the " +
                        std::to_string(kMaxTemplate) + "-byte inspection limit",
                    at);
          return cur_.skip(len) || cursorFailed("a string in " + display(key), at);
        }
        std::string tmpl;
        if (!cur_.string(len, tmpl)) return cursorFailed("a string in " + display(key), at);
        inspectTemplate(key, tmpl, at + 8);
        return true;
      }
      case kArray: {
        if (depth >= kMaxArrayDepth) {
          sink_.invalid("gguf.kv.array-depth",
                        "arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep in " +
                            display(key),
                        at);
          return false;
        }
        std::uint32_t elem = 0;
        std::uint64_t count = 0;
        if (!cur_.le(elem) || !cur_.le(count))
          return cursorFailed("an array header in " + display(key), at);
        if (elem >= kGgufTypeCount) {
          sink_.invalid("gguf.kv.type",
                        "array in " + display(key) + " has element type " + std::to_string(elem),
                        at);
          return false;
        }
        const std::uint64_t min_size = elem == kString ? 8 : elem == kArray ? 12 : kFixedSize[elem];
        if (count > cur_.remaining() / min_size) {
          sink_.invalid("gguf.count.too-large",
                        "array of " + std::to_string(count) + " " + std::string(typeName(elem)) +
                            " in " + display(key) + " cannot fit in the " +
                            std::to_string(cur_.remaining()) + " remaining bytes",
                        at);
          return false;
        }
        if (elem == kBool) {
          std::uint64_t bad = 0, first_bad = 0;
          for (std::uint64_t k = 0; k < count; ++k) {
            std::uint8_t b = 0;
            const std::uint64_t p = cur_.pos();
            if (!cur_.le(b)) return cursorFailed("a bool array in " + display(key), at);
            if (b > 1 && bad++ == 0) first_bad = p;
          }
          if (bad > 0) {
            sink_.invalid("gguf.kv.bool",
                          std::to_string(bad) + " bool values other than 0/1 in " + display(key),
                          first_bad);
          }
          return true;
        }
        if (elem != kString && elem != kArray) {
          return cur_.skip(count * kFixedSize[elem]) ||
                 cursorFailed("an array in " + display(key), at);
        }
        for (std::uint64_t k = 0; k < count; ++k) {
          if (!value(elem, depth + 1, key, key_pos)) return false;
        }
        return true;
      }
      default:
        return cur_.skip(kFixedSize[type]) || cursorFailed("the value of " + display(key), at);
    }
  }

  void inspectTemplate(const std::string& key, std::string_view tmpl, std::uint64_t at) {
    auto found = chatTemplateIndicators(tmpl);
    if (found.empty()) return;
    bool malicious =
        std::any_of(found.begin(), found.end(), [](const auto& f) { return f.malicious; });
    std::string what;
    std::uint64_t first = 0;
    bool have_first = false;
    for (const auto& f : found) {
      if (f.malicious != malicious) continue;
      if (!have_first) {
        first = f.pos;
        have_first = true;
      }
      if (!what.empty()) what += ", ";
      what += f.what;
    }
    if (malicious) {
      sink_.add(Verdict::Malicious, "gguf.chat-template.ssti",
                display(key) + ": Jinja template injection (" + what + ")", at + first);
    } else {
      sink_.add(Verdict::Suspicious, "gguf.chat-template.suspicious",
                display(key) + ": unusual Jinja constructs (" + what + ")", at + first);
    }
  }

  bool tensorInfos() {
    std::unordered_set<std::string> names;
    tensors_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(tensor_count_, 1u << 16)));
    for (std::uint64_t i = 0; i < tensor_count_; ++i) {
      TensorInfo t;
      t.info_pos = cur_.pos();
      const std::string label = "tensor info " + std::to_string(i);
      std::uint64_t len = 0;
      if (!cur_.le(len)) return cursorFailed(label, t.info_pos);
      if (len > cur_.remaining()) return cursorFailed(label + " name", t.info_pos);
      bool name_ok = true;
      if (len > kMaxTensorName) {
        sink_.invalid("gguf.tensor.name",
                      "name of " + label + " is " + std::to_string(len) + " bytes (ggml allows " +
                          std::to_string(kMaxTensorName) + ")",
                      t.info_pos);
        name_ok = false;
        if (!cur_.skip(len)) return cursorFailed(label, t.info_pos);
        t.name = "#" + std::to_string(i);
      } else if (!cur_.string(len, t.name)) {
        return cursorFailed(label, t.info_pos);
      }
      if (name_ok && !names.insert(t.name).second) {
        sink_.invalid("gguf.tensor.duplicate-name", "duplicate tensor name " + display(t.name),
                      t.info_pos);
      }
      const std::string who = "tensor " + display(t.name);

      std::uint32_t n_dims = 0;
      if (!cur_.le(n_dims)) return cursorFailed(label, t.info_pos);
      if (n_dims > kMaxDims) {
        sink_.invalid("gguf.tensor.dims",
                      who + " has " + std::to_string(n_dims) + " dimensions (max 4)", t.info_pos);
        return false;
      }
      std::array<std::uint64_t, kMaxDims> ne{1, 1, 1, 1};
      bool dims_ok = true;
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        if (!cur_.le(ne[d])) return cursorFailed(label, t.info_pos);
        if (ne[d] > static_cast<std::uint64_t>(INT64_MAX)) dims_ok = false;
      }
      if (!dims_ok)
        sink_.invalid("gguf.tensor.dims", who + " has a dimension above INT64_MAX", t.info_pos);
      bool zero = std::find(ne.begin(), ne.end(), 0u) != ne.end();
      bool count_ok = dims_ok;
      if (dims_ok && !zero) {
        std::uint64_t n = 1;
        for (auto d : ne) {
          if (n > static_cast<std::uint64_t>(INT64_MAX) / d) {
            count_ok = false;
            break;
          }
          n *= d;
        }
        if (!count_ok)
          sink_.invalid("gguf.tensor.overflow", who + " has more than INT64_MAX elements",
                        t.info_pos);
      }

      std::uint32_t type = 0;
      const std::uint64_t type_pos = cur_.pos();
      if (!cur_.le(type)) return cursorFailed(label, t.info_pos);
      GgmlType info{};
      switch (ggmlTypeInfo(type, info)) {
        case GgmlTypeStatus::Unknown:
          sink_.invalid("gguf.tensor.type", who + " has unknown ggml type " + std::to_string(type),
                        type_pos);
          break;
        case GgmlTypeStatus::Removed:
          sink_.invalid("gguf.tensor.type-removed",
                        who + " has retired ggml type " + std::string(info.name) + " (" +
                            std::to_string(type) + "), which current ggml refuses",
                        type_pos);
          break;
        case GgmlTypeStatus::Known:
          if (count_ok) {
            if (ne[0] % info.block_size != 0) {
              sink_.invalid("gguf.tensor.block",
                            who + " has " + std::to_string(ne[0]) +
                                " elements per row, not a multiple of the " +
                                std::string(info.name) + " block size " +
                                std::to_string(info.block_size),
                            type_pos);
            } else if (zero) {
              t.usable = true;  // no elements, no bytes (ggml checks nothing else then)
            } else {
              // bytes = ne0 / block x type_size x ne1 x ne2 x ne3, checked.
              std::uint64_t bytes = ne[0] / info.block_size;
              bool overflow = false;
              for (std::uint64_t f : {std::uint64_t{info.type_size}, ne[1], ne[2], ne[3]}) {
                if (f != 0 && bytes > UINT64_MAX / f) overflow = true;
                bytes *= f;
              }
              if (overflow) {
                sink_.invalid("gguf.tensor.overflow", who + " byte size overflows", t.info_pos);
              } else {
                t.nbytes = bytes;
                t.usable = true;
              }
            }
          }
          break;
      }
      const std::uint64_t offset_pos = cur_.pos();
      if (!cur_.le(t.offset)) return cursorFailed(label, t.info_pos);
      if (t.offset % alignment_ != 0) {
        t.aligned = false;
        sink_.invalid("gguf.tensor.misaligned",
                      who + " offset " + std::to_string(t.offset) +
                          " is not a multiple of the alignment " + std::to_string(alignment_),
                      offset_pos);
      }
      tensors_.push_back(std::move(t));
    }
    return true;
  }

  void layout() {
    const std::uint64_t size = cur_.size();
    const std::uint64_t infos_end = cur_.pos();
    if (tensors_.empty()) {
      if (size > alignUp(infos_end, alignment_)) {
        sink_.add(Verdict::Suspicious, "gguf.trailing-bytes",
                  std::to_string(size - infos_end) +
                      " bytes after the metadata of a file without tensors",
                  infos_end);
      }
      return;
    }
    const std::uint64_t data_start = alignUp(infos_end, alignment_);
    if (data_start > size) {
      sink_.invalid("gguf.truncated",
                    "the data section would start at " + std::to_string(data_start) +
                        ", past the end of the file",
                    infos_end);
      return;
    }
    const std::uint64_t data_size = size - data_start;
    std::uint64_t expected = 0;
    bool complete = true;
    for (const auto& t : tensors_) {
      if (!t.usable) {
        complete = false;  // size unknown: the layout after it cannot be checked
        break;
      }
      const std::string who = "tensor " + display(t.name);
      if (t.aligned && t.offset > expected) {
        sink_.invalid("gguf.tensor.gap",
                      who + " is at data offset " + std::to_string(t.offset) + ", expected " +
                          std::to_string(expected) +
                          " (only alignment padding may separate tensors)",
                      t.info_pos);
      } else if (t.aligned && t.offset < expected) {
        sink_.invalid("gguf.tensor.overlap",
                      who + " at data offset " + std::to_string(t.offset) +
                          " overlaps or precedes the previous tensor, which ends at " +
                          std::to_string(expected),
                      t.info_pos);
      }
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        sink_.invalid("gguf.tensor.out-of-file",
                      who + " (" + std::to_string(t.nbytes) + " bytes at data offset " +
                          std::to_string(t.offset) + ") extends past the end of the file",
                      t.info_pos);
        complete = false;
        break;
      }
      expected = std::max(expected, alignUp(t.offset + t.nbytes, alignment_));
    }
    if (complete && data_size > expected) {
      sink_.add(Verdict::Suspicious, "gguf.trailing-bytes",
                std::to_string(data_size - expected) + " bytes after the last tensor",
                data_start + expected);
    }
  }

  Cursor cur_;
  Sink& sink_;
  std::uint64_t tensor_count_ = 0;
  std::uint64_t kv_count_ = 0;
  std::uint32_t alignment_ = kDefaultAlignment;
  std::vector<TensorInfo> tensors_;
};

bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// `word` at `pos` with no identifier character (or '.') just before it.
bool wordStartsAt(std::string_view t, std::size_t pos) {
  return pos == 0 || (!isIdentChar(t[pos - 1]) && t[pos - 1] != '.');
}

std::size_t skipSpaces(std::string_view t, std::size_t pos) {
  while (pos < t.size() && (t[pos] == ' ' || t[pos] == '\t' || t[pos] == '\n' || t[pos] == '\r'))
    ++pos;
  return pos;
}

}  // namespace

GgmlTypeStatus ggmlTypeInfo(std::uint32_t id, GgmlType& out) {
  for (const auto& t : kGgmlTypes) {
    if (t.id == id) {
      out = t;
      return GgmlTypeStatus::Known;
    }
  }
  for (const auto& r : kRetiredTypes) {
    if (r.id == id) {
      out = GgmlType{id, r.name, 0, 0};
      return GgmlTypeStatus::Removed;
    }
  }
  static_assert(kGgmlTypeCount == 43);
  return GgmlTypeStatus::Unknown;
}

bool looksLikeGguf(ByteSource& source) {
  std::array<std::byte, 4> magic{};
  auto got = source.read(0, magic);
  return got && *got == 4 && std::memcmp(magic.data(), "GGUF", 4) == 0;
}

void validateGguf(ByteSource& source, const Limits& /*limits*/, Report& report) {
  Sink sink(report);
  GgufParser parser(source, sink);
  parser.run();
}

std::vector<TemplateIndicator> chatTemplateIndicators(std::string_view t) {
  std::vector<TemplateIndicator> out;
  auto add = [&](bool malicious, std::string_view what, std::size_t pos) {
    for (const auto& f : out) {
      if (f.what == what) return;
    }
    out.push_back(TemplateIndicator{malicious, std::string(what), pos});
  };
  // Attribute walks from any object to the interpreter.
  static constexpr std::string_view kDunders[] = {
      "__class__",
      "__globals__",
      "__init__",
      "__subclasses__",
      "__builtins__",
      "__import__",
      "__mro__",
      "__base__",
      "__bases__",
      "__getattribute__",
      "__dict__",
      "__code__",
      "__func__",
      "__self__",
      "__module__",
      "__reduce__",
      "__getitem__",
      "__call__",
      "__loader__",
      "__spec__",
      "__closure__",
      "__new__",
      "_TemplateReference__context",
  };
  for (auto d : kDunders) {
    if (auto p = t.find(d); p != std::string_view::npos) add(true, d, p);
  }
  // '_' spelled as an escape: only useful to hide a dunder from filters like this one.
  static constexpr std::string_view kEscapes[] = {
      "\\x5f", "\\x5F", "\\u005f", "\\u005F", "\\U0000005f", "\\U0000005F", "\\137"};
  for (auto e : kEscapes) {
    if (auto p = t.find(e); p != std::string_view::npos) add(true, "escaped '_'", p);
  }
  for (std::string_view w : {"popen", "subprocess"}) {
    if (auto p = t.find(w); p != std::string_view::npos) add(true, w, p);
  }
  // `os.<name>`, alone or as an attribute (`__globals__.os.popen`).
  for (std::size_t p = t.find("os"); p != std::string_view::npos; p = t.find("os", p + 1)) {
    if (p > 0 && isIdentChar(t[p - 1])) continue;
    std::size_t q = skipSpaces(t, p + 2);
    if (q < t.size() && t[q] == '.') {
      std::size_t r = skipSpaces(t, q + 1);
      if (r < t.size() && (isIdentChar(t[r]) && !(t[r] >= '0' && t[r] <= '9'))) {
        add(true, "os.", p);
        break;
      }
    }
  }
  // Jinja globals used as objects (attribute, item or filter access) instead of being called.
  for (std::string_view g : {"cycler", "joiner", "namespace", "lipsum", "self"}) {
    for (std::size_t p = t.find(g); p != std::string_view::npos; p = t.find(g, p + 1)) {
      if (!wordStartsAt(t, p)) continue;
      std::size_t end = p + g.size();
      if (end < t.size() && isIdentChar(t[end])) continue;  // a longer identifier
      std::size_t q = skipSpaces(t, end);
      if (q >= t.size()) continue;
      bool object_use = t[q] == '[' || t[q] == '|' || (t[q] == '.' && g != "self");
      if (g == "self" && t[q] == '.') {
        std::size_t r = skipSpaces(t, q + 1);
        object_use = r < t.size() && t[r] == '_';
      }
      if (object_use) {
        add(true, std::string(g) + " global used as an object", p);
        break;
      }
    }
  }
  // Weaker: the attr filter (reaches attributes by computed name) and string literals that
  // start like a dunder (assembled by concatenation).
  for (std::size_t p = t.find('|'); p != std::string_view::npos; p = t.find('|', p + 1)) {
    std::size_t q = skipSpaces(t, p + 1);
    if (t.substr(q, 4) == "attr" && (q + 4 >= t.size() || !isIdentChar(t[q + 4]))) {
      add(false, "attr filter", p);
      break;
    }
  }
  for (std::size_t p = 0; p + 3 < t.size(); ++p) {
    if ((t[p] == '\'' || t[p] == '"') && t[p + 1] == '_' && t[p + 2] == '_' &&
        ((t[p + 3] >= 'a' && t[p + 3] <= 'z') || (t[p + 3] >= 'A' && t[p + 3] <= 'Z'))) {
      add(false, "string literal starting with '__'", p);
      break;
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pos < b.pos; });
  return out;
}

}  // namespace hubgate::scan
