#include "upstream/client.h"

#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <deque>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "upstream/address_policy.h"
#include "upstream/proxy.h"

namespace hubgate::upstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kUserAgent = "hubgate/0.1";
constexpr std::size_t kReadAllChunk = 64 * 1024;
constexpr int kMaxInterimResponses = 8;

using IoResult = std::tuple<error_code, std::size_t>;
using ResponseParser = http::response_parser<http::buffer_body>;
using RequestMessage = http::request<http::string_body>;

// --- connections ------------------------------------------------------------------------------

// Beast reads at most the buffer's free capacity (512 bytes for an empty buffer) per read: start
// with room for a whole typical header and large body reads.
constexpr std::size_t kReadBufferBytes = 64 * 1024;

beast::flat_buffer makeReadBuffer() {
  beast::flat_buffer buffer;
  buffer.reserve(kReadBufferBytes);
  return buffer;
}

// One transport connection (plain TCP or TLS over TCP), with the read buffer that carries bytes
// received past the current message. Not thread-safe; owned by one Response or by the pool.
class Connection {
 public:
  virtual ~Connection() = default;
  // The lowest layer: deadlines (they also bound TLS reads/writes) and the socket.
  virtual beast::tcp_stream& tcp() = 0;
  // REQUIRES (all three): the argument stays valid until the awaitable completes.
  virtual asio::awaitable<IoResult> write(RequestMessage& msg) = 0;
  virtual asio::awaitable<IoResult> readHeader(ResponseParser& parser) = 0;
  virtual asio::awaitable<IoResult> readSome(ResponseParser& parser) = 0;

  beast::flat_buffer buffer = makeReadBuffer();
  std::string pool_key;
  SteadyClock::time_point idle_since;
  bool reused = false;  // came out of the pool (the server may have closed it meanwhile)
};

template <class Stream>
class StreamConnection final : public Connection {
 public:
  template <class... Args>
  explicit StreamConnection(Args&&... args) : stream_(std::forward<Args>(args)...) {}

  Stream& stream() { return stream_; }
  beast::tcp_stream& tcp() override { return beast::get_lowest_layer(stream_); }
  asio::awaitable<IoResult> write(RequestMessage& msg) override {
    return http::async_write(stream_, msg, kAwait);
  }
  asio::awaitable<IoResult> readHeader(ResponseParser& parser) override {
    return http::async_read_header(stream_, buffer, parser, kAwait);
  }
  asio::awaitable<IoResult> readSome(ResponseParser& parser) override {
    return http::async_read_some(stream_, buffer, parser, kAwait);
  }

 private:
  Stream stream_;
};

using PlainConnection = StreamConnection<beast::tcp_stream>;
using TlsConnection = StreamConnection<beast::ssl_stream<beast::tcp_stream>>;

// An idle HTTP/1.1 connection has nothing to read: readable means the peer closed it (FIN,
// close_notify, RST) or sent garbage. Either way it must not be reused.
bool looksAlive(Connection& conn) {
  auto& socket = conn.tcp().socket();
  if (!socket.is_open()) return false;
  pollfd pfd{};
  pfd.fd = socket.native_handle();
  pfd.events = POLLIN;
  return ::poll(&pfd, 1, 0) == 0;
}

// --- pool -------------------------------------------------------------------------------------

// Idle keep-alive connections keyed by origin (+ proxy). Thread-safe (one mutex); connections are
// closed outside the lock.
class Pool {
 public:
  Pool(std::size_t max_idle_per_key, std::chrono::seconds keepalive)
      : max_idle_per_key_(max_idle_per_key), keepalive_(keepalive) {}

  // Newest live idle connection for `key`, or null.
  std::unique_ptr<Connection> acquire(const std::string& key) {
    for (;;) {
      std::unique_ptr<Connection> conn;
      std::deque<std::unique_ptr<Connection>> expired;
      {
        std::lock_guard lock(mu_);
        auto it = idle_.find(key);
        if (it == idle_.end()) return nullptr;
        auto& queue = it->second;
        conn = std::move(queue.back());
        queue.pop_back();
        if (isExpired(*conn, SteadyClock::now())) {
          // The newest is expired, so all older ones are too.
          expired = std::move(queue);
          idle_.erase(it);
          return nullptr;
        }
        if (queue.empty()) idle_.erase(it);
      }
      if (looksAlive(*conn)) return conn;
    }
  }

