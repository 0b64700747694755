#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace hubgate::config {
namespace {

TEST(Config, DefaultsAreTheEmbeddedGateway) {
  Config c;
  ASSERT_TRUE(finalize(c));
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.upstream, "https://huggingface.co");
}

TEST(Config, TomlThenEnvPrecedence) {
  Config c;
  ASSERT_TRUE(applyToml(c,
                        "[server]\nlisten = \"0.0.0.0:9000\"\n[upstream]\nurl = "
                        "\"http://127.0.0.1:5000/\"\nidle_timeout = \"250ms\"\n",
                        "test.toml"));
  std::map<std::string, std::string> env = {{"HUBGATE_LISTEN", "127.0.0.1:7000"}};
  ASSERT_TRUE(applyEnv(c, [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  }));
  ASSERT_TRUE(finalize(c));
  EXPECT_EQ(c.listen, "127.0.0.1:7000");
  EXPECT_EQ(c.upstream, "http://127.0.0.1:5000");  // trailing slash removed
  EXPECT_EQ(c.idle_timeout, std::chrono::milliseconds(250));
}

TEST(Config, DrainTimeoutFromTomlAndEnvRendered) {
  Config c;
  EXPECT_EQ(c.drain_timeout, std::chrono::seconds(30));
  ASSERT_TRUE(applyToml(c, "[server]\ndrain_timeout = \"2s\"\n", "t.toml"));
  EXPECT_EQ(c.drain_timeout, std::chrono::seconds(2));
  ASSERT_TRUE(applyEnv(c, [](const char* n) -> const char* {
    return std::string_view(n) == "HUBGATE_DRAIN_TIMEOUT" ? "750ms" : nullptr;
  }));
  EXPECT_EQ(c.drain_timeout, std::chrono::milliseconds(750));
  EXPECT_NE(render(c).find("drain_timeout = \"750ms\""), std::string::npos);
  EXPECT_FALSE(applyToml(c, "[server]\ndrain_timeout = \"soon\"\n", "t.toml"));
}

TEST(Config, CacheLimitsParseSizesAndPercentages) {
  Config c;
  EXPECT_EQ(c.cache_max_bytes, 0u);
  EXPECT_EQ(c.cache_min_free_bytes, 1ull << 30);
  ASSERT_TRUE(applyToml(c, "[cache]\nmax_size = \"200MiB\"\nmin_free = \"5%\"\n", "t.toml"));
  EXPECT_EQ(c.cache_max_bytes, 200ull << 20);
  EXPECT_EQ(c.cache_min_free_bytes, 0u);
  EXPECT_DOUBLE_EQ(c.cache_min_free_percent, 5.0);
  for (auto [text, bytes] : {std::pair{"1048576", 1048576ull}, std::pair{"2 GB", 2'000'000'000ull},
                             std::pair{"3k", 3072ull}, std::pair{"1TiB", 1ull << 40}}) {
    ASSERT_TRUE(applyToml(c, std::string("[cache]\nmax_size = \"") + text + "\"\n", "t.toml")) << text;
    EXPECT_EQ(c.cache_max_bytes, bytes) << text;
  }
  ASSERT_TRUE(applyToml(c, "[cache]\nmin_free = \"10GiB\"\n", "t.toml"));
  EXPECT_EQ(c.cache_min_free_bytes, 10ull << 30);
  EXPECT_EQ(c.cache_min_free_percent, 0.0);
  // The rendered form reads back to the same values.
  Config again;
  ASSERT_TRUE(applyToml(again, render(c), "rendered"));
  EXPECT_EQ(again.cache_max_bytes, c.cache_max_bytes);
  EXPECT_EQ(again.cache_min_free_bytes, c.cache_min_free_bytes);
  for (const char* bad : {"lots", "5XB", "-1", "99999999999999999999", "20000000TiB"}) {
    auto r = applyToml(c, std::string("[cache]\nmax_size = \"") + bad + "\"\n", "t.toml");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().context.find("cache.max_size"), std::string::npos) << r.error().context;
  }
  EXPECT_FALSE(applyToml(c, "[cache]\nmin_free = \"95%\"\n", "t.toml"));
  Config off;
  off.scan_on_unscanned = "maybe";
  auto refused = finalize(off);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().context.find("scan.on_unscanned"), std::string::npos);
}

