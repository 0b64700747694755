// UpstreamGate: whether the gateway may contact the Hub right now.
//
// Two reasons not to: offline mode (configured; never contact upstream), and a back-off after
// the Hub answered 429 (for Retry-After, or the RateLimit header's t=, seconds). While blocked,
// callers serve what is cached (marked stale) or answer with the reason. Also classifies
// upstream failures into the stale reason clients see in X-Hubgate-Stale.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace hubgate::hub {

class UpstreamGate {
 public:
  using HeaderList = std::vector<std::pair<std::string, std::string>>;

  explicit UpstreamGate(bool offline) : offline_(offline) {}

  bool offline() const { return offline_; }
  // The error to use instead of an upstream call, or nullopt when upstream may be contacted.
  // Offline -> Unavailable "offline mode"; backing off -> ResourceExhausted.
  std::optional<Error> blocked() const;
  // Records a 429: no upstream metadata call until `delay` has passed. `rate_headers` are the
  // RateLimit headers of that answer, replayed on 429s we answer ourselves.
  void onRateLimited(std::chrono::seconds delay, HeaderList rate_headers);
  // Whole seconds left in the back-off (at least 1 while backing off), 0 when not.
  long backoffSecondsLeft() const;
  HeaderList rateHeaders() const;
  // "offline" | "rate-limited" | "upstream-unavailable"
  std::string staleReason(const Error& e) const;

 private:
  const bool offline_;
  std::atomic<std::int64_t> backoff_until_ms_{0};  // steady clock, ms since its epoch
  mutable std::mutex mu_;
  HeaderList rate_headers_;
};

// Parses how long to back off from a 429's Retry-After (seconds) or RateLimit "t=" value.
std::chrono::seconds retryDelay(std::string_view retry_after, std::string_view ratelimit);

}  // namespace hubgate::hub
