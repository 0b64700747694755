#include "router/router.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <boost/beast/http/field.hpp>

#include "http/cors.h"
#include "http/gzip.h"
#include "http/link_header.h"
#include "http/range.h"
#include "hub/api_path.h"
#include "hub/repo_path.h"
#include "router/body_sources.h"

namespace hubgate::router {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

std::string field(const http::Request& req, bhttp::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string() : std::string(it->value());
}

std::string field(const http::Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}

http::Response fromReply(hub::ApiReply reply) {
  http::Response r;
  r.status = reply.status;
  r.headers = std::move(reply.headers);
  r.body = std::move(reply.body);
  if (!reply.stale.empty()) r.headers.emplace_back("X-Hubgate-Stale", reply.stale);
  return r;
}

// JSON bodies above this size are gzip-compressed for clients that accept it.
constexpr std::size_t kGzipMinBytes = 1024;

}  // namespace

http::Response Router::fromError(const Error& e) const {
  if (e.code == ErrorCode::Unavailable || e.code == ErrorCode::Timeout ||
      (e.code == ErrorCode::ResourceExhausted && gate_.backoffSecondsLeft() > 0)) {
    return fromReply(hub::unavailableReply(gate_, e));
  }
  if (e.code == ErrorCode::Forbidden) {
    // Forbidden here only ever means "upstream redirected off the allowlist": a gateway error.
    return http::errorResponse(502, "UpstreamUnavailable", "upstream unavailable: " + e.context);
  }
  return http::errorResponse(httpStatusFor(e.code), "", e.context);
}

Router::Router(hub::ResolveService& resolve, hub::ApiService& api, const hub::UpstreamGate& gate,
               cache::BlobStore& store, cache::Space& space, metrics::GatewayMetrics& metrics,
               auth::Authenticator& auth, AdminApi& admin, guard::Guard& guard,
               RouterOptions options)
    : resolve_(resolve),
      api_(api),
      gate_(gate),
      store_(store),
      space_(space),
      metrics_(metrics),
      auth_(auth),
      admin_(admin),
      guard_(guard),
      options_(options) {}

http::Response Router::metricsRoute(const http::Request& req, bool require_admin) {
  if (require_admin) {
    if (auto denied = auth_.checkAdmin(field(req, bhttp::field::authorization))) {
      auto r = jsonError(denied->status, denied->code, denied->message);
      r.route = "metrics";
      return r;
    }
  }
  auto r = http::textResponse(200, metrics_.registry.render());
  r.headers[0].second = "text/plain; version=0.0.4; charset=utf-8";
  r.route = "metrics";
  return r;
}

asio::awaitable<http::Response> Router::handleAdmin(http::Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  http::Response r;
  if (path == "/health") {
    r = http::textResponse(200, "ok\n");
    r.route = "health";
  } else if (path == "/metrics") {
    r = metricsRoute(req, true);
  } else if (path == "/admin" || path.starts_with("/admin/")) {
    r = admin_.handle(req);
  } else {
    r = jsonError(404, "NotFound", "the admin listener serves /admin/*, /metrics and /health");
    r.route = "other";
  }
  co_return r;
}

asio::awaitable<http::Response> Router::handle(http::Request& req) {
  std::string origin = field(req, bhttp::field::origin);
  if (req.method() == bhttp::verb::options) {
    http::Response r;
    r.status = 204;
    r.route = "preflight";
    r.headers = http::preflightHeaders(
        origin, field(req, bhttp::field::access_control_request_headers));
    co_return r;
  }
  http::Response r = co_await route(req);
  for (auto& h : http::corsHeaders(origin)) r.headers.push_back(std::move(h));
  co_return r;
}

