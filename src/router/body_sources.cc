#include "router/body_sources.h"

namespace hubgate::router {
namespace asio = boost::asio;

namespace {
// A reader that caught up with its fill is woken once this much more is available.
constexpr std::uint64_t kWakeBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kMaxHold{200};
}  // namespace

asio::awaitable<Result<http::BodyChunk>> BlobBodySource::next(std::size_t max_bytes) {
  http::BodyChunk c;
  c.fd = fd_.get();
  c.offset = pos_;
  c.length = std::min<std::uint64_t>(max_bytes, end_ - pos_);
  co_return c;
}

void BlobBodySource::sent(std::uint64_t bytes) {
  pos_ += bytes;
  served_.inc(bytes);
}

asio::awaitable<Result<http::BodyChunk>> FillBodySource::next(std::size_t max_bytes) {
  auto last_progress = std::chrono::steady_clock::now();
  std::uint64_t last_available = 0;
  auto last_state = cache::FillSession::State::Fetching;
  for (;;) {
    auto p = session_->progress();
    if (p.state == cache::FillSession::State::Failed) {
      co_return std::unexpected(p.error.value_or(Error{ErrorCode::Unavailable, "fill failed"}));
    }
    if (p.state == cache::FillSession::State::Committed && gate_ && !gate_passed_) {
      if (auto refused = gate_(p.scan.get())) co_return std::unexpected(*refused);
      gate_passed_ = true;
    }
    std::uint64_t limit = cache::FillSession::releasable(p, session_->size());
    if (pos_ < limit) {
      http::BodyChunk c;
      c.fd = fd_.get();
      c.offset = pos_;
      c.length = std::min<std::uint64_t>({max_bytes, end_ - pos_, limit - pos_});
      co_return c;
    }
    auto now = std::chrono::steady_clock::now();
    if (p.available != last_available || p.state != last_state) {
      last_available = p.available;
      last_state = p.state;
      last_progress = now;
    } else if (now - last_progress > stall_timeout_) {
      co_return fail(ErrorCode::Timeout, "fill made no progress");
    }
    // Wake up when a worthwhile chunk is there (or the range's end); a target that includes the
    // blob's last byte can only be met by the commit, so ask for the end of the fill instead.
    std::uint64_t target = std::min(pos_ + kWakeBytes, end_);
    if (target >= session_->size()) target = session_->size() + 1;
    // With a slow upstream the target may take long: look again after kMaxHold, so that bytes
    // keep flowing to the client (clients give up after ~10 s without a byte).
    co_await session_->waitUntil(target, std::min(stall_timeout_, kMaxHold));
  }
}

void FillBodySource::sent(std::uint64_t bytes) {
  pos_ += bytes;
  served_.inc(bytes);
}

PassThroughBodySource::PassThroughBodySource(std::unique_ptr<upstream::Response> body,
                                             cache::BlobKey key, std::uint64_t size,
                                             std::uint64_t offset, std::uint64_t length,
                                             metrics::Counter& served,
                                             metrics::Counter& upstream_bytes)
    : body_(std::move(body)),
      key_(std::move(key)),
      remaining_(length),
      served_(served),
      upstream_bytes_(upstream_bytes) {
  if (offset == 0 && length == size) hasher_ = Hasher::forKind(key_.kind, size);
}

asio::awaitable<Result<http::BodyChunk>> PassThroughBodySource::next(std::size_t max_bytes) {
  http::BodyChunk c;
  if (remaining_ == 0) co_return c;
  buf_.resize(std::min<std::uint64_t>({max_bytes, remaining_, 256 * 1024}));
  auto n = co_await body_->read(std::span<std::byte>(buf_));
  if (!n) co_return std::unexpected(n.error());
  if (*n == 0) co_return fail(ErrorCode::Unavailable, "upstream body ended early");
  upstream_bytes_.inc(*n);
  std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(*n, remaining_));
  if (hasher_) {
    hasher_->update(std::span<const std::byte>(buf_.data(), take));
    if (take == remaining_) {
      // The last bytes go out only if the whole file is what the Hub announced.
      if (std::string digest = hasher_->finish(); digest != key_.digest) {
        co_return fail(ErrorCode::Corruption, "digest mismatch: expected " + key_.str() + ", got " + digest);
      }
    }
  }
  remaining_ -= take;
  c.data = std::span<const std::byte>(buf_.data(), take);
  c.length = take;
  co_return c;
}

void PassThroughBodySource::sent(std::uint64_t bytes) { served_.inc(bytes); }

}  // namespace hubgate::router
