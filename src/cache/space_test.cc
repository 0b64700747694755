#include "cache/space.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hubgate::cache {
namespace {
namespace fs = std::filesystem;

BlobKey keyOf(int i) {
  std::string hex = std::to_string(i);
  return BlobKey{DigestKind::Sha256, std::string(64 - hex.size(), 'a') + hex};
}

class SpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("hubgate-space-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    store_.emplace(std::move(*BlobStore::open(root_)));
    index_ = std::move(*Index::open(":memory:"));
  }
  void TearDown() override { fs::remove_all(root_); }

  // A published blob `i` of `size` bytes, last accessed at `at` (unix seconds).
  void addBlob(int i, std::uint64_t size, std::int64_t at) {
    auto path = store_->blobPath(keyOf(i));
    fs::create_directories(path.parent_path());
    std::ofstream(path) << std::string(size, 'x');
    ASSERT_TRUE(index_->putBlob(BlobRecord{keyOf(i), size, at, at}));
  }
  void addFile(const std::string& repo, int blob) {
    FileEntry f;
    f.repo_type = "model";
    f.repo = repo;
    f.commit = std::string(40, 'c');
    f.path = "file" + std::to_string(blob);
    f.blob = keyOf(blob);
    ASSERT_TRUE(index_->putFile(f));
  }
  std::unique_ptr<Space> make(SpaceConfig config, DiskProbe probe = {}) {
    auto s = std::make_unique<Space>(*store_, *index_, pool_, metrics_, config, std::move(probe));
    EXPECT_TRUE(s->load());
    return s;
  }
  // Waits for deletions scheduled on the pool.
  void drain() {
    pool_.join();
  }
  bool onDisk(int i) { return fs::exists(store_->blobPath(keyOf(i))); }
  bool inIndex(int i) { return index_->findBlob(keyOf(i)).value().has_value(); }

  fs::path root_;
  std::optional<BlobStore> store_;
  std::unique_ptr<Index> index_;
  boost::asio::thread_pool pool_{1};
  metrics::Registry registry_;
  metrics::GatewayMetrics metrics_{registry_};
};

TEST_F(SpaceTest, LoadsBlobsAndLeasesThem) {
  addBlob(1, 100, 10);
  addBlob(2, 50, 20);
  auto space = make({});
  EXPECT_TRUE(space->contains(keyOf(1)));
  EXPECT_FALSE(space->contains(keyOf(3)));
  EXPECT_NE(space->lease(keyOf(2)), nullptr);
  EXPECT_EQ(space->lease(keyOf(3)), nullptr);
  auto st = space->stats();
  EXPECT_EQ(st.bytes, 150u);
  EXPECT_EQ(st.objects, 2u);
  EXPECT_EQ(metrics_.cache_bytes.value(), 150);
  EXPECT_EQ(metrics_.cache_objects.value(), 2);
}

TEST_F(SpaceTest, ReserveEvictsLeastRecentlyUsedFirst) {
  addBlob(1, 100, 10);  // oldest
  addBlob(2, 100, 30);
  addBlob(3, 100, 20);
  auto space = make({.max_bytes = 350});
  // 300 used + 120 new > 350: the oldest blob (1) must go; 2 and 3 stay.
  auto r = space->reserve(keyOf(9), 120);
  ASSERT_TRUE(r) << r.error().context;
  EXPECT_FALSE(space->contains(keyOf(1)));
  EXPECT_TRUE(space->contains(keyOf(2)));
  EXPECT_TRUE(space->contains(keyOf(3)));
  EXPECT_EQ(space->stats().reserved_bytes, 120u);
  drain();
  EXPECT_FALSE(onDisk(1));
  EXPECT_FALSE(inIndex(1));
  EXPECT_TRUE(onDisk(2));
  EXPECT_EQ(metrics_.evictions.value(), 1u);
  EXPECT_EQ(metrics_.evicted_bytes.value(), 100u);
}

TEST_F(SpaceTest, AccessRefreshesRecency) {
  addBlob(1, 100, 10);
  addBlob(2, 100, 20);
  auto space = make({.max_bytes = 250});
  space->lease(keyOf(1));  // 1 is now the most recent; the lease ends at once
  ASSERT_TRUE(space->reserve(keyOf(9), 100));
  EXPECT_TRUE(space->contains(keyOf(1)));
  EXPECT_FALSE(space->contains(keyOf(2)));
  drain();
}

TEST_F(SpaceTest, PinnedAndLeasedBlobsAreNeverEvicted) {
  addBlob(1, 100, 10);
  addBlob(2, 100, 20);
  addBlob(3, 100, 30);
  addFile("org/pinned", 1);
  auto space = make({.max_bytes = 300});
  ASSERT_TRUE(space->pin("model", "org/pinned"));
  auto reading = space->lease(keyOf(2));
  // Needs 100 bytes: 1 is pinned, 2 is being read, so 3 (the newest) goes.
  auto filling = space->reserve(keyOf(9), 100);
  ASSERT_TRUE(filling);
  EXPECT_TRUE(space->contains(keyOf(1)));
  EXPECT_TRUE(space->contains(keyOf(2)));
  EXPECT_FALSE(space->contains(keyOf(3)));
  // Nothing evictable is left: the next fill does not fit and nothing is evicted for it.
  auto refused = space->reserve(keyOf(10), 50);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::NoSpace);
  EXPECT_TRUE(space->contains(keyOf(1)));
  EXPECT_TRUE(space->contains(keyOf(2)));
  // Unpinned, blob 1 is evictable again.
  ASSERT_TRUE(space->unpin("model", "org/pinned").value());
  EXPECT_TRUE(space->reserve(keyOf(10), 50));
  EXPECT_FALSE(space->contains(keyOf(1)));
}

