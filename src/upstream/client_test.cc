#include "upstream/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "upstream/test_servers.h"

namespace hubgate::upstream {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using testkit::Gate;
using testkit::makeResponse;
using testkit::ServerConn;
using testkit::TestServer;
using SteadyClock = std::chrono::steady_clock;

// ASSERT_* cannot be used in coroutines (they `return`).
#define CO_ASSERT(cond)                               \
  do {                                                \
    if (!(cond)) {                                    \
      ADD_FAILURE() << "assertion failed: " << #cond; \
      co_return;                                      \
    }                                                 \
  } while (0)

#define CO_ASSERT_OK(result)                                               \
  do {                                                                     \
    if (!(result).has_value()) {                                           \
      ADD_FAILURE() << #result << " failed: " << (result).error().context; \
      co_return;                                                           \
    }                                                                      \
  } while (0)

Request get(const std::string& url) {
  Request req;
  auto parsed = Url::parse(url);
  EXPECT_TRUE(parsed.has_value()) << url;
  if (parsed) req.url = *parsed;
  return req;
}

std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return out;
}

// Reads the body with reads of at most `chunk` bytes.
asio::awaitable<Result<std::string>> readBody(Response& response, std::size_t chunk) {
  std::string out;
  std::vector<std::byte> buf(chunk);
  for (;;) {
    auto n = co_await response.read(buf);
    if (!n) co_return std::unexpected(n.error());
    if (*n == 0) co_return out;
    EXPECT_LE(*n, chunk);
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
}

// A handler that answers every request on the connection with `respond(request)`.
TestServer::Handler serveAll(std::function<std::string(const ServerConn::HttpRequest&)> respond) {
  return [respond](ServerConn& conn) {
    while (auto req = conn.readRequest()) {
      if (!conn.write(respond(*req))) return;
    }
  };
}

TestServer::Handler serveBody(std::string body) {
  return serveAll([body](const ServerConn::HttpRequest&) { return makeResponse(200, body); });
}

class ClientTest : public ::testing::Test {
 protected:
  static ClientConfig testConfig() {
    ClientConfig config;
    config.use_env_proxy = false;  // never pick up the machine's proxy settings
    config.connect_timeout = 5s;
    config.first_byte_timeout = 5s;
    config.idle_timeout = 5s;
    return config;
  }

  std::unique_ptr<Client> makeClient(ClientConfig config = testConfig()) {
    return makeHttpClient(ioc_.get_executor(), std::move(config));
  }

  // Runs a test coroutine to completion on ioc_ (bounded in time).
  template <class F>
  void run(F&& body) {
    auto done = asio::co_spawn(ioc_, std::forward<F>(body), asio::use_future);
    ioc_.restart();
    ioc_.run_for(20s);
    ASSERT_EQ(done.wait_for(0s), std::future_status::ready) << "test coroutine did not finish";
    done.get();
  }

  asio::io_context ioc_;
};

TEST_F(ClientTest, GetStreamsContentLengthBodyInSmallReads) {
  const std::string body = pattern(100'000);
  TestServer server([body](ServerConn& conn) {
    while (auto req = conn.readRequest()) {
      conn.server().record(std::string(req->method_string()) + " " + std::string(req->target()));
      conn.server().record("Host: " + std::string((*req)[http::field::host]));
      conn.server().record("User-Agent: " + std::string((*req)[http::field::user_agent]));
      conn.server().record("X-Test: " + std::string((*req)["X-Test"]));
      conn.write(makeResponse(200, body, {{"ETag", "\"abc\""}}));
    }
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request req = get(server.url("/org/model/resolve/main/file.bin?x=1"));
    req.headers = {{"X-Test", "42"}};
    auto response = co_await client->send(std::move(req));
    CO_ASSERT_OK(response);
    EXPECT_EQ((*response)->status(), 200);
    EXPECT_EQ((*response)->contentLength(), body.size());
    EXPECT_EQ((*response)->headers()[http::field::etag], "\"abc\"");
    auto got = co_await readBody(**response, 333);
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, body);
    auto end = co_await (*response)->read(std::span<std::byte>());
    CO_ASSERT_OK(end);
    EXPECT_EQ(*end, 0u);
  });
  EXPECT_THAT(server.records(),
              ::testing::ElementsAre("GET /org/model/resolve/main/file.bin?x=1",
                                     "Host: 127.0.0.1:" + std::to_string(server.port()),
                                     "User-Agent: hubgate/0.1", "X-Test: 42"));
}

TEST_F(ClientTest, ChunkedBody) {
  const std::string body = pattern(12'345);
  TestServer server(serveAll([body](const ServerConn::HttpRequest&) {
    return makeResponse(200, body, {}, /*chunked=*/true);
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (std::size_t chunk : {1u, 700u, 4096u, 100'000u}) {
      auto response = co_await client->send(get(server.url("/chunked")));
      CO_ASSERT_OK(response);
      EXPECT_EQ((*response)->contentLength(), std::nullopt);
      auto got = co_await readBody(**response, chunk);
      CO_ASSERT_OK(got);
      EXPECT_EQ(*got, body) << "chunk " << chunk;
    }
  });
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(ClientTest, HeadHasNoBodyAndKeepsTheConnection) {
  TestServer server(serveAll([](const ServerConn::HttpRequest& req) {
    if (req.method() == http::verb::head) {
      return std::string("HTTP/1.1 200 OK\r\nContent-Length: 123456\r\nX-Repo-Commit: abc\r\n\r\n");
    }
    return makeResponse(200, "after head");
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request head = get(server.url("/file"));
    head.method = http::verb::head;
    auto response = co_await client->send(std::move(head));
    CO_ASSERT_OK(response);
    EXPECT_EQ((*response)->status(), 200);
    EXPECT_EQ((*response)->contentLength(), std::nullopt);
    EXPECT_EQ((*response)->headers()[http::field::content_length], "123456");
    EXPECT_EQ((*response)->headers()["X-Repo-Commit"], "abc");
    std::vector<std::byte> buf(100);
    auto n = co_await (*response)->read(buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, 0u);
    response->reset();
    auto next = co_await client->send(get(server.url("/file")));
    CO_ASSERT_OK(next);
    auto body = co_await (*next)->readAll(1000);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "after head");
  });
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(ClientTest, NoContentAndNotModifiedHaveNoBody) {
  TestServer server(serveAll([](const ServerConn::HttpRequest& req) {
    if (req.target() == "/204") return std::string("HTTP/1.1 204 No Content\r\n\r\n");
    return std::string("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 99\r\n\r\n");
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (const char* path : {"/204", "/304", "/204"}) {
      SCOPED_TRACE(path);
      auto response = co_await client->send(get(server.url(path)));
      CO_ASSERT_OK(response);
      EXPECT_EQ((*response)->status(), std::stoi(path + 1));
      EXPECT_EQ((*response)->contentLength(), std::nullopt);
      std::vector<std::byte> buf(10);
      auto n = co_await (*response)->read(buf);
      CO_ASSERT_OK(n);
      EXPECT_EQ(*n, 0u);
    }
  });
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(ClientTest, PostSendsBodyWithContentLength) {
  TestServer server([](ServerConn& conn) {
    while (auto req = conn.readRequest()) {
      conn.server().record(std::string(req->method_string()) + " " +
                           std::string((*req)[http::field::content_length]) + " " + req->body() +
                           " " + std::string((*req)[http::field::content_type]));
      conn.write(makeResponse(201, "created"));
    }
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request req = get(server.url("/api/repos/create"));
    req.method = http::verb::post;
    req.body = R"({"name":"x"})";
    req.headers = {{"Content-Type", "application/json"}, {"Content-Length", "999"}};
    auto response = co_await client->send(std::move(req));
    CO_ASSERT_OK(response);
    EXPECT_EQ((*response)->status(), 201);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "created");
  });
  EXPECT_THAT(server.records(), ::testing::ElementsAre(R"(POST 12 {"name":"x"} application/json)"));
}

TEST_F(ClientTest, RedirectIsReturnedNotFollowed) {
  TestServer server([](ServerConn& conn) {
    while (auto req = conn.readRequest()) {
      conn.server().record(std::string(req->target()));
      conn.write(makeResponse(302, "", {{"Location", "/cdn/blob?sig=1"}, {"X-Linked-Size", "9"}}));
    }
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request req = get(server.url("/org/model/resolve/main/model.bin"));
    const Url base = req.url;
    auto response = co_await client->send(std::move(req));
    CO_ASSERT_OK(response);
    EXPECT_EQ((*response)->status(), 302);
    const std::string location((*response)->headers()[http::field::location]);
    EXPECT_EQ(location, "/cdn/blob?sig=1");
    auto next = base.resolve(location);
    CO_ASSERT_OK(next);
    EXPECT_EQ(next->str(), server.url("/cdn/blob?sig=1"));
    auto body = co_await (*response)->readAll(10);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "");
  });
  EXPECT_THAT(server.records(), ::testing::ElementsAre("/org/model/resolve/main/model.bin"));
}

TEST_F(ClientTest, SmallBodiesDroppedUnreadKeepTheConnection) {
  TestServer server(serveAll([](const ServerConn::HttpRequest& req) {
    if (req.target() == "/chunked") {
      return makeResponse(404, R"({"error":"Entry not found"})", {}, /*chunked=*/true);
    }
    return makeResponse(302, "Found. Redirecting to /cdn/blob", {{"Location", "/cdn/blob"}});
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (const char* path : {"/redirect", "/chunked", "/redirect"}) {
      auto response = co_await client->send(get(server.url(path)));
      CO_ASSERT_OK(response);
      EXPECT_NE((*response)->status(), 200);
    }  // each dropped without reading the body
  });
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(ClientTest, InterimResponsesAreSkipped) {
  TestServer server(serveAll([](const ServerConn::HttpRequest&) {
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" +
           makeResponse(200, "final");
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/")));
    CO_ASSERT_OK(response);
    EXPECT_EQ((*response)->status(), 200);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "final");
  });
}

TEST_F(ClientTest, ReusesKeepAliveConnections) {
  TestServer server(serveBody("hello"));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto response = co_await client->send(get(server.url("/x")));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(100);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "hello");
    }
  });
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(ClientTest, ConnectionClosingResponsesAreNotPooled) {
  TestServer server(serveAll([](const ServerConn::HttpRequest&) {
    return makeResponse(200, "bye", {{"Connection", "close"}});
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(server.url("/x")));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(100);
      CO_ASSERT_OK(body);
    }
  });
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(ClientTest, ResponseDestroyedMidBodyClosesTheConnection) {
  const std::string big = pattern(4 << 20);
  Gate closed;
  TestServer server([&](ServerConn& conn) {
    while (auto req = conn.readRequest()) {
      if (req->target() == "/big") {
        conn.write(makeResponse(200, big));
      } else {
        conn.write(makeResponse(200, "small"));
      }
    }
    conn.server().record("connection ended");
    closed.open();
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    {
      auto response = co_await client->send(get(server.url("/big")));
      CO_ASSERT_OK(response);
      std::vector<std::byte> buf(10);
      auto n = co_await (*response)->read(buf);
      CO_ASSERT_OK(n);
      EXPECT_GT(*n, 0u);
    }  // destroyed mid-body
    auto response = co_await client->send(get(server.url("/small")));
    CO_ASSERT_OK(response);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "small");
  });
  EXPECT_TRUE(closed.wait());
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(ClientTest, ResponseMayOutliveTheClient) {
  TestServer server(serveBody(pattern(50'000)));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT_OK(response);
    client.reset();
    auto body = co_await (*response)->readAll(1 << 20);
    CO_ASSERT_OK(body);
    EXPECT_EQ(body->size(), 50'000u);
  });
}

TEST_F(ClientTest, PoolIsBoundedPerOrigin) {
  for (std::size_t max_idle : {1u, 2u}) {
    SCOPED_TRACE(max_idle);
    TestServer server(serveBody("x"));
    ClientConfig config = testConfig();
    config.max_idle_per_origin = max_idle;
    auto client = makeClient(config);
    run([&]() -> asio::awaitable<void> {
      // Two responses in flight at once need two connections; both then go back to the pool,
      // which keeps at most max_idle of them.
      auto a = co_await client->send(get(server.url("/a")));
      auto b = co_await client->send(get(server.url("/b")));
      CO_ASSERT_OK(a);
      CO_ASSERT_OK(b);
      {
        auto done_1 = co_await (*a)->readAll(10);
        CO_ASSERT_OK(done_1);
      }
      {
        auto done_2 = co_await (*b)->readAll(10);
        CO_ASSERT_OK(done_2);
      }
      auto c = co_await client->send(get(server.url("/c")));
      auto d = co_await client->send(get(server.url("/d")));
      CO_ASSERT_OK(c);
      CO_ASSERT_OK(d);
    });
    EXPECT_EQ(server.accepted(), max_idle == 1 ? 3 : 2);
  }
}

TEST_F(ClientTest, ExpiredPooledConnectionsAreNotReused) {
  TestServer server(serveBody("x"));
  ClientConfig config = testConfig();
  config.idle_keepalive = 0s;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(server.url("/x")));
      CO_ASSERT_OK(response);
      {
        auto done_3 = co_await (*response)->readAll(10);
        CO_ASSERT_OK(done_3);
      }
    }
  });
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(ClientTest, PooledConnectionClosedByServerIsReplaced) {
  Gate first_closed;
  std::atomic<int> connections{0};
  TestServer server([&](ServerConn& conn) {
    const bool first = connections.fetch_add(1) == 0;
    while (auto req = conn.readRequest()) {
      conn.write(makeResponse(200, "ok"));
      if (first) {
        conn.close();  // the server's keep-alive timeout
        first_closed.open();
        return;
      }
    }
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(server.url("/x")));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(10);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "ok");
      CO_ASSERT(first_closed.wait());
    }
  });
  EXPECT_EQ(server.accepted(), 2);
}

// The first connection serves one request, then reads the next request and closes without an
// answer (a keep-alive race: the server closed just as the request was sent).
TestServer::Handler closeOnSecondRequest(std::shared_ptr<std::atomic<int>> connections) {
  return [connections](ServerConn& conn) {
    const bool first = connections->fetch_add(1) == 0;
    int served = 0;
    while (auto req = conn.readRequest()) {
      conn.server().record(std::string(req->method_string()) + (first ? " first" : " fresh"));
      if (first && served == 1) {
        conn.close();
        return;
      }
      conn.write(makeResponse(200, "ok"));
      ++served;
    }
  };
}

TEST_F(ClientTest, GetIsRetriedOnceWhenAReusedConnectionDies) {
  TestServer server(closeOnSecondRequest(std::make_shared<std::atomic<int>>(0)));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(server.url("/x")));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(10);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "ok");
    }
  });
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_THAT(server.records(), ::testing::ElementsAre("GET first", "GET first", "GET fresh"));
}

