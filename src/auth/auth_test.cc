#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>

#include "auth/authenticator.h"
#include "auth/entitlements.h"
#include "base/glob.h"
#include "auth/key_store.h"

namespace hubgate::auth {
namespace {

TEST(Glob, MatchesRepoIds) {
  struct Case {
    const char* pattern;
    const char* repo;
    bool match;
  } cases[] = {
      {"meta-llama/*", "meta-llama/Llama-3-8B", true},
      {"meta-llama/*", "meta-llama-x/Llama", false},
      {"meta-llama/*", "other/meta-llama", false},
      {"*/Llama-3*", "meta-llama/Llama-3-8B", true},
      {"*", "gpt2", true},
      {"org/exact", "org/exact", true},
      {"org/exact", "org/exactly", false},
      {"org/exac?", "org/exact", true},
      {"Org/*", "org/x", false},  // case-sensitive like repo ids
      {"a*b*c", "axxbyyc", true},
      {"a*b*c", "axxbyy", false},
      {"*", "*b", true},  // a '*' in the text is an ordinary character (found by auth_fuzz)
      {"a*", "a*x", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(globMatch(c.pattern, c.repo), c.match) << c.pattern << " vs " << c.repo;
  }
  EXPECT_FALSE(validateGlob(""));
  EXPECT_FALSE(validateGlob("a\nb"));
  EXPECT_TRUE(validateGlob("org/*"));
}

struct Fixture : ::testing::Test {
  void SetUp() override {
    auto idx = cache::Index::open(":memory:");
    ASSERT_TRUE(idx);
    index = std::move(*idx);
  }
  std::unique_ptr<cache::Index> index;
};

using KeyStoreTest = Fixture;

TEST_F(KeyStoreTest, CreateVerifyRevokeAndOnlyDigestsAreStored) {
  KeyStore keys(*index);
  auto made = keys.create("ci", "meta", {"meta-llama/*"}, {"meta-llama/secret*"});
  ASSERT_TRUE(made);
  EXPECT_TRUE(made->key.starts_with("hgk_" + made->record.id + "_"));
  EXPECT_EQ(made->key.size(), 4u + 12 + 1 + 48);
  auto ok = keys.verify(made->key);
  ASSERT_TRUE(ok && *ok);
  EXPECT_EQ((*ok)->name, "ci");
  EXPECT_EQ((*ok)->credential, "meta");
  EXPECT_TRUE(repoAllowed(**ok, "meta-llama/Llama-3"));
  EXPECT_FALSE(repoAllowed(**ok, "meta-llama/secret-model"));  // deny wins
  EXPECT_FALSE(repoAllowed(**ok, "other/model"));              // not in allow
  // Stored rows hold the digest, never the key or its secret part.
  auto all = keys.list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  std::string secret = made->key.substr(made->key.rfind('_') + 1);
  EXPECT_EQ((*all)[0].digest.find(secret), std::string::npos);
  EXPECT_NE((*all)[0].digest, made->key);
  // A wrong secret with the right id, a malformed key, an unknown id: all refused.
  std::string wrong = made->key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto w = keys.verify(wrong);
  ASSERT_TRUE(w);
  EXPECT_FALSE(*w);
  EXPECT_FALSE(*keys.verify("hgk_short"));
  EXPECT_FALSE(*keys.verify("hgk_000000000000_" + std::string(48, '0')));
  EXPECT_FALSE(*keys.verify("hf_notagatewaykey"));
  // Revoked: refused from then on; revoking again is NotFound.
  ASSERT_TRUE(keys.revoke(made->record.id));
  EXPECT_FALSE(*keys.verify(made->key));
  auto again = keys.revoke(made->record.id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::NotFound);
}

TEST_F(KeyStoreTest, BadInputIsRefused) {
  KeyStore keys(*index);
  EXPECT_FALSE(keys.create("", "", {}, {}));
  EXPECT_FALSE(keys.create("ok", "", {""}, {}));
  EXPECT_FALSE(keys.create("bad\nname", "", {}, {}));
}

TEST(TokenSyntax, BearerAndKeyShape) {
  EXPECT_EQ(bearerToken("Bearer hf_abc"), "hf_abc");
  EXPECT_EQ(bearerToken("bearer   hf_abc  "), "hf_abc");
  EXPECT_EQ(bearerToken("BEARER x"), "x");
  EXPECT_EQ(bearerToken("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(bearerToken("Bearer"), "");
  const std::string key = "hgk_0123456789ab_" + std::string(48, 'f');
  EXPECT_EQ(gatewayKeyId(key), "0123456789ab");
  EXPECT_FALSE(gatewayKeyId("hgk_0123456789AB_" + std::string(48, 'f')));  // uppercase
  EXPECT_FALSE(gatewayKeyId("hgk_0123456789ab_" + std::string(47, 'f')));  // short
  EXPECT_FALSE(gatewayKeyId("hgk_0123456789ab-" + std::string(48, 'f')));  // separator
  EXPECT_FALSE(gatewayKeyId("hf_" + std::string(62, 'a')));
}

TEST(ConstantTime, Equality) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
}

struct EntitlementsTest : Fixture {
  std::int64_t now = 1'000'000;
  boost::asio::thread_pool pool{1};
  std::unique_ptr<Entitlements> make(std::chrono::milliseconds ttl, std::chrono::milliseconds grace) {
    return std::make_unique<Entitlements>(*index, pool, ttl, grace, [this] { return now; });
  }
};

TEST_F(EntitlementsTest, FreshThenGraceThenNone) {
  auto e = make(std::chrono::seconds(10), std::chrono::seconds(60));
  const std::string s = "tok:abc";
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Files), Standing::None);
  e->grant(s, "model", "org/p", Need::Files);
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Files), Standing::Fresh);
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Metadata), Standing::Fresh);
  EXPECT_EQ(e->standing("tok:other", "model", "org/p", Need::Files), Standing::None);
  EXPECT_EQ(e->standing(s, "dataset", "org/p", Need::Files), Standing::None);
  now += 10'000;
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Files), Standing::Grace);
  now += 59'999;
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Files), Standing::Grace);
  now += 1;
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Files), Standing::None);
}

