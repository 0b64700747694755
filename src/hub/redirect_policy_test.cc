#include "hub/redirect_policy.h"

#include <gtest/gtest.h>

namespace hubgate::hub {
namespace {

upstream::Url u(const char* s) { return *upstream::Url::parse(s); }

TEST(RedirectPolicy, AllowsHubCdnHostsOverHttpsOnly) {
  std::vector<std::string> allow = {"cdn-lfs.hf.co", "*.xethub.hf.co"};
  auto hub = u("https://huggingface.co");
  EXPECT_TRUE(redirectAllowed(u("https://cdn-lfs.hf.co/a?sig=1"), hub, allow));
  EXPECT_TRUE(redirectAllowed(u("https://cas-bridge.xethub.hf.co/x"), hub, allow));
  EXPECT_FALSE(redirectAllowed(u("http://cdn-lfs.hf.co/a"), hub, allow));  // downgrade refused
  EXPECT_FALSE(redirectAllowed(u("https://xethub.hf.co.evil.com/x"), hub, allow));
  EXPECT_FALSE(redirectAllowed(u("https://evil.com/x"), hub, allow));
  EXPECT_FALSE(redirectAllowed(u("https://xethub.hf.co/x"), hub, allow));  // "*." needs a label
}

TEST(RedirectPolicy, UpstreamHostAnyPortSameScheme) {
  auto hub = u("http://127.0.0.1:8000");
  EXPECT_TRUE(redirectAllowed(u("http://127.0.0.1:9000/cdn/x"), hub, {}));
  EXPECT_FALSE(redirectAllowed(u("http://127.0.0.2:9000/cdn/x"), hub, {}));
  EXPECT_FALSE(redirectAllowed(u("http://localhost:9000/cdn/x"), hub, {}));
  EXPECT_FALSE(redirectAllowed(u("https://127.0.0.1:9000/cdn/x"), hub, {}));
}

TEST(RedirectPolicy, NonPublicIpLiteralsAreRefusedUnlessPrivateIsAllowed) {
  auto hub = u("https://huggingface.co");
  // Even when an operator allowlisted them, non-public literals need allow_private.
  std::vector<std::string> allow = {"169.254.169.254", "10.1.2.3", "fe80::1", "127.0.0.2",
                                    "::ffff:10.0.0.1", "8.8.8.8",  "*.hf.co"};
  for (const char* url :
       {"https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/x", "https://[fe80::1]/x",
        "https://127.0.0.2:9000/cdn/x", "https://[::ffff:10.0.0.1]/x"}) {
    EXPECT_FALSE(redirectAllowed(u(url), hub, allow)) << url;
    EXPECT_FALSE(redirectAllowed(u(url), hub, allow, /*allow_private=*/false)) << url;
    EXPECT_TRUE(redirectAllowed(u(url), hub, allow, /*allow_private=*/true)) << url;
    EXPECT_FALSE(redirectAllowed(u(url), hub, {"*.hf.co"}, /*allow_private=*/true)) << url;
  }
  // Legacy numeric forms are literals too (2130706433 and 0x7f.1 are 127.0.0.1).
  EXPECT_FALSE(redirectAllowed(u("https://2130706433/x"), hub, {"2130706433"}));
  EXPECT_FALSE(redirectAllowed(u("https://0x7f.1/x"), hub, {"0x7f.1"}));
  // Public literals still need the allowlist; http is refused whatever allow_private says.
  EXPECT_TRUE(redirectAllowed(u("https://8.8.8.8/x"), hub, allow));
  EXPECT_FALSE(redirectAllowed(u("https://8.8.4.4/x"), hub, allow));
  EXPECT_FALSE(redirectAllowed(u("http://10.1.2.3/x"), hub, allow, /*allow_private=*/true));
  EXPECT_TRUE(redirectAllowed(u("https://cdn.hf.co/x"), hub, allow));
}

TEST(RedirectPolicy, TheUpstreamsOwnHostIsNeverRestricted) {
  auto hub = u("http://127.0.0.1:8000");
  for (bool allow_private : {false, true}) {
    EXPECT_TRUE(redirectAllowed(u("http://127.0.0.1:9000/cdn/x?sig=1"), hub, {}, allow_private));
    EXPECT_TRUE(redirectAllowed(u("http://127.0.0.1:8000/x"), hub, {}, allow_private));
    EXPECT_FALSE(publicAddressesOnly(u("http://127.0.0.1:9000/cdn/x"), hub, allow_private));
    EXPECT_FALSE(publicAddressesOnly(u("https://127.0.0.1:9443/x"), hub, allow_private));
  }
  EXPECT_FALSE(redirectAllowed(u("http://127.0.0.2:9000/cdn/x"), hub, {"127.0.0.2"}, true));
  EXPECT_FALSE(redirectAllowed(u("https://127.0.0.2:9000/cdn/x"), hub, {"127.0.0.2"}));
  EXPECT_TRUE(redirectAllowed(u("https://127.0.0.2:9000/cdn/x"), hub, {"127.0.0.2"}, true));
}

TEST(RedirectPolicy, HopsOffTheUpstreamHostAreRestrictedToPublicAddresses) {
  auto hub = u("https://huggingface.co");
  EXPECT_TRUE(publicAddressesOnly(u("https://cdn-lfs.hf.co/a?sig=1"), hub, false));
  EXPECT_TRUE(publicAddressesOnly(u("https://127.0.0.2/a"), hub, false));
  EXPECT_FALSE(publicAddressesOnly(u("https://cdn-lfs.hf.co/a?sig=1"), hub, true));
  EXPECT_FALSE(publicAddressesOnly(u("https://huggingface.co/api/resolve-cache/x"), hub, false));
  EXPECT_FALSE(publicAddressesOnly(u("https://huggingface.co:8443/x"), hub, false));
}

TEST(RedirectPolicy, CredentialsOnlyToTheExactUpstreamOrigin) {
  auto hub = u("http://127.0.0.1:8000");
  EXPECT_TRUE(mayCarryCredentials(u("http://127.0.0.1:8000/api/resolve-cache/x"), hub));
  EXPECT_FALSE(mayCarryCredentials(u("http://127.0.0.1:9000/cdn/x"), hub));
  EXPECT_FALSE(mayCarryCredentials(u("https://127.0.0.1:8000/x"), hub));
}

}  // namespace
}  // namespace hubgate::hub
