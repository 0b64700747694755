// libFuzzer target: hub::parseApiTarget, the query codecs and the paths-info form body on
// arbitrary bytes.
//
// Invariants checked on every input (a violation aborts, which libFuzzer reports as a crash):
// - a parse fails only with NotFound (exactly when the target does not start with "/api/")
//   or InvalidArgument, and with a non-empty message;
// - a parsed ApiTarget obeys the grammar, checked here by an independent implementation:
//   repo ids, revisions and tree paths, which fields each kind fills, no control characters
//   in the query;
// - for the five repo kinds, apiTargetFor(t, t.revision) parses back to t with its query in
//   canonical order (unless it outgrows the length limit, then it is refused), and is a
//   fixed point;
// - canonicalQuery emits only unreserved characters, '%XX', '=' and '&', and queryValue
//   returns the first value of a key;
// - parsePathsInfoBody (form) yields valid paths, and its canonical body parses back to the
//   same de-duplicated, sorted set.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "oracles.h"
#include "hub/api_path.h"
#include "hub/paths_info.h"

namespace {

using namespace hubgate::fuzz;

using hubgate::ErrorCode;
using hubgate::Result;
using hubgate::hub::ApiKind;
using hubgate::hub::ApiTarget;
using hubgate::hub::QueryParam;


bool noControl(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7F;
  });
}





std::vector<QueryParam> sorted(std::vector<QueryParam> q) {
  std::stable_sort(q.begin(), q.end(), [](const QueryParam& a, const QueryParam& b) {
    return std::tie(a.key, a.value) < std::tie(b.key, b.value);
  });
  return q;
}

void checkQuery(const std::vector<QueryParam>& query) {
  for (const QueryParam& p : query) CHECK(noControl(p.key) && noControl(p.value));
  const std::string canonical = hubgate::hub::canonicalQuery(query);
  for (char c : canonical) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              std::string_view("-._~%=&").find(c) != std::string_view::npos;
    CHECK(ok);
  }
  CHECK(canonical.empty() == query.empty());
  if (!query.empty()) {
    const std::string& key = query.front().key;
    CHECK(hubgate::hub::queryValue(query, key) == query.front().value);
    // Dropping a key removes exactly its params: pieces are `enc(key)=enc(value)`.
    const std::string dropped = hubgate::hub::canonicalQuery(query, {std::string_view(key)});
    const std::string prefix = hubgate::hub::encodeRevision(key) + "=";
    std::size_t kept = 0;
    for (const QueryParam& p : query) kept += p.key != key ? 1 : 0;
    std::size_t pieces = 0;
    std::size_t start = 0;
    while (!dropped.empty()) {
      std::size_t end = dropped.find('&', start);
      std::string_view piece =
          std::string_view(dropped).substr(start, end == std::string::npos ? end : end - start);
      CHECK(!piece.starts_with(prefix));
      ++pieces;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    CHECK(pieces == kept);
  }
}

void checkParsed(std::string_view input, const ApiTarget& t) {
  checkQuery(t.query);
  if (!t.repo.empty()) CHECK(validRepo(t.repo));
  switch (t.kind) {
    case ApiKind::RepoInfo:
      CHECK(!t.repo.empty() && t.path.empty());
      if (!t.revision.empty()) CHECK(safeComponents(t.revision) && wellFormedUtf8(t.revision));
      break;
    case ApiKind::Tree:
      CHECK(!t.repo.empty());
      CHECK(safeComponents(t.revision) && wellFormedUtf8(t.revision));
      if (!t.path.empty()) CHECK(safeComponents(t.path) && wellFormedUtf8(t.path));
      break;
    case ApiKind::PathsInfo:
    case ApiKind::XetToken:
      CHECK(!t.repo.empty() && t.path.empty());
      CHECK(safeComponents(t.revision) && wellFormedUtf8(t.revision));
      break;
    case ApiKind::Refs:
    case ApiKind::Other:
      CHECK(t.revision.empty() && t.path.empty());
      if (t.kind == ApiKind::Refs) CHECK(!t.repo.empty());
      if (t.kind == ApiKind::Other) CHECK(hubgate::hub::apiTargetFor(t, "main").empty());
      return;
  }
  if (t.revision.starts_with("refs/pr/")) {
    std::string_view n = std::string_view(t.revision).substr(8);
    CHECK(!n.empty() &&
          std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }));
  }
  (void)input;
}

void checkRoundTrip(const ApiTarget& t) {
  if (t.kind == ApiKind::Other) return;
  const std::string canonical = hubgate::hub::apiTargetFor(t, t.revision);
  const auto again = hubgate::hub::parseApiTarget(canonical);
  if (canonical.size() > hubgate::hub::kMaxTargetLength) {
    CHECK(!again.has_value() && again.error().code == ErrorCode::InvalidArgument);
    return;
  }
  CHECK(again.has_value());
  CHECK(again->kind == t.kind);
  CHECK(again->type == t.type);
  CHECK(again->repo == t.repo);
  CHECK(again->revision == t.revision);
  CHECK(again->path == t.path);
  CHECK(again->query == sorted(t.query));
  CHECK(hubgate::hub::apiTargetFor(*again, again->revision) == canonical);
}

void checkPathsInfoForm(std::string_view input) {
  const auto q = hubgate::hub::parsePathsInfoBody("application/x-www-form-urlencoded", input);
  if (!q) {
    CHECK(q.error().code == ErrorCode::InvalidArgument && !q.error().context.empty());
    return;
  }
  for (const std::string& p : q->paths) CHECK(safeComponents(p) && wellFormedUtf8(p));
  const std::string body = hubgate::hub::pathsInfoFormBody(*q);
  const auto again = hubgate::hub::parsePathsInfoBody("application/x-www-form-urlencoded", body);
  CHECK(again.has_value());
  std::vector<std::string> want = q->paths;
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  CHECK(again->paths == want);
  CHECK(again->expand == q->expand);
  CHECK(hubgate::hub::pathsInfoFormBody(*again) == body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  checkPathsInfoForm(input);

  const Result<ApiTarget> parsed = hubgate::hub::parseApiTarget(input);
  if (!parsed) {
    const auto code = parsed.error().code;
    CHECK(!parsed.error().context.empty());
    if (size > hubgate::hub::kMaxTargetLength) {
      CHECK(code == ErrorCode::InvalidArgument);
    } else {
      const bool api = input.substr(0, input.find('?')).starts_with("/api/");
      CHECK(code == (api ? ErrorCode::InvalidArgument : ErrorCode::NotFound));
    }
    return 0;
  }
  CHECK(size <= hubgate::hub::kMaxTargetLength);
  CHECK(input.starts_with("/api/"));
  checkParsed(input, *parsed);
  checkRoundTrip(*parsed);
  return 0;
}
