#include "app/gateway.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

namespace hubgate::app {
namespace {

class GatewayLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hubgate-gateway-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    config_.listen = "127.0.0.1:0";
    config_.upstream = "http://127.0.0.1:9";  // never contacted
    config_.cache_dir = dir_.string();
    config_.threads = 1;
    config_.scan_mode = "off";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  config::Config config_;
};

TEST_F(GatewayLifecycle, SigtermWithNothingInFlightRunsTheShutdownHooksInOrder) {
  auto gw = Gateway::create(config_);
  ASSERT_TRUE(gw) << gw.error().context;
  std::mutex mu;
  std::vector<int> order;
  std::thread::id hook_thread;
  (*gw)->onShutdown([&] {
    std::lock_guard lock(mu);
    order.push_back(1);
    hook_thread = std::this_thread::get_id();
  });
  (*gw)->onShutdown([&] {
    std::lock_guard lock(mu);
    order.push_back(2);
  });
  ASSERT_TRUE((*gw)->start());
  std::thread::id runner;
  std::thread t([&] {
    runner = std::this_thread::get_id();
    (*gw)->run();
  });
  // The gateway's signal_set catches it (registered by create()); an idle gateway drains at once.
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  t.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(hook_thread, runner);
}

TEST_F(GatewayLifecycle, SighupWithABrokenSourceKeepsServingAndAStopStillDrains) {
  auto gw = Gateway::create(config_);
  ASSERT_TRUE(gw) << gw.error().context;
  std::mutex mu;
  int reads = 0;
  (*gw)->setConfigSource([&]() -> Result<config::Config> {
    std::lock_guard lock(mu);
    ++reads;
    return fail(ErrorCode::InvalidArgument, "broken on purpose");
  });
  bool stopped = false;
  (*gw)->onShutdown([&] { stopped = true; });
  ASSERT_TRUE((*gw)->start());
  std::thread t([&] { (*gw)->run(); });
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  // The reload runs on the blocking pool; poll (bounded) until it has read its source.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (reads > 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(reads, 1);
  }
  ASSERT_EQ(::kill(::getpid(), SIGINT), 0);
  t.join();
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace hubgate::app
