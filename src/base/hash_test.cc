#include "base/hash.h"

#include <gtest/gtest.h>

namespace hubgate {
namespace {

TEST(Hash, Sha256KnownVectors) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hash, GitBlobSha1MatchesGit) {
  // `printf 'hello\n' | git hash-object --stdin`
  EXPECT_EQ(gitBlobSha1Hex("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
  // `git hash-object /dev/null`
  EXPECT_EQ(gitBlobSha1Hex(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST(Hash, StreamingEqualsOneShot) {
  std::string data(100000, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  auto h = Hasher::sha256();
  h->update(std::string_view(data).substr(0, 7));
  h->update(std::string_view(data).substr(7, 50000));
  h->update(std::string_view(data).substr(50007));
  EXPECT_EQ(h->finish(), sha256Hex(data));
  auto g = Hasher::gitBlobSha1(data.size());
  g->update(std::string_view(data).substr(0, 1));
  g->update(std::string_view(data).substr(1));
  EXPECT_EQ(g->finish(), gitBlobSha1Hex(data));
}

TEST(Hash, IsHex) {
  EXPECT_TRUE(isHex("abcdef0123", 10));
  EXPECT_FALSE(isHex("abcdef012", 10));
  EXPECT_FALSE(isHex("abcdefg123", 10));
}

}  // namespace
}  // namespace hubgate
