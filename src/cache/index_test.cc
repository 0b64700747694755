#include "cache/index.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>

#include <filesystem>

namespace hubgate::cache {
namespace {

BlobKey sha(char c) { return BlobKey{DigestKind::Sha256, std::string(64, c)}; }

TEST(Index, BlobRoundTripAndRemove) {
  auto idx = Index::open(":memory:");
  ASSERT_TRUE(idx) << idx.error().context;
  auto& index = **idx;
  EXPECT_EQ(index.formatVersion(), kFormatVersion);
  auto missing = index.findBlob(sha('a'));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(index.putBlob(BlobRecord{sha('a'), 1234, 0, 0}));
  auto found = index.findBlob(sha('a'));
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->size, 1234u);
  EXPECT_GT((*found)->created_at, 0);
  // git sha1 and sha256 keys live side by side.
  ASSERT_TRUE(index.putBlob(BlobRecord{BlobKey{DigestKind::GitSha1, std::string(40, 'a')}, 5}));
  EXPECT_EQ(index.listBlobs()->size(), 2u);
  ASSERT_TRUE(index.removeBlob(sha('a')));
  EXPECT_FALSE(index.findBlob(sha('a'))->has_value());
}

TEST(Index, FileRowsAreKeyedByTypeRepoCommitPath) {
  auto index = std::move(*Index::open(":memory:"));
  FileEntry f;
  f.repo_type = "model";
  f.repo = "org/m";
  f.commit = std::string(40, 'c');
  f.path = "sub dir/a #1.bin";
  f.blob = sha('b');
  f.size = 99;
  f.headers = "X-Repo-Commit: cc\nETag: \"bb\"\n";
  f.authenticated = true;
  ASSERT_TRUE(index->putFile(f));
  auto got = index->findFile("model", "org/m", f.commit, f.path);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->blob, f.blob);
  EXPECT_EQ((*got)->headers, f.headers);
  EXPECT_TRUE((*got)->authenticated);
  EXPECT_FALSE(index->findFile("dataset", "org/m", f.commit, f.path)->has_value());
  EXPECT_FALSE(index->findFile("model", "org/m", std::string(40, 'd'), f.path)->has_value());
  // Upsert replaces.
  f.authenticated = false;
  ASSERT_TRUE(index->putFile(f));
  EXPECT_FALSE((*index->findFile("model", "org/m", f.commit, f.path))->authenticated);
}

TEST(Index, AnswersAndRevisionsAreScoped) {
  auto index = std::move(*Index::open(":memory:"));
  MetaEntry e;
  e.kind = "tree";
  e.repo_type = "dataset";
  e.repo = "org/d";
  e.commit = std::string(40, 'c');
  e.key = "sub?recursive=true";
  e.scope = "anon";
  e.headers = "Link: <x>; rel=\"next\"\n";
  e.body = "[{\"path\":\"a\"}]";
  ASSERT_TRUE(index->putMeta(e));
  auto got = index->findMeta(e);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->body, e.body);
  EXPECT_EQ((*got)->headers, e.headers);
  EXPECT_EQ((*got)->status, 200);
  MetaEntry other = e;
  other.scope = "tok:1234";
  EXPECT_FALSE(index->findMeta(other)->has_value());
  other = e;
  other.key = "sub?recursive=false";
  EXPECT_FALSE(index->findMeta(other)->has_value());

  EXPECT_FALSE(index->findRevision("model", "org/m", "main", "anon")->has_value());
  ASSERT_TRUE(index->putRevision("model", "org/m", "main", "anon", std::string(40, 'a')));
  ASSERT_TRUE(index->putRevision("model", "org/m", "main", "anon", std::string(40, 'b')));
  auto rev = index->findRevision("model", "org/m", "main", "anon");
  ASSERT_TRUE(rev && rev->has_value());
  EXPECT_EQ((*rev)->commit, std::string(40, 'b'));
  EXPECT_FALSE(index->findRevision("model", "org/m", "main", "tok:1")->has_value());
}

TEST(Index, PersistsAcrossReopenAndRefusesNewerFormat) {
  auto dir = std::filesystem::temp_directory_path() / ("hubgate-index-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "index.sqlite").string();
  {
    auto index = std::move(*Index::open(path));
    ASSERT_TRUE(index->putBlob(BlobRecord{sha('e'), 7}));
  }
  {
    auto index = Index::open(path);
    ASSERT_TRUE(index);
    EXPECT_TRUE((*index)->findBlob(sha('e'))->has_value());
  }
  {
    // A future hubgate wrote this index: refuse it instead of guessing.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='format_version'", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    auto index = Index::open(path);
    ASSERT_FALSE(index);
    EXPECT_EQ(index.error().code, ErrorCode::Corruption);
    EXPECT_NE(index.error().context.find("format version 99"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

// Point lookups reuse prepared statements on the reader connection: each must end its read
// transaction, or the reader would keep seeing the snapshot of its first lookup.
TEST(Index, ReaderSeesEveryWriteAcrossReusedStatements) {
  auto path = std::filesystem::temp_directory_path() /
              ("hubgate-index-reuse-" + std::to_string(::getpid()) + ".sqlite");
  std::filesystem::remove(path);
  {
    auto idx = Index::open(path.string());
    ASSERT_TRUE(idx) << idx.error().context;
    auto& index = **idx;
    for (int round = 0; round < 3; ++round) {
      EXPECT_FALSE(index.findBlob(sha('e')).value().has_value()) << "round " << round;
      ASSERT_TRUE(index.putBlob(BlobRecord{sha('e'), 100u + static_cast<unsigned>(round), 1, 1}));
      auto found = index.findBlob(sha('e')).value();
      ASSERT_TRUE(found.has_value()) << "round " << round;
      EXPECT_EQ(found->size, 100u + static_cast<unsigned>(round));
      ASSERT_TRUE(index.removeBlob(sha('e')));
    }
    ASSERT_TRUE(index.putBlob(BlobRecord{sha('f'), 7, 1, 1}));
    ASSERT_TRUE(index.touchBlobs({{sha('f'), 99}}));
    EXPECT_EQ(index.findBlob(sha('f')).value()->last_access, 99);
    ASSERT_TRUE(index.touchBlobs({{sha('f'), 50}}));  // never moves back in time
    EXPECT_EQ(index.findBlob(sha('f')).value()->last_access, 99);
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
}

}  // namespace
}  // namespace hubgate::cache
