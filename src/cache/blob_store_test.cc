#include "cache/blob_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hubgate::cache {
namespace {
namespace fs = std::filesystem;

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("hubgate-blobs-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(BlobStoreTest, PublishMovesTempToContentAddress) {
  auto store = BlobStore::open(root_);
  ASSERT_TRUE(store);
  auto temp = store->createTemp();
  ASSERT_TRUE(temp);
  std::string data = "hello\n";
  ASSERT_EQ(::write(temp->fd.get(), data.data(), data.size()), 6);
  BlobKey key{DigestKind::GitSha1, gitBlobSha1Hex(data)};
  fs::path tmp_path = temp->path;
  ASSERT_TRUE(store->publish(*temp, key));
  EXPECT_FALSE(fs::exists(tmp_path));
  EXPECT_EQ(store->blobPath(key), root_ / "blobs/sha1/ce/ce013625030ba8dba906f756967f9e9ca394464a");
  auto fd = store->openBlob(key);
  ASSERT_TRUE(fd);
  char buf[16] = {};
  EXPECT_EQ(::pread(fd->get(), buf, sizeof buf, 0), 6);
  EXPECT_EQ(std::string(buf, 6), data);
  auto missing = store->openBlob(BlobKey{DigestKind::Sha256, std::string(64, '0')});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

TEST_F(BlobStoreTest, ReconcileRemovesPartialsOrphansAndStaleRows) {
  auto store = std::move(*BlobStore::open(root_));
  auto index = std::move(*Index::open(store.indexPath().string()));
  // A fill interrupted by a crash.
  auto partial = store.createTemp();
  ASSERT_EQ(::write(partial->fd.get(), "abc", 3), 3);
  // A blob published but never indexed (crash between rename and insert): an orphan.
  BlobKey orphan{DigestKind::Sha256, sha256Hex("orphan")};
  {
    auto t = store.createTemp();
    ASSERT_EQ(::write(t->fd.get(), "orphan", 6), 6);
    ASSERT_TRUE(store.publish(*t, orphan));
  }
  // A good blob with its row.
  BlobKey good{DigestKind::Sha256, sha256Hex("good")};
  {
    auto t = store.createTemp();
    ASSERT_EQ(::write(t->fd.get(), "good", 4), 4);
    ASSERT_TRUE(store.publish(*t, good));
    ASSERT_TRUE(index->putBlob(BlobRecord{good, 4}));
  }
  // A row whose file vanished.
  BlobKey gone{DigestKind::Sha256, sha256Hex("gone")};
  ASSERT_TRUE(index->putBlob(BlobRecord{gone, 4}));

  auto stats = store.reconcile(*index);
  ASSERT_TRUE(stats) << stats.error().context;
  EXPECT_EQ(stats->temp_removed, 1u);
  EXPECT_EQ(stats->orphans_removed, 1u);
  EXPECT_EQ(stats->rows_dropped, 1u);
  EXPECT_FALSE(fs::exists(partial->path));
  EXPECT_FALSE(fs::exists(store.blobPath(orphan)));
  EXPECT_TRUE(fs::exists(store.blobPath(good)));
  EXPECT_TRUE(index->findBlob(good)->has_value());
  EXPECT_FALSE(index->findBlob(gone)->has_value());
}

}  // namespace
}  // namespace hubgate::cache
