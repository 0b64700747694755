// FillSession: one upstream transfer of one blob, shared by every client that wants it.
//
// The first request for a blob that is neither cached nor filling creates the session (through
// FillRegistry::join) and starts its fill coroutine; every later request for the same blob joins
// the same session. The fill writes the upstream body to a temp file, hashing it on the fly, and
// publishes the byte count after every write; readers pread the temp file up to `available`
// at their own pace and wait for more when they catch up. A slow reader never slows the fill
// and never makes the gateway buffer anything: the file is the buffer.
//
// States (docs/fill_state_machine.md):
//
//   state      | event                                   | next
//   -----------+-----------------------------------------+-----------
//   Fetching   | bytes written (available grows)         | Fetching
//   Fetching   | upstream error, resume budget left      | Fetching (re-open at offset)
//   Fetching   | upstream error, budget exhausted        | Failed
//   Fetching   | all `size` bytes written                | Verifying
//   Verifying  | digest != expected                      | Failed (digest_mismatch)
//   Verifying  | digest ok                               | Scanning
//   Scanning   | verdict stored; fsync+rename+row done   | Committed (scan record attached)
//   Scanning   | scanner unavailable / store failed      | Failed
//
// A blob is published whatever its verdict (the bytes are verified; the verdict says what they
// are); whether a request may receive its final byte is the policy's decision per request, made
// by the reader when the session is Committed (FillBodySource's gate) and by the router on hits.
//
// Fail closed: readers are never given the blob's last byte before Committed, so a client can
// never hold a complete file whose digest did not match; on Failed every reader stops and cuts
// its connection. The session leaves the registry when it reaches a terminal state; the next
// request then finds the blob in the index (Committed) or starts afresh (Failed).
//
// Thread-safety: progress(), openReader() and waitUntil() may be called from any strand; the
// session mutex guards state and the waiter list, and wake-ups are posted to each waiter's own
// executor after the mutex is released. Ownership: shared by the registry (weak), the fill
// coroutine and every reader (shared_ptr).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "cache/blob_store.h"
#include "cache/index.h"
#include "cache/space.h"
#include "metrics/registry.h"
#include "upstream/client.h"

namespace hubgate::cache {

// Where a fill gets its bytes. Implemented by the Hub layer (it knows redirects and tokens).
class FillSource {
 public:
  virtual ~FillSource() = default;
  // Opens the upstream body of the blob starting at `offset`: the response body must yield
  // exactly the bytes [offset, size). Errors are retried by the session within its budget.
  virtual boost::asio::awaitable<Result<std::unique_ptr<upstream::Response>>> open(
      std::uint64_t offset) = 0;
};

// Judges a verified blob's content before it is published (the scanner, issue 5). Blocking; runs
// on FillDeps::scan_pool. Implementations must be thread-safe.
class Inspector {
 public:
  virtual ~Inspector() = default;
  // `fd` reads the verified bytes [0, size); `name_hint` is the path of the request that started
  // the fill (a hint only: scanners decide from content). Never fails: a scanner error is an
  // "error" verdict, which policy treats as a block.
  virtual ScanRecord inspect(int fd, std::uint64_t size, const BlobKey& key,
                             const std::string& name_hint) = 0;
  // The version stamped on records by inspect(); a stored record with another version is stale.
  virtual std::string version() const = 0;
};

struct FillDeps {
  BlobStore& store;
  Index& index;
  boost::asio::thread_pool& blocking;
  metrics::GatewayMetrics& metrics;
  int max_attempts = 6;  // upstream opens per fill (first try + resumes)
  std::chrono::milliseconds retry_backoff{200};
  Inspector* inspector = nullptr;               // null: no scanning (tests, scan.mode = off)
  boost::asio::thread_pool* scan_pool = nullptr;  // where inspect() runs (default: blocking)
  Space* space = nullptr;  // null: no limits (tests); else every fill reserves its size first
};

class FillSession : public std::enable_shared_from_this<FillSession> {
 public:
  enum class State { Fetching, Verifying, Scanning, Committed, Failed };

