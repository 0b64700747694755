#include "hub/repo_path.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::hub {
namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

struct OkCase {
  std::string target;
  RepoType type;
  std::string repo;
  std::string revision;
  std::string path;
  bool resolve_cache = false;
};

std::vector<OkCase> okCases() {
  using enum RepoType;
  return {
      // Repo ids: two segments, legacy single segment, prefixes.
      {"/gpt2/resolve/main/config.json", Model, "gpt2", "main", "config.json"},
      {"/openai-community/gpt2/resolve/main/config.json", Model, "openai-community/gpt2", "main",
       "config.json"},
      {"/Org_1/model.v2-final/resolve/main/x", Model, "Org_1/model.v2-final", "main", "x"},
      {"/datasets/org/ds/resolve/main/data/train.parquet", Dataset, "org/ds", "main",
       "data/train.parquet"},
      {"/datasets/squad/resolve/main/plain_text/train.json", Dataset, "squad", "main",
       "plain_text/train.json"},
      {"/spaces/org/app/resolve/main/app.py", Space, "org/app", "main", "app.py"},
      {"/spaces/app/resolve/v1/app.py", Space, "app", "v1", "app.py"},
      // The two-segment reading wins when segment 3 is `resolve`.
      {"/a/resolve/resolve/main/x", Model, "a/resolve", "main", "x"},
      // The query string is ignored, whatever it holds.
      {"/org/name/resolve/main/config.json?download=true", Model, "org/name", "main",
       "config.json"},
      {"/org/name/resolve/main/a.txt?x=/../..%00&y", Model, "org/name", "main", "a.txt"},
      // Revisions: Python/JS encode '/', JS listFiles sends refs/pr/N raw.
      {"/org/name/resolve/refs%2Fpr%2F1/model.safetensors", Model, "org/name", "refs/pr/1",
       "model.safetensors"},
      {"/org/name/resolve/refs%2fpr%2f1/model.safetensors", Model, "org/name", "refs/pr/1",
       "model.safetensors"},
      {"/org/name/resolve/refs/pr/1/model.safetensors", Model, "org/name", "refs/pr/1",
       "model.safetensors"},
      {"/org/name/resolve/refs/pr/12/sub/model.bin", Model, "org/name", "refs/pr/12",
       "sub/model.bin"},
      {"/datasets/org/ds/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet", Dataset,
       "org/ds", "refs/convert/parquet", "default/train/0000.parquet"},
      {"/datasets/org/ds/resolve/refs/convert/parquet/default/train/0000.parquet", Dataset,
       "org/ds", "refs/convert/parquet", "default/train/0000.parquet"},
      {"/org/name/resolve/refs/pr%2F7/x", Model, "org/name", "refs/pr/7", "x"},
      {"/org/name/resolve/refs/prefix/x", Model, "org/name", "refs", "prefix/x"},
      {"/org/name/resolve/refs/pr", Model, "org/name", "refs", "pr"},
      {"/org/name/resolve/" + kCommit + "/config.json", Model, "org/name", kCommit, "config.json"},
      {"/org/name/resolve/abc1234/config.json", Model, "org/name", "abc1234", "config.json"},
      {"/org/name/resolve/HEAD/config.json", Model, "org/name", "HEAD", "config.json"},
      {"/org/name/resolve/v1.0%2Bbuild/x", Model, "org/name", "v1.0+build", "x"},
      {"/org/name/resolve/caf%C3%A9/x", Model, "org/name", "caf\xC3\xA9", "x"},
      // Paths: Python encodes everything but '/'.
      {"/org/name/resolve/main/sub%20dir/a%20%231.txt", Model, "org/name", "main",
       "sub dir/a #1.txt"},
      // JS inserts the path raw: the '#' starts a fragment, so only this reaches the server.
      {"/org/name/resolve/main/sub%20dir/a%20", Model, "org/name", "main", "sub dir/a "},
      {"/org/name/resolve/main/a+b.txt", Model, "org/name", "main", "a+b.txt"},
      {"/org/name/resolve/main/100%25.txt", Model, "org/name", "main", "100%.txt"},
      {"/org/name/resolve/main/%E6%97%A5%E6%9C%AC.txt", Model, "org/name", "main",
       "\xE6\x97\xA5\xE6\x9C\xAC.txt"},
      {"/org/name/resolve/main/%e6%97%a5%e6%9c%ac.txt", Model, "org/name", "main",
       "\xE6\x97\xA5\xE6\x9C\xAC.txt"},
      {"/org/name/resolve/main/\xE6\x97\xA5\xE6\x9C\xAC.txt", Model, "org/name", "main",
       "\xE6\x97\xA5\xE6\x9C\xAC.txt"},
      {"/org/name/resolve/main/emoji-%F0%9F%A4%97.bin", Model, "org/name", "main",
       "emoji-\xF0\x9F\xA4\x97.bin"},
      {"/org/name/resolve/main/a%2Fb.txt", Model, "org/name", "main", "a/b.txt"},
      {"/org/name/resolve/main/.gitattributes", Model, "org/name", "main", ".gitattributes"},
      {"/org/name/resolve/main/a..b/...", Model, "org/name", "main", "a..b/..."},
      {"/org/name/resolve/main/a#b", Model, "org/name", "main", "a#b"},
      // resolve-cache: the commit tells one- from two-segment repo ids.
      {"/api/resolve-cache/models/org/name/" + kCommit +
           "/config.json?%2Forg%2Fname%2Fresolve%2Fmain%2Fconfig.json=&etag=%22abc%22",
       Model, "org/name", kCommit, "config.json", true},
      {"/api/resolve-cache/models/gpt2/" + kCommit + "/config.json", Model, "gpt2", kCommit,
       "config.json", true},
      {"/api/resolve-cache/datasets/org/ds/" + kCommit + "/data/a%20b.csv", Dataset, "org/ds",
       kCommit, "data/a b.csv", true},
      {"/api/resolve-cache/datasets/squad/" + kCommit + "/x.json", Dataset, "squad", kCommit,
       "x.json", true},
      {"/api/resolve-cache/spaces/org/app/" + kCommit + "/app.py", Space, "org/app", kCommit,
       "app.py", true},
      {"/api/resolve-cache/models/gpt2/" + kCommit + "/" + kCommit + "/x", Model, "gpt2/" + kCommit,
       kCommit, "x", true},
      // Past the type, resolve-cache reads decoded components: %2F separates there too.
      {"/api/resolve-cache/models/gpt2/" + kCommit + "/" + kCommit + "%2Fx", Model,
       "gpt2/" + kCommit, kCommit, "x", true},
  };
}

