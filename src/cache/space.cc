#include "cache/space.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <list>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "base/time.h"

namespace hubgate::cache {
namespace asio = boost::asio;

namespace {

std::uint64_t saturatingSub(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

struct Space::State {
  struct Entry {
    BlobKey key;
    std::uint64_t size = 0;
    std::int64_t last_access = 0;  // unix seconds
    int readers = 0;
    bool dirty = false;   // last_access not yet written to the index
    bool doomed = false;  // removed while leased: delete when readers reaches 0
    std::list<std::string>::iterator lru;
  };

  std::mutex mu;
  Space* owner = nullptr;  // null once the Space is gone (late leases only update the maps)
  int destroying = 0;      // scheduled deletions running now; ~Space waits for them
  std::condition_variable idle;
  std::unordered_map<std::string, Entry> entries;  // by BlobKey::str()
  std::list<std::string> lru;                      // front: most recently used
  std::uint64_t used = 0;
  std::uint64_t reserved = 0;
  std::uint64_t fills_reserved = 0;
  std::vector<std::string> dirty;
  std::set<std::pair<std::string, std::string>> pinned_repos;
  std::unordered_set<std::string> pinned_blobs;

  void insertLocked(const BlobKey& key, std::uint64_t size, std::int64_t last_access, bool front) {
    std::string k = key.str();
    auto [it, fresh] = entries.try_emplace(k);
    if (!fresh) return;
    it->second.key = key;
    it->second.size = size;
    it->second.last_access = last_access;
    it->second.lru = front ? lru.insert(lru.begin(), k) : lru.insert(lru.end(), k);
    used += size;
  }

  // Hides an entry from lookups and accounting; the caller deletes its bytes.
  void detachLocked(std::unordered_map<std::string, Entry>::iterator it) {
    used -= it->second.size;
    lru.erase(it->second.lru);
    entries.erase(it);
  }

  // Least recently used blobs that are neither pinned nor leased, detached until `need` bytes
  // are freed or `max_count` blobs are taken. With `all_or_nothing`, nothing is detached unless
  // `need` can be met.
  std::vector<std::pair<BlobKey, std::uint64_t>> pickVictimsLocked(std::uint64_t need,
                                                                   std::size_t max_count,
                                                                   bool all_or_nothing) {
    std::vector<std::unordered_map<std::string, Entry>::iterator> picked;
    std::uint64_t freed = 0;
    for (auto rit = lru.rbegin(); rit != lru.rend() && freed < need && picked.size() < max_count;
         ++rit) {
      auto it = entries.find(*rit);
      if (it == entries.end() || it->second.readers > 0 || pinned_blobs.contains(*rit)) continue;
      picked.push_back(it);
      freed += it->second.size;
    }
    std::vector<std::pair<BlobKey, std::uint64_t>> out;
    if (all_or_nothing && freed < need) return out;
    for (auto it : picked) {
      out.emplace_back(it->second.key, it->second.size);
      detachLocked(it);
    }
    return out;
  }

  void publishGaugesLocked() {
    if (!owner) return;
    owner->metrics_.cache_bytes.set(static_cast<std::int64_t>(used));
    owner->metrics_.cache_objects.set(static_cast<std::int64_t>(entries.size()));
  }
};

Space::Lease::~Lease() {
  std::lock_guard lock(state_->mu);
  auto it = state_->entries.find(key_);
  if (it == state_->entries.end()) return;
  if (--it->second.readers == 0 && it->second.doomed) {
    std::vector<std::pair<BlobKey, std::uint64_t>> victim{{it->second.key, it->second.size}};
    state_->detachLocked(it);
    state_->publishGaugesLocked();
    if (state_->owner) state_->owner->scheduleDestroy(std::move(victim), false);  // a removal
  }
}

Space::Reservation::~Reservation() {
  if (committed_) return;
  std::lock_guard lock(state_->mu);
  state_->reserved -= size_;
  --state_->fills_reserved;
}

Space::Space(BlobStore& store, Index& index, asio::thread_pool& blocking,
             metrics::GatewayMetrics& metrics, SpaceConfig config, DiskProbe probe)
    : store_(store),
      index_(index),
      blocking_(blocking),
      metrics_(metrics),
      config_(config),
      probe_(std::move(probe)),
      state_(std::make_shared<State>()) {
  state_->owner = this;
  if (!probe_) {
    probe_ = [root = store_.root()]() {
      struct statvfs st {};
      if (::statvfs(root.c_str(), &st) != 0) return DiskUsage{};
      return DiskUsage{static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize,
                       static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize};
    };
  }
  metrics_.cache_max_bytes.set(static_cast<std::int64_t>(config_.max_bytes));
}

Space::~Space() {
  std::unique_lock lock(state_->mu);
  state_->owner = nullptr;
  // A deletion already running uses this Space's store and index: let it finish.
  state_->idle.wait(lock, [this] { return state_->destroying == 0; });
}

Result<void> Space::load() {
  auto blobs = index_.listBlobs();
  if (!blobs) return std::unexpected(blobs.error());
  std::sort(blobs->begin(), blobs->end(), [](const BlobRecord& a, const BlobRecord& b) {
    return a.last_access > b.last_access;  // most recent first: appended in order
  });
  auto pins = index_.listPins();
  if (!pins) return std::unexpected(pins.error());
  auto pinned = index_.pinnedBlobs();
  if (!pinned) return std::unexpected(pinned.error());
  std::lock_guard lock(state_->mu);
  for (const auto& b : *blobs) state_->insertLocked(b.key, b.size, b.last_access, false);
  for (const auto& p : *pins) state_->pinned_repos.emplace(p.repo_type, p.repo);
  for (const auto& k : *pinned) state_->pinned_blobs.insert(k.str());
  state_->publishGaugesLocked();
  return {};
}

std::shared_ptr<Space::Lease> Space::lease(const BlobKey& key) {
  std::string k = key.str();
  std::lock_guard lock(state_->mu);
  auto it = state_->entries.find(k);
  if (it == state_->entries.end() || it->second.doomed) return nullptr;
  auto& e = it->second;
  ++e.readers;
  e.last_access = unixSeconds();
  if (!e.dirty) {
    e.dirty = true;
    state_->dirty.push_back(k);
  }
  state_->lru.splice(state_->lru.begin(), state_->lru, e.lru);
  return std::shared_ptr<Lease>(new Lease(state_, std::move(k)));
}

bool Space::contains(const BlobKey& key) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->entries.find(key.str());
  return it != state_->entries.end() && !it->second.doomed;
}

std::uint64_t Space::reserveBytes(const DiskUsage& disk) const {
  auto pct = static_cast<std::uint64_t>(static_cast<double>(disk.total) * config_.min_free_percent / 100.0);
  return std::max(config_.min_free_bytes, pct);
}

Result<std::unique_ptr<Space::Reservation>> Space::reserve(const BlobKey& key, std::uint64_t size) {
  if (config_.max_bytes && size > config_.max_bytes) {
    return fail(ErrorCode::NoSpace, key.str() + " (" + std::to_string(size) +
                                        " bytes) is larger than the cache quota (" +
                                        std::to_string(config_.max_bytes) + " bytes)");
  }
  // Read the filesystem outside the lock (a syscall); the reserve is re-checked against it.
  const DiskUsage disk = probe_();
  const std::uint64_t keep_free = reserveBytes(disk);
  std::vector<std::pair<BlobKey, std::uint64_t>> victims;
  {
    std::lock_guard lock(state_->mu);
    std::uint64_t need_quota =
        config_.max_bytes ? saturatingSub(state_->used + state_->reserved + size, config_.max_bytes) : 0;
    // Reserved fills may not have written their bytes yet: count them as still to come.
    std::uint64_t need_disk =
        keep_free ? saturatingSub(keep_free + state_->reserved + size, disk.available) : 0;
    std::uint64_t need = std::max(need_quota, need_disk);
    if (need > 0) {
      victims = state_->pickVictimsLocked(need, static_cast<std::size_t>(-1), true);
      if (victims.empty()) {
        return fail(ErrorCode::NoSpace,
                    key.str() + " (" + std::to_string(size) + " bytes) does not fit: " +
                        (need_quota >= need_disk ? "cache quota" : "free-disk reserve") +
                        " reached and the rest of the cache is pinned or in use");
      }
    }
    state_->reserved += size;
    ++state_->fills_reserved;
    state_->publishGaugesLocked();
  }
  if (!victims.empty()) {
    std::uint64_t bytes = 0;
    for (const auto& v : victims) bytes += v.second;
    spdlog::debug("evicting {} blobs ({} bytes) to make room for {}", victims.size(), bytes, key.str());
    scheduleDestroy(std::move(victims), true);
  }
  return std::unique_ptr<Reservation>(new Reservation(state_, key, size));
}

std::shared_ptr<Space::Lease> Space::commit(std::unique_ptr<Reservation> r) {
  std::string k = r->key().str();
  std::lock_guard lock(state_->mu);
  state_->reserved -= r->size();
  --state_->fills_reserved;
  r->committed_ = true;
  state_->insertLocked(r->key(), r->size(), unixSeconds(), true);
  auto& e = state_->entries.at(k);
  ++e.readers;
  state_->publishGaugesLocked();
  return std::shared_ptr<Lease>(new Lease(state_, std::move(k)));
}

void Space::scheduleDestroy(std::vector<std::pair<BlobKey, std::uint64_t>> victims, bool evicted) {
  // The Space may be gone when this runs (a lease released during shutdown): then the blobs
  // stay, and the next start serves them again.
  asio::post(blocking_, [state = state_, victims = std::move(victims), evicted] {
    Space* owner = nullptr;
    {
      std::lock_guard lock(state->mu);
      owner = state->owner;
      if (owner) ++state->destroying;
    }
    if (!owner) return;
    owner->destroy(victims, evicted);
    std::lock_guard lock(state->mu);
    if (--state->destroying == 0) state->idle.notify_all();
  });
}

void Space::destroy(const std::vector<std::pair<BlobKey, std::uint64_t>>& victims, bool evicted) {
  for (const auto& [key, size] : victims) {
    // Row first: a crash between the two leaves an orphan file, which reconcile deletes; the
    // other order could leave a row pointing at nothing.
    if (auto r = index_.removeBlob(key); !r) {
      spdlog::warn("evict {}: index: {}", key.str(), r.error().context);
    }
    std::error_code ec;
    std::filesystem::remove(store_.blobPath(key), ec);
    if (ec) spdlog::warn("evict {}: {}", key.str(), ec.message());
    if (evicted) {
      metrics_.evictions.inc();
      metrics_.evicted_bytes.inc(size);
    }
  }
}

EvictStats Space::evictPass(std::size_t budget) {
  const DiskUsage disk = probe_();
  const std::uint64_t keep_free = reserveBytes(disk);
  std::vector<std::pair<BlobKey, std::uint64_t>> victims;
  {
    std::lock_guard lock(state_->mu);
    std::uint64_t need_quota =
        config_.max_bytes ? saturatingSub(state_->used + state_->reserved, config_.max_bytes) : 0;
    std::uint64_t need_disk = keep_free ? saturatingSub(keep_free, disk.available) : 0;
    std::uint64_t need = std::max(need_quota, need_disk);
    if (need > 0) victims = state_->pickVictimsLocked(need, budget, false);
    state_->publishGaugesLocked();
  }
  EvictStats st;
  for (const auto& v : victims) {
    ++st.blobs;
    st.bytes += v.second;
  }
  destroy(victims, true);
  return st;
}

EvictStats Space::maintain() {
  auto st = evictPass(config_.pass_budget);
  if (st.blobs) spdlog::info("eviction pass: {} blobs, {} bytes", st.blobs, st.bytes);
  if (auto r = flushAccess(); !r) spdlog::warn("access-time flush: {}", r.error().context);
  return st;
}

Result<bool> Space::remove(const BlobKey& key) {
  std::vector<std::pair<BlobKey, std::uint64_t>> victim;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->entries.find(key.str());
    if (it == state_->entries.end() || it->second.doomed) return false;
    if (it->second.readers > 0) {
      it->second.doomed = true;  // deleted by the last lease
      return true;
    }
    victim.emplace_back(it->second.key, it->second.size);
    state_->detachLocked(it);
    state_->publishGaugesLocked();
  }
  destroy(victim, false);
  return true;
}

Result<void> Space::pin(const std::string& repo_type, const std::string& repo) {
  if (auto r = index_.putPin(repo_type, repo); !r) return r;
  auto blobs = index_.blobsOfRepo(repo_type, repo);
  if (!blobs) return std::unexpected(blobs.error());
  std::lock_guard lock(state_->mu);
  state_->pinned_repos.emplace(repo_type, repo);
  for (const auto& k : *blobs) state_->pinned_blobs.insert(k.str());
  return {};
}

Result<bool> Space::unpin(const std::string& repo_type, const std::string& repo) {
  auto removed = index_.removePin(repo_type, repo);
  if (!removed) return removed;
  // A blob may be shared with another pinned repo: recompute the set from the index.
  auto pinned = index_.pinnedBlobs();
  if (!pinned) return std::unexpected(pinned.error());
  std::lock_guard lock(state_->mu);
  state_->pinned_repos.erase({repo_type, repo});
  state_->pinned_blobs.clear();
  for (const auto& k : *pinned) state_->pinned_blobs.insert(k.str());
  return *removed;
}

bool Space::isPinned(const BlobKey& key) const {
  std::lock_guard lock(state_->mu);
  return state_->pinned_blobs.contains(key.str());
}

void Space::noteFile(const std::string& repo_type, const std::string& repo, const BlobKey& blob) {
  std::lock_guard lock(state_->mu);
  if (state_->pinned_repos.empty() || !state_->pinned_repos.contains({repo_type, repo})) return;
  state_->pinned_blobs.insert(blob.str());
}

Result<void> Space::flushAccess() {
  std::vector<std::pair<BlobKey, std::int64_t>> batch;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& k : state_->dirty) {
      auto it = state_->entries.find(k);
      if (it == state_->entries.end()) continue;
      it->second.dirty = false;
      batch.emplace_back(it->second.key, it->second.last_access);
    }
    state_->dirty.clear();
  }
  return index_.touchBlobs(batch);
}

SpaceStats Space::stats() const {
  SpaceStats st;
  st.disk = probe_();
  st.max_bytes = config_.max_bytes;
  st.min_free_bytes = reserveBytes(st.disk);
  std::lock_guard lock(state_->mu);
  st.bytes = state_->used;
  st.objects = state_->entries.size();
  st.reserved_bytes = state_->reserved;
  st.fills_reserved = state_->fills_reserved;
  for (const auto& [k, e] : state_->entries) {
    if (state_->pinned_blobs.contains(k)) {
      ++st.pinned_objects;
      st.pinned_bytes += e.size;
    }
    if (e.readers > 0) ++st.leased_objects;
  }
  return st;
}

}  // namespace hubgate::cache