TEST_F(ClientTest, PostIsNotRetriedWhenAReusedConnectionDies) {
  TestServer server(closeOnSecondRequest(std::make_shared<std::atomic<int>>(0)));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT_OK(response);
    {
      auto done_4 = co_await (*response)->readAll(10);
      CO_ASSERT_OK(done_4);
    }
    Request post = get(server.url("/x"));
    post.method = http::verb::post;
    post.body = "payload";
    auto failed = co_await client->send(std::move(post));
    CO_ASSERT(!failed.has_value());
    EXPECT_EQ(failed.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(failed.error().context, HasSubstr(server.url("/x")));
  });
  EXPECT_EQ(server.accepted(), 1);
}

std::uint16_t closedPort() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST_F(ClientTest, ConnectRefusedIsUnavailableAndQuick) {
  const std::uint16_t port = closedPort();
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    const auto start = SteadyClock::now();
    auto response =
        co_await client->send(get("http://127.0.0.1:" + std::to_string(port) + "/x?token=secret"));
    CO_ASSERT(!response.has_value());
    EXPECT_LT(SteadyClock::now() - start, 2s);
    EXPECT_EQ(response.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(response.error().context,
                HasSubstr("connect to http://127.0.0.1:" + std::to_string(port) + ": "));
    EXPECT_THAT(response.error().context, HasSubstr("refused"));
    EXPECT_THAT(response.error().context, Not(HasSubstr("secret")));
  });
}

