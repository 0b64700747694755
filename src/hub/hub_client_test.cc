// HubClient redirect handling against a scripted upstream::Client: hop limits, the SSRF guard on
// CDN hops (public_addresses_only, refused IP literals) and query-free error contexts.
#include "hub/hub_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <ostream>
#include <string>
#include <vector>

#include "testing/fake_response.h"

namespace hubgate::hub {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kCommit(40, 'c');
const std::string kSha(64, 'a');

// One request as the fake client saw it.
struct Sent {
  std::string method;
  std::string url;
  bool public_only = false;
  friend bool operator==(const Sent&, const Sent&) = default;
};

void PrintTo(const Sent& s, std::ostream* os) {
  *os << s.method << " " << s.url << (s.public_only ? " [public-only]" : "");
}

// A scripted upstream::Client: records every request and answers with `respond(request)`.
class ScriptedClient final : public upstream::Client {
 public:
  using Respond = std::function<std::unique_ptr<testing::FakeResponse>(const upstream::Request&)>;
  explicit ScriptedClient(Respond respond) : respond_(std::move(respond)) {}

  asio::awaitable<Result<std::unique_ptr<upstream::Response>>> send(
      upstream::Request req) override {
    sent.push_back(
        Sent{std::string(bhttp::to_string(req.method)), req.url.str(), req.public_addresses_only});
    co_return std::unique_ptr<upstream::Response>(respond_(req));
  }

  std::vector<Sent> sent;

