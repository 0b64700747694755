#include "base/glob.h"

#include <string>

namespace hubgate {

bool globMatch(std::string_view p, std::string_view t) {
  // Iterative wildcard match with single-star backtracking: O(|p| * |t|) worst case.
  std::size_t pi = 0, ti = 0;
  std::size_t star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {  // before the literal test: '*' in the text is literal
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Result<void> validateGlob(std::string_view pattern) {
  if (pattern.empty()) return fail(ErrorCode::InvalidArgument, "empty repo glob");
  if (pattern.size() > 200) return fail(ErrorCode::InvalidArgument, "repo glob longer than 200 characters");
  for (char c : pattern) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail(ErrorCode::InvalidArgument, "repo glob contains a control character");
    }
  }
  return {};
}

}  // namespace hubgate