  void release(std::unique_ptr<Connection> conn) {
    if (max_idle_per_key_ == 0) return;
    const auto now = SteadyClock::now();
    conn->idle_since = now;
    conn->reused = true;
    std::vector<std::unique_ptr<Connection>> dropped;  // closed after unlocking
    std::lock_guard lock(mu_);
    auto& queue = idle_[conn->pool_key];
    queue.push_back(std::move(conn));
    while (queue.size() > max_idle_per_key_) {
      dropped.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    // Sweep expired connections of every origin so that idle origins do not hold sockets.
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& q = it->second;
      while (!q.empty() && isExpired(*q.front(), now)) {
        dropped.push_back(std::move(q.front()));
        q.pop_front();
      }
      it = q.empty() ? idle_.erase(it) : std::next(it);
    }
  }

 private:
  bool isExpired(const Connection& conn, SteadyClock::time_point now) const {
    return now - conn.idle_since > keepalive_;
  }

  const std::size_t max_idle_per_key_;
  const std::chrono::seconds keepalive_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
};

// --- shared client state ----------------------------------------------------------------------

// Everything a request needs; shared by the client and its live Responses.
struct Shared {
  explicit Shared(ClientConfig cfg)
      : config(std::move(cfg)),
        tls(ssl::context::tls_client),
        pool(config.max_idle_per_origin, config.idle_keepalive) {
    if (config.proxy_override) {
      proxies = ProxySelector(*config.proxy_override);
    } else if (config.use_env_proxy) {
      proxies = ProxySelector::fromEnvironment();
    }
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION) != 1) {
      throw std::runtime_error("upstream TLS: cannot require TLS 1.2");
    }
    error_code ec;
    tls.set_default_verify_paths(ec);  // a missing system store only makes verification fail
    if (!config.ca_file.empty()) {
      tls.load_verify_file(config.ca_file, ec);
      if (ec) {
        throw std::runtime_error("upstream TLS: cannot load CA file " + config.ca_file + ": " +
                                 ec.message());
      }
    }
    tls.set_verify_mode(ssl::verify_peer);
  }

  ClientConfig config;
  ssl::context tls;
  ProxySelector proxies;
  Pool pool;
};

// Where a request goes: direct or through a proxy, and under which pool key.
struct Route {
  std::optional<ProxyEndpoint> proxy;
  std::string pool_key;
  bool public_only = false;  // Request::public_addresses_only
};

// --- errors -----------------------------------------------------------------------------------

Error ioError(std::string_view what, const std::string& who, error_code ec) {
  std::string context = std::string(what) + " " + who + ": ";
  if (ec == beast::error::timeout) return Error{ErrorCode::Timeout, context + "timed out"};
  if (ec == http::error::partial_message) {
    return Error{ErrorCode::Unavailable, context + "connection closed before the end of the body"};
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return Error{ErrorCode::Unavailable, context + "connection closed by the server"};
  }
  if (ec == http::error::header_limit) {
    return Error{ErrorCode::Unavailable, context + "response header too large"};
  }
  return Error{ErrorCode::Unavailable, context + ec.message()};
}

