// Router: maps an HTTP request to its route and produces the response.
//
// Routes: GET /health (alive), GET /ready (index and cache dir usable), GET /metrics, /admin/* (router/admin.h), GET|HEAD of the resolve routes (hub/repo_path.h) and of the
// Hub API (hub/api_path.h; POST for paths-info), OPTIONS preflights anywhere, and every other
// method as a write (refused or forwarded by ApiService). Resolve answers come from
// ResolveService; this layer applies the HTTP rules on top (If-None-Match -> 304, Range ->
// 206/416, HEAD) and picks the body source (published blob or live fill). API answers get their
// Link header rewritten onto the gateway and gzip when asked. Every answer gets CORS headers.
//
// Thread-safety: handle() is re-entrant; all shared state is in the services it references.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "cache/blob_store.h"
#include "cache/space.h"
#include "http/server.h"
#include "hub/api_service.h"
#include "hub/resolve_service.h"
#include "auth/authenticator.h"
#include "guard/guard.h"
#include "metrics/registry.h"
#include "router/access_log.h"
#include "router/admin.h"

namespace hubgate::router {

struct RouterOptions {
  std::chrono::milliseconds fill_stall_timeout{60'000};
  bool admin_on_main = true;           // false: /admin is served only on the admin listener
  bool metrics_require_admin = false;  // /metrics needs the admin key
  // /ready: "" when the gateway can serve (index answers, cache dir takes a new file), else why
  // not. Unset: always ready.
  std::function<std::string()> readiness;
  AccessLog* access_log = nullptr;  // null: no access log (log.access = off)
};

class Router {
 public:
  Router(hub::ResolveService& resolve, hub::ApiService& api, const hub::UpstreamGate& gate,
         cache::BlobStore& store, cache::Space& space, metrics::GatewayMetrics& metrics,
         auth::Authenticator& auth,
         AdminApi& admin, guard::Guard& guard, RouterOptions options);

  boost::asio::awaitable<http::Response> handle(http::Request& req);
  // The admin listener's handler: /admin/*, /metrics (admin key always required) and /health.
  boost::asio::awaitable<http::Response> handleAdmin(http::Request& req);
  // Metrics (requests, durations, cold time to first byte) and the access log line for a
  // finished response; runs the response's on_done (the audit line).
  void observe(const http::Request& req, const http::Response& resp, std::uint64_t sent, bool ok,
               std::chrono::steady_clock::duration took);

 private:
  boost::asio::awaitable<http::Response> route(http::Request& req);
  boost::asio::awaitable<http::Response> resolveRoute(http::Request& req, const auth::Caller& caller);
  boost::asio::awaitable<http::Response> apiRoute(http::Request& req, const auth::Caller& caller);
  http::Response metricsRoute(const http::Request& req, bool require_admin);
  http::Response fromError(const Error& e) const;

  hub::ResolveService& resolve_;
  hub::ApiService& api_;
  const hub::UpstreamGate& gate_;
  cache::BlobStore& store_;
  cache::Space& space_;  // blobs dropped by policy.cache_deny leave through it
  metrics::GatewayMetrics& metrics_;
  auth::Authenticator& auth_;
  AdminApi& admin_;
  guard::Guard& guard_;
  RouterOptions options_;
};

}  // namespace hubgate::router
