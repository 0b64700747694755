// The pickle walker: a symbolic pickle VM (scanning.md §3). See pickle.h for the contract.
//
// Layout of this file: a buffered reader over ByteSource, streaming decoders for the text
// arguments (escapes, UTF-8, decimal lines), the symbolic values, then the Walker (one opcode
// per case, mirroring CPython's C unpickler _pickle.c, stricter where noted).
#include "scan/pickle.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scan/pickle_names.h"

namespace hubgate::scan {
namespace {

constexpr std::size_t kBufferSize = 256 * 1024;
constexpr std::size_t kKeepText = 1024;  // bytes of a str/bytes constant kept for analysis
constexpr std::size_t kKeepItems = 8;    // tuple elements kept
constexpr int kMaxSummaryDepth = 3;      // nodes deeper than this are kept as summaries
constexpr std::uint64_t kNodeBudget = 256ull << 20;  // bytes of live symbolic values
constexpr std::size_t kMaxFindings = 256;            // per walk; the rest are summarised
constexpr std::size_t kMaxOutcomeEntries = 1u << 20;
constexpr int kSniffOpcodes = 64;

// ---------------------------------------------------------------------------------------------
// Buffered reader: sequential reads over a ByteSource, never more than kBufferSize in memory.

class Reader {
 public:
  Reader(ByteSource& src, std::uint64_t begin) : src_(src), size_(src.size()), base_(begin) {
    if (base_ > size_) base_ = size_;
  }

  std::uint64_t pos() const { return base_ + idx_; }
  std::uint64_t remaining() const { return size_ - pos(); }
  bool atEnd() const { return pos() >= size_; }
  bool ioError() const { return io_error_; }
  const std::string& ioMessage() const { return io_message_; }

  // False at the end of data or on an I/O error.
  bool byte(std::uint8_t& out) {
    if (idx_ == len_ && !fill()) return false;
    out = buf_[idx_++];
    return true;
  }

  // Exactly n bytes into `out`.
  bool bytes(std::uint8_t* out, std::size_t n) {
    while (n > 0) {
      if (idx_ == len_ && !fill()) return false;
      std::size_t k = std::min(n, len_ - idx_);
      std::memcpy(out, buf_.data() + idx_, k);
      idx_ += k;
      out += k;
      n -= k;
    }
    return true;
  }

  // Skips n bytes without reading them. REQUIRES: n <= remaining().
  void skip(std::uint64_t n) {
    if (n <= len_ - idx_) {
      idx_ += static_cast<std::size_t>(n);
      return;
    }
    base_ = pos() + n;
    idx_ = len_ = 0;
  }

  // Feeds the next n bytes to f(const uint8_t*, size_t) chunk by chunk. REQUIRES: n <= remaining().
  template <class F>
  bool consume(std::uint64_t n, F&& f) {
    while (n > 0) {
      if (idx_ == len_ && !fill()) return false;
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, len_ - idx_));
      f(buf_.data() + idx_, k);
      idx_ += k;
      n -= k;
    }
    return true;
  }

  // Feeds the bytes of a line (without its '\n') to f chunk by chunk and consumes the '\n'.
  // False when the data ends before a '\n' (or on an I/O error).
  template <class F>
  bool line(F&& f) {
    for (;;) {
      if (idx_ == len_ && !fill()) return false;
      const std::uint8_t* start = buf_.data() + idx_;
      const void* nl = std::memchr(start, '\n', len_ - idx_);
      if (nl) {
        std::size_t k = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - start);
        if (k) f(start, k);
        idx_ += k + 1;
        return true;
      }
      f(start, len_ - idx_);
      idx_ = len_;
    }
  }

 private:
  bool fill() {
    base_ += idx_;
    idx_ = len_ = 0;
    if (io_error_ || base_ >= size_) return false;
    // Small streams (nested pickles, sniffing) get a buffer of their size.
    if (buf_.empty()) buf_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kBufferSize, size_ - base_)));
    std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), size_ - base_));
    auto got = src_.read(base_, std::as_writable_bytes(std::span(buf_.data(), want)));
    if (!got || *got == 0) {
      io_error_ = true;
      io_message_ = got ? "source ended before its size" : got.error().context;
      return false;
    }
    len_ = *got;
    return true;
  }

  ByteSource& src_;
  std::uint64_t size_;
  std::uint64_t base_;  // source offset of buf_[0]
  std::vector<std::uint8_t> buf_;
  std::size_t idx_ = 0;
  std::size_t len_ = 0;
  bool io_error_ = false;
  std::string io_message_;
};

// ---------------------------------------------------------------------------------------------
// Streaming decoders. Each is fed the bytes of one argument and reports validity at finish().

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Collects the first kKeepText bytes of a decoded value and its full length.
struct Kept {
  std::string text;
  std::uint64_t size = 0;
  bool truncated() const { return size > text.size(); }
  void put(char c) {
    if (text.size() < kKeepText) text += c;
    ++size;
  }
  void put(const std::uint8_t* p, std::size_t n) {
    std::size_t room = kKeepText - std::min(kKeepText, text.size());
    text.append(reinterpret_cast<const char*>(p), std::min(room, n));
    size += n;
  }
  void putCodePoint(std::uint32_t cp) {
    std::string tmp;
    appendUtf8(tmp, cp);
    for (char c : tmp) put(c);
  }
};

// UTF-8 validation, strict or with surrogatepass (lone surrogates U+D800..DFFF accepted).
class Utf8Check {
 public:
  explicit Utf8Check(bool surrogatepass) : surrogatepass_(surrogatepass) {}
  void feed(const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n && ok_; ++i) step(p[i]);
  }
  bool finish() const { return ok_ && need_ == 0; }

 private:
  void step(std::uint8_t c) {
    if (need_ == 0) {
      if (c < 0x80) return;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need_ = 2;
        if (c == 0xE0) lo_ = 0xA0;
        if (c == 0xED && !surrogatepass_) hi_ = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        need_ = 3;
        if (c == 0xF0) lo_ = 0x90;
        if (c == 0xF4) hi_ = 0x8F;
      } else {
        ok_ = false;
      }
      return;
    }
    if (c < lo_ || c > hi_) {
      ok_ = false;
      return;
    }
    lo_ = 0x80;
    hi_ = 0xBF;
    --need_;
  }

  bool surrogatepass_;
  bool ok_ = true;
  int need_ = 0;
  std::uint8_t lo_ = 0x80, hi_ = 0xBF;
};

// PyBytes_DecodeEscape, as used by the STRING opcode on the text between the quotes.
class EscapeDecoder {
 public:
  explicit EscapeDecoder(Kept& out) : out_(out) {}
  void feed(std::uint8_t c) {
    if (!ok_) return;
    switch (state_) {
      case State::Normal:
        if (c == '\\') {
          state_ = State::Esc;
        } else {
          out_.put(static_cast<char>(c));
        }
        return;
      case State::Esc:
        state_ = State::Normal;
        switch (c) {
          case '\n':
            return;
          case '\\':
            out_.put('\\');
            return;
          case '\'':
            out_.put('\'');
            return;
          case '"':
            out_.put('"');
            return;
          case 'b':
            out_.put('\b');
            return;
          case 'f':
            out_.put('\f');
            return;
          case 't':
            out_.put('\t');
            return;
          case 'n':
            out_.put('\n');
            return;
          case 'r':
            out_.put('\r');
            return;
          case 'v':
            out_.put('\v');
            return;
          case 'a':
            out_.put('\a');
            return;
          case 'x':
            state_ = State::Hex;
            digits_ = 0;
            value_ = 0;
            return;
          default:
            if (c >= '0' && c <= '7') {
              state_ = State::Oct;
              digits_ = 1;
              value_ = c - '0';
              return;
            }
            out_.put('\\');
            out_.put(static_cast<char>(c));
            return;
        }
      case State::Oct:
        if (c >= '0' && c <= '7' && digits_ < 3) {
          value_ = value_ * 8 + (c - '0');
          ++digits_;
          return;
        }
        out_.put(static_cast<char>(value_ & 0xFF));
        state_ = State::Normal;
        feed(c);
        return;
      case State::Hex: {
        int h = hexValue(c);
        if (h < 0) {
          ok_ = false;
          return;
        }
        value_ = value_ * 16 + static_cast<unsigned>(h);
        if (++digits_ == 2) {
          out_.put(static_cast<char>(value_));
          state_ = State::Normal;
        }
        return;
      }
    }
  }
  bool finish() {
    if (state_ == State::Oct) {
      out_.put(static_cast<char>(value_ & 0xFF));
      state_ = State::Normal;
    }
    return ok_ && state_ == State::Normal;
  }
  static int hexValue(std::uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

 private:
  enum class State { Normal, Esc, Oct, Hex };
  Kept& out_;
  State state_ = State::Normal;
  bool ok_ = true;
  int digits_ = 0;
  unsigned value_ = 0;
};

// raw-unicode-escape (UNICODE opcode): only \uXXXX and \UXXXXXXXX are escapes; other bytes are
// Latin-1 code points. Output is UTF-8.
class RawUnicodeEscapeDecoder {
 public:
  explicit RawUnicodeEscapeDecoder(Kept& out) : out_(out) {}
  void feed(std::uint8_t c) {
    if (!ok_) return;
    switch (state_) {
      case State::Normal:
        if (c == '\\') {
          state_ = State::Esc;
        } else {
          out_.putCodePoint(c);
        }
        return;
      case State::Esc:
        if (c == 'u' || c == 'U') {
          state_ = State::Hex;
          need_ = c == 'u' ? 4 : 8;
          value_ = 0;
        } else {
          out_.put('\\');
          out_.putCodePoint(c);
          state_ = State::Normal;
        }
        return;
      case State::Hex: {
        int h = EscapeDecoder::hexValue(c);
        if (h < 0) {
          ok_ = false;
          return;
        }
        value_ = value_ * 16 + static_cast<std::uint64_t>(h);
        if (--need_ == 0) {
          if (value_ > 0x10FFFF) {
            ok_ = false;
            return;
          }
          out_.putCodePoint(static_cast<std::uint32_t>(value_));
          state_ = State::Normal;
        }
        return;
      }
    }
  }
  bool finish() {
    if (state_ == State::Esc) {
      out_.put('\\');
      state_ = State::Normal;
    }
    return ok_ && state_ == State::Normal;
  }

