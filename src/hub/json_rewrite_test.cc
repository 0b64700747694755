#include "hub/json_rewrite.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::hub {
namespace {

struct StripCase {
  std::string name;
  std::string body;
  std::optional<std::string> expected;
};

TEST(StripXetFields, Table) {
  const std::string stars(64, '*');
  const std::vector<StripCase> cases = {
      {"tree entry",
       R"([{"type":"file","oid":"abc","size":5,"path":"a.bin","lfs":{"oid":"s","size":5,)"
       R"("pointerSize":132},"xetHash":"0123"},{"type":"directory","oid":"d","size":0,"path":"x"}])",
       R"([{"type":"file","oid":"abc","size":5,"path":"a.bin","lfs":{"oid":"s","size":5,)"
       R"("pointerSize":132}},{"type":"directory","oid":"d","size":0,"path":"x"}])"},
      {"redacted hash on a gated repo",
       R"([{"type":"file","path":"a","xetHash":")" + stars + R"("}])",
       R"([{"type":"file","path":"a"}])"},
      {"any depth, any case, key order kept",
       R"({"z":1,"xetEnabled":true,"siblings":[{"rfilename":"a","XETHASH":"h",)"
       R"("deep":{"xet":{"x":1},"keep":"xet"}}],"a":2})",
       R"({"z":1,"siblings":[{"rfilename":"a","deep":{"keep":"xet"}}],"a":2})"},
      {"escaped key", R"({"\u0078etHash":"h","k":"v"})", R"({"k":"v"})"},
      {"values and near-miss keys untouched, no rewrite",
       R"( {"xe":1, "x-et":2, "hash":"xetHash", "n": 1.50} )",
       R"( {"xe":1, "x-et":2, "hash":"xetHash", "n": 1.50} )"},
      {"unicode kept", R"({"xetHash":"h","name":"caf\u00e9 日本"})",
       "{\"name\":\"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\"}"},
      {"scalar", "42", "42"},
      {"empty array", "[]", "[]"},
      {"not json", "<html>502</html>", std::nullopt},
      {"truncated", R"({"xetHash":"h")", std::nullopt},
      {"empty", "", std::nullopt},
      {"trailing garbage", R"({"a":1} x)", std::nullopt},
      {"invalid utf-8 in a string", "{\"a\":\"\xFF\"}", std::nullopt},
      {"too deep", std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'),
       std::nullopt},
  };
  for (const StripCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(stripXetFields(c.body), c.expected);
  }
}

TEST(StripXetFields, DeepButAllowed) {
  std::string body = std::string(kMaxJsonDepth - 1, '[') + R"({"xetHash":1,"a":2})" +
                     std::string(kMaxJsonDepth - 1, ']');
  std::string expected =
      std::string(kMaxJsonDepth - 1, '[') + R"({"a":2})" + std::string(kMaxJsonDepth - 1, ']');
  EXPECT_EQ(stripXetFields(body), expected);
  // Brackets inside strings do not count towards the depth.
  std::string in_string = R"({"xetA":")" + std::string(10000, '[') + R"("})";
  EXPECT_EQ(stripXetFields(in_string), "{}");
}

struct TopCase {
  std::string body;
  std::string key;
  std::optional<std::string> expected;
};

TEST(JsonTopString, Table) {
  const std::vector<TopCase> cases = {
      {R"({"id":"org/name","sha":"abc123","siblings":[]})", "sha", "abc123"},
      {R"({"id":"org/name","sha":"abc123"})", "id", "org/name"},
      {R"({"sha":null})", "sha", std::nullopt},
      {R"({"sha":123})", "sha", std::nullopt},
      {R"({"inner":{"sha":"x"}})", "sha", std::nullopt},
      {R"([{"sha":"x"}])", "sha", std::nullopt},
      {R"({"sha":"x")", "sha", std::nullopt},
      {"", "sha", std::nullopt},
      {R"({"a\"b":"v"})", "a\"b", "v"},
  };
  for (const TopCase& c : cases) {
    SCOPED_TRACE(c.body);
    EXPECT_EQ(jsonTopString(c.body, c.key), c.expected);
  }
}

}  // namespace
}  // namespace hubgate::hub
