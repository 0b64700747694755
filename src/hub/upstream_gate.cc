#include "hub/upstream_gate.h"

#include <charconv>

namespace hubgate::hub {
namespace {
std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<long> parseSeconds(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data() || v < 0) return std::nullopt;
  return v;
}
}  // namespace

std::optional<Error> UpstreamGate::blocked() const {
  if (offline_) return Error{ErrorCode::Unavailable, "offline mode: upstream is never contacted"};
  long left = backoffSecondsLeft();
  if (left > 0) {
    return Error{ErrorCode::ResourceExhausted,
                 "upstream rate limit: backing off for " + std::to_string(left) + " s"};
  }
  return std::nullopt;
}

void UpstreamGate::onRateLimited(std::chrono::seconds delay, HeaderList rate_headers) {
  std::int64_t until = nowMs() + std::chrono::duration_cast<std::chrono::milliseconds>(delay).count();
  std::int64_t cur = backoff_until_ms_.load();
  while (cur < until && !backoff_until_ms_.compare_exchange_weak(cur, until)) {
  }
  std::lock_guard lock(mu_);
  rate_headers_ = std::move(rate_headers);
}

long UpstreamGate::backoffSecondsLeft() const {
  std::int64_t left = backoff_until_ms_.load() - nowMs();
  if (left <= 0) return 0;
  return static_cast<long>((left + 999) / 1000);
}

UpstreamGate::HeaderList UpstreamGate::rateHeaders() const {
  std::lock_guard lock(mu_);
  return rate_headers_;
}

std::string UpstreamGate::staleReason(const Error& e) const {
  if (offline_) return "offline";
  if (e.code == ErrorCode::ResourceExhausted && backoffSecondsLeft() > 0) return "rate-limited";
  return "upstream-unavailable";
}

std::chrono::seconds retryDelay(std::string_view retry_after, std::string_view ratelimit) {
  if (auto s = parseSeconds(retry_after)) return std::chrono::seconds(std::max(1L, *s));
  // RateLimit: "api";r=0;t=42
  if (auto pos = ratelimit.find("t="); pos != std::string_view::npos) {
    if (auto s = parseSeconds(ratelimit.substr(pos + 2))) return std::chrono::seconds(std::max(1L, *s));
  }
  return std::chrono::seconds(1);
}

}  // namespace hubgate::hub
