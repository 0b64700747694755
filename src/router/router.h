// Router: maps an HTTP request to its route and produces the response.
//
// Routes: GET /health, GET /metrics, GET|HEAD of the resolve routes (hub/repo_path.h). Resolve
// answers come from ResolveService; this layer applies the HTTP rules on top (If-None-Match ->
// 304, Range -> 206/416, HEAD) and picks the body source (published blob or live fill).
//
// Thread-safety: handle() is re-entrant; all shared state is in the services it references.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "cache/blob_store.h"
#include "http/server.h"
#include "hub/resolve_service.h"
#include "metrics/registry.h"

namespace hubgate::router {

struct RouterOptions {
  std::chrono::milliseconds fill_stall_timeout{60'000};
};

class Router {
 public:
  Router(hub::ResolveService& resolve, cache::BlobStore& store, metrics::GatewayMetrics& metrics,
         RouterOptions options);

  boost::asio::awaitable<http::Response> handle(http::Request& req);
  // Metrics and access log for a finished response.
  void observe(const http::Request& req, const http::Response& resp, std::uint64_t sent, bool ok,
               std::chrono::steady_clock::duration took);

 private:
  boost::asio::awaitable<http::Response> resolveRoute(http::Request& req);

  hub::ResolveService& resolve_;
  cache::BlobStore& store_;
  metrics::GatewayMetrics& metrics_;
  RouterOptions options_;
};

}  // namespace hubgate::router
