#include "metrics/registry.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace hubgate::metrics