TEST_F(EntitlementsTest, AnonymousPublicConfirmationNeverExpiresForOutages) {
  auto e = make(std::chrono::seconds(10), std::chrono::seconds(0));
  e->grant(std::string(kAnonScope), "model", "org/pub", Need::Files);
  now += 365LL * 24 * 3600 * 1000;
  EXPECT_EQ(e->standing(std::string(kAnonScope), "model", "org/pub", Need::Files), Standing::Grace);
}

TEST_F(EntitlementsTest, MetadataDoesNotCoverFilesAndDenyDropsAtOnce) {
  auto e = make(std::chrono::seconds(10), std::chrono::seconds(60));
  const std::string s = "tok:abc";
  e->grant(s, "model", "org/gated", Need::Metadata);
  EXPECT_EQ(e->standing(s, "model", "org/gated", Need::Metadata), Standing::Fresh);
  EXPECT_EQ(e->standing(s, "model", "org/gated", Need::Files), Standing::None);
  e->grant(s, "model", "org/gated", Need::Files);
  EXPECT_EQ(e->standing(s, "model", "org/gated", Need::Files), Standing::Fresh);
  e->deny(s, "model", "org/gated");
  EXPECT_EQ(e->standing(s, "model", "org/gated", Need::Files), Standing::None);
  EXPECT_EQ(e->standing(s, "model", "org/gated", Need::Metadata), Standing::None);
}

TEST_F(EntitlementsTest, LaterMetadataConfirmationKeepsTheFilesGrace) {
  // Found by tests/integration/access.test.mjs: a repo-info answer after a download used to
  // overwrite the files confirmation, losing its offline grace.
  auto e = make(std::chrono::seconds(10), std::chrono::hours(1));
  const std::string s = "tok:abc";
  e->grant(s, "model", "org/p", Need::Files);
  now += 20'000;  // files confirmation past its TTL, inside its grace
  e->grant(s, "model", "org/p", Need::Metadata);
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Files), Standing::Grace);
  EXPECT_EQ(e->standing(s, "model", "org/p", Need::Metadata), Standing::Fresh);
  pool.join();
  boost::asio::thread_pool pool2{1};
  Entitlements again(*index, pool2, std::chrono::seconds(10), std::chrono::hours(1),
                     [this] { return now; });
  EXPECT_EQ(again.standing(s, "model", "org/p", Need::Files), Standing::Grace);
  EXPECT_EQ(again.standing(s, "model", "org/p", Need::Metadata), Standing::Fresh);
}

TEST_F(EntitlementsTest, TtlZeroIsNeverFresh) {
  auto e = make(std::chrono::milliseconds(0), std::chrono::seconds(60));
  e->grant("tok:abc", "model", "org/p", Need::Files);
  EXPECT_EQ(e->standing("tok:abc", "model", "org/p", Need::Files), Standing::Grace);
}