 private:
  enum class State { Normal, Esc, Hex };
  Kept& out_;
  State state_ = State::Normal;
  bool ok_ = true;
  int need_ = 0;
  std::uint64_t value_ = 0;
};

// Python int literal syntax as PyLong_FromString(s, NULL, base) and strtol(s, NULL, 0) accept
// it: [ws][sign](digits | 0x.. | 0o.. | 0b..) with single '_' between digits, [ws]. A superset
// for bases we do not model exactly is fine: rejecting is what matters for "invalid".
// Accumulates the value (saturating) for base 10.
//
// _pickle.c hands these lines to C-string parsers, so a NUL ends the number and whatever follows
// it on the line is ignored ("I12\0junk\n" is 12; INT's strtol even reads "\0..." as 0).
// Missing that would let a crafted line stop the scan where the loader keeps going.
class IntLineCheck {
 public:
  // strtol_semantics: INT's parser, for which an empty number before a NUL is 0.
  explicit IntLineCheck(bool any_base, bool allow_trailing_l, bool strtol_semantics = false)
      : any_base_(any_base), allow_l_(allow_trailing_l), strtol_(strtol_semantics) {}
  void feed(const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n && ok_; ++i) step(p[i]);
    len_ += n;
  }
  bool finish() const {
    if (ok_ && state_ == State::Done) return true;
    return ok_ && digits_ > 0 && !last_underscore_ &&
           (state_ == State::Zero || state_ == State::Digits || state_ == State::Trail ||
            state_ == State::AfterL);
  }
  bool negative() const { return negative_; }
  bool overflow() const { return overflow_; }
  std::uint64_t value() const { return value_; }
  std::uint64_t length() const { return len_; }

 private:
  enum class State { Lead, Sign, Zero, Prefix, Digits, Trail, AfterL, Done };
  static bool space(std::uint8_t c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
  }
  bool digitOk(std::uint8_t c) const {
    switch (base_) {
      case 16:
        return EscapeDecoder::hexValue(c) >= 0;
      case 8:
        return c >= '0' && c <= '7';
      case 2:
        return c == '0' || c == '1';
      default:
        return c >= '0' && c <= '9';
    }
  }
  void digit(std::uint8_t c) {
    ++digits_;
    last_underscore_ = false;
    if (base_ == 10) {
      std::uint64_t d = c - '0';
      if (value_ > (UINT64_MAX - d) / 10) {
        overflow_ = true;
      } else {
        value_ = value_ * 10 + d;
      }
    } else {
      overflow_ = true;  // value not tracked for other bases
    }
  }
  void step(std::uint8_t c) {
    if (state_ == State::Done) return;
    if (c == 0) {  // end of the C string
      bool complete = digits_ > 0 && !last_underscore_ &&
                      (state_ == State::Zero || state_ == State::Digits || state_ == State::Trail);
      if (complete || (strtol_ && seen_ == 0)) {
        state_ = State::Done;
      } else {
        ok_ = false;
      }
      return;
    }
    ++seen_;
    switch (state_) {
      case State::Done:
        return;
      case State::Lead:
        if (space(c)) return;
        [[fallthrough]];
      case State::Sign:
        if (state_ == State::Lead && (c == '+' || c == '-')) {
          negative_ = c == '-';
          state_ = State::Sign;
          return;
        }
        if (c == '0') {
          digit(c);
          state_ = any_base_ ? State::Zero : State::Digits;
          return;
        }
        if (c >= '1' && c <= '9') {
          digit(c);
          state_ = State::Digits;
          return;
        }
        ok_ = false;
        return;
      case State::Zero:
        if (c == 'x' || c == 'X' || c == 'o' || c == 'O' || c == 'b' || c == 'B') {
          base_ = (c == 'x' || c == 'X') ? 16 : (c == 'o' || c == 'O') ? 8 : 2;
          digits_ = 0;
          state_ = State::Prefix;
          return;
        }
        state_ = State::Digits;
        step(c);
        return;
      case State::Prefix:
        if (c == '_' && digits_ == 0 && !last_underscore_) {
          last_underscore_ = true;
          return;
        }
        if (digitOk(c)) {
          digit(c);
          state_ = State::Digits;
          return;
        }
        ok_ = false;
        return;
      case State::Digits:
        if (digitOk(c)) {
          digit(c);
          return;
        }
        if (c == '_' && !last_underscore_) {
          last_underscore_ = true;
          return;
        }
        if (last_underscore_) {
          ok_ = false;
          return;
        }
        if (allow_l_ && c == 'L') {
          state_ = State::AfterL;
          return;
        }
        if (space(c)) {
          state_ = State::Trail;
          return;
        }
        ok_ = false;
        return;
      case State::Trail:
        if (space(c)) return;
        if (allow_l_ && c == 'L') {
          state_ = State::AfterL;
          return;
        }
        ok_ = false;
        return;
      case State::AfterL:
        ok_ = false;  // 'L' must be the last character
        return;
    }
  }

  bool any_base_;
  bool allow_l_;
  bool strtol_;
  std::uint64_t seen_ = 0;
  State state_ = State::Lead;
  bool ok_ = true;
  bool negative_ = false;
  bool overflow_ = false;
  bool last_underscore_ = false;
  int base_ = 10;
  std::uint64_t digits_ = 0;
  std::uint64_t value_ = 0;
  std::uint64_t len_ = 0;
};

// PyOS_string_to_double: [sign](digits[.digits]|.digits)[(e|E)[sign]digits] | [sign](inf|
// infinity|nan), no surrounding whitespace.
bool validFloatText(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::string lower;
  for (std::size_t k = i; k < s.size(); ++k)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(s[k])));
  if (lower == "inf" || lower == "infinity" || lower == "nan") return true;
  std::size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

bool isAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// ---------------------------------------------------------------------------------------------
// Symbolic values.
//
// A Value is 32 bytes: kind, a flag, the offset of the opcode that produced it (provenance; for
// dicts also their identity), a number (int value or element count) and an optional node.
// Nodes are intrusively reference-counted (a walk is single-threaded) and come in two shapes:
// StrNode for str/bytes constants, ObjNode for everything else. What a value keeps is bounded:
// strings to kKeepText bytes, tuples to kKeepItems elements, and nested nodes to
// kMaxSummaryDepth levels (deeper ones are kept as kind + count only), so destroying a value
// never recurses deeply and nodes never form cycles (every node is immutable once built, except
// a numpy.dtype call's size details, which hold no references). Dict contents are not kept in
// nodes: the few entries the walker reads live in a side table keyed by the dict's identity.
// Live node bytes are accounted against a budget that fails closed. MARK is not a value: marks
// live on their own stack of stack positions, as in _pickle.c (the metastack of pickle.py).

enum class Kind : std::uint8_t {
  None,
  Bool,
  Int,
  Float,
  Str,
  Bytes,
  ByteArray,
  List,
  Tuple,
  Dict,
  Set,
  FrozenSet,
  Global,   // an imported object
  Call,     // the result of a call (REDUCE, NEWOBJ, INST, OBJ, ...)
  PersRef,  // a persistent reference (PERSID, BINPERSID)
  Unknown,  // anything else computed at run time (out-of-band buffers)
};

struct NodeBase {
  std::uint32_t refs = 0;
  std::uint32_t cost = 0;
  std::uint64_t* budget = nullptr;
  bool is_str = false;
  std::uint8_t depth = 0;
};

void destroyNode(NodeBase* n);

class NodeRef {
 public:
  NodeRef() = default;
  explicit NodeRef(NodeBase* p) : p_(p) { ++p_->refs; }
  NodeRef(const NodeRef& o) : p_(o.p_) {
    if (p_) ++p_->refs;
  }
  NodeRef(NodeRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  NodeRef& operator=(NodeRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~NodeRef() { release(); }
  void reset() {
    release();
    p_ = nullptr;
  }
  NodeBase* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  void release() {
    if (p_ && --p_->refs == 0) destroyNode(p_);
  }
  NodeBase* p_ = nullptr;
};

struct Value {
  Kind kind = Kind::Unknown;
  bool flag = false;         // Bool: its value. Int: does not fit in `num`.
  std::uint64_t offset = 0;  // opcode that produced it
  std::int64_t num = 0;      // Int: the value. Containers: number of elements.
  NodeRef node;
};

// Str, Bytes, ByteArray: the first kKeepText bytes (str as UTF-8), the full size, and where the
// payload sits in the source when it is stored verbatim (BINBYTES and friends).
struct StrNode final : NodeBase {
  std::string text;
  std::uint64_t full_size = 0;
  std::uint64_t src_off = 0;
  bool raw_payload = false;
  bool truncated() const { return full_size > text.size(); }
};

// One resolved import, shared by every value it produced (owned by the Walker's cache).
struct CachedImport {
  PickleGlobalName name;
  std::string display;  // normalised "module.name"
  PickleGlobalJudgement judgement;
};

struct ObjNode final : NodeBase {
  // Global: the import (nullptr when unresolved: dynamic or EXT, then `text` describes it).
  // Call: the callee import (nullptr when the callee was a run-time value or unresolved).
  const CachedImport* imp = nullptr;
  // Call: the class of the object built (the callee, or the class a copyreg helper
  // instantiates); nullptr when unknown.
  const CachedImport* cls = nullptr;
  std::string text;           // PersRef: repr of the id; unresolved Global: description
  std::vector<Value> items;   // Tuple: first kKeepItems elements. numpy.dtype Call: [args].
  std::int64_t elsize = -1;   // numpy.dtype Call: item size set by BUILD (-1 = from the code)
  bool allowlisted_result = false;  // Call: callee and forwarded classes allowlisted, checks ok
  bool has_fields = false;          // numpy.dtype Call: structured (BUILD state has fields)
};

void destroyNode(NodeBase* n) {
  *n->budget -= n->cost;
  if (n->is_str) {
    delete static_cast<StrNode*>(n);
  } else {
    delete static_cast<ObjNode*>(n);
  }
}

const StrNode* strOf(const Value& v) {
  return v.node && v.node.get()->is_str ? static_cast<const StrNode*>(v.node.get()) : nullptr;
}
ObjNode* objOf(const Value& v) {
  return v.node && !v.node.get()->is_str ? static_cast<ObjNode*>(v.node.get()) : nullptr;
}
const std::vector<Value>* tupleItems(const Value& v) {
  const ObjNode* n = v.kind == Kind::Tuple ? objOf(v) : nullptr;
  return n ? &n->items : nullptr;
}
// A complete (not truncated) str constant's text.
const std::string* constText(const Value& v) {
  const StrNode* s = v.kind == Kind::Str ? strOf(v) : nullptr;
  return s && !s->truncated() ? &s->text : nullptr;
}
std::string_view clsName(const Value& v) {
  const ObjNode* n = v.kind == Kind::Call ? objOf(v) : nullptr;
  return n && n->cls ? std::string_view(n->cls->display) : std::string_view();
}

bool isRuntimeValue(Kind k) {
  return k == Kind::Call || k == Kind::Unknown || k == Kind::PersRef;
}

std::string quote(std::string_view s, bool truncated) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (truncated) out += "...";
  return out + "'";
}

std::string globalName(const Value& v) {
  const ObjNode* n = objOf(v);
  if (!n) return "<global>";
  return n->imp ? n->imp->display : n->text;
}

std::string repr(const Value& v, int depth = 0) {
  const StrNode* s = strOf(v);
  switch (v.kind) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return v.flag ? "True" : "False";
    case Kind::Int:
      return v.flag ? "<int>" : std::to_string(v.num);
    case Kind::Float:
      return "<float>";
    case Kind::Str:
      return s ? quote(s->text, s->truncated()) : "''";
    case Kind::Bytes:
      return "b" + (s ? quote(s->text, s->truncated()) : "''");
    case Kind::ByteArray:
      return "bytearray(b" + (s ? quote(s->text, s->truncated()) : "''") + ")";
    case Kind::List:
      return "[" + std::to_string(v.num) + " items]";
    case Kind::Dict:
      return "{" + std::to_string(v.num) + " items}";
    case Kind::Set:
      return "set(" + std::to_string(v.num) + " items)";
    case Kind::FrozenSet:
      return "frozenset(" + std::to_string(v.num) + " items)";
    case Kind::Tuple: {
      const std::vector<Value>* items = tupleItems(v);
      if (!items || depth > 3) return "(" + std::to_string(v.num) + " items)";
      std::string out = "(";
      for (std::size_t i = 0; i < items->size(); ++i) {
        if (i) out += ", ";
        out += repr((*items)[i], depth + 1);
      }
      if (static_cast<std::uint64_t>(v.num) > items->size()) out += ", ...";
      if (v.num == 1) out += ",";
      return out + ")";
    }
    case Kind::Global:
      return globalName(v);
    case Kind::Call: {
      const ObjNode* n = objOf(v);
      return (n && n->imp ? n->imp->display : std::string("<run-time value>")) + "(...)";
    }
    case Kind::PersRef: {
      const ObjNode* n = objOf(v);
      return "persistent_load(" + (n ? n->text : std::string()) + ")";
    }
    case Kind::Unknown:
      return "<unknown>";
  }
  return "<unknown>";
}

