// BodySources over the cache: a published blob, and a blob still being filled.
//
// BlobBodySource hands out file-backed chunks of an open blob descriptor. FillBodySource does the
// same over a FillSession's temp file, waiting for the fill when it catches up, never passing the
// session's releasable() limit (the last byte is held until the digest matched) and failing when
// the fill fails, so the writer cuts the connection. Each source owns its own descriptor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "cache/blob_store.h"
#include "cache/fill_session.h"
#include "http/body_source.h"
#include "metrics/registry.h"

namespace hubgate::router {

class BlobBodySource final : public http::BodySource {
 public:
  BlobBodySource(cache::Fd fd, std::uint64_t offset, std::uint64_t length, metrics::Counter& served)
      : fd_(std::move(fd)), pos_(offset), end_(offset + length), served_(served) {}
  boost::asio::awaitable<Result<http::BodyChunk>> next(std::size_t max_bytes) override;
  void sent(std::uint64_t bytes) override;

 private:
  cache::Fd fd_;
  std::uint64_t pos_;
  std::uint64_t end_;
  metrics::Counter& served_;
};

class FillBodySource final : public http::BodySource {
 public:
  // Decides, once the fill is Committed, whether this request may have the rest of the blob
  // (the policy on its scan verdict): an error cuts the connection before the held-back bytes.
  using Gate = std::function<std::optional<Error>(const cache::ScanRecord* scan)>;
  // `stall_timeout`: how long the fill may make no progress before this reader gives up.
  FillBodySource(std::shared_ptr<cache::FillSession> session, cache::Fd fd, std::uint64_t offset,
                 std::uint64_t length, metrics::Counter& served,
                 std::chrono::milliseconds stall_timeout, Gate gate = {})
      : session_(std::move(session)),
        fd_(std::move(fd)),
        pos_(offset),
        end_(offset + length),
        served_(served),
        stall_timeout_(stall_timeout),
        gate_(std::move(gate)) {}
  boost::asio::awaitable<Result<http::BodyChunk>> next(std::size_t max_bytes) override;
  void sent(std::uint64_t bytes) override;

 private:
  std::shared_ptr<cache::FillSession> session_;
  cache::Fd fd_;
  std::uint64_t pos_;
  std::uint64_t end_;
  metrics::Counter& served_;
  std::chrono::milliseconds stall_timeout_;
  Gate gate_;
  bool gate_passed_ = false;
};

// A source with nothing to read, for HEAD answers that announce a length.
class NoBody final : public http::BodySource {
 public:
  boost::asio::awaitable<Result<http::BodyChunk>> next(std::size_t) override {
    co_return http::BodyChunk{};
  }
  void sent(std::uint64_t) override {}
};

}  // namespace hubgate::router
