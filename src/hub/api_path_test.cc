#include "hub/api_path.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::hub {
namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

struct OkCase {
  std::string target;
  ApiKind kind;
  RepoType type;
  std::string repo;
  std::string revision = {};
  std::string path = {};
  std::vector<QueryParam> query = {};
};

std::vector<OkCase> okCases() {
  using enum ApiKind;
  using enum RepoType;
  return {
      // Repo info, with and without revision, all types, legacy ids.
      {"/api/models/org/name", RepoInfo, Model, "org/name"},
      {"/api/models/gpt2", RepoInfo, Model, "gpt2"},
      {"/api/datasets/org/ds", RepoInfo, Dataset, "org/ds"},
      {"/api/spaces/org/app", RepoInfo, Space, "org/app"},
      {"/api/models/org/name/revision/main", RepoInfo, Model, "org/name", "main"},
      {"/api/models/gpt2/revision/main", RepoInfo, Model, "gpt2", "main"},
      {"/api/models/org/name/revision/HEAD", RepoInfo, Model, "org/name", "HEAD"},
      {"/api/models/org/name/revision/" + kCommit, RepoInfo, Model, "org/name", kCommit},
      {"/api/models/org/name/revision/refs%2Fpr%2F1", RepoInfo, Model, "org/name", "refs/pr/1"},
      {"/api/models/org/name/revision/refs/pr/1", RepoInfo, Model, "org/name", "refs/pr/1"},
      {"/api/datasets/org/ds/revision/refs/convert/parquet", RepoInfo, Dataset, "org/ds",
       "refs/convert/parquet"},
      {"/api/models/org/name/revision/v1.0%2Bbuild", RepoInfo, Model, "org/name", "v1.0+build"},
      {"/api/models/org/name/revision/caf%C3%A9", RepoInfo, Model, "org/name", "caf\xC3\xA9"},
      // Query: decoded, in order, '+' is a space, pieces without '=' have an empty value.
      {"/api/models/org/name?expand%5B%5D=likes&expand%5B%5D=sha",
       RepoInfo,
       Model,
       "org/name",
       "",
       "",
       {{"expand[]", "likes"}, {"expand[]", "sha"}}},
      {"/api/models/org/name?blobs=true&&securityStatus&q=a+b%2Bc",
       RepoInfo,
       Model,
       "org/name",
       "",
       "",
       {{"blobs", "true"}, {"securityStatus", ""}, {"q", "a b+c"}}},
      {"/api/models/org/name?x=/../..", RepoInfo, Model, "org/name", "", "", {{"x", "/../.."}}},
      // Tree: Python encodes revision and '/' of the sub-path, JS sends both raw.
      {"/api/models/org/name/tree/main", Tree, Model, "org/name", "main"},
      {"/api/models/org/name/tree/main?recursive=true&expand=false",
       Tree,
       Model,
       "org/name",
       "main",
       "",
       {{"recursive", "true"}, {"expand", "false"}}},
      {"/api/models/org/name/tree/main/sub%20dir%2Fa", Tree, Model, "org/name", "main",
       "sub dir/a"},
      {"/api/models/org/name/tree/main/sub%20dir/a", Tree, Model, "org/name", "main", "sub dir/a"},
      {"/api/models/org/name/tree/refs%2Fpr%2F1/sub", Tree, Model, "org/name", "refs/pr/1", "sub"},
      {"/api/models/org/name/tree/refs/pr/1", Tree, Model, "org/name", "refs/pr/1"},
      {"/api/models/org/name/tree/refs/pr/1/sub/dir", Tree, Model, "org/name", "refs/pr/1",
       "sub/dir"},
      {"/api/models/org/name/tree/refs/pr%2F7/x", Tree, Model, "org/name", "refs/pr/7", "x"},
      {"/api/datasets/org/ds/tree/refs/convert/parquet/default", Tree, Dataset, "org/ds",
       "refs/convert/parquet", "default"},
      {"/api/models/org/name/tree/refs/prefix", Tree, Model, "org/name", "refs", "prefix"},
      {"/api/models/org/name/tree/refs/pr", Tree, Model, "org/name", "refs", "pr"},
      {"/api/models/gpt2/tree/main/onnx", Tree, Model, "gpt2", "main", "onnx"},
      {"/api/models/org/name/tree/main/%E6%97%A5%E6%9C%AC", Tree, Model, "org/name", "main",
       "\xE6\x97\xA5\xE6\x9C\xAC"},
      {"/api/models/org/name/tree/main/a+b/100%25", Tree, Model, "org/name", "main", "a+b/100%"},
      {"/api/models/org/name/tree/main/a..b/...", Tree, Model, "org/name", "main", "a..b/..."},
      // Paths-info, refs, xet token.
      {"/api/models/org/name/paths-info/main", PathsInfo, Model, "org/name", "main"},
      {"/api/datasets/org/ds/paths-info/refs%2Fconvert%2Fparquet", PathsInfo, Dataset, "org/ds",
       "refs/convert/parquet"},
      {"/api/models/gpt2/paths-info/refs/pr/3", PathsInfo, Model, "gpt2", "refs/pr/3"},
      {"/api/models/org/name/refs", Refs, Model, "org/name"},
      {"/api/models/org/name/refs?include_prs=1",
       Refs,
       Model,
       "org/name",
       "",
       "",
       {{"include_prs", "1"}}},
      {"/api/spaces/app/refs", Refs, Space, "app"},
      {"/api/models/org/name/xet-read-token/main", XetToken, Model, "org/name", "main"},
      {"/api/models/org/name/xet-read-token/" + kCommit, XetToken, Model, "org/name", kCommit},
      // Two-segment reading wins when both fit; a reading fits only if its rest does.
      {"/api/models/a/tree/tree/main", Tree, Model, "a/tree", "main"},
      {"/api/models/a/refs/refs", Refs, Model, "a/refs"},
      {"/api/models/a/refs", Refs, Model, "a"},
      {"/api/models/gpt2/revision/refs", Refs, Model, "gpt2/revision"},
      {"/api/models/gpt2/revision/tree", RepoInfo, Model, "gpt2", "tree"},
      {"/api/models/gpt2/tree/refs/pr/1", Tree, Model, "gpt2", "refs/pr/1"},
      {"/api/models/a/tree/revision/x", RepoInfo, Model, "a/tree", "x"},
      {"/api/models/a/tree/revision/x/y", Tree, Model, "a", "revision", "x/y"},
      {"/api/models/gpt2/tree", RepoInfo, Model, "gpt2/tree"},
      {"/api/models/%67pt2/%74ree/main", Tree, Model, "gpt2", "main"},
      // Other: known repo sub-routes keep type and repo, everything else has no repo.
      {"/api/models/org/name/commits/main", Other, Model, "org/name"},
      {"/api/models/gpt2/commits/main?p=1", Other, Model, "gpt2", "", "", {{"p", "1"}}},
      {"/api/datasets/org/ds/auth-check", Other, Dataset, "org/ds"},
      {"/api/models/org/name/auth-check/write", Other, Model, "org/name"},
      {"/api/models/org/name/xet-write-token/main", Other, Model, "org/name"},
      {"/api/models/org/name/preupload/main", Other, Model, "org/name"},
      {"/api/models/org/name/commit/main", Other, Model, "org/name"},
      {"/api/models/org/name/refs/extra", Other, Model, ""},
      {"/api/models/org/name/revision", Other, Model, ""},
      {"/api/models/org/name/discussions/1", Other, Model, ""},
      {"/api/models", Other, Model, ""},
      {"/api/models/", Other, Model, ""},
      {"/api/models?search=bert&limit=5",
       Other,
       Model,
       "",
       "",
       "",
       {{"search", "bert"}, {"limit", "5"}}},
      {"/api/models/bad%20name", Other, Model, ""},
      {"/api/whoami-v2", Other, Model, ""},
      {"/api/resolve-cache/models/org/name/" + kCommit + "/x", Other, Model, ""},
      {"/api/", Other, Model, ""},
  };
}