TEST(Config, ClearErrors) {
  Config c;
  auto unknown = applyToml(c, "[upstream]\nurll = \"x\"\n", "f.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().context.find("unknown key 'upstream.urll'"), std::string::npos);
  auto dur = applyToml(c, "[upstream]\nconnect_timeout = \"10 parsecs\"\n", "f.toml");
  ASSERT_FALSE(dur);
  EXPECT_NE(dur.error().context.find("upstream.connect_timeout"), std::string::npos);
  Config bad;
  bad.upstream = "ftp://x";
  auto r = finalize(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("upstream.url"), std::string::npos);
  Config badlisten;
  badlisten.listen = "nowhere";
  EXPECT_FALSE(finalize(badlisten));
}

TEST(Config, AccessLogKeys) {
  Config c;
  EXPECT_EQ(c.log_access, "json");
  EXPECT_EQ(c.log_access_path, "");
  ASSERT_TRUE(applyToml(c, "[log]\naccess = \"clf\"\naccess_path = \"access.log\"\n", "f.toml"));
  EXPECT_EQ(c.log_access, "clf");
  EXPECT_EQ(c.log_access_path, "access.log");
  ASSERT_TRUE(finalize(c));
  EXPECT_NE(render(c).find("access = \"clf\""), std::string::npos);
  c.log_access = "xml";
  auto r = finalize(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("log.access"), std::string::npos);
}

TEST(Config, TokenFileMustBePrivateAndIsMaskedInRender) {
  auto path = std::filesystem::temp_directory_path() / ("hubgate-token-" + std::to_string(::getpid()));
  {
    std::ofstream(path) << "hf_secret_value\n";
  }
  Config c;
  c.upstream_token_file = path.string();
  ::chmod(path.c_str(), 0644);
  auto open = finalize(c);
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().context.find("chmod 600"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  ASSERT_TRUE(finalize(c));
  EXPECT_EQ(c.upstream_token, "hf_secret_value");
  std::string text = render(c);
  EXPECT_EQ(text.find("hf_secret_value"), std::string::npos);
  EXPECT_NE(text.find("***masked***"), std::string::npos);
  // The rendered config is itself valid input.
  Config again;
  ASSERT_TRUE(applyToml(again, text, "rendered"));
  std::filesystem::remove(path);
}

TEST(Config, SplitHostPort) {
  auto v4 = splitHostPort("127.0.0.1:0");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->first, "127.0.0.1");
  EXPECT_EQ(v4->second, 0);
  auto v6 = splitHostPort("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->first, "::1");
  EXPECT_FALSE(splitHostPort("127.0.0.1:99999"));
}

}  // namespace
}  // namespace hubgate::config

namespace hubgate::config {
namespace {

TEST(Config, AccessSectionCredentialsAndAdminKey) {
  auto dir = std::filesystem::temp_directory_path() / ("hubgate-access-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto meta = dir / "meta.token";
  auto admin = dir / "admin.key";
  std::ofstream(meta) << "hf_meta_secret\n";
  std::ofstream(admin) << "admin-secret-0123456789\n";
  ::chmod(meta.c_str(), 0600);
  ::chmod(admin.c_str(), 0600);
  Config c;
  ASSERT_TRUE(applyToml(c,
                        "[access]\nrequire_key = true\nentitlement_ttl = \"2m\"\noffline_grace = "
                        "\"2h\"\nadmin_key_file = \"" + admin.string() +
                            "\"\n[credentials]\nmeta = \"" + meta.string() + "\"\n",
                        "a.toml"));
  std::map<std::string, std::string> env = {
      {"HUBGATE_CREDENTIALS", "other=" + meta.string()}};
  ASSERT_TRUE(applyEnv(c, [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  }));
  ASSERT_TRUE(finalize(c));
  EXPECT_TRUE(c.require_key);
  EXPECT_EQ(c.entitlement_ttl, std::chrono::minutes(2));
  EXPECT_EQ(c.offline_grace, std::chrono::hours(2));
  EXPECT_EQ(c.admin_key, "admin-secret-0123456789");
  ASSERT_EQ(c.credential_tokens.size(), 2u);
  EXPECT_EQ(c.credential_tokens[0].first, "meta");
  EXPECT_EQ(c.credential_tokens[0].second, "hf_meta_secret");
  // Secrets never appear in the rendered configuration.
  std::string text = render(c);
  EXPECT_EQ(text.find("hf_meta_secret"), std::string::npos);
  EXPECT_EQ(text.find("admin-secret"), std::string::npos);
  EXPECT_NE(text.find("meta = "), std::string::npos);
  // A readable credential file is refused with the reason.
  ::chmod(meta.c_str(), 0644);
  auto open = finalize(c);
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().context.find("credentials.meta"), std::string::npos);
  EXPECT_NE(open.error().context.find("chmod 600"), std::string::npos);
  // Bad names and short admin keys are refused.
  Config bad;
  EXPECT_FALSE(applyToml(bad, "[credentials]\n\"bad name\" = \"x\"\n", "b.toml"));
  Config shortkey;
  shortkey.admin_key = "short";
  EXPECT_FALSE(finalize(shortkey));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hubgate::config
