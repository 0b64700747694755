// Redirect and credential rules for upstream hops (pure, no I/O).
//
// A redirect target is followed only if it is on the upstream's own host with the upstream's
// scheme (any port: the Hub's relative redirects, internal parents, the test CDN), or is https on
// a host matching the allowlist ("cdn-lfs.hf.co" exact, "*.hf.co" any subdomain) that is not an
// IP literal of a non-public address (loopback, private, link-local, metadata ...; see
// upstream/address_policy.h) unless private addresses are allowed. Requests to any host other
// than the upstream's own are sent with upstream::Request::public_addresses_only (unless private
// addresses are allowed), so a CDN name that resolves to a private address is refused at connect
// time too. The upstream's own host is configured by the operator and is never restricted.
// Credentials (the caller's or the gateway's Authorization) go only to the upstream's exact origin.
#pragma once

#include <string>
#include <vector>

#include "upstream/url.h"

namespace hubgate::hub {

bool hostMatches(const std::string& host, const std::string& pattern);
bool redirectAllowed(const upstream::Url& target, const upstream::Url& upstream,
                     const std::vector<std::string>& allow_hosts, bool allow_private = false);
// Whether a request to `target` must be restricted to public addresses (the value for
// upstream::Request::public_addresses_only): true off the upstream's own host unless
// `allow_private`.
inline bool publicAddressesOnly(const upstream::Url& target, const upstream::Url& upstream,
                                bool allow_private) {
  return !allow_private && target.host != upstream.host;
}
inline bool mayCarryCredentials(const upstream::Url& target, const upstream::Url& upstream) {
  return target.origin() == upstream.origin();
}

}  // namespace hubgate::hub
