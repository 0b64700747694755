// JSON rewriting of Hub metadata payloads (repo info, tree, paths-info) on their way to
// clients, and small reads from them.
//
// Pure functions over untrusted bodies (upstream answers), no I/O, thread-safe, never throw.
// The main job is xet.md §7.1.3: remove every Xet hint (`xetHash`, `xetEnabled`, ...) so
// that clients with hf_xet installed download over plain HTTP through the gateway instead of
// going to the CAS directly.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hubgate::hub {

// Deepest array/object nesting the functions below accept (Hub payloads nest < 10 deep).
// Deeper input is treated like invalid JSON, so that nothing recurses without bound.
inline constexpr std::size_t kMaxJsonDepth = 256;

// Removes every object key that starts with "xet" (ASCII case-insensitive: xetHash,
// xetEnabled, XetFoo...) at any depth, including the `xetHash` the Hub redacts as 64 '*'
// on gated repos. Returns the re-serialised JSON (compact, object key order kept), or
// `body` unchanged (byte for byte) when it holds no such key. Returns nullopt when `body`
// is not valid JSON (RFC 8259, UTF-8) or nests deeper than kMaxJsonDepth; the caller then
// passes it through untouched.
std::optional<std::string> stripXetFields(std::string_view body);

// The string value of top-level key `key` of a JSON object (`sha` of a repo info), or
// nullopt when the body is not a JSON object, has no such key, or its value is not a string.
std::optional<std::string> jsonTopString(std::string_view body, std::string_view key);

}  // namespace hubgate::hub