  struct Progress {
    State state = State::Fetching;
    std::uint64_t available = 0;  // bytes written to the temp file so far
    std::optional<Error> error;   // set when Failed
    std::shared_ptr<const ScanRecord> scan;  // set when Committed with an inspector
  };

  // REQUIRES: `deps` outlives the session.
  FillSession(BlobKey key, std::uint64_t size, std::unique_ptr<FillSource> source, FillDeps& deps,
              std::string name_hint = {});
  ~FillSession();

  // Reserves room for the blob (NoSpace when the cache cannot hold it: the caller then serves
  // the file uncached) and creates the temp file. Must succeed before the session is shared with
  // any reader (openReader() needs the file); FillRegistry::join does this before publishing it.
  Result<void> open();
  // Starts the fill coroutine on `executor`. `on_done` runs once when the session reaches a
  // terminal state (used by the registry to forget it). REQUIRES: open() succeeded.
  void start(boost::asio::any_io_executor executor, std::function<void()> on_done);

  const BlobKey& key() const { return key_; }
  std::uint64_t size() const { return size_; }
  Progress progress() const;
  // A private descriptor of the file being filled (valid after commit too).
  Result<Fd> openReader() const;
  // Number of bytes a reader may send now: everything once Committed, otherwise all but the
  // blob's last byte (fail-closed hold-back).
  static std::uint64_t releasable(const Progress& p, std::uint64_t size);
  // Suspends until at least `target` bytes are available, the state becomes terminal, or
  // `timeout` passes. Never fails; the caller re-reads progress(). Readers ask for a useful
  // amount (not "one more byte") so that a fast fill wakes each reader once per large chunk
  // instead of once per upstream read; a target above size() waits for the end of the fill.
  boost::asio::awaitable<void> waitUntil(std::uint64_t target, std::chrono::milliseconds timeout);

 private:
  boost::asio::awaitable<void> run(std::shared_ptr<FillSession> self);
  boost::asio::awaitable<Result<void>> fetchAll();
  boost::asio::awaitable<Result<void>> commit();
  boost::asio::awaitable<std::shared_ptr<const ScanRecord>> inspect();
  // Updates progress under the lock and wakes the waiters outside it.
  void advance(std::uint64_t available, std::optional<State> state, std::optional<Error> error,
               std::shared_ptr<const ScanRecord> scan = nullptr);

  const BlobKey key_;
  const std::uint64_t size_;
  std::unique_ptr<FillSource> source_;
  FillDeps& deps_;
  const std::string name_hint_;
  TempFile temp_;
  std::unique_ptr<Space::Reservation> reservation_;
  // Taken at commit: the published blob is not evicted while this session's readers read it.
  std::shared_ptr<Space::Lease> lease_;
  std::function<void()> on_done_;

  mutable std::mutex mu_;
  Progress progress_;
  struct Waiter {
    std::uint64_t target;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  std::vector<Waiter> waiters_;  // only the readers that caught up with the fill
};

// FillRegistry: finds or creates the one live FillSession per blob.
// Thread-safety: all methods are safe from any thread; the lock only guards the map.
class FillRegistry {
 public:
  struct Joined {
    std::shared_ptr<FillSession> session;
    bool started = false;  // true for the request that created the session
  };
  using Factory = std::function<Result<std::shared_ptr<FillSession>>()>;

  explicit FillRegistry(metrics::GatewayMetrics& metrics) : metrics_(metrics) {}

  // Returns the live session for `key` (counted as a join), or creates one with `make` and
  // starts it on `executor` (counted as a start).
  Result<Joined> join(const BlobKey& key, const Factory& make, boost::asio::any_io_executor executor);
  std::size_t inFlight() const;

 private:
  void forget(const std::string& key, const FillSession* session);

  metrics::GatewayMetrics& metrics_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<FillSession>> live_;
};

}  // namespace hubgate::cache
