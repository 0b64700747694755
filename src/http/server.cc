#include "http/server.h"

#include <sys/sendfile.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <unordered_map>
#include <utility>

namespace hubgate::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

Response textResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response errorResponse(int status, std::string_view code, std::string_view message) {
  Response r = textResponse(status, std::string(message));
  if (!code.empty()) r.headers.emplace_back("X-Error-Code", std::string(code));
  r.headers.emplace_back("X-Error-Message", std::string(message));
  return r;
}

bool validRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string newRequestId() {
  // Unpredictability is not needed (ids are correlation handles, not secrets): a per-thread
  // generator seeded from the OS.
  thread_local std::mt19937_64 gen{(std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = gen();
    for (int i = 0; i < 16; ++i, v >>= 4) out[static_cast<std::size_t>(half * 16 + i)] = kHex[v & 0xf];
  }
  return out;
}

namespace {
std::string remoteOf(const beast::tcp_stream& stream) {
  beast::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  return ec ? std::string() : ep.address().to_string();
}


// One live connection, shared by its session coroutine and the drain. Only code running on the
// connection's strand touches `stream`, `busy` and `cut`.
struct Conn {
  explicit Conn(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool busy = false;  // a request is arriving or being answered
  bool cut = false;   // closed by cutAll() while busy
};

void closeConn(Conn& c) {
  beast::error_code ignored;
  c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  c.stream.socket().close(ignored);
}

// The live connections. Shared with every session, so a session that ends after the Server is
// gone (its frame destroyed at io_context shutdown) never touches freed memory.
struct Tracker {
  explicit Tracker(asio::any_io_executor e) : ex(std::move(e)) {}

  // false once draining: the connection is closed instead of served.
  bool add(const std::shared_ptr<Conn>& c) {
    std::lock_guard lock(mu);
    if (draining) return false;
    conns.emplace(c.get(), c);
    return true;
  }
  void remove(Conn* c) {
    std::function<void()> idle;
    {
      std::lock_guard lock(mu);
      conns.erase(c);
      if (draining && conns.empty()) idle = std::exchange(on_idle, nullptr);
    }
    if (idle) asio::post(ex, std::move(idle));
  }
  std::vector<std::shared_ptr<Conn>> live() {
    std::vector<std::shared_ptr<Conn>> out;
    std::lock_guard lock(mu);
    for (auto& [p, w] : conns) {
      if (auto c = w.lock()) out.push_back(std::move(c));
    }
    return out;
  }

  asio::any_io_executor ex;
  std::mutex mu;
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns;  // guarded by mu
  bool draining = false;                                 // guarded by mu
  std::function<void()> on_idle;                         // guarded by mu; runs once
  std::atomic<std::uint64_t> drained{0};
  std::atomic<std::uint64_t> cut{0};
};

}  // namespace

struct Server::Impl {
  Impl(asio::io_context& io, ServerLimits l, Handler h, Observer o)
      : ioc(io),
        limits(l),
        handler(std::move(h)),
        observer(std::move(o)),
        acceptor(io),
        tracker(std::make_shared<Tracker>(io.get_executor())) {}

  asio::io_context& ioc;
  ServerLimits limits;
  Handler handler;
  Observer observer;
  tcp::acceptor acceptor;
  std::shared_ptr<Tracker> tracker;
  std::atomic<bool> stopping{false};

  asio::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc),
                                                         asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        continue;  // e.g. EMFILE: keep accepting
      }
      socket.set_option(tcp::no_delay(true));
      auto conn = std::make_shared<Conn>(std::move(socket));
      if (!tracker->add(conn)) {
        closeConn(*conn);  // accepted just as the drain began
        continue;
      }
      auto ex = conn->stream.get_executor();
      asio::co_spawn(ex, session(conn, tracker), asio::detached);
    }
  }

  static std::string parseErrorMessage(const beast::error_code& ec, const ServerLimits& l) {
    if (ec == bhttp::error::header_limit) {
      return "request header too large (limit " + std::to_string(l.max_header_bytes) + " bytes)";
    }
    if (ec == bhttp::error::body_limit) {
      return "request body too large (limit " + std::to_string(l.max_body_bytes) + " bytes)";
    }
    return "malformed HTTP request: " + ec.message();
  }

  asio::awaitable<void> session(std::shared_ptr<Conn> conn, std::shared_ptr<Tracker> track) {
    beast::tcp_stream& stream = conn->stream;
    beast::flat_buffer buffer(8192);
    for (;;) {
      if (buffer.size() == 0) {
        // Idle until the first byte of the next request arrives: only here may a drain close
        // the connection, so a request the client has started sending is still answered.
        stream.expires_after(limits.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096),
                                                        asio::as_tuple(asio::use_awaitable));
        if (ec || !stream.socket().is_open()) break;  // hung up, idle timeout or drained
        buffer.commit(n);
      }
      conn->busy = true;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
      parser.body_limit(limits.max_body_bytes);
      stream.expires_after(limits.header_timeout);
      auto [ec, n] =
          co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec) {
        bool quiet = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                     ec == asio::error::connection_reset || ec == beast::error::timeout ||
                     ec == asio::error::operation_aborted || ec == bhttp::error::partial_message ||
                     !stream.socket().is_open();
        if (!quiet) {
          Request dummy;
          Response r = errorResponse(ec == bhttp::error::body_limit ? 413 : 400, "BadRequest",
                                     parseErrorMessage(ec, limits));
          r.close = true;
          r.route = "invalid";
          r.request_id = newRequestId();
          r.remote = remoteOf(stream);
          auto start = std::chrono::steady_clock::now();
          bool ok = co_await writeResponse(stream, dummy, r, false, start);
          if (observer) observer(dummy, r, 0, ok, std::chrono::steady_clock::now() - start);
        }
        break;
      }
      Request req = parser.release();
      auto start = std::chrono::steady_clock::now();
      std::string request_id(req[kRequestId]);
      if (!validRequestId(request_id)) request_id = newRequestId();
      req.set(kRequestId, request_id);
      Response resp = co_await handler(req);
      resp.request_id = std::move(request_id);
      resp.remote = remoteOf(stream);
      bool head = req.method() == bhttp::verb::head;
      std::uint64_t sent = 0;
      bool ok = co_await writeResponse(stream, req, resp, head, start, &sent);
      if (observer) observer(req, resp, sent, ok, std::chrono::steady_clock::now() - start);
      conn->busy = false;
      if (stopping && !conn->cut) track->drained.fetch_add(1, std::memory_order_relaxed);
      if (!ok || resp.close || !req.keep_alive() || stopping) break;
    }
    closeConn(*conn);
    track->remove(conn.get());
  }

  static constexpr std::string_view kRequestId = "X-Request-Id";

  // Writes `resp` (with X-Request-Id: resp.request_id); returns false when the connection must
  // be closed without further use (write error or a body that could not be completed). Sets
  // resp.ttfb when a body byte was written (relative to `start`).
  asio::awaitable<bool> writeResponse(beast::tcp_stream& stream, const Request& req,
                                      Response& resp, bool head,
                                      std::chrono::steady_clock::time_point start,
                                      std::uint64_t* sent_out = nullptr) {
    bhttp::response<bhttp::string_body> msg;
    msg.version(11);
    msg.result(static_cast<unsigned>(resp.status));
    msg.set(bhttp::field::server, "hubgate");
    for (auto& [name, value] : resp.headers) {
      if (!beast::iequals(name, kRequestId)) msg.insert(name, value);
    }
    msg.set(kRequestId, resp.request_id);
    bool keep = req.keep_alive() && !resp.close && !stopping;
    msg.keep_alive(keep);
    const bool no_body_status = resp.status == 304 || resp.status == 204 || resp.status < 200;
    if (resp.source) {
      if (!no_body_status) msg.content_length(resp.content_length);
    } else {
      if (!no_body_status) msg.content_length(resp.body.size());
      if (!head && !no_body_status) msg.body() = std::move(resp.body);
    }
    stream.expires_after(limits.send_timeout);
    if (!resp.source || head || no_body_status) {
      if (head || no_body_status) {
        bhttp::response_serializer<bhttp::string_body> sr(msg);
        auto [ec, n] =
            co_await bhttp::async_write_header(stream, sr, asio::as_tuple(asio::use_awaitable));
        (void)n;
        co_return !ec;
      }
      auto [ec, n] = co_await bhttp::async_write(stream, msg, asio::as_tuple(asio::use_awaitable));
      if (sent_out) *sent_out = msg.body().size();
      if (!ec && !msg.body().empty()) resp.ttfb = std::chrono::steady_clock::now() - start;
      (void)n;
      co_return !ec;
    }
    bhttp::response_serializer<bhttp::string_body> sr(msg);
    {
      auto [ec, n] =
          co_await bhttp::async_write_header(stream, sr, asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec) co_return false;
    }
    std::uint64_t sent = 0;
    bool ok = co_await streamBody(stream, *resp.source, resp.content_length, sent, start, resp.ttfb);
    if (sent_out) *sent_out = sent;
    co_return ok;
  }

  asio::awaitable<bool> streamBody(beast::tcp_stream& stream, BodySource& source,
                                   std::uint64_t total, std::uint64_t& sent,
                                   std::chrono::steady_clock::time_point start,
                                   std::optional<std::chrono::steady_clock::duration>& ttfb) {
    std::vector<std::byte> buf;
    while (sent < total) {
      std::size_t want = static_cast<std::size_t>(
          std::min<std::uint64_t>(limits.write_chunk_bytes, total - sent));
      auto chunk = co_await source.next(want);
      if (!chunk || chunk->length == 0) co_return false;  // cut: the client sees a short body
      std::uint64_t len = std::min<std::uint64_t>(chunk->length, total - sent);
      stream.expires_after(limits.send_timeout);
      if (chunk->fd < 0) {
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(chunk->data.data(), len),
                                                  asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec) co_return false;
      } else if (limits.delivery == Delivery::Sendfile) {
        if (!co_await sendfileAll(stream, chunk->fd, chunk->offset, len)) co_return false;
      } else {
        if (buf.size() < len) buf.resize(static_cast<std::size_t>(len));
        std::size_t got = 0;
        while (got < len) {
          ssize_t r = ::pread(chunk->fd, buf.data() + got, static_cast<std::size_t>(len - got),
                              static_cast<off_t>(chunk->offset + got));
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) co_return false;
          got += static_cast<std::size_t>(r);
        }
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(buf.data(), got),
                                                  asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec) co_return false;
      }
      source.sent(len);
      if (sent == 0) ttfb = std::chrono::steady_clock::now() - start;
      sent += len;
    }
    co_return true;
  }

  asio::awaitable<bool> sendfileAll(beast::tcp_stream& stream, int fd, std::uint64_t offset,
                                    std::uint64_t len) {
    auto& sock = stream.socket();
    beast::error_code ec;
    sock.native_non_blocking(true, ec);
    if (ec) co_return false;
    off_t off = static_cast<off_t>(offset);
    std::uint64_t left = len;
    asio::steady_timer timer(sock.get_executor());
    while (left > 0) {
      ssize_t n = ::sendfile(sock.native_handle(), fd, &off, static_cast<std::size_t>(left));
      if (n > 0) {
        left -= static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        timer.expires_after(limits.send_timeout);
        auto result = co_await (sock.async_wait(tcp::socket::wait_write,
                                                asio::as_tuple(asio::use_awaitable)) ||
                                timer.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (result.index() == 1) co_return false;  // client too slow: give up
        if (std::get<0>(std::get<0>(result))) co_return false;
        continue;
      }
      co_return false;  // n == 0 (file shorter than promised) or a socket error
    }
    co_return true;
  }
};