TEST_F(SpaceTest, PinCoversFilesLearnedLater) {
  auto space = make({.max_bytes = 100});
  ASSERT_TRUE(space->pin("model", "org/pinned"));
  space->noteFile("model", "org/pinned", keyOf(5));
  space->noteFile("model", "org/other", keyOf(6));
  EXPECT_TRUE(space->isPinned(keyOf(5)));
  EXPECT_FALSE(space->isPinned(keyOf(6)));
}

TEST_F(SpaceTest, LargerThanQuotaIsRefusedWithoutEvicting) {
  addBlob(1, 100, 10);
  auto space = make({.max_bytes = 1000});
  auto r = space->reserve(keyOf(9), 1001);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::NoSpace);
  EXPECT_TRUE(space->contains(keyOf(1)));
}

TEST_F(SpaceTest, ReservationsCountAgainstTheQuotaUntilReleased) {
  auto space = make({.max_bytes = 100});
  auto a = space->reserve(keyOf(1), 60);
  ASSERT_TRUE(a);
  EXPECT_FALSE(space->reserve(keyOf(2), 60));  // 60 reserved + 60 > 100, nothing to evict
  a->reset();                                  // the first fill failed
  EXPECT_TRUE(space->reserve(keyOf(2), 60));
}

TEST_F(SpaceTest, CommitPublishesAndLeasesUntilReadersFinish) {
  auto space = make({.max_bytes = 100});
  auto r = space->reserve(keyOf(1), 80);
  ASSERT_TRUE(r);
  ASSERT_TRUE(index_->putBlob(BlobRecord{keyOf(1), 80, 0, 0}));
  auto lease = space->commit(std::move(*r));
  EXPECT_TRUE(space->contains(keyOf(1)));
  EXPECT_EQ(space->stats().reserved_bytes, 0u);
  EXPECT_EQ(space->stats().bytes, 80u);
  // While the fill's readers read, the new blob cannot be evicted for another fill.
  EXPECT_FALSE(space->reserve(keyOf(2), 50));
  lease.reset();
  EXPECT_TRUE(space->reserve(keyOf(2), 50));
  EXPECT_FALSE(space->contains(keyOf(1)));
}

TEST_F(SpaceTest, FreeDiskReserveIsKept) {
  addBlob(1, 100, 10);
  addBlob(2, 100, 20);
  std::uint64_t available = 1000;
  auto space = make({.min_free_bytes = 900}, [&] { return DiskUsage{10'000, available}; });
  // 1000 free - 150 new < 900: 50 bytes must be freed; the oldest blob goes.
  ASSERT_TRUE(space->reserve(keyOf(9), 150));
  EXPECT_FALSE(space->contains(keyOf(1)));
  EXPECT_TRUE(space->contains(keyOf(2)));
  // A percentage reserve: 10% of 10 000 = 1000 > what is free, and more than the cache holds.
  auto pct = make({.min_free_percent = 10}, [&] { return DiskUsage{10'000, 500}; });
  auto r = pct->reserve(keyOf(8), 10);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("free-disk reserve"), std::string::npos) << r.error().context;
}

TEST_F(SpaceTest, BackgroundPassEvictsDownToTheQuotaWithinItsBudget) {
  for (int i = 1; i <= 5; ++i) addBlob(i, 100, i);
  auto space = make({.max_bytes = 200, .pass_budget = 2});
  auto first = space->evictPass(2);
  EXPECT_EQ(first.blobs, 2u);
  EXPECT_EQ(space->stats().bytes, 300u);
  auto second = space->evictPass(2);
  EXPECT_EQ(second.blobs, 1u);
  EXPECT_EQ(space->stats().bytes, 200u);
  EXPECT_TRUE(space->contains(keyOf(4)));
  EXPECT_TRUE(space->contains(keyOf(5)));
  EXPECT_FALSE(onDisk(1));
  EXPECT_FALSE(inIndex(3));
  EXPECT_EQ(space->evictPass(2).blobs, 0u);
}

TEST_F(SpaceTest, RemovingALeasedBlobWaitsForItsReader) {
  addBlob(1, 100, 10);
  auto space = make({});
  auto lease = space->lease(keyOf(1));
  ASSERT_TRUE(space->remove(keyOf(1)).value());
  EXPECT_FALSE(space->contains(keyOf(1)));  // no new reader gets it
  EXPECT_TRUE(onDisk(1));                   // the current reader still has it
  lease.reset();
  drain();
  EXPECT_FALSE(onDisk(1));
  EXPECT_FALSE(inIndex(1));
  EXPECT_EQ(metrics_.evictions.value(), 0u) << "a removal is not an eviction";
  EXPECT_FALSE(space->remove(keyOf(1)).value());
}

TEST_F(SpaceTest, AccessTimesAreFlushedInBatchesAndSurviveReload) {
  addBlob(1, 100, 10);
  addBlob(2, 100, 20);
  {
    auto space = make({});
    space->lease(keyOf(1));
    EXPECT_EQ(index_->findBlob(keyOf(1)).value()->last_access, 10);  // not written per hit
    ASSERT_TRUE(space->flushAccess());
    EXPECT_GT(index_->findBlob(keyOf(1)).value()->last_access, 20);
  }
  // After a restart, blob 1 is the more recent one: 2 is evicted first.
  auto space = make({.max_bytes = 150});
  ASSERT_TRUE(space->reserve(keyOf(9), 50));
  EXPECT_TRUE(space->contains(keyOf(1)));
  EXPECT_FALSE(space->contains(keyOf(2)));
}

}  // namespace
}  // namespace hubgate::cache
