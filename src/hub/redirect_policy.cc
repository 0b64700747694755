#include "hub/redirect_policy.h"

#include "upstream/address_policy.h"

namespace hubgate::hub {

bool hostMatches(const std::string& host, const std::string& pattern) {
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    std::string suffix = pattern.substr(1);  // ".hf.co"
    return host.size() > suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return host == pattern;
}

bool redirectAllowed(const upstream::Url& target, const upstream::Url& upstream,
                     const std::vector<std::string>& allow_hosts, bool allow_private) {
  if (target.host == upstream.host && target.scheme == upstream.scheme) return true;
  if (target.scheme != "https") return false;
  if (!allow_private) {
    // Refused before any connect; names are checked after resolution by the client.
    auto literal = upstream::ipLiteral(target.host);
    if (literal && !upstream::isPublicAddress(*literal)) return false;
  }
  for (const auto& p : allow_hosts) {
    if (hostMatches(target.host, p)) return true;
  }
  return false;
}

}  // namespace hubgate::hub
