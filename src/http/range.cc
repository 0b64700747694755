#include "http/range.h"

#include <optional>

namespace hubgate::http {

namespace {

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

bool equalsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// 1*DIGIT; nullopt when empty, not all digits, or overflowing uint64.
std::optional<std::uint64_t> parseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// The one range-spec of a `bytes=` range-set, or nullopt if there are zero or several.
// OWS is allowed around commas, not before the first element (it would follow '=').
std::optional<std::string_view> singleRangeSpec(std::string_view set) {
  if (!set.empty() && isOws(set.front())) return std::nullopt;
  std::optional<std::string_view> only;
  while (true) {
    auto comma = set.find(',');
    std::string_view element = trimOws(set.substr(0, comma));
    if (!element.empty()) {
      if (only) return std::nullopt;
      only = element;
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  return only;
}

RangeDecision unsatisfiable() { return {RangeKind::Unsatisfiable, {}}; }

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
// Parses one at the front of `s`, sets `opaque` to the text between the quotes and consumes it.
bool consumeEntityTag(std::string_view& s, std::string_view& opaque) {
  if (s.starts_with("W/")) s.remove_prefix(2);
  if (s.empty() || s.front() != '"') return false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      opaque = s.substr(1, i - 1);
      s.remove_prefix(i + 1);
      return true;
    }
    if (!(c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80)) return false;
  }
  return false;  // no closing quote
}

}  // namespace

RangeDecision evaluateRange(std::string_view header_value, std::uint64_t size) {
  const std::string_view value = trimOws(header_value);
  if (value.empty()) return {};
  const auto eq = value.find('=');
  if (eq == std::string_view::npos || !equalsIgnoreCase(value.substr(0, eq), "bytes")) return {};
  const auto spec = singleRangeSpec(value.substr(eq + 1));
  if (!spec) return {};
  const auto dash = spec->find('-');
  if (dash == std::string_view::npos) return {};

  if (dash == 0) {  // suffix-range: -n
    const auto n = parseNumber(spec->substr(1));
    if (!n) return {};
    if (*n == 0 || size == 0) return unsatisfiable();
    const std::uint64_t first = *n >= size ? 0 : size - *n;
    return {RangeKind::Satisfiable, {first, size - 1}};
  }

  const auto first = parseNumber(spec->substr(0, dash));
  if (!first) return {};
  const std::string_view last_text = spec->substr(dash + 1);
  std::optional<std::uint64_t> last;
  if (!last_text.empty()) {
    last = parseNumber(last_text);
    if (!last || *last < *first) return {};
  }
  if (*first >= size) return unsatisfiable();
  const std::uint64_t end = (last && *last < size - 1) ? *last : size - 1;
  return {RangeKind::Satisfiable, {*first, end}};
}

std::string contentRange(const ByteRange& range, std::uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(size);
}

std::string unsatisfiedContentRange(std::uint64_t size) {
  return "bytes */" + std::to_string(size);
}

bool ifNoneMatchMatches(std::string_view if_none_match, std::string_view etag) {
  const std::string_view value = trimOws(if_none_match);
  if (value == "*") return true;

  std::string_view ours;
  std::string_view rest = etag;
  if (!consumeEntityTag(rest, ours) || !rest.empty()) return false;

  bool matched = false;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && isOws(value[i])) ++i;
    if (i == value.size()) break;
    if (value[i] == ',') {  // empty list element
      ++i;
      continue;
    }
    std::string_view tail = value.substr(i);
    std::string_view opaque;
    if (!consumeEntityTag(tail, opaque)) return false;
    matched = matched || opaque == ours;
    i = value.size() - tail.size();
    while (i < value.size() && isOws(value[i])) ++i;
    if (i < value.size()) {
      if (value[i] != ',') return false;
      ++i;
    }
  }
  return matched;
}

}  // namespace hubgate::http
