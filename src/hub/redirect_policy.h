// Redirect and credential rules for upstream hops (pure, no I/O).
//
// A redirect target is followed only if it is on the upstream's own host with the upstream's
// scheme (any port: the Hub's relative redirects, internal parents, the test CDN), or is https on
// a host matching the allowlist ("cdn-lfs.hf.co" exact, "*.hf.co" any subdomain). Credentials
// (the caller's or the gateway's Authorization) go only to the upstream's exact origin.
#pragma once

#include <string>
#include <vector>

#include "upstream/url.h"

namespace hubgate::hub {

bool hostMatches(const std::string& host, const std::string& pattern);
bool redirectAllowed(const upstream::Url& target, const upstream::Url& upstream,
                     const std::vector<std::string>& allow_hosts);
inline bool mayCarryCredentials(const upstream::Url& target, const upstream::Url& upstream) {
  return target.origin() == upstream.origin();
}

}  // namespace hubgate::hub
