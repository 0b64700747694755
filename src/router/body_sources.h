// BodySources over the cache: a published blob, a blob still being filled, and an upstream body
// passed through uncached (the blob did not fit in the cache).
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
#include "base/hash.h"
#include "cache/fill_session.h"
#include "cache/space.h"
#include "http/body_source.h"
#include "metrics/registry.h"

namespace hubgate::router {

class BlobBodySource final : public http::BodySource {
 public:
  // `lease` keeps the blob from eviction until this answer is done.
  BlobBodySource(cache::Fd fd, std::uint64_t offset, std::uint64_t length, metrics::Counter& served,
                 std::shared_ptr<cache::Space::Lease> lease = nullptr)
      : lease_(std::move(lease)), fd_(std::move(fd)), pos_(offset), end_(offset + length), served_(served) {}
  boost::asio::awaitable<Result<http::BodyChunk>> next(std::size_t max_bytes) override;
  void sent(std::uint64_t bytes) override;

 private:
  std::shared_ptr<cache::Space::Lease> lease_;
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

// An upstream body streamed to one client without touching the disk: used when the blob cannot
// fit in the cache. `body` yields the blob from `offset`; this source sends `length` bytes of it.
// A whole-file answer is hashed on the fly and the final chunk is released only after the digest
// matched, so the client never holds a complete wrong file (ranges cannot be verified).
class PassThroughBodySource final : public http::BodySource {
 public:
  PassThroughBodySource(std::unique_ptr<upstream::Response> body, cache::BlobKey key,
                        std::uint64_t size, std::uint64_t offset, std::uint64_t length,
                        metrics::Counter& served, metrics::Counter& upstream_bytes);
  boost::asio::awaitable<Result<http::BodyChunk>> next(std::size_t max_bytes) override;
  void sent(std::uint64_t bytes) override;

 private:
  std::unique_ptr<upstream::Response> body_;
  cache::BlobKey key_;
  std::uint64_t remaining_;
  std::unique_ptr<Hasher> hasher_;  // set for whole-file answers
  metrics::Counter& served_;
  metrics::Counter& upstream_bytes_;
  std::vector<std::byte> buf_;
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
