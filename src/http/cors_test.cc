#include "http/cors.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::http {
namespace {

std::map<std::string, std::string> asMap(const HeaderList& headers) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : headers) {
    EXPECT_TRUE(out.emplace(name, value).second) << "duplicate " << name;
  }
  return out;
}

TEST(CorsHeaders, AllowOrigin) {
  struct Case {
    std::string origin;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"https://app.example", "https://app.example"},
      {"http://localhost:5173", "http://localhost:5173"},
      {"null", "null"},
      {" https://a.example ", "https://a.example"},
      {"", "*"},
      {"https://a, https://b", "*"},
      {"https://a\r\nSet-Cookie: x", "*"},
      {"https://a b", "*"},
      {"https://\xC3\xA9", "*"},
      {std::string(3000, 'a'), "*"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.origin);
    auto h = asMap(corsHeaders(c.origin));
    EXPECT_EQ(h.size(), 3u);
    EXPECT_EQ(h["Access-Control-Allow-Origin"], c.expected);
    EXPECT_EQ(h["Access-Control-Expose-Headers"], kExposeHeaders);
    EXPECT_EQ(h["Vary"], "Origin");
  }
}

TEST(PreflightHeaders, AllowHeaders) {
  struct Case {
    std::string requested;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"authorization, range", "authorization,range"},
      {"Authorization,Content-Type,X-Custom_1", "Authorization,Content-Type,X-Custom_1"},
      {" , authorization ,, ", "authorization"},
      {"authorization, bad header, x\r\ny, range", "authorization,range"},
      {"", std::string(kDefaultAllowHeaders)},
      {" , ", std::string(kDefaultAllowHeaders)},
      {"bad header", std::string(kDefaultAllowHeaders)},
      {std::string(5000, 'a'), std::string(kDefaultAllowHeaders)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.requested);
    auto h = asMap(preflightHeaders("https://app.example", c.requested));
    EXPECT_EQ(h.size(), 6u);
    EXPECT_EQ(h["Access-Control-Allow-Origin"], "https://app.example");
    EXPECT_EQ(h["Access-Control-Expose-Headers"], kExposeHeaders);
    EXPECT_EQ(h["Access-Control-Allow-Methods"], "GET, HEAD, POST, OPTIONS");
    EXPECT_EQ(h["Access-Control-Allow-Headers"], c.expected);
    EXPECT_EQ(h["Access-Control-Max-Age"], "86400");
    EXPECT_EQ(h["Vary"], "Origin, Access-Control-Request-Headers");
  }
  auto h = asMap(preflightHeaders("", ""));
  EXPECT_EQ(h["Access-Control-Allow-Origin"], "*");
  for (std::string_view needed : {"Authorization", "Range", "Content-Type", "If-None-Match"}) {
    EXPECT_NE(kDefaultAllowHeaders.find(needed), std::string_view::npos) << needed;
  }
}

}  // namespace
}  // namespace hubgate::http
