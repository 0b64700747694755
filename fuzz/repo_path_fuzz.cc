// libFuzzer target: hub::parseResolveTarget and the percent codecs on arbitrary bytes.
//
// Invariants checked on every input (a violation aborts, which libFuzzer reports as a crash):
// - percentDecode inverts encodeRevision and encodePath; the encoders emit only unreserved
//   characters, '%XX' and (encodePath) '/';
// - a parse fails only with NotFound or InvalidArgument, and a non-empty message;
// - a parsed FileRef obeys the grammar, checked here by an independent implementation;
// - resolveTargetFor(file) parses back to the same FileRef (unless it outgrows the length
//   limit, then it is refused), and a resolve-cache target rebuilt from its parts parses back;
// - the query string does not influence the result.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hub/repo_path.h"

namespace {

using hubgate::ErrorCode;
using hubgate::Result;
using hubgate::hub::FileRef;
using hubgate::hub::ResolveTarget;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "repo_path_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}
#define CHECK(cond) check((cond), #cond)

bool isUnreservedOrPercent(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '%';
}

// Well-formed UTF-8 per Unicode Table 3-7 (an implementation independent of the parser's).
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

// '/'-separated components: none empty, '.' or '..'; no control bytes or backslashes.
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

bool validRepoName(std::string_view s) {
  if (s.empty() || s.size() > hubgate::hub::kMaxRepoSegmentLength) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (i == 0 ? !alnum : !(alnum || c == '.' || c == '_' || c == '-')) return false;
  }
  return s.find("..") == std::string_view::npos && !s.ends_with(".git");
}

bool validRepo(std::string_view repo) {
  auto slash = repo.find('/');
  if (slash == std::string_view::npos) return validRepoName(repo);
  return validRepoName(repo.substr(0, slash)) && validRepoName(repo.substr(slash + 1));
}

bool sameOutcome(const Result<ResolveTarget>& a, const Result<ResolveTarget>& b) {
  if (a.has_value() != b.has_value()) return false;
  return a ? *a == *b : a.error().code == b.error().code;
}

void checkCodecs(std::string_view input) {
  const std::string rev = hubgate::hub::encodeRevision(input);
  for (char c : rev) CHECK(isUnreservedOrPercent(c));
  auto decoded_rev = hubgate::hub::percentDecode(rev);
  CHECK(decoded_rev.has_value() && *decoded_rev == input);

  const std::string path = hubgate::hub::encodePath(input);
  for (char c : path) CHECK(isUnreservedOrPercent(c) || c == '/');
  auto decoded_path = hubgate::hub::percentDecode(path);
  CHECK(decoded_path.has_value() && *decoded_path == input);

  auto decoded = hubgate::hub::percentDecode(input);
  if (decoded) CHECK(decoded->size() <= input.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hubgate::hub;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  checkCodecs(input);

  const Result<ResolveTarget> parsed = parseResolveTarget(input);
  if (input.find('?') == std::string_view::npos && size + 4 <= kMaxTargetLength) {
    CHECK(sameOutcome(parsed, parseResolveTarget(std::string(input) + "?a=b")));
  }
  if (!parsed) {
    const auto code = parsed.error().code;
    CHECK(code == ErrorCode::NotFound || code == ErrorCode::InvalidArgument);
    CHECK(!parsed.error().context.empty());
    if (size > kMaxTargetLength) CHECK(code == ErrorCode::InvalidArgument);
    return 0;
  }
  CHECK(size <= kMaxTargetLength);

  const FileRef& file = parsed->file;
  CHECK(validRepo(file.repo));
  CHECK(safeComponents(file.revision) && wellFormedUtf8(file.revision));
  CHECK(safeComponents(file.path) && wellFormedUtf8(file.path));
  if (parsed->resolve_cache) CHECK(isCommitHash(file.revision));

  // The canonical upstream target parses back to the same file.
  const std::string canonical = resolveTargetFor(file);
  const auto again = parseResolveTarget(canonical);
  if (canonical.size() <= kMaxTargetLength) {
    CHECK(again.has_value());
    CHECK(again->file == file);
    CHECK(!again->resolve_cache);
    CHECK(resolveTargetFor(again->file) == canonical);
  } else {
    CHECK(!again.has_value() && again.error().code == ErrorCode::InvalidArgument);
  }

  // A resolve-cache target rebuilt from its parts parses back to the same file.
  if (parsed->resolve_cache) {
    std::string rebuilt = "/api/resolve-cache/";
    rebuilt += repoTypePlural(file.type);
    rebuilt += "/" + file.repo + "/" + file.revision + "/" + encodePath(file.path);
    const auto cache_again = parseResolveTarget(rebuilt);
    if (rebuilt.size() <= kMaxTargetLength) {
      CHECK(cache_again.has_value());
      CHECK(cache_again->file == file);
      CHECK(cache_again->resolve_cache);
    }
  }
  return 0;
}