bool isIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// "host:port" with IPv6 brackets, as used by CONNECT.
std::string authorityOf(const Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

// Who we are connecting to, for messages: the origin, plus the proxy when there is one.
std::string connectLabel(const Url& target, const Route& route) {
  if (!route.proxy) return target.origin();
  return target.origin() + " via proxy " + route.proxy->url.origin();
}

// --- connect ----------------------------------------------------------------------------------

using Endpoints = tcp::resolver::results_type;

// DNS with a hard deadline: the resolver thread may block in getaddrinfo well past the deadline,
// so the coroutine waits on a timer that the resolve completion cancels, not on the resolve.
asio::awaitable<Result<Endpoints>> resolve(std::string host, std::uint16_t port,
                                           SteadyClock::time_point deadline, std::string label) {
  const std::string service = std::to_string(port);
  if (isIpLiteral(host)) {
    co_return Endpoints::create(tcp::endpoint(asio::ip::make_address(host), port), host, service);
  }
  auto ex = co_await asio::this_coro::executor;
  struct State {
    explicit State(const asio::any_io_executor& e) : resolver(e), timer(e) {}
    tcp::resolver resolver;
    asio::steady_timer timer;
    bool done = false;
    error_code ec;
    Endpoints results;
  };
  auto state = std::make_shared<State>(ex);
  state->timer.expires_at(deadline);
  state->resolver.async_resolve(host, service, tcp::resolver::numeric_service,
                                [state](error_code ec, Endpoints results) {
                                  if (state->done) return;
                                  state->done = true;
                                  state->ec = ec;
                                  state->results = std::move(results);
                                  state->timer.cancel();
                                });
  co_await state->timer.async_wait(kAwait);
  if (!state->done) {
    state->done = true;
    state->resolver.cancel();
    co_return fail(ErrorCode::Timeout, "resolve " + label + ": timed out");
  }
  if (state->ec) {
    co_return fail(ErrorCode::Unavailable, "resolve " + label + ": " + state->ec.message());
  }
  co_return std::move(state->results);
}

// The resolved endpoints a connection may try: all of them, or with `public_only` the public
// ones; Forbidden (naming `label`, never a query string) when that leaves none.
Result<std::vector<tcp::endpoint>> allowedEndpoints(const Endpoints& resolved, bool public_only,
                                                    const std::string& label) {
  std::vector<tcp::endpoint> out;
  std::string refused;
  for (const auto& entry : resolved) {
    const tcp::endpoint ep = entry.endpoint();
    if (!public_only || isPublicAddress(ep.address())) {
      out.push_back(ep);
    } else if (refused.size() < 200) {
      refused += (refused.empty() ? "" : ", ") + ep.address().to_string();
    }
  }
  if (out.empty()) {
    return fail(ErrorCode::Forbidden, "refused to connect to " + label +
                                          ": it resolves only to non-public addresses (" + refused +
                                          ")");
  }
  return out;
}

// Opens a connection for `route` to `target`: TCP (to the proxy if any), CONNECT tunnel for
// https via proxy, TLS for https. The whole sequence shares one connect deadline.
asio::awaitable<Result<std::unique_ptr<Connection>>> connect(std::shared_ptr<Shared> shared,
                                                             Url target, Route route) {
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = SteadyClock::now() + shared->config.connect_timeout;
  const std::string label = connectLabel(target, route);
  const Url hop = route.proxy ? route.proxy->url : target;

  // (No temporaries or ?: inside co_await expressions: g++ 12 mis-destroys them.)
  std::string resolve_label = hop.origin();
  if (route.proxy) resolve_label = "proxy " + resolve_label;
  auto endpoints = co_await resolve(hop.host, hop.port, deadline, std::move(resolve_label));
  if (!endpoints) co_return std::unexpected(endpoints.error());
  // Via a proxy these are the proxy's own addresses (the operator's choice): all are kept; doSend
  // checked the target if it is an IP literal.
  auto allowed = allowedEndpoints(*endpoints, route.public_only && !route.proxy, label);
  if (!allowed) co_return std::unexpected(allowed.error());

  beast::tcp_stream stream(ex);
  stream.expires_at(deadline);
  auto connected = co_await stream.async_connect(*allowed, kAwait);
  if (const error_code ec = std::get<0>(connected); ec) {
    co_return std::unexpected(ioError("connect to", label, ec));
  }
  error_code ignored;
  stream.socket().set_option(tcp::no_delay(true), ignored);

  if (route.proxy && target.isHttps()) {
    const std::string authority = authorityOf(target);
    http::request<http::empty_body> tunnel_req{http::verb::connect, authority, 11};
    tunnel_req.set(http::field::host, authority);
    tunnel_req.set(http::field::user_agent, kUserAgent);
    if (!route.proxy->authorization.empty()) {
      tunnel_req.set(http::field::proxy_authorization, route.proxy->authorization);
    }
    auto written = co_await http::async_write(stream, tunnel_req, kAwait);
    if (const error_code ec = std::get<0>(written); ec) {
      co_return std::unexpected(ioError("proxy CONNECT to", label, ec));
    }
    http::response_parser<http::empty_body> tunnel_parser;
    tunnel_parser.skip(true);  // a 2xx answer to CONNECT has no body
    tunnel_parser.header_limit(16 * 1024);
    beast::flat_buffer tunnel_buffer;
    auto answered = co_await http::async_read_header(stream, tunnel_buffer, tunnel_parser, kAwait);
    if (const error_code ec = std::get<0>(answered); ec) {
      co_return std::unexpected(ioError("proxy CONNECT to", label, ec));
    }
    const int status = tunnel_parser.get().result_int();
    if (status / 100 != 2) {
      co_return fail(ErrorCode::Unavailable,
                     "proxy CONNECT to " + label + ": HTTP " + std::to_string(status));
    }
    if (tunnel_buffer.size() != 0) {
      co_return fail(ErrorCode::Unavailable,
                     "proxy CONNECT to " + label + ": unexpected bytes after the proxy's answer");
    }
  }

  if (!target.isHttps()) {
    stream.expires_never();
    auto conn = std::make_unique<PlainConnection>(std::move(stream));
    conn->pool_key = route.pool_key;
    co_return std::unique_ptr<Connection>(std::move(conn));
  }

  auto conn = std::make_unique<TlsConnection>(std::move(stream), shared->tls);
  auto& tls = conn->stream();
  if (!isIpLiteral(target.host) &&
      SSL_set_tlsext_host_name(tls.native_handle(), target.host.c_str()) != 1) {
    co_return fail(ErrorCode::Unavailable, "TLS handshake with " + label + ": cannot set SNI");
  }
  tls.set_verify_mode(ssl::verify_peer);
  tls.set_verify_callback(ssl::host_name_verification(target.host));
  conn->tcp().expires_at(deadline);
  auto shaken = co_await tls.async_handshake(ssl::stream_base::client, kAwait);
  if (const error_code ec = std::get<0>(shaken); ec) {
    co_return std::unexpected(ioError("TLS handshake with", label, ec));
  }
  conn->tcp().expires_never();
  conn->pool_key = route.pool_key;
  co_return std::unique_ptr<Connection>(std::move(conn));
}

// --- response ---------------------------------------------------------------------------------

class HttpResponse final : public Response {
 public:
  HttpResponse(std::shared_ptr<Shared> shared, std::unique_ptr<Connection> conn, http::verb method,
               std::string label)
      : shared_(std::move(shared)),
        conn_(std::move(conn)),
        method_(method),
        label_(std::move(label)) {}

  ~HttpResponse() override {
    drainBuffered();
    releaseIfDone();
  }

  // Writes `msg` and reads the response header (skipping 1xx interim answers).
  // REQUIRES: msg stays valid until the awaitable completes.
  asio::awaitable<Result<void>> start(RequestMessage& msg) {
    conn_->tcp().expires_after(shared_->config.first_byte_timeout);
    auto written = co_await conn_->write(msg);
    if (const error_code ec = std::get<0>(written); ec) {
      conn_.reset();
      co_return std::unexpected(ioError("send request to", label_, ec));
    }
    for (int interim = 0;; ++interim) {
      parser_.emplace();
      parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
          shared_->config.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
      parser_->body_limit(boost::none);
      if (method_ == http::verb::head) parser_->skip(true);
      auto header = co_await conn_->readHeader(*parser_);
      if (parser_->got_some() || interim > 0) got_response_bytes_ = true;
      if (const error_code ec = std::get<0>(header); ec) {
        conn_.reset();
        co_return std::unexpected(ioError("read response header from", label_, ec));
      }
      const int status = parser_->get().result_int();
      if (status >= 200 || status < 100) break;
      if (status == 101 || interim + 1 >= kMaxInterimResponses) {
        conn_.reset();
        co_return fail(ErrorCode::Unavailable, "read response header from " + label_ +
                                                   ": unexpected HTTP " + std::to_string(status));
      }
    }
    conn_->tcp().expires_never();
    co_return Result<void>();
  }

  // True once any byte of a response arrived: the request must then not be retried.
  bool gotResponseBytes() const { return got_response_bytes_; }

  int status() const override { return parser_->get().result_int(); }

  const http::fields& headers() const override { return parser_->get(); }

  std::optional<std::uint64_t> contentLength() const override {
    const int code = status();
    if (method_ == http::verb::head || code == 204 || code == 304 || code < 200) {
      return std::nullopt;
    }
    const auto length = parser_->content_length();
    if (!length) return std::nullopt;
    return *length;
  }

  asio::awaitable<Result<std::size_t>> read(std::span<std::byte> buf) override {
    if (parser_->is_done()) {
      releaseIfDone();
      co_return std::size_t{0};
    }
    if (!conn_) {
      co_return fail(ErrorCode::Unavailable, "read body from " + label_ + ": connection failed");
    }
    if (buf.empty()) co_return fail(ErrorCode::InvalidArgument, "read with an empty buffer");
    auto& body = parser_->get().body();
    for (;;) {
      body.data = buf.data();
      body.size = buf.size();
      conn_->tcp().expires_after(shared_->config.idle_timeout);
      auto result = co_await conn_->readSome(*parser_);
      error_code ec = std::get<0>(result);
      if (ec == http::error::need_buffer) ec = {};  // the caller's buffer is full
      const std::size_t n = buf.size() - body.size;
      body.data = nullptr;
      body.size = 0;
      if (ec) {
        conn_.reset();
        co_return std::unexpected(ioError("read body from", label_, ec));
      }
      if (parser_->is_done()) releaseIfDone();
      if (n > 0 || parser_->is_done()) co_return n;
      // Only framing (e.g. a chunk header) was consumed: read on.
    }
  }

  asio::awaitable<Result<std::string>> readAll(std::size_t limit) override {
    std::string out;
    if (const auto length = contentLength(); length) {
      if (*length > limit) {
        conn_.reset();
        co_return fail(ErrorCode::ResourceExhausted,
                       "body of " + label_ + " exceeds " + std::to_string(limit) + " bytes");
      }
      out.reserve(static_cast<std::size_t>(*length));
    }
    for (;;) {
      const std::size_t old = out.size();
      // Read at most limit + 1 bytes in total so that an oversized body is detected.
      const std::size_t want = limit - old >= kReadAllChunk ? kReadAllChunk : limit - old + 1;
      out.resize(old + want);
      auto got =
          co_await read(std::span<std::byte>(reinterpret_cast<std::byte*>(out.data()) + old, want));
      if (!got) co_return std::unexpected(got.error());
      out.resize(old + *got);
      if (*got == 0) co_return out;
      if (out.size() > limit) {
        conn_.reset();
        co_return fail(ErrorCode::ResourceExhausted,
                       "body of " + label_ + " exceeds " + std::to_string(limit) + " bytes");
      }
    }
  }

 private:
  // A small body usually arrives together with its header (a 302's "Found. Redirecting to ...",
  // a JSON error): consume what is already buffered, without any I/O, so that a Response dropped
  // unread can still return its connection to the pool.
  void drainBuffered() {
    if (!conn_ || !parser_ || parser_->is_done() || !parser_->is_header_done() ||
        parser_->need_eof()) {
      return;
    }
    std::array<char, 4096> scratch;
    auto& body = parser_->get().body();
    parser_->eager(true);
    while (!parser_->is_done() && conn_->buffer.size() != 0) {
      body.data = scratch.data();
      body.size = scratch.size();
      error_code ec;
      const std::size_t used = parser_->put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      if (ec == http::error::need_buffer) continue;  // scratch full: go on
      if (ec || used == 0) break;                    // need_more: the rest is not here yet
    }
    body.data = nullptr;
    body.size = 0;
  }

  // Returns the connection to the pool once the message is complete and reusable; otherwise it
  // is closed when conn_ is destroyed.
  void releaseIfDone() {
    if (!conn_ || !parser_ || !parser_->is_done()) return;
    std::unique_ptr<Connection> conn = std::move(conn_);
    if (!parser_->keep_alive() || conn->buffer.size() != 0) return;
    conn->tcp().expires_never();
    shared_->pool.release(std::move(conn));
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Connection> conn_;  // null once released or failed
  std::optional<ResponseParser> parser_;
  http::verb method_;
  std::string label_;  // the redacted URL, for messages
  bool got_response_bytes_ = false;
};

// --- request ----------------------------------------------------------------------------------

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isVisibleAscii(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == ':';
}

bool validHeader(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), isTokenChar)) return false;
  return std::none_of(value.begin(), value.end(),
                      [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

Result<RequestMessage> buildRequest(const Request& req, const Route& route) {
  if (req.method == http::verb::unknown) {
    return fail(ErrorCode::InvalidArgument, "unknown request method");
  }
  if (req.method == http::verb::trace && !req.body.empty()) {
    return fail(ErrorCode::InvalidArgument, "TRACE request with a body");
  }
  RequestMessage msg;
  msg.method(req.method);
  msg.version(11);
  // http via proxy: absolute-form target; otherwise (direct or CONNECT tunnel) origin-form.
  msg.target(route.proxy && !req.url.isHttps() ? req.url.str() : req.url.target);
  msg.set(http::field::host, req.url.hostHeader());
  bool has_user_agent = false;
  for (const auto& [name, value] : req.headers) {
    if (!validHeader(name, value)) {
      return fail(ErrorCode::InvalidArgument, "invalid request header '" + name + "'");
    }
    switch (http::string_to_field(name)) {
      case http::field::host:
      case http::field::content_length:
      case http::field::connection:
      case http::field::transfer_encoding:
      case http::field::proxy_authorization:
        continue;  // set by the client
      case http::field::user_agent:
        has_user_agent = true;
        break;
      default:
        break;
    }
    msg.insert(name, value);
  }
  if (!has_user_agent) msg.set(http::field::user_agent, kUserAgent);
  if (route.proxy && !req.url.isHttps() && !route.proxy->authorization.empty()) {
    msg.set(http::field::proxy_authorization, route.proxy->authorization);
  }
  msg.body() = req.body;
  msg.keep_alive(true);
  msg.prepare_payload();
  return msg;
}

bool isRetriable(http::verb method) {
  return method == http::verb::get || method == http::verb::head;
}

asio::awaitable<Result<std::unique_ptr<Response>>> doSend(std::shared_ptr<Shared> shared,
                                                          Request req) {
  if (req.url.scheme != "http" && req.url.scheme != "https") {
    co_return fail(ErrorCode::InvalidArgument, "unsupported URL scheme '" + req.url.scheme + "'");
  }
  if (req.url.host.empty() || !req.url.target.starts_with('/') || req.url.port == 0) {
    co_return fail(ErrorCode::InvalidArgument, "incomplete request URL");
  }
  // Url is a plain struct: a target or host assembled by hand must not smuggle CR/LF or spaces
  // into the request line.
  if (!std::all_of(req.url.target.begin(), req.url.target.end(), isVisibleAscii) ||
      !std::all_of(req.url.host.begin(), req.url.host.end(), isHostChar)) {
    co_return fail(ErrorCode::InvalidArgument, "invalid character in request URL");
  }
  auto proxy = shared->proxies.select(req.url);
  if (!proxy) co_return std::unexpected(proxy.error());
  Route route;
  route.proxy = std::move(*proxy);
  route.public_only = req.public_addresses_only;
  // The pool is keyed by origin (+ proxy): a connection is only ever reused for the same scheme,
  // host and port, never for another host. Restricted requests also get their own partition, so
  // they reuse only connections whose peer passed the address check (an unrestricted request to
  // the same name may have connected to a private address).
  route.pool_key = req.url.origin();
  if (route.proxy) route.pool_key += " via " + route.proxy->url.origin();
  if (route.public_only) route.pool_key += " public-only";
  if (route.public_only && route.proxy) {
    // The proxy resolves names; only an IP literal target can be checked here.
    if (auto literal = ipLiteral(req.url.host); literal && !isPublicAddress(*literal)) {
      co_return fail(ErrorCode::Forbidden, "refused to connect to " + req.url.origin() + ": " +
                                               literal->to_string() + " is not a public address");
    }
  }

  auto msg = buildRequest(req, route);
  if (!msg) co_return std::unexpected(msg.error());
  const std::string label = req.url.redacted();

  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn;
    if (attempt == 0) conn = shared->pool.acquire(route.pool_key);
    if (!conn) {
      auto fresh = co_await connect(shared, req.url, route);
      if (!fresh) co_return std::unexpected(fresh.error());
      conn = std::move(*fresh);
    }
    const bool reused = conn->reused;
    auto response = std::make_unique<HttpResponse>(shared, std::move(conn), req.method, label);
    auto started = co_await response->start(*msg);
    if (started) co_return std::unique_ptr<Response>(std::move(response));
    // A reused connection that the server closed while it sat in the pool fails before any
    // response byte: retry once on a fresh connection when repeating the request is safe.
    const bool retry = attempt == 0 && reused && isRetriable(req.method) &&
                       started.error().code != ErrorCode::Timeout && !response->gotResponseBytes();
    if (!retry) co_return std::unexpected(started.error());
  }
}

class HttpClient final : public Client {
 public:
  HttpClient(asio::any_io_executor executor, ClientConfig config)
      : executor_(std::move(executor)), shared_(std::make_shared<Shared>(std::move(config))) {}

  asio::awaitable<Result<std::unique_ptr<Response>>> send(Request req) override {
    return doSend(shared_, std::move(req));
  }

 private:
  asio::any_io_executor executor_;  // sockets use the calling coroutine's executor instead
  std::shared_ptr<Shared> shared_;
};

}  // namespace

std::unique_ptr<Client> makeHttpClient(boost::asio::any_io_executor executor, ClientConfig config) {
  return std::make_unique<HttpClient>(std::move(executor), std::move(config));
}

}  // namespace hubgate::upstream
