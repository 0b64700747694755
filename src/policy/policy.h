// Policy: pure decisions about what the gateway does with a repo and with a scanned file
// (scanning.md §9; docs/scanning.md). No I/O; depends only on base.
//
//   mayProxy(repo)  repo allow/deny globs for proxying at all (deny wins; empty allow = all)
//   mayCache(repo)  the same for keeping content in the cache
//   decide(...)     a scan verdict + findings -> allow / warn / block, for one repo:
//     1. findings whose rule a per-repo override names are set aside (reported as overridden);
//     2. the effective verdict is the most severe remaining finding (the stored verdict when
//        there are no findings);
//     3. the action configured for that verdict applies; mode `audit` never blocks (a block
//        becomes a warn marked "would-block"); mode `off` allows everything unscanned.
//
// Thread-safety: immutable values; all functions are pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hubgate::policy {

enum class Mode { Enforce, Audit, Off };
enum class Action { Allow, Warn, Block };
std::string_view actionName(Action a);  // "allow" | "warn" | "block"
Result<Mode> parseMode(std::string_view s);
Result<Action> parseAction(std::string_view s);

struct Override {
  std::string repo_glob;  // "org/*"
  std::string rule;       // finding rule id ("pickle.global.unknown"), or "*" for every finding
};

struct ScanPolicy {
  Mode mode = Mode::Enforce;
  // Default deny (scanning.md §3.1): anything not proven clean is blocked unless configured.
  Action on_suspicious = Action::Block;
  Action on_invalid = Action::Block;
  Action on_error = Action::Block;
  Action on_malicious = Action::Block;
  // A file streamed without caching (it does not fit the cache) is never scanned: this decides
  // whether such a file may still be served.
  Action on_unscanned = Action::Warn;
  std::vector<Override> overrides;
  std::vector<std::string> proxy_allow, proxy_deny;
  std::vector<std::string> cache_allow, cache_deny;
  // Licenses (the repo card's `license`, e.g. "apache-2.0") a repo must have one of to be
  // served; empty = no license check. Compared case-insensitively.
  std::vector<std::string> license_allow;

  // A short digest of everything above, stamped on audit records.
  std::string version() const;
};

struct FindingRef {
  std::string severity;  // verdict name of the finding
  std::string rule;
};

struct Decision {
  Action action = Action::Allow;
  std::string effective_verdict;        // after overrides
  bool would_block = false;             // audit mode: enforce would have blocked
  std::vector<std::string> overridden;  // rules set aside by overrides for this repo
};

bool mayProxy(const ScanPolicy& p, std::string_view repo);
bool mayCache(const ScanPolicy& p, std::string_view repo);
// Whether a repo whose card declares `licenses` may be served (true when no allowlist is set;
// false when the card declares none).
bool licenseAllowed(const ScanPolicy& p, const std::vector<std::string>& licenses);
// `verdict`: "clean" | "suspicious" | "invalid" | "error" | "malicious" ("" = not scanned).
Decision decide(const ScanPolicy& p, std::string_view verdict,
                const std::vector<FindingRef>& findings, std::string_view repo);
// The decision for a file served uncached, hence unscanned (effective verdict "unscanned").
Decision decideUnscanned(const ScanPolicy& p);
// "org/*=pickle.global.unknown" -> Override. InvalidArgument on a bad form or glob.
Result<Override> parseOverride(std::string_view text);

}  // namespace hubgate::policy
