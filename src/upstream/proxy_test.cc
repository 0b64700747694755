#include "upstream/proxy.h"

#include <gtest/gtest.h>

#include <string>

namespace hubgate::upstream {
namespace {

TEST(ProxyTest, ParsesProxyUrls) {
  auto plain = parseProxyUrl("http://proxy.corp:3128");
  ASSERT_TRUE(plain.has_value()) << plain.error().context;
  EXPECT_EQ(plain->url.origin(), "http://proxy.corp:3128");
  EXPECT_EQ(plain->authorization, "");

  auto no_scheme = parseProxyUrl(" proxy.corp:8080/ ");
  ASSERT_TRUE(no_scheme.has_value());
  EXPECT_EQ(no_scheme->url.origin(), "http://proxy.corp:8080");

  auto default_port = parseProxyUrl("http://proxy.corp");
  ASSERT_TRUE(default_port.has_value());
  EXPECT_EQ(default_port->url.port, 80);

  auto auth = parseProxyUrl("http://Aladdin:open%20sesame@proxy.corp:3128");
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->url.origin(), "http://proxy.corp:3128");
  EXPECT_EQ(auth->authorization, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");

  auto user_only = parseProxyUrl("http://u@[::1]:3128");
  ASSERT_TRUE(user_only.has_value());
  EXPECT_EQ(user_only->url.host, "::1");
  EXPECT_EQ(user_only->authorization, "Basic dTo=");
}

TEST(ProxyTest, RejectsBadProxyUrlsWithoutEchoingThem) {
  for (const char* text : {"https://proxy:3128", "socks5://proxy:1080", "http://proxy:3128/path",
                           "http://user:s%ZZecret@proxy:1", "http://:3128", "http://proxy:99999"}) {
    SCOPED_TRACE(text);
    auto parsed = parseProxyUrl(text);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().context.find("secret"), std::string::npos);
    EXPECT_EQ(parsed.error().context.find("proxy:"), std::string::npos);
  }
}

TEST(ProxyTest, NoProxyMatching) {
  struct Case {
    const char* no_proxy;
    const char* host;
    bool match;
  };
  const Case cases[] = {
      {"", "huggingface.co", false},
      {"*", "huggingface.co", true},
      {"huggingface.co", "huggingface.co", true},
      {"huggingface.co", "cdn-lfs.huggingface.co", true},
      {".huggingface.co", "cdn-lfs.huggingface.co", true},
      {".huggingface.co", "huggingface.co", true},
      {"*.huggingface.co", "a.huggingface.co", true},
      {"huggingface.co", "nothuggingface.co", false},
      {"hf.co", "huggingface.co", false},
      {"localhost, 127.0.0.1 ,.internal", "127.0.0.1", true},
      {"localhost, 127.0.0.1 ,.internal", "a.b.internal", true},
      {"localhost, 127.0.0.1 ,.internal", "external", false},
      {"HuggingFace.CO", "huggingface.co", true},
      {"huggingface.co:443", "huggingface.co", true},
      {"[::1]", "::1", true},
      {"::1", "::1", true},
      {",,", "a", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.no_proxy) + " / " + c.host);
    EXPECT_EQ(noProxyMatches(c.no_proxy, c.host), c.match);
  }
}

TEST(ProxyTest, SelectorChoosesBySchemeAndNoProxy) {
  ProxySelector selector(ProxyConfig{
      .http_proxy = "http://p1:1", .https_proxy = "http://p2:2", .no_proxy = "internal.example"});
  auto https = selector.select(*Url::parse("https://huggingface.co/x"));
  ASSERT_TRUE(https.has_value());
  ASSERT_TRUE(https->has_value());
  EXPECT_EQ((*https)->url.origin(), "http://p2:2");

  auto http = selector.select(*Url::parse("http://huggingface.co/x"));
  ASSERT_TRUE(http.has_value());
  ASSERT_TRUE(http->has_value());
  EXPECT_EQ((*http)->url.origin(), "http://p1:1");

  auto bypass = selector.select(*Url::parse("https://a.internal.example/x"));
  ASSERT_TRUE(bypass.has_value());
  EXPECT_FALSE(bypass->has_value());

  ProxySelector direct;
  auto none = direct.select(*Url::parse("https://huggingface.co/x"));
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST(ProxyTest, InvalidProxyFailsRequestsThatWouldUseIt) {
  ProxySelector selector(ProxyConfig{.http_proxy = "", .https_proxy = "socks5://u:pw@p:1"});
  auto https = selector.select(*Url::parse("https://huggingface.co/x"));
  ASSERT_FALSE(https.has_value());
  EXPECT_EQ(https.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(https.error().context.find("pw"), std::string::npos);
  auto http = selector.select(*Url::parse("http://huggingface.co/x"));
  ASSERT_TRUE(http.has_value());
  EXPECT_FALSE(http->has_value());
}

}  // namespace
}  // namespace hubgate::upstream