Server::Server(asio::io_context& ioc, ServerLimits limits, Handler handler, Observer observer)
    : impl_(std::make_unique<Impl>(ioc, limits, std::move(handler), std::move(observer))) {}

Server::~Server() = default;

Result<tcp::endpoint> Server::listen(const std::string& host, unsigned short port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return fail(ErrorCode::InvalidArgument, "invalid listen address '" + host + "'");
  tcp::endpoint ep(addr, port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorCode::Unavailable,
                "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  }
  return a.local_endpoint();
}

void Server::start() {
  asio::co_spawn(impl_->acceptor.get_executor(), impl_->acceptLoop(), asio::detached);
}

void Server::stop() {
  impl_->stopping = true;
  // The acceptor belongs to the accept loop's executor: close it there.
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

void Server::drain(std::function<void()> on_idle) {
  auto& t = *impl_->tracker;
  std::vector<std::shared_ptr<Conn>> live;
  {
    std::lock_guard lock(t.mu);
    if (t.draining) return;
    t.draining = true;
    impl_->stopping = true;
    for (auto& [p, w] : t.conns) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
    if (t.conns.empty()) {
      asio::post(t.ex, std::move(on_idle));
    } else {
      t.on_idle = std::move(on_idle);
    }
  }
  stop();
  for (auto& c : live) {
    // On the connection's strand, `busy` is exact: the session is suspended either waiting for a
    // first byte (close it) or inside a request (let it finish).
    asio::post(c->stream.get_executor(), [c] {
      if (!c->busy) closeConn(*c);
    });
  }
}

void Server::cutAll(std::function<void()> done) {
  auto track = impl_->tracker;
  auto live = track->live();
  if (live.empty()) {
    asio::post(track->ex, std::move(done));
    return;
  }
  auto left = std::make_shared<std::atomic<std::size_t>>(live.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& c : live) {
    asio::post(c->stream.get_executor(), [c, track, left, finish] {
      if (c->busy && !c->cut) {
        c->cut = true;
        track->cut.fetch_add(1, std::memory_order_relaxed);
      }
      closeConn(*c);
      if (left->fetch_sub(1) == 1) asio::post(track->ex, std::move(*finish));
    });
  }
}

Server::DrainStats Server::drainStats() const {
  return {impl_->tracker->drained.load(std::memory_order_relaxed),
          impl_->tracker->cut.load(std::memory_order_relaxed)};
}

}  // namespace hubgate::http
