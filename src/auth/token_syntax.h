// Syntax of credentials in requests (pure, no I/O; fuzzed by fuzz/auth_fuzz.cc).
//
//   bearerToken("Bearer  abc ") == "abc"   (scheme case-insensitive, spaces trimmed)
//   gatewayKeyId("hgk_<12 hex>_<secret>") == "<12 hex>"   (nullopt for any other shape)
#pragma once

#include <optional>
#include <string_view>

namespace hubgate::auth {

inline constexpr std::string_view kKeyPrefix = "hgk_";

// The token of an "Authorization: Bearer <token>" value ("" when it is not one).
std::string_view bearerToken(std::string_view authorization);
// True when `token` has the prefix of a gateway key (so it is never forwarded to the Hub).
inline bool looksLikeGatewayKey(std::string_view token) { return token.starts_with(kKeyPrefix); }
// The public id of a well-formed gateway key: "hgk_" + 12 lowercase hex + "_" + 48 lowercase hex.
std::optional<std::string_view> gatewayKeyId(std::string_view token);

}  // namespace hubgate::auth
