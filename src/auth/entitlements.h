// Entitlements: the memo of "the Hub confirmed that caller scope S may read repo R".
//
// Scope is "anon" (no credentials went upstream) or a digest of the upstream Authorization
// value (hub::scopeFor), so tokens never appear here in plain text. A confirmation is either
// for metadata (an API answer: repo info, tree, paths-info) or for files (a /resolve answer, or
// the Hub's 404 EntryNotFound, which it only gives to callers past its access check). Files
// covers metadata; metadata never covers files (a gated repo's metadata is public, its files
// are not).
//
// standing() tells how a memo stands now:
//   Fresh - confirmed less than `ttl` ago: serve from cache without asking the Hub.
//   Grace - older, but within ttl + offline_grace: serve only when the Hub cannot be asked.
//           An "anon" confirmation stays in Grace at any age: what the Hub gave to anyone was
//           public, and a Hub outage must not take public models away.
//   None  - never confirmed, or denied since: ask the Hub; fail closed when it cannot answer.
// deny() (the Hub answered 401/403, or RepoNotFound) drops the memo at once.
//
// Memos live in memory (authoritative while running, including denials) and are persisted to
// the index through a strand on the blocking pool, so that they survive a restart in order.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cache/index.h"

namespace hubgate::auth {

enum class Need { Metadata, Files };
enum class Standing { Fresh, Grace, None };
std::string_view standingName(Standing s);  // "fresh" | "grace" | "none"

inline constexpr std::string_view kAnonScope = "anon";

class Entitlements {
 public:
  using NowMs = std::function<std::int64_t()>;  // unix milliseconds
  Entitlements(cache::Index& index, boost::asio::thread_pool& blocking,
               std::chrono::milliseconds ttl, std::chrono::milliseconds offline_grace,
               NowMs now = systemNowMs);

  Standing standing(const std::string& scope, const std::string& repo_type,
                    const std::string& repo, Need need);
  void grant(const std::string& scope, const std::string& repo_type, const std::string& repo,
             Need what);
  void deny(const std::string& scope, const std::string& repo_type, const std::string& repo);

  static std::int64_t systemNowMs();

 private:
  // Files and metadata confirmations age separately: a later metadata answer never shortens
  // what a files confirmation allows (notably its offline grace).
  struct Memo {
    std::int64_t files_at_ms = 0;  // 0 = never / denied
    std::int64_t meta_at_ms = 0;
    std::int64_t persisted_files_ms = 0;  // what the index holds
    std::int64_t persisted_meta_ms = 0;
  };
  Standing judge(const std::string& scope, std::int64_t at_ms) const;
  static std::string key(const std::string& scope, const std::string& type, const std::string& repo) {
    return scope + '\n' + type + '\n' + repo;
  }

  cache::Index& index_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> writes_;
  const std::int64_t ttl_ms_;
  const std::int64_t grace_ms_;
  NowMs now_;
  std::mutex mu_;
  std::unordered_map<std::string, Memo> memos_;
};

}  // namespace hubgate::auth
