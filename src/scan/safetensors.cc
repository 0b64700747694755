#include "scan/safetensors.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/utf8.h"

namespace hubgate::scan {
namespace {

constexpr std::size_t kMaxFindings = 64;
// A hostile Limits value must not turn the parser's recursion into a stack overflow.
constexpr int kHardMaxDepth = 512;
constexpr std::size_t kSniffWindow = 64 * 1024;

struct DtypeInfo {
  std::string_view name;
  unsigned bits;
};

// The reference implementation's Dtype::bitsize table.
constexpr std::array<DtypeInfo, 22> kDtypes{{
    {"BOOL", 8},    {"U8", 8},          {"I8", 8},          {"F8_E4M3", 8}, {"F8_E5M2", 8},
    {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},
    {"F16", 16},    {"BF16", 16},       {"I32", 32},        {"U32", 32},    {"F32", 32},
    {"F64", 64},    {"C64", 64},        {"I64", 64},        {"U64", 64},    {"F4", 4},
    {"F6_E2M3", 6}, {"F6_E3M2", 6},
}};

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// For messages: at most 80 bytes of the name, control bytes escaped.
std::string displayName(std::string_view name) {
  std::string out;
  std::size_t i = 0;
  for (; i < name.size() && out.size() < 80; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (i < name.size()) {
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return "'" + out + "'";
}

bool hasControlChars(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return true;
    // C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8.
    if (c == 0xC2 && i + 1 < s.size()) {
      auto d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9F) return true;
    }
  }
  return false;
}

// Findings are capped (a hostile header can describe endless problems).
class Sink : public FindingSink {
 public:
  explicit Sink(Report& report) : FindingSink(report, "safetensors", kMaxFindings) {}
};

// A strict RFC 8259 reader over the header text. Values are consumed as they are parsed; the
// caller decides what to keep. The first syntax (or depth) error stops it: `ok()` turns false,
// and every later call returns false.
class JsonReader {
 public:
  JsonReader(std::string_view text, int max_depth) : t_(text), max_depth_(max_depth) {}

  bool ok() const { return error_rule_.empty(); }
  const std::string& errorRule() const { return error_rule_; }
  const std::string& errorMessage() const { return error_message_; }
  std::size_t errorPos() const { return error_pos_; }
  std::size_t pos() const { return pos_; }
  bool atEnd() {
    ws();
    return pos_ == t_.size();
  }

  void ws() {
    while (pos_ < t_.size() && isJsonSpace(t_[pos_])) ++pos_;
  }
  // Next non-whitespace character, or '\0' at the end.
  char peek() {
    ws();
    return pos_ < t_.size() ? t_[pos_] : '\0';
  }

  bool fail(std::string_view what) {
    return failAt("safetensors.header.json", std::string(what), pos_);
  }
  bool failAt(std::string rule, std::string message, std::size_t at) {
    if (ok()) {
      error_rule_ = std::move(rule);
      error_message_ = std::move(message);
      error_pos_ = at;
    }
    return false;
  }

  // Reads a string at the cursor. `out` views the raw text when the string has no escapes,
  // else `scratch` (which holds the decoded bytes).
  bool string(std::string_view& out, std::string& scratch) {
    if (!ok()) return false;
    if (peek() != '"') return fail("expected a string");
    std::size_t start = ++pos_;
    bool escaped = false;
    scratch.clear();
    while (true) {
      if (pos_ >= t_.size()) return fail("unterminated string");
      auto c = static_cast<unsigned char>(t_[pos_]);
      if (c == '"') break;
      if (c < 0x20) return fail("control character in a string");
      if (c != '\\') {
        if (escaped) scratch.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      if (!escaped) {
        escaped = true;
        scratch.assign(t_.substr(start, pos_ - start));
      }
      if (++pos_ >= t_.size()) return fail("unterminated escape");
      char e = t_[pos_++];
      switch (e) {
        case '"':
          scratch.push_back('"');
          break;
        case '\\':
          scratch.push_back('\\');
          break;
        case '/':
          scratch.push_back('/');
          break;
        case 'b':
          scratch.push_back('\b');
          break;
        case 'f':
          scratch.push_back('\f');
          break;
        case 'n':
          scratch.push_back('\n');
          break;
        case 'r':
          scratch.push_back('\r');
          break;
        case 't':
          scratch.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 2 > t_.size() || t_[pos_] != '\\' || t_[pos_ + 1] != 'u') {
              return fail("lone high surrogate in \\u escape");
            }
            pos_ += 2;
            std::uint32_t lo = 0;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("invalid surrogate pair in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          appendUtf8(scratch, cp);
          break;
        }
        default:
          --pos_;
          return fail("invalid escape sequence");
      }
    }
    out = escaped ? std::string_view(scratch) : t_.substr(start, pos_ - start);
    ++pos_;  // closing quote
    return true;
  }

