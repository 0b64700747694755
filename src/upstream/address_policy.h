// Address policy: which IP addresses an upstream request restricted to the public Internet may
// connect to (SSRF hardening for redirect targets such as signed CDN URLs).
//
// Pure functions, no I/O, safe from any thread.
//
// isPublicAddress() is false for every address that is not globally routable unicast:
//   IPv4: 0/8 (incl. 0.0.0.0), 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16 (link-local, incl. the
//         cloud metadata address 169.254.169.254), 172.16/12, 192.0.0/24 (IETF assignments),
//         192.0.2/24, 198.51.100/24, 203.0.113/24 (documentation), 192.88.99/24 (6to4 relay),
//         192.168/16, 198.18/15 (benchmarking), 224/4 (multicast), 240/4 (reserved, incl.
//         255.255.255.255 broadcast).
//   IPv6: everything outside 2000::/3, the global unicast block (so ::, ::1, ::/96, 100::/64,
//         64:ff9b:1::/48, fc00::/7, fe80::/10, fec0::/10, ff00::/8 ...), and inside it 2001::/23
//         (IETF assignments incl. Teredo), 2001:db8::/32 and 3fff::/20 (documentation).
//   Addresses that embed an IPv4 address are judged by that address: IPv4-mapped ::ffff:a.b.c.d,
//   NAT64 64:ff9b::/96 and 6to4 2002::/16 (so ::ffff:10.0.0.1 is not public).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string_view>

namespace hubgate::upstream {

bool isPublicAddress(const boost::asio::ip::address& addr);

// The address when `host` is an IP literal (as Url::host holds it: IPv6 without brackets),
// nullopt for a host name. Includes the legacy IPv4 forms that getaddrinfo and many proxies
// read as numbers ("2130706433", "0x7f.1", "127.1" are all 127.0.0.1).
std::optional<boost::asio::ip::address> ipLiteral(std::string_view host);

}  // namespace hubgate::upstream
