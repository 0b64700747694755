#include "auth/entitlements.h"

#include <boost/asio/post.hpp>

namespace hubgate::auth {
namespace asio = boost::asio;

std::string_view standingName(Standing s) {
  switch (s) {
    case Standing::Fresh: return "fresh";
    case Standing::Grace: return "grace";
    case Standing::None: return "none";
  }
  return "none";
}

std::int64_t Entitlements::systemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Entitlements::Entitlements(cache::Index& index, asio::thread_pool& blocking,
                           std::chrono::milliseconds ttl, std::chrono::milliseconds offline_grace,
                           NowMs now)
    : index_(index),
      writes_(asio::make_strand(blocking.get_executor())),
      ttl_ms_(ttl.count()),
      grace_ms_(offline_grace.count()),
      now_(std::move(now)) {}

Standing Entitlements::judge(const std::string& scope, std::int64_t at_ms) const {
  if (at_ms == 0) return Standing::None;
  std::int64_t age = now_() - at_ms;
  if (age < 0) age = 0;  // clock stepped back: treat as just confirmed
  if (age < ttl_ms_) return Standing::Fresh;
  if (scope == kAnonScope || age < ttl_ms_ + grace_ms_) return Standing::Grace;
  return Standing::None;
}

Standing Entitlements::standing(const std::string& scope, const std::string& repo_type,
                                const std::string& repo, Need need) {
  Memo memo;
  {
    std::lock_guard lock(mu_);
    auto k = key(scope, repo_type, repo);
    auto it = memos_.find(k);
    if (it == memos_.end()) {
      // First question since start: the persisted memo, if any (a short point lookup).
      auto row = index_.findEntitlement(scope, repo_type, repo);
      Memo loaded;
      if (row && *row) {
        loaded.files_at_ms = loaded.persisted_files_ms = (*row)->files_at_ms;
        loaded.meta_at_ms = loaded.persisted_meta_ms = (*row)->meta_at_ms;
      }
      it = memos_.emplace(std::move(k), loaded).first;
    }
    memo = it->second;
  }
  Standing files = judge(scope, memo.files_at_ms);
  if (need == Need::Files) return files;
  Standing meta = judge(scope, memo.meta_at_ms);
  // Files covers metadata: the better of the two.
  if (files == Standing::Fresh || meta == Standing::Fresh) return Standing::Fresh;
  if (files == Standing::Grace || meta == Standing::Grace) return Standing::Grace;
  return Standing::None;
}

void Entitlements::grant(const std::string& scope, const std::string& repo_type,
                         const std::string& repo, Need what) {
  const std::int64_t now = now_();
  cache::EntitlementRecord rec;
  bool persist = false;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = memos_.try_emplace(key(scope, repo_type, repo));
    Memo& m = it->second;
    if (inserted) {
      // Never consulted: keep what the index holds for the other kind.
      auto row = index_.findEntitlement(scope, repo_type, repo);
      if (row && *row) {
        m.files_at_ms = m.persisted_files_ms = (*row)->files_at_ms;
        m.meta_at_ms = m.persisted_meta_ms = (*row)->meta_at_ms;
      }
    }
    std::int64_t& at = what == Need::Files ? m.files_at_ms : m.meta_at_ms;
    std::int64_t& stored = what == Need::Files ? m.persisted_files_ms : m.persisted_meta_ms;
    at = now;
    // Persist when new, or when the stored copy is older than half a TTL (bounded writes).
    if (stored == 0 || now - stored >= ttl_ms_ / 2) {
      stored = now;
      rec.files_at_ms = m.files_at_ms;
      rec.meta_at_ms = m.meta_at_ms;
      m.persisted_files_ms = m.files_at_ms;
      m.persisted_meta_ms = m.meta_at_ms;
      persist = true;
    }
  }
  if (persist) {
    asio::post(writes_, [&index = index_, scope, repo_type, repo, rec] {
      (void)index.putEntitlement(scope, repo_type, repo, rec);
    });
  }
}

void Entitlements::deny(const std::string& scope, const std::string& repo_type,
                        const std::string& repo) {
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = memos_.try_emplace(key(scope, repo_type, repo));
    Memo& m = it->second;
    // Known to memory and nothing confirmed or stored: the index holds nothing either.
    if (!inserted && m.files_at_ms == 0 && m.meta_at_ms == 0 && m.persisted_files_ms == 0 &&
        m.persisted_meta_ms == 0) {
      return;
    }
    m = Memo{};
  }
  asio::post(writes_, [&index = index_, scope, repo_type, repo] {
    (void)index.removeEntitlement(scope, repo_type, repo);
  });
}

}  // namespace hubgate::auth
