#include "cache/fill_session.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>

#include "testing/fake_response.h"

namespace hubgate::cache {
namespace {
namespace asio = boost::asio;
namespace fs = std::filesystem;

// Serves `body` from the requested offset; the n-th open may be scripted to fail mid-way.
class ScriptedSource final : public FillSource {
 public:
  ScriptedSource(std::string body, std::vector<std::optional<std::size_t>> cut_after,
                 std::vector<std::uint64_t>& offsets)
      : body_(std::move(body)), cut_after_(std::move(cut_after)), offsets_(offsets) {}
  asio::awaitable<Result<std::unique_ptr<upstream::Response>>> open(std::uint64_t offset) override {
    std::size_t call = offsets_.size();
    offsets_.push_back(offset);
    std::optional<std::size_t> cut;
    if (call < cut_after_.size()) cut = cut_after_[call];
    co_return std::unique_ptr<upstream::Response>(std::make_unique<testing::FakeResponse>(
        offset ? 206 : 200, body_.substr(offset), 1000, cut));
  }

 private:
  std::string body_;
  std::vector<std::optional<std::size_t>> cut_after_;
  std::vector<std::uint64_t>& offsets_;
};

std::string content(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) >> 3);
  return s;
}

class FillSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("hubgate-fill-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    store_.emplace(std::move(*BlobStore::open(root_)));
    index_ = std::move(*Index::open(":memory:"));
    deps_.emplace(FillDeps{*store_, *index_, pool_, metrics_, 6, std::chrono::milliseconds(1)});
  }
  void TearDown() override {
    pool_.join();
    fs::remove_all(root_);
  }

  // Runs a fill of `body` announced with `key`, and a reader that records what it could send
  // at each step. Returns the final progress.
  FillSession::Progress runFill(const std::string& body, const BlobKey& key,
                                std::vector<std::optional<std::size_t>> cuts,
                                std::vector<std::uint64_t>& offsets,
                                std::uint64_t* max_released_before_commit = nullptr) {
    auto session = std::make_shared<FillSession>(
        key, body.size(), std::make_unique<ScriptedSource>(body, std::move(cuts), offsets), *deps_);
    EXPECT_TRUE(session->open());
    session->start(asio::make_strand(ioc_), {});
    asio::co_spawn(asio::make_strand(ioc_),
                   [session, max_released_before_commit]() -> asio::awaitable<void> {
                     std::uint64_t seen = 0;
                     for (;;) {
                       auto p = session->progress();
                       if (p.state != FillSession::State::Committed && max_released_before_commit) {
                         *max_released_before_commit = std::max(
                             *max_released_before_commit, FillSession::releasable(p, session->size()));
                       }
                       if (p.state == FillSession::State::Committed ||
                           p.state == FillSession::State::Failed) {
                         co_return;
                       }
                       seen = p.available;
                       co_await session->waitUntil(seen + 1, std::chrono::seconds(5));
                     }
                   },
                   asio::detached);
    ioc_.run_for(std::chrono::seconds(20));
    ioc_.restart();
    return session->progress();
  }

  fs::path root_;
  asio::io_context ioc_;
  asio::thread_pool pool_{1};
  metrics::Registry registry_;
  metrics::GatewayMetrics metrics_{registry_};
  std::optional<BlobStore> store_;
  std::unique_ptr<Index> index_;
  std::optional<FillDeps> deps_;
};