TEST_F(ClientTest, FirstByteTimeout) {
  TestServer server([](ServerConn& conn) {
    if (conn.readRequest()) conn.waitForStop();  // never answers
  });
  ClientConfig config = testConfig();
  config.first_byte_timeout = 200ms;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    const auto start = SteadyClock::now();
    auto response = co_await client->send(get(server.url("/slow?sig=secret")));
    const auto elapsed = SteadyClock::now() - start;
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Timeout);
    EXPECT_THAT(response.error().context, HasSubstr(server.url("/slow")));
    EXPECT_THAT(response.error().context, Not(HasSubstr("secret")));
    EXPECT_GE(elapsed, 150ms);
    EXPECT_LT(elapsed, 3s);
  });
}

TEST_F(ClientTest, ConnectTimeoutCoversTheTlsHandshake) {
  TestServer server([](ServerConn& conn) { conn.waitForStop(); });  // plain TCP, silent
  ClientConfig config = testConfig();
  config.connect_timeout = 200ms;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    const auto start = SteadyClock::now();
    auto response =
        co_await client->send(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Timeout);
    EXPECT_THAT(response.error().context, HasSubstr("TLS handshake with https://127.0.0.1:"));
    EXPECT_LT(SteadyClock::now() - start, 3s);
  });
}

