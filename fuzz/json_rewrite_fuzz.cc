// libFuzzer target: hub::stripXetFields, hub::jsonTopString and the JSON form of
// hub::parsePathsInfoBody on arbitrary bytes.
//
// Invariants checked on every input (a violation aborts, which libFuzzer reports as a crash;
// an escaping exception aborts too):
// - stripXetFields returns a value exactly when nlohmann accepts the input and it nests at
//   most kMaxJsonDepth deep; the value parses, holds no object key starting with "xet" (ASCII
//   case-insensitive) at any depth, equals the input when the input held none, and is a
//   fixed point of stripXetFields;
// - jsonTopString(input, "sha") agrees with a direct lookup in the parsed document;
// - parsePathsInfoBody("application/json", input) fails only with InvalidArgument, and on
//   success yields paths that are non-empty and free of control characters and `..`.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "oracles.h"
#include "hub/json_rewrite.h"
#include "hub/paths_info.h"

namespace {

using namespace hubgate::fuzz;

using Json = nlohmann::ordered_json;
using hubgate::ErrorCode;


bool isXetKey(std::string_view key) {
  if (key.size() < 3) return false;
  return (key[0] | 0x20) == 'x' && (key[1] | 0x20) == 'e' && (key[2] | 0x20) == 't';
}

// Walks the document without recursion: its maximum nesting and whether any key is a xet key.
std::pair<std::size_t, bool> inspect(const Json& doc) {
  std::size_t max_depth = 0;
  bool xet = false;
  std::vector<std::pair<const Json*, std::size_t>> stack = {{&doc, 0}};
  while (!stack.empty()) {
    auto [value, depth] = stack.back();
    stack.pop_back();
    if (value->is_object() || value->is_array()) {
      max_depth = std::max(max_depth, depth + 1);
      for (auto it = value->begin(); it != value->end(); ++it) {
        if (value->is_object() && isXetKey(it.key())) xet = true;
        stack.emplace_back(&*it, depth + 1);
      }
    }
  }
  return {max_depth, xet};
}

Json parse(std::string_view s) {
  return Json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
}


}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const std::optional<std::string> out = hubgate::hub::stripXetFields(input);
  const Json doc = parse(input);
  if (doc.is_discarded()) {
    CHECK(!out.has_value());
  } else {
    const auto [depth, had_xet] = inspect(doc);
    CHECK(out.has_value() == (depth <= hubgate::hub::kMaxJsonDepth));
    if (out) {
      const Json stripped = parse(*out);
      CHECK(!stripped.is_discarded());
      CHECK(!inspect(stripped).second);
      if (!had_xet) CHECK(*out == input);
      CHECK(hubgate::hub::stripXetFields(*out) == out);
    }
  }

  const std::optional<std::string> sha = hubgate::hub::jsonTopString(input, "sha");
  if (sha) {
    CHECK(doc.is_object());
    auto it = doc.find("sha");
    CHECK(it != doc.end() && it->is_string() && it->get<std::string>() == *sha);
  } else if (doc.is_object() && inspect(doc).first <= hubgate::hub::kMaxJsonDepth) {
    auto it = doc.find("sha");
    CHECK(it == doc.end() || !it->is_string());
  }

  const auto q = hubgate::hub::parsePathsInfoBody("application/json", input);
  if (q) {
    for (const std::string& p : q->paths) CHECK(safeComponents(p));
    CHECK(q->paths.size() <= hubgate::hub::kMaxPathsInfoPaths);
  } else {
    CHECK(q.error().code == ErrorCode::InvalidArgument && !q.error().context.empty());
  }
  return 0;
}
