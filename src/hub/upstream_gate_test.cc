#include "hub/upstream_gate.h"

#include <gtest/gtest.h>

namespace hubgate::hub {
namespace {

TEST(UpstreamGate, RetryDelayFromRetryAfterOrRateLimit) {
  EXPECT_EQ(retryDelay("7", ""), std::chrono::seconds(7));
  EXPECT_EQ(retryDelay("", "\"api\";r=0;t=42"), std::chrono::seconds(42));
  EXPECT_EQ(retryDelay("3", "\"api\";r=0;t=42"), std::chrono::seconds(3));  // Retry-After wins
  EXPECT_EQ(retryDelay("", ""), std::chrono::seconds(1));
  EXPECT_EQ(retryDelay("soon", "garbage"), std::chrono::seconds(1));
  EXPECT_EQ(retryDelay("0", ""), std::chrono::seconds(1));  // never a zero back-off
}

TEST(UpstreamGate, BacksOffAfterA429AndNamesTheReason) {
  UpstreamGate gate(false);
  EXPECT_FALSE(gate.blocked());
  gate.onRateLimited(std::chrono::seconds(30), {{"RateLimit", "\"api\";r=0;t=30"}});
  auto b = gate.blocked();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->code, ErrorCode::ResourceExhausted);
  EXPECT_GE(gate.backoffSecondsLeft(), 29);
  EXPECT_LE(gate.backoffSecondsLeft(), 30);
  EXPECT_EQ(gate.staleReason(*b), "rate-limited");
  ASSERT_EQ(gate.rateHeaders().size(), 1u);
  // A shorter back-off never shortens the running one.
  gate.onRateLimited(std::chrono::seconds(1), {});
  EXPECT_GE(gate.backoffSecondsLeft(), 29);
}

TEST(UpstreamGate, OfflineNeverContactsUpstream) {
  UpstreamGate gate(true);
  auto b = gate.blocked();
  ASSERT_TRUE(b);
  EXPECT_EQ(gate.staleReason(*b), "offline");
  UpstreamGate online(false);
  EXPECT_EQ(online.staleReason(Error{ErrorCode::Unavailable, "refused"}), "upstream-unavailable");
}

}  // namespace
}  // namespace hubgate::hub
