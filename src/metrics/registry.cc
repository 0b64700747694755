#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

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

std::string renderLabels(const Labels& labels, const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && !extra) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + escapeLabel(labels[i].second) + "\"";
  }
  if (extra) {
    if (!labels.empty()) out += ",";
    out += extra->first + "=\"" + escapeLabel(extra->second) + "\"";
  }
  return out + "}";
}

// Shortest text that reads back as `v` (Prometheus float syntax).
std::string formatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, p);
}

template <std::size_t N>
std::size_t indexOf(const std::array<std::string_view, N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return i;
  }
  return N - 1;  // every table ends with its catch-all ("other")
}

}  // namespace

namespace {
std::vector<double> normalized(std::vector<double> bounds) {
  std::erase_if(bounds, [](double b) { return !std::isfinite(b); });
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(normalized(std::move(bounds))),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double v) {
  // Bucket i counts bounds_[i-1] < v <= bounds_[i] ("le" is inclusive).
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::uint64_t Histogram::count() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) n += bucket(i);
  return n;
}

std::vector<double> exponentialBuckets(double start, double factor, int n) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < n; ++i, v *= factor) out.push_back(v);
  return out;
}

Registry::Family& Registry::family(std::string_view name, std::string_view help,
                                   std::string_view type) {
  auto [it, inserted] = families_.try_emplace(std::string(name));
  Family& f = it->second;
  if (inserted) {
    f.help = help;
    f.type = type;
  }
  return f;
}

template <class Metric>
Metric& Registry::find(std::string_view name, std::string_view help, std::string_view type,
                       const Labels& labels, std::deque<Metric>& storage,
                       std::map<std::string, Metric*> Family::*series) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, type);
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

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> bounds, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, "histogram");
  std::string key = renderLabels(labels);
  auto found = f.histograms.find(key);
  if (found != f.histograms.end()) return *found->second.second;
  Histogram& h = histogram_storage_.emplace_back(std::move(bounds));
  f.histograms.emplace(key, std::pair{labels, &h});
  return h;
}

void Registry::gaugeFn(std::string_view name, std::string_view help, std::function<double()> fn,
                       const Labels& labels) {
  std::lock_guard lock(mu_);
  family(name, help, "gauge").gauge_fns[renderLabels(labels)] = std::move(fn);
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
    for (const auto& [labels, fn] : f.gauge_fns) {
      out += name + labels + " " + formatDouble(fn()) + "\n";
    }
    for (const auto& [key, series] : f.histograms) {
      const auto& [labels, h] = series;
      std::uint64_t cumulative = 0;
      const auto& bounds = h->bounds();
      for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += h->bucket(i);
        std::pair<std::string, std::string> le{"le", i < bounds.size() ? formatDouble(bounds[i])
                                                                         : std::string("+Inf")};
        out += name + "_bucket" + renderLabels(labels, &le) + " " + std::to_string(cumulative) + "\n";
      }
      out += name + "_sum" + key + " " + formatDouble(h->sum()) + "\n";
      out += name + "_count" + key + " " + std::to_string(cumulative) + "\n";
    }
  }
  return out;
}

namespace {
constexpr std::string_view kRequestsHelp = "HTTP requests by route and status.";
constexpr std::string_view kDurationHelp =
    "Time from a request's header being read to its response being written (or cut), by route.";
constexpr std::string_view kDecisionsHelp = "File answers by scan verdict and policy decision.";
// Latency buckets, 1 ms .. 5 min.
std::vector<double> latencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}
constexpr std::string_view kServedHelp =
    "Body bytes sent to clients by source (cache: published blob; fill: a fill in progress or "
    "just finished; pass_through: an uncached download).";
}  // namespace

