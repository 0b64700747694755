#include "cache/fill_session.h"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/async.h"
#include "base/hash.h"

namespace hubgate::cache {
namespace asio = boost::asio;

namespace {
constexpr std::size_t kFillBufferBytes = 256 * 1024;

Result<void> pwriteAll(int fd, const std::byte* data, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(errno == ENOSPC ? ErrorCode::ResourceExhausted : ErrorCode::Unavailable,
                  std::string("write to cache: ") + std::strerror(errno));
    }
    data += w;
    n -= static_cast<std::size_t>(w);
    offset += static_cast<std::uint64_t>(w);
  }
  return {};
}
}  // namespace

FillSession::FillSession(BlobKey key, std::uint64_t size, std::unique_ptr<FillSource> source,
                         FillDeps& deps, std::string name_hint)
    : key_(std::move(key)),
      size_(size),
      source_(std::move(source)),
      deps_(deps),
      name_hint_(std::move(name_hint)) {}

FillSession::~FillSession() {
  // A session that did not commit leaves nothing behind. (After commit the path was renamed.)
  if (!temp_.path.empty() && progress_.state != State::Committed) {
    std::error_code ec;
    std::filesystem::remove(temp_.path, ec);
  }
}

Result<void> FillSession::open() {
  if (deps_.space) {
    auto r = deps_.space->reserve(key_, size_);
    if (!r) return std::unexpected(r.error());
    reservation_ = std::move(*r);
  }
  auto temp = deps_.store.createTemp();
  if (!temp) return std::unexpected(temp.error());
  temp_ = std::move(*temp);
  return {};
}

void FillSession::start(asio::any_io_executor executor, std::function<void()> on_done) {
  on_done_ = std::move(on_done);
  asio::co_spawn(executor, run(shared_from_this()), asio::detached);
}

FillSession::Progress FillSession::progress() const {
  std::lock_guard lock(mu_);
  return progress_;
}

Result<Fd> FillSession::openReader() const { return temp_.fd.dup(); }

std::uint64_t FillSession::releasable(const Progress& p, std::uint64_t size) {
  if (p.state == State::Committed) return size;
  if (p.state == State::Failed || size == 0) return 0;
  return std::min(p.available, size - 1);
}

asio::awaitable<void> FillSession::waitUntil(std::uint64_t target, std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, timeout);
  {
    std::lock_guard lock(mu_);
    if (progress_.available >= target || progress_.state == State::Committed ||
        progress_.state == State::Failed) {
      co_return;
    }
    waiters_.push_back(Waiter{target, timer});
  }
  // The wake-up is posted to this coroutine's executor, so it cannot run before this wait starts.
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

void FillSession::advance(std::uint64_t available, std::optional<State> state,
                          std::optional<Error> error, std::shared_ptr<const ScanRecord> scan) {
  std::vector<std::shared_ptr<asio::steady_timer>> wake;
  {
    std::lock_guard lock(mu_);
    progress_.available = available;
    if (state) progress_.state = *state;
    if (error) progress_.error = std::move(error);
    if (scan) progress_.scan = std::move(scan);
    const bool all = progress_.state == State::Committed || progress_.state == State::Failed;
    // Wake only the readers whose target is reached; keep the others waiting.
    std::erase_if(waiters_, [&](Waiter& w) {
      if (!all && w.target > available) return false;
      wake.push_back(std::move(w.timer));
      return true;
    });
  }
  for (auto& t : wake) {
    asio::post(t->get_executor(), [t] { t->cancel(); });
  }
}

asio::awaitable<void> FillSession::run(std::shared_ptr<FillSession> self) {
  auto& m = deps_.metrics;
  m.fill_started.inc();
  m.fills_in_flight.add(1);
  auto fetched = co_await fetchAll();
  Result<void> outcome = fetched;
  std::shared_ptr<const ScanRecord> scan;
  if (fetched) {
    advance(size_, State::Scanning, std::nullopt);
    scan = co_await inspect();
    outcome = co_await commit();
  }
  if (outcome) {
    m.fill_completed.inc();
    advance(size_, State::Committed, std::nullopt, scan);
  } else {
    m.fill_failed.inc();
    std::error_code ec;
    std::filesystem::remove(temp_.path, ec);
    advance(progress().available, State::Failed, outcome.error());
  }
  m.fills_in_flight.add(-1);
  if (on_done_) on_done_();
  (void)self;
}