TEST_F(ClientTest, IdleTimeoutMidBody) {
  TestServer server([](ServerConn& conn) {
    if (!conn.readRequest()) return;
    conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    conn.waitForStop();
  });
  ClientConfig config = testConfig();
  config.idle_timeout = 200ms;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT_OK(response);
    std::vector<std::byte> buf(1000);
    auto first = co_await (*response)->read(buf);
    CO_ASSERT_OK(first);
    EXPECT_EQ(*first, 10u);
    const auto start = SteadyClock::now();
    auto second = co_await (*response)->read(buf);
    CO_ASSERT(!second.has_value());
    EXPECT_EQ(second.error().code, ErrorCode::Timeout);
    EXPECT_LT(SteadyClock::now() - start, 3s);
    auto again = co_await (*response)->read(buf);
    EXPECT_FALSE(again.has_value());
  });
}

TEST_F(ClientTest, TruncatedBodyIsAnError) {
  const std::string chunked_prefix =
      makeResponse(200, pattern(5000), {}, /*chunked=*/true).substr(0, 2500);
  TestServer server([&](ServerConn& conn) {
    auto req = conn.readRequest();
    if (!req) return;
    if (req->target() == "/length") {
      conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    } else {
      conn.write(chunked_prefix);
    }
    conn.close();
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (const char* path : {"/length", "/chunked"}) {
      SCOPED_TRACE(path);
      auto response = co_await client->send(get(server.url(path)));
      CO_ASSERT_OK(response);
      auto body = co_await readBody(**response, 64);
      CO_ASSERT(!body.has_value());
      EXPECT_EQ(body.error().code, ErrorCode::Unavailable);
      EXPECT_THAT(body.error().context, HasSubstr("read body from " + server.url(path)));
    }
  });
}

