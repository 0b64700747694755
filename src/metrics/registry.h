// Metrics registry: counters, gauges, computed gauges and histograms rendered in the Prometheus
// text exposition format 0.0.4 (docs/observability.md lists every series).
//
// Metrics are created at startup (counter()/gauge()/histogram() return stable references that
// live as long as the Registry) and then updated lock-free from any thread. Labels are fixed at
// creation, so cardinality is bounded by construction: code never builds a label value from
// request input except through a closed set (GatewayMetrics maps route names, status codes,
// verdicts ... onto tables created in its constructor).
// Thread-safety: creation is mutex-guarded; updates are relaxed atomics; render() may run
// concurrently with updates (a histogram scraped mid-update may show a sum and buckets one
// observation apart; _count is always the +Inf bucket). gaugeFn() callbacks run inside render(),
// under the registry lock: they must not create metrics, and must be thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hubgate::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Fixed upper bounds (strictly increasing, finite) given at creation; one atomic count per
// bucket plus the +Inf bucket, and the sum of observed values.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size(): the +Inf bucket).
  std::uint64_t bucket(std::size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// Bucket bounds: `n` values from `start`, each `factor` times the previous one.
std::vector<double> exponentialBuckets(double start, double factor, int n);

class Registry {
 public:
  // Returns the counter `name{labels}`, creating it (and its HELP line) on first use.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // `bounds` are used when the series is created (a later call returns the existing series).
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       const Labels& labels = {});
  // A gauge whose value is computed by `fn` at every scrape (derived values: ratios, state held
  // elsewhere). Registering the same name and labels again replaces the function.
  void gaugeFn(std::string_view name, std::string_view help, std::function<double()> fn,
               const Labels& labels = {});
  // Prometheus text format 0.0.4.
  std::string render() const;

 private:
  struct Family {
    std::string help;
    std::string type;  // "counter" | "gauge" | "histogram"
    std::map<std::string, Counter*> counters;  // rendered label set -> metric
    std::map<std::string, Gauge*> gauges;
    std::map<std::string, std::function<double()>> gauge_fns;
    std::map<std::string, std::pair<Labels, Histogram*>> histograms;
  };
  Family& family(std::string_view name, std::string_view help, std::string_view type);
  template <class Metric>
  Metric& find(std::string_view name, std::string_view help, std::string_view type,
               const Labels& labels, std::deque<Metric>& storage,
               std::map<std::string, Metric*> Family::*series);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::deque<Counter> counter_storage_;  // deque: stable addresses
  std::deque<Gauge> gauge_storage_;
  std::deque<Histogram> histogram_storage_;
};

// The gateway's named metrics, created once so hot paths hold plain references. Labeled series
// with closed label sets are tables filled here; their lookups take no lock.
struct GatewayMetrics {
  explicit GatewayMetrics(Registry& r);

  // Route names (http::Response::route); any other name counts as "other".
  static constexpr std::array<std::string_view, 10> kRoutes = {
      "resolve", "api", "write", "health", "metrics", "admin", "preflight", "denied", "invalid",
      "other"};
  // Status codes with their own label value; any other status counts as "other".
  static constexpr std::array<int, 17> kStatuses = {200, 204, 206, 304, 400, 401, 403, 404, 405,
                                                    413, 416, 429, 499, 500, 502, 503, 504};
  // Scan verdicts (scan/verdict names); anything else counts as "other".
  static constexpr std::array<std::string_view, 6> kVerdicts = {
      "clean", "suspicious", "invalid", "error", "malicious", "other"};
  // Verdict label of file decisions: kVerdicts plus "none" (not judged) and "unscanned".
  static constexpr std::array<std::string_view, 8> kDecisionVerdicts = {
      "none", "unscanned", "clean", "suspicious", "invalid", "error", "malicious", "other"};
  static constexpr std::array<std::string_view, 6> kDecisions = {"allow", "warn",  "block",
                                                                 "would-block", "cut", "other"};
  // Upstream failure kinds (upstream::errorKind, plus the statuses counted by the client wrapper).
  static constexpr std::array<std::string_view, 9> kUpstreamErrorKinds = {
      "connect", "dns", "tls", "timeout", "reset", "refused_address", "status_5xx", "status_429",
      "other"};

  // requests_total{route,status}: route is one of kRoutes; status is clamped to kStatuses.
  Counter& request(std::string_view route, int status);
  Histogram& requestDuration(std::string_view route);
  Counter& fileDecision(std::string_view verdict, std::string_view decision);
  Counter& scanVerdict(std::string_view verdict);
  Counter& upstreamError(std::string_view kind);

  Registry& registry;
  Counter& cache_hits;
  Counter& cache_misses;
  Counter& served_bytes_cache;
  Counter& served_bytes_fill;
  Counter& served_bytes_pass_through;  // uncached pass-through answers (cache full)
  Counter& upstream_body_bytes;
  Counter& fill_started;
  Counter& fill_joined;
  Counter& fill_failed;
  Counter& fill_completed;
  Counter& fill_resumed;
  Counter& digest_mismatch;
  Counter& upstream_throttled;  // 429 answers received from upstream
  Gauge& fills_in_flight;
  Gauge& connections_open;
  Histogram& cold_ttfb;  // resolve answers that started or joined a fill: first body byte
  // Cache space (cache/space.h).
  Counter& fills_uncached;   // fills that could not fit and were streamed without caching
  Counter& evictions;        // blobs evicted
  Counter& evicted_bytes;
  Gauge& cache_bytes;        // bytes of published blobs
  Gauge& cache_objects;      // published blobs
  Gauge& cache_max_bytes;    // configured quota (0 = none)

 private:
  std::array<std::array<Counter*, kStatuses.size() + 1>, kRoutes.size()> requests_{};
  std::array<Histogram*, kRoutes.size()> durations_{};
  std::array<std::array<Counter*, kDecisions.size()>, kDecisionVerdicts.size()> decisions_{};
  std::array<Counter*, kVerdicts.size()> verdicts_{};
  std::array<Counter*, kUpstreamErrorKinds.size()> upstream_errors_{};
};

}  // namespace hubgate::metrics
