// Url: an absolute http(s) URL split into the parts the upstream client needs.
//
// Pure value type, no I/O. `target` is the origin-form request target (path + "?" + query),
// kept exactly as given (already percent-encoded); it is never decoded here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace hubgate::upstream {

struct Url {
  std::string scheme;  // "http" | "https" (lowercase)
  std::string host;    // lowercase; IPv6 literals without brackets
  std::uint16_t port = 0;
  std::string target = "/";  // path and query, starts with '/'

  // Parses an absolute http:// or https:// URL. Userinfo is rejected; a missing path is "/".
  static Result<Url> parse(std::string_view text);
  // Resolves a Location header value (absolute, scheme-relative or path-absolute) against this URL.
  Result<Url> resolve(std::string_view location) const;

  bool isHttps() const { return scheme == "https"; }
  // "https://host:port" with the port always present; used as pool key and origin comparison.
  std::string origin() const;
  // "scheme://host[:port]" + target; the default port is omitted.
  std::string str() const;
  // host[:port] as a Host header (port omitted when default for the scheme).
  std::string hostHeader() const;
  // The URL without its query string: safe to log (signed CDN URLs carry secrets in the query).
  std::string redacted() const;
};

}  // namespace hubgate::upstream
