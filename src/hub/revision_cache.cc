#include "hub/revision_cache.h"

#include <boost/asio/post.hpp>

#include "base/hash.h"

namespace hubgate::hub {

std::optional<std::string> RevisionCache::fresh(const std::string& repo_type,
                                                const std::string& repo,
                                                const std::string& revision,
                                                const std::string& scope) {
  std::lock_guard lock(mu_);
  auto it = seen_.find(key(repo_type, repo, revision, scope));
  if (it == seen_.end() || std::chrono::steady_clock::now() - it->second.at > ttl_) {
    return std::nullopt;
  }
  return it->second.commit;
}

std::optional<std::string> RevisionCache::last(const std::string& repo_type,
                                               const std::string& repo,
                                               const std::string& revision,
                                               const std::string& scope) {
  {
    std::lock_guard lock(mu_);
    auto it = seen_.find(key(repo_type, repo, revision, scope));
    if (it != seen_.end()) return it->second.commit;
  }
  // After a restart only the index knows. Treat what it says as old (not fresh).
  auto row = index_.findRevision(repo_type, repo, revision, scope);
  if (row && *row) return (*row)->commit;
  return std::nullopt;
}

void RevisionCache::remember(const std::string& repo_type, const std::string& repo,
                             const std::string& revision, const std::string& scope,
                             const std::string& commit) {
  {
    std::lock_guard lock(mu_);
    auto& s = seen_[key(repo_type, repo, revision, scope)];
    bool same = s.commit == commit;
    s.commit = commit;
    s.at = std::chrono::steady_clock::now();
    if (same && !commit.empty()) return;  // persisted already (or about to be)
  }
  boost::asio::post(blocking_, [&index = index_, repo_type, repo, revision, scope, commit] {
    (void)index.putRevision(repo_type, repo, revision, scope, commit);
  });
}

}  // namespace hubgate::hub
