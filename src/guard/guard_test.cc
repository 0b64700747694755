#include "guard/guard.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/hash.h"

namespace hubgate::guard {
namespace {
namespace fs = std::filesystem;
namespace asio = boost::asio;

fs::path tempDir(const char* what) {
  auto d = fs::temp_directory_path() / (std::string("hubgate-guard-") + what + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(AuditLog, OneJsonLinePerRecordPrivateFileNoInterleaving) {
  auto dir = tempDir("audit");
  auto path = dir / "audit.jsonl";
  auto log = AuditLog::open(path.string());
  ASSERT_TRUE(log);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        AuditRecord r;
        r.caller = "tok:abc";
        r.repo = "org/m" + std::to_string(t);
        r.path = std::string(500, 'p') + std::to_string(i);  // long lines
        r.verdict = "clean";
        r.decision = "allow";
        r.bytes = static_cast<std::uint64_t>(i);
        (*log)->write(r);
      }
    });
  }
  for (auto& w : writers) w.join();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not one JSON object per line: " << line.substr(0, 80);
    EXPECT_EQ(j["caller"], "tok:abc");
    EXPECT_TRUE(j.contains("time") && j.contains("verdict") && j.contains("decision") &&
                j.contains("content") && j.contains("commit") && j.contains("cache"));
    ++lines;
  }
  EXPECT_EQ(lines, 800);
  fs::remove_all(dir);
}

class FakeInspector final : public cache::Inspector {
 public:
  cache::ScanRecord inspect(int, std::uint64_t, const cache::BlobKey&, const std::string&) override {
    ++calls;
    return cache::ScanRecord{"malicious", "pickle", "malicious: os.system", 
                             R"([{"severity":"malicious","rule":"pickle.global.denylisted","message":"os.system","location":"","offset":3}])",
                             ver, 1};
  }
  std::string version() const override { return ver; }
  std::string ver = "v1";
  int calls = 0;
};

struct GuardTest : ::testing::Test {
  void SetUp() override {
    dir = tempDir("g");
    store.emplace(std::move(*cache::BlobStore::open(dir)));
    index = std::move(*cache::Index::open(":memory:"));
    body = "not really a pickle";
    key = cache::BlobKey{DigestKind::Sha256, sha256Hex(body)};
    auto t = store->createTemp();
    ASSERT_TRUE(t);
    ASSERT_EQ(::pwrite(t->fd.get(), body.data(), body.size(), 0), static_cast<ssize_t>(body.size()));
    ASSERT_TRUE(store->publish(*t, key));
  }
  void TearDown() override {
    pool.join();
    fs::remove_all(dir);
  }
  std::shared_ptr<const cache::ScanRecord> verdict(Guard& g) {
    std::shared_ptr<const cache::ScanRecord> out;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { out = co_await g.verdictFor(key, body.size(), "x.pkl"); },
                   asio::detached);
    ioc.run_for(std::chrono::seconds(10));
    ioc.restart();
    return out;
  }
  fs::path dir;
  std::optional<cache::BlobStore> store;
  std::unique_ptr<cache::Index> index;
  asio::io_context ioc;
  asio::thread_pool pool{1};
  std::string body;
  cache::BlobKey key;
};

TEST_F(GuardTest, MissingOrStaleVerdictsAreRecomputedCurrentOnesReused) {
  FakeInspector inspector;
  Guard g(policy::ScanPolicy{}, &inspector, *index, *store, pool, nullptr);
  auto first = verdict(g);  // never scanned (a blob cached before scanning existed)
  ASSERT_TRUE(first);
  EXPECT_EQ(first->verdict, "malicious");
  EXPECT_EQ(inspector.calls, 1);
  verdict(g);  // current: from the index
  EXPECT_EQ(inspector.calls, 1);
  inspector.ver = "v2";  // a new scanner or feed: stale
  auto again = verdict(g);
  EXPECT_EQ(inspector.calls, 2);
  EXPECT_EQ(again->scanner_version, "v2");
  EXPECT_EQ((*index->findVerdict(key))->scanner_version, "v2");
}

TEST_F(GuardTest, DecisionsUseStoredFindingsAndRepoOverrides) {
  FakeInspector inspector;
  policy::ScanPolicy p;
  p.overrides.push_back({"org/lab-*", "pickle.global.denylisted"});
  Guard g(p, &inspector, *index, *store, pool, nullptr);
  auto rec = verdict(g);
  EXPECT_EQ(g.decide(rec.get(), "org/other").action, policy::Action::Block);
  auto lab = g.decide(rec.get(), "org/lab-1");
  EXPECT_EQ(lab.action, policy::Action::Allow);
  EXPECT_EQ(lab.overridden, std::vector<std::string>{"pickle.global.denylisted"});
  // A record whose findings cannot be read fails closed.
  cache::ScanRecord broken{"clean", "pickle", "", "{not json", "v1", 1};
  EXPECT_EQ(g.decide(&broken, "org/other").action, policy::Action::Block);
  // Scanning off: nothing to decide, allowed as unscanned.
  Guard off(policy::ScanPolicy{}, nullptr, *index, *store, pool, nullptr);
  EXPECT_EQ(verdict(off), nullptr);
  EXPECT_EQ(off.decide(nullptr, "org/x").effective_verdict, "unscanned");
}

}  // namespace
}  // namespace hubgate::guard