  // Reads a number. `value` is set when it is a non-negative integer (no sign, fraction or
  // exponent) that fits in 64 bits; otherwise it is left empty (the number is still valid JSON).
  bool number(std::optional<std::uint64_t>& value) {
    if (!ok()) return false;
    value.reset();
    ws();
    bool integral = true;
    if (pos_ < t_.size() && t_[pos_] == '-') {
      integral = false;
      ++pos_;
    }
    if (pos_ >= t_.size() || !isDigit(t_[pos_])) return fail("invalid number");
    std::uint64_t v = 0;
    bool overflow = false;
    if (t_[pos_] == '0') {
      ++pos_;
      if (pos_ < t_.size() && isDigit(t_[pos_])) return fail("leading zero in a number");
    } else {
      while (pos_ < t_.size() && isDigit(t_[pos_])) {
        auto d = static_cast<std::uint64_t>(t_[pos_] - '0');
        if (v > (UINT64_MAX - d) / 10) overflow = true;
        v = v * 10 + d;
        ++pos_;
      }
    }
    if (pos_ < t_.size() && t_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= t_.size() || !isDigit(t_[pos_])) return fail("invalid fraction");
      while (pos_ < t_.size() && isDigit(t_[pos_])) ++pos_;
    }
    if (pos_ < t_.size() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-')) ++pos_;
      if (pos_ >= t_.size() || !isDigit(t_[pos_])) return fail("invalid exponent");
      while (pos_ < t_.size() && isDigit(t_[pos_])) ++pos_;
    }
    if (integral && !overflow) value = v;
    return true;
  }

  // Iterates an object at the cursor; `member(key, key_pos)` must consume the value (nested at
  // depth + 1). Duplicate keys are reported through `duplicate(key, key_pos)`, and parsing goes
  // on. `depth` is the depth of this object (the header object is 1).
  template <class Member, class Duplicate>
  bool object(int depth, Member&& member, Duplicate&& duplicate) {
    if (!ok()) return false;
    if (peek() != '{') return fail("expected an object");
    if (depth > max_depth_) {
      return failAt("safetensors.header.depth",
                    "JSON nesting deeper than " + std::to_string(max_depth_), pos_);
    }
    ++pos_;
    // Keys without escapes are views into the text; decoded ones live in `decoded`.
    std::unordered_set<std::string_view> seen;
    std::deque<std::string> decoded;
    std::string scratch;
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      std::size_t key_pos = (ws(), pos_);
      std::string_view key;
      if (!string(key, scratch)) return false;
      if (key.data() == scratch.data()) key = decoded.emplace_back(scratch);
      if (!seen.insert(key).second) duplicate(key, key_pos);
      if (peek() != ':') return fail("expected ':' after an object key");
      ++pos_;
      ws();
      if (!member(key, key_pos)) return false;
      char c = peek();
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '}') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or '}' in an object");
    }
  }

  // Iterates an array at the cursor; `element(index)` must consume the value.
  template <class Element>
  bool array(int depth, Element&& element) {
    if (!ok()) return false;
    if (peek() != '[') return fail("expected an array");
    if (depth > max_depth_) {
      return failAt("safetensors.header.depth",
                    "JSON nesting deeper than " + std::to_string(max_depth_), pos_);
    }
    ++pos_;
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    for (std::size_t i = 0;; ++i) {
      ws();
      if (!element(i)) return false;
      char c = peek();
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == ']') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or ']' in an array");
    }
  }

  // Consumes any value; duplicate keys anywhere inside are reported.
  template <class Duplicate>
  bool skipValue(int depth, Duplicate&& duplicate) {
    if (!ok()) return false;
    switch (peek()) {
      case '{':
        return object(
            depth, [&](std::string_view, std::size_t) { return skipValue(depth + 1, duplicate); },
            duplicate);
      case '[':
        return array(depth, [&](std::size_t) { return skipValue(depth + 1, duplicate); });
      case '"': {
        std::string_view s;
        std::string scratch;
        return string(s, scratch);
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default: {
        char c = peek();
        if (c == '-' || isDigit(c)) {
          std::optional<std::uint64_t> v;
          return number(v);
        }
        return fail(c == '\0' ? "unexpected end of header" : "unexpected character");
      }
    }
  }

 private:
  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  bool literal(std::string_view word) {
    if (t_.substr(pos_, word.size()) != word) return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool hex4(std::uint32_t& out) {
    if (t_.size() - pos_ < 4) return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = t_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return fail("invalid hex digit in \\u escape");
      }
    }
    return true;
  }

  static void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view t_;
  std::size_t pos_ = 0;
  int max_depth_;
  std::string error_rule_;
  std::string error_message_;
  std::size_t error_pos_ = 0;
};

