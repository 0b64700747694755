#include "upstream/address_policy.h"

#include <gtest/gtest.h>

#include <string>

namespace hubgate::upstream {
namespace {

struct Case {
  const char* address;
  bool is_public;
};

// One row per range edge that matters: the first/last address inside a blocked range and the
// nearest public neighbours.
constexpr Case kCases[] = {
    // IPv4: public
    {"8.8.8.8", true},
    {"1.1.1.1", true},
    {"13.35.0.1", true},  // a CloudFront address
    {"9.255.255.255", true},
    {"11.0.0.0", true},
    {"100.63.255.255", true},
    {"100.128.0.0", true},
    {"126.255.255.255", true},
    {"128.0.0.0", true},
    {"169.253.255.255", true},
    {"169.255.0.0", true},
    {"172.15.255.255", true},
    {"172.32.0.0", true},
    {"192.0.1.1", true},
    {"192.0.3.0", true},
    {"192.167.255.255", true},
    {"192.169.0.0", true},
    {"198.17.255.255", true},
    {"198.20.0.0", true},
    {"223.255.255.255", true},
    // IPv4: this network / unspecified
    {"0.0.0.0", false},
    {"0.1.2.3", false},
    // IPv4: loopback
    {"127.0.0.1", false},
    {"127.0.0.2", false},
    {"127.255.255.255", false},
    // IPv4: private
    {"10.0.0.0", false},
    {"10.1.2.3", false},
    {"10.255.255.255", false},
    {"172.16.0.0", false},
    {"172.31.255.255", false},
    {"192.168.0.1", false},
    {"192.168.255.255", false},
    // IPv4: link-local and the cloud metadata address
    {"169.254.0.0", false},
    {"169.254.169.254", false},
    {"169.254.255.255", false},
    // IPv4: carrier-grade NAT
    {"100.64.0.0", false},
    {"100.127.255.255", false},
    // IPv4: IETF assignments, documentation, benchmarking, 6to4 relay
    {"192.0.0.1", false},
    {"192.0.2.1", false},
    {"198.51.100.7", false},
    {"203.0.113.9", false},
    {"198.18.0.1", false},
    {"198.19.255.255", false},
    {"192.88.99.1", false},
    // IPv4: multicast, reserved, broadcast
    {"224.0.0.1", false},
    {"239.255.255.250", false},
    {"240.0.0.1", false},
    {"255.255.255.255", false},
    // IPv6: public
    {"2606:4700:4700::1111", true},
    {"2a00:1450:4001:82b::200e", true},
    {"2001:200::1", true},  // just past 2001::/23
    {"2001:db9::1", true},
    {"2620:0:2d0:200::7", true},
    {"3fff:1000::1", true},  // just past 3fff::/20
    // IPv6: unspecified, loopback, IPv4-compatible
    {"::", false},
    {"::1", false},
    {"::10.0.0.1", false},
    {"::8.8.8.8", false},  // deprecated IPv4-compatible form: not routable
    // IPv6: unique local, link-local, site-local, multicast
    {"fc00::1", false},
    {"fd00:ec2::254", false},  // an IPv6 metadata address
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},
    {"fe80::1", false},
    {"febf:ffff::1", false},
    {"fec0::1", false},
    {"ff02::1", false},
    {"ff0e::1", false},
    // IPv6: discard-only, local NAT64, IETF assignments (Teredo, benchmarking), documentation
    {"100::1", false},
    {"64:ff9b:1::1", false},
    {"2001::1", false},
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
    {"2001:2::1", false},
    {"2001:1ff:ffff::1", false},
    {"2001:db8::1", false},
    {"3fff::1", false},
    {"3fff:fff:ffff::1", false},
    // IPv6 embedding IPv4: judged by the embedded address
    {"::ffff:10.0.0.1", false},
    {"::ffff:127.0.0.1", false},
    {"::ffff:169.254.169.254", false},
    {"::ffff:192.168.1.1", false},
    {"::ffff:0.0.0.0", false},
    {"::ffff:8.8.8.8", true},
    {"64:ff9b::a9fe:a9fe", false},  // NAT64 of 169.254.169.254
    {"64:ff9b::7f00:1", false},     // NAT64 of 127.0.0.1
    {"64:ff9b::808:808", true},     // NAT64 of 8.8.8.8
    {"2002:c0a8:0101::1", false},   // 6to4 of 192.168.1.1
    {"2002:7f00:0001::1", false},   // 6to4 of 127.0.0.1
    {"2002:0808:0808::1", true},    // 6to4 of 8.8.8.8
};

TEST(AddressPolicy, ClassifiesAddresses) {
  for (const auto& c : kCases) {
    auto addr = ipLiteral(c.address);
    ASSERT_TRUE(addr.has_value()) << c.address;
    EXPECT_EQ(isPublicAddress(*addr), c.is_public) << c.address;
  }
}

TEST(AddressPolicy, IpLiteralRecognisesAddressesNotNames) {
  EXPECT_EQ(ipLiteral("127.0.0.1"), boost::asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(ipLiteral("fe80::1"), boost::asio::ip::make_address("fe80::1"));
  EXPECT_EQ(ipLiteral("::ffff:10.0.0.1"), boost::asio::ip::make_address("::ffff:10.0.0.1"));
  EXPECT_FALSE(ipLiteral("[::1]").has_value());  // Url::host holds IPv6 without brackets
  EXPECT_FALSE(ipLiteral("cdn-lfs.hf.co").has_value());
  EXPECT_FALSE(ipLiteral("1e100.net").has_value());
  EXPECT_FALSE(ipLiteral("localhost").has_value());
  EXPECT_FALSE(ipLiteral("").has_value());
  // Legacy numeric IPv4 forms that getaddrinfo (and proxies) read as addresses.
  const auto loopback = boost::asio::ip::make_address("127.0.0.1");
  EXPECT_EQ(ipLiteral("2130706433"), loopback);
  EXPECT_EQ(ipLiteral("0x7f.1"), loopback);
  EXPECT_EQ(ipLiteral("127.1"), loopback);
  EXPECT_EQ(ipLiteral("0177.0.0.1"), loopback);
  EXPECT_EQ(ipLiteral("0xa9.254.169.254"), boost::asio::ip::make_address("169.254.169.254"));
}

}  // namespace
}  // namespace hubgate::upstream