TEST_F(EntitlementsTest, PersistedAcrossInstancesAndDenialPersists) {
  const std::string s = "tok:abc";
  {
    auto e = make(std::chrono::seconds(10), std::chrono::seconds(60));
    e->grant(s, "model", "org/p", Need::Files);
    e->grant(s, "model", "org/q", Need::Files);
    e->deny(s, "model", "org/q");
    pool.join();  // the strand's writes have landed
  }
  boost::asio::thread_pool pool2{1};
  Entitlements again(*index, pool2, std::chrono::seconds(10), std::chrono::seconds(60),
                     [this] { return now; });
  EXPECT_EQ(again.standing(s, "model", "org/p", Need::Files), Standing::Fresh);
  EXPECT_EQ(again.standing(s, "model", "org/q", Need::Files), Standing::None);
  // A denial of a memo this instance never loaded still removes the stored one.
  again.deny(s, "model", "org/never-loaded");
  pool2.join();
  auto row = index->findEntitlement(s, "model", "org/p");
  ASSERT_TRUE(row && *row);
}

struct AuthenticatorTest : Fixture {
  std::unique_ptr<KeyStore> keys;
  void SetUp() override {
    Fixture::SetUp();
    keys = std::make_unique<KeyStore>(*index);
  }
};

TEST_F(AuthenticatorTest, IdentifiesAnonymousTokensAndKeys) {
  AccessConfig ac;
  ac.credentials = {{"meta", "hf_meta_token"}};
  ac.admin_key = "admin-key-0123456789";
  Authenticator auth(ac, *keys);
  auto anon = std::get<Caller>(auth.identify(""));
  EXPECT_EQ(anon.upstream_auth, "");
  EXPECT_EQ(anon.scope, "anon");
  EXPECT_EQ(anon.label, "anon");
  auto tok = std::get<Caller>(auth.identify("Bearer hf_user"));
  EXPECT_EQ(tok.upstream_auth, "Bearer hf_user");
  EXPECT_EQ(tok.scope, scopeFor("Bearer hf_user"));
  EXPECT_EQ(tok.label.find("hf_user"), std::string::npos);
  auto made = keys->create("ci", "meta", {"org/*"}, {});
  ASSERT_TRUE(made);
  auto key = std::get<Caller>(auth.identify("Bearer " + made->key));
  EXPECT_EQ(key.upstream_auth, "Bearer hf_meta_token");  // the key itself never goes upstream
  EXPECT_EQ(key.label, "key:" + made->record.id);
  EXPECT_TRUE(key.mayAccess("org/model"));
  EXPECT_FALSE(key.mayAccess("other/model"));
  auto anon_key = keys->create("anon", "", {}, {});
  auto ak = std::get<Caller>(auth.identify("bearer " + anon_key->key));
  EXPECT_EQ(ak.upstream_auth, "");
  auto bad = std::get<Denial>(auth.identify("Bearer hgk_000000000000_" + std::string(48, 'a')));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.code, "InvalidGatewayKey");
}

TEST_F(AuthenticatorTest, DefaultTokenRequireKeyAndAdmin) {
  AccessConfig ac;
  ac.default_token = "hf_gateway";
  Authenticator open(ac, *keys);
  EXPECT_EQ(std::get<Caller>(open.identify("")).upstream_auth, "Bearer hf_gateway");
  auto d = open.checkAdmin("Bearer anything");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->code, "AdminDisabled");

  ac.require_key = true;
  ac.admin_key = "admin-key-0123456789";
  Authenticator strict(ac, *keys);
  EXPECT_EQ(std::get<Denial>(strict.identify("")).code, "GatewayKeyRequired");
  EXPECT_EQ(std::get<Denial>(strict.identify("Bearer hf_user")).code, "GatewayKeyRequired");
  auto made = keys->create("ci", "", {}, {});
  EXPECT_TRUE(std::holds_alternative<Caller>(strict.identify("Bearer " + made->key)));
  EXPECT_FALSE(strict.checkAdmin("Bearer admin-key-0123456789"));
  EXPECT_EQ(strict.checkAdmin("Bearer admin-key-012345678X")->code, "InvalidAdminKey");
  EXPECT_EQ(strict.checkAdmin("")->code, "AdminKeyRequired");

  // A key mapped to a credential the gateway no longer has: a clear server-side error.
  auto orphan = keys->create("old", "gone", {}, {});
  EXPECT_EQ(std::get<Denial>(strict.identify("Bearer " + orphan->key)).code,
            "CredentialNotConfigured");
}

}  // namespace
}  // namespace hubgate::auth
