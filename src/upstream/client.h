// Upstream HTTP(S) client: one request at a time per call, pooled keep-alive connections.
//
// Client::send() writes one request and returns once the response header has arrived; the body
// is then pulled incrementally with Response::read() so that a multi-gigabyte body never sits in
// memory. Redirects are NOT followed here (the Hub layer reads metadata off the 3xx and applies
// its redirect policy). Every network step has a deadline: connect (incl. TLS handshake and proxy
// CONNECT), first byte (request written -> response header complete) and idle (gap between body
// reads). TLS verifies the peer against the system CA store and checks the host name (SNI set).
// Proxies come from HTTPS_PROXY/https_proxy (https targets), HTTP_PROXY/http_proxy (http targets)
// and NO_PROXY/no_proxy (comma list of host suffixes, "*" for all), read once at construction.
//
// Thread-safety: Client is safe to use from any thread/strand (the pool is mutex-guarded).
// A Response is used by one coroutine at a time. Ownership: the Response owns its connection;
// destroying it returns the connection to the pool only when the body was read to the end and
// the server allowed keep-alive, otherwise the connection is closed.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "upstream/url.h"

namespace hubgate::upstream {

struct ClientConfig {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds first_byte_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_idle_per_origin = 16;
  std::chrono::seconds idle_keepalive{60};  // pooled connections older than this are dropped
  std::size_t max_header_bytes = 64 * 1024;
  bool use_env_proxy = true;  // read HTTPS_PROXY/HTTP_PROXY/NO_PROXY
  std::string ca_file;        // optional extra CA bundle (PEM); system store is always used
};

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  Url url;
  // Extra request headers (Authorization, Range, Accept, ...). Host, User-Agent (if absent),
  // Connection and Content-Length are set by the client.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class Response {
 public:
  virtual ~Response() = default;
  virtual int status() const = 0;
  virtual const boost::beast::http::fields& headers() const = 0;
  // Content-Length of the body, if the response is not chunked (nullopt for HEAD answers too).
  virtual std::optional<std::uint64_t> contentLength() const = 0;
  // Reads up to buf.size() body bytes. Returns 0 at the end of the body (immediately for HEAD,
  // 204, 304). Errors: Timeout (idle gap exceeded), Unavailable (reset, truncated body, TLS error).
  // REQUIRES: buf stays valid until the returned awaitable completes.
  virtual boost::asio::awaitable<Result<std::size_t>> read(std::span<std::byte> buf) = 0;
  // Reads the whole remaining body; ResourceExhausted if it exceeds `limit` bytes.
  virtual boost::asio::awaitable<Result<std::string>> readAll(std::size_t limit) = 0;
};

class Client {
 public:
  virtual ~Client() = default;
  // Sends `req` and waits for the response header. Errors: Unavailable (DNS, refused, reset,
  // TLS verification failure, proxy failure), Timeout (connect or first byte), InvalidArgument
  // (unsupported scheme). Never throws.
  virtual boost::asio::awaitable<Result<std::unique_ptr<Response>>> send(Request req) = 0;
};

// The production implementation (Beast + OpenSSL).
std::unique_ptr<Client> makeHttpClient(boost::asio::any_io_executor executor, ClientConfig config);

}  // namespace hubgate::upstream
