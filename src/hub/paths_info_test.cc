#include "hub/paths_info.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::hub {
namespace {

constexpr std::string_view kForm = "application/x-www-form-urlencoded";
constexpr std::string_view kJson = "application/json";

struct OkCase {
  std::string content_type;
  std::string body;
  std::vector<std::string> paths;
  bool expand;
};

TEST(ParsePathsInfoBody, Accepts) {
  const std::vector<OkCase> cases = {
      // Python.
      {std::string(kForm), "paths=a&paths=b%2Fc&expand=false", {"a", "b/c"}, false},
      {std::string(kForm), "paths=config.json&expand=true", {"config.json"}, true},
      {std::string(kForm), "paths=sub+dir%2Fa%20%231.txt", {"sub dir/a #1.txt"}, false},
      {std::string(kForm), "paths%5B%5D=a&paths[]=b&paths=a", {"a", "b", "a"}, false},
      {std::string(kForm), "expand=TRUE&&paths=x&other=1&", {"x"}, true},
      {std::string(kForm), "expand=1", {}, true},
      {std::string(kForm), "expand=", {}, false},
      {std::string(kForm), "", {}, false},
      {std::string(kForm),
       "paths=%E6%97%A5%E6%9C%AC&paths=100%25",
       {"\xE6\x97\xA5\xE6\x9C\xAC", "100%"},
       false},
      {"Application/X-WWW-Form-Urlencoded; charset=utf-8", "paths=a", {"a"}, false},
      // JS.
      {std::string(kJson), R"({"paths":["a"],"expand":true})", {"a"}, true},
      {std::string(kJson), R"({"paths":["a","b/c"]})", {"a", "b/c"}, false},
      {std::string(kJson), R"({"expand":false,"paths":[],"x":{"y":1}})", {}, false},
      {std::string(kJson), R"( {"paths":["caf\u00e9 x+y"]} )", {"caf\xC3\xA9 x+y"}, false},
      {"  APPLICATION/JSON ;charset=UTF-8", R"({"paths":["a"]})", {"a"}, false},
  };
  for (const OkCase& c : cases) {
    SCOPED_TRACE(c.content_type + " | " + c.body);
    auto got = parsePathsInfoBody(c.content_type, c.body);
    ASSERT_TRUE(got.has_value()) << got.error().context;
    EXPECT_EQ(got->paths, c.paths);
    EXPECT_EQ(got->expand, c.expand);
  }
}

struct ErrCase {
  std::string name;
  std::string content_type;
  std::string body;
  std::string message_part;
};

TEST(ParsePathsInfoBody, Rejects) {
  std::string many;
  for (std::size_t i = 0; i <= kMaxPathsInfoPaths; ++i) many += "paths=a&";
  const std::vector<ErrCase> cases = {
      {"no content type", "", "paths=a", "Content-Type"},
      {"text/plain", "text/plain", "paths=a", "Content-Type"},
      {"json suffix type", "application/vnd.api+json", R"({"paths":[]})", "Content-Type"},
      {"too large", std::string(kForm), "paths=" + std::string(kMaxPathsInfoBody, 'a'),
       "too large"},
      {"too many", std::string(kForm), many, "too many paths"},
      {"bad escape", std::string(kForm), "paths=%G1", "percent-encoding"},
      {"bad expand", std::string(kForm), "paths=a&expand=yes", "expand"},
      {"traversal", std::string(kForm), "paths=..%2Fsecret", "'..'"},
      {"traversal inside", std::string(kForm), "paths=a/../b", "'..'"},
      {"dot", std::string(kForm), "paths=./a", "'.'"},
      {"nul", std::string(kForm), "paths=a%00b", "control"},
      {"newline", std::string(kForm), "paths=a%0A", "control"},
      {"empty path", std::string(kForm), "paths=", "empty path"},
      {"leading slash", std::string(kForm), "paths=%2Fa", "empty segment"},
      {"backslash", std::string(kForm), "paths=a%5C..%5Cb", "backslash"},
      {"invalid utf-8", std::string(kForm), "paths=%FF", "UTF-8"},
      {"not json", std::string(kJson), "paths=a", "not valid JSON"},
      {"json array", std::string(kJson), R"(["a"])", "object"},
      {"no paths", std::string(kJson), R"({"expand":true})", "\"paths\""},
      {"paths not array", std::string(kJson), R"({"paths":"a"})", "\"paths\""},
      {"path not string", std::string(kJson), R"({"paths":["a",1]})", "\"paths\""},
      {"expand not bool", std::string(kJson), R"({"paths":[],"expand":"true"})", "\"expand\""},
      {"json traversal", std::string(kJson), R"({"paths":["a/.."]})", "'..'"},
      {"json nul", std::string(kJson), R"({"paths":["a\u0000"]})", "control"},
  };
  for (const ErrCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto got = parsePathsInfoBody(c.content_type, c.body);
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(got.error().context.find(c.message_part), std::string::npos) << got.error().context;
  }
}

TEST(ParsePathsInfoBody, DeepJsonDoesNotOverflow) {
  const std::string deep = std::string(500000, '[') + std::string(500000, ']');
  auto got = parsePathsInfoBody(kJson, deep);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::InvalidArgument);
}

TEST(PathsInfoFormBody, Canonical) {
  struct Case {
    PathsInfoQuery q;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{}, false}, "expand=false"},
      {{{}, true}, "expand=true"},
      {{{"b/c", "a", "b/c", "a"}, false}, "paths=a&paths=b%2Fc&expand=false"},
      {{{"sub dir/a #1.txt", "x+y"}, true},
       "paths=sub%20dir%2Fa%20%231.txt&paths=x%2By&expand=true"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    EXPECT_EQ(pathsInfoFormBody(c.q), c.expected);
  }
  // Both client formats meet in the same canonical body.
  auto form = parsePathsInfoBody(kForm, "paths=b%2Fc&paths=a&expand=true");
  auto json = parsePathsInfoBody(kJson, R"({"paths":["a","b/c","a"],"expand":true})");
  ASSERT_TRUE(form && json);
  EXPECT_EQ(pathsInfoFormBody(*form), pathsInfoFormBody(*json));
  // The canonical body parses back to the same set.
  auto again = parsePathsInfoBody(kForm, pathsInfoFormBody(*json));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(pathsInfoFormBody(*again), pathsInfoFormBody(*json));
}

}  // namespace
}  // namespace hubgate::hub
