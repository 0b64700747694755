// Server: the HTTP/1.1 front end (Boost.Beast), one coroutine per connection on its own strand.
//
// Reads requests with hard limits (header bytes, body bytes, header deadline), hands each one to
// the Handler (with X-Request-Id set: validRequestId), and writes the Response: headers first, then the body pulled from its BodySource
// with sendfile() or large buffered writes (Delivery). Keep-alive is honoured. A body that fails
// mid-way cuts the connection. Requests the parser rejects get a 400 with a clear message.
//
// Drain (SIGTERM): drain() closes the listener at once and closes idle keep-alive connections (those
// waiting for the first byte of a next request); a request already arriving or being answered
// runs on, its answer carries `Connection: close`, and its connection closes after it. cutAll()
// closes whatever is left: a body in progress ends short, so a client never mistakes a cut for a
// complete file.
//
// Thread-safety: listen()/start() from the owning thread; stop(), drain(), cutAll() and
// drainStats() from any thread. Handlers run on connection strands of the io_context and may
// suspend. Ownership: the Server owns the acceptor and tracks live connections; a connection is
// closed on its own strand.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "http/body_source.h"

namespace hubgate::http {

enum class Delivery { Sendfile, Buffered };

struct ServerLimits {
  std::size_t max_header_bytes = 32 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds header_timeout{30'000};  // whole request header
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive idle between requests
  std::chrono::milliseconds send_timeout{60'000};    // one body chunk to the client
  std::size_t write_chunk_bytes = 512 * 1024;
  Delivery delivery = Delivery::Buffered;
};

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                     // used when `source` is null
  std::unique_ptr<BodySource> source;   // streamed body of `content_length` bytes
  std::uint64_t content_length = 0;     // with a source: exact body length (also for HEAD)
  bool close = false;                   // close the connection after this response
  std::string route = "other";          // for logs and metrics
  std::string caller = "-";             // for logs: who asked (no secret; auth::Caller::label)
  // Set by the Server for its observer: the request id (also sent as X-Request-Id), the client
  // address, and the time from request received to the first body byte written (unset when no
  // body byte was written: HEAD, 304, empty or failed bodies).
  std::string request_id;
  std::string remote;
  std::optional<std::chrono::steady_clock::duration> ttfb;
  // Runs once after the response was written (or cut): body bytes sent, whether it completed.
  // Used for the audit trail; set by the router, called by its observer.
  std::function<void(std::uint64_t sent, bool ok)> on_done;
};

Response textResponse(int status, std::string body);
// An error response carrying X-Error-Code/X-Error-Message like the Hub does.
Response errorResponse(int status, std::string_view code, std::string_view message);

// X-Request-Id: the client's value when it is 1-128 characters of [A-Za-z0-9._:-], otherwise a
// new one (16 random bytes, 32 lowercase hex). The Server sets the request's X-Request-Id header
// to the result before calling the handler and sends it on every response.
bool validRequestId(std::string_view id);
std::string newRequestId();

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// Called after each response with (request, response status, route, body bytes sent, ok).
using Observer = std::function<void(const Request&, const Response&, std::uint64_t sent, bool ok,
                                    std::chrono::steady_clock::duration took)>;

class Server {
 public:
  Server(boost::asio::io_context& ioc, ServerLimits limits, Handler handler, Observer observer);
  ~Server();
  // Binds and listens. Returns the bound endpoint (port 0 -> actual port).
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host, unsigned short port);
  void start();  // begins accepting
  // Stops accepting; a busy connection closes after its current response, an idle one at its
  // idle timeout (or when the io_context stops).
  void stop();

  struct DrainStats {
    std::uint64_t drained = 0;  // responses that finished while draining
    std::uint64_t cut = 0;      // responses cut by cutAll()
  };
  // Stops accepting (new connects are refused) and closes idle connections. `on_idle` runs once,
  // on the io_context, when no connection is left. Calling it again does nothing.
  void drain(std::function<void()> on_idle);
  // Closes every connection still open; `done` runs on the io_context once each one is closed.
  void cutAll(std::function<void()> done);
  DrainStats drainStats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hubgate::http
