// libFuzzer target: http::evaluateRange and http::ifNoneMatchMatches on arbitrary bytes.
//
// Input layout: byte 0 picks how the representation size is chosen, the next 8 bytes feed it
// (and two more u64 feed the structured checks), the rest is "<Range>\n<If-None-Match>\n<etag>".
// Invariants (a violation aborts, which libFuzzer reports as a crash):
// - a Satisfiable range lies within [0, size) with first <= last; other kinds carry {0, 0};
// - OWS around the value and the unit's case do not change the decision;
// - `bytes=a-b`, `bytes=a-`, `bytes=-n` built from numbers match a direct computation;
// - a well-formed etag matches itself, its W/ form, `*`, and any valid list containing it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "oracles.h"
#include "http/range.h"

namespace {

using namespace hubgate::fuzz;

using hubgate::http::ByteRange;
using hubgate::http::evaluateRange;
using hubgate::http::ifNoneMatchMatches;
using hubgate::http::RangeDecision;
using hubgate::http::RangeKind;


class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return v;
  }
  std::string_view rest() const {
    return pos_ < size_
               ? std::string_view(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_)
               : std::string_view();
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Small sizes and numbers exercise the edges; full-width ones exercise overflow.
std::uint64_t shaped(std::uint8_t mode, std::uint64_t raw) {
  switch (mode % 4) {
    case 0:
      return raw % 64;
    case 1:
      return raw;
    case 2:
      return UINT64_MAX - raw % 64;
    default:
      return 0;
  }
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void checkDecision(const RangeDecision& d, std::uint64_t size) {
  if (d.kind == RangeKind::Satisfiable) {
    CHECK(size > 0);
    CHECK(d.range.first <= d.range.last);
    CHECK(d.range.last < size);
    CHECK(d.range.length() >= 1 && d.range.length() <= size);
    const std::string cr = hubgate::http::contentRange(d.range, size);
    CHECK(cr == "bytes " + std::to_string(d.range.first) + "-" + std::to_string(d.range.last) +
                    "/" + std::to_string(size));
  } else {
    CHECK(d.range == ByteRange{});
  }
}

void checkRangeHeader(std::string_view header, std::uint64_t size) {
  const RangeDecision d = evaluateRange(header, size);
  checkDecision(d, size);
  CHECK(evaluateRange(header, size) == d);
  if (trimOws(header).empty()) CHECK(d.kind == RangeKind::None);
  if (size == 0) CHECK(d.kind != RangeKind::Satisfiable);

  std::string padded = " \t";
  padded += header;
  padded += "\t ";
  CHECK(evaluateRange(padded, size) == d);

  if (header.size() >= 6 && std::memcmp(header.data(), "bytes=", 6) == 0) {
    std::string upper = "ByTeS=";
    upper += header.substr(6);
    CHECK(evaluateRange(upper, size) == d);
  }
}

RangeDecision expectedFirstLast(std::uint64_t a, std::uint64_t b, std::uint64_t size) {
  if (a > b) return {};
  if (a >= size) return {RangeKind::Unsatisfiable, {}};
  return {RangeKind::Satisfiable, {a, b < size - 1 ? b : size - 1}};
}

RangeDecision expectedSuffix(std::uint64_t n, std::uint64_t size) {
  if (n == 0 || size == 0) return {RangeKind::Unsatisfiable, {}};
  return {RangeKind::Satisfiable, {n >= size ? 0 : size - n, size - 1}};
}

void checkStructured(std::uint64_t a, std::uint64_t b, std::uint64_t size) {
  const std::string sa = std::to_string(a);
  const std::string sb = std::to_string(b);
  CHECK(evaluateRange("bytes=" + sa + "-" + sb, size) == expectedFirstLast(a, b, size));
  CHECK(evaluateRange("bytes=" + sa + "-", size) == expectedFirstLast(a, UINT64_MAX, size));
  CHECK(evaluateRange("bytes=-" + sb, size) == expectedSuffix(b, size));
  CHECK(evaluateRange("bytes=" + sa + "-" + sb + ", ", size) == expectedFirstLast(a, b, size));
  // Two ranges are always ignored.
  CHECK(evaluateRange("bytes=" + sa + "-" + sb + ",-" + sb, size).kind == RangeKind::None);
  // One digit too many overflows.
  CHECK(evaluateRange("bytes=" + std::to_string(UINT64_MAX) + "0-", size).kind == RangeKind::None);
}

bool isEtagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80; }

void checkConditional(std::string_view if_none_match, std::string_view etag_source) {
  std::string opaque;
  for (char c : etag_source) {
    if (isEtagc(static_cast<unsigned char>(c))) opaque.push_back(c);
  }
  const std::string etag = "\"" + opaque + "\"";
  CHECK(ifNoneMatchMatches(etag, etag));
  CHECK(ifNoneMatchMatches("W/" + etag, etag));
  CHECK(ifNoneMatchMatches(etag, "W/" + etag));
  CHECK(ifNoneMatchMatches("*", etag));
  CHECK(ifNoneMatchMatches("\"x\" ,\t" + etag + ",", etag) == true);
  CHECK(ifNoneMatchMatches(etag + " x", etag) == false);

  const bool matched = ifNoneMatchMatches(if_none_match, etag);
  CHECK(ifNoneMatchMatches(if_none_match, etag) == matched);
  CHECK(ifNoneMatchMatches(" " + std::string(if_none_match) + " ", etag) == matched);
  if (matched && trimOws(if_none_match) != "*") {
    CHECK(ifNoneMatchMatches(std::string(if_none_match) + ", W/\"other\"", etag));
  }
  if (trimOws(if_none_match).empty()) CHECK(!matched);
  // Arbitrary bytes as our etag: never a crash.
  (void)ifNoneMatchMatches(if_none_match, etag_source);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  const std::uint8_t mode = in.byte();
  const std::uint64_t rep_size = shaped(mode, in.u64());
  const std::uint64_t a = shaped(static_cast<std::uint8_t>(mode >> 2), in.u64());
  const std::uint64_t b = shaped(static_cast<std::uint8_t>(mode >> 4), in.u64());

  std::string_view text = in.rest();
  const auto nl1 = text.find('\n');
  const std::string_view range_header = text.substr(0, nl1);
  std::string_view if_none_match;
  std::string_view etag_source;
  if (nl1 != std::string_view::npos) {
    std::string_view tail = text.substr(nl1 + 1);
    const auto nl2 = tail.find('\n');
    if_none_match = tail.substr(0, nl2);
    if (nl2 != std::string_view::npos) etag_source = tail.substr(nl2 + 1);
  }

  checkRangeHeader(range_header, rep_size);
  checkStructured(a, b, rep_size);
  checkConditional(if_none_match, etag_source);
  return 0;
}
