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
#include <random>

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
}  // namespace

struct Server::Impl {
  Impl(asio::io_context& io, ServerLimits l, Handler h, Observer o)
      : ioc(io), limits(l), handler(std::move(h)), observer(std::move(o)), acceptor(io) {}

  asio::io_context& ioc;
  ServerLimits limits;
  Handler handler;
  Observer observer;
  tcp::acceptor acceptor;
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
      auto ex = socket.get_executor();
      asio::co_spawn(ex, session(beast::tcp_stream(std::move(socket))), asio::detached);
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

  asio::awaitable<void> session(beast::tcp_stream stream) {
    beast::flat_buffer buffer(8192);
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
      parser.body_limit(limits.max_body_bytes);
      stream.expires_after(limits.idle_timeout);
      auto [ec, n] =
          co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec) {
        bool quiet = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                     ec == asio::error::connection_reset || ec == beast::error::timeout ||
                     ec == asio::error::operation_aborted || ec == bhttp::error::partial_message;
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
      if (!ok || resp.close || !req.keep_alive() || stopping) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
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

}  // namespace hubgate::http