TEST(ParseApiTarget, Accepts) {
  for (const OkCase& c : okCases()) {
    SCOPED_TRACE(c.target);
    auto got = parseApiTarget(c.target);
    ASSERT_TRUE(got.has_value()) << got.error().context;
    EXPECT_EQ(apiKindName(got->kind), apiKindName(c.kind));
    if (!c.repo.empty()) {
      EXPECT_EQ(got->type, c.type);
    }
    EXPECT_EQ(got->repo, c.repo);
    EXPECT_EQ(got->revision, c.revision);
    EXPECT_EQ(got->path, c.path);
    EXPECT_EQ(got->query, c.query);
  }
}

struct ErrCase {
  std::string target;
  ErrorCode code;
  std::string message_part;
};

TEST(ParseApiTarget, Rejects) {
  using enum ErrorCode;
  const std::vector<ErrCase> cases = {
      {"/org/name/resolve/main/x", NotFound, "not an api route"},
      {"/api", NotFound, "not an api route"},
      {"api/models/x", NotFound, "not an api route"},
      {"", NotFound, "not an api route"},
      {"/API/models/x", NotFound, "not an api route"},
      {"/api/models/" + std::string(9000, 'a'), InvalidArgument, "too long"},
      // Malformed anywhere, whatever the route.
      {"/api/models/org/name/tree/main/%zz", InvalidArgument, "percent-encoding"},
      {"/api/models/org/na%2", InvalidArgument, "percent-encoding"},
      {"/api/whoami%00", InvalidArgument, "control"},
      {"/api/models/org/name/tree/main/a%0Ab", InvalidArgument, "control"},
      {"/api/x/../models/org/name", InvalidArgument, "'..'"},
      {"/api/models/org/name/tree/main/..", InvalidArgument, "'..'"},
      {"/api/models/org/name/tree/main/a%2F..%2Fb", InvalidArgument, "'..'"},
      {"/api/models/org/name/tree/main/./a", InvalidArgument, "'.'"},
      {"/api/other/%2e%2e", InvalidArgument, "'..'"},
      {"/api/models/org/name?x=%zz", InvalidArgument, "query"},
      {"/api/models/org/name?x=a%00", InvalidArgument, "control"},
      // Recognised routes with a bad repo id or revision.
      {"/api/models/-org/name/tree/main", InvalidArgument, "repo id"},
      {"/api/models/org/na..me/refs", InvalidArgument, "repo id"},
      {"/api/models/org/name.git/revision/main", InvalidArgument, "repo id"},
      {"/api/models/org/" + std::string(97, 'n') + "/refs", InvalidArgument, "repo id"},
      {"/api/models/org/name/tree/refs/pr/abc", InvalidArgument, "refs/pr/<number>"},
      {"/api/models/org/name/revision/refs%2Fpr%2F", InvalidArgument, "refs/pr/<number>"},
      {"/api/models/org/name/revision/", InvalidArgument, "empty revision"},
      {"/api/models/org/name/tree//x", InvalidArgument, "empty revision"},
      {"/api/models/org/name/revision/a%5Cb", InvalidArgument, "backslash"},
      {"/api/models/org/name/revision/%FF", InvalidArgument, "UTF-8"},
      {"/api/models/org/name/revision/a%2F%2Fb", InvalidArgument, "empty segment"},
      {"/api/models/org/name/tree/main/", InvalidArgument, "empty segment"},
      {"/api/models/org/name/tree/main/a//b", InvalidArgument, "empty segment"},
      {"/api/models/org/name/tree/main/a%2F", InvalidArgument, "empty segment"},
      {"/api/models/org/name/tree/main/%C0%AF", InvalidArgument, "UTF-8"},
  };
  for (const ErrCase& c : cases) {
    SCOPED_TRACE(c.target);
    auto got = parseApiTarget(c.target);
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code, c.code);
    EXPECT_NE(got.error().context.find(c.message_part), std::string::npos) << got.error().context;
  }
}

