// ResolveService: answers "which bytes are {repo, revision, path}, and where do I read them?"
//
// Order of work for one request (docs/life_of_a_request.md, docs/access_control.md):
//   0. A gateway key whose globs exclude the repo -> 403 GatewayKeyDenied.
//   1. A full commit hash (or a branch seen within the revision TTL) whose file row and blob are
//      cached -> Hit with no upstream call, but only while the caller's files entitlement to
//      the repo is Fresh (auth::Entitlements). Same for a remembered 404 EntryNotFound.
//   2. Otherwise ask the Hub for the file's metadata (HubClient::fileMeta), with the caller's
//      upstream credentials. A 2xx (or EntryNotFound) confirms the caller's entitlement; a
//      401/403/RepoNotFound drops it. Hub errors come back as an UpstreamReply to relay.
//   3. Record the file identity (repo, commit, path) -> blob in the index.
//   4. Blob already cached -> Hit (with a Space lease, so it is not evicted while served).
//      Otherwise, when the caller wants the body, join or start the blob's FillSession -> Miss
//      (started) or Join; a blob the cache cannot hold (cache::Space::reserve refused) is
//      passed through from upstream uncached -> Pass.
// Bytes are deduplicated across repos (one blob, many file rows), but every answer is decided
// per requested repo: a blob cached through a public repo is never served through a private
// one without that repo's check. When the Hub cannot be asked (down, 5xx, 429 back-off,
// offline), the last known commit's cached file is served as stale if the caller's entitlement
// is Fresh or in its offline Grace; otherwise the answer fails closed (503 AccessUnverifiable).
//
// Thread-safety: safe from any strand; all state lives in the index and the fill registry.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>
#include <variant>

#include "cache/blob_store.h"
#include "cache/fill_session.h"
#include "cache/index.h"
#include "cache/space.h"
#include "auth/authenticator.h"
#include "auth/entitlements.h"
#include "hub/hub_client.h"
#include "hub/repo_path.h"
#include "hub/revision_cache.h"

namespace hubgate::hub {

// Pass: the blob cannot fit in the cache; the body is streamed from upstream, uncached.
enum class CacheStatus { Hit, Miss, Join, Pass };
std::string_view cacheStatusName(CacheStatus s);  // "hit" | "miss" | "join" | "pass"

struct FoundFile {
  HeaderList headers;  // replayed Hub headers (X-Repo-Commit, ETag, X-Linked-*, Content-Type ...)
  std::string etag;
  std::uint64_t size = 0;
  cache::BlobKey blob;
  CacheStatus status = CacheStatus::Miss;
  std::shared_ptr<cache::FillSession> fill;  // set for Miss/Join when the body was wanted
  std::shared_ptr<cache::Space::Lease> lease;  // set for Hit: keeps the blob until served
  std::unique_ptr<cache::FillSource> pass;     // set for Pass: opens the upstream body
  std::string stale;  // non-empty: upstream could not be asked; this is the last known answer
};

using Resolution = std::variant<FoundFile, UpstreamReply>;

// An error answer made by the gateway itself (JSON body, X-Error-Code / X-Error-Message).
UpstreamReply gatewayReply(int status, const std::string& code, const std::string& message);
// Whether an upstream answer denies the caller access to the repo (drops its entitlement):
// 401, 403, or 404 RepoNotFound.
bool deniesAccess(const UpstreamReply& reply);
// Whether it is the Hub's 404 EntryNotFound (given only to callers past its access check).
bool isEntryNotFound(const UpstreamReply& reply);

class ResolveService {
 public:
  ResolveService(HubClient& hub, cache::Index& index, cache::BlobStore& store,
                 cache::Space& space, cache::FillRegistry& fills, cache::FillDeps& fill_deps,
                 boost::asio::thread_pool& blocking, boost::asio::any_io_executor fill_executor,
                 RevisionCache& revisions, auth::Entitlements& entitlements,
                 std::chrono::milliseconds negative_ttl);

  // `want_body` false (HEAD) never starts a fill. `caller` must outlive the call.
  boost::asio::awaitable<Result<Resolution>> resolve(const FileRef& file,
                                                     const auth::Caller& caller, bool want_body);

 private:
  void recordFile(const FileRef& file, const FileMeta& meta);
  // A cached file at `commit` whose blob is present, as a hit (or nullopt). The caller's
  // entitlement is checked by the caller of this function. `anon_learned` (optional) is set
  // when the Hub gave the row's identity to a request without credentials.
  std::optional<FoundFile> cachedFile(const FileRef& file, const std::string& commit,
                                      bool* anon_learned = nullptr);
  // A cached 404 EntryNotFound for the file at `commit`, still within the negative TTL.
  std::optional<UpstreamReply> cachedMissing(const FileRef& file, const std::string& commit);
  void rememberMissing(const FileRef& file, const UpstreamReply& reply);

  HubClient& hub_;
  cache::Index& index_;
  cache::BlobStore& store_;
  cache::Space& space_;
  cache::FillRegistry& fills_;
  cache::FillDeps& fill_deps_;
  boost::asio::thread_pool& blocking_;
  boost::asio::any_io_executor fill_executor_;
  RevisionCache& revisions_;
  auth::Entitlements& entitlements_;
  std::chrono::milliseconds negative_ttl_;
};

// Stored header lines <-> list (the index keeps replay headers as "Name: value\n" lines).
std::string encodeHeaders(const HeaderList& headers);
HeaderList decodeHeaders(const std::string& text);

}  // namespace hubgate::hub