TEST(ParseResolveTarget, AcceptsHubWireForms) {
  for (const OkCase& c : okCases()) {
    SCOPED_TRACE(c.target);
    auto r = parseResolveTarget(c.target);
    ASSERT_TRUE(r.has_value()) << r.error().context;
    EXPECT_EQ(r->file.type, c.type);
    EXPECT_EQ(r->file.repo, c.repo);
    EXPECT_EQ(r->file.revision, c.revision);
    EXPECT_EQ(r->file.path, c.path);
    EXPECT_EQ(r->resolve_cache, c.resolve_cache);
  }
}

TEST(ParseResolveTarget, CanonicalTargetRoundTrips) {
  for (const OkCase& c : okCases()) {
    SCOPED_TRACE(c.target);
    auto r = parseResolveTarget(c.target);
    ASSERT_TRUE(r.has_value()) << r.error().context;
    const std::string canonical = resolveTargetFor(r->file);
    auto again = parseResolveTarget(canonical);
    ASSERT_TRUE(again.has_value()) << canonical << ": " << again.error().context;
    EXPECT_EQ(again->file, r->file) << canonical;
    EXPECT_FALSE(again->resolve_cache);
  }
}

TEST(ParseResolveTarget, OtherRoutesAreNotFound) {
  const std::vector<std::string> targets = {
      "",
      "*",
      "/",
      "http://huggingface.co/gpt2/resolve/main/x",
      "gpt2/resolve/main/x",
      "/api/models/gpt2",
      "/api/models/org/name/tree/main/sub",
      "/api/models/org/name/revision/main",
      "/api/models/%zz",
      "/api/resolve/main/x",
      "/api/resolve-cache",
      "/api/resolve-cache/kernels/org/k/" + kCommit + "/x",
      "/org/name/raw/main/config.json",
      "/org/name/blob/main/config.json",
      "/org/name/tree/main",
      "/org/name/x/resolve/main/f",
      "/kernels/org/k/resolve/main/x",
      "/kernels/k/resolve/main/x",
      "/buckets/ns/b/resolve/x",
      "/org/name.git/info/lfs/objects/batch",
      "/metrics",
      "/?/resolve/main/x",
  };
  for (const std::string& t : targets) {
    SCOPED_TRACE(t);
    auto r = parseResolveTarget(t);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::NotFound);
  }
}

