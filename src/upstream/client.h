// Upstream HTTP(S) client: one request at a time per call, pooled keep-alive connections.
//
// Client::send() writes one request and returns once the response header has arrived; the body
// is then pulled incrementally with Response::read() so that a multi-gigabyte body never sits in
// memory. Redirects are NOT followed here (the Hub layer reads metadata off the 3xx and applies
// its redirect policy). Every network step has a deadline: connect (incl. TLS handshake and proxy
// CONNECT), first byte (request written -> response header complete) and idle (gap between body
// reads). TLS verifies the peer against the system CA store and checks the host name (SNI set).
// Proxies come from HTTPS_PROXY/https_proxy (https targets), HTTP_PROXY/http_proxy (http targets)
// and NO_PROXY/no_proxy (comma list of host suffixes, "*" for all), read once at construction
// (lowercase names win), or from ClientConfig::proxy_override. Proxies are http:// only; https
// targets are tunnelled with CONNECT, http targets use an absolute-form request target.
// Proxy credentials (http://user:pass@proxy:3128) are sent as Basic auth and never logged.
//
// Thread-safety: Client is safe to use from any thread/strand (the pool is mutex-guarded).
// A Response is used by one coroutine at a time. New sockets are created on the executor of the
// coroutine that calls send(); all completions (including Beast's timeout handlers) run on the
// calling coroutine's executor, so on a multi-threaded io_context callers must run on a strand
// (as for any Beast stream). A pooled connection may be reused by a coroutine on another strand
// of the same io_context. Ownership: the Response owns its connection; as soon as the body has
// been read to the end (or on destruction, e.g. for HEAD/204/304) the connection goes back to the
// pool when the server allowed keep-alive; otherwise (body not fully read, error) it is closed.
// A Response may outlive its Client (the pool is shared).
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

// Explicit proxy settings (same meaning as the environment variables); used by tests and by
// configuration files that want to override the environment.
struct ProxyConfig {
  std::string http_proxy;   // proxy for http:// targets, "http://[user:pass@]host:port"; "" = none
  std::string https_proxy;  // proxy for https:// targets (CONNECT tunnel); "" = none
  std::string no_proxy;     // comma list: exact host or domain suffix (".example.com"), "*" = all
};

struct ClientConfig {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds first_byte_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_idle_per_origin = 16;
  std::chrono::seconds idle_keepalive{60};  // pooled connections older than this are dropped
  std::size_t max_header_bytes = 64 * 1024;
  bool use_env_proxy = true;  // read HTTPS_PROXY/HTTP_PROXY/NO_PROXY
  std::string ca_file;        // optional extra CA bundle (PEM); system store is always used
  // When set, used instead of the environment (use_env_proxy is then ignored).
  std::optional<ProxyConfig> proxy_override;
};

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  Url url;
  // Extra request headers (Authorization, Range, Accept, ...). Host, User-Agent (if absent),
  // Connection and Content-Length are set by the client (Host, Connection, Content-Length,
  // Transfer-Encoding and Proxy-Authorization given here are ignored).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // SSRF guard for hosts the operator did not configure (redirect targets such as signed CDN
  // URLs): connect only to public addresses (upstream/address_policy.h). Direct connection: after
  // DNS resolution and before connecting, every resolved address that is not public is dropped
  // and only the rest are tried (no second lookup, so a rebinding name cannot slip through); if
  // none is left, send() fails with Forbidden without connecting. Through a proxy the proxy
  // resolves names, so only a target host that is an IP literal can be (and is) checked; the
  // proxy's own address is the operator's choice and is not. Restricted requests reuse only
  // pooled connections that were themselves opened under this check.
  bool public_addresses_only = false;
};

class Response {
 public:
  virtual ~Response() = default;
  virtual int status() const = 0;
  virtual const boost::beast::http::fields& headers() const = 0;
  // Content-Length of the body, if the response is not chunked (nullopt for HEAD answers too).
  virtual std::optional<std::uint64_t> contentLength() const = 0;
  // Reads up to buf.size() body bytes. Returns 0 at the end of the body (immediately for HEAD,
  // 204, 304), and again on later calls. Errors: Timeout (idle gap exceeded), Unavailable (reset,
  // truncated body, TLS error; later calls fail too), InvalidArgument (empty buf before the end).
  // REQUIRES: buf stays valid until the returned awaitable completes.
  virtual boost::asio::awaitable<Result<std::size_t>> read(std::span<std::byte> buf) = 0;
  // Reads the whole remaining body; ResourceExhausted if it exceeds `limit` bytes.
  virtual boost::asio::awaitable<Result<std::string>> readAll(std::size_t limit) = 0;
};

class Client {
 public:
  virtual ~Client() = default;
  // Sends `req` and waits for the response header (1xx interim answers are skipped). Reuses a
  // pooled connection when one is idle for the origin; if that reused connection fails before any
  // response byte (the server closed it meanwhile), a GET/HEAD is retried once on a fresh
  // connection. Errors: Unavailable (DNS, refused, reset, TLS verification failure, proxy failure,
  // response header larger than max_header_bytes), Timeout (connect or first byte),
  // InvalidArgument (unsupported scheme, unknown method, CR/LF in a header), Forbidden
  // (public_addresses_only and the host has no public address). Error contexts name the URL
  // without its query string. Never throws.
  virtual boost::asio::awaitable<Result<std::unique_ptr<Response>>> send(Request req) = 0;
};

// The production implementation (Beast + OpenSSL). `executor` is the io_context's executor;
// sockets are created on the executor of the coroutine calling send(), which must belong to the
// same io_context. Startup-time only: throws std::runtime_error
// when config.ca_file cannot be loaded or the TLS context cannot be set up. An invalid proxy URL
// does not throw: requests that would use it fail with Unavailable.
std::unique_ptr<Client> makeHttpClient(boost::asio::any_io_executor executor, ClientConfig config);

}  // namespace hubgate::upstream
