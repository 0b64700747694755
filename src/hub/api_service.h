// ApiService: the Hub's read API through the gateway (repo info, tree, paths-info, refs, other
// GETs), commit-consistent, cached and served when the Hub is down.
//
// Rules (hub-protocol.md §3, §5; docs/life_of_a_request.md):
//   - A branch or tag is resolved to a commit (RevisionCache: reused for the revision TTL; a
//     full commit hash is never re-asked). Tree and paths-info are then fetched upstream *at the
//     commit*, so every answer of one snapshot describes one commit.
//   - Answers at a commit are immutable and cached per (kind, repo, commit, request key, scope).
//     Repo info at a branch is the revision check itself: its `sha` updates the RevisionCache.
//   - Xet fields are removed from every JSON body; the xet-read-token route is answered here.
//   - When upstream is down, rate-limiting us or the gateway is offline, the last known commit and
//     the cached answers are served with X-Hubgate-Stale; otherwise a clear error (502
//     UpstreamUnavailable, 503 GatewayOffline, 429 with Retry-After).
//   - Writes are refused (403 WritesDisabled) or forwarded untouched, per config.
//   - Access (docs/access_control.md): a gateway key's repo globs are applied first; a cached
//     answer is replayed only while the caller's metadata entitlement to the repo is Fresh;
//     upstream 2xx confirms it, 401/403/RepoNotFound drops it.
//
// Thread-safety: handle() is re-entrant; state lives in the index, the RevisionCache and the gate.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <string>

#include "cache/index.h"
#include "hub/api_path.h"
#include "auth/authenticator.h"
#include "auth/entitlements.h"
#include "hub/hub_client.h"
#include "hub/revision_cache.h"

namespace hubgate::hub {

struct ApiRequest {
  ApiTarget target;
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string raw_target;  // as received (origin-form), for pass-through
  std::string body;
  std::string content_type;
  const auth::Caller* caller = nullptr;  // REQUIRES: non-null, outlives handle()
};

struct ApiReply {
  int status = 200;
  HeaderList headers;  // Content-Type, Link (upstream form: the router rewrites it), errors ...
  std::string body;
  std::string stale;  // non-empty: served from cache because of this reason
};

class ApiService {
 public:
  ApiService(HubClient& hub, cache::Index& index, RevisionCache& revisions,
             auth::Entitlements& entitlements, boost::asio::thread_pool& blocking,
             bool writes_passthrough, std::chrono::milliseconds negative_ttl);

  boost::asio::awaitable<ApiReply> handle(const ApiRequest& request);
  // Any non-read request (uploads, commits, repo creation, LFS batch): refused or forwarded.
  // Forwarded with the caller's own Hub token only: never the gateway's default token, and a
  // gateway key is refused (403 GatewayKeyReadOnly) rather than forwarded.
  boost::asio::awaitable<ApiReply> write(boost::beast::http::verb method, std::string raw_target,
                                         std::string body, std::string content_type,
                                         std::string authorization, bool via_gateway_key);

 private:
  boost::asio::awaitable<ApiReply> repoInfo(const ApiRequest& r);
  boost::asio::awaitable<ApiReply> atCommit(const ApiRequest& r, const std::string& kind);
  boost::asio::awaitable<ApiReply> passThrough(const ApiRequest& r);
  struct Resolved {
    std::string commit;
    std::string stale;  // why the last known commit was used instead of a fresh answer
  };
  // Resolves r's revision to a commit, or produces the reply to send instead.
  boost::asio::awaitable<std::variant<Resolved, ApiReply>> commitFor(const ApiRequest& r,
                                                                     const std::string& scope);
  // A cached answer, replayed only while the caller's metadata entitlement is Fresh
  // (or, with `stale_ok`, in its offline Grace).
  std::optional<cache::MetaEntry> cached(const std::string& kind, const ApiTarget& t,
                                         const std::string& commit, const std::string& key,
                                         const std::string& scope, bool stale_ok = false);
  // Updates the caller's entitlement from an upstream answer about repo `t`.
  void learn(const ApiTarget& t, const std::string& scope, const ApiReply& reply);
  void store(cache::MetaEntry entry);
  ApiReply unavailable(const Error& e) const;

  HubClient& hub_;
  cache::Index& index_;
  RevisionCache& revisions_;
  auth::Entitlements& entitlements_;
  boost::asio::thread_pool& blocking_;
  bool writes_passthrough_;
  std::chrono::milliseconds negative_ttl_;  // a 404 EntryNotFound at a commit is reused this long
};

// Reply helpers shared with the resolve route.
ApiReply errorReply(int status, std::string code, std::string message);
// The answer when the Hub cannot be asked and nothing is cached: 503 GatewayOffline (offline
// mode), 429 + Retry-After (backing off), 504 UpstreamTimeout, else 502 UpstreamUnavailable.
ApiReply unavailableReply(const UpstreamGate& gate, const Error& e);

}  // namespace hubgate::hub