struct BadCase {
  std::string target;
  std::string message;  // substring of the error context
};

TEST(ParseResolveTarget, RejectsHostileOrMalformedTargets) {
  const std::vector<BadCase> cases = {
      // Traversal, raw and encoded.
      {"/org/name/resolve/main/../../etc/passwd", "'..' segment not allowed"},
      {"/org/name/resolve/main/%2e%2e/x", "'..' segment not allowed"},
      {"/org/name/resolve/main/%2E%2E", "'..' segment not allowed"},
      {"/org/name/resolve/main/a%2F..%2Fb", "'..' segment not allowed"},
      {"/org/name/resolve/main/a/%2F..%2F/b", "empty segment"},
      {"/org/name/resolve/main/%2F..%2Fetc", "empty segment"},
      {"/org/name/resolve/main/./x", "'.' segment not allowed"},
      {"/org/name/resolve/main/x/.", "'.' segment not allowed"},
      {"/org/name/resolve/main/%2e/x", "'.' segment not allowed"},
      // Control characters after decoding.
      {"/org/name/resolve/main/a%00.txt", "control characters"},
      {"/org/name/resolve/main/a%0A.txt", "control characters"},
      {"/org/name/resolve/main/a%0d%0aSet-Cookie:x", "control characters"},
      {"/org/name/resolve/main/a%1F", "control characters"},
      {"/org/name/resolve/main/a%7F", "control characters"},
      {std::string("/org/name/resolve/main/a") + '\0' + "b", "control characters"},
      {"/org/name/resolve/main/a\tb", "control characters"},
      // Empty segments.
      {"/org/name/resolve/main/a//b", "empty segment"},
      {"/org/name/resolve/main/dir/", "empty segment"},
      {"/org/name/resolve/main//x", "empty segment"},
      // Backslashes.
      {"/org/name/resolve/main/a\\b", "backslashes"},
      {"/org/name/resolve/main/..%5C..%5Cwin.ini", "backslashes"},
      // Bad percent-encoding.
      {"/org/name/resolve/main/a%", "bad percent-encoding"},
      {"/org/name/resolve/main/a%2", "bad percent-encoding"},
      {"/org/name/resolve/main/a%zz", "bad percent-encoding"},
      {"/org/name/resolve/main/a%G0", "bad percent-encoding"},
      {"/org/name/resolve/ma%in/x", "bad percent-encoding"},
      {"/org/name/resolve/refs/convert/%x/x", "bad percent-encoding"},
      // Invalid UTF-8 in the decoded path or revision.
      {"/org/name/resolve/main/%FF.txt", "not valid UTF-8"},
      {"/org/name/resolve/main/\xFF.txt", "not valid UTF-8"},
      {"/org/name/resolve/main/%C0%AF", "not valid UTF-8"},
      {"/org/name/resolve/main/%E0%80%AF", "not valid UTF-8"},
      {"/org/name/resolve/main/%ED%A0%80", "not valid UTF-8"},
      {"/org/name/resolve/main/%F4%90%80%80", "not valid UTF-8"},
      {"/org/name/resolve/main/%E6%97", "not valid UTF-8"},
      {"/org/name/resolve/main/%80", "not valid UTF-8"},
      {"/org/name/resolve/%FF/x", "not valid UTF-8"},
      // Revisions.
      {"/org/name/resolve//x", "empty revision"},
      {"/org/name/resolve/%2E%2E/x", "'..' segment not allowed"},
      {"/org/name/resolve/..%2F..%2Fx/y", "'..' segment not allowed"},
      {"/org/name/resolve/refs%2F%2Fpr/x", "empty segment"},
      {"/org/name/resolve/%2Fmain/x", "empty segment"},
      {"/org/name/resolve/main%2F/x", "empty segment"},
      {"/org/name/resolve/%00/x", "control characters"},
      {"/org/name/resolve/a%5Cb/x", "backslashes"},
      {"/org/name/resolve/refs/pr/abc/x", "refs/pr/<number>"},
      {"/org/name/resolve/refs/pr//x", "refs/pr/<number>"},
      // Found by repo_path_fuzz: refs + pr%2F" must read like its re-encoding refs/pr/%22.
      {"/org/na-e/resolve/refs/pr%2F\"/a%20-231.txt", "refs/pr/<number>"},
      {"/org/name/resolve/refs/convert//x", "empty segment"},
      {"/org/name/resolve/refs/convert/../x", "'..' segment not allowed"},
      // Missing parts.
      {"/org/name/resolve", "missing revision"},
      {"/org/name/resolve/", "empty revision"},
      {"/org/name/resolve/main", "missing file path"},
      {"/org/name/resolve/main?x=1", "missing file path"},
      {"/org/name/resolve/main/", "empty segment"},
      {"/org/name/resolve/refs/pr/1", "missing file path"},
      {"/a/resolve/resolve/x", "missing file path"},
      // Repo ids.
      {"/-org/name/resolve/main/x", "start with a letter or digit"},
      {"/org/_name/resolve/main/x", "start with a letter or digit"},
      {"/.hidden/name/resolve/main/x", "start with a letter or digit"},
      {"/../name/resolve/main/x", "start with a letter or digit"},
      {"/org/../resolve/main/x", "start with a letter or digit"},
      {"/org/na%20me/resolve/main/x", "only letters, digits"},
      {"/org/na%2Fme/resolve/main/x", "only letters, digits"},
      {"/org/caf\xC3\xA9/resolve/main/x", "only letters, digits"},
      {"/org/a..b/resolve/main/x", "'..' not allowed"},
      {"/org/name.git/resolve/main/x", "'.git'"},
      {"/org/" + std::string(97, 'a') + "/resolve/main/x", "longer than 96"},
      {"/org%zz/name/resolve/main/x", "bad percent-encoding"},
      {"//name/resolve/main/x", "empty name"},
      {"/datasets//resolve/main/x", "empty name"},
      // resolve-cache.
      {"/api/resolve-cache/models/org/name/main/config.json", "40-hex commit"},
      {"/api/resolve-cache/models/org/name/" + std::string(40, 'A') + "/x", "40-hex commit"},
      {"/api/resolve-cache/models/org/name/" + kCommit, "missing file path"},
      {"/api/resolve-cache/models/org/name/" + kCommit + "/../x", "'..' segment not allowed"},
      {"/api/resolve-cache/models/org/name/" + kCommit + "/a%00", "control characters"},
      {"/api/resolve-cache/models/datasets/x/" + kCommit + "/f", "reserved name"},
      {"/api/resolve-cache/models/api/" + kCommit + "/f", "reserved name"},
      {"/api/resolve-cache/models/org/x.git/" + kCommit + "/f", "'.git'"},
      // Over-long target.
      {"/org/name/resolve/main/" + std::string(8192, 'a'), "too long"},
      {"/not/a/route/" + std::string(9000, 'a'), "too long"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.target.substr(0, 120));
    auto r = parseResolveTarget(c.target);
    ASSERT_FALSE(r.has_value()) << r->file.repo << " | " << r->file.revision << " | "
                                << r->file.path;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().context.find(c.message), std::string::npos) << r.error().context;
  }
}

