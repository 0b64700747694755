#include "hub/api_service.h"

#include <boost/asio/post.hpp>

#include "hub/json_rewrite.h"
#include "hub/paths_info.h"
#include "hub/resolve_service.h"

namespace hubgate::hub {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

ApiReply fromUpstream(UpstreamReply u) {
  ApiReply r;
  r.status = u.status;
  r.headers = std::move(u.headers);
  if (auto stripped = stripXetFields(u.body)) {
    r.body = std::move(*stripped);
  } else {
    r.body = std::move(u.body);
  }
  return r;
}

ApiReply fromEntry(const cache::MetaEntry& e, std::string stale) {
  ApiReply r;
  r.status = e.status;
  r.headers = decodeHeaders(e.headers);
  r.body = e.body;
  r.stale = std::move(stale);
  return r;
}

bool serverTrouble(int status) { return status == 429 || status >= 500; }

bool entryNotFound(const ApiReply& r) {
  if (r.status != 404) return false;
  for (const auto& [k, v] : r.headers) {
    if (k == "X-Error-Code" && v == "EntryNotFound") return true;
  }
  return false;
}

// What a cached answer replays: its content description, not the per-request headers of the
// exchange it came from (RateLimit counters, request ids).
std::string storableHeaders(const HeaderList& headers) {
  HeaderList keep;
  for (const auto& [k, v] : headers) {
    if (k == "Content-Type" || k == "Link" || k == "X-Total-Count" || k == "ETag" ||
        k == "X-Repo-Commit" || k == "X-Error-Code" || k == "X-Error-Message") {
      keep.emplace_back(k, v);
    }
  }
  return encodeHeaders(keep);
}

}  // namespace

ApiReply errorReply(int status, std::string code, std::string message) {
  UpstreamReply u = gatewayReply(status, code, message);
  ApiReply r;
  r.status = u.status;
  r.headers = std::move(u.headers);
  r.body = std::move(u.body);
  return r;
}

ApiService::ApiService(HubClient& hub, cache::Index& index, RevisionCache& revisions,
                       auth::Entitlements& entitlements, asio::thread_pool& blocking,
                       bool writes_passthrough, std::chrono::milliseconds negative_ttl)
    : hub_(hub),
      index_(index),
      revisions_(revisions),
      entitlements_(entitlements),
      blocking_(blocking),
      writes_passthrough_(writes_passthrough),
      negative_ttl_(negative_ttl) {}

ApiReply ApiService::unavailable(const Error& e) const { return unavailableReply(hub_.gate(), e); }

ApiReply unavailableReply(const UpstreamGate& gate, const Error& e) {
  std::string reason = gate.staleReason(e);
  if (reason == "offline") {
    return errorReply(503, "GatewayOffline",
                      "the gateway is in offline mode and has no cached answer for this request");
  }
  if (reason == "rate-limited") {
    auto r = errorReply(429, "", "rate limited by the upstream Hub; retry later");
    r.headers.emplace_back("Retry-After", std::to_string(std::max(1L, gate.backoffSecondsLeft())));
    for (auto& h : gate.rateHeaders()) r.headers.push_back(h);
    return r;
  }
  if (e.code == ErrorCode::Timeout) {
    return errorReply(504, "UpstreamTimeout", "upstream timed out: " + e.context);
  }
  return errorReply(502, "UpstreamUnavailable", "upstream unavailable: " + e.context);
}

std::optional<cache::MetaEntry> ApiService::cached(const std::string& kind, const ApiTarget& t,
                                                   const std::string& commit,
                                                   const std::string& key,
                                                   const std::string& scope, bool stale_ok) {
  auto standing = entitlements_.standing(scope, std::string(repoTypeName(t.type)), t.repo,
                                         auth::Need::Metadata);
  if (standing == auth::Standing::None || (standing == auth::Standing::Grace && !stale_ok)) {
    return std::nullopt;
  }
  cache::MetaEntry k;
  k.kind = kind;
  k.repo_type = std::string(repoTypeName(t.type));
  k.repo = t.repo;
  k.commit = commit;
  k.key = key;
  k.scope = scope;
  auto found = index_.findMeta(k);
  if (!found || !*found) return std::nullopt;
  if ((*found)->status != 200) {
    // A negative answer (404 EntryNotFound) is only trusted for the negative TTL.
    auto age = std::chrono::system_clock::now() -
               std::chrono::system_clock::time_point(std::chrono::seconds((*found)->fetched_at));
    if (age > negative_ttl_) return std::nullopt;
  }
  return **found;
}

void ApiService::learn(const ApiTarget& t, const std::string& scope, const ApiReply& reply) {
  if (t.repo.empty()) return;
  const std::string type(repoTypeName(t.type));
  UpstreamReply u;
  u.status = reply.status;
  u.headers = reply.headers;
  if (deniesAccess(u)) {
    entitlements_.deny(scope, type, t.repo);
  } else if (reply.status >= 200 && reply.status < 300) {
    entitlements_.grant(scope, type, t.repo, auth::Need::Metadata);
  }
}

