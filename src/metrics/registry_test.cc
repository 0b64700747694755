#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace hubgate::metrics {
namespace {

TEST(Registry, RendersPrometheusTextWithHelpTypeAndLabels) {
  Registry r;
  r.counter("hubgate_x_total", "Xs.").inc(3);
  r.counter("hubgate_y_total", "Ys by kind.", {{"kind", "a\"b"}}).inc();
  r.gauge("hubgate_g", "A gauge.").add(-2);
  // The same name and labels return the same series.
  r.counter("hubgate_x_total", "Xs.").inc(2);
  std::string text = r.render();
  EXPECT_NE(text.find("# HELP hubgate_x_total Xs.\n# TYPE hubgate_x_total counter\nhubgate_x_total 5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hubgate_y_total{kind=\"a\\\"b\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE hubgate_g gauge\nhubgate_g -2\n"), std::string::npos) << text;
}

TEST(GatewayMetrics, RequestStatusLabelIsBounded) {
  Registry r;
  GatewayMetrics m(r);
  m.request("resolve", 200).inc();
  m.request("resolve", 299).inc();  // unknown codes collapse into "other"
  m.request("resolve", 298).inc();
  std::string text = r.render();
  EXPECT_NE(text.find("hubgate_requests_total{route=\"resolve\",status=\"200\"} 1"), std::string::npos);
  EXPECT_NE(text.find("hubgate_requests_total{route=\"resolve\",status=\"other\"} 2"), std::string::npos);
}

TEST(GatewayMetrics, RequestTableCoversEveryRouteAndStatusFromTheStart) {
  Registry r;
  GatewayMetrics m(r);
  std::string before = r.render();
  m.request("no-such-route", 200).inc();  // unknown route names count as "other"
  m.request("api", 599).inc();
  m.fileDecision("", "allow").inc();
  m.fileDecision("weird", "maybe").inc();
  m.scanVerdict("clean").inc();
  m.scanVerdict("unheard-of").inc();
  m.upstreamError("dns").inc();
  m.requestDuration("resolve").observe(0.2);
  std::string text = r.render();
  // No new series: only values changed.
  auto lines = [](const std::string& t) {
    std::size_t n = 0;
    for (char c : t) n += c == '\n';
    return n;
  };
  EXPECT_EQ(lines(before), lines(text));
  EXPECT_NE(text.find("hubgate_requests_total{route=\"other\",status=\"200\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hubgate_requests_total{route=\"api\",status=\"other\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hubgate_file_decisions_total{verdict=\"none\",decision=\"allow\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("hubgate_file_decisions_total{verdict=\"other\",decision=\"other\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("hubgate_scan_verdicts_total{verdict=\"other\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hubgate_upstream_errors_total{kind=\"dns\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hubgate_request_duration_seconds_count{route=\"resolve\"} 1\n"),
            std::string::npos);
}

TEST(Histogram, RendersCumulativeBucketsSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("hubgate_h_seconds", "H.", {0.5, 0.1, 1}, {{"route", "a"}});
  EXPECT_EQ(&h, &r.histogram("hubgate_h_seconds", "H.", {9}, {{"route", "a"}}));
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.7);
  h.observe(5);
  std::string text = r.render();
  EXPECT_NE(text.find("# HELP hubgate_h_seconds H.\n# TYPE hubgate_h_seconds histogram\n"
                      "hubgate_h_seconds_bucket{route=\"a\",le=\"0.1\"} 2\n"
                      "hubgate_h_seconds_bucket{route=\"a\",le=\"0.5\"} 2\n"
                      "hubgate_h_seconds_bucket{route=\"a\",le=\"1\"} 3\n"
                      "hubgate_h_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
                      "hubgate_h_seconds_sum{route=\"a\"} 5.85\n"
                      "hubgate_h_seconds_count{route=\"a\"} 4\n"),
            std::string::npos)
      << text;
  Histogram& plain = r.histogram("hubgate_p", "P.", {1});
  plain.observe(2);
  text = r.render();
  EXPECT_NE(text.find("hubgate_p_bucket{le=\"1\"} 0\nhubgate_p_bucket{le=\"+Inf\"} 1\n"
                      "hubgate_p_sum 2\nhubgate_p_count 1\n"),
            std::string::npos)
      << text;
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram h(exponentialBuckets(1, 2, 8));
  constexpr int kThreads = 4;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.observe(static_cast<double>((i + t) % 300));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.count(), static_cast<std::uint64_t>(kThreads * kEach));
  double want = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) want += (i + t) % 300;
  }
  EXPECT_DOUBLE_EQ(h.sum(), want);
}

TEST(Registry, ComputedGaugeIsEvaluatedAtScrape) {
  Registry r;
  double v = 0.25;
  r.gaugeFn("hubgate_ratio", "A ratio.", [&v] { return v; });
  EXPECT_NE(r.render().find("# TYPE hubgate_ratio gauge\nhubgate_ratio 0.25\n"), std::string::npos);
  v = 3;
  EXPECT_NE(r.render().find("hubgate_ratio 3\n"), std::string::npos);
}

TEST(GatewayMetrics, AmplificationIsUpstreamBytesPerServedByte) {
  Registry r;
  GatewayMetrics m(r);
  EXPECT_NE(r.render().find("hubgate_upstream_amplification 0\n"), std::string::npos);
  m.upstream_body_bytes.inc(100);
  m.served_bytes_fill.inc(100);
  m.served_bytes_cache.inc(250);
  m.served_bytes_pass_through.inc(50);
  EXPECT_NE(r.render().find("hubgate_upstream_amplification 0.25\n"), std::string::npos) << r.render();
}

}  // namespace
}  // namespace hubgate::metrics