 private:
  Respond respond_;
};

std::unique_ptr<testing::FakeResponse> redirectTo(const std::string& location, bool with_meta) {
  auto r = std::make_unique<testing::FakeResponse>(302, "");
  r->mutableHeaders().set("Location", location);
  if (with_meta) {
    r->mutableHeaders().set("X-Repo-Commit", kCommit);
    r->mutableHeaders().set("X-Linked-Etag", "\"" + kSha + "\"");
    r->mutableHeaders().set("X-Linked-Size", "5");
  }
  return r;
}

std::unique_ptr<testing::FakeResponse> answer(int status, std::string body = "") {
  return std::make_unique<testing::FakeResponse>(status, std::move(body));
}

template <class T>
T runCoro(asio::awaitable<T> coro) {
  asio::io_context ioc;
  auto done = asio::co_spawn(ioc, std::move(coro), asio::use_future);
  ioc.run_for(std::chrono::seconds(10));
  EXPECT_EQ(done.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  return done.get();
}

HubConfig config(const char* upstream, std::vector<std::string> allow = {"*.hf.co"},
                 bool allow_private = false) {
  HubConfig c;
  c.upstream = *upstream::Url::parse(upstream);
  c.redirect_allow_hosts = std::move(allow);
  c.max_redirects = 3;
  c.allow_private_addresses = allow_private;
  return c;
}

FileRef file() { return FileRef{RepoType::Model, "org/model", "main", "model.bin"}; }

Result<MetaOutcome> meta(HubClient& hub) { return runCoro(hub.fileMeta(file(), "")); }

Result<std::unique_ptr<upstream::Response>> openBody(HubClient& hub, const FileMeta& m) {
  auto source = hub.fillSource(file(), m, "");
  return runCoro(source->open(0));
}

TEST(HubClientRedirects, FileMetaRedirectLoopEndsAfterMaxRedirects) {
  ScriptedClient client([](const upstream::Request& req) {
    return redirectTo(req.url.target, false);  // the Hub redirects to itself forever
  });
  UpstreamGate gate(false);
  HubClient hub(client, config("https://huggingface.co"), gate);
  auto got = meta(hub);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(got.error().context, HasSubstr("too many upstream redirects"));
  EXPECT_EQ(client.sent.size(), 4u);  // the first request + max_redirects hops
}

TEST(HubClientRedirects, BodyRedirectLoopEndsAfterMaxRedirects) {
  ScriptedClient client([](const upstream::Request& req) {
    return redirectTo("https://cdn-lfs.hf.co" + req.url.target, false);
  });
  UpstreamGate gate(false);
  HubClient hub(client, config("https://huggingface.co"), gate);
  FileMeta m;
  m.body_url = *upstream::Url::parse("https://cdn-lfs.hf.co/blob?X-Amz-Signature=secret");
  m.size = 5;
  auto got = openBody(hub, m);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(got.error().context, HasSubstr("too many upstream redirects"));
  EXPECT_THAT(got.error().context, Not(HasSubstr("secret")));
  // The first request + max_redirects hops + the one spare for an expired-URL refresh.
  EXPECT_EQ(client.sent.size(), 5u);
  for (const auto& s : client.sent) EXPECT_TRUE(s.public_only) << s.url;
}

TEST(HubClientRedirects, CdnHopsAreRestrictedToPublicAddressesHubHopsAreNot) {
  int cdn_gets = 0;
  ScriptedClient client([&cdn_gets](const upstream::Request& req) {
    if (req.url.host == "huggingface.co") {
      return redirectTo("https://cdn-lfs.hf.co/blob?sig=" + std::to_string(cdn_gets), true);
    }
    // The first signed URL has expired: the source asks the Hub for a fresh one.
    return ++cdn_gets == 1 ? answer(403) : answer(200, "hello");
  });
  UpstreamGate gate(false);
  HubClient hub(client, config("https://huggingface.co"), gate);
  auto got = meta(hub);
  ASSERT_TRUE(got.has_value()) << got.error().context;
  auto* m = std::get_if<FileMeta>(&*got);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->body_url.str(), "https://cdn-lfs.hf.co/blob?sig=0");
  auto body = openBody(hub, *m);
  ASSERT_TRUE(body.has_value()) << body.error().context;
  EXPECT_EQ((*body)->status(), 200);
  const std::string head = "https://huggingface.co/org/model/resolve/main/model.bin";
  EXPECT_THAT(client.sent,
              ElementsAre(Sent{"HEAD", head, false}, Sent{"GET", m->body_url.str(), true},
                          Sent{"HEAD", head, false},
                          Sent{"GET", "https://cdn-lfs.hf.co/blob?sig=1", true}));
}

TEST(HubClientRedirects, AllowPrivateAddressesLiftsTheRestriction) {
  ScriptedClient client([](const upstream::Request&) { return answer(200, "hello"); });
  UpstreamGate gate(false);
  HubClient hub(client, config("https://huggingface.co", {"*.hf.co"}, true), gate);
  FileMeta m;
  m.body_url = *upstream::Url::parse("https://cdn-lfs.hf.co/blob?sig=1");
  m.size = 5;
  auto body = openBody(hub, m);
  ASSERT_TRUE(body.has_value()) << body.error().context;
  ASSERT_EQ(client.sent.size(), 1u);
  EXPECT_FALSE(client.sent[0].public_only);
}

TEST(HubClientRedirects, TheUpstreamsOwnHostIsNeverRestricted) {
  // The test setup: fake Hub and fake CDN on 127.0.0.1, different ports.
  ScriptedClient client([](const upstream::Request& req) {
    if (req.url.port == 8000) return redirectTo("http://127.0.0.1:9000/cdn/blob?sig=1", true);
    return answer(200, "hello");
  });
  UpstreamGate gate(false);
  HubClient hub(client, config("http://127.0.0.1:8000", {}), gate);
  auto got = meta(hub);
  ASSERT_TRUE(got.has_value()) << got.error().context;
  auto* m = std::get_if<FileMeta>(&*got);
  ASSERT_NE(m, nullptr);
  auto body = openBody(hub, *m);
  ASSERT_TRUE(body.has_value()) << body.error().context;
  ASSERT_EQ(client.sent.size(), 2u);
  EXPECT_FALSE(client.sent[0].public_only);
  EXPECT_FALSE(client.sent[1].public_only);
}

TEST(HubClientRedirects, RedirectToANonPublicLiteralIsRefusedBeforeAnyRequest) {
  for (const char* target :
       {"https://169.254.169.254/latest/meta-data/?sig=secret", "https://10.1.2.3/blob?sig=secret",
        "https://[fe80::1]/b?sig=secret", "https://127.0.0.2/b?sig=secret"}) {
    SCOPED_TRACE(target);
    const std::vector<std::string> allow = {"*.hf.co", "169.254.169.254", "10.1.2.3", "fe80::1",
                                            "127.0.0.2"};
    {
      ScriptedClient client([&](const upstream::Request&) { return redirectTo(target, true); });
      UpstreamGate gate(false);
      HubClient hub(client, config("https://huggingface.co", allow), gate);
      auto got = meta(hub);
      ASSERT_FALSE(got.has_value());
      EXPECT_EQ(got.error().code, ErrorCode::Forbidden);
      EXPECT_THAT(got.error().context, Not(HasSubstr("secret")));
      EXPECT_EQ(client.sent.size(), 1u);  // only the Hub's HEAD
    }
    {
      // The CDN redirecting there is refused as well, before a request goes out.
      ScriptedClient client([&](const upstream::Request&) { return redirectTo(target, false); });
      UpstreamGate gate(false);
      HubClient hub(client, config("https://huggingface.co", allow), gate);
      FileMeta m;
      m.body_url = *upstream::Url::parse("https://cdn-lfs.hf.co/blob?sig=1");
      m.size = 5;
      auto got = openBody(hub, m);
      ASSERT_FALSE(got.has_value());
      EXPECT_EQ(got.error().code, ErrorCode::Forbidden);
      EXPECT_THAT(got.error().context, Not(HasSubstr("secret")));
      EXPECT_EQ(client.sent.size(), 1u);  // only the CDN's GET
    }
    {
      // Configured to allow private addresses: followed.
      ScriptedClient client([&](const upstream::Request&) { return redirectTo(target, true); });
      UpstreamGate gate(false);
      HubClient hub(client, config("https://huggingface.co", allow, true), gate);
      auto got = meta(hub);
      ASSERT_TRUE(got.has_value()) << got.error().context;
      EXPECT_NE(std::get_if<FileMeta>(&*got), nullptr);
    }
  }
}

TEST(HubClientRedirects, APrivateBodyUrlHandedBackIsRefused) {
  ScriptedClient client([](const upstream::Request&) { return answer(200, "hello"); });
  UpstreamGate gate(false);
  HubClient hub(client, config("https://huggingface.co", {"10.0.0.7"}), gate);
  FileMeta m;
  m.body_url = *upstream::Url::parse("https://10.0.0.7/blob?sig=secret");
  m.size = 5;
  auto got = openBody(hub, m);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Forbidden);
  EXPECT_THAT(got.error().context, Not(HasSubstr("secret")));
  EXPECT_TRUE(client.sent.empty());
}

}  // namespace
}  // namespace hubgate::hub