void ApiService::store(cache::MetaEntry entry) {
  // Written inline, before the answer goes out, so that the very next request finds it (a
  // queued write could wait behind fill commits' fsyncs on the blocking pool). In WAL mode with
  // synchronous=NORMAL one small insert does no fsync: tens of microseconds.
  (void)index_.putMeta(entry);
}

asio::awaitable<ApiReply> ApiService::handle(const ApiRequest& r) {
  if (!r.target.repo.empty() && !r.caller->mayAccess(r.target.repo)) {
    co_return errorReply(403, "GatewayKeyDenied", "this gateway key may not access " + r.target.repo);
  }
  switch (r.target.kind) {
    case ApiKind::XetToken:
      co_return errorReply(404, "XetNotSupported",
                           "this gateway serves files over plain HTTP; Xet transfers are not "
                           "available through it (download through /resolve instead)");
    case ApiKind::RepoInfo:
      co_return co_await repoInfo(r);
    case ApiKind::Tree:
      co_return co_await atCommit(r, "tree");
    case ApiKind::PathsInfo:
      co_return co_await atCommit(r, "paths-info");
    case ApiKind::Refs:
    case ApiKind::Other:
      co_return co_await passThrough(r);
  }
  co_return co_await passThrough(r);
}

asio::awaitable<ApiReply> ApiService::repoInfo(const ApiRequest& r) {
  const auto& t = r.target;
  const std::string& scope = r.caller->scope;
  const std::string type(repoTypeName(t.type));
  const std::string query = canonicalQuery(t.query);
  const std::string& rev = t.revision;  // "" = the default branch
  const bool pinned = isCommitHash(rev);
  if (pinned) {
    if (auto e = cached("info", t, rev, query, scope)) co_return fromEntry(*e, "");
  } else if (auto commit = revisions_.fresh(type, t.repo, rev, scope)) {
    if (auto e = cached("info", t, *commit, query, scope)) co_return fromEntry(*e, "");
  }
  std::string target = apiTargetFor(t, rev);  // carries the canonical query
  auto answer = co_await hub_.api(bhttp::verb::get, target, "", "", r.caller->upstream_auth);
  if (!answer || serverTrouble(answer->status)) {
    Error err = answer ? Error{answer->status == 429 ? ErrorCode::ResourceExhausted
                                                     : ErrorCode::Unavailable,
                               "upstream answered " + std::to_string(answer->status)}
                       : answer.error();
    auto commit = pinned ? std::optional<std::string>(rev) : revisions_.last(type, t.repo, rev, scope);
    if (commit) {
      if (auto e = cached("info", t, *commit, query, scope, true)) {
        co_return fromEntry(*e, hub_.gate().staleReason(err));
      }
    }
    if (answer && answer->status != 429) co_return fromUpstream(std::move(*answer));
    co_return unavailable(err);
  }
  ApiReply reply = fromUpstream(std::move(*answer));
  learn(t, scope, reply);
  if (reply.status != 200) co_return reply;
  auto sha = jsonTopString(reply.body, "sha");
  if (sha && isCommitHash(*sha)) {
    if (!pinned) revisions_.remember(type, t.repo, rev, scope, *sha);
    cache::MetaEntry e;
    e.kind = "info";
    e.repo_type = type;
    e.repo = t.repo;
    e.commit = *sha;
    e.key = query;
    e.scope = scope;
    e.status = 200;
    e.headers = storableHeaders(reply.headers);
    e.body = reply.body;
    store(std::move(e));
  }
  co_return reply;
}

asio::awaitable<std::variant<ApiService::Resolved, ApiReply>> ApiService::commitFor(
    const ApiRequest& r, const std::string& scope) {
  const auto& t = r.target;
  const std::string type(repoTypeName(t.type));
  if (isCommitHash(t.revision)) co_return Resolved{t.revision, ""};
  if (auto c = revisions_.fresh(type, t.repo, t.revision, scope)) co_return Resolved{*c, ""};
  // The revision check: the smallest repo-info answer that carries the commit.
  ApiTarget info = t;
  info.kind = ApiKind::RepoInfo;
  info.path.clear();
  info.query = {QueryParam{"expand", "sha"}};
  std::string target = apiTargetFor(info, t.revision);
  auto answer = co_await hub_.api(bhttp::verb::get, target, "", "", r.caller->upstream_auth);
  if (!answer || serverTrouble(answer->status)) {
    Error err = answer ? Error{answer->status == 429 ? ErrorCode::ResourceExhausted
                                                     : ErrorCode::Unavailable,
                               "upstream answered " + std::to_string(answer->status)}
                       : answer.error();
    if (auto c = revisions_.last(type, t.repo, t.revision, scope)) {
      co_return Resolved{*c, hub_.gate().staleReason(err)};
    }
    if (answer && answer->status != 429) co_return fromUpstream(std::move(*answer));
    co_return unavailable(err);
  }
  if (answer->status != 200) {
    ApiReply refused = fromUpstream(std::move(*answer));
    learn(t, scope, refused);
    co_return refused;
  }
  entitlements_.grant(scope, type, t.repo, auth::Need::Metadata);
  auto sha = jsonTopString(answer->body, "sha");
  if (!sha || !isCommitHash(*sha)) {
    co_return errorReply(502, "UpstreamUnavailable",
                         "upstream revision answer has no commit sha for '" + t.revision + "'");
  }
  revisions_.remember(type, t.repo, t.revision, scope, *sha);
  co_return Resolved{*sha, ""};
}

