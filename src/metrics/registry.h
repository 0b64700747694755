// Metrics registry: counters and gauges rendered in the Prometheus text exposition format.
//
// Metrics are created at startup (counter()/gauge() return stable references that live as long
// as the Registry) and then updated lock-free from any thread. Labels are fixed at creation, so
// cardinality is bounded by construction: code never builds a label value from request input
// except through a closed set (route names, status codes clamped by LabeledCounter).
// Thread-safety: creation is mutex-guarded; updates are relaxed atomics; render() may run
// concurrently with updates.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
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

class Registry {
 public:
  // Returns the counter `name{labels}`, creating it (and its HELP line) on first use.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // Prometheus text format 0.0.4.
  std::string render() const;

 private:
  struct Family {
    std::string help;
    std::string type;  // "counter" | "gauge"
    std::map<std::string, Counter*> counters;  // rendered label set -> metric
    std::map<std::string, Gauge*> gauges;
  };
  template <class Metric>
  Metric& find(std::string_view name, std::string_view help, std::string_view type,
               const Labels& labels, std::deque<Metric>& storage,
               std::map<std::string, Metric*> Family::*series);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::deque<Counter> counter_storage_;  // deque: stable addresses
  std::deque<Gauge> gauge_storage_;
};

// The gateway's named metrics, created once so hot paths hold plain references.
struct GatewayMetrics {
  explicit GatewayMetrics(Registry& r);
  // requests_total{route,status}: route is a fixed name; status is clamped to known codes.
  Counter& request(std::string_view route, int status);

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
  Counter& upstream_errors;
  Gauge& fills_in_flight;
  Gauge& connections_open;
  // Cache space (cache/space.h).
  Counter& fills_uncached;   // fills that could not fit and were streamed without caching
  Counter& evictions;        // blobs evicted
  Counter& evicted_bytes;
  Gauge& cache_bytes;        // bytes of published blobs
  Gauge& cache_objects;      // published blobs
  Gauge& cache_max_bytes;    // configured quota (0 = none)
};

}  // namespace hubgate::metrics