TEST(ParseResolveTarget, LengthLimitIsInclusive) {
  const std::string prefix = "/org/name/resolve/main/";
  std::string at_limit = prefix + std::string(kMaxTargetLength - prefix.size(), 'a');
  ASSERT_EQ(at_limit.size(), kMaxTargetLength);
  EXPECT_TRUE(parseResolveTarget(at_limit).has_value());
  EXPECT_FALSE(parseResolveTarget(at_limit + "a").has_value());
  // The repo name limit is inclusive too.
  EXPECT_TRUE(parseResolveTarget("/org/" + std::string(96, 'a') + "/resolve/main/x").has_value());
}

TEST(Encoding, RevisionEncodesEverythingButUnreserved) {
  EXPECT_EQ(encodeRevision("main"), "main");
  EXPECT_EQ(encodeRevision("refs/pr/1"), "refs%2Fpr%2F1");
  EXPECT_EQ(encodeRevision("refs/convert/parquet"), "refs%2Fconvert%2Fparquet");
  EXPECT_EQ(encodeRevision("v1.0-rc_2~x"), "v1.0-rc_2~x");
  EXPECT_EQ(encodeRevision("a b+c#%"), "a%20b%2Bc%23%25");
  EXPECT_EQ(encodeRevision(""), "");
}

