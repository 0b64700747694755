#include "hub/revision_cache.h"

#include <gtest/gtest.h>

#include <thread>

namespace hubgate::hub {
namespace {

TEST(RevisionCache, FreshWithinTtlLastForeverScopedByCaller) {
  auto index = std::move(*cache::Index::open(":memory:"));
  boost::asio::thread_pool pool(1);
  RevisionCache cache(*index, pool, std::chrono::milliseconds(50));
  const std::string a(40, 'a');
  EXPECT_FALSE(cache.fresh("model", "org/m", "main", "anon"));
  cache.remember("model", "org/m", "main", "anon", a);
  EXPECT_EQ(cache.fresh("model", "org/m", "main", "anon"), a);
  // Another caller scope never sees it.
  EXPECT_FALSE(cache.fresh("model", "org/m", "main", scopeFor("Bearer hf_x")));
  EXPECT_FALSE(cache.last("model", "org/m", "main", scopeFor("Bearer hf_x")));
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  EXPECT_FALSE(cache.fresh("model", "org/m", "main", "anon"));
  EXPECT_EQ(cache.last("model", "org/m", "main", "anon"), a);
  pool.join();
  // Persisted: a new cache over the same index (a restart) still knows the last commit.
  boost::asio::thread_pool pool2(1);
  RevisionCache restarted(*index, pool2, std::chrono::milliseconds(50));
  EXPECT_EQ(restarted.last("model", "org/m", "main", "anon"), a);
  EXPECT_FALSE(restarted.fresh("model", "org/m", "main", "anon"));
  pool2.join();
}

TEST(RevisionCache, ScopeNeverContainsTheToken) {
  std::string s = scopeFor("Bearer hf_secret");
  EXPECT_EQ(s.find("hf_secret"), std::string::npos);
  EXPECT_EQ(scopeFor(""), "anon");
  EXPECT_NE(scopeFor("Bearer a"), scopeFor("Bearer b"));
}

}  // namespace
}  // namespace hubgate::hub
