// Range and conditional-request header evaluation (RFC 9110 §14 and §13.1.2).
//
// Pure functions over hostile header values, no I/O and no Beast; thread-safe. They decide
// what to send (200 / 206 / 416, 304) given the header text and the representation; writing
// the response is the caller's job. Only single byte ranges are served: anything this module
// does not understand is ignored (RangeKind::None, i.e. a full 200), which RFC 9110 allows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hubgate::http {

// Inclusive byte range [first, last].
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;

  // REQUIRES: first <= last.
  std::uint64_t length() const { return last - first + 1; }

  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

enum class RangeKind {
  None,           // no Range, or one to ignore: serve the whole representation (200)
  Satisfiable,    // serve `range` (206)
  Unsatisfiable,  // 416 with unsatisfiedContentRange(size)
};

struct RangeDecision {
  RangeKind kind = RangeKind::None;
  ByteRange range;  // meaningful only when kind == Satisfiable (else {0, 0})

  friend bool operator==(const RangeDecision&, const RangeDecision&) = default;
};

// Evaluates a Range header value against a representation of `size` bytes.
//   ""                    -> None
//   bytes=a-b             -> [a, min(b, size-1)]       (a > b: None)
//   bytes=a-              -> [a, size-1]
//   bytes=-n              -> the last n bytes (n >= size: the whole; n == 0: Unsatisfiable)
//   start >= size         -> Unsatisfiable; with size == 0 every valid range is Unsatisfiable
// The unit is case-insensitive; OWS is allowed around the value and around list commas
// (empty list elements are skipped), nowhere else (`bytes = 0-0` is ignored). Other units,
// more than one range, malformed syntax and numbers that overflow uint64 -> None.
RangeDecision evaluateRange(std::string_view header_value, std::uint64_t size);

// "bytes a-b/size" for a 206.
std::string contentRange(const ByteRange& range, std::uint64_t size);
// "bytes */size" for a 416.
std::string unsatisfiedContentRange(std::uint64_t size);

// Whether an If-None-Match value matches `etag` (as we send it, quoted: "abc" or W/"abc")
// under weak comparison: `*` matches any etag; otherwise a comma-separated list of entity
// tags (OWS and empty elements allowed, `W/` ignored on both sides) matches when one opaque
// tag equals etag's. A malformed header or etag -> false.
bool ifNoneMatchMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace hubgate::http