std::string describe(const Value& v) {
  switch (v.kind) {
    case Kind::Call:
      return "the result of " + repr(v);
    case Kind::PersRef:
      return "a persistent reference " + repr(v);
    case Kind::Unknown:
      return "a run-time value";
    default:
      return repr(v);
  }
}

// The memo: dense storage for the indices 0..n-1 that pickle.dumps produces (fixed-size blocks,
// so entries are never moved), and a hash map for any other index. Nothing is ever sized by an
// index: dense storage only grows by appending the next index, and sparse entries move into it
// when they become contiguous.
class Memo {
 public:
  std::size_t size() const { return dense_ + sparse_.size(); }
  const Value* find(std::uint64_t key) const {
    if (key < dense_) return &at(key);
    if (key > UINT32_MAX) return nullptr;
    auto it = sparse_.find(static_cast<std::uint32_t>(key));
    return it == sparse_.end() ? nullptr : &it->second;
  }
  bool contains(std::uint32_t key) const { return find(key) != nullptr; }
  void put(std::uint32_t key, const Value& v) {
    if (key < dense_) {
      at(key) = v;
      return;
    }
    if (key != dense_) {
      sparse_[key] = v;
      return;
    }
    append(v);
    while (!sparse_.empty()) {
      auto it = sparse_.find(static_cast<std::uint32_t>(dense_));
      if (it == sparse_.end()) break;
      append(std::move(it->second));
      sparse_.erase(it);
    }
  }
  void clear() {
    blocks_.clear();
    dense_ = 0;
    sparse_.clear();
  }

 private:
  static constexpr std::size_t kBlock = 1024;  // 32 KiB: below malloc's mmap threshold
  Value& at(std::uint64_t key) const { return blocks_[key / kBlock][key % kBlock]; }
  void append(Value v) {
    if (dense_ % kBlock == 0) blocks_.push_back(std::make_unique<Value[]>(kBlock));
    at(dense_) = std::move(v);
    ++dense_;
  }
  std::vector<std::unique_ptr<Value[]>> blocks_;
  std::uint64_t dense_ = 0;
  std::unordered_map<std::uint32_t, Value> sparse_;
};

const char* opName(std::uint8_t op) {
  switch (op) {
    case '(':
      return "MARK";
    case '.':
      return "STOP";
    case '0':
      return "POP";
    case '1':
      return "POP_MARK";
    case '2':
      return "DUP";
    case 'F':
      return "FLOAT";
    case 'I':
      return "INT";
    case 'J':
      return "BININT";
    case 'K':
      return "BININT1";
    case 'L':
      return "LONG";
    case 'M':
      return "BININT2";
    case 'N':
      return "NONE";
    case 'P':
      return "PERSID";
    case 'Q':
      return "BINPERSID";
    case 'R':
      return "REDUCE";
    case 'S':
      return "STRING";
    case 'T':
      return "BINSTRING";
    case 'U':
      return "SHORT_BINSTRING";
    case 'V':
      return "UNICODE";
    case 'X':
      return "BINUNICODE";
    case 'a':
      return "APPEND";
    case 'b':
      return "BUILD";
    case 'c':
      return "GLOBAL";
    case 'd':
      return "DICT";
    case '}':
      return "EMPTY_DICT";
    case 'e':
      return "APPENDS";
    case 'g':
      return "GET";
    case 'h':
      return "BINGET";
    case 'i':
      return "INST";
    case 'j':
      return "LONG_BINGET";
    case 'l':
      return "LIST";
    case ']':
      return "EMPTY_LIST";
    case 'o':
      return "OBJ";
    case 'p':
      return "PUT";
    case 'q':
      return "BINPUT";
    case 'r':
      return "LONG_BINPUT";
    case 's':
      return "SETITEM";
    case 't':
      return "TUPLE";
    case ')':
      return "EMPTY_TUPLE";
    case 'u':
      return "SETITEMS";
    case 'G':
      return "BINFLOAT";
    case 0x80:
      return "PROTO";
    case 0x81:
      return "NEWOBJ";
    case 0x82:
      return "EXT1";
    case 0x83:
      return "EXT2";
    case 0x84:
      return "EXT4";
    case 0x85:
      return "TUPLE1";
    case 0x86:
      return "TUPLE2";
    case 0x87:
      return "TUPLE3";
    case 0x88:
      return "NEWTRUE";
    case 0x89:
      return "NEWFALSE";
    case 0x8a:
      return "LONG1";
    case 0x8b:
      return "LONG4";
    case 'B':
      return "BINBYTES";
    case 'C':
      return "SHORT_BINBYTES";
    case 0x8c:
      return "SHORT_BINUNICODE";
    case 0x8d:
      return "BINUNICODE8";
    case 0x8e:
      return "BINBYTES8";
    case 0x8f:
      return "EMPTY_SET";
    case 0x90:
      return "ADDITEMS";
    case 0x91:
      return "FROZENSET";
    case 0x92:
      return "NEWOBJ_EX";
    case 0x93:
      return "STACK_GLOBAL";
    case 0x94:
      return "MEMOIZE";
    case 0x95:
      return "FRAME";
    case 0x96:
      return "BYTEARRAY8";
    case 0x97:
      return "NEXT_BUFFER";
    case 0x98:
      return "READONLY_BUFFER";
    default:
      return nullptr;
  }
}

