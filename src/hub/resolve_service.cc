#include "hub/resolve_service.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

namespace hubgate::hub {
namespace asio = boost::asio;

std::string_view cacheStatusName(CacheStatus s) {
  switch (s) {
    case CacheStatus::Hit: return "hit";
    case CacheStatus::Miss: return "miss";
    case CacheStatus::Join: return "join";
  }
  return "miss";
}

std::string encodeHeaders(const HeaderList& headers) {
  std::string out;
  for (const auto& [k, v] : headers) out += k + ": " + v + "\n";
  return out;
}

HeaderList decodeHeaders(const std::string& text) {
  HeaderList out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    if (auto colon = line.find(": "); colon != std::string_view::npos) {
      out.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
    }
    pos = nl + 1;
  }
  return out;
}

ResolveService::ResolveService(HubClient& hub, cache::Index& index, cache::BlobStore& store,
                               cache::FillRegistry& fills, cache::FillDeps& fill_deps,
                               asio::thread_pool& blocking, asio::any_io_executor fill_executor)
    : hub_(hub),
      index_(index),
      store_(store),
      fills_(fills),
      fill_deps_(fill_deps),
      blocking_(blocking),
      fill_executor_(std::move(fill_executor)) {}

void ResolveService::recordFile(const FileRef& file, const FileMeta& meta) {
  cache::FileEntry e;
  e.repo_type = std::string(repoTypeName(file.type));
  e.repo = file.repo;
  e.commit = meta.commit;
  e.path = file.path;
  e.blob = meta.blob;
  e.size = meta.size;
  e.headers = encodeHeaders(meta.headers);
  e.authenticated = meta.authenticated;
  // Skip the write when the row is already there and says the same (the common warm case).
  auto existing = index_.findFile(e.repo_type, e.repo, e.commit, e.path);
  if (existing && *existing && (*existing)->blob == e.blob &&
      (*existing)->authenticated == e.authenticated && (*existing)->headers == e.headers) {
    return;
  }
  asio::post(blocking_, [&index = index_, e = std::move(e)] { (void)index.putFile(e); });
}

asio::awaitable<Result<Resolution>> ResolveService::resolve(const FileRef& file,
                                                            const std::string& caller_auth,
                                                            bool want_body) {
  // 1. Immutable commit, public file, blob present: no upstream call at all.
  if (isCommitHash(file.revision)) {
    auto row = index_.findFile(std::string(repoTypeName(file.type)), file.repo, file.revision,
                               file.path);
    if (row && *row && !(*row)->authenticated) {
      auto blob = index_.findBlob((*row)->blob);
      if (blob && *blob) {
        FoundFile f;
        f.headers = decodeHeaders((*row)->headers);
        for (const auto& [k, v] : f.headers) {
          if (k == "ETag") f.etag = v;
        }
        f.size = (*row)->size;
        f.blob = (*row)->blob;
        f.status = CacheStatus::Hit;
        co_return Resolution(std::move(f));
      }
    }
  }
  // 2. Ask the Hub.
  auto outcome = co_await hub_.fileMeta(file, caller_auth);
  if (!outcome) co_return std::unexpected(outcome.error());
  if (auto* reply = std::get_if<UpstreamReply>(&*outcome)) co_return Resolution(std::move(*reply));
  auto& meta = std::get<FileMeta>(*outcome);
  // 3. Remember the identity.
  recordFile(file, meta);
  FoundFile f;
  f.headers = meta.headers;
  f.etag = meta.etag;
  f.size = meta.size;
  f.blob = meta.blob;
  // 4. Cached, filling, or to be filled.
  auto blob = index_.findBlob(meta.blob);
  if (blob && *blob && (*blob)->size == meta.size) {
    f.status = CacheStatus::Hit;
    co_return Resolution(std::move(f));
  }
  if (!want_body) {
    f.status = CacheStatus::Miss;
    co_return Resolution(std::move(f));
  }
  auto make = [&]() -> Result<std::shared_ptr<cache::FillSession>> {
    return std::make_shared<cache::FillSession>(meta.blob, meta.size,
                                                hub_.fillSource(file, meta, caller_auth),
                                                fill_deps_);
  };
  auto joined = fills_.join(meta.blob, make, asio::make_strand(fill_executor_));
  if (!joined) co_return std::unexpected(joined.error());
  f.fill = joined->session;
  f.status = joined->started ? CacheStatus::Miss : CacheStatus::Join;
  co_return Resolution(std::move(f));
}

}  // namespace hubgate::hub