asio::awaitable<Result<void>> FillSession::fetchAll() {
  auto hasher = Hasher::forKind(key_.kind, size_);
  std::vector<std::byte> buf(kFillBufferBytes);
  std::uint64_t written = 0;
  Error last{ErrorCode::Unavailable, "no attempt made"};
  int attempts = 0;
  auto executor = co_await asio::this_coro::executor;
  while (written < size_) {
    if (attempts >= deps_.max_attempts) {
      co_return fail(last.code, "upstream transfer failed after " + std::to_string(attempts) +
                                    " attempts: " + last.context);
    }
    if (attempts > 0) {
      // Back off before resuming: 1x, 2x, 4x ... the base delay.
      asio::steady_timer t(executor, deps_.retry_backoff * (1 << std::min(attempts - 1, 4)));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      deps_.metrics.fill_resumed.inc();
    }
    ++attempts;
    auto opened = co_await source_->open(written);
    if (!opened) {
      last = opened.error();  // transport failures are counted by upstream::withMetrics
      if (last.code == ErrorCode::Corruption || last.code == ErrorCode::Forbidden) {
        co_return std::unexpected(last);  // not retryable
      }
      continue;
    }
    auto& body = **opened;
    for (;;) {
      auto n = co_await body.read(std::span<std::byte>(buf));
      if (!n) {
        last = n.error();
        break;
      }
      if (*n == 0) {
        if (written < size_) last = Error{ErrorCode::Unavailable, "upstream body ended early"};
        break;
      }
      if (written + *n > size_) {
        co_return fail(ErrorCode::Corruption, "upstream sent more bytes than the Hub announced (" +
                                                  std::to_string(size_) + ")");
      }
      if (auto w = pwriteAll(temp_.fd.get(), buf.data(), *n, written); !w) {
        co_return std::unexpected(w.error());
      }
      hasher->update(std::span<const std::byte>(buf.data(), *n));
      written += *n;
      deps_.metrics.upstream_body_bytes.inc(*n);
      advance(written, std::nullopt, std::nullopt);
    }
  }
  std::string digest = hasher->finish();
  if (digest != key_.digest) {
    deps_.metrics.digest_mismatch.inc();
    co_return fail(ErrorCode::Corruption, "digest mismatch: expected " + key_.str() + ", got " +
                                              std::string(digestKindName(key_.kind)) + ":" + digest);
  }
  co_return Result<void>{};
}

asio::awaitable<std::shared_ptr<const ScanRecord>> FillSession::inspect() {
  if (!deps_.inspector) co_return nullptr;
  asio::thread_pool& pool = deps_.scan_pool ? *deps_.scan_pool : deps_.blocking;
  // The verdict is stored before the blob is published: a published blob always has one.
  auto record = co_await runBlocking(pool, [this]() -> std::shared_ptr<const ScanRecord> {
    auto r = std::make_shared<ScanRecord>(
        deps_.inspector->inspect(temp_.fd.get(), size_, key_, name_hint_));
    deps_.metrics.scanVerdict(r->verdict).inc();
    (void)deps_.index.putVerdict(key_, *r);
    return r;
  });
  co_return record;
}

asio::awaitable<Result<void>> FillSession::commit() {
  auto outcome = co_await runBlocking(deps_.blocking, [this]() -> Result<void> {
    if (auto r = deps_.store.publish(temp_, key_); !r) return r;
    return deps_.index.putBlob(BlobRecord{key_, size_, 0, 0});
  });
  if (outcome && reservation_) lease_ = deps_.space->commit(std::move(reservation_));
  co_return outcome;
}

Result<FillRegistry::Joined> FillRegistry::join(const BlobKey& key, const Factory& make,
                                                asio::any_io_executor executor) {
  std::string k = key.str();
  auto live = [&]() -> std::shared_ptr<FillSession> {
    if (auto it = live_.find(k); it != live_.end()) {
      if (auto s = it->second.lock(); s && s->progress().state != FillSession::State::Failed) {
        return s;
      }
    }
    return nullptr;
  };
  {
    std::lock_guard lock(mu_);
    if (auto s = live()) {
      metrics_.fill_joined.inc();
      return Joined{s, false};
    }
  }
  // Created and opened outside the lock (file creation), published only once readable.
  auto made = make();
  if (!made) return std::unexpected(made.error());
  std::shared_ptr<FillSession> created = std::move(*made);
  if (auto opened = created->open(); !opened) return std::unexpected(opened.error());
  {
    std::lock_guard lock(mu_);
    if (auto s = live()) {  // another request won the race: use its session, drop ours
      metrics_.fill_joined.inc();
      return Joined{s, false};
    }
    live_[k] = created;
  }
  FillSession* raw = created.get();
  created->start(executor, [this, k, raw] { forget(k, raw); });
  return Joined{created, true};
}

void FillRegistry::forget(const std::string& key, const FillSession* session) {
  std::lock_guard lock(mu_);
  auto it = live_.find(key);
  if (it == live_.end()) return;
  auto s = it->second.lock();
  if (!s || s.get() == session) live_.erase(it);
}

std::size_t FillRegistry::inFlight() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

}  // namespace hubgate::cache