std::string hexByte(std::uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

// ---------------------------------------------------------------------------------------------
// The walker.

enum class Stop { Completed, Failed };

// Dict entries the walker reads back (joblib's NumpyArrayWrapper state).
bool keptDictKey(std::string_view key) {
  return key == "shape" || key == "dtype" || key == "numpy_array_alignment_bytes";
}
constexpr std::size_t kMaxKeptDicts = 1u << 16;

class Walker {
 public:
  Walker(ByteSource& source, std::uint64_t begin, const PickleContext& ctx, Report* report,
         bool sniff = false)
      : source_(source),
        ctx_(ctx),
        report_(report),
        sniff_(sniff),
        reader_(source, begin),
        profiles_(pickleProfileMask(ctx.extra_profiles)) {
    if (ctx.limits) limits_ = *ctx.limits;
    // The value budget follows the memo limit: raising one raises the other.
    node_budget_ = std::max<std::uint64_t>(kNodeBudget, limits_.max_pickle_memo * 256);
  }

  PickleOutcome run();

  // Sniff mode results.
  int opcodesOk() const { return ops_ok_; }
  bool eofFailure() const { return eof_failure_; }
  bool completedOne() const { return outcome_.pickles > 0; }

 private:
  // ---- findings -----------------------------------------------------------------------------
  void emit(Verdict severity, std::string rule, std::string message, std::uint64_t offset) {
    if (sniff_) return;
    ++findings_;
    Finding f{severity, std::move(rule), std::move(message), ctx_.location, offset};
    if (speculative_) {
      pending_.push_back(std::move(f));
      return;
    }
    record(std::move(f));
  }
  void record(Finding f) {
    if (emitted_ >= kMaxFindings) {
      ++suppressed_;
      suppressed_worst_ = worse(suppressed_worst_, f.severity);
      return;
    }
    ++emitted_;
    report_->add(std::move(f));
  }
  // Parse failure: Invalid, and Malicious when this walk already produced a finding.
  bool fail(std::string rule, std::string message, std::uint64_t offset) {
    if (sniff_ || speculative_) return false;
    if (pickle_index_ > 0 && !rule.starts_with("limit.")) {
      message = "bytes after pickle #" + std::to_string(pickle_index_) + " do not parse: " + rule +
                ": " + message;
      rule = "pickle.trailing-data";
    }
    std::size_t before = findings_;
    emit(Verdict::Invalid, rule, message, offset);
    if (before > 0) {
      emit(Verdict::Malicious, "pickle.error-after-finding",
           "the stream breaks after " + std::to_string(before) +
               " earlier finding(s); the loader has already run what precedes: " + message,
           offset);
    }
    return false;
  }
  bool limit(std::string rule, std::string message, std::uint64_t offset) {
    if (sniff_ || speculative_) return false;
    emit(Verdict::Error, std::move(rule), std::move(message), offset);
    return false;
  }
  bool truncated(std::uint64_t offset, const char* what) {
    if (reader_.ioError()) {
      if (!sniff_ && !speculative_) {
        emit(Verdict::Error, "pickle.io-error", "read failed: " + reader_.ioMessage(), offset);
      }
      return false;
    }
    eof_failure_ = true;
    return fail("pickle.truncated", std::string("pickle data was truncated in ") + what, offset);
  }

  // ---- stack --------------------------------------------------------------------------------
  std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  bool push(Value v) {
    if (stack_.size() >= limits_.max_pickle_stack) {
      return limit("limit.pickle-stack",
                   "value stack deeper than " + std::to_string(limits_.max_pickle_stack), op_off_);
    }
    stack_.push_back(std::move(v));
    return true;
  }
  bool underflow() {
    return fail("pickle.stack-underflow", std::string(opName(op_)) + ": unpickling stack underflow",
                op_off_);
  }
  bool pop(Value& out) {
    if (stack_.size() <= fence()) return underflow();
    out = std::move(stack_.back());
    stack_.pop_back();
    return true;
  }
  Value* top() { return stack_.size() <= fence() ? nullptr : &stack_.back(); }
  // Pops the topmost mark; its stack index is where the marked items start.
  bool popMark(std::size_t& mark) {
    if (marks_.empty()) {
      return fail("pickle.no-mark", std::string(opName(op_)) + ": could not find MARK", op_off_);
    }
    mark = marks_.back();
    marks_.pop_back();
    if (mark > stack_.size()) {
      return fail("pickle.stack-underflow", std::string(opName(op_)) + ": MARK above the stack top",
                  op_off_);
    }
    return true;
  }

  // ---- values -------------------------------------------------------------------------------
  template <class N>
  N* newNode() {
    N* n = new N();
    n->budget = &budget_;
    n->is_str = std::is_same_v<N, StrNode>;
    return n;
  }
  // Charges a finished node to the budget (its heap parts included) and wraps it.
  NodeRef commit(NodeBase* n, std::size_t heap) {
    n->cost = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(UINT32_MAX, (n->is_str ? sizeof(StrNode) : sizeof(ObjNode)) + heap));
    budget_ += n->cost;
    return NodeRef(n);
  }
  static std::size_t heapOf(const std::string& s) { return s.capacity() > 15 ? s.capacity() : 0; }
  bool checkBudget() {
    if (budget_ > node_budget_) {
      return limit("limit.pickle-memory",
                   "symbolic values exceed " + std::to_string(node_budget_ >> 20) + " MiB",
                   op_off_);
    }
    return true;
  }
  Value scalar(Kind k, std::int64_t num = 0, bool flag = false) {
    Value v;
    v.kind = k;
    v.num = num;
    v.flag = flag;
    v.offset = op_off_;
    return v;
  }
  bool pushText(Kind k, Kept&& kept, bool raw_payload, std::uint64_t src_off) {
    Value v = scalar(k);
    auto* n = newNode<StrNode>();
    n->text = std::move(kept.text);
    n->full_size = kept.size;
    n->raw_payload = raw_payload;
    n->src_off = src_off;
    v.node = commit(n, heapOf(n->text));
    return checkBudget() && push(std::move(v));
  }
  Value objValue(Kind k, ObjNode* n) {
    Value v = scalar(k);
    v.node = commit(n, heapOf(n->text) + n->items.capacity() * sizeof(Value));
    return v;
  }
  // What a node keeps of a child: the child, or its summary (kind and count) when too deep.
  static Value retain(Value v) {
    if (v.node && v.node.get()->depth >= kMaxSummaryDepth) v.node.reset();
    return v;
  }
  // A tuple of stack_[from, end), which is erased.
  Value makeTuple(std::size_t from) {
    std::size_t count = stack_.size() - from;
    std::size_t keep = std::min(kKeepItems, count);
    Value v = scalar(Kind::Tuple, static_cast<std::int64_t>(count));
    if (keep > 0) {
      auto* n = newNode<ObjNode>();
      n->items.reserve(keep);
      n->depth = 1;
      for (std::size_t i = 0; i < keep; ++i) {
        Value item = retain(std::move(stack_[from + i]));
        if (item.node) n->depth = std::max<std::uint8_t>(n->depth, item.node.get()->depth + 1);
        n->items.push_back(std::move(item));
      }
      v = objValue(Kind::Tuple, n);
      v.num = static_cast<std::int64_t>(count);
    }
    stack_.resize(from);
    return v;
  }
  // d[key] = value: counted, and kept when the walker reads that key back.
  void dictSet(Value& dict, const Value& key, const Value& value) {
    ++dict.num;
    const std::string* k = constText(key);
    if (!k || !keptDictKey(*k)) return;
    auto it = dicts_.find(dict.offset);
    if (it == dicts_.end()) {
      if (dicts_.size() >= kMaxKeptDicts) return;  // a wrapper using it is then rejected
      it = dicts_.emplace(dict.offset, std::vector<std::pair<std::string, Value>>{}).first;
    }
    for (auto& [name, v] : it->second) {
      if (name == *k) {
        v = retain(value);
        return;
      }
    }
    it->second.emplace_back(*k, retain(value));
  }
  const Value* dictGet(const Value& dict, std::string_view key) const {
    if (dict.kind != Kind::Dict) return nullptr;
    auto it = dicts_.find(dict.offset);
    if (it == dicts_.end()) return nullptr;
    for (const auto& [name, v] : it->second) {
      if (name == key) return &v;
    }
    return nullptr;
  }

  // ---- imports and calls --------------------------------------------------------------------
  static const CachedImport* importOf(const Value& v) {
    const ObjNode* n = v.kind == Kind::Global ? objOf(v) : nullptr;
    return n ? n->imp : nullptr;
  }
  static bool isAllowedGlobal(const Value& v) {
    const CachedImport* imp = importOf(v);
    return imp && imp->judgement.policy == PickleGlobalPolicy::Allowed;
  }
  bool importGlobal(std::string_view module, std::string_view name, bool truncated_name,
                    const char* via);
  bool pushUnresolvedGlobal(std::string description);
  bool call(const Value& callee, const Value& args);
  bool checkAllowedCall(const CachedImport& callee, const Value& args);
  void scanNestedBytes(const StrNode& bytes);
  void mutateTarget(const Value& target);
  bool build(const Value& inst, const Value& state);
  void mergeFindings(Report& sub, bool payload_only);
  bool planJoblibArray(const Value& state);
  bool readJoblibArray();

  // ---- opcodes ------------------------------------------------------------------------------
  Stop walkOne();
  bool step();
  bool readUint(std::uint64_t& out, int n, const char* what);
  bool readLine(Kept& out, const char* what);
  bool readDecimalLine(std::uint64_t& out, bool& negative, bool& overflow, const char* what);
  bool opString();
  bool opUnicodeLine();
  bool opIntLine(bool is_long);
  bool opFloatLine();
  bool opPayload(std::uint64_t n, Kind kind, bool utf8);
  bool opGlobalLines(bool inst);
  bool memoGet(std::uint64_t index);
  bool memoPut(std::uint64_t index);
  bool persistentId(const Value& pid, std::string text);
  void addOutcome(std::vector<std::string>& list, const std::string& s);

  ByteSource& source_;
  const PickleContext& ctx_;
  Report* report_;
  bool sniff_;
  Limits limits_;
  Reader reader_;
  unsigned profiles_;
  PickleOutcome outcome_;
  // Declared before every container of values, so that it outlives them: the budget counter
  // and the imports that nodes point to.
  std::uint64_t budget_ = 0;
  std::uint64_t node_budget_ = kNodeBudget;
  std::unordered_map<std::string, CachedImport> import_cache_;

  std::vector<Value> stack_;
  std::vector<std::size_t> marks_;
  Memo memo_;
  std::unordered_map<std::uint64_t, std::vector<std::pair<std::string, Value>>> dicts_;
  int proto_ = 0;
  int first_proto_ = -1;
  bool proto_flagged_ = false;
  std::uint64_t ops_in_pickle_ = 0;

  std::uint64_t op_off_ = 0;
  std::uint8_t op_ = 0;
  std::uint64_t opcodes_ = 0;
  int ops_ok_ = 0;
  std::uint64_t frame_end_ = 0;
  bool in_frame_ = false;
  bool frame_flagged_ = false;

  int pickle_index_ = 0;
  bool eof_failure_ = false;
  bool speculative_ = false;
  bool single_ = false;  // stop after one pickle (an object array nested in a joblib stream)
  std::vector<Finding> pending_;
  std::size_t findings_ = 0;
  std::size_t emitted_ = 0;
  std::size_t suppressed_ = 0;
  Verdict suppressed_worst_ = Verdict::Clean;
  bool build_flagged_ = false;
  bool persid_flagged_ = false;
  bool outcome_flagged_ = false;
  // joblib's NumpyArrayWrapper: the raw array follows its BUILD in the stream.
  struct JoblibArray {
    bool object = false;   // dtype has objects: a nested pickle follows instead
    bool padding = false;  // a padding-length byte and padding precede the data
    std::uint64_t bytes = 0;
  };
  std::optional<JoblibArray> joblib_;
};

void Walker::addOutcome(std::vector<std::string>& list, const std::string& s) {
  if (sniff_) return;
  if (list.size() >= kMaxOutcomeEntries) {
    if (!outcome_flagged_) {
      outcome_flagged_ = true;
      emit(Verdict::Error, "limit.pickle-outcome",
           "more than " + std::to_string(kMaxOutcomeEntries) + " imports or persistent ids",
           op_off_);
    }
    return;
  }
  list.push_back(s);
}

bool Walker::importGlobal(std::string_view module, std::string_view name, bool truncated_name,
                          const char* via) {
  std::string key;
  key.reserve(module.size() + name.size() + 4);
  key.append(module).append("\n").append(name).append(proto_ < 3 ? "\n2" : "\n3");
  if (truncated_name) key.append("\nT");
  auto it = import_cache_.find(key);
  if (it == import_cache_.end()) {
    CachedImport c;
    c.name = normalizePickleGlobal(module, name, proto_);
    c.display = c.name.dotted();
    c.judgement = judgePickleGlobal(c.name, profiles_);
    if (truncated_name && c.judgement.policy == PickleGlobalPolicy::Allowed) {
      c.judgement.policy = PickleGlobalPolicy::NotAllowed;
      c.judgement.reason = "name longer than " + std::to_string(kKeepText) + " bytes";
    }
    // Cached for the whole walk: charged to the value budget, so that millions of distinct
    // names fail closed instead of growing without bound.
    budget_ += sizeof(CachedImport) + 64 + 2 * key.size() + c.display.size() +
               c.judgement.reason.size() + c.judgement.matched.size();
    it = import_cache_.emplace(std::move(key), std::move(c)).first;
  }
  const CachedImport& c = it->second;
  const PickleGlobalJudgement& j = c.judgement;
  if (j.policy != PickleGlobalPolicy::Allowed && !sniff_) {
    std::string raw = std::string(module) + "." + std::string(name);
    std::string message = c.display + " via " + via;
    if (raw != c.display) message += " (raw " + raw + ")";
    if (truncated_name) message += " (name truncated)";
    switch (j.policy) {
      case PickleGlobalPolicy::Allowed:
        break;
      case PickleGlobalPolicy::NotAllowed:
        emit(Verdict::Suspicious, "pickle.global.not-allowlisted", message + ": " + j.reason,
             op_off_);
        break;
      case PickleGlobalPolicy::Dotted:
        emit(Verdict::Suspicious, "pickle.global.dotted", message + ": " + j.reason, op_off_);
        break;
      case PickleGlobalPolicy::Dunder:
        emit(Verdict::Malicious, "pickle.global.dunder", message + ": " + j.reason, op_off_);
        break;
      case PickleGlobalPolicy::Denied:
        emit(Verdict::Malicious, "pickle.global.denylisted",
             message + ": denylisted (" + j.matched + ": " + j.reason + ")", op_off_);
        break;
    }
  }
  addOutcome(outcome_.globals, c.display);
  auto* n = newNode<ObjNode>();
  n->imp = &c;
  return checkBudget() && push(objValue(Kind::Global, n));
}

