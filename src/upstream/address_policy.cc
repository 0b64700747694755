#include "upstream/address_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

namespace hubgate::upstream {
namespace {

using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

struct V4Prefix {
  std::uint32_t base;
  int len;
};

constexpr V4Prefix kNonPublicV4[] = {
    {0x00000000, 8},   // 0.0.0.0/8 "this network", incl. the unspecified address
    {0x0A000000, 8},   // 10.0.0.0/8 private
    {0x64400000, 10},  // 100.64.0.0/10 carrier-grade NAT
    {0x7F000000, 8},   // 127.0.0.0/8 loopback
    {0xA9FE0000, 16},  // 169.254.0.0/16 link-local, incl. 169.254.169.254 (cloud metadata)
    {0xAC100000, 12},  // 172.16.0.0/12 private
    {0xC0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
    {0xC0000200, 24},  // 192.0.2.0/24 documentation (TEST-NET-1)
    {0xC0586300, 24},  // 192.88.99.0/24 6to4 relay anycast (deprecated)
    {0xC0A80000, 16},  // 192.168.0.0/16 private
    {0xC6120000, 15},  // 198.18.0.0/15 benchmarking
    {0xC6336400, 24},  // 198.51.100.0/24 documentation (TEST-NET-2)
    {0xCB007100, 24},  // 203.0.113.0/24 documentation (TEST-NET-3)
    {0xE0000000, 4},   // 224.0.0.0/4 multicast
    {0xF0000000, 4},   // 240.0.0.0/4 reserved, incl. 255.255.255.255 broadcast
};

struct V6Prefix {
  std::array<std::uint8_t, 4> head;  // the first 4 bytes; all prefixes here are at most /32
  int len;
};

// Non-public blocks inside 2000::/3 (everything outside it is not public).
constexpr V6Prefix kNonPublicGlobalV6[] = {
    {{0x20, 0x01, 0x00, 0x00}, 23},  // 2001::/23 IETF protocol assignments (Teredo, ORCHID, ...)
    {{0x20, 0x01, 0x0d, 0xb8}, 32},  // 2001:db8::/32 documentation
    {{0x3f, 0xff, 0x00, 0x00}, 20},  // 3fff::/20 documentation
};

bool inV4(std::uint32_t a, const V4Prefix& p) {
  const std::uint32_t mask = p.len == 0 ? 0 : ~std::uint32_t{0} << (32 - p.len);
  return (a & mask) == p.base;
}

bool inV6(const address_v6::bytes_type& a, const V6Prefix& p) {
  for (int i = 0; i < p.len / 8; ++i) {
    if (a[i] != p.head[i]) return false;
  }
  if (const int rest = p.len % 8; rest != 0) {
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    if ((a[p.len / 8] & mask) != p.head[p.len / 8]) return false;
  }
  return true;
}

bool isPublicV4(const address_v4& addr) {
  const std::uint32_t a = addr.to_uint();
  for (const auto& p : kNonPublicV4) {
    if (inV4(a, p)) return false;
  }
  return true;
}

address_v4 v4At(const address_v6::bytes_type& b, int offset) {
  return address_v4(address_v4::bytes_type{b[offset], b[offset + 1], b[offset + 2], b[offset + 3]});
}

bool isPublicV6(const address_v6& addr) {
  const auto b = addr.to_bytes();
  if (addr.is_v4_mapped()) return isPublicV4(v4At(b, 12));
  // 64:ff9b::/96: NAT64 well-known prefix, the translator connects to the embedded address.
  constexpr std::array<std::uint8_t, 12> kNat64 = {0x00, 0x64, 0xff, 0x9b};
  if (std::equal(kNat64.begin(), kNat64.end(), b.begin())) return isPublicV4(v4At(b, 12));
  if ((b[0] & 0xE0) != 0x20) return false;  // outside 2000::/3 global unicast
  // 2002::/16: 6to4, bytes 2..5 are the IPv4 address of the tunnel end point.
  if (b[0] == 0x20 && b[1] == 0x02) return isPublicV4(v4At(b, 2));
  for (const auto& p : kNonPublicGlobalV6) {
    if (inV6(b, p)) return false;
  }
  return true;
}

}  // namespace

bool isPublicAddress(const boost::asio::ip::address& addr) {
  return addr.is_v4() ? isPublicV4(addr.to_v4()) : isPublicV6(addr.to_v6());
}

std::optional<boost::asio::ip::address> ipLiteral(std::string_view host) {
  const std::string text(host);
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(text, ec);
  if (!ec) return addr;
  // inet_aton() is the legacy parser behind getaddrinfo's numeric IPv4 forms.
  in_addr legacy{};
  if (!text.empty() && text.find_first_of(" \t\r\n") == std::string::npos &&
      ::inet_aton(text.c_str(), &legacy) != 0) {
    return boost::asio::ip::address(address_v4(ntohl(legacy.s_addr)));
  }
  return std::nullopt;
}

}  // namespace hubgate::upstream
