// Space: the cache's disk budget. Which published blobs exist, which are in use, which may go.
//
// The index's `blobs` table is the durable record; Space is its in-memory mirror, loaded at
// startup, so that a cache hit costs a hash-map lookup instead of an SQLite read and eviction
// decisions never scan the table. Every blob that becomes visible or goes away passes through
// here (FillSession::commit, eviction, `cache rm`, policy.cache_deny).
//
// Limits (docs/adr/0002-eviction.md):
//   max_bytes       quota on published blobs plus the fills reserved against it;
//   min_free        free space the cache filesystem must keep (bytes and/or a share of it).
// A fill reserves its full size before it starts (reserve()). If the limits cannot be met even
// after evicting every evictable blob, the reservation is refused and the caller streams the
// file to its client without caching it. Otherwise the least recently used evictable blobs are
// detached at once (invisible to new requests) and deleted on the blocking pool.
//
// Never evicted: pinned blobs (referenced by a file row of a pinned repo), blobs with a live
// Lease (being sent to a client, or the blob of a fill whose readers are still reading), and
// fills in progress (they are not published yet). A blob removed while leased is "doomed":
// invisible to new requests, deleted when its last lease ends.
//
// Access times are kept in memory and written to the index in batches (flushAccess(), called
// from the background pass and at shutdown): no SQLite write per cache hit.
//
// Thread-safety: all methods may be called from any thread; one mutex guards the maps and is
// never held across I/O. Methods marked "blocking" do SQLite or filesystem work: call them from
// the blocking pool (or a CLI).
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "cache/blob_store.h"
#include "cache/index.h"
#include "metrics/registry.h"

namespace hubgate::cache {

struct SpaceConfig {
  std::uint64_t max_bytes = 0;       // 0: no quota
  std::uint64_t min_free_bytes = 0;  // free-disk reserve, absolute
  double min_free_percent = 0;       // free-disk reserve, share of the filesystem size
  std::size_t pass_budget = 256;     // blobs one background pass may evict
};

struct DiskUsage {
  std::uint64_t total = 0;      // filesystem size
  std::uint64_t available = 0;  // bytes an unprivileged writer may still use
};
// Reads the cache filesystem's usage (statvfs by default; tests inject their own).
using DiskProbe = std::function<DiskUsage()>;

struct SpaceStats {
  std::uint64_t bytes = 0;     // published blobs
  std::uint64_t objects = 0;
  std::uint64_t reserved_bytes = 0;  // fills in progress
  std::uint64_t fills_reserved = 0;
  std::uint64_t pinned_bytes = 0;
  std::uint64_t pinned_objects = 0;
  std::uint64_t leased_objects = 0;  // being read right now
  std::uint64_t max_bytes = 0;
  std::uint64_t min_free_bytes = 0;  // effective reserve (absolute and percent combined)
  DiskUsage disk;
};

struct EvictStats {
  std::uint64_t blobs = 0;
  std::uint64_t bytes = 0;
};

class Space {
 public:
  struct State;

  // A reader's hold on a published blob: while any lease lives, the blob is not evicted.
  // Leases and reservations share the Space's state, so one outliving the Space (a coroutine
  // frame destroyed at shutdown) is harmless.
  class Lease {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    friend class Space;
    Lease(std::shared_ptr<State> state, std::string key) : state_(std::move(state)), key_(std::move(key)) {}
    std::shared_ptr<State> state_;
    std::string key_;
  };

  // Room for one fill, held from its start until it is published or fails.
  class Reservation {
   public:
    ~Reservation();
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    const BlobKey& key() const { return key_; }
    std::uint64_t size() const { return size_; }

   private:
    friend class Space;
    Reservation(std::shared_ptr<State> state, BlobKey key, std::uint64_t size)
        : state_(std::move(state)), key_(std::move(key)), size_(size) {}
    std::shared_ptr<State> state_;
    BlobKey key_;
    std::uint64_t size_;
    bool committed_ = false;
  };

  // `blocking`: where deletions chosen on a request path run. REQUIRES: all outlive the Space.
  Space(BlobStore& store, Index& index, boost::asio::thread_pool& blocking,
        metrics::GatewayMetrics& metrics, SpaceConfig config, DiskProbe probe = {});
  ~Space();

  // Loads blobs (ordered by last access) and pins from the index. Blocking.
  Result<void> load();

  // A lease on a published blob, or null when it is not cached (or being removed). Counts as an
  // access for LRU.
  std::shared_ptr<Lease> lease(const BlobKey& key);
  bool contains(const BlobKey& key) const;

  // Room for a fill of `size` bytes, evicting least recently used blobs if that makes it fit.
  // NoSpace when it cannot fit (larger than the quota, or everything else is pinned or in use).
  Result<std::unique_ptr<Reservation>> reserve(const BlobKey& key, std::uint64_t size);
  // Records the reserved blob as published (its file and index row exist). Returns a lease that
  // keeps it from eviction until the fill's readers are done.
  std::shared_ptr<Lease> commit(std::unique_ptr<Reservation> reservation);

  // Evicts least recently used blobs until both limits hold, at most `budget` blobs. Blocking.
  EvictStats evictPass(std::size_t budget);
  // One background tick: an eviction pass with the configured budget and an access-time flush.
  // Blocking.
  EvictStats maintain();
  // Removes a published blob (index row and file). Not found: false. A leased blob is hidden
  // now and deleted when its last reader finishes. Blocking.
  Result<bool> remove(const BlobKey& key);

  // Pins: blobs of a pinned repo's file rows are never evicted. Blocking (index writes).
  Result<void> pin(const std::string& repo_type, const std::string& repo);
  Result<bool> unpin(const std::string& repo_type, const std::string& repo);
  bool isPinned(const BlobKey& key) const;
  // A file row of (repo_type, repo) names `blob` (called when the Hub tells the identity), so a
  // pinned repo's new files are pinned before their fill completes.
  void noteFile(const std::string& repo_type, const std::string& repo, const BlobKey& blob);

  // Writes batched access times to the index. Blocking.
  Result<void> flushAccess();

  SpaceStats stats() const;
  const SpaceConfig& config() const { return config_; }

 private:
  std::uint64_t reserveBytes(const DiskUsage& disk) const;
  void destroy(const std::vector<std::pair<BlobKey, std::uint64_t>>& victims, bool evicted);  // blocking
  // `evicted`: count in the eviction metrics (false for removals by operator or policy).
  void scheduleDestroy(std::vector<std::pair<BlobKey, std::uint64_t>> victims, bool evicted);

  BlobStore& store_;
  Index& index_;
  boost::asio::thread_pool& blocking_;
  metrics::GatewayMetrics& metrics_;
  const SpaceConfig config_;
  DiskProbe probe_;
  std::shared_ptr<State> state_;
};

}  // namespace hubgate::cache
