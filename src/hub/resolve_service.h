// ResolveService: answers "which bytes are {repo, revision, path}, and where do I read them?"
//
// Order of work for one request (docs/life_of_a_request.md):
//   1. A full commit hash with a cached, public file row and its blob -> Hit, no upstream call.
//   2. Otherwise ask the Hub for the file's metadata (HubClient::fileMeta), with the caller's
//      credentials. Hub errors come back as an UpstreamReply to relay.
//   3. Record the file identity (repo, commit, path) -> blob in the index.
//   4. Blob already cached -> Hit. Otherwise, when the caller wants the body, join or start the
//      blob's FillSession -> Miss (started) or Join.
// A file row learned with credentials is never a step-1 hit: its caller is re-checked upstream.
// A branch or tag seen within the revision TTL counts as its commit for step 1. A 404
// EntryNotFound at a commit is remembered for the negative TTL. When the Hub cannot be asked
// (down, 5xx, 429 back-off, offline), the last known commit's cached file is served as stale.
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
#include "hub/hub_client.h"
#include "hub/repo_path.h"
#include "hub/revision_cache.h"

namespace hubgate::hub {

enum class CacheStatus { Hit, Miss, Join };
std::string_view cacheStatusName(CacheStatus s);  // "hit" | "miss" | "join"

struct FoundFile {
  HeaderList headers;  // replayed Hub headers (X-Repo-Commit, ETag, X-Linked-*, Content-Type ...)
  std::string etag;
  std::uint64_t size = 0;
  cache::BlobKey blob;
  CacheStatus status = CacheStatus::Miss;
  std::shared_ptr<cache::FillSession> fill;  // set for Miss/Join when the body was wanted
  std::string stale;  // non-empty: upstream could not be asked; this is the last known answer
};

using Resolution = std::variant<FoundFile, UpstreamReply>;

class ResolveService {
 public:
  ResolveService(HubClient& hub, cache::Index& index, cache::BlobStore& store,
                 cache::FillRegistry& fills, cache::FillDeps& fill_deps,
                 boost::asio::thread_pool& blocking, boost::asio::any_io_executor fill_executor,
                 RevisionCache& revisions, std::chrono::milliseconds negative_ttl);

  // `want_body` false (HEAD) never starts a fill.
  boost::asio::awaitable<Result<Resolution>> resolve(const FileRef& file,
                                                     const std::string& caller_auth,
                                                     bool want_body);

 private:
  void recordFile(const FileRef& file, const FileMeta& meta);
  // A cached, public file at `commit` whose blob is present, as a hit (or nullopt).
  std::optional<FoundFile> cachedFile(const FileRef& file, const std::string& commit);
  // A cached 404 EntryNotFound for the file at `commit`, still within the negative TTL.
  std::optional<UpstreamReply> cachedMissing(const FileRef& file, const std::string& commit);
  void rememberMissing(const FileRef& file, const UpstreamReply& reply);

  HubClient& hub_;
  cache::Index& index_;
  cache::BlobStore& store_;
  cache::FillRegistry& fills_;
  cache::FillDeps& fill_deps_;
  boost::asio::thread_pool& blocking_;
  boost::asio::any_io_executor fill_executor_;
  RevisionCache& revisions_;
  std::chrono::milliseconds negative_ttl_;
};

// Stored header lines <-> list (the index keeps replay headers as "Name: value\n" lines).
std::string encodeHeaders(const HeaderList& headers);
HeaderList decodeHeaders(const std::string& text);

}  // namespace hubgate::hub