bool Walker::pushUnresolvedGlobal(std::string description) {
  auto* n = newNode<ObjNode>();
  n->text = std::move(description);
  return checkBudget() && push(objValue(Kind::Global, n));
}

// Runs the argument checks of an allowlisted callee. Returns false when they failed (findings
// recorded); the call result is then not an allowlisted object.
bool Walker::checkAllowedCall(const CachedImport& callee, const Value& args) {
  const PickleGlobalJudgement& j = callee.judgement;
  const std::string& name = callee.display;
  bool ok = true;
  const std::vector<Value>* items = tupleItems(args);
  if (j.forwarded_args != 0) {
    if (isRuntimeValue(args.kind)) {
      emit(Verdict::Malicious, "pickle.call-of-call-result",
           name + " via " + opName(op_) + " takes its arguments from " + describe(args) +
               " and calls one of them",
           op_off_);
      ok = false;
    } else if (items) {
      for (std::size_t i = 0; i < items->size() && i < 8; ++i) {
        if (!(j.forwarded_args & (1u << i))) continue;
        const Value& a = (*items)[i];
        if (isRuntimeValue(a.kind)) {
          emit(Verdict::Malicious, "pickle.call-of-call-result",
               name + " via " + opName(op_) + " would call argument " + std::to_string(i) + ", " +
                   describe(a) + ", which is not an imported global",
               op_off_);
          ok = false;
        } else if (a.kind == Kind::Global && !isAllowedGlobal(a)) {
          ok = false;  // the class it instantiates was already reported at its import
        }
      }
    }
  }
  switch (j.call_rule) {
    case PickleCallRule::None:
      break;
    case PickleCallRule::CodecsEncode: {
      const std::string* enc = items && items->size() == 2 && args.num == 2 ? constText((*items)[1]) : nullptr;
      if (!enc || (*enc != "latin1" && *enc != "latin-1")) {
        std::string shown = items && items->size() >= 2 ? repr((*items)[1]) : std::string("<none>");
        emit(Verdict::Malicious, "pickle.codecs-encode-args",
             name + " via " + opName(op_) + " with encoding " + shown +
                 ": only (str, 'latin1') is allowed (the protocol 2 encoding of bytes)",
             op_off_);
        ok = false;
      }
      break;
    }
    case PickleCallRule::LoadFromBytes: {
      const Value* b = items && !items->empty() ? &(*items)[0] : nullptr;
      const StrNode* s = b && (b->kind == Kind::Bytes || b->kind == Kind::Str) ? strOf(*b) : nullptr;
      if (s && s->raw_payload) {
        scanNestedBytes(*s);
        break;
      }
      emit(Verdict::Suspicious, "pickle.nested-unscanned",
           name + " via " + opName(op_) +
               (b && isRuntimeValue(b->kind)
                    ? " loads bytes computed at run time (" + describe(*b) + "); they cannot be scanned"
                    : std::string(" without a bytes argument that can be scanned")),
           op_off_);
      ok = false;
      break;
    }
  }
  return ok;
}

void Walker::scanNestedBytes(const StrNode& n) {
  if (ctx_.nested_depth + 1 > limits_.max_nested_pickle_depth) {
    emit(Verdict::Error, "limit.pickle-nested-depth",
         "bytes loaded by torch.storage._load_from_bytes nest deeper than " +
             std::to_string(limits_.max_nested_pickle_depth),
         op_off_);
    return;
  }
  if (sniff_) return;
  SliceSource slice(source_, n.src_off, n.full_size);
  PickleContext nested;
  nested.limits = ctx_.limits;
  nested.extra_profiles = ctx_.extra_profiles;
  nested.nested_depth = ctx_.nested_depth + 1;
  nested.location = ctx_.location + "#" + opName(op_) + "@" + std::to_string(op_off_);
  nested.scan_nested = ctx_.scan_nested;
  Report sub;
  if (looksLikePickle(slice, 0)) {
    // A legacy torch.save stream: pickles, then raw storage bytes.
    nested.torch_container = true;
    nested.trailing_data_ok = true;
    walkPickle(slice, 0, nested, sub);
  } else if (ctx_.scan_nested) {
    nested.torch_container = true;
    ctx_.scan_nested(slice, nested, sub);
  } else {
    emit(Verdict::Suspicious, "pickle.nested-unscanned",
         "torch.storage._load_from_bytes loads " + std::to_string(n.full_size) +
             " bytes that are not a pickle stream (a torch zip?) and no nested scanner is set",
         op_off_);
    return;
  }
  mergeFindings(sub, false);
}

// Findings of a nested walk count as this walk's. payload_only: keep only what a crafted payload
// produces (denylisted or dunder imports), for bytes that are probably not opcodes at all.
void Walker::mergeFindings(Report& sub, bool payload_only) {
  for (auto& f : sub.findings) {
    if (payload_only && f.rule != "pickle.global.denylisted" && f.rule != "pickle.global.dunder") {
      continue;
    }
    ++findings_;
    if (speculative_) {
      pending_.push_back(std::move(f));
    } else {
      record(std::move(f));
    }
  }
}

// Item size of a numpy.dtype(code, ...) call ("f8", "<i4", "U10", "O8") and whether it holds
// Python objects; nullopt when it cannot be determined.
std::optional<std::uint64_t> dtypeItemsize(const Value& dtype, bool& hasobject) {
  const ObjNode* n = clsName(dtype) == "numpy.dtype" ? objOf(dtype) : nullptr;
  if (!n || n->items.empty()) return std::nullopt;
  const std::vector<Value>* args = tupleItems(n->items[0]);
  const std::string* text = args && !args->empty() ? constText((*args)[0]) : nullptr;
  if (!text) return std::nullopt;
  std::string_view code = *text;
  if (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '=')) {
    code.remove_prefix(1);
  }
  if (code.empty()) return std::nullopt;
  char kind = code[0];
  hasobject = kind == 'O';
  if (n->has_fields) return std::nullopt;  // structured: fields may hold objects
  if (n->elsize > 0) return static_cast<std::uint64_t>(n->elsize);
  if (code == "?") return 1;
  if (code.size() < 2 || code.size() > 6) return std::nullopt;
  std::uint64_t digits = 0;
  for (char c : code.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    digits = digits * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (std::string_view("biufcmMOSUV?").find(kind) == std::string_view::npos) return std::nullopt;
  return kind == 'U' ? digits * 4 : digits;
}

bool Walker::planJoblibArray(const Value& state) {
  const Value* shape = dictGet(state, "shape");
  const Value* dtype = dictGet(state, "dtype");
  if (!shape || !dtype || shape->kind != Kind::Tuple) {
    return fail("pickle.joblib-array", "NumpyArrayWrapper state has no readable shape and dtype",
                op_off_);
  }
  JoblibArray j;
  std::uint64_t count = 1;
  if (shape->num > 0) {
    const std::vector<Value>* dims = tupleItems(*shape);
    if (!dims || static_cast<std::uint64_t>(shape->num) > dims->size()) {
      return fail("pickle.joblib-array", "NumpyArrayWrapper shape has too many dimensions",
                  op_off_);
    }
    for (const Value& d : *dims) {
      if (d.kind != Kind::Int || d.flag || d.num < 0) {
        return fail("pickle.joblib-array", "NumpyArrayWrapper shape is not a tuple of sizes",
                    op_off_);
      }
      auto dim = static_cast<std::uint64_t>(d.num);
      if (dim != 0 && count > UINT64_MAX / dim) {
        return fail("limit.pickle-length", "NumpyArrayWrapper shape overflows", op_off_);
      }
      count *= dim;
    }
  }
  auto itemsize = dtypeItemsize(*dtype, j.object);
  if (!itemsize) {
    return fail("pickle.joblib-array",
                "NumpyArrayWrapper dtype " + repr(*dtype) + " is not understood", op_off_);
  }
  if (*itemsize != 0 && count > UINT64_MAX / *itemsize) {
    return fail("limit.pickle-length", "NumpyArrayWrapper size overflows", op_off_);
  }
  j.bytes = count * *itemsize;
  const Value* align = dictGet(state, "numpy_array_alignment_bytes");
  j.padding = align && align->kind != Kind::None;
  joblib_ = j;
  return true;
}

// The array data joblib's NumpyUnpickler reads right after the wrapper's BUILD.
bool Walker::readJoblibArray() {
  JoblibArray j = *joblib_;
  joblib_.reset();
  std::uint64_t start = reader_.pos();
  bool can_nest = ctx_.nested_depth + 1 <= limits_.max_nested_pickle_depth;
  if (j.object) {
    if (!can_nest) {
      return limit("limit.pickle-nested-depth",
                   "object arrays nested in joblib pickles deeper than " +
                       std::to_string(limits_.max_nested_pickle_depth),
                   op_off_);
    }
    // pickle.load(file_handle): one plain pickle at this position, then the stream continues.
    PickleContext sub_ctx = ctx_;
    sub_ctx.nested_depth = ctx_.nested_depth + 1;
    Report sub;
    Walker inner(source_, start, sub_ctx, sniff_ ? nullptr : &sub, sniff_);
    inner.single_ = true;
    PickleOutcome o = inner.run();
    if (!sniff_) mergeFindings(sub, false);
    if (!o.complete || o.end < start || o.end - start > reader_.remaining()) {
      return fail("pickle.joblib-array",
                  "object array pickle after NumpyArrayWrapper does not parse", op_off_);
    }
    reader_.skip(o.end - start);
    return true;
  }
  if (j.padding) {
    std::uint8_t pad = 0;
    if (!reader_.byte(pad)) return truncated(op_off_, "joblib array padding");
    if (pad > reader_.remaining()) {
      return fail("limit.pickle-length", "joblib array padding past the end", op_off_);
    }
    reader_.skip(pad);
  }
  if (j.bytes > reader_.remaining()) {
    return fail("limit.pickle-length",
                "NumpyArrayWrapper array of " + std::to_string(j.bytes) + " bytes but " +
                    std::to_string(reader_.remaining()) + " remain",
                op_off_);
  }
  if (!sniff_ && can_nest) {
    // A plain pickle.load of this stream would read these bytes as opcodes: look for a payload.
    // Offsets stay those of the source: the region is walked in place, cut at its end.
    SliceSource region(source_, 0, reader_.pos() + j.bytes);
    PickleContext sub_ctx = ctx_;
    sub_ctx.trailing_data_ok = false;
    sub_ctx.nested_depth = ctx_.nested_depth + 1;
    Report sub;
    walkPickle(region, start, sub_ctx, sub);
    mergeFindings(sub, true);
  }
  reader_.skip(j.bytes);
  return true;
}