TEST(ApiTargetFor, Canonical) {
  struct Case {
    std::string target;
    std::string revision;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"/api/models/org/name", "", "/api/models/org/name"},
      {"/api/models/org/name", kCommit, "/api/models/org/name/revision/" + kCommit},
      {"/api/models/org/name/revision/refs/pr/1", "refs/pr/1",
       "/api/models/org/name/revision/refs%2Fpr%2F1"},
      {"/api/datasets/org/ds?expand%5B%5D=sha&blobs=true&expand%5B%5D=likes", "main",
       "/api/datasets/org/ds/revision/main?blobs=true&expand%5B%5D=likes&expand%5B%5D=sha"},
      {"/api/models/org/name/tree/refs/pr/1/sub%20dir%2Fa?recursive=true&expand=false", kCommit,
       "/api/models/org/name/tree/" + kCommit + "/sub%20dir/a?expand=false&recursive=true"},
      {"/api/models/org/name/tree/main", "main", "/api/models/org/name/tree/main"},
      {"/api/models/org/name/tree/main/a+b/%23%3F", "main",
       "/api/models/org/name/tree/main/a%2Bb/%23%3F"},
      {"/api/spaces/app/paths-info/main", "v1 x", "/api/spaces/app/paths-info/v1%20x"},
      {"/api/models/org/name/refs?include_prs=1", "ignored",
       "/api/models/org/name/refs?include_prs=1"},
      {"/api/models/org/name/xet-read-token/main", "main",
       "/api/models/org/name/xet-read-token/main"},
      {"/api/models/org/name/commits/main", "main", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    auto t = parseApiTarget(c.target);
    ASSERT_TRUE(t.has_value()) << t.error().context;
    EXPECT_EQ(apiTargetFor(*t, c.revision), c.expected);
  }
}