asio::awaitable<http::Response> Router::route(http::Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  const bool get_or_head = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
  if (path == "/health") {
    auto r = http::textResponse(200, "ok\n");
    r.route = "health";
    co_return r;
  }
  if (path == "/ready") {
    std::string why = options_.readiness ? options_.readiness() : std::string();
    auto r = why.empty() ? http::textResponse(200, "ready\n")
                         : http::errorResponse(503, "NotReady", "not ready: " + why);
    r.route = "health";
    co_return r;
  }
  if (path == "/metrics") co_return metricsRoute(req, options_.metrics_require_admin);
  if (path == "/admin" || path.starts_with("/admin/")) {
    if (options_.admin_on_main) co_return admin_.handle(req);
    auto r = jsonError(404, "NotFound", "the admin API is served on its own listener");
    r.route = "admin";
    co_return r;
  }
  // Every Hub route: who is asking, and as whom the gateway asks the Hub.
  auto identity = auth_.identify(field(req, bhttp::field::authorization));
  if (auto* denied = std::get_if<auth::Denial>(&identity)) {
    auto r = jsonError(denied->status, denied->code, denied->message);
    r.route = "denied";
    co_return r;
  }
  const auth::Caller caller = std::get<auth::Caller>(std::move(identity));
  http::Response r;
  if (path.starts_with("/api/") && !path.starts_with("/api/resolve-cache/")) {
    r = co_await apiRoute(req, caller);
  } else if (!get_or_head) {
    // Uploads and the like (LFS batch, git endpoints): refused or forwarded, never cached.
    // Forwarded with the caller's own Authorization (never the gateway's default token).
    r = fromReply(co_await api_.write(req.method(), std::string(target), req.body(),
                                      field(req, bhttp::field::content_type),
                                      field(req, bhttp::field::authorization),
                                      caller.key.has_value()));
    r.route = "write";
  } else {
    r = co_await resolveRoute(req, caller);
  }
  r.caller = caller.label;
  co_return r;
}

asio::awaitable<http::Response> Router::apiRoute(http::Request& req, const auth::Caller& caller) {
  auto parsed = hub::parseApiTarget(req.target());
  if (!parsed) {
    auto r = http::errorResponse(400, "BadRequest", parsed.error().context);
    r.route = "invalid";
    co_return r;
  }
  std::string_view path = req.target().substr(0, req.target().find('?'));
  // The Xet upload token is fetched with GET but only ever serves an upload.
  const bool write_route = path.find("/xet-write-token/") != std::string_view::npos;
  const bool read = !write_route &&
                    (req.method() == bhttp::verb::get || req.method() == bhttp::verb::head ||
                     (req.method() == bhttp::verb::post && parsed->kind == hub::ApiKind::PathsInfo));
  if (!read) {
    auto r = fromReply(co_await api_.write(req.method(), std::string(req.target()), req.body(),
                                           field(req, bhttp::field::content_type),
                                           field(req, bhttp::field::authorization),
                                           caller.key.has_value()));
    r.route = "write";
    co_return r;
  }
  hub::ApiRequest ar;
  ar.target = std::move(*parsed);
  ar.method = req.method();
  ar.raw_target = std::string(req.target());
  ar.body = req.body();
  ar.content_type = field(req, bhttp::field::content_type);
  ar.caller = &caller;
  auto r = fromReply(co_await api_.handle(ar));
  r.route = "api";
  // Pagination must stay on the gateway: point Link URLs at the origin the client used.
  for (auto it = r.headers.begin(); it != r.headers.end();) {
    if (it->first == "Link") {
      std::string origin = http::gatewayOrigin(field(req, bhttp::field::host),
                                               field(req, "X-Forwarded-Proto"),
                                               field(req, "X-Forwarded-Host"), "http://localhost");
      it->second = http::rewriteLinkHeader(it->second, origin);
      if (it->second.empty()) {
        it = r.headers.erase(it);
        continue;
      }
    }
    ++it;
  }
  if (r.body.size() >= kGzipMinBytes &&
      http::acceptsGzip(field(req, bhttp::field::accept_encoding))) {
    if (auto gz = http::gzipCompress(r.body)) {
      r.body = std::move(*gz);
      r.headers.emplace_back("Content-Encoding", "gzip");
      r.headers.emplace_back("Vary", "Accept-Encoding");
    }
  }
  co_return r;
}