GatewayMetrics::GatewayMetrics(Registry& r)
    : registry(r),
      cache_hits(r.counter("hubgate_cache_hits_total", "Resolve requests served from a cached blob.")),
      cache_misses(r.counter("hubgate_cache_misses_total",
                             "Resolve requests whose blob was not cached (started or joined a fill).")),
      served_bytes_cache(r.counter("hubgate_served_bytes_total", kServedHelp, {{"source", "cache"}})),
      served_bytes_fill(r.counter("hubgate_served_bytes_total", kServedHelp, {{"source", "fill"}})),
      served_bytes_pass_through(r.counter("hubgate_served_bytes_total", kServedHelp,
                                          {{"source", "pass_through"}})),
      upstream_body_bytes(r.counter(
          "hubgate_upstream_body_bytes_total",
          "File body bytes received from upstream (the Hub or its CDN) by fills, including bytes "
          "of transfers that later failed or were resumed; API and metadata answers are not "
          "counted.")),
      fill_started(r.counter("hubgate_fill_started_total", "Upstream fills started.")),
      fill_joined(r.counter("hubgate_fill_joined_total",
                            "Requests that joined a fill already in progress.")),
      fill_failed(r.counter("hubgate_fill_failed_total", "Fills that ended without publishing a blob.")),
      fill_completed(r.counter("hubgate_fill_completed_total", "Fills verified and published.")),
      fill_resumed(r.counter("hubgate_fill_resumed_total",
                             "Upstream transfers resumed with a Range request after a failure.")),
      digest_mismatch(r.counter("hubgate_digest_mismatch_total",
                                "Fills whose bytes did not match the Hub's digest (nothing published).")),
      upstream_throttled(r.counter("hubgate_upstream_throttled_total",
                                   "429 (rate limited) answers received from upstream.")),
      fills_in_flight(r.gauge("hubgate_fills_in_flight", "Fills currently running.")),
      connections_open(r.gauge("hubgate_connections_open", "Client connections currently open.")),
      cold_ttfb(r.histogram("hubgate_cold_ttfb_seconds",
                            "Time from request received to first body byte written, for resolve "
                            "answers that started (miss) or joined (join) a fill.",
                            latencyBuckets())),
      fills_uncached(r.counter("hubgate_fill_uncached_total",
                               "Downloads streamed to the client without caching: the blob did not "
                               "fit in the cache quota or the free-disk reserve.")),
      evictions(r.counter("hubgate_evictions_total", "Blobs evicted to respect the cache limits.")),
      evicted_bytes(r.counter("hubgate_evicted_bytes_total", "Bytes of evicted blobs.")),
      cache_bytes(r.gauge("hubgate_cache_bytes", "Bytes of published blobs in the cache.")),
      cache_objects(r.gauge("hubgate_cache_objects", "Published blobs in the cache.")),
      cache_max_bytes(r.gauge("hubgate_cache_max_bytes", "Configured cache quota in bytes (0: none).")) {
  // Every labeled series of a closed set exists from the start: lookups are array indexing, and
  // no request can add a series.
  for (std::size_t i = 0; i < kRoutes.size(); ++i) {
    const std::string route(kRoutes[i]);
    for (std::size_t s = 0; s <= kStatuses.size(); ++s) {
      std::string code = s < kStatuses.size() ? std::to_string(kStatuses[s]) : "other";
      requests_[i][s] = &r.counter("hubgate_requests_total", kRequestsHelp,
                                   {{"route", route}, {"status", code}});
    }
    durations_[i] = &r.histogram("hubgate_request_duration_seconds", kDurationHelp,
                                 latencyBuckets(), {{"route", route}});
  }
  for (std::size_t v = 0; v < kDecisionVerdicts.size(); ++v) {
    for (std::size_t d = 0; d < kDecisions.size(); ++d) {
      decisions_[v][d] = &r.counter("hubgate_file_decisions_total", kDecisionsHelp,
                                    {{"verdict", std::string(kDecisionVerdicts[v])},
                                     {"decision", std::string(kDecisions[d])}});
    }
  }
  for (std::size_t v = 0; v < kVerdicts.size(); ++v) {
    verdicts_[v] = &r.counter("hubgate_scan_verdicts_total",
                              "Completed scans by verdict (fills and rescans of cached blobs).",
                              {{"verdict", std::string(kVerdicts[v])}});
  }
  for (std::size_t k = 0; k < kUpstreamErrorKinds.size(); ++k) {
    upstream_errors_[k] = &r.counter(
        "hubgate_upstream_errors_total",
        "Failed upstream requests by kind: connect, dns, tls, timeout, reset (connection closed "
        "or reset mid-answer), refused_address (SSRF guard), status_5xx, status_429, other.",
        {{"kind", std::string(kUpstreamErrorKinds[k])}});
  }
  // Upstream amplification: file bytes fetched upstream per body byte served (all sources).
  r.gaugeFn("hubgate_upstream_amplification",
            "hubgate_upstream_body_bytes_total / hubgate_served_bytes_total (all sources); 0 "
            "before anything was served.",
            [this]() -> double {
              const double served = static_cast<double>(served_bytes_cache.value() +
                                                        served_bytes_fill.value() +
                                                        served_bytes_pass_through.value());
              if (served == 0) return 0;
              return static_cast<double>(upstream_body_bytes.value()) / served;
            });
}

Counter& GatewayMetrics::request(std::string_view route, int status) {
  std::size_t s = kStatuses.size();  // "other"
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) s = i;
  }
  return *requests_[indexOf(kRoutes, route)][s];
}

Histogram& GatewayMetrics::requestDuration(std::string_view route) {
  return *durations_[indexOf(kRoutes, route)];
}

Counter& GatewayMetrics::fileDecision(std::string_view verdict, std::string_view decision) {
  return *decisions_[indexOf(kDecisionVerdicts, verdict.empty() ? "none" : verdict)]
                    [indexOf(kDecisions, decision)];
}

Counter& GatewayMetrics::scanVerdict(std::string_view verdict) {
  return *verdicts_[indexOf(kVerdicts, verdict)];
}

Counter& GatewayMetrics::upstreamError(std::string_view kind) {
  return *upstream_errors_[indexOf(kUpstreamErrorKinds, kind)];
}

}  // namespace hubgate::metrics