struct TensorSpan {
  std::uint64_t begin;
  std::uint64_t end;
  std::size_t key_pos;  // header position of the tensor's key (for messages)
};

// Validates one header; semantic findings go to `sink` as they are found, syntax errors stop
// the parse (and are returned through the reader).
class HeaderValidator {
 public:
  HeaderValidator(std::string_view header, int max_depth, Sink& sink)
      : header_(header), json_(header, max_depth), sink_(sink) {}

  // False on a syntax/depth error (reported by the caller from reader()).
  bool run() {
    if (json_.peek() != '{') {
      // Valid JSON of another type is "not an object"; anything else a syntax error.
      if (!json_.skipValue(1, [](std::string_view, std::size_t) {})) return false;
      if (!json_.atEnd()) return json_.fail("non-whitespace bytes after the header value");
      sink_.invalid("safetensors.header.not-object", "the header is not a JSON object", 8);
      return true;
    }
    bool parsed = json_.object(
        1,
        [&](std::string_view key, std::size_t key_pos) {
          if (key == "__metadata__") return metadata(key_pos);
          return tensor(key, key_pos);
        },
        [&](std::string_view key, std::size_t key_pos) { duplicate(key, key_pos); });
    if (!parsed) return false;
    if (!json_.atEnd()) return json_.fail("non-whitespace bytes after the header object");
    return true;
  }

  const JsonReader& reader() const { return json_; }
  std::vector<TensorSpan>& spans() { return spans_; }
  std::string nameAt(std::size_t key_pos) const {
    JsonReader r(header_.substr(key_pos), 1);
    std::string_view name;
    std::string scratch;
    if (!r.string(name, scratch)) return "'?'";
    return displayName(name);
  }

 private:
  static std::uint64_t fileOffset(std::size_t header_pos) { return 8 + header_pos; }

  void duplicate(std::string_view key, std::size_t key_pos) {
    sink_.invalid("safetensors.duplicate-key",
                  "duplicate key " + displayName(key) + " in the header", fileOffset(key_pos));
  }
  auto duplicateFn() {
    return [this](std::string_view key, std::size_t key_pos) { duplicate(key, key_pos); };
  }

  bool metadata(std::size_t key_pos) {
    if (json_.peek() != '{') {
      sink_.invalid("safetensors.metadata.invalid", "__metadata__ is not an object",
                    fileOffset(key_pos));
      return json_.skipValue(2, duplicateFn());
    }
    return json_.object(
        2,
        [&](std::string_view key, std::size_t pos) {
          if (json_.peek() != '"') {
            sink_.invalid("safetensors.metadata.invalid",
                          "__metadata__ value of " + displayName(key) + " is not a string",
                          fileOffset(pos));
          }
          return json_.skipValue(3, duplicateFn());
        },
        duplicateFn());
  }