asio::awaitable<http::Response> Router::resolveRoute(http::Request& req,
                                                     const auth::Caller& caller) {
  auto parsed = hub::parseResolveTarget(req.target());
  if (!parsed) {
    auto r = parsed.error().code == ErrorCode::NotFound
                 ? http::errorResponse(404, "", "no such route: " + std::string(req.target().substr(
                                                                      0, req.target().find('?'))))
                 : http::errorResponse(400, "BadRequest", parsed.error().context);
    r.route = parsed.error().code == ErrorCode::NotFound ? "other" : "invalid";
    co_return r;
  }
  const bool head = req.method() == bhttp::verb::head;
  const auto& file = parsed->file;
  // One audit line per GET of a file, written when the answer is done (bytes sent known).
  auto audit = std::make_shared<guard::AuditRecord>();
  audit->caller = caller.scope;
  audit->repo_type = std::string(hub::repoTypeName(file.type));
  audit->repo = file.repo;
  audit->commit = file.revision;
  audit->path = file.path;
  // One policy judges this request from start to end, even if a SIGHUP installs another.
  auto rules = guard_.policy();
  audit->policy_version = rules->version();
  audit->scanner_version = guard_.scannerVersion();
  audit->request_id = field(req, "X-Request-Id");  // set (validated or new) by http::Server
  auto finish = [this, audit, head](http::Response& r) {
    if (head) return;
    const guard::Guard* g = &guard_;
    metrics::GatewayMetrics* m = &metrics_;
    auto prior = std::move(r.on_done);
    int status = r.status;
    r.on_done = [g, m, audit, status, prior](std::uint64_t sent, bool ok) {
      if (prior) prior(sent, ok);
      audit->bytes = sent;
      audit->status = status;
      if (!ok && audit->decision.empty()) audit->decision = "cut";
      g->audit(*audit);
      // Closed label sets: verdict names and policy actions (or "" when not judged).
      if (!audit->decision.empty()) m->fileDecision(audit->verdict, audit->decision).inc();
    };
  };
  if (!rules->mayProxy(file.repo)) {
    auto r = http::errorResponse(403, "RepoBlockedByPolicy",
                                 "this gateway's policy does not serve " + file.repo);
    r.route = "resolve";
    audit->decision = "block";
    audit->reason = "policy.proxy_deny";
    finish(r);
    co_return r;
  }
  if (rules->checksLicenses()) {
    // The repo card's license, from repo info at the requested revision (cached per commit,
    // asked with the caller's credentials like any API call).
    hub::ApiRequest info;
    info.target.kind = hub::ApiKind::RepoInfo;
    info.target.type = file.type;
    info.target.repo = file.repo;
    info.target.revision = file.revision;
    info.caller = &caller;
    auto answer = co_await api_.handle(info);
    std::vector<std::string> licenses;
    if (answer.status == 200) licenses = guard::cardLicenses(answer.body);
    if (answer.status == 200 && !rules->licenseAllowed(licenses)) {
      std::string declared = licenses.empty() ? "no license" : "license '" + licenses.front() + "'";
      auto r = http::errorResponse(403, "LicenseNotAllowed",
                                   file.repo + " declares " + declared +
                                       ", which is not on this gateway's license allowlist");
      r.route = "resolve";
      audit->decision = "block";
      audit->reason = "policy.license_allow: " + declared;
      finish(r);
      co_return r;
    }
    if (answer.status != 200) {
      // The license cannot be read: the Hub's own refusal (401, 404 ...) is the answer, and an
      // unreachable Hub fails closed.
      http::Response r = fromReply(std::move(answer));
      r.route = "resolve";
      audit->decision = "block";
      audit->reason = "license unknown";
      finish(r);
      co_return r;
    }
  }
  auto resolved = co_await resolve_.resolve(file, caller, !head);
  if (!resolved) {
    auto r = fromError(resolved.error());
    r.route = "resolve";
    finish(r);
    co_return r;
  }
  if (auto* reply = std::get_if<hub::UpstreamReply>(&*resolved)) {
    http::Response r;
    r.status = reply->status;
    r.headers = reply->headers;
    r.body = reply->body;
    for (const auto& [k, v] : reply->headers) {
      if (k == "X-Error-Message" && r.body.empty()) r.body = v;
    }
    r.route = "resolve";
    finish(r);
    co_return r;
  }
  auto& found = std::get<hub::FoundFile>(*resolved);
  audit->content = found.blob.str();
  audit->cache = std::string(hub::cacheStatusName(found.status));
  for (const auto& [k, v] : found.headers) {
    if (k == "X-Repo-Commit") audit->commit = v;
  }
  std::shared_ptr<const cache::ScanRecord> scan;
  if (found.status == hub::CacheStatus::Hit) {
    // A published blob has a verdict (rescanned here if it is missing or stale).
    scan = co_await guard_.verdictFor(found.blob, found.size, file.path);
    auto decision = rules->decide(scan.get(), file.repo);
    audit->verdict = decision.effective_verdict;
    audit->overridden = decision.overridden;
    audit->decision = decision.would_block ? "would-block" : std::string(policy::actionName(decision.action));
    if (scan && scan->verdict != "clean") audit->reason = scan->summary;
    if (decision.action == policy::Action::Block) {
      auto r = http::errorResponse(403, "ScanBlocked",
                                   "blocked by the gateway's scan policy: " +
                                       (scan ? scan->summary : std::string("not scanned")));
      r.headers.emplace_back("X-Hubgate-Scan", scan ? scan->verdict : "unscanned");
      r.route = "resolve";
      finish(r);
      co_return r;
    }
  }
  http::Response r;
  r.route = "resolve";
  r.headers = found.headers;
  if (found.status == hub::CacheStatus::Pass) {
    // Too large for the cache: never scanned, so scan.on_unscanned decides.
    auto decision = rules->decideUnscanned();
    audit->verdict = decision.effective_verdict;
    audit->decision = decision.would_block ? "would-block" : std::string(policy::actionName(decision.action));
    audit->reason = "served uncached: the blob does not fit in the cache, so it was not scanned";
    if (decision.action == policy::Action::Block) {
      auto e = http::errorResponse(403, "UnscannedBlocked",
                                   "blocked by the gateway's scan policy: " + file.path +
                                       " does not fit in the cache, so it cannot be scanned "
                                       "(scan.on_unscanned = block)");
      e.headers.emplace_back("X-Hubgate-Scan", "unscanned");
      e.route = "resolve";
      finish(e);
      co_return e;
    }
    r.headers.emplace_back("X-Hubgate-Scan", "unscanned");
  }
  if (found.status == hub::CacheStatus::Hit) {
    r.headers.emplace_back("X-Hubgate-Scan", scan ? scan->verdict : "unscanned");
    if (scan && scan->verdict != "clean") r.headers.emplace_back("X-Hubgate-Scan-Summary", scan->summary);
  }
  if (!found.stale.empty()) r.headers.emplace_back("X-Hubgate-Stale", found.stale);
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.headers.emplace_back("X-Hubgate-Cache", std::string(hub::cacheStatusName(found.status)));
  if (found.status == hub::CacheStatus::Hit) {
    metrics_.cache_hits.inc();
  } else if (!head) {
    metrics_.cache_misses.inc();
  }
  std::string inm = field(req, bhttp::field::if_none_match);
  if (!inm.empty() && http::ifNoneMatchMatches(inm, found.etag)) {
    r.status = 304;
    finish(r);
    co_return r;
  }
  std::uint64_t offset = 0;
  std::uint64_t length = found.size;
  r.status = 200;
  auto range = http::evaluateRange(field(req, bhttp::field::range), found.size);
  if (range.kind == http::RangeKind::Unsatisfiable) {
    auto e = http::errorResponse(416, "", "requested range not satisfiable");
    e.headers.insert(e.headers.begin(), r.headers.begin(), r.headers.end());
    e.headers.emplace_back("Content-Range", http::unsatisfiedContentRange(found.size));
    e.route = "resolve";
    finish(e);
    co_return e;
  }
  if (range.kind == http::RangeKind::Satisfiable) {
    r.status = 206;
    offset = range.range.first;
    length = range.range.length();
    r.headers.emplace_back("Content-Range", http::contentRange(range.range, found.size));
  }
  r.content_length = length;
  if (head) {
    r.source = std::make_unique<NoBody>();
    co_return r;
  }

  if (found.pass) {
    auto body = co_await found.pass->open(offset);
    if (!body) {
      auto e = fromError(body.error());
      e.route = "resolve";
      finish(e);
      co_return e;
    }
    r.source = std::make_unique<PassThroughBodySource>(
        std::move(*body), found.blob, found.size, offset, length,
        metrics_.served_bytes_pass_through, metrics_.upstream_body_bytes);
    finish(r);
    co_return r;
  }
  if (found.fill) {
    auto fd = found.fill->openReader();
    if (!fd) co_return fromError(fd.error());
    // The verdict arrives with the commit: the final bytes go out only if the policy allows
    // them for this repo; a block cuts the connection, so the client never has the whole file.
    auto gate = [rules, audit](const cache::ScanRecord* record) -> std::optional<Error> {
      auto decision = rules->decide(record, audit->repo);
      audit->verdict = decision.effective_verdict;
      audit->overridden = decision.overridden;
      audit->decision = decision.would_block ? "would-block" : std::string(policy::actionName(decision.action));
      if (record && record->verdict != "clean") audit->reason = record->summary;
      if (decision.action == policy::Action::Block) {
        return Error{ErrorCode::ScanRejected, "blocked by the gateway's scan policy: " +
                                                  (record ? record->summary : std::string())};
      }
      return std::nullopt;
    };
    r.source = std::make_unique<FillBodySource>(found.fill, std::move(*fd), offset, length,
                                                metrics_.served_bytes_fill,
                                                options_.fill_stall_timeout, std::move(gate));
    if (!rules->mayCache(file.repo)) {
      // Content of this repo must not stay cached: drop the blob once this answer is done (open
      // descriptors of other readers keep the bytes alive until they finish).
      auto fill = found.fill;
      cache::Space* space = &space_;
      r.on_done = [space, fill](std::uint64_t, bool) {
        // Deleted when the last reader (this one, other joiners) is done.
        if (fill->progress().state == cache::FillSession::State::Committed) (void)space->remove(fill->key());
      };
    }
    finish(r);
    co_return r;
  }
  auto fd = store_.openBlob(found.blob);
  if (!fd) {
    auto e = fromError(fd.error());
    e.route = "resolve";
    co_return e;
  }
  r.source = std::make_unique<BlobBodySource>(std::move(*fd), offset, length,
                                              metrics_.served_bytes_cache, std::move(found.lease));
  finish(r);
  co_return r;
}

