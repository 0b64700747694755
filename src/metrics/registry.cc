#include "metrics/registry.h"

#include <array>

namespace hubgate::metrics {
namespace {

std::string escapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string renderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + escapeLabel(labels[i].second) + "\"";
  }
  return out + "}";
}

}  // namespace

template <class Metric>
Metric& Registry::find(std::string_view name, std::string_view help, std::string_view type,
                       const Labels& labels, std::deque<Metric>& storage,
                       std::map<std::string, Metric*> Family::*series) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = families_.try_emplace(std::string(name));
  Family& f = it->second;
  if (inserted) {
    f.help = help;
    f.type = type;
  }
  std::string key = renderLabels(labels);
  auto& map = f.*series;
  auto found = map.find(key);
  if (found != map.end()) return *found->second;
  Metric& m = storage.emplace_back();
  map.emplace(key, &m);
  return m;
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return find(name, help, "counter", labels, counter_storage_, &Family::counters);
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return find(name, help, "gauge", labels, gauge_storage_, &Family::gauges);
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters) {
      out += name + labels + " " + std::to_string(c->value()) + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out += name + labels + " " + std::to_string(g->value()) + "\n";
    }
  }
  return out;
}

GatewayMetrics::GatewayMetrics(Registry& r)
    : registry(r),
      cache_hits(r.counter("hubgate_cache_hits_total", "Resolve requests served from a cached blob.")),
      cache_misses(r.counter("hubgate_cache_misses_total",
                             "Resolve requests whose blob was not cached (started or joined a fill).")),
      served_bytes_cache(r.counter("hubgate_served_bytes_total", "Body bytes sent to clients by source.",
                                   {{"source", "cache"}})),
      served_bytes_fill(r.counter("hubgate_served_bytes_total", "Body bytes sent to clients by source.",
                                  {{"source", "fill"}})),
      served_bytes_pass_through(r.counter("hubgate_served_bytes_total",
                                          "Body bytes sent to clients by source.",
                                          {{"source", "pass_through"}})),
      upstream_body_bytes(r.counter("hubgate_upstream_body_bytes_total",
                                    "Body bytes received from upstream for fills.")),
      fill_started(r.counter("hubgate_fill_started_total", "Upstream fills started.")),
      fill_joined(r.counter("hubgate_fill_joined_total",
                            "Requests that joined a fill already in progress.")),
      fill_failed(r.counter("hubgate_fill_failed_total", "Fills that ended without publishing a blob.")),
      fill_completed(r.counter("hubgate_fill_completed_total", "Fills verified and published.")),
      fill_resumed(r.counter("hubgate_fill_resumed_total",
                             "Upstream transfers resumed with a Range request after a failure.")),
      digest_mismatch(r.counter("hubgate_digest_mismatch_total",
                                "Fills whose bytes did not match the Hub's digest (nothing published).")),
      upstream_errors(r.counter("hubgate_upstream_errors_total",
                                "Upstream requests that failed (connect, timeout, reset).")),
      fills_in_flight(r.gauge("hubgate_fills_in_flight", "Fills currently running.")),
      connections_open(r.gauge("hubgate_connections_open", "Client connections currently open.")),
      fills_uncached(r.counter("hubgate_fill_uncached_total",
                               "Downloads streamed to the client without caching: the blob did not "
                               "fit in the cache quota or the free-disk reserve.")),
      evictions(r.counter("hubgate_evictions_total", "Blobs evicted to respect the cache limits.")),
      evicted_bytes(r.counter("hubgate_evicted_bytes_total", "Bytes of evicted blobs.")),
      cache_bytes(r.gauge("hubgate_cache_bytes", "Bytes of published blobs in the cache.")),
      cache_objects(r.gauge("hubgate_cache_objects", "Published blobs in the cache.")),
      cache_max_bytes(r.gauge("hubgate_cache_max_bytes", "Configured cache quota in bytes (0: none).")) {
  // Pre-create the common request series so they render from the start.
  for (int s : {200, 206, 304, 400, 404, 416, 502}) request("resolve", s);
}

Counter& GatewayMetrics::request(std::string_view route, int status) {
  static constexpr std::array kKnown = {200, 204, 206, 304, 400, 401, 403, 404, 405, 416,
                                        429, 499, 500, 502, 503, 504};
  std::string code = "other";
  for (int k : kKnown) {
    if (k == status) code = std::to_string(status);
  }
  // The registry lookup is a map find under a mutex: fine for the request rate of a gateway
  // whose responses are megabytes; hot paths that care can cache the reference.
  return registry.counter("hubgate_requests_total", "HTTP requests by route and status.",
                          {{"route", std::string(route)}, {"status", code}});
}

}  // namespace hubgate::metrics
