#include "policy/policy.h"

#include <gtest/gtest.h>

namespace hubgate::policy {
namespace {

TEST(Policy, DefaultBlocksEverythingNotClean) {
  ScanPolicy p;
  EXPECT_EQ(decide(p, "clean", {}, "org/m").action, Action::Allow);
  for (const char* v : {"suspicious", "invalid", "error", "malicious", "bogus"}) {
    EXPECT_EQ(decide(p, v, {}, "org/m").action, Action::Block) << v;
  }
  // Not scanned (scanner off): allowed, reported as such.
  auto d = decide(p, "", {}, "org/m");
  EXPECT_EQ(d.action, Action::Allow);
  EXPECT_EQ(d.effective_verdict, "unscanned");
}

TEST(Policy, ActionsPerVerdictAndAuditMode) {
  ScanPolicy p;
  p.on_suspicious = Action::Warn;
  EXPECT_EQ(decide(p, "suspicious", {{"suspicious", "pickle.global.unknown"}}, "o/m").action,
            Action::Warn);
  p.mode = Mode::Audit;
  auto d = decide(p, "malicious", {{"malicious", "pickle.global.denylisted"}}, "o/m");
  EXPECT_EQ(d.action, Action::Warn);
  EXPECT_TRUE(d.would_block);
  p.mode = Mode::Off;
  EXPECT_EQ(decide(p, "malicious", {{"malicious", "x"}}, "o/m").action, Action::Allow);
}

TEST(Policy, OverridesSetAsideOneRuleForMatchingReposOnly) {
  ScanPolicy p;
  p.overrides.push_back(*parseOverride("org/trainer-*=pickle.global.unknown"));
  std::vector<FindingRef> f = {{"suspicious", "pickle.global.unknown"}};
  auto allowed = decide(p, "suspicious", f, "org/trainer-1");
  EXPECT_EQ(allowed.action, Action::Allow);
  EXPECT_EQ(allowed.effective_verdict, "clean");
  ASSERT_EQ(allowed.overridden.size(), 1u);
  EXPECT_EQ(decide(p, "suspicious", f, "org/other").action, Action::Block);
  // An override of one rule never hides another, more severe finding.
  f.push_back({"malicious", "pickle.global.denylisted"});
  auto still = decide(p, "malicious", f, "org/trainer-1");
  EXPECT_EQ(still.action, Action::Block);
  EXPECT_EQ(still.effective_verdict, "malicious");
  EXPECT_FALSE(parseOverride("no-equals"));
  EXPECT_FALSE(parseOverride("=rule"));
}

TEST(Policy, ProxyAndCacheGlobs) {
  ScanPolicy p;
  EXPECT_TRUE(mayProxy(p, "any/repo"));
  p.proxy_deny = {"evil/*"};
  EXPECT_FALSE(mayProxy(p, "evil/model"));
  EXPECT_TRUE(mayProxy(p, "good/model"));
  p.proxy_allow = {"good/*"};
  EXPECT_FALSE(mayProxy(p, "other/model"));
  p.cache_deny = {"huge/*"};
  EXPECT_FALSE(mayCache(p, "huge/x"));
  EXPECT_TRUE(mayCache(p, "good/x"));
  EXPECT_TRUE(licenseAllowed(p, {}));  // no allowlist: no check
  p.license_allow = {"apache-2.0", "MIT"};
  EXPECT_TRUE(licenseAllowed(p, {"Apache-2.0"}));
  EXPECT_TRUE(licenseAllowed(p, {"other", "mit"}));
  EXPECT_FALSE(licenseAllowed(p, {"cc-by-nc-4.0"}));
  EXPECT_FALSE(licenseAllowed(p, {}));  // a card without a license is not on the list
  ScanPolicy q = p;
  EXPECT_EQ(p.version(), q.version());
  q.on_suspicious = Action::Warn;
  EXPECT_NE(p.version(), q.version());
}

}  // namespace
}  // namespace hubgate::policy
