#include "router/access_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

namespace hubgate::router {
namespace {

AccessEntry sample() {
  AccessEntry e;
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  e.request_id = "abc-1";
  e.remote = "127.0.0.1";
  e.method = "GET";
  e.path = "/org/m/resolve/main/a b\".bin";
  e.status = 200;
  e.bytes = 42;
  e.duration = std::chrono::microseconds(1500);
  e.ttfb = std::chrono::microseconds(250);
  e.route = "resolve";
  e.cache = "miss";
  e.caller = "anon";
  e.ok = false;
  e.user_agent = std::string(300, 'u');
  return e;
}

TEST(AccessLog, JsonLineCarriesEveryField) {
  std::string line = AccessLog::jsonLine(sample());
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["request_id"], "abc-1");
  EXPECT_EQ(j["remote"], "127.0.0.1");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/org/m/resolve/main/a b\".bin");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes"], 42);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["ttfb_ms"].get<double>(), 0.25);
  EXPECT_EQ(j["route"], "resolve");
  EXPECT_EQ(j["cache"], "miss");
  EXPECT_EQ(j["caller"], "anon");
  EXPECT_EQ(j["outcome"], "cut");
  EXPECT_EQ(j["user_agent"].get<std::string>().size(), 256u);
  AccessEntry none = sample();
  none.ttfb.reset();
  none.cache.clear();
  auto k = nlohmann::json::parse(AccessLog::jsonLine(none));
  EXPECT_TRUE(k["ttfb_ms"].is_null());
  EXPECT_EQ(k["cache"], "-");
}

TEST(AccessLog, ClfLineKeepsFieldsSeparable) {
  std::string line = AccessLog::clfLine(sample());
  EXPECT_EQ(line,
            "127.0.0.1 - anon [14/Nov/2023:22:13:20 +0000] \"GET /org/m/resolve/main/a_b_.bin "
            "HTTP/1.1\" 200 42\n");
  AccessEntry e = sample();
  e.remote.clear();
  EXPECT_TRUE(AccessLog::clfLine(e).starts_with("- - anon ["));
}

}  // namespace
}  // namespace hubgate::router
