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
        loaded.granted_at_ms = (*row)->granted_at_ms;
        loaded.files = (*row)->files;
        loaded.persisted_at_ms = loaded.granted_at_ms;
      }
      it = memos_.emplace(std::move(k), loaded).first;
    }
    memo = it->second;
  }
  if (memo.granted_at_ms == 0) return Standing::None;
  if (need == Need::Files && !memo.files) return Standing::None;
  std::int64_t age = now_() - memo.granted_at_ms;
  if (age < 0) age = 0;  // clock stepped back: treat as just confirmed
  if (age < ttl_ms_) return Standing::Fresh;
  if (scope == kAnonScope || age < ttl_ms_ + grace_ms_) return Standing::Grace;
  return Standing::None;
}

void Entitlements::grant(const std::string& scope, const std::string& repo_type,
                         const std::string& repo, Need what) {
  const std::int64_t now = now_();
  cache::EntitlementRecord rec;
  bool persist = false;
  {
    std::lock_guard lock(mu_);
    Memo& m = memos_[key(scope, repo_type, repo)];
    // A metadata confirmation keeps an earlier files confirmation only while that one is fresh.
    bool files = what == Need::Files || (m.files && m.granted_at_ms != 0 && now - m.granted_at_ms < ttl_ms_);
    const bool upgraded = files && !m.files;
    m.files = files;
    if (what == Need::Files || !m.files) m.granted_at_ms = now;
    // Persist when new, upgraded, or the stored copy is older than half a TTL (bounded writes).
    if (m.persisted_at_ms == 0 || upgraded || now - m.persisted_at_ms >= ttl_ms_ / 2) {
      m.persisted_at_ms = m.granted_at_ms;
      rec.granted_at_ms = m.granted_at_ms;
      rec.files = m.files;
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
    // Known to memory and already empty: the index holds nothing either.
    if (!inserted && it->second.granted_at_ms == 0 && it->second.persisted_at_ms == 0) return;
    it->second = Memo{};
  }
  asio::post(writes_, [&index = index_, scope, repo_type, repo] {
    (void)index.removeEntitlement(scope, repo_type, repo);
  });
}

}  // namespace hubgate::auth