bool Walker::call(const Value& callee, const Value& args) {
  auto* n = newNode<ObjNode>();
  n->depth = 1;
  switch (callee.kind) {
    case Kind::Global: {
      const CachedImport* imp = importOf(callee);
      n->imp = imp;
      n->cls = imp;
      if (!imp || imp->judgement.policy != PickleGlobalPolicy::Allowed) break;
      n->allowlisted_result = checkAllowedCall(*imp, args);
      // copyreg helpers instantiate their first argument: the object is of that class.
      const std::vector<Value>* items = tupleItems(args);
      if (imp->judgement.forwarded_args && items && !items->empty() &&
          imp->name.module == "copyreg") {
        n->cls = importOf((*items)[0]);
      }
      break;
    }
    case Kind::Call:
    case Kind::Unknown:
    case Kind::PersRef:
      emit(Verdict::Malicious, "pickle.call-of-call-result",
           std::string(opName(op_)) + " calls " + describe(callee) +
               ", a callable built at run time (getattr, attrgetter, partial...)",
           op_off_);
      break;
    default:
      delete n;
      return fail("pickle.not-callable",
                  std::string(opName(op_)) + " calls " + repr(callee) + ", which is not callable",
                  op_off_);
  }
  if (n->cls && n->cls->display == "numpy.dtype") {  // its code string sizes joblib arrays
    n->items.push_back(retain(args));
    if (n->items.back().node) n->depth = std::max<std::uint8_t>(n->depth, n->items.back().node.get()->depth + 1);
  }
  return checkBudget() && push(objValue(Kind::Call, n));
}

// APPEND(S), SETITEM(S), ADDITEMS on a non-container call the target's extend/append/
// __setitem__/add: harmless on objects the pickle built, not on an imported global.
void Walker::mutateTarget(const Value& target) {
  if (target.kind == Kind::Global) {
    emit(Verdict::Malicious, "pickle.mutate-global",
         std::string(opName(op_)) + " modifies the global " + repr(target) + " itself", op_off_);
  }
}

// BUILD: inst.__setstate__(state), or attribute updates.
bool Walker::build(const Value& inst, const Value& state) {
  if (inst.kind == Kind::Global) {
    emit(Verdict::Malicious, "pickle.build-on-global",
         "BUILD sets attributes on the imported global " + repr(inst) + " itself", op_off_);
    return true;
  }
  ObjNode* n = inst.kind == Kind::Call ? objOf(inst) : nullptr;
  if (n && n->cls && n->cls->display == "numpy.dtype") {
    const std::vector<Value>* st = tupleItems(state);  // (version, endian, subarray, names,
    if (st && st->size() >= 6) {                        //  fields, elsize, alignment, flags)
      if ((*st)[5].kind == Kind::Int && !(*st)[5].flag) n->elsize = (*st)[5].num;
      n->has_fields = (*st)[2].kind != Kind::None || (*st)[3].kind != Kind::None ||
                      (*st)[4].kind != Kind::None;
    }
  }
  if (n && n->cls && n->cls->display == "joblib.numpy_pickle.NumpyArrayWrapper") {
    if (!planJoblibArray(state)) return false;
  }
  bool allowlisted = n && n->allowlisted_result;
  if (!allowlisted && !build_flagged_ &&
      (inst.kind == Kind::Call || inst.kind == Kind::PersRef || inst.kind == Kind::Unknown)) {
    build_flagged_ = true;
    emit(Verdict::Suspicious, "pickle.build-on-unallowlisted",
         "BUILD on " + describe(inst) + ", an object not built by an allowlisted constructor",
         op_off_);
  }
  return true;
}

bool Walker::persistentId(const Value& pid, std::string text) {
  if (!ctx_.torch_container && !persid_flagged_) {
    persid_flagged_ = true;
    emit(Verdict::Suspicious, "pickle.persid-outside-torch",
         std::string(opName(op_)) + " " + text +
             " outside a PyTorch checkpoint: the loader's persistent_load decides what it becomes",
         op_off_);
  }
  if (const std::vector<Value>* it = tupleItems(pid); it && it->size() >= 3) {
    const std::string* tag = constText((*it)[0]);
    const std::string* key = constText((*it)[2]);
    if (tag && *tag == "storage" && key) addOutcome(outcome_.storage_keys, *key);
  }
  addOutcome(outcome_.persistent_ids, text);
  auto* n = newNode<ObjNode>();
  n->text = std::move(text);
  return checkBudget() && push(objValue(Kind::PersRef, n));
}

bool Walker::memoGet(std::uint64_t index) {
  const Value* v = memo_.find(index);
  if (!v) {
    return fail(
        "pickle.memo-missing",
        std::string(opName(op_)) + ": memo value not found at index " + std::to_string(index),
        op_off_);
  }
  return push(*v);
}

bool Walker::memoPut(std::uint64_t index) {
  Value* t = top();
  if (!t) return underflow();
  if (index > UINT32_MAX) {
    return fail(
        "pickle.memo-index",
        std::string(opName(op_)) + ": memo index " + std::to_string(index) + " out of range",
        op_off_);
  }
  auto key = static_cast<std::uint32_t>(index);
  if (!memo_.contains(key) && memo_.size() >= limits_.max_pickle_memo) {
    return limit("limit.pickle-memo",
                 "more than " + std::to_string(limits_.max_pickle_memo) + " memo entries", op_off_);
  }
  memo_.put(key, *t);
  return true;
}

bool Walker::readUint(std::uint64_t& out, int n, const char* what) {
  std::uint8_t b[8];
  if (!reader_.bytes(b, static_cast<std::size_t>(n))) return truncated(op_off_, what);
  out = 0;
  for (int i = n - 1; i >= 0; --i) out = (out << 8) | b[i];
  return true;
}

// A text line, kept up to kKeepText bytes.
bool Walker::readLine(Kept& out, const char* what) {
  if (!reader_.line([&](const std::uint8_t* p, std::size_t n) { out.put(p, n); })) {
    return truncated(op_off_, what);
  }
  return true;
}

bool Walker::readDecimalLine(std::uint64_t& out, bool& negative, bool& overflow, const char* what) {
  IntLineCheck check(/*any_base=*/false, /*allow_trailing_l=*/false);
  if (!reader_.line([&](const std::uint8_t* p, std::size_t n) { check.feed(p, n); })) {
    return truncated(op_off_, what);
  }
  if (!check.finish()) {
    return fail("pickle.bad-argument", std::string(what) + ": not a decimal integer", op_off_);
  }
  out = check.value();
  negative = check.negative() && check.value() != 0;
  overflow = check.overflow();
  return true;
}

// STRING: a quoted line with Python escapes.
bool Walker::opString() {
  Kept kept;
  EscapeDecoder dec(kept);
  std::uint64_t total = 0;
  std::uint8_t first = 0;
  std::uint8_t held = 0;
  bool have_held = false;
  bool ok = reader_.line([&](const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (total++ == 0) {
        first = p[i];
        continue;
      }
      if (have_held) dec.feed(held);
      held = p[i];
      have_held = true;
    }
  });
  if (!ok) return truncated(op_off_, "STRING");
  if (total < 2 || (first != '\'' && first != '"') || held != first || !have_held) {
    return fail("pickle.bad-argument", "STRING: the argument must be quoted", op_off_);
  }
  if (!dec.finish()) return fail("pickle.bad-argument", "STRING: invalid escape", op_off_);
  return pushText(Kind::Str, std::move(kept), false, 0);
}

bool Walker::opUnicodeLine() {
  Kept kept;
  RawUnicodeEscapeDecoder dec(kept);
  bool ok = reader_.line([&](const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dec.feed(p[i]);
  });
  if (!ok) return truncated(op_off_, "UNICODE");
  if (!dec.finish()) return fail("pickle.bad-argument", "UNICODE: invalid \\u escape", op_off_);
  return pushText(Kind::Str, std::move(kept), false, 0);
}

bool Walker::opIntLine(bool is_long) {
  IntLineCheck check(/*any_base=*/true, /*allow_trailing_l=*/is_long, /*strtol_semantics=*/!is_long);
  if (!reader_.line([&](const std::uint8_t* p, std::size_t n) { check.feed(p, n); })) {
    return truncated(op_off_, is_long ? "LONG" : "INT");
  }
  if (!check.finish()) {
    return fail("pickle.bad-argument", std::string(is_long ? "LONG" : "INT") + ": not an integer",
                op_off_);
  }
  bool big = check.overflow() || check.value() > static_cast<std::uint64_t>(INT64_MAX);
  std::int64_t v = big ? 0 : static_cast<std::int64_t>(check.value());
  if (check.negative()) v = -v;
  // INT "00" / "01" (any two characters with value 0 or 1) are the booleans.
  if (!is_long && check.length() == 2 && !big && (v == 0 || v == 1))
    return push(scalar(Kind::Bool, 0, v == 1));
  return push(scalar(Kind::Int, v, big));
}

bool Walker::opFloatLine() {
  Kept kept;
  if (!readLine(kept, "FLOAT")) return false;
  std::size_t nul = kept.text.find('\0');  // C string: a NUL ends the number
  if ((kept.truncated() && nul == std::string::npos) ||
      !validFloatText(std::string_view(kept.text).substr(0, nul))) {
    return fail("pickle.bad-argument", "FLOAT: could not convert string to float", op_off_);
  }
  return push(scalar(Kind::Float));
}

// A length-prefixed payload of n bytes (n already read). utf8: validate as UTF-8 with
// surrogatepass (BINUNICODE*). Raw payloads past kKeepText are skipped, never read.
bool Walker::opPayload(std::uint64_t n, Kind kind, bool utf8) {
  if (n > reader_.remaining()) {
    return fail("limit.pickle-length",
                std::string(opName(op_)) + " declares " + std::to_string(n) + " bytes but " +
                    std::to_string(reader_.remaining()) + " remain",
                op_off_);
  }
  std::uint64_t src_off = reader_.pos();
  Kept kept;
  if (utf8) {
    Utf8Check check(/*surrogatepass=*/true);
    bool ok = reader_.consume(n, [&](const std::uint8_t* p, std::size_t k) {
      check.feed(p, k);
      kept.put(p, k);
    });
    if (!ok) return truncated(op_off_, opName(op_));
    if (!check.finish())
      return fail("pickle.bad-argument", std::string(opName(op_)) + ": invalid UTF-8", op_off_);
    return pushText(kind, std::move(kept), false, src_off);
  }
  std::uint64_t head = std::min<std::uint64_t>(n, kKeepText);
  bool ok = reader_.consume(head, [&](const std::uint8_t* p, std::size_t k) { kept.put(p, k); });
  if (!ok) return truncated(op_off_, opName(op_));
  reader_.skip(n - head);
  kept.size = n;
  return pushText(kind, std::move(kept), true, src_off);
}