void Router::observe(const http::Request& req, const http::Response& resp, std::uint64_t sent,
                     bool ok, std::chrono::steady_clock::duration took) {
  using Seconds = std::chrono::duration<double>;
  metrics_.request(resp.route, resp.status).inc();
  metrics_.requestDuration(resp.route).observe(Seconds(took).count());
  std::string_view cache;
  for (const auto& [k, v] : resp.headers) {
    if (k == "X-Hubgate-Cache") cache = v;
  }
  if (resp.ttfb && resp.route == "resolve" && (cache == "miss" || cache == "join" || cache == "pass")) {
    metrics_.cold_ttfb.observe(Seconds(*resp.ttfb).count());
  }
  if (resp.on_done) resp.on_done(sent, ok);
  std::string_view target = req.target();
  std::string path(target.substr(0, target.find('?')));
  std::string method(req.method_string());
  if (options_.access_log) {
    AccessEntry e;
    e.time = std::chrono::system_clock::now();
    e.request_id = resp.request_id;
    e.remote = resp.remote;
    e.method = method.empty() ? "-" : method;
    e.path = path.empty() ? "-" : path;
    e.status = resp.status;
    e.bytes = sent;
    e.duration = took;
    e.ttfb = resp.ttfb;
    e.route = resp.route;
    e.cache = std::string(cache);
    e.caller = resp.caller;
    e.ok = ok;
    e.user_agent = field(req, bhttp::field::user_agent);
    options_.access_log->write(e);
  }
  // The query string is never logged (it may carry signed or private parameters), nor is any
  // credential: the caller appears by its label (auth::Caller::label).
  spdlog::debug("{} {} {} {}B {}ms {}{}", method, path, resp.status, sent,
                std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), resp.caller,
                ok ? "" : " (cut)");
}

}  // namespace hubgate::router
