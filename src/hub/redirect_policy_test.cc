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

TEST(RedirectPolicy, CredentialsOnlyToTheExactUpstreamOrigin) {
  auto hub = u("http://127.0.0.1:8000");
  EXPECT_TRUE(mayCarryCredentials(u("http://127.0.0.1:8000/api/resolve-cache/x"), hub));
  EXPECT_FALSE(mayCarryCredentials(u("http://127.0.0.1:9000/cdn/x"), hub));
  EXPECT_FALSE(mayCarryCredentials(u("https://127.0.0.1:8000/x"), hub));
}

}  // namespace
}  // namespace hubgate::hub