TEST(Encoding, PathKeepsSlashes) {
  // The Python client's wire form (hub-protocol.md §1.4).
  EXPECT_EQ(encodePath("sub dir/a #1.txt"), "sub%20dir/a%20%231.txt");
  EXPECT_EQ(encodePath("100%.txt"), "100%25.txt");
  EXPECT_EQ(encodePath("a+b?c&d=e"), "a%2Bb%3Fc%26d%3De");
  EXPECT_EQ(encodePath("\xE6\x97\xA5\xE6\x9C\xAC.txt"), "%E6%97%A5%E6%9C%AC.txt");
  EXPECT_EQ(encodePath("a\\b"), "a%5Cb");
}

TEST(Encoding, PercentDecodeInvertsBothEncodersForEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(percentDecode(encodeRevision(all)).value(), all);
  EXPECT_EQ(percentDecode(encodePath(all)).value(), all);
  for (char c : encodeRevision(all)) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~' || c == '%')
        << static_cast<int>(c);
  }
}

TEST(Encoding, PercentDecode) {
  EXPECT_EQ(percentDecode("a%20b+c").value(), "a b+c");
  EXPECT_EQ(percentDecode("%2f%2F").value(), "//");
  EXPECT_EQ(percentDecode("%2525").value(), "%25");
  EXPECT_EQ(percentDecode("%00").value(), std::string(1, '\0'));
  EXPECT_EQ(percentDecode("").value(), "");
  for (const char* bad : {"%", "%2", "a%g1", "%1g", "%%20", "%-1"}) {
    SCOPED_TRACE(bad);
    auto r = percentDecode(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  }
}

TEST(Encoding, ResolveTargetFor) {
  EXPECT_EQ(resolveTargetFor({RepoType::Model, "gpt2", "main", "config.json"}),
            "/gpt2/resolve/main/config.json");
  EXPECT_EQ(resolveTargetFor({RepoType::Model, "org/name", "refs/pr/1", "sub dir/a #1.txt"}),
            "/org/name/resolve/refs%2Fpr%2F1/sub%20dir/a%20%231.txt");
  EXPECT_EQ(resolveTargetFor({RepoType::Dataset, "org/ds", "refs/convert/parquet",
                              "default/train/0000.parquet"}),
            "/datasets/org/ds/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet");
  EXPECT_EQ(resolveTargetFor({RepoType::Space, "org/app", kCommit, "app.py"}),
            "/spaces/org/app/resolve/" + kCommit + "/app.py");
}

TEST(IsCommitHash, ExactlyFortyLowerCaseHex) {
  EXPECT_TRUE(isCommitHash(kCommit));
  EXPECT_TRUE(isCommitHash(std::string(40, 'f')));
  EXPECT_FALSE(isCommitHash(std::string(40, 'A')));
  EXPECT_FALSE(isCommitHash(std::string(39, 'a')));
  EXPECT_FALSE(isCommitHash(std::string(41, 'a')));
  EXPECT_FALSE(isCommitHash(std::string(39, 'a') + "g"));
  EXPECT_FALSE(isCommitHash("main"));
  EXPECT_FALSE(isCommitHash(""));
}

TEST(RepoType, Names) {
  EXPECT_EQ(repoTypeName(RepoType::Model), "model");
  EXPECT_EQ(repoTypeName(RepoType::Dataset), "dataset");
  EXPECT_EQ(repoTypeName(RepoType::Space), "space");
  EXPECT_EQ(repoTypePlural(RepoType::Model), "models");
  EXPECT_EQ(repoTypePlural(RepoType::Dataset), "datasets");
  EXPECT_EQ(repoTypePlural(RepoType::Space), "spaces");
  EXPECT_EQ(urlPrefix(RepoType::Model), "");
  EXPECT_EQ(urlPrefix(RepoType::Dataset), "datasets/");
  EXPECT_EQ(urlPrefix(RepoType::Space), "spaces/");
}

}  // namespace
}  // namespace hubgate::hub