asio::awaitable<ApiReply> ApiService::atCommit(const ApiRequest& r, const std::string& kind) {
  const auto& t = r.target;
  const std::string& scope = r.caller->scope;
  // The request detail that, with the commit, fully determines the answer.
  std::string key;
  std::string form;
  if (kind == "paths-info") {
    auto q = parsePathsInfoBody(r.content_type, r.body);
    if (!q) co_return errorReply(400, "BadRequest", q.error().context);
    form = pathsInfoFormBody(*q);
    key = form;
  } else {
    key = t.path + "?" + canonicalQuery(t.query);
  }
  auto resolved = co_await commitFor(r, scope);
  if (auto* reply = std::get_if<ApiReply>(&resolved)) co_return std::move(*reply);
  const Resolved res = std::get<Resolved>(resolved);
  const std::string& commit = res.commit;
  if (auto e = cached(kind, t, commit, key, scope, !res.stale.empty())) {
    co_return fromEntry(*e, res.stale);
  }
  std::string target = apiTargetFor(t, commit);  // carries the canonical query
  // (No co_await inside ?: — g++ 12 destroys the temporaries of such expressions twice.)
  bhttp::verb method = bhttp::verb::get;
  std::string content_type;
  if (kind != "tree") {
    method = bhttp::verb::post;
    content_type = "application/x-www-form-urlencoded";
  }
  auto answer = co_await hub_.api(method, target, form, content_type, r.caller->upstream_auth);
  if (!answer) co_return unavailable(answer.error());
  if (answer->status == 429) {
    co_return unavailable(Error{ErrorCode::ResourceExhausted, "upstream answered 429"});
  }
  ApiReply reply = fromUpstream(std::move(*answer));
  learn(t, scope, reply);
  if (reply.status == 200 || entryNotFound(reply)) {
    cache::MetaEntry e;
    e.status = reply.status;
    e.kind = kind;
    e.repo_type = std::string(repoTypeName(t.type));
    e.repo = t.repo;
    e.commit = commit;
    e.key = key;
    e.scope = scope;
    e.headers = storableHeaders(reply.headers);
    e.body = reply.body;
    store(std::move(e));
  }
  co_return reply;
}

asio::awaitable<ApiReply> ApiService::passThrough(const ApiRequest& r) {
  auto answer = co_await hub_.api(bhttp::verb::get, r.raw_target, "", "", r.caller->upstream_auth);
  if (!answer) co_return unavailable(answer.error());
  if (answer->status == 429) {
    co_return unavailable(Error{ErrorCode::ResourceExhausted, "upstream answered 429"});
  }
  co_return fromUpstream(std::move(*answer));
}

asio::awaitable<ApiReply> ApiService::write(bhttp::verb method, std::string raw_target,
                                            std::string body, std::string content_type,
                                            std::string authorization, bool via_gateway_key) {
  if (!writes_passthrough_) {
    co_return errorReply(403, "WritesDisabled",
                         "writes are disabled on this gateway (uploads, commits and repo creation "
                         "must go to the Hub directly, or set hub.writes = \"passthrough\")");
  }
  if (via_gateway_key) {
    co_return errorReply(403, "GatewayKeyReadOnly",
                         "gateway keys are read-only: send writes with your own Hub token");
  }
  // Forwarded untouched with the caller's own credentials only (never the gateway's token).
  if (hub_.gate().offline()) {
    co_return errorReply(503, "GatewayOffline", "the gateway is in offline mode");
  }
  upstream::Request req;
  req.method = method;
  auto url = hub_.config().upstream.resolve(raw_target);
  if (!url) co_return errorReply(400, "BadRequest", url.error().context);
  req.url = *url;
  if (!content_type.empty()) req.headers.emplace_back("Content-Type", content_type);
  if (!authorization.empty()) req.headers.emplace_back("Authorization", authorization);
  req.body = std::move(body);
  auto sent = co_await hub_.client().send(std::move(req));
  if (!sent) co_return unavailable(sent.error());
  auto& resp = **sent;
  ApiReply reply;
  reply.status = resp.status();
  reply.headers = relayedHeaders(resp.headers());
  auto all = co_await resp.readAll(64 * 1024 * 1024);
  if (!all) co_return unavailable(all.error());
  reply.body = std::move(*all);
  co_return reply;
}

}  // namespace hubgate::hub
