#include "upstream/url.h"

#include <gtest/gtest.h>

#include <string>

namespace hubgate::upstream {
namespace {

TEST(UrlTest, ParsesAbsoluteUrls) {
  struct Case {
    std::string text;
    std::string scheme, host;
    std::uint16_t port;
    std::string target;
  };
  const Case cases[] = {
      {"https://huggingface.co", "https", "huggingface.co", 443, "/"},
      {"https://huggingface.co/", "https", "huggingface.co", 443, "/"},
      {"HTTPS://HuggingFace.CO/Org/Model", "https", "huggingface.co", 443, "/Org/Model"},
      {"http://example.com:8080/a/b?x=1&y=%2F", "http", "example.com", 8080, "/a/b?x=1&y=%2F"},
      {"http://example.com?q=1", "http", "example.com", 80, "/?q=1"},
      {"https://h.example/a#frag", "https", "h.example", 443, "/a"},
      {"http://[::1]:8080/x", "http", "::1", 8080, "/x"},
      {"https://[2001:DB8::1]/", "https", "2001:db8::1", 443, "/"},
      {"http://127.0.0.1:1/", "http", "127.0.0.1", 1, "/"},
      {"https://cdn-lfs.hf.co:65535/repos/a/b?X-Amz-Signature=abc", "https", "cdn-lfs.hf.co", 65535,
       "/repos/a/b?X-Amz-Signature=abc"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto url = Url::parse(c.text);
    ASSERT_TRUE(url.has_value()) << url.error().context;
    EXPECT_EQ(url->scheme, c.scheme);
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->target, c.target);
  }
}

TEST(UrlTest, RejectsInvalidUrls) {
  const char* cases[] = {
      "",
      "huggingface.co/x",
      "/relative",
      "ftp://example.com/",
      "file:///etc/passwd",
      "https://user:pass@example.com/",
      "https://user@example.com/",
      "https:///path",
      "https://:443/",
      "https://example.com:/",
      "https://example.com:0/",
      "https://example.com:65536/",
      "https://example.com:-1/",
      "https://example.com:80a/",
      "https://[::1/",
      "https://[]/",
      "https://[zz::1]/",
      "https://[::1]x/",
      "https://exa mple.com/",
      "https://example.com/a b",
      "https://example.com/a\r\nX-Injected: 1",
  };
  for (const char* text : cases) {
    SCOPED_TRACE(text);
    auto url = Url::parse(text);
    ASSERT_FALSE(url.has_value());
    EXPECT_EQ(url.error().code, ErrorCode::InvalidArgument);
  }
}

TEST(UrlTest, FormatsOriginStrHostHeaderAndRedacted) {
  auto url = Url::parse("https://huggingface.co/api/models/x?token=secret");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->origin(), "https://huggingface.co:443");
  EXPECT_EQ(url->str(), "https://huggingface.co/api/models/x?token=secret");
  EXPECT_EQ(url->hostHeader(), "huggingface.co");
  EXPECT_EQ(url->redacted(), "https://huggingface.co/api/models/x");
  EXPECT_TRUE(url->isHttps());

  auto v6 = Url::parse("http://[::1]:8080/a?b");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->origin(), "http://[::1]:8080");
  EXPECT_EQ(v6->str(), "http://[::1]:8080/a?b");
  EXPECT_EQ(v6->hostHeader(), "[::1]:8080");
  EXPECT_EQ(v6->redacted(), "http://[::1]:8080/a");
  EXPECT_FALSE(v6->isHttps());

  auto http_default = Url::parse("http://example.com:80/");
  ASSERT_TRUE(http_default.has_value());
  EXPECT_EQ(http_default->hostHeader(), "example.com");
  EXPECT_EQ(http_default->origin(), "http://example.com:80");
  auto https_on_80 = Url::parse("https://example.com:80/");
  ASSERT_TRUE(https_on_80.has_value());
  EXPECT_EQ(https_on_80->hostHeader(), "example.com:80");
}

TEST(UrlTest, ResolvesLocations) {
  auto base = Url::parse("https://huggingface.co/org/model/resolve/main/config.json?x=1");
  ASSERT_TRUE(base.has_value());
  struct Case {
    std::string location;
    std::string expected;
  };
  const Case cases[] = {
      {"https://cdn-lfs.hf.co/repos/ab/cd?Expires=1&Signature=s",
       "https://cdn-lfs.hf.co/repos/ab/cd?Expires=1&Signature=s"},
      {"http://other.example:8080", "http://other.example:8080/"},
      {"//cas-bridge.xethub.hf.co/xet/abc?sig=1", "https://cas-bridge.xethub.hf.co/xet/abc?sig=1"},
      {"/api/resolve-cache/models/org/model/abc/config.json?etag=1",
       "https://huggingface.co/api/resolve-cache/models/org/model/abc/config.json?etag=1"},
      {"/a/./b/../c", "https://huggingface.co/a/c"},
      {"other.json", "https://huggingface.co/org/model/resolve/main/other.json"},
      {"../dev/config.json", "https://huggingface.co/org/model/resolve/dev/config.json"},
      {"?y=2", "https://huggingface.co/org/model/resolve/main/config.json?y=2"},
      {"/x#frag", "https://huggingface.co/x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.location);
    auto url = base->resolve(c.location);
    ASSERT_TRUE(url.has_value()) << url.error().context;
    EXPECT_EQ(url->str(), c.expected);
  }
}

TEST(UrlTest, ResolveRejectsBadLocations) {
  auto base = Url::parse("https://huggingface.co/a");
  ASSERT_TRUE(base.has_value());
  for (const char* location :
       {"", "ftp://x/y", "javascript:alert(1)", "https://u@h/", "/a\r\nSet-Cookie: x", "//"}) {
    SCOPED_TRACE(location);
    auto url = base->resolve(location);
    ASSERT_FALSE(url.has_value());
    EXPECT_EQ(url.error().code, ErrorCode::InvalidArgument);
  }
}

}  // namespace
}  // namespace hubgate::upstream
