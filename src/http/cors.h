// CORS response headers for browser clients (hub-protocol.md §4.7).
//
// Pure functions, no I/O, thread-safe, never throw. The gateway answers every origin, like
// the Hub, and never sends Access-Control-Allow-Credentials: browsers send the token in
// `Authorization` (which needs a preflight, answered by preflightHeaders), not in cookies.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hubgate::http {

// Response headers a browser script may read (the Hub's list, without X-Xet-Hash, plus ours).
inline constexpr std::string_view kExposeHeaders =
    "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,"
    "Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Hubgate-Cache,X-Hubgate-Stale";

// Allowed request headers when the preflight names none we can echo.
inline constexpr std::string_view kDefaultAllowHeaders =
    "Authorization,Content-Type,Range,If-None-Match,If-Range,X-Requested-With";

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Headers for a normal response: Access-Control-Allow-Origin (the request's Origin when it is
// a plausible origin: 1..2048 visible ASCII characters, no ','; otherwise "*", also when
// there is none), Access-Control-Expose-Headers (kExposeHeaders), Vary: Origin.
HeaderList corsHeaders(std::string_view origin);

// Headers for the 204 answer to an OPTIONS preflight: corsHeaders(origin) plus
// Access-Control-Allow-Methods "GET, HEAD, POST, OPTIONS", Access-Control-Allow-Headers and
// Access-Control-Max-Age "86400"; Vary becomes "Origin, Access-Control-Request-Headers".
// Allow-Headers echoes `request_headers` (Access-Control-Request-Headers): its
// comma-separated elements that are RFC 9110 tokens, OWS trimmed, joined with ','; when
// none is valid or the result exceeds 4096 bytes, kDefaultAllowHeaders.
HeaderList preflightHeaders(std::string_view origin, std::string_view request_headers);

}  // namespace hubgate::http
