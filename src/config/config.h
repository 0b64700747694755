// Gateway configuration: one struct, filled from (lowest to highest precedence) built-in
// defaults, a TOML file (--config / HUBGATE_CONFIG), HUBGATE_* environment variables and
// command-line flags, then validated as a whole before anything starts.
//
// Pure data + parsing; no I/O other than reading the config and token files.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace hubgate::config {

struct Config {
  // [server]
  std::string listen = "127.0.0.1:8080";
  int threads = 0;                 // 0 = number of cores
  std::string delivery = "buffered";  // "buffered" | "sendfile" (see docs/benchmarks.md)
  std::size_t max_header_bytes = 32 * 1024;
  // SIGTERM/SIGINT: how long responses in progress may run before their connections are cut.
  std::chrono::milliseconds drain_timeout{30'000};
  // [upstream]
  std::string upstream = "https://huggingface.co";
  std::string upstream_token;       // never logged; from HUBGATE_UPSTREAM_TOKEN or token_file
  std::string upstream_token_file;
  std::vector<std::string> redirect_allow_hosts = {
      "cdn-lfs.huggingface.co", "*.cdn-lfs.huggingface.co", "cdn-lfs.hf.co", "*.hf.co",
      "cas-bridge.xethub.hf.co", "*.xethub.hf.co"};
  int max_redirects = 5;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds first_byte_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::string ca_file;
  bool offline = false;  // never contact upstream; serve what is cached
  // Redirect targets other than the upstream's own host may not resolve to loopback, private,
  // link-local or otherwise non-public addresses unless this is set (SSRF hardening).
  bool allow_private_addresses = false;
  // [hub]
  std::chrono::milliseconds revision_ttl{30'000};   // branch/tag -> commit reuse window
  std::chrono::milliseconds negative_ttl{300'000};  // 404 EntryNotFound at a commit
  std::string writes = "deny";                      // "deny" | "passthrough"
  // [access] (docs/access_control.md)
  bool require_key = false;  // every request needs a gateway key (Authorization: Bearer hgk_...)
  std::chrono::milliseconds entitlement_ttl{600'000};  // a confirmed (caller, repo) is reused this long
  std::chrono::milliseconds offline_grace{3'600'000};  // ... plus this long while the Hub is unreachable
  std::string admin_key;       // never logged; from HUBGATE_ADMIN_KEY or admin_key_file
  std::string admin_key_file;
  std::string admin_listen;    // "" = /admin on the main listener; else only on this address
  bool metrics_require_admin = false;
  // [credentials]: named upstream tokens that gateway keys map to, name -> token file (mode 600).
  // The tokens themselves are read by finalize() into `credential_tokens`.
  std::vector<std::pair<std::string, std::string>> credential_files;
  std::vector<std::pair<std::string, std::string>> credential_tokens;  // never logged
  // [scan] (docs/scanning.md)
  std::string scan_mode = "enforce";  // "enforce" | "audit" | "off"
  std::string scan_on_suspicious = "block";  // "block" | "warn" | "allow"
  std::string scan_on_invalid = "block";
  std::string scan_on_error = "block";
  std::string scan_on_malicious = "block";
  // Files served uncached because they do not fit the cache (never scanned): allow|warn|block.
  std::string scan_on_unscanned = "warn";
  std::string scan_denylist;    // sha256 denylist file ("<sha256> <label>" or ClamAV .hsb lines)
  std::string scan_yara_rules;  // YARA rules file
  std::string scan_clamav_db;   // directory of custom ClamAV signatures (.hdb/.hsb/.ndb)
  std::vector<std::string> scan_profiles;  // extra pickle allowlist profiles: hf-training, sklearn
  // [policy]
  std::vector<std::string> proxy_allow, proxy_deny;  // repo globs
  std::vector<std::string> cache_allow, cache_deny;
  std::vector<std::string> overrides;  // "repo_glob=rule"
  std::vector<std::string> license_allow;  // repo card licenses allowed; empty = no check
  // [audit]
  std::string audit_path;  // "" = <cache.dir>/audit.jsonl; "off" = no audit log
  // [cache]
  std::string cache_dir = "./hubgate-cache";
  std::uint64_t cache_max_bytes = 0;          // quota for published blobs; 0 = no quota
  std::uint64_t cache_min_free_bytes = 1ull << 30;  // free-disk reserve (absolute)
  double cache_min_free_percent = 0;          // free-disk reserve (share of the filesystem)
  std::chrono::milliseconds eviction_interval{5000};  // background eviction pass period
  // [prefetch]
  std::chrono::milliseconds prefetch_retry_backoff{2000};  // first retry delay, doubled each time
  int prefetch_max_attempts = 4;                           // per file
  // [log]
  std::string log_level = "info";
  std::string log_access = "json";  // access log: "json" | "clf" | "off" (docs/observability.md)
  std::string log_access_path;      // "" = standard output
};

// Splits "host:port" ("[::1]:8080" for IPv6). InvalidArgument on bad input.
Result<std::pair<std::string, unsigned short>> splitHostPort(const std::string& listen);

// Applies a TOML document (text) onto `config`. InvalidArgument names the bad key.
Result<void> applyToml(Config& config, const std::string& toml_text, const std::string& origin);
// Applies HUBGATE_* variables from `getenv`-like lookup.
Result<void> applyEnv(Config& config, const std::function<const char*(const char*)>& getenv_fn);
// Reads upstream_token_file (must not be group/world readable) when set; validates everything.
Result<void> finalize(Config& config);
// Effective configuration as TOML, secrets masked.
std::string render(const Config& config);

}  // namespace hubgate::config