TEST_F(ClientTest, BodyDelimitedByCloseIsComplete) {
  TestServer server([](ServerConn& conn) {
    if (!conn.readRequest()) return;
    conn.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof");
    conn.close();
  });
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT_OK(response);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "until eof");
  });
}

TEST_F(ClientTest, HeaderLimitExceeded) {
  TestServer server(serveAll([](const ServerConn::HttpRequest&) {
    return makeResponse(200, "x", {{"X-Big", std::string(4000, 'b')}});
  }));
  ClientConfig config = testConfig();
  config.max_header_bytes = 1024;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(response.error().context, HasSubstr("header"));
  });
}

TEST_F(ClientTest, ReadAllEnforcesTheLimit) {
  TestServer server(serveAll([](const ServerConn::HttpRequest& req) {
    return makeResponse(200, pattern(1000), {}, req.target() == "/chunked");
  }));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    for (const char* path : {"/length", "/chunked"}) {
      SCOPED_TRACE(path);
      auto response = co_await client->send(get(server.url(path)));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(999);
      CO_ASSERT(!body.has_value());
      EXPECT_EQ(body.error().code, ErrorCode::ResourceExhausted);
    }
    auto response = co_await client->send(get(server.url("/chunked")));
    CO_ASSERT_OK(response);
    auto exact = co_await (*response)->readAll(1000);
    CO_ASSERT_OK(exact);
    EXPECT_EQ(exact->size(), 1000u);
  });
}

TEST_F(ClientTest, RejectsHeaderInjectionAndBadMethods) {
  TestServer server(serveBody("x"));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request bad_value = get(server.url("/x"));
    bad_value.headers = {{"X-Bad", "a\r\nInjected: 1"}};
    auto r1 = co_await client->send(std::move(bad_value));
    CO_ASSERT(!r1.has_value());
    EXPECT_EQ(r1.error().code, ErrorCode::InvalidArgument);
    Request bad_name = get(server.url("/x"));
    bad_name.headers = {{"X Bad", "a"}};
    auto r2 = co_await client->send(std::move(bad_name));
    CO_ASSERT(!r2.has_value());
    EXPECT_EQ(r2.error().code, ErrorCode::InvalidArgument);
    Request bad_target = get(server.url("/x"));
    bad_target.url.target = "/x HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /y";
    auto r4 = co_await client->send(std::move(bad_target));
    CO_ASSERT(!r4.has_value());
    EXPECT_EQ(r4.error().code, ErrorCode::InvalidArgument);
    Request bad_scheme = get(server.url("/x"));
    bad_scheme.url.scheme = "ftp";
    auto r3 = co_await client->send(std::move(bad_scheme));
    CO_ASSERT(!r3.has_value());
    EXPECT_EQ(r3.error().code, ErrorCode::InvalidArgument);
  });
  EXPECT_EQ(server.accepted(), 0);
}

