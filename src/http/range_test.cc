#include "http/range.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::http {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

struct RangeCase {
  std::string header;
  std::uint64_t size;
  RangeKind kind;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

TEST(EvaluateRange, Table) {
  using enum RangeKind;
  const std::vector<RangeCase> cases = {
      // No header.
      {"", 10, None},
      {"  \t", 10, None},
      // bytes=a-b, clamped to the end (the 100 000-byte probe on a small file).
      {"bytes=0-0", 10, Satisfiable, 0, 0},
      {"bytes=0-9", 10, Satisfiable, 0, 9},
      {"bytes=2-5", 10, Satisfiable, 2, 5},
      {"bytes=0-100000", 10, Satisfiable, 0, 9},
      {"bytes=9-9", 10, Satisfiable, 9, 9},
      {"bytes=000-001", 10, Satisfiable, 0, 1},
      // bytes=a-
      {"bytes=5-", 10, Satisfiable, 5, 9},
      {"bytes=0-", 10, Satisfiable, 0, 9},
      {"bytes=9-", 10, Satisfiable, 9, 9},
      // bytes=-n
      {"bytes=-3", 10, Satisfiable, 7, 9},
      {"bytes=-1", 10, Satisfiable, 9, 9},
      {"bytes=-10", 10, Satisfiable, 0, 9},
      {"bytes=-11", 10, Satisfiable, 0, 9},
      {"bytes=-0", 10, Unsatisfiable},
      // Start at or past the end.
      {"bytes=10-", 10, Unsatisfiable},
      {"bytes=10-20", 10, Unsatisfiable},
      {"bytes=11-11", 10, Unsatisfiable},
      // Empty representation: every valid range is unsatisfiable.
      {"bytes=0-0", 0, Unsatisfiable},
      {"bytes=0-", 0, Unsatisfiable},
      {"bytes=-5", 0, Unsatisfiable},
      {"bytes=-0", 0, Unsatisfiable},
      {"bytes=5-2", 0, None},
      {"bytes=x", 0, None},
      // Unit is case-insensitive; OWS around the value and around commas.
      {"BYTES=0-1", 10, Satisfiable, 0, 1},
      {"Bytes=0-1", 10, Satisfiable, 0, 1},
      {" bytes=0-1 ", 10, Satisfiable, 0, 1},
      {"\tbytes=0-1\t", 10, Satisfiable, 0, 1},
      {"bytes=0-1,", 10, Satisfiable, 0, 1},
      {"bytes=0-1 , ", 10, Satisfiable, 0, 1},
      {"bytes=0-1\t,\t", 10, Satisfiable, 0, 1},
      {"bytes=,0-1", 10, Satisfiable, 0, 1},
      {"bytes=, 0-1", 10, Satisfiable, 0, 1},
      // OWS anywhere else.
      {"bytes = 0-0", 10, None},
      {"bytes =0-0", 10, None},
      {"bytes= 0-0", 10, None},
      {"bytes=0 -0", 10, None},
      {"bytes=0- 1", 10, None},
      {"bytes=- 1", 10, None},
      // Multiple ranges are ignored.
      {"bytes=0-1,5-6", 10, None},
      {"bytes=0-1, 5-6", 10, None},
      {"bytes=-1,-2", 10, None},
      {"bytes=0-1,0-1", 10, None},
      // Malformed syntax and other units.
      {"bytes=", 10, None},
      {"bytes=,", 10, None},
      {"bytes=-", 10, None},
      {"bytes=a-b", 10, None},
      {"bytes=1", 10, None},
      {"bytes=0x1-2", 10, None},
      {"bytes=+1-2", 10, None},
      {"bytes=1-2-3", 10, None},
      {"bytes=--1", 10, None},
      {"bytes=1-+2", 10, None},
      {"bytes=0-1;x", 10, None},
      {"bytes=0-1 x", 10, None},
      {"bytes==0-1", 10, None},
      {"bytes0-1", 10, None},
      {"=0-1", 10, None},
      {"items=0-1", 10, None},
      {"bytesx=0-1", 10, None},
      {"0-1", 10, None},
      {std::string("bytes=0-1\0", 10), 10, None},
      // a > b is invalid, not unsatisfiable.
      {"bytes=5-2", 10, None},
      {"bytes=20-15", 10, None},
      // uint64 limits.
      {"bytes=0-18446744073709551615", 10, Satisfiable, 0, 9},
      {"bytes=0-18446744073709551616", 10, None},
      {"bytes=18446744073709551616-", 10, None},
      {"bytes=-18446744073709551616", 10, None},
      {"bytes=-99999999999999999999999", 10, None},
      {"bytes=-18446744073709551615", 10, Satisfiable, 0, 9},
      {"bytes=18446744073709551615-", kMax, Unsatisfiable},
      {"bytes=18446744073709551614-", kMax, Satisfiable, kMax - 1, kMax - 1},
      {"bytes=0-", kMax, Satisfiable, 0, kMax - 1},
      {"bytes=-1", kMax, Satisfiable, kMax - 1, kMax - 1},
  };
  for (const RangeCase& c : cases) {
    SCOPED_TRACE("'" + c.header + "' size " + std::to_string(c.size));
    RangeDecision d = evaluateRange(c.header, c.size);
    EXPECT_EQ(d.kind, c.kind);
    if (c.kind == RangeKind::Satisfiable) {
      EXPECT_EQ(d.range.first, c.first);
      EXPECT_EQ(d.range.last, c.last);
    } else {
      EXPECT_EQ(d.range, ByteRange{});
    }
  }
}

TEST(ByteRange, Length) {
  EXPECT_EQ((ByteRange{0, 0}).length(), 1u);
  EXPECT_EQ((ByteRange{7, 9}).length(), 3u);
  EXPECT_EQ((ByteRange{0, kMax - 1}).length(), kMax);
}

TEST(ContentRange, Format) {
  EXPECT_EQ(contentRange({0, 0}, 10), "bytes 0-0/10");
  EXPECT_EQ(contentRange({5, 9}, 10), "bytes 5-9/10");
  EXPECT_EQ(contentRange({0, kMax - 1}, kMax), "bytes 0-18446744073709551614/18446744073709551615");
  EXPECT_EQ(unsatisfiedContentRange(10), "bytes */10");
  EXPECT_EQ(unsatisfiedContentRange(0), "bytes */0");
}

struct MatchCase {
  std::string if_none_match;
  std::string etag;
  bool matches;
};

TEST(IfNoneMatch, Table) {
  const std::string abc = "\"abc\"";
  const std::vector<MatchCase> cases = {
      {"*", abc, true},
      {" * ", abc, true},
      {abc, abc, true},
      {" " + abc + " ", abc, true},
      // Weak comparison: W/ ignored on either side.
      {"W/\"abc\"", abc, true},
      {abc, "W/\"abc\"", true},
      {"W/\"abc\"", "W/\"abc\"", true},
      // Lists, OWS, empty elements.
      {"\"xyz\", \"abc\"", abc, true},
      {"\"xyz\" ,\t\"abc\" ", abc, true},
      {"\"xyz\",W/\"abc\"", abc, true},
      {", \"abc\"", abc, true},
      {"\"abc\",,", abc, true},
      {"\"xyz\"", abc, false},
      {"\"xyz\", \"abd\"", abc, false},
      {"\"ABC\"", abc, false},
      {"\"abc \"", abc, false},
      // Commas are legal inside an opaque tag; so is an empty tag and obs-text.
      {"\"a,b\"", "\"a,b\"", true},
      {"\"a,b\"", "\"a\"", false},
      {"\"\"", "\"\"", true},
      {"\"caf\xC3\xA9\"", "\"caf\xC3\xA9\"", true},
      // Malformed headers never match.
      {"", abc, false},
      {",,", abc, false},
      {"abc", abc, false},
      {"\"abc", abc, false},
      {"abc\"", abc, false},
      {"\"abc\" \"def\"", abc, false},
      {"\"abc\"x", abc, false},
      {"\"abc\", bogus", abc, false},
      {"bogus, \"abc\"", abc, false},
      {"w/\"abc\"", abc, false},
      {"W/ \"abc\"", abc, false},
      {"W/abc", abc, false},
      {"*, \"abc\"", abc, false},
      {"\"ab c\"", "\"ab c\"", false},
      {"\"a\x01\"", "\"a\x01\"", false},
      {std::string("\"a\0\"", 4), std::string("\"a\0\"", 4), false},
      // A malformed etag never matches, except for *.
      {abc, "abc", false},
      {"\"abc\"", "\"abc\" ", false},
      {"\"abc\"", "", false},
      {"*", "", true},
  };
  for (const MatchCase& c : cases) {
    SCOPED_TRACE("If-None-Match '" + c.if_none_match + "' etag '" + c.etag + "'");
    EXPECT_EQ(ifNoneMatchMatches(c.if_none_match, c.etag), c.matches);
  }
}

}  // namespace
}  // namespace hubgate::http