  bool tensor(std::string_view name_view, std::size_t key_pos) {
    const std::uint64_t at = fileOffset(key_pos);
    if (hasControlChars(name_view)) {
      sink_.add(Verdict::Suspicious, "safetensors.tensor.name",
                "tensor name " + displayName(name_view) + " contains control characters", at);
    }
    if (json_.peek() != '{') {
      sink_.invalid("safetensors.tensor.invalid",
                    "tensor " + displayName(name_view) + " is not an object", at);
      return json_.skipValue(2, duplicateFn());
    }
    // name_view may point into the reader's scratch, which the nested parse reuses.
    const std::string name(name_view);
    bool have_dtype = false, have_shape = false, have_offsets = false;
    bool dtype_ok = false, shape_ok = true, shape_overflow = false, offsets_ok = true;
    bool unknown_field_reported = false;
    unsigned bits = 0;
    std::uint64_t elements = 1;
    std::size_t offsets_count = 0;
    std::array<std::uint64_t, 2> offsets{0, 0};

    bool parsed = json_.object(
        2,
        [&](std::string_view field, std::size_t field_pos) {
          if (field == "dtype") {
            have_dtype = true;
            if (json_.peek() != '"') {
              sink_.invalid("safetensors.dtype.unknown",
                            "dtype of tensor " + displayName(name) + " is not a string",
                            fileOffset(field_pos));
              return json_.skipValue(3, duplicateFn());
            }
            std::string_view dtype;
            std::string scratch;
            if (!json_.string(dtype, scratch)) return false;
            if (auto b = safetensorsDtypeBits(dtype)) {
              dtype_ok = true;
              bits = *b;
            } else {
              sink_.invalid(
                  "safetensors.dtype.unknown",
                  "unknown dtype " + displayName(dtype) + " of tensor " + displayName(name),
                  fileOffset(field_pos));
            }
            return true;
          }
          if (field == "shape") {
            have_shape = true;
            if (json_.peek() != '[') {
              shape_ok = false;
              return json_.skipValue(3, duplicateFn());
            }
            elements = 1;
            return json_.array(3, [&](std::size_t) {
              char c = json_.peek();
              if (c != '-' && (c < '0' || c > '9')) {
                shape_ok = false;
                return json_.skipValue(4, duplicateFn());
              }
              std::optional<std::uint64_t> dim;
              if (!json_.number(dim)) return false;
              if (!dim) {
                shape_ok = false;
              } else if (!shape_overflow) {
                // Left fold with checked multiplication, as the reference does.
                if (*dim != 0 && elements > UINT64_MAX / *dim) {
                  shape_overflow = true;
                } else {
                  elements *= *dim;
                }
              }
              return true;
            });
          }
          if (field == "data_offsets") {
            have_offsets = true;
            if (json_.peek() != '[') {
              offsets_ok = false;
              return json_.skipValue(3, duplicateFn());
            }
            return json_.array(3, [&](std::size_t i) {
              ++offsets_count;
              char c = json_.peek();
              if (c != '-' && (c < '0' || c > '9')) {
                offsets_ok = false;
                return json_.skipValue(4, duplicateFn());
              }
              std::optional<std::uint64_t> v;
              if (!json_.number(v)) return false;
              if (!v) {
                offsets_ok = false;
              } else if (i < 2) {
                offsets[i] = *v;
              }
              return true;
            });
          }
          if (!unknown_field_reported) {
            unknown_field_reported = true;
            sink_.add(Verdict::Suspicious, "safetensors.tensor.unknown-field",
                      "tensor " + displayName(name) + " has an unknown field " + displayName(field),
                      fileOffset(field_pos));
          }
          return json_.skipValue(3, duplicateFn());
        },
        duplicateFn());
    if (!parsed) return false;

    if (!have_dtype || !have_shape || !have_offsets) {
      std::string missing;
      if (!have_dtype) missing += " dtype";
      if (!have_shape) missing += " shape";
      if (!have_offsets) missing += " data_offsets";
      sink_.invalid("safetensors.tensor.invalid",
                    "tensor " + displayName(name) + " lacks" + missing, at);
    }
    if (have_shape && !shape_ok) {
      sink_.invalid(
          "safetensors.shape.invalid",
          "shape of tensor " + displayName(name) + " is not an array of non-negative integers", at);
    }
    if (have_offsets && (!offsets_ok || offsets_count != 2)) {
      sink_.invalid(
          "safetensors.offsets.invalid",
          "data_offsets of tensor " + displayName(name) + " are not two non-negative integers", at);
      return true;
    }
    if (!have_offsets) return true;
    if (offsets[0] > offsets[1]) {
      sink_.invalid("safetensors.offsets.invalid",
                    "tensor " + displayName(name) + " begins at " + std::to_string(offsets[0]) +
                        " after its end " + std::to_string(offsets[1]),
                    at);
      return true;
    }
    spans_.push_back(TensorSpan{offsets[0], offsets[1], key_pos});
    if (!have_shape || !shape_ok || !dtype_ok) return true;
    if (shape_overflow || elements > UINT64_MAX / bits) {
      sink_.invalid("safetensors.shape.overflow",
                    "element count of tensor " + displayName(name) + " overflows", at);
      return true;
    }
    std::uint64_t nbits = elements * bits;
    std::uint64_t size = offsets[1] - offsets[0];
    if (nbits % 8 != 0) {
      sink_.invalid("safetensors.size-mismatch",
                    "tensor " + displayName(name) + " has " + std::to_string(elements) +
                        " elements of " + std::to_string(bits) +
                        " bits: not a whole number of bytes",
                    at);
    } else if (nbits / 8 != size) {
      sink_.invalid("safetensors.size-mismatch",
                    "tensor " + displayName(name) + " needs " + std::to_string(nbits / 8) +
                        " bytes but data_offsets span " + std::to_string(size),
                    at);
    }
    return true;
  }

  std::string_view header_;
  JsonReader json_;
  Sink& sink_;
  std::vector<TensorSpan> spans_;
};

