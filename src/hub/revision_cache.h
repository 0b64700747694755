// RevisionCache: branch/tag -> commit, per caller scope, reused for a short TTL.
//
// fresh() answers within the TTL (no upstream check needed); last() answers at any age (the
// stale fallback when upstream is unreachable). Entries live in memory (authoritative, so a
// remember() is visible to the next request at once) and are persisted to the index on the
// blocking pool so that stale serving survives a restart. A full commit hash never needs this.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/authenticator.h"
#include "cache/index.h"

namespace hubgate::hub {

// The identity class a cached answer belongs to: "anon", or a digest of the Authorization value.
using auth::scopeFor;

class RevisionCache {
 public:
  RevisionCache(cache::Index& index, boost::asio::thread_pool& blocking,
                std::chrono::milliseconds ttl)
      : index_(index), blocking_(blocking), ttl_(ttl) {}

  std::optional<std::string> fresh(const std::string& repo_type, const std::string& repo,
                                   const std::string& revision, const std::string& scope);
  std::optional<std::string> last(const std::string& repo_type, const std::string& repo,
                                  const std::string& revision, const std::string& scope);
  void remember(const std::string& repo_type, const std::string& repo, const std::string& revision,
                const std::string& scope, const std::string& commit);

 private:
  struct Seen {
    std::string commit;
    std::chrono::steady_clock::time_point at;
  };
  static std::string key(const std::string& t, const std::string& r, const std::string& rev,
                         const std::string& scope) {
    return t + '\n' + r + '\n' + rev + '\n' + scope;
  }

  cache::Index& index_;
  boost::asio::thread_pool& blocking_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Seen> seen_;
};

}  // namespace hubgate::hub