TEST_F(ClientTest, ConcurrentRequestsFromSeveralThreads) {
  const std::string body = pattern(30'000);
  TestServer server(serveBody(body));
  asio::io_context ioc;
  auto client = makeHttpClient(ioc.get_executor(), testConfig());
  std::atomic<int> ok{0};
  constexpr int kCoroutines = 8;
  constexpr int kRequestsEach = 5;
  for (int i = 0; i < kCoroutines; ++i) {
    asio::co_spawn(
        asio::make_strand(ioc),
        [&]() -> asio::awaitable<void> {
          for (int j = 0; j < kRequestsEach; ++j) {
            auto response = co_await client->send(get(server.url("/x")));
            if (!response) co_return;
            auto got = co_await readBody(**response, 1000);
            if (got && *got == body) ok.fetch_add(1);
          }
        },
        asio::detached);
  }
  std::thread other([&] { ioc.run_for(20s); });
  ioc.run_for(20s);
  other.join();
  EXPECT_EQ(ok.load(), kCoroutines * kRequestsEach);
  EXPECT_LE(server.accepted(), kCoroutines);
}

// --- TLS ----------------------------------------------------------------------------------------

class TlsClientTest : public ClientTest {
 protected:
  std::unique_ptr<testkit::TestCert> cert_ =
      testkit::makeSelfSignedCert("DNS:localhost,IP:127.0.0.1");
};

TEST_F(TlsClientTest, VerifiesAgainstTheConfiguredCaFile) {
  TestServer server(
      [](ServerConn& conn) {
        while (auto req = conn.readRequest()) {
          conn.server().record("SNI=" + conn.serverName());
          conn.write(makeResponse(200, "secure"));
        }
      },
      cert_.get());
  ClientConfig config = testConfig();
  config.ca_file = cert_->cert_path;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(server.url("/x")));
      CO_ASSERT_OK(response);
      auto body = co_await readBody(**response, 3);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "secure");
    }
  });
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_THAT(server.records(), ::testing::ElementsAre("SNI=", "SNI="));  // no SNI for an IP
}

bool localhostIsIpv4Loopback() {
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  for (const auto& entry : resolver.resolve("localhost", "443", ec)) {
    if (entry.endpoint().address() == asio::ip::make_address("127.0.0.1")) return true;
  }
  return false;
}

TEST_F(TlsClientTest, SendsSniForHostNames) {
  if (!localhostIsIpv4Loopback()) GTEST_SKIP() << "localhost does not resolve to 127.0.0.1";
  TestServer server(
      [](ServerConn& conn) {
        while (auto req = conn.readRequest()) {
          conn.server().record("SNI=" + conn.serverName());
          conn.write(makeResponse(200, "secure"));
        }
      },
      cert_.get());
  ClientConfig config = testConfig();
  config.ca_file = cert_->cert_path;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response =
        co_await client->send(get("https://localhost:" + std::to_string(server.port()) + "/"));
    CO_ASSERT_OK(response);
    {
      auto done_5 = co_await (*response)->readAll(100);
      CO_ASSERT_OK(done_5);
    }
  });
  EXPECT_THAT(server.records(), ::testing::ElementsAre("SNI=localhost"));
}

TEST_F(TlsClientTest, UntrustedCertificateIsUnavailable) {
  TestServer server(serveBody("secure"), cert_.get());
  auto client = makeClient();  // system store only
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(response.error().context,
                HasSubstr("TLS handshake with https://127.0.0.1:" + std::to_string(server.port())));
    EXPECT_THAT(response.error().context, HasSubstr("certificate verify failed"));
  });
}

TEST_F(TlsClientTest, HostNameMismatchFails) {
  auto wrong = testkit::makeSelfSignedCert("DNS:wrong.example");
  TestServer server(serveBody("secure"), wrong.get());
  ClientConfig config = testConfig();
  config.ca_file = wrong->cert_path;
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/x")));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(response.error().context, HasSubstr("TLS handshake"));
  });
}

TEST_F(TlsClientTest, MissingCaFileThrowsAtConstruction) {
  ClientConfig config = testConfig();
  config.ca_file = cert_->cert_path + ".missing";
  EXPECT_THROW(makeClient(config), std::runtime_error);
}

// --- proxies ------------------------------------------------------------------------------------

TestServer::Handler recordingOrigin(std::string body) {
  return [body](ServerConn& conn) {
    while (auto req = conn.readRequest()) {
      conn.server().record(std::string(req->target()) +
                           " Host=" + std::string((*req)[http::field::host]));
      conn.write(makeResponse(200, body));
    }
  };
}

TEST_F(ClientTest, HttpTargetGoesThroughForwardProxyInAbsoluteForm) {
  TestServer origin(recordingOrigin("from origin"));
  TestServer proxy(testkit::forwardProxyHandler);
  ClientConfig config = testConfig();
  config.proxy_override =
      ProxyConfig{.http_proxy = "http://user:pw@127.0.0.1:" + std::to_string(proxy.port())};
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(origin.url("/path?q=1")));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(100);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "from origin");
    }
  });
  const std::string absolute = "GET " + origin.url("/path?q=1");
  EXPECT_THAT(proxy.records(),
              ::testing::ElementsAre(absolute, "Proxy-Authorization: Basic dXNlcjpwdw==", absolute,
                                     "Proxy-Authorization: Basic dXNlcjpwdw=="));
  EXPECT_EQ(proxy.accepted(), 1);  // the proxy connection is kept alive
  const std::string host = "Host=127.0.0.1:" + std::to_string(origin.port());
  EXPECT_THAT(origin.records(), ::testing::ElementsAre("/path?q=1 " + host, "/path?q=1 " + host));
}

