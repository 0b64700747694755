#include "hub/resolve_service.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <boost/asio/strand.hpp>

namespace hubgate::hub {
namespace asio = boost::asio;

std::string_view cacheStatusName(CacheStatus s) {
  switch (s) {
    case CacheStatus::Hit: return "hit";
    case CacheStatus::Miss: return "miss";
    case CacheStatus::Join: return "join";
    case CacheStatus::Pass: return "pass";
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

namespace {
std::string headerOf(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}
}  // namespace

UpstreamReply gatewayReply(int status, const std::string& code, const std::string& message) {
  UpstreamReply r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  if (!code.empty()) r.headers.emplace_back("X-Error-Code", code);
  r.headers.emplace_back("X-Error-Message", message);
  r.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
  return r;
}

bool deniesAccess(const UpstreamReply& reply) {
  if (reply.status == 401 || reply.status == 403) return true;
  return reply.status == 404 && headerOf(reply.headers, "X-Error-Code") == "RepoNotFound";
}

bool isEntryNotFound(const UpstreamReply& reply) {
  return reply.status == 404 && headerOf(reply.headers, "X-Error-Code") == "EntryNotFound";
}

ResolveService::ResolveService(HubClient& hub, cache::Index& index, cache::BlobStore& store,
                               cache::Space& space, cache::FillRegistry& fills, cache::FillDeps& fill_deps,
                               asio::thread_pool& blocking, asio::any_io_executor fill_executor,
                               RevisionCache& revisions, auth::Entitlements& entitlements,
                               std::chrono::milliseconds negative_ttl)
    : hub_(hub),
      index_(index),
      store_(store),
      space_(space),
      fills_(fills),
      fill_deps_(fill_deps),
      blocking_(blocking),
      fill_executor_(std::move(fill_executor)),
      revisions_(revisions),
      entitlements_(entitlements),
      negative_ttl_(negative_ttl) {}

std::optional<FoundFile> ResolveService::cachedFile(const FileRef& file, const std::string& commit,
                                                    bool* anon_learned) {
  auto row = index_.findFile(std::string(repoTypeName(file.type)), file.repo, commit, file.path);
  if (!row || !*row) return std::nullopt;
  if (anon_learned) *anon_learned = !(*row)->authenticated;
  auto lease = space_.lease((*row)->blob);
  if (!lease) return std::nullopt;
  FoundFile f;
  f.lease = std::move(lease);
  f.headers = decodeHeaders((*row)->headers);
  for (const auto& [k, v] : f.headers) {
    if (k == "ETag") f.etag = v;
  }
  f.size = (*row)->size;
  f.blob = (*row)->blob;
  f.status = CacheStatus::Hit;
  return f;
}

std::optional<UpstreamReply> ResolveService::cachedMissing(const FileRef& file,
                                                           const std::string& commit) {
  cache::MetaEntry k;
  k.kind = "missing";
  k.repo_type = std::string(repoTypeName(file.type));
  k.repo = file.repo;
  k.commit = commit;
  k.key = file.path;
  k.scope = "any";
  auto found = index_.findMeta(k);
  if (!found || !*found) return std::nullopt;
  auto age = std::chrono::system_clock::now() -
             std::chrono::system_clock::time_point(std::chrono::seconds((*found)->fetched_at));
  if (age > negative_ttl_) return std::nullopt;
  UpstreamReply r;
  r.status = (*found)->status;
  r.headers = decodeHeaders((*found)->headers);
  return r;
}

void ResolveService::rememberMissing(const FileRef& file, const UpstreamReply& reply) {
  std::string commit;
  bool entry_not_found = false;
  for (const auto& [k, v] : reply.headers) {
    if (k == "X-Repo-Commit") commit = v;
    if (k == "X-Error-Code" && v == "EntryNotFound") entry_not_found = true;
  }
  if (reply.status != 404 || !entry_not_found || !isCommitHash(commit)) return;
  cache::MetaEntry e;
  e.kind = "missing";
  e.repo_type = std::string(repoTypeName(file.type));
  e.repo = file.repo;
  e.commit = commit;
  e.key = file.path;
  e.scope = "any";  // the Hub says the path does not exist at this commit, for everyone
  e.status = 404;
  e.headers = encodeHeaders(reply.headers);
  // Inline (no fsync in WAL mode): the next request for the same path must see it.
  (void)index_.putMeta(e);
}

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
  space_.noteFile(e.repo_type, e.repo, e.blob);
  // Skip the write when the row is already there and says the same (the common warm case).
  auto existing = index_.findFile(e.repo_type, e.repo, e.commit, e.path);
  if (existing && *existing && (*existing)->blob == e.blob &&
      (*existing)->authenticated == e.authenticated && (*existing)->headers == e.headers) {
    return;
  }
  asio::post(blocking_, [&index = index_, e = std::move(e)] { (void)index.putFile(e); });
}

asio::awaitable<Result<Resolution>> ResolveService::resolve(const FileRef& file,
                                                            const auth::Caller& caller,
                                                            bool want_body) {
  const std::string type(repoTypeName(file.type));
  const std::string& scope = caller.scope;
  // 0. The gateway key's own limits come before anything the cache knows.
  if (!caller.mayAccess(file.repo)) {
    co_return Resolution(gatewayReply(403, "GatewayKeyDenied",
                                      "this gateway key may not access " + file.repo));
  }
  const bool pinned = isCommitHash(file.revision);
  const auth::Standing standing = entitlements_.standing(scope, type, file.repo, auth::Need::Files);
  // 1. An immutable commit (or a branch seen within the revision TTL) whose file is cached, or
  //    known missing, for a caller whose entitlement is fresh: no upstream call at all.
  std::optional<std::string> known =
      pinned ? std::optional<std::string>(file.revision)
             : revisions_.fresh(type, file.repo, file.revision, scope);
  if (known && standing == auth::Standing::Fresh) {
    // A path either exists at a commit or not: the common case (a hit) is asked first.
    if (auto hit = cachedFile(file, *known)) co_return Resolution(std::move(*hit));
    if (auto missing = cachedMissing(file, *known)) co_return Resolution(std::move(*missing));
  }
  // 2. Ask the Hub.
  auto outcome = co_await hub_.fileMeta(file, caller.upstream_auth);
  const bool trouble =
      !outcome || (std::holds_alternative<UpstreamReply>(*outcome) &&
                   (std::get<UpstreamReply>(*outcome).status == 429 ||
                    std::get<UpstreamReply>(*outcome).status >= 500));
  if (trouble) {
    // The Hub cannot answer: serve the last known commit's file, marked stale, to a caller
    // whose entitlement is fresh or within its offline grace; fail closed for anyone else.
    Error err = outcome ? Error{std::get<UpstreamReply>(*outcome).status == 429
                                    ? ErrorCode::ResourceExhausted
                                    : ErrorCode::Unavailable,
                                "upstream answered " +
                                    std::to_string(std::get<UpstreamReply>(*outcome).status)}
                        : outcome.error();
    auto commit = pinned ? std::optional<std::string>(file.revision)
                         : revisions_.last(type, file.repo, file.revision, scope);
    if (commit) {
      bool anon_learned = false;
      if (auto hit = cachedFile(file, *commit, &anon_learned)) {
        // A row the Hub described to a request without credentials was public: an anonymous
        // caller may have it (this also covers caches written before entitlements existed).
        if (standing != auth::Standing::None || (scope == auth::kAnonScope && anon_learned)) {
          hit->stale = hub_.gate().staleReason(err);
          co_return Resolution(std::move(*hit));
        }
        co_return Resolution(gatewayReply(
            503, "AccessUnverifiable",
            "cannot confirm that this caller may read " + file.repo +
                ": the Hub is unreachable (" + hub_.gate().staleReason(err) +
                ") and no recent confirmation is on record"));
      }
    }
    if (!outcome) co_return std::unexpected(outcome.error());
    if (std::get<UpstreamReply>(*outcome).status == 429) {
      co_return std::unexpected(Error{ErrorCode::ResourceExhausted, err.context});
    }
    co_return Resolution(std::move(std::get<UpstreamReply>(*outcome)));
  }
  if (auto* reply = std::get_if<UpstreamReply>(&*outcome)) {
    if (deniesAccess(*reply)) {
      entitlements_.deny(scope, type, file.repo);
    } else if (isEntryNotFound(*reply)) {
      entitlements_.grant(scope, type, file.repo, auth::Need::Files);
    }
    rememberMissing(file, *reply);
    co_return Resolution(std::move(*reply));
  }
  auto& meta = std::get<FileMeta>(*outcome);
  entitlements_.grant(scope, type, file.repo, auth::Need::Files);
  if (!pinned) revisions_.remember(type, file.repo, file.revision, scope, meta.commit);
  // 3. Remember the identity.
  recordFile(file, meta);
  FoundFile f;
  f.headers = meta.headers;
  f.etag = meta.etag;
  f.size = meta.size;
  f.blob = meta.blob;
  // 4. Cached, filling, or to be filled.
  if (auto lease = space_.lease(meta.blob)) {
    f.lease = std::move(lease);
    f.status = CacheStatus::Hit;
    co_return Resolution(std::move(f));
  }
  if (!want_body) {
    f.status = CacheStatus::Miss;
    co_return Resolution(std::move(f));
  }
  auto make = [&]() -> Result<std::shared_ptr<cache::FillSession>> {
    return std::make_shared<cache::FillSession>(meta.blob, meta.size,
                                                hub_.fillSource(file, meta, caller.upstream_auth),
                                                fill_deps_, file.path);
  };
  auto joined = fills_.join(meta.blob, make, asio::make_strand(fill_executor_));
  if (!joined && joined.error().code == ErrorCode::NoSpace) {
    // Too large for the cache as it stands: this client still gets the file, straight from
    // upstream (nothing written to disk), and the next request tries the cache again.
    fill_deps_.metrics.fills_uncached.inc();
    f.pass = hub_.fillSource(file, meta, caller.upstream_auth);
    f.status = CacheStatus::Pass;
    co_return Resolution(std::move(f));
  }
  if (!joined) co_return std::unexpected(joined.error());
  f.fill = joined->session;
  f.status = joined->started ? CacheStatus::Miss : CacheStatus::Join;
  co_return Resolution(std::move(f));
}

}  // namespace hubgate::hub
