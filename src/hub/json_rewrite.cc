#include "hub/json_rewrite.h"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hubgate::hub {

namespace {

using Json = nlohmann::ordered_json;

// Whether the array/object nesting of `body` stays within kMaxJsonDepth. Exact for valid
// JSON (brackets inside strings are skipped); for invalid JSON the parser decides anyway.
bool depthWithinLimit(std::string_view body) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Parses `body` without throwing; a discarded value means invalid or too deep.
Json parse(std::string_view body) {
  if (!depthWithinLimit(body)) return Json(Json::value_t::discarded);
  return Json::parse(body.begin(), body.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
}

bool isXetKey(std::string_view key) {
  if (key.size() < 3) return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return lower(key[0]) == 'x' && lower(key[1]) == 'e' && lower(key[2]) == 't';
}

// Removes xet keys below `value`; returns how many. Recursion depth is bounded by
// kMaxJsonDepth (checked before parsing).
std::size_t stripXet(Json& value) {
  std::size_t removed = 0;
  if (value.is_object()) {
    std::vector<std::string> doomed;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (isXetKey(it.key())) {
        doomed.push_back(it.key());
      } else {
        removed += stripXet(it.value());
      }
    }
    for (const std::string& key : doomed) removed += value.erase(key);
  } else if (value.is_array()) {
    for (Json& element : value) removed += stripXet(element);
  }
  return removed;
}

}  // namespace

std::optional<std::string> stripXetFields(std::string_view body) {
  try {
    Json doc = parse(body);
    if (doc.is_discarded()) return std::nullopt;
    if (stripXet(doc) == 0) return std::string(body);
    return doc.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
  } catch (...) {  // std::bad_alloc; the parser itself does not throw here
    return std::nullopt;
  }
}

std::optional<std::string> jsonTopString(std::string_view body, std::string_view key) {
  try {
    Json doc = parse(body);
    if (!doc.is_object()) return std::nullopt;
    auto it = doc.find(std::string(key));
    if (it == doc.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace hubgate::hub
