// Independent oracles shared by the libFuzzer targets: the invariant check that aborts (which
// libFuzzer reports as a crash), and re-implementations of the grammar rules the parsers enforce,
// written separately from the parsers so that a shared mistake cannot hide.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "hub/repo_path.h"

namespace hubgate::fuzz {

inline void check(bool ok, const char* what, const char* file) {
  if (!ok) {
    std::fprintf(stderr, "%s: invariant violated: %s\n", file, what);
    std::abort();
  }
}

inline // Well-formed UTF-8 per Unicode Table 3-7 (an implementation independent of the parser's).
bool wellFormedUtf8(std::string_view s) {
  auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    unsigned char b = at(i);
    if (b <= 0x7F) {
      i += 1;
    } else if (in(b, 0xC2, 0xDF)) {
      if (i + 1 >= n || !in(at(i + 1), 0x80, 0xBF)) return false;
      i += 2;
    } else if (in(b, 0xE0, 0xEF)) {
      if (i + 2 >= n) return false;
      unsigned lo = b == 0xE0 ? 0xA0 : 0x80;
      unsigned hi = b == 0xED ? 0x9F : 0xBF;
      if (!in(at(i + 1), lo, hi) || !in(at(i + 2), 0x80, 0xBF)) return false;
      i += 3;
    } else if (in(b, 0xF0, 0xF4)) {
      if (i + 3 >= n) return false;
      unsigned lo = b == 0xF0 ? 0x90 : 0x80;
      unsigned hi = b == 0xF4 ? 0x8F : 0xBF;
      if (!in(at(i + 1), lo, hi) || !in(at(i + 2), 0x80, 0xBF) || !in(at(i + 3), 0x80, 0xBF)) {
        return false;
      }
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

inline // '/'-separated components: none empty, '.' or '..'; no control bytes or backslashes.
bool safeComponents(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || c == '\\') return false;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t end = s.find('/', start);
    std::string_view part = s.substr(start, end == std::string_view::npos ? end : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

inline bool validRepoName(std::string_view s) {
  if (s.empty() || s.size() > hubgate::hub::kMaxRepoSegmentLength) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (i == 0 ? !alnum : !(alnum || c == '.' || c == '_' || c == '-')) return false;
  }
  return s.find("..") == std::string_view::npos && !s.ends_with(".git");
}

inline bool validRepo(std::string_view repo) {
  auto slash = repo.find('/');
  if (slash == std::string_view::npos) return validRepoName(repo);
  return validRepoName(repo.substr(0, slash)) && validRepoName(repo.substr(slash + 1));
}

}  // namespace hubgate::fuzz

#define CHECK(cond) ::hubgate::fuzz::check((cond), #cond, __FILE__)