TEST_F(FillSessionTest, VerifiedFillIsPublishedAndIndexed) {
  std::string body = content(100'000);
  BlobKey key{DigestKind::Sha256, sha256Hex(body)};
  std::vector<std::uint64_t> offsets;
  std::uint64_t released = 0;
  auto p = runFill(body, key, {}, offsets, &released);
  EXPECT_EQ(p.state, FillSession::State::Committed);
  EXPECT_EQ(offsets, std::vector<std::uint64_t>{0});
  // Before commit, a reader never got the last byte.
  EXPECT_EQ(released, body.size() - 1);
  ASSERT_TRUE(fs::exists(store_->blobPath(key)));
  EXPECT_EQ(fs::file_size(store_->blobPath(key)), body.size());
  EXPECT_TRUE(index_->findBlob(key)->has_value());
  EXPECT_EQ(metrics_.fill_completed.value(), 1u);
  EXPECT_EQ(metrics_.upstream_body_bytes.value(), body.size());
  EXPECT_TRUE(fs::is_empty(root_ / "tmp"));
}

TEST_F(FillSessionTest, DigestMismatchPublishesNothing) {
  std::string body = content(50'000);
  BlobKey key{DigestKind::Sha256, sha256Hex(body + "x")};  // the Hub says something else
  std::vector<std::uint64_t> offsets;
  std::uint64_t released = 0;
  auto p = runFill(body, key, {}, offsets, &released);
  EXPECT_EQ(p.state, FillSession::State::Failed);
  ASSERT_TRUE(p.error.has_value());
  EXPECT_EQ(p.error->code, ErrorCode::Corruption);
  EXPECT_LT(released, body.size());
  EXPECT_FALSE(fs::exists(store_->blobPath(key)));
  EXPECT_FALSE(index_->findBlob(key)->has_value());
  EXPECT_EQ(metrics_.digest_mismatch.value(), 1u);
  EXPECT_EQ(metrics_.fill_failed.value(), 1u);
  EXPECT_TRUE(fs::is_empty(root_ / "tmp"));
}

TEST_F(FillSessionTest, UpstreamCutResumesFromLastByte) {
  std::string body = content(80'000);
  BlobKey key{DigestKind::GitSha1, gitBlobSha1Hex(body)};
  std::vector<std::uint64_t> offsets;
  auto p = runFill(body, key, {40'000, 10'000}, offsets);
  EXPECT_EQ(p.state, FillSession::State::Committed);
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{0, 40'000, 50'000}));
  EXPECT_EQ(metrics_.fill_resumed.value(), 2u);
  EXPECT_EQ(metrics_.upstream_body_bytes.value(), body.size());
}

TEST_F(FillSessionTest, GivesUpAfterAttemptBudget) {
  std::string body = content(10'000);
  BlobKey key{DigestKind::Sha256, sha256Hex(body)};
  std::vector<std::uint64_t> offsets;
  auto p = runFill(body, key, {0, 0, 0, 0, 0, 0, 0, 0}, offsets);
  EXPECT_EQ(p.state, FillSession::State::Failed);
  EXPECT_EQ(offsets.size(), 6u);
  EXPECT_FALSE(fs::exists(store_->blobPath(key)));
}

TEST_F(FillSessionTest, RegistryJoinsTheLiveSession) {
  std::string body = content(10'000);
  BlobKey key{DigestKind::Sha256, sha256Hex(body)};
  std::vector<std::uint64_t> offsets;
  FillRegistry registry(metrics_);
  auto make = [&]() -> Result<std::shared_ptr<FillSession>> {
    return std::make_shared<FillSession>(
        key, body.size(), std::make_unique<ScriptedSource>(body, std::vector<std::optional<std::size_t>>{}, offsets),
        *deps_);
  };
  auto a = registry.join(key, make, asio::make_strand(ioc_));
  auto b = registry.join(key, make, asio::make_strand(ioc_));
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->started);
  EXPECT_FALSE(b->started);
  EXPECT_EQ(a->session, b->session);
  EXPECT_EQ(metrics_.fill_joined.value(), 1u);
  ioc_.run_for(std::chrono::seconds(10));
  EXPECT_EQ(a->session->progress().state, FillSession::State::Committed);
  EXPECT_EQ(registry.inFlight(), 0u);
  EXPECT_EQ(offsets.size(), 1u);  // one upstream transfer
}

// Regression: a session used to be published in the registry before its temp file existed, so
// a request joining at that moment could not open a reader (it answered an error). A join that
// arrives while the first request is still creating its session must get a readable session.
TEST_F(FillSessionTest, JoinerDuringCreationGetsAReadableSession) {
  std::string body = content(10'000);
  BlobKey key{DigestKind::Sha256, sha256Hex(body)};
  std::vector<std::uint64_t> offsets;
  FillRegistry registry(metrics_);
  std::shared_ptr<FillSession> inner;
  bool nested = false;
  FillRegistry::Factory make = [&]() -> Result<std::shared_ptr<FillSession>> {
    if (!nested) {  // a second request arrives while the first one is creating its session
      nested = true;
      auto j = registry.join(key, make, asio::make_strand(ioc_));
      EXPECT_TRUE(j && j->session->openReader());
      if (j) inner = j->session;
    }
    return std::make_shared<FillSession>(
        key, body.size(),
        std::make_unique<ScriptedSource>(body, std::vector<std::optional<std::size_t>>{}, offsets),
        *deps_);
  };
  auto outer = registry.join(key, make, asio::make_strand(ioc_));
  ASSERT_TRUE(outer);
  EXPECT_EQ(outer->session, inner);
  EXPECT_FALSE(outer->started);
  EXPECT_TRUE(outer->session->openReader());
  ioc_.run_for(std::chrono::seconds(10));
  EXPECT_EQ(outer->session->progress().state, FillSession::State::Committed);
  EXPECT_EQ(offsets.size(), 1u);  // still one upstream transfer
}

}  // namespace
}  // namespace hubgate::cache

namespace hubgate::cache {
namespace {

// Records what it was asked to judge; answers a fixed verdict.
class RecordingInspector final : public Inspector {
 public:
  explicit RecordingInspector(std::string verdict) : verdict_(std::move(verdict)) {}
  ScanRecord inspect(int fd, std::uint64_t size, const BlobKey& key,
                     const std::string& name_hint) override {
    std::string bytes(size, '\0');
    seen_bytes = ::pread(fd, bytes.data(), size, 0) == static_cast<ssize_t>(size) ? bytes : "";
    seen_key = key;
    seen_hint = name_hint;
    ++calls;
    return ScanRecord{verdict_, "pickle", verdict_ + ": test", "[]", version(), 1};
  }
  std::string version() const override { return "test-1"; }
  std::string seen_bytes;
  BlobKey seen_key;
  std::string seen_hint;
  int calls = 0;

 private:
  std::string verdict_;
};

TEST_F(FillSessionTest, VerifiedBytesAreScannedAndTheVerdictIsStoredBeforeCommit) {
  std::string body = content(50'000);
  BlobKey key{DigestKind::Sha256, sha256Hex(body)};
  RecordingInspector inspector("malicious");
  deps_->inspector = &inspector;
  std::vector<std::uint64_t> offsets;
  auto session = std::make_shared<FillSession>(
      key, body.size(), std::make_unique<ScriptedSource>(body, std::vector<std::optional<std::size_t>>{}, offsets),
      *deps_, "archive/model.bin");
  ASSERT_TRUE(session->open());
  session->start(asio::make_strand(ioc_), {});
  ioc_.run_for(std::chrono::seconds(10));
  ioc_.restart();
  auto p = session->progress();
  ASSERT_EQ(p.state, FillSession::State::Committed);
  // The scanner saw exactly the verified bytes and the name of the request that started it.
  EXPECT_EQ(inspector.calls, 1);
  EXPECT_EQ(inspector.seen_bytes, body);
  EXPECT_EQ(inspector.seen_key, key);
  EXPECT_EQ(inspector.seen_hint, "archive/model.bin");
  // The verdict travels with the commit (readers' gates) and is in the index.
  ASSERT_TRUE(p.scan);
  EXPECT_EQ(p.scan->verdict, "malicious");
  auto stored = index_->findVerdict(key);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->verdict, "malicious");
  EXPECT_EQ((*stored)->scanner_version, "test-1");
  // Whatever the verdict, verified bytes are published: the policy decides per request.
  EXPECT_TRUE(index_->findBlob(key)->has_value());
}

TEST_F(FillSessionTest, ADigestMismatchIsNeverScanned) {
  std::string body = content(20'000);
  BlobKey key{DigestKind::Sha256, std::string(64, 'a')};
  RecordingInspector inspector("clean");
  deps_->inspector = &inspector;
  std::vector<std::uint64_t> offsets;
  auto p = runFill(body, key, {}, offsets);
  EXPECT_EQ(p.state, FillSession::State::Failed);
  EXPECT_EQ(inspector.calls, 0);
  EXPECT_FALSE(index_->findVerdict(key)->has_value());
}

}  // namespace
}  // namespace hubgate::cache