Result<std::uint64_t> readLength(ByteSource& source) {
  std::array<std::byte, 8> buf{};
  auto got = source.read(0, buf);
  if (!got) return std::unexpected(got.error());
  if (*got != 8) return fail(ErrorCode::Corruption, "short read");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<std::uint64_t>(buf[static_cast<std::size_t>(i)]);
  return n;
}

}  // namespace

std::optional<unsigned> safetensorsDtypeBits(std::string_view dtype) {
  for (const auto& d : kDtypes) {
    if (d.name == dtype) return d.bits;
  }
  return std::nullopt;
}

bool looksLikeSafetensors(ByteSource& source) {
  const std::uint64_t size = source.size();
  if (size < 8) return false;
  auto n = readLength(source);
  if (!n || *n > kSafetensorsMaxHeader || *n > size - 8) return false;
  std::uint64_t window = std::min<std::uint64_t>(*n, kSniffWindow);
  auto head = source.readString(8, static_cast<std::size_t>(window));
  if (!head) return false;
  for (char c : *head) {
    if (isJsonSpace(c)) continue;
    return c == '{';
  }
  return false;
}

void validateSafetensors(ByteSource& source, const Limits& limits, Report& report) {
  Sink sink(report);
  const std::uint64_t size = source.size();
  if (size < 8) {
    sink.invalid("safetensors.too-small",
                 "file has " + std::to_string(size) + " bytes, fewer than the 8-byte header length",
                 0);
    return;
  }
  auto n_or = readLength(source);
  if (!n_or) {
    sink.add(Verdict::Error, "safetensors.io",
             "cannot read the header length: " + n_or.error().context, 0);
    return;
  }
  const std::uint64_t n = *n_or;
  if (n > kSafetensorsMaxHeader) {
    sink.invalid(
        "safetensors.header.too-large",
        "header length " + std::to_string(n) + " exceeds " + std::to_string(kSafetensorsMaxHeader),
        0);
    return;
  }
  if (n > size - 8) {
    sink.invalid("safetensors.header.truncated",
                 "header length " + std::to_string(n) + " exceeds the " + std::to_string(size - 8) +
                     " bytes after the length",
                 0);
    return;
  }
  auto header = source.readString(8, static_cast<std::size_t>(n));
  if (!header) {
    sink.add(Verdict::Error, "safetensors.io", "cannot read the header: " + header.error().context,
             8);
    return;
  }
  if (!isValidUtf8(*header)) {
    sink.invalid("safetensors.header.utf8", "the header is not valid UTF-8", 8);
    return;
  }
  const int depth = std::clamp(limits.max_json_depth, 1, kHardMaxDepth);
  HeaderValidator validator(*header, depth, sink);
  if (!validator.run()) {
    const auto& r = validator.reader();
    sink.invalid(r.ok() ? "safetensors.header.json" : r.errorRule(),
                 (r.ok() ? std::string("invalid header") : r.errorMessage()) + " at header byte " +
                     std::to_string(r.errorPos()),
                 8 + r.errorPos());
    return;
  }

  // The tensors must tile [0, size - 8 - n) exactly.
  const std::uint64_t data_size = size - 8 - n;
  const std::uint64_t data_start = 8 + n;
  auto& spans = validator.spans();
  std::sort(spans.begin(), spans.end(), [](const TensorSpan& a, const TensorSpan& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  const TensorSpan* previous = nullptr;
  for (const auto& s : spans) {
    if (s.begin > expected) {
      sink.invalid("safetensors.offsets.gap",
                   previous ? "gap of " + std::to_string(s.begin - expected) +
                                  " bytes before tensor " + validator.nameAt(s.key_pos) +
                                  " (after " + validator.nameAt(previous->key_pos) + ")"
                            : "first tensor " + validator.nameAt(s.key_pos) + " begins at " +
                                  std::to_string(s.begin) + ", not 0",
                   data_start + std::min(expected, data_size));
    } else if (s.begin < expected) {
      sink.invalid("safetensors.offsets.overlap",
                   "tensor " + validator.nameAt(s.key_pos) + " overlaps " +
                       (previous ? validator.nameAt(previous->key_pos) : std::string("'?'")),
                   data_start + std::min(s.begin, data_size));
    }
    expected = std::max(expected, s.end);
    previous = &s;
  }
  if (expected > data_size) {
    sink.invalid("safetensors.truncated",
                 "tensors end at data offset " + std::to_string(expected) +
                     " but the data buffer has " + std::to_string(data_size) + " bytes",
                 size);
  } else if (expected < data_size) {
    sink.invalid("safetensors.trailing-bytes",
                 std::to_string(data_size - expected) + " bytes after the last tensor",
                 data_start + expected);
  }
}

}  // namespace hubgate::scan
