// Test-only helpers for the upstream client tests: a scriptable loopback HTTP(S) server, tiny
// forward and CONNECT proxies, a gate, and self-signed certificates made with the OpenSSL API.
//
// Only for tests: the definitions live in test_servers_test.cc, so they link into upstream_test
// and never into the hg_upstream library.
//
// TestServer listens on 127.0.0.1 port 0 and runs each accepted connection in its own thread with
// blocking I/O; the test's Handler scripts what the server does. Thread-safety: port(),
// accepted(), records() and record() may be called from any thread. stop() (also run by the
// destructor) shuts every live connection down, wakes handlers blocked in waitForStop(), and joins
// all threads; handlers must return once their I/O fails.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace hubgate::upstream::testkit {

// A one-shot latch with a bounded wait.
class Gate {
 public:
  void open();
  // True once opened; false when `timeout` elapsed first.
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A self-signed certificate (usable as its own trust anchor) and its key.
struct TestCert {
  std::string cert_pem;
  std::string key_pem;
  std::string cert_path;  // cert_pem written to a temp file (removed by the destructor)

  TestCert() = default;
  TestCert(const TestCert&) = delete;
  TestCert& operator=(const TestCert&) = delete;
  ~TestCert();
};

// `subject_alt_names` in OpenSSL config syntax, e.g. "DNS:localhost,IP:127.0.0.1".
std::unique_ptr<TestCert> makeSelfSignedCert(const std::string& subject_alt_names);

class TestServer;

// The server side of one accepted connection (blocking I/O, optionally TLS).
class ServerConn {
 public:
  using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

  ServerConn(TestServer& server, boost::asio::ip::tcp::socket socket,
             boost::asio::ssl::context* tls);
  ~ServerConn();

  // Completes the TLS handshake (no-op for plain connections). False on failure.
  bool handshake();
  // Reads one request; nullopt on EOF or error.
  std::optional<HttpRequest> readRequest();
  // Writes raw bytes; false on error.
  bool write(std::string_view bytes);
  // Closes the connection (FIN without TLS close_notify).
  void close();
  // Blocks until TestServer::stop() (or 10 s).
  void waitForStop();
  // Bytes already read from the socket past the last request (for tunnels).
  std::string takeBuffered();
  // SNI host name sent by the client ("" for none or plain TCP).
  std::string serverName() const;
  int nativeHandle();
  TestServer& server() { return server_; }

 private:
  TestServer& server_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::beast::flat_buffer buffer_;
};

class TestServer {
 public:
  using Handler = std::function<void(ServerConn&)>;

  // Starts listening immediately. `tls` (optional) must outlive the server.
  explicit TestServer(Handler handler, const TestCert* tls = nullptr);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/") const;
  int accepted() const { return accepted_.load(); }
  void stop();
  bool stopping() const { return stopping_.load(); }

  // A log that handlers append to and tests inspect.
  void record(std::string entry);
  std::vector<std::string> records() const;

 private:
  friend class ServerConn;
  void acceptLoop();
  void registerFd(int fd);
  void unregisterFd(int fd);
  void waitForStop();

  Handler handler_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  std::set<int> live_fds_;
  std::vector<std::thread> threads_;
  std::vector<std::string> records_;
  std::thread accept_thread_;
};

// Builds a raw HTTP/1.1 response with Content-Length (unless `chunked`, then the body is sent as
// chunks of at most 1000 bytes).
std::string makeResponse(int status, std::string_view body,
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         bool chunked = false);

// Handler of a plain HTTP forward proxy: records "<method> <target>" (and
// "Proxy-Authorization: <value>" when present) for each request, forwards it in origin form to the
// host of the absolute-form target and relays the response. Keep-alive on both sides.
void forwardProxyHandler(ServerConn& conn);

// Handler of a CONNECT proxy: records "CONNECT <authority>", connects, answers 200 and relays
// bytes both ways until one side closes. Answers 407 when `require_auth` is non-empty and the
// Proxy-Authorization header differs.
void connectProxyHandler(ServerConn& conn, const std::string& require_auth = "");

}  // namespace hubgate::upstream::testkit