TEST(ApiTargetFor, RoundTrips) {
  for (const OkCase& c : okCases()) {
    SCOPED_TRACE(c.target);
    auto t = parseApiTarget(c.target);
    ASSERT_TRUE(t.has_value());
    if (t->kind == ApiKind::Other) continue;
    const std::string canonical = apiTargetFor(*t, t->revision);
    auto again = parseApiTarget(canonical);
    ASSERT_TRUE(again.has_value()) << canonical << ": " << again.error().context;
    EXPECT_EQ(apiKindName(again->kind), apiKindName(t->kind)) << canonical;
    EXPECT_EQ(again->type, t->type);
    EXPECT_EQ(again->repo, t->repo);
    EXPECT_EQ(again->revision, t->revision);
    EXPECT_EQ(again->path, t->path);
    EXPECT_EQ(canonicalQuery(again->query), canonicalQuery(t->query));
    EXPECT_EQ(apiTargetFor(*again, again->revision), canonical);
  }
}

TEST(CanonicalQuery, SortsEncodesAndDrops) {
  struct Case {
    std::vector<QueryParam> query;
    std::vector<std::string_view> drop;  // up to two keys
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{}, {}, ""},
      {{{"b", "2"}, {"a", "1"}}, {}, "a=1&b=2"},
      {{{"expand", "sha"}, {"expand", "likes"}}, {}, "expand=likes&expand=sha"},
      {{{"q", "a b+c/d"}, {"k=", "&"}}, {}, "k%3D=%26&q=a%20b%2Bc%2Fd"},
      {{{"flag", ""}}, {}, "flag="},
      {{{"cursor", "abc"}, {"limit", "5"}}, {"cursor"}, "limit=5"},
      {{{"cursor", "abc"}, {"limit", "5"}}, {"cursor", "limit"}, ""},
      {{{"\xC3\xA9", "\xE6\x97\xA5"}}, {}, "%C3%A9=%E6%97%A5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    std::string got;
    if (c.drop.empty()) {
      got = canonicalQuery(c.query);
    } else if (c.drop.size() == 1) {
      got = canonicalQuery(c.query, {c.drop[0]});
    } else {
      got = canonicalQuery(c.query, {c.drop[0], c.drop[1]});
    }
    EXPECT_EQ(got, c.expected);
  }
}

TEST(QueryValue, FirstMatch) {
  const std::vector<QueryParam> q = {{"expand", "a"}, {"cursor", ""}, {"expand", "b"}};
  EXPECT_EQ(queryValue(q, "expand"), "a");
  EXPECT_EQ(queryValue(q, "cursor"), "");
  EXPECT_EQ(queryValue(q, "limit"), std::nullopt);
  EXPECT_EQ(queryValue({}, "x"), std::nullopt);
}

}  // namespace
}  // namespace hubgate::hub
