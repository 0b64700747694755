#include "upstream/metered_client.h"

namespace hubgate::upstream {
namespace asio = boost::asio;

std::string_view errorKind(const Error& e) {
  // The prefixes are the ones client.cc writes (ioError, resolve, allowedEndpoints, connect).
  const std::string_view c = e.context;
  if (e.code == ErrorCode::Timeout) return "timeout";
  if (e.code == ErrorCode::Forbidden && c.starts_with("refused to connect")) return "refused_address";
  if (e.code != ErrorCode::Unavailable) return "other";
  if (c.starts_with("resolve ")) return "dns";
  if (c.starts_with("TLS handshake")) return "tls";
  if (c.starts_with("connect to") || c.starts_with("proxy CONNECT")) return "connect";
  if (c.starts_with("send request to") || c.starts_with("read response header from") ||
      c.starts_with("read body from")) {
    return "reset";
  }
  return "other";
}

namespace {

class MeteredResponse final : public Response {
 public:
  MeteredResponse(std::unique_ptr<Response> inner, metrics::GatewayMetrics& m)
      : inner_(std::move(inner)), m_(m) {}
  int status() const override { return inner_->status(); }
  const boost::beast::http::fields& headers() const override { return inner_->headers(); }
  std::optional<std::uint64_t> contentLength() const override { return inner_->contentLength(); }
  asio::awaitable<Result<std::size_t>> read(std::span<std::byte> buf) override {
    auto n = co_await inner_->read(buf);
    if (!n) note(n.error());
    co_return n;
  }
  asio::awaitable<Result<std::string>> readAll(std::size_t limit) override {
    auto all = co_await inner_->readAll(limit);
    if (!all) note(all.error());
    co_return all;
  }

 private:
  // A failed body is counted once, however often the caller reads again.
  void note(const Error& e) {
    if (failed_ || e.code == ErrorCode::InvalidArgument) return;
    failed_ = true;
    m_.upstreamError(errorKind(e)).inc();
  }
  std::unique_ptr<Response> inner_;
  metrics::GatewayMetrics& m_;
  bool failed_ = false;
};

class MeteredClient final : public Client {
 public:
  MeteredClient(std::unique_ptr<Client> inner, metrics::GatewayMetrics& m)
      : inner_(std::move(inner)), m_(m) {}
  asio::awaitable<Result<std::unique_ptr<Response>>> send(Request req) override {
    auto sent = co_await inner_->send(std::move(req));
    if (!sent) {
      if (sent.error().code != ErrorCode::InvalidArgument) m_.upstreamError(errorKind(sent.error())).inc();
      co_return sent;
    }
    const int st = (*sent)->status();
    if (st == 429) {
      m_.upstream_throttled.inc();
      m_.upstreamError("status_429").inc();
    } else if (st >= 500 && st <= 599) {
      m_.upstreamError("status_5xx").inc();
    }
    co_return std::unique_ptr<Response>(std::make_unique<MeteredResponse>(std::move(*sent), m_));
  }

 private:
  std::unique_ptr<Client> inner_;
  metrics::GatewayMetrics& m_;
};

}  // namespace

std::unique_ptr<Client> withMetrics(std::unique_ptr<Client> inner, metrics::GatewayMetrics& metrics) {
  return std::make_unique<MeteredClient>(std::move(inner), metrics);
}

}  // namespace hubgate::upstream