TEST_F(TlsClientTest, HttpsTargetIsTunnelledThroughConnectProxy) {
  TestServer origin(recordingOrigin("secure via tunnel"), cert_.get());
  TestServer proxy(
      [](ServerConn& conn) { testkit::connectProxyHandler(conn, "Basic dXNlcjpwdw=="); });
  ClientConfig config = testConfig();
  config.ca_file = cert_->cert_path;
  config.proxy_override =
      ProxyConfig{.https_proxy = "http://user:pw@127.0.0.1:" + std::to_string(proxy.port())};
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto response = co_await client->send(get(origin.url("/x?sig=1")));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(100);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "secure via tunnel");
    }
  });
  EXPECT_THAT(proxy.records(),
              ::testing::ElementsAre("CONNECT 127.0.0.1:" + std::to_string(origin.port())));
  EXPECT_EQ(origin.accepted(), 1);
}

TEST_F(TlsClientTest, ConnectProxyRefusalIsUnavailable) {
  TestServer origin(recordingOrigin("never"), cert_.get());
  TestServer proxy([](ServerConn& conn) { testkit::connectProxyHandler(conn, "Basic other"); });
  ClientConfig config = testConfig();
  config.ca_file = cert_->cert_path;
  config.proxy_override =
      ProxyConfig{.https_proxy = "http://user:pw@127.0.0.1:" + std::to_string(proxy.port())};
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(origin.url("/x")));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(response.error().context, HasSubstr("proxy CONNECT"));
    EXPECT_THAT(response.error().context, HasSubstr("407"));
    EXPECT_THAT(response.error().context, Not(HasSubstr("pw")));
  });
  EXPECT_EQ(origin.accepted(), 0);
}

TEST_F(ClientTest, NoProxyBypassesTheProxy) {
  TestServer origin(recordingOrigin("direct"));
  TestServer proxy(testkit::forwardProxyHandler);
  ClientConfig config = testConfig();
  config.proxy_override =
      ProxyConfig{.http_proxy = "http://127.0.0.1:" + std::to_string(proxy.port()),
                  .https_proxy = "http://127.0.0.1:" + std::to_string(proxy.port()),
                  .no_proxy = "example.com, 127.0.0.1"};
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(origin.url("/x")));
    CO_ASSERT_OK(response);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "direct");
  });
  EXPECT_EQ(proxy.accepted(), 0);
  EXPECT_EQ(origin.accepted(), 1);
}

// Sets proxy variables for the duration of a scope and restores the previous values.
class ScopedProxyEnv {
 public:
  explicit ScopedProxyEnv(std::vector<std::pair<std::string, std::string>> values) {
    for (const char* name :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"}) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old == nullptr ? std::nullopt : std::optional<std::string>(old));
      ::unsetenv(name);
    }
    for (const auto& [name, value] : values) ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedProxyEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(ClientTest, ProxyFromEnvironment) {
  TestServer origin(recordingOrigin("via env proxy"));
  TestServer proxy(testkit::forwardProxyHandler);
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  ClientConfig config = testConfig();
  config.use_env_proxy = true;
  std::unique_ptr<Client> proxied;
  std::unique_ptr<Client> bypassing;
  {
    ScopedProxyEnv env({{"HTTP_PROXY", proxy_url}, {"no_proxy", "example.com"}});
    proxied = makeClient(config);
  }
  {
    ScopedProxyEnv env({{"http_proxy", proxy_url}, {"NO_PROXY", "*"}});
    bypassing = makeClient(config);
  }
  // The environment is read at construction: it has been restored by now.
  run([&]() -> asio::awaitable<void> {
    auto response = co_await proxied->send(get(origin.url("/env")));
    CO_ASSERT_OK(response);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "via env proxy");
    auto direct = co_await bypassing->send(get(origin.url("/direct")));
    CO_ASSERT_OK(direct);
    {
      auto done_6 = co_await (*direct)->readAll(100);
      CO_ASSERT_OK(done_6);
    }
  });
  EXPECT_THAT(proxy.records(), ::testing::ElementsAre("GET " + origin.url("/env")));
  EXPECT_EQ(origin.accepted(), 2);
}

TEST_F(ClientTest, InvalidProxyFailsTheRequest) {
  ClientConfig config = testConfig();
  config.proxy_override = ProxyConfig{.http_proxy = "socks5://user:pw@127.0.0.1:1"};
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get("http://127.0.0.1:1/x"));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Unavailable);
    EXPECT_THAT(response.error().context, Not(HasSubstr("pw")));
  });
}

// --- public_addresses_only ------------------------------------------------------------------

