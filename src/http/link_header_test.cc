#include "http/link_header.h"

#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::http {
namespace {

constexpr std::string_view kGw = "http://gw:8080";

struct LinkCase {
  std::string name;
  std::string value;
  std::string expected;
};

TEST(RewriteLinkHeader, Table) {
  const std::vector<LinkCase> cases = {
      {"tree pagination",
       R"(<https://huggingface.co/api/models/org/name/tree/main?recursive=true&cursor=ZXlK%3D%3D>; rel="next")",
       R"(<http://gw:8080/api/models/org/name/tree/main?recursive=true&cursor=ZXlK%3D%3D>; rel="next")"},
      {"xet relations removed, others kept in order",
       R"(<https://huggingface.co/api/models/o/n/xet-read-token/abc>; rel="xet-auth", )"
       R"(<https://cas-server.xethub.hf.co/reconstructions/h>; rel="xet-reconstruction-info", )"
       R"(<https://huggingface.co/a>; rel="next", <https://huggingface.co/b>; rel="prev")",
       R"(<http://gw:8080/a>; rel="next", <http://gw:8080/b>; rel="prev")"},
      {"only xet", R"(<https://hf.co/t>; rel="xet-auth")", ""},
      {"xet rel among several types, any case", R"(<https://hf.co/t>; rel="preload XET-AUTH")", ""},
      {"empty", "", ""},
      {"whitespace and commas only", " , ,\t", ""},
      {"token rel and no space get normalised", "<https://hf.co/p?c=1>;rel=next",
       R"(<http://gw:8080/p?c=1>; rel="next")"},
      {"rel moved first, names lower-cased, other params kept",
       R"(<https://hf.co/p>; type="text/html" ; REL = "next"; title*=UTF-8''x; crossorigin)",
       R"(<http://gw:8080/p>; rel="next"; type="text/html"; title*="UTF-8''x"; crossorigin)"},
      {"commas inside <> and quotes",
       R"(<https://hf.co/a,b?x=1,2>; rel="next"; title="a, b", <https://hf.co/c>; rel="last")",
       R"(<http://gw:8080/a,b?x=1,2>; rel="next"; title="a, b", <http://gw:8080/c>; rel="last")"},
      {"escaped quote in quoted string", R"(<https://hf.co/a>; title="x\", y"; rel="next")",
       R"(<http://gw:8080/a>; rel="next"; title="x\", y")"},
      {"relative and non-http URLs kept", R"(</api/x?c=1>; rel="next", <ftp://h/x>; rel="alt")",
       R"(</api/x?c=1>; rel="next", <ftp://h/x>; rel="alt")"},
      {"scheme case, userinfo and port, no path", R"(<HTTPS://u:p@hub:443>; rel="next")",
       R"(<http://gw:8080>; rel="next")"},
      {"query directly after authority", R"(<http://hub?x=1>; rel="next")",
       R"(<http://gw:8080?x=1>; rel="next")"},
      {"path kept byte for byte", R"(<https://hub/a%2Fb/%E6%97%A5?q=%20+#frag>; rel="next")",
       R"(<http://gw:8080/a%2Fb/%E6%97%A5?q=%20+#frag>; rel="next")"},
      {"no rel", "<https://hub/x>", "<http://gw:8080/x>"},
      {"malformed value dropped, next kept", R"(garbage; rel="x", <https://hub/y>; rel="next")",
       R"(<http://gw:8080/y>; rel="next")"},
      {"unterminated URL", R"(<https://hub/y; rel="next")", ""},
      {"unterminated quote", R"(<https://hub/y>; rel="next)", ""},
      {"junk after URL dropped", R"(<https://hub/y> junk, <https://hub/z>; rel="next")",
       R"(<http://gw:8080/z>; rel="next")"},
      {"extra whitespace", "  <https://hub/y>  ;\t rel=\"next\"  ,  ",
       R"(<http://gw:8080/y>; rel="next")"},
  };
  for (const LinkCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(rewriteLinkHeader(c.value, kGw), c.expected);
  }
}

TEST(RewriteLinkHeader, GatewayOriginTrailingSlashIgnored) {
  EXPECT_EQ(rewriteLinkHeader(R"(<https://hub/x>; rel="next")", "https://gw/"),
            R"(<https://gw/x>; rel="next")");
}

// huggingface.js reads pagination links with exactly this expression.
TEST(RewriteLinkHeader, ParsableByHuggingfaceJs) {
  const std::regex js(R"js(<(https?:[/][/][^>]*)>;\s+rel="([^"]*)")js");
  for (std::string value : {"<https://hub/x?cursor=a>;rel=next", "<https://hub/x>; REL=next",
                            R"(<https://hub/x>; title="t"; rel="next")"}) {
    SCOPED_TRACE(value);
    std::smatch m;
    std::string out = rewriteLinkHeader(value, kGw);
    ASSERT_TRUE(std::regex_search(out, m, js)) << out;
    EXPECT_EQ(m[2], "next");
    EXPECT_TRUE(m[1].str().starts_with("http://gw:8080/x"));
  }
}

struct OriginCase {
  std::string host, proto, fwd_host, fallback, expected;
};

TEST(GatewayOrigin, Table) {
  const std::vector<OriginCase> cases = {
      {"gw:8080", "", "", "http://fallback", "http://gw:8080"},
      {"gw", "https", "", "http://fallback", "https://gw"},
      {"gw", "HTTPS", "", "http://fallback", "https://gw"},
      {"gw", "https, http", "", "http://fallback", "https://gw"},
      {"gw", "ftp", "", "http://fallback", "http://gw"},
      {"internal:8080", "https", "public.example.com", "x", "https://public.example.com"},
      {"internal", "", " a.example:443 , b.example", "x", "http://a.example:443"},
      {"[::1]:8080", "", "", "x", "http://[::1]:8080"},
      {"127.0.0.1:9", "", "", "x", "http://127.0.0.1:9"},
      {"", "", "", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
      {"", "https", "", "gw.local:8443", "https://gw.local:8443"},
      {"evil.com/x", "", "", "http://fb", "http://fb"},
      {"evil.com@x", "", "", "http://fb", "http://fb"},
      {"a b", "", "", "http://fb", "http://fb"},
      {"good", "", "bad host", "http://fb", "http://fb"},
      {"x\r\nSet-Cookie: a", "", "", "http://fb", "http://fb"},
      {std::string(256, 'a'), "", "", "http://fb", "http://fb"},
  };
  for (const OriginCase& c : cases) {
    SCOPED_TRACE(c.host + " | " + c.proto + " | " + c.fwd_host);
    EXPECT_EQ(gatewayOrigin(c.host, c.proto, c.fwd_host, c.fallback), c.expected);
  }
}

}  // namespace
}  // namespace hubgate::http
