// hubgate command line: `serve`, `config check`, `keys add|list|revoke`, `cache ...`, `scan`,
// `version`.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/gateway.h"
#include "auth/key_store.h"
#include "cache/blob_store.h"
#include "cache/index.h"
#include "cli/cache_command.h"
#include "cli/scan_command.h"
#include "config/config.h"

namespace {

using hubgate::config::Config;

// Flags are bound to strings so that "given on the command line" is distinguishable from
// "left at its default": precedence is flag > HUBGATE_* env > TOML file > built-in default.
struct Flags {
  std::string config_file;
  std::string listen, upstream, cache_dir, token_file, log_level, delivery, allow_hosts;
  std::string connect_timeout, first_byte_timeout, idle_timeout, ca_file;
  std::string revision_ttl, negative_ttl, writes, drain_timeout;
  bool offline = false;
  int threads = -1;
};

void addConfigFlags(CLI::App* cmd, Flags& f) {
  cmd->add_option("--config", f.config_file, "TOML config file (also HUBGATE_CONFIG)");
  cmd->add_option("--listen", f.listen, "address:port to serve on (default 127.0.0.1:8080)");
  cmd->add_option("--upstream", f.upstream, "Hub URL (default https://huggingface.co)");
  cmd->add_option("--cache-dir", f.cache_dir, "cache directory (default ./hubgate-cache)");
  cmd->add_option("--upstream-token-file", f.token_file,
                  "file holding the upstream token (mode 600); or HUBGATE_UPSTREAM_TOKEN");
  cmd->add_option("--redirect-allow-hosts", f.allow_hosts,
                  "comma-separated https hosts upstream may redirect to (*.example.com allowed)");
  cmd->add_option("--connect-timeout", f.connect_timeout, "upstream connect timeout (e.g. 10s)");
  cmd->add_option("--first-byte-timeout", f.first_byte_timeout, "upstream first-byte timeout");
  cmd->add_option("--idle-timeout", f.idle_timeout, "upstream idle timeout between body bytes");
  cmd->add_option("--ca-file", f.ca_file, "extra CA bundle (PEM) for upstream TLS");
  cmd->add_option("--threads", f.threads, "I/O threads (0 = one per core)");
  cmd->add_option("--delivery", f.delivery, "cache-hit delivery: buffered | sendfile");
  cmd->add_option("--log-level", f.log_level, "trace|debug|info|warn|error|off");
  cmd->add_flag("--offline", f.offline, "never contact upstream; serve only what is cached");
  cmd->add_option("--revision-ttl", f.revision_ttl, "how long a branch/tag -> commit answer is reused");
  cmd->add_option("--negative-ttl", f.negative_ttl, "how long a 404 EntryNotFound at a commit is cached");
  cmd->add_option("--writes", f.writes, "write requests: deny (403) | passthrough");
  cmd->add_option("--drain-timeout", f.drain_timeout,
                  "on SIGTERM, how long responses in progress may finish (e.g. 30s)");
}

hubgate::Result<Config> loadConfig(const Flags& f) {
  Config c;
  std::string file = f.config_file;
  if (file.empty()) {
    if (const char* e = std::getenv("HUBGATE_CONFIG")) file = e;
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return hubgate::fail(hubgate::ErrorCode::InvalidArgument, "cannot read config file " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto r = hubgate::config::applyToml(c, ss.str(), file); !r) return std::unexpected(r.error());
  }
  if (auto r = hubgate::config::applyEnv(c, [](const char* n) { return std::getenv(n); }); !r) {
    return std::unexpected(r.error());
  }
  std::string toml;
  auto kv = [&](const char* section, const char* key, const std::string& v) {
    if (v.empty()) return;
    std::string q = "\"";
    for (char ch : v) {
      if (ch == '"' || ch == '\\') q.push_back('\\');
      q.push_back(ch);
    }
    toml += std::string("[") + section + "]\n" + key + " = " + q + "\"\n";
  };
  kv("server", "listen", f.listen);
  kv("server", "delivery", f.delivery);
  kv("server", "drain_timeout", f.drain_timeout);
  kv("upstream", "url", f.upstream);
  kv("upstream", "token_file", f.token_file);
  kv("upstream", "redirect_allow_hosts", f.allow_hosts);
  kv("upstream", "connect_timeout", f.connect_timeout);
  kv("upstream", "first_byte_timeout", f.first_byte_timeout);
  kv("upstream", "idle_timeout", f.idle_timeout);
  kv("upstream", "ca_file", f.ca_file);
  kv("cache", "dir", f.cache_dir);
  kv("hub", "revision_ttl", f.revision_ttl);
  kv("hub", "negative_ttl", f.negative_ttl);
  kv("hub", "writes", f.writes);
  if (f.offline) toml += "[upstream]\noffline = true\n";
  kv("log", "level", f.log_level);
  if (f.threads >= 0) toml += "[server]\nthreads = " + std::to_string(f.threads) + "\n";
  // Flags reuse the TOML path (one validator) but may repeat a section: apply one at a time.
  std::size_t pos = 0;
  while (pos < toml.size()) {
    auto next = toml.find("\n[", pos);
    std::string part = toml.substr(pos, next == std::string::npos ? std::string::npos : next + 1 - pos);
    if (auto r = hubgate::config::applyToml(c, part, "command line"); !r) return std::unexpected(r.error());
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  if (auto r = hubgate::config::finalize(c); !r) return std::unexpected(r.error());
  return c;
}

struct KeyFlags {
  std::string name, credential, id;
  std::vector<std::string> allow, deny;
  bool json = false;
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

// `hubgate keys ...`: works on the cache directory's index directly (SQLite WAL lets it run
// beside a serving gateway, which sees a new or revoked key on its next request).
int runKeys(const std::string& action, const Flags& flags, const KeyFlags& kf) {
  auto c = loadConfig(flags);
  if (!c) {
    std::fprintf(stderr, "hubgate: invalid configuration: %s\n", c.error().context.c_str());
    return 2;
  }
  auto store = hubgate::cache::BlobStore::open(c->cache_dir);
  if (!store) {
    std::fprintf(stderr, "hubgate: cannot open cache: %s\n", store.error().context.c_str());
    return 1;
  }
  auto index = hubgate::cache::Index::open(store->indexPath().string());
  if (!index) {
    std::fprintf(stderr, "hubgate: cannot open index: %s\n", index.error().context.c_str());
    return 1;
  }
  hubgate::auth::KeyStore keys(**index);
  if (action == "add") {
    if (!kf.credential.empty()) {
      bool known = false;
      for (const auto& [n, t] : c->credential_tokens) known = known || n == kf.credential;
      if (!known) {
        std::fprintf(stderr, "hubgate: no credential named '%s' is configured ([credentials])\n",
                     kf.credential.c_str());
        return 2;
      }
    }
    auto made = keys.create(kf.name, kf.credential, kf.allow, kf.deny);
    if (!made) {
      std::fprintf(stderr, "hubgate: %s\n", made.error().context.c_str());
      return made.error().code == hubgate::ErrorCode::InvalidArgument ? 2 : 1;
    }
    // The key alone on stdout (for scripts); it is not stored and cannot be shown again.
    std::printf("%s\n", made->key.c_str());
    std::fprintf(stderr, "created key %s (%s); store it now, it cannot be shown again\n",
                 made->record.id.c_str(), made->record.name.c_str());
    return 0;
  }
  if (action == "list") {
    auto all = keys.list();
    if (!all) {
      std::fprintf(stderr, "hubgate: %s\n", all.error().context.c_str());
      return 1;
    }
    if (kf.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& k : *all) out.push_back(hubgate::auth::keyToJson(k));
      std::printf("%s\n", out.dump().c_str());
      return 0;
    }
    std::printf("%-12s  %-8s  %-20s  %-12s  %-24s  %s\n", "ID", "STATE", "NAME", "CREDENTIAL",
                "ALLOW", "DENY");
    for (const auto& k : *all) {
      std::printf("%-12s  %-8s  %-20s  %-12s  %-24s  %s\n", k.id.c_str(),
                  k.revoked_at ? "revoked" : "active", k.name.c_str(),
                  k.credential.empty() ? "(anonymous)" : k.credential.c_str(),
                  joined(k.allow).c_str(), joined(k.deny).c_str());
    }
    return 0;
  }
  auto done = keys.revoke(kf.id);
  if (!done) {
    std::fprintf(stderr, "hubgate: %s\n", done.error().context.c_str());
    return done.error().code == hubgate::ErrorCode::NotFound ? 2 : 1;
  }
  std::fprintf(stderr, "revoked key %s\n", kf.id.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A client that hangs up mid-body must cost one connection, not the process: sendfile(2) has
  // no MSG_NOSIGNAL, so SIGPIPE is ignored and the write fails with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  // Logs go to stderr; stdout carries only the "listening" line and command output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("hubgate"));
  CLI::App app{"hubgate: a pull-through cache and gateway for the Hugging Face Hub"};
  app.require_subcommand(1);
  Flags serve_flags;
  Flags check_flags;
  auto* serve = app.add_subcommand("serve", "run the gateway");
  addConfigFlags(serve, serve_flags);
  auto* cfg = app.add_subcommand("config", "configuration tools");
  auto* check = cfg->add_subcommand("check", "validate and print the effective configuration");
  cfg->require_subcommand(1);
  addConfigFlags(check, check_flags);
  Flags keys_flags;
  KeyFlags key_flags;
  auto* keys = app.add_subcommand("keys", "gateway API keys (stored as digests in the cache index)");
  keys->require_subcommand(1);
  auto* keys_add = keys->add_subcommand("add", "issue a key; prints it once on stdout");
  keys_add->add_option("--name", key_flags.name, "label for the key")->required();
  keys_add->add_option("--credential", key_flags.credential,
                       "named upstream credential ([credentials]); default: anonymous upstream");
  keys_add->add_option("--allow", key_flags.allow, "repo glob the key may read (repeatable)");
  keys_add->add_option("--deny", key_flags.deny, "repo glob the key may not read (repeatable)");
  addConfigFlags(keys_add, keys_flags);
  auto* keys_list = keys->add_subcommand("list", "list keys (no secrets)");
  keys_list->add_flag("--json", key_flags.json, "JSON output");
  addConfigFlags(keys_list, keys_flags);
  auto* keys_revoke = keys->add_subcommand("revoke", "revoke a key by id");
  keys_revoke->add_option("id", key_flags.id, "key id (from keys list)")->required();
  addConfigFlags(keys_revoke, keys_flags);
  hubgate::cli::ScanCommandArgs scan_args;
  auto* scan = app.add_subcommand(
      "scan", "scan model files or directories (pickle, PyTorch, NumPy, joblib, safetensors, GGUF); "
              "exit 0 = all clean, 1 = something is not, 2 = usage error");
  scan->add_flag("--json", scan_args.json, "one JSON object per file");
  scan->add_option("--denylist", scan_args.denylist, "sha256 denylist file");
  scan->add_option("--yara", scan_args.yara, "YARA rules");
  scan->add_option("--clamav", scan_args.clamav, "directory of custom ClamAV signatures");
  scan->add_option("--profile", scan_args.profiles, "extra pickle allowlist profile (hf-training, sklearn)");
  scan->add_option("paths", scan_args.paths, "files or directories")->required();
  // `cache ...`: through a running gateway's admin API (cli/cache_command.h).
  hubgate::cli::CacheCommandArgs cache_args;
  Flags cache_flags;
  std::string cache_key_file;
  auto* cache = app.add_subcommand("cache", "inspect and manage a running gateway's cache (admin API)");
  cache->require_subcommand(1);
  cache->fallthrough();
  cache->add_option("--url", cache_args.url,
                    "admin base URL (default: HUBGATE_ADMIN_URL, else access.admin_listen or server.listen)");
  cache->add_option("--admin-key-file", cache_key_file,
                    "file holding the admin key (default: HUBGATE_ADMIN_KEY or access.admin_key_file)");
  cache->add_option("--config", cache_flags.config_file, "TOML config file (also HUBGATE_CONFIG)");
  cache->add_flag("--json", cache_args.json, "JSON output");
  auto repo_args = [&](CLI::App* c) {
    c->add_option("repo", cache_args.repo, "repo id, e.g. org/name")->required();
    c->add_option("--type", cache_args.type, "model | dataset | space (default model)")
        ->check(CLI::IsMember({"model", "dataset", "space"}));
  };
  std::vector<std::pair<std::string, CLI::App*>> cache_cmds;
  cache_cmds.emplace_back("ls", cache->add_subcommand("ls", "cached repos with their size"));
  cache_cmds.emplace_back("stats", cache->add_subcommand("stats", "cache size, quota, pins and disk"));
  auto* c_prefetch = cache->add_subcommand("prefetch", "download a repo into the cache and follow the job");
  repo_args(c_prefetch);
  c_prefetch->add_option("--revision", cache_args.revision, "branch, tag or commit (default main)");
  c_prefetch->add_option("--include", cache_args.include, "path glob to fetch (repeatable)");
  c_prefetch->add_option("--exclude", cache_args.exclude, "path glob to skip (repeatable)");
  c_prefetch->add_flag("--pin", cache_args.pin, "pin the repo too");
  c_prefetch->add_option("--credential", cache_args.credential, "named upstream credential");
  c_prefetch->add_flag("--no-wait", cache_args.no_wait, "print the job id and return");
  cache_cmds.emplace_back("prefetch", c_prefetch);
  auto* c_pin = cache->add_subcommand("pin", "never evict this repo's files");
  repo_args(c_pin);
  cache_cmds.emplace_back("pin", c_pin);
  auto* c_unpin = cache->add_subcommand("unpin", "make this repo's files evictable again");
  repo_args(c_unpin);
  cache_cmds.emplace_back("unpin", c_unpin);
  auto* c_rm = cache->add_subcommand("rm", "remove a repo's cached files (or one blob with --blob)");
  c_rm->add_option("repo", cache_args.repo, "repo id");
  c_rm->add_option("--type", cache_args.type, "model | dataset | space (default model)");
  c_rm->add_option("--blob", cache_args.blob, "a blob digest (sha256:<hex> or <hex>) instead of a repo");
  cache_cmds.emplace_back("rm", c_rm);
  auto* c_verify = cache->add_subcommand("verify", "rehash every blob; quarantine corrupted ones");
  c_verify->add_flag("--no-wait", cache_args.no_wait, "print the job id and return");
  cache_cmds.emplace_back("verify", c_verify);
  auto* c_gc = cache->add_subcommand("gc", "evict down to the limits now and remove orphan files");
  c_gc->add_flag("--no-wait", cache_args.no_wait, "print the job id and return");
  cache_cmds.emplace_back("gc", c_gc);
  cache_cmds.emplace_back("jobs", cache->add_subcommand("jobs", "recent jobs and their progress"));
  auto* c_cancel = cache->add_subcommand("cancel", "cancel a running job");
  c_cancel->add_option("id", cache_args.job_id, "job id")->required();
  cache_cmds.emplace_back("cancel", c_cancel);
  app.add_subcommand("version", "print the version")->callback([] { std::puts("hubgate 0.1.0"); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (scan->parsed()) return hubgate::cli::runScanCommand(scan_args, stdout, stderr);
  if (cache->parsed()) {
    for (const auto& [name, sub] : cache_cmds) {
      if (sub->parsed()) cache_args.command = name;
    }
    if (cache_args.command == "rm" && cache_args.repo.empty() == cache_args.blob.empty()) {
      std::fprintf(stderr, "hubgate cache rm: give a repo or --blob, not both\n");
      return 2;
    }
    // The admin URL and key: flags, then environment, then the gateway's own configuration.
    if (cache_args.url.empty()) {
      if (const char* e = std::getenv("HUBGATE_ADMIN_URL")) cache_args.url = e;
    }
    if (!cache_key_file.empty()) {
      std::ifstream in(cache_key_file);
      std::getline(in, cache_args.admin_key);
      if (cache_args.admin_key.empty()) {
        std::fprintf(stderr, "hubgate cache: cannot read an admin key from %s\n", cache_key_file.c_str());
        return 2;
      }
    }
    if (cache_args.url.empty() || cache_args.admin_key.empty()) {
      auto c = loadConfig(cache_flags);
      if (!c) {
        std::fprintf(stderr, "hubgate: invalid configuration: %s\n", c.error().context.c_str());
        return 2;
      }
      if (cache_args.url.empty()) {
        cache_args.url = "http://" + (c->admin_listen.empty() ? c->listen : c->admin_listen);
      }
      if (cache_args.admin_key.empty()) cache_args.admin_key = c->admin_key;
    }
    return hubgate::cli::runCacheCommand(cache_args, stdout, stderr);
  }
  if (keys_add->parsed()) return runKeys("add", keys_flags, key_flags);
  if (keys_list->parsed()) return runKeys("list", keys_flags, key_flags);
  if (keys_revoke->parsed()) return runKeys("revoke", keys_flags, key_flags);
  if (check->parsed()) {
    auto c = loadConfig(check_flags);
    if (!c) {
      std::fprintf(stderr, "hubgate: invalid configuration: %s\n", c.error().context.c_str());
      return 2;
    }
    std::fputs(hubgate::config::render(*c).c_str(), stdout);
    return 0;
  }
  if (serve->parsed()) {
    auto c = loadConfig(serve_flags);
    if (!c) {
      std::fprintf(stderr, "hubgate: invalid configuration: %s\n", c.error().context.c_str());
      return 2;
    }
    spdlog::set_level(spdlog::level::from_str(c->log_level));
    auto gw = hubgate::app::Gateway::create(*c);
    if (!gw) {
      std::fprintf(stderr, "hubgate: cannot start: %s\n", gw.error().context.c_str());
      return 1;
    }
    // SIGHUP reads the same sources again: the flags as parsed now, the file and env as they are
    // then.
    (*gw)->setConfigSource([flags = serve_flags] { return loadConfig(flags); });
    auto url = (*gw)->start();
    if (!url) {
      std::fprintf(stderr, "hubgate: cannot start: %s\n", url.error().context.c_str());
      return 1;
    }
    std::printf("hubgate listening on %s\n", url->c_str());
    if (!(*gw)->adminUrl().empty()) {
      std::printf("hubgate admin listening on %s\n", (*gw)->adminUrl().c_str());
    }
    std::fflush(stdout);
    spdlog::info("serving {} from upstream {}, cache {}", *url, c->upstream, c->cache_dir);
    (*gw)->run();
    return 0;
  }
  return 0;
}