TEST_F(ClientTest, PublicAddressesOnlyRefusesALoopbackLiteralWithoutConnecting) {
  TestServer server(recordingOrigin("private"));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request req = get(server.url("/blob?X-Amz-Signature=secret"));
    req.public_addresses_only = true;
    auto response = co_await client->send(std::move(req));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Forbidden);
    EXPECT_THAT(response.error().context, HasSubstr("127.0.0.1"));
    EXPECT_THAT(response.error().context, HasSubstr("non-public"));
    EXPECT_THAT(response.error().context, Not(HasSubstr("secret")));
    EXPECT_THAT(response.error().context, Not(HasSubstr("X-Amz")));
  });
  EXPECT_EQ(server.accepted(), 0);
  EXPECT_TRUE(server.records().empty());

  // The same request without the restriction goes through.
  run([&]() -> asio::awaitable<void> {
    auto response = co_await client->send(get(server.url("/blob?X-Amz-Signature=secret")));
    CO_ASSERT_OK(response);
    EXPECT_EQ((*response)->status(), 200);
    auto body = co_await (*response)->readAll(100);
    CO_ASSERT_OK(body);
    EXPECT_EQ(*body, "private");
  });
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(ClientTest, PublicAddressesOnlyChecksWhatANameResolvesTo) {
  if (!localhostIsIpv4Loopback()) GTEST_SKIP() << "localhost does not resolve to 127.0.0.1";
  TestServer server(recordingOrigin("private"));
  auto client = makeClient();
  run([&]() -> asio::awaitable<void> {
    Request req = get("http://localhost:" + std::to_string(server.port()) + "/x?sig=secret");
    req.public_addresses_only = true;
    auto response = co_await client->send(std::move(req));
    CO_ASSERT(!response.has_value());
    EXPECT_EQ(response.error().code, ErrorCode::Forbidden);
    EXPECT_THAT(response.error().context, HasSubstr("localhost"));
    EXPECT_THAT(response.error().context, HasSubstr("127.0.0.1"));
    EXPECT_THAT(response.error().context, Not(HasSubstr("secret")));
  });
  EXPECT_EQ(server.accepted(), 0);
}

TEST_F(ClientTest, PublicAddressesOnlyDoesNotReuseUnrestrictedConnections) {
  if (!localhostIsIpv4Loopback()) GTEST_SKIP() << "localhost does not resolve to 127.0.0.1";
  // Through a proxy the proxy resolves names, so a restricted request to a name goes out; it
  // must not ride on the pooled proxy connection of an unrestricted request to the same origin.
  TestServer origin(recordingOrigin("via proxy"));
  TestServer proxy(testkit::forwardProxyHandler);
  ClientConfig config = testConfig();
  config.proxy_override =
      ProxyConfig{.http_proxy = "http://127.0.0.1:" + std::to_string(proxy.port())};
  auto client = makeClient(config);
  const std::string url = "http://localhost:" + std::to_string(origin.port()) + "/x";
  run([&]() -> asio::awaitable<void> {
    for (bool restricted : {false, true, true}) {
      Request req = get(url);
      req.public_addresses_only = restricted;
      auto response = co_await client->send(std::move(req));
      CO_ASSERT_OK(response);
      auto body = co_await (*response)->readAll(100);
      CO_ASSERT_OK(body);
      EXPECT_EQ(*body, "via proxy");
    }
  });
  // One proxy connection for the unrestricted request, one reused by both restricted ones.
  EXPECT_EQ(proxy.accepted(), 2);
}

TEST_F(ClientTest, PublicAddressesOnlyViaProxyRefusesPrivateIpLiterals) {
  TestServer proxy(testkit::forwardProxyHandler);
  ClientConfig config = testConfig();
  config.proxy_override =
      ProxyConfig{.http_proxy = "http://127.0.0.1:" + std::to_string(proxy.port()),
                  .https_proxy = "http://127.0.0.1:" + std::to_string(proxy.port())};
  auto client = makeClient(config);
  run([&]() -> asio::awaitable<void> {
    for (const char* url :
         {"http://169.254.169.254/latest/meta-data/?token=secret", "https://10.1.2.3/x?sig=secret",
          "http://[fe80::1]:8080/x", "http://[::ffff:127.0.0.1]/x"}) {
      Request req = get(url);
      req.public_addresses_only = true;
      auto response = co_await client->send(std::move(req));
      CO_ASSERT(!response.has_value());
      EXPECT_EQ(response.error().code, ErrorCode::Forbidden) << url;
      EXPECT_THAT(response.error().context, HasSubstr("not a public address")) << url;
      EXPECT_THAT(response.error().context, Not(HasSubstr("secret"))) << url;
    }
  });
  EXPECT_EQ(proxy.accepted(), 0);
}

}  // namespace
}  // namespace hubgate::upstream
