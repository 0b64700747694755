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

#include "oracles.h"
#include "hub/repo_path.h"

namespace {

using namespace hubgate::fuzz;

using hubgate::ErrorCode;
using hubgate::Result;
using hubgate::hub::FileRef;
using hubgate::hub::ResolveTarget;


bool isUnreservedOrPercent(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '%';
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
