// Proxy selection for the upstream client: which proxy (if any) a target URL goes through.
//
// Pure logic, no I/O. ProxySelector is built once (from ProxyConfig or the environment) and is
// immutable afterwards, so it is safe to share between threads. Proxy credentials are kept in
// ProxyEndpoint::authorization (a ready "Basic ..." header value) and must never be logged; use
// ProxyEndpoint::url (which has no userinfo) in messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "upstream/client.h"
#include "upstream/url.h"

namespace hubgate::upstream {

struct ProxyEndpoint {
  Url url;                    // http://host:port of the proxy (no userinfo)
  std::string authorization;  // Proxy-Authorization value, "" when no credentials
};

// Parses "http://[user[:pass]@]host[:port][/]" (a missing scheme means http, a missing port 80;
// user and password may be percent-encoded). https:// and socks proxies are rejected
// (InvalidArgument).
// The error context never contains the input (it may carry credentials).
Result<ProxyEndpoint> parseProxyUrl(std::string_view text);

// True when `host` (lowercase, IPv6 without brackets) matches the NO_PROXY list: "*" matches
// everything; an entry matches the host exactly or as a domain suffix ("example.com" and
// ".example.com" both match "a.example.com"). Entries are trimmed and case-insensitive; a port
// suffix on an entry is ignored; "[::1]" matches "::1".
bool noProxyMatches(std::string_view no_proxy, std::string_view host);

class ProxySelector {
 public:
  // From explicit settings.
  explicit ProxySelector(const ProxyConfig& config);
  // From the process environment (http_proxy/HTTP_PROXY, https_proxy/HTTPS_PROXY,
  // no_proxy/NO_PROXY; lowercase first). Reads the environment once, here.
  static ProxySelector fromEnvironment();
  // No proxy at all.
  ProxySelector() = default;

  // The proxy for `target`: nullopt for a direct connection, an error when the configured proxy
  // URL for that scheme is invalid (Unavailable, names the variable, not its value).
  Result<std::optional<ProxyEndpoint>> select(const Url& target) const;

 private:
  struct Entry {
    std::optional<ProxyEndpoint> proxy;
    std::string error;  // non-empty when the configured URL was invalid
  };
  static Entry makeEntry(std::string_view text, std::string_view what);

  Entry http_;
  Entry https_;
  std::string no_proxy_;
};

}  // namespace hubgate::upstream