// GLOBAL / INST: two lines, module and name. GLOBAL decodes them as UTF-8, INST as ASCII.
bool Walker::opGlobalLines(bool inst) {
  const char* what = inst ? "INST" : "GLOBAL";
  Kept module, name;
  Utf8Check mcheck(false), ncheck(false);
  bool ascii = true;
  auto isAsciiChunk = [](const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (p[i] >= 0x80) return false;
    }
    return true;
  };
  bool ok = reader_.line([&](const std::uint8_t* p, std::size_t n) {
    module.put(p, n);
    mcheck.feed(p, n);
    ascii = ascii && isAsciiChunk(p, n);
  });
  if (!ok) return truncated(op_off_, what);
  ok = reader_.line([&](const std::uint8_t* p, std::size_t n) {
    name.put(p, n);
    ncheck.feed(p, n);
    ascii = ascii && isAsciiChunk(p, n);
  });
  if (!ok) return truncated(op_off_, what);
  if (module.size == 0 || name.size == 0) {
    return fail("pickle.bad-argument", std::string(what) + ": empty module or name line", op_off_);
  }
  bool valid = inst ? ascii : (mcheck.finish() && ncheck.finish());
  if (!valid)
    return fail("pickle.bad-argument", std::string(what) + ": module or name is not valid text",
                op_off_);
  return importGlobal(module.text, name.text, module.truncated() || name.truncated(), what);
}

bool Walker::step() {
  std::uint8_t op;
  op_off_ = reader_.pos();
  if (!reader_.byte(op)) return truncated(op_off_, "the opcode stream (no STOP)");
  op_ = op;
  if (++opcodes_ > limits_.max_pickle_opcodes) {
    return limit("limit.pickle-opcodes",
                 "more than " + std::to_string(limits_.max_pickle_opcodes) + " opcodes", op_off_);
  }
  std::uint64_t u = 0;
  Value a, b, c;
  std::size_t mark = 0;
  switch (op) {
    case '(':  // MARK
      if (marks_.size() >= limits_.max_pickle_stack) {
        return limit("limit.pickle-stack",
                     "mark stack deeper than " + std::to_string(limits_.max_pickle_stack), op_off_);
      }
      marks_.push_back(stack_.size());
      break;
    case '.':  // STOP
      if (!pop(a)) return false;
      break;
    case '0':  // POP: pops a mark when one sits at the stack top (as _pickle.c does)
      if (!marks_.empty() && marks_.back() == stack_.size()) {
        marks_.pop_back();
      } else if (!pop(a)) {
        return false;
      }
      break;
    case '1':  // POP_MARK
      if (!popMark(mark)) return false;
      stack_.resize(mark);
      break;
    case '2': {  // DUP
      Value* t = top();
      if (!t) return underflow();
      Value copy = *t;  // the same object: provenance (and dict identity) unchanged
      if (!push(std::move(copy))) return false;
      break;
    }
    case 'F':
      if (!opFloatLine()) return false;
      break;
    case 'I':
      if (!opIntLine(false)) return false;
      break;
    case 'L':
      if (!opIntLine(true)) return false;
      break;
    case 'N':
      if (!push(scalar(Kind::None))) return false;
      break;
    case 0x88:
    case 0x89:
      if (!push(scalar(Kind::Bool, 0, op == 0x88))) return false;
      break;
    case 'J': {
      if (!readUint(u, 4, "BININT")) return false;
      if (!push(scalar(Kind::Int, static_cast<std::int32_t>(static_cast<std::uint32_t>(u)))))
        return false;
      break;
    }
    case 'K':
      if (!readUint(u, 1, "BININT1")) return false;
      if (!push(scalar(Kind::Int, static_cast<std::int64_t>(u)))) return false;
      break;
    case 'M':
      if (!readUint(u, 2, "BININT2")) return false;
      if (!push(scalar(Kind::Int, static_cast<std::int64_t>(u)))) return false;
      break;
    case 0x8a:    // LONG1
    case 0x8b: {  // LONG4
      if (!readUint(u, op == 0x8a ? 1 : 4, opName(op))) return false;
      if (op == 0x8b && (u & 0x80000000u)) {
        return fail("pickle.bad-argument", "LONG4: negative byte count", op_off_);
      }
      if (u > reader_.remaining()) {
        return fail("limit.pickle-length",
                    std::string(opName(op)) + " declares " + std::to_string(u) + " bytes but " +
                        std::to_string(reader_.remaining()) + " remain",
                    op_off_);
      }
      std::int64_t v = 0;
      bool big = u > 8;
      if (!big && u > 0) {
        std::uint8_t buf[8];
        if (!reader_.bytes(buf, static_cast<std::size_t>(u))) return truncated(op_off_, opName(op));
        std::uint64_t x = 0;
        for (std::size_t i = u; i-- > 0;) x = (x << 8) | buf[i];
        if (u < 8 && (buf[u - 1] & 0x80)) x |= ~std::uint64_t{0} << (8 * u);  // sign-extend
        v = static_cast<std::int64_t>(x);
      } else {
        reader_.skip(u);
      }
      if (!push(scalar(Kind::Int, v, big))) return false;
      break;
    }
    case 'G': {  // BINFLOAT
      std::uint8_t buf[8];
      if (!reader_.bytes(buf, 8)) return truncated(op_off_, "BINFLOAT");
      if (!push(scalar(Kind::Float))) return false;
      break;
    }
    case 'S':
      if (!opString()) return false;
      break;
    case 'V':
      if (!opUnicodeLine()) return false;
      break;
    case 'T': {  // BINSTRING: signed length
      if (!readUint(u, 4, "BINSTRING")) return false;
      if (u & 0x80000000u)
        return fail("pickle.bad-argument", "BINSTRING: negative byte count", op_off_);
      if (!opPayload(u, Kind::Str, false)) return false;
      break;
    }
    case 'U':
      if (!readUint(u, 1, "SHORT_BINSTRING") || !opPayload(u, Kind::Str, false)) return false;
      break;
    case 'X':
      if (!readUint(u, 4, "BINUNICODE") || !opPayload(u, Kind::Str, true)) return false;
      break;
    case 0x8c:
      if (!readUint(u, 1, "SHORT_BINUNICODE") || !opPayload(u, Kind::Str, true)) return false;
      break;
    case 0x8d:
      if (!readUint(u, 8, "BINUNICODE8") || !opPayload(u, Kind::Str, true)) return false;
      break;
    case 'B':
      if (!readUint(u, 4, "BINBYTES") || !opPayload(u, Kind::Bytes, false)) return false;
      break;
    case 'C':
      if (!readUint(u, 1, "SHORT_BINBYTES") || !opPayload(u, Kind::Bytes, false)) return false;
      break;
    case 0x8e:
      if (!readUint(u, 8, "BINBYTES8") || !opPayload(u, Kind::Bytes, false)) return false;
      break;
    case 0x96:
      if (!readUint(u, 8, "BYTEARRAY8") || !opPayload(u, Kind::ByteArray, false)) return false;
      break;
    case ']':
      if (!push(scalar(Kind::List))) return false;
      break;
    case '}':
      if (!push(scalar(Kind::Dict))) return false;
      break;
    case ')':
      if (!push(scalar(Kind::Tuple))) return false;
      break;
    case 0x8f:
      if (!push(scalar(Kind::Set))) return false;
      break;
    case 'l':     // LIST
    case 't':     // TUPLE
    case 'd':     // DICT
    case 0x91: {  // FROZENSET
      if (!popMark(mark)) return false;
      if (mark < fence()) return underflow();
      std::size_t n = stack_.size() - mark;
      if (op == 'd' && n % 2 != 0)
        return fail("pickle.bad-argument", "DICT: odd number of items", op_off_);
      Value v;
      if (op == 't') {
        v = makeTuple(mark);
      } else if (op == 'd') {
        v = scalar(Kind::Dict);
        for (std::size_t i = mark; i + 1 < stack_.size(); i += 2)
          dictSet(v, stack_[i], stack_[i + 1]);
        stack_.resize(mark);
      } else {
        stack_.resize(mark);
        v = scalar(op == 'l' ? Kind::List : Kind::FrozenSet, static_cast<std::int64_t>(n));
      }
      if (!checkBudget() || !push(std::move(v))) return false;
      break;
    }
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1/2/3
      std::size_t n = static_cast<std::size_t>(op - 0x84);
      if (stack_.size() < n || stack_.size() - n < fence()) return underflow();
      Value v = makeTuple(stack_.size() - n);
      if (!checkBudget() || !push(std::move(v))) return false;
      break;
    }
    case 'a': {  // APPEND
      if (stack_.size() < 2 || stack_.size() - 1 <= fence()) return underflow();
      stack_.pop_back();
      mutateTarget(stack_.back());
      if (stack_.back().kind == Kind::List) ++stack_.back().num;
      break;
    }
    case 'e':     // APPENDS
    case 'u':     // SETITEMS
    case 0x90: {  // ADDITEMS
      if (!popMark(mark)) return false;
      if (mark == 0) return underflow();
      std::size_t n = stack_.size() - mark;
      if (op == 'u' && n % 2 != 0)
        return fail("pickle.bad-argument", "SETITEMS: odd number of items", op_off_);
      if (n > 0) {
        Value& target = stack_[mark - 1];
        mutateTarget(target);
        if (op == 'u' && target.kind == Kind::Dict) {
          for (std::size_t i = mark; i + 1 < stack_.size(); i += 2)
            dictSet(target, stack_[i], stack_[i + 1]);
        } else if (target.kind == Kind::List || target.kind == Kind::Set) {
          target.num += static_cast<std::int64_t>(n);
        }
      }
      stack_.resize(mark);
      if (!checkBudget()) return false;
      break;
    }
    case 's': {  // SETITEM (_pickle.c does not check the mark fence here)
      if (stack_.size() < 3) return underflow();
      Value& target = stack_[stack_.size() - 3];
      mutateTarget(target);
      if (target.kind == Kind::Dict) dictSet(target, stack_[stack_.size() - 2], stack_.back());
      stack_.resize(stack_.size() - 2);
      if (!checkBudget()) return false;
      break;
    }
    case 'b': {  // BUILD
      if (stack_.size() < 2 || stack_.size() - 2 < fence()) return underflow();
      Value state = std::move(stack_.back());
      stack_.pop_back();
      if (!build(stack_.back(), state)) return false;
      break;
    }
    case 'c':  // GLOBAL
      if (!opGlobalLines(false)) return false;
      break;
    case 0x93: {  // STACK_GLOBAL
      if (!pop(b) || !pop(a)) return false;
      const StrNode* module = a.kind == Kind::Str ? strOf(a) : nullptr;
      const StrNode* name = b.kind == Kind::Str ? strOf(b) : nullptr;
      if (!module || !name) {
        emit(Verdict::Malicious, "pickle.dynamic-import",
             "STACK_GLOBAL imports a name that is not a constant string: module " + describe(a) +
                 ", name " + describe(b),
             op_off_);
        if (!pushUnresolvedGlobal("<dynamic import>")) return false;
        break;
      }
      if (!importGlobal(module->text, name->text, module->truncated() || name->truncated(),
                        "STACK_GLOBAL")) {
        return false;
      }
      break;
    }
    case 'i': {  // INST: import, then call with the marked items
      if (!popMark(mark)) return false;
      if (mark < fence()) return underflow();
      Value args = makeTuple(mark);
      if (!opGlobalLines(true)) return false;
      Value cls = std::move(stack_.back());
      stack_.pop_back();
      if (!call(cls, args)) return false;
      break;
    }
    case 'o': {  // OBJ: first marked item is the class, the rest are arguments
      if (!popMark(mark)) return false;
      if (mark < fence() || stack_.size() - mark < 1) return underflow();
      Value cls = std::move(stack_[mark]);
      Value args = makeTuple(mark + 1);
      stack_.pop_back();  // the class slot
      if (!call(cls, args)) return false;
      break;
    }
    case 'R': {  // REDUCE
      if (!pop(b) || !pop(a)) return false;
      if (!call(a, b)) return false;
      break;
    }
    case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
      if (!pop(b) || !pop(a)) return false;
      if (!call(a, b)) return false;
      break;
    }
    case 0x92: {  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
      if (!pop(c) || !pop(b) || !pop(a)) return false;
      if (!call(a, b)) return false;  // kwargs (c) are plain values
      break;
    }
    case 'P': {  // PERSID: ASCII line
      Kept line;
      if (!readLine(line, "PERSID")) return false;
      if (!isAscii(line.text))
        return fail("pickle.bad-argument", "PERSID: id is not ASCII", op_off_);
      Value none;
      if (!persistentId(none, line.text)) return false;
      break;
    }
    case 'Q':  // BINPERSID
      if (!pop(a)) return false;
      if (!persistentId(a, repr(a))) return false;
      break;
    case 'g': {  // GET
      bool neg = false, overflow = false;
      if (!readDecimalLine(u, neg, overflow, "GET")) return false;
      if (neg || overflow) return fail("pickle.memo-missing", "GET: memo value not found", op_off_);
      if (!memoGet(u)) return false;
      break;
    }
    case 'h':
      if (!readUint(u, 1, "BINGET") || !memoGet(u)) return false;
      break;
    case 'j':
      if (!readUint(u, 4, "LONG_BINGET") || !memoGet(u)) return false;
      break;
    case 'p': {  // PUT
      bool neg = false, overflow = false;
      if (!readDecimalLine(u, neg, overflow, "PUT")) return false;
      if (neg) return fail("pickle.bad-argument", "PUT: negative index", op_off_);
      if (overflow) return fail("pickle.memo-index", "PUT: memo index out of range", op_off_);
      if (!memoPut(u)) return false;
      break;
    }
    case 'q':
      if (!readUint(u, 1, "BINPUT") || !memoPut(u)) return false;
      break;
    case 'r':
      if (!readUint(u, 4, "LONG_BINPUT") || !memoPut(u)) return false;
      break;
    case 0x94:  // MEMOIZE: index = number of memo entries
      if (!memoPut(memo_.size())) return false;
      break;
    case 0x80: {  // PROTO
      if (!readUint(u, 1, "PROTO")) return false;
      if (u > 5)
        return fail("pickle.bad-argument", "unsupported pickle protocol: " + std::to_string(u),
                    op_off_);
      if (ops_in_pickle_ > 0 && !proto_flagged_) {
        proto_flagged_ = true;
        if (first_proto_ >= 0 && static_cast<int>(u) != first_proto_) {
          emit(Verdict::Suspicious, "pickle.proto-repeated",
               "PROTO " + std::to_string(u) + " after PROTO " + std::to_string(first_proto_) +
                   " switches protocol (and Python 2 name mapping) mid-stream",
               op_off_);
        } else {
          emit(Verdict::Suspicious, "pickle.proto-misplaced",
               "PROTO " + std::to_string(u) + " is not the first opcode of the pickle", op_off_);
        }
      }
      if (first_proto_ < 0) first_proto_ = static_cast<int>(u);
      proto_ = static_cast<int>(u);
      break;
    }
    case 0x82:
    case 0x83:
    case 0x84: {  // EXT1/2/4: import through copyreg's extension registry
      int n = op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
      if (!readUint(u, n, opName(op))) return false;
      std::int64_t code = op == 0x84 ? static_cast<std::int32_t>(static_cast<std::uint32_t>(u))
                                     : static_cast<std::int64_t>(u);
      if (code <= 0)
        return fail("pickle.bad-argument", std::string(opName(op)) + ": extension code <= 0",
                    op_off_);
      emit(Verdict::Malicious, "pickle.ext-import",
           std::string(opName(op)) + " imports extension code " + std::to_string(code) +
               " through copyreg's registry: a global the scanner cannot name",
           op_off_);
      if (!pushUnresolvedGlobal("<copyreg extension " + std::to_string(code) + ">")) return false;
      break;
    }
    case 0x95: {  // FRAME
      if (!readUint(u, 8, "FRAME")) return false;
      if (u > reader_.remaining()) {
        return fail("limit.pickle-length",
                    "FRAME declares " + std::to_string(u) + " bytes but " +
                        std::to_string(reader_.remaining()) + " remain",
                    op_off_);
      }
      if (in_frame_ && op_off_ < frame_end_ && !frame_flagged_) {
        frame_flagged_ = true;
        emit(Verdict::Suspicious, "pickle.frame-mismatch",
             "FRAME starts before the previous frame ends", op_off_);
      }
      in_frame_ = u > 0;  // an empty frame is a no-op for both unpicklers
      frame_end_ = reader_.pos() + u;
      return true;  // the frame bookkeeping below must not see this opcode
    }
    case 0x97:  // NEXT_BUFFER
      return fail("pickle.out-of-band-buffer",
                  "NEXT_BUFFER: out-of-band data but no buffers are provided", op_off_);
    case 0x98:  // READONLY_BUFFER
      if (!top()) return underflow();
      break;
    default:
      return fail("pickle.invalid-opcode", "invalid opcode " + hexByte(op), op_off_);
  }
  if (in_frame_) {
    std::uint64_t p = reader_.pos();
    if (p > frame_end_ && !frame_flagged_) {
      frame_flagged_ = true;
      emit(Verdict::Suspicious, "pickle.frame-mismatch",
           std::string(opName(op)) + " crosses the end of its FRAME (the frame length lies)",
           op_off_);
    }
    if (p >= frame_end_) in_frame_ = false;
  }
  if (joblib_) return readJoblibArray();
  return true;
}

Stop Walker::walkOne() {
  stack_.clear();
  marks_.clear();
  memo_.clear();
  proto_ = 0;
  first_proto_ = -1;
  proto_flagged_ = false;
  ops_in_pickle_ = 0;
  in_frame_ = false;
  for (;;) {
    if (!step()) return Stop::Failed;
    ++ops_in_pickle_;
    ++ops_ok_;
    if (op_ == '.') return Stop::Completed;
    if (sniff_ && ops_ok_ >= kSniffOpcodes) return Stop::Failed;
  }
}

PickleOutcome Walker::run() {
  if (reader_.atEnd()) {
    if (!reader_.ioError()) fail("pickle.empty", "no pickle data", reader_.pos());
    outcome_.end = reader_.pos();
    return outcome_;
  }
  std::uint64_t last_good_end = reader_.pos();
  for (;;) {
    speculative_ = pickle_index_ > 0 && ctx_.trailing_data_ok && !sniff_;
    pending_.clear();
    std::size_t findings_before = findings_;
    Stop s = walkOne();
    if (s == Stop::Completed) {
      ++outcome_.pickles;
      last_good_end = reader_.pos();
      if (speculative_) {
        speculative_ = false;
        for (auto& f : pending_) record(std::move(f));
        pending_.clear();
      }
      ++pickle_index_;
      if (reader_.atEnd() || sniff_ || single_) {
        outcome_.complete = true;
        outcome_.end = reader_.pos();
        break;
      }
      continue;
    }
    if (speculative_) {
      // Trailing data the loader does not unpickle (legacy torch storage): drop what the failed
      // attempt found, except findings that only a crafted payload produces.
      speculative_ = false;
      findings_ = findings_before;
      for (auto& f : pending_) {
        if (f.rule == "pickle.global.denylisted" || f.rule == "pickle.global.dunder") {
          ++findings_;
          record(std::move(f));
        }
      }
      pending_.clear();
      outcome_.complete = true;
      outcome_.end = last_good_end;
      break;
    }
    outcome_.complete = false;
    outcome_.end = reader_.pos();
    break;
  }
  if (suppressed_ > 0 && !sniff_) {
    report_->add(Finding{suppressed_worst_, "pickle.findings-suppressed",
                         std::to_string(suppressed_) + " more findings not listed", ctx_.location,
                         outcome_.end});
  }
  return outcome_;
}

}  // namespace

PickleOutcome walkPickle(ByteSource& source, std::uint64_t begin, const PickleContext& ctx,
                         Report& report) {
  Walker walker(source, begin, ctx, &report);
  return walker.run();
}

bool looksLikePickle(ByteSource& source, std::uint64_t offset) {
  if (offset >= source.size()) return false;
  std::uint64_t avail = source.size() - offset;
  auto head = source.readString(offset, static_cast<std::size_t>(std::min<std::uint64_t>(2, avail)));
  if (!head || head->empty()) return false;
  // PROTO 0-5 (CPython accepts every one of them, pickle.dumps writes 2-5).
  if (static_cast<unsigned char>((*head)[0]) == 0x80) {
    return head->size() == 2 && static_cast<unsigned char>((*head)[1]) <= 5;
  }
  // Protocol 0/1: the first opcodes must parse. The walk reads the real source (no window: a
  // first argument of megabytes must not hide the stream) but stops after kSniffOpcodes, and
  // skips raw payloads without reading them.
  SliceSource rest(source, offset, avail);
  Limits limits;
  PickleContext ctx;
  ctx.limits = &limits;
  ctx.torch_container = true;
  Walker walker(rest, 0, ctx, nullptr, /*sniff=*/true);
  walker.run();
  return walker.completedOne() || walker.opcodesOk() >= 8;
}

}  // namespace hubgate::scan
