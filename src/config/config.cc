#include "config/config.h"

#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <limits>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace hubgate::config {
namespace {

Result<std::chrono::milliseconds> parseDuration(std::string_view key, std::string_view s) {
  // "250ms", "10s", "2m" or a bare number of seconds.
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n < 0) {
    return fail(ErrorCode::InvalidArgument,
                std::string(key) + ": expected a duration like 250ms, 10s or 2m, got '" +
                    std::string(s) + "'");
  }
  std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s" || unit.empty()) return std::chrono::milliseconds(n * 1000);
  if (unit == "m") return std::chrono::milliseconds(n * 60'000);
  if (unit == "h") return std::chrono::milliseconds(n * 3'600'000);
  return fail(ErrorCode::InvalidArgument, std::string(key) + ": unknown duration unit '" +
                                              std::string(unit) + "' (use ms, s, m or h)");
}

std::vector<std::string> splitList(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// One settable key: name in TOML ("section.key") and env (HUBGATE_KEY), and its setter.
struct Key {
  const char* toml;
  const char* env;
  std::function<Result<void>(Config&, const std::string&)> set;
};

Result<void> setInt(int& dst, std::string_view key, const std::string& v) {
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return fail(ErrorCode::InvalidArgument,
                std::string(key) + ": expected an integer, got '" + v + "'");
  }
  dst = n;
  return {};
}

// Setters for the three kinds of values.
std::function<Result<void>(Config&, const std::string&)> text(std::string Config::*field) {
  return [field](Config& c, const std::string& v) -> Result<void> {
    c.*field = v;
    return {};
  };
}

std::function<Result<void>(Config&, const std::string&)> integer(int Config::*field,
                                                                 const char* key) {
  return [field, key](Config& c, const std::string& v) { return setInt(c.*field, key, v); };
}

std::function<Result<void>(Config&, const std::string&)> duration(
    std::chrono::milliseconds Config::*field, const char* key) {
  return [field, key](Config& c, const std::string& v) -> Result<void> {
    auto d = parseDuration(key, v);
    if (!d) return std::unexpected(d.error());
    c.*field = *d;
    return {};
  };
}

// "200MiB", "10GB", "1048576" (bytes); binary (KiB, MiB, GiB, TiB) and decimal (KB, MB, GB, TB)
// units, case-insensitive, optional space; "K/M/G/T" alone are binary.
Result<std::uint64_t> parseSize(const std::string& key, const std::string& v) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
    if (n > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
      return fail(ErrorCode::InvalidArgument, key + ": '" + v + "' is too large");
    }
    n = n * 10 + static_cast<std::uint64_t>(v[i++] - '0');
  }
  if (i == 0) return fail(ErrorCode::InvalidArgument, key + ": expected a size like 200GiB, got '" + v + "'");
  while (i < v.size() && v[i] == ' ') ++i;
  std::string unit;
  for (; i < v.size(); ++i) unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(v[i]))));
  static const std::vector<std::pair<std::string, std::uint64_t>> kUnits = {
      {"", 1}, {"b", 1},
      {"k", 1ull << 10}, {"kib", 1ull << 10}, {"kb", 1000ull},
      {"m", 1ull << 20}, {"mib", 1ull << 20}, {"mb", 1000ull * 1000},
      {"g", 1ull << 30}, {"gib", 1ull << 30}, {"gb", 1000ull * 1000 * 1000},
      {"t", 1ull << 40}, {"tib", 1ull << 40}, {"tb", 1000ull * 1000 * 1000 * 1000}};
  for (const auto& [name, mult] : kUnits) {
    if (unit == name) {
      if (n > std::numeric_limits<std::uint64_t>::max() / mult) {
        return fail(ErrorCode::InvalidArgument, key + ": '" + v + "' is too large");
      }
      return n * mult;
    }
  }
  return fail(ErrorCode::InvalidArgument,
              key + ": unknown size unit in '" + v + "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
}

std::function<Result<void>(Config&, const std::string&)> boolean(bool Config::*field,
                                                                 const char* key) {
  return [field, key](Config& c, const std::string& v) -> Result<void> {
    if (v == "true" || v == "1") {
      c.*field = true;
    } else if (v == "false" || v == "0") {
      c.*field = false;
    } else {
      return fail(ErrorCode::InvalidArgument, std::string(key) + ": expected true or false");
    }
    return {};
  };
}

// "name=path,name2=path2" (env form) or one TOML key per name.
Result<void> addCredential(Config& c, const std::string& name, const std::string& file) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
          std::string::npos) {
    return fail(ErrorCode::InvalidArgument,
                "credentials: name '" + name + "' must be 1-64 letters, digits, '_' or '-'");
  }
  if (file.empty()) {
    return fail(ErrorCode::InvalidArgument, "credentials." + name + ": expected a token file path");
  }
  for (auto& [n, f] : c.credential_files) {
    if (n == name) {
      f = file;
      return {};
    }
  }
  c.credential_files.emplace_back(name, file);
  return {};
}

// Reads a secret from a file that only its owner may read. `key` names it in errors.
Result<std::string> readSecretFile(const std::string& key, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail(ErrorCode::InvalidArgument, key + ": cannot read '" + path + "'");
  }
  if ((st.st_mode & 077) != 0) {
    return fail(ErrorCode::InvalidArgument,
                key + ": '" + path + "' is readable by group or others; chmod 600 it");
  }
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty()) return fail(ErrorCode::InvalidArgument, key + ": file is empty");
  return secret;
}

std::function<Result<void>(Config&, const std::string&)> list(
    std::vector<std::string> Config::*field) {
  return [field](Config& c, const std::string& v) -> Result<void> {
    c.*field = splitList(v);
    return {};
  };
}

const std::vector<Key>& keys() {
  static const std::vector<Key> k = {
      {"server.listen", "HUBGATE_LISTEN", text(&Config::listen)},
      {"server.threads", "HUBGATE_THREADS", integer(&Config::threads, "server.threads")},
      {"server.delivery", "HUBGATE_DELIVERY", text(&Config::delivery)},
      {"server.drain_timeout", "HUBGATE_DRAIN_TIMEOUT",
       duration(&Config::drain_timeout, "server.drain_timeout")},
      {"upstream.url", "HUBGATE_UPSTREAM", text(&Config::upstream)},
      {"upstream.token", "HUBGATE_UPSTREAM_TOKEN", text(&Config::upstream_token)},
      {"upstream.token_file", "HUBGATE_UPSTREAM_TOKEN_FILE", text(&Config::upstream_token_file)},
      {"upstream.redirect_allow_hosts", "HUBGATE_REDIRECT_ALLOW_HOSTS",
       [](Config& c, const std::string& v) -> Result<void> {
         c.redirect_allow_hosts = splitList(v);
         return {};
       }},
      {"upstream.max_redirects", "HUBGATE_MAX_REDIRECTS",
       integer(&Config::max_redirects, "upstream.max_redirects")},
      {"upstream.connect_timeout", "HUBGATE_CONNECT_TIMEOUT",
       duration(&Config::connect_timeout, "upstream.connect_timeout")},
      {"upstream.first_byte_timeout", "HUBGATE_FIRST_BYTE_TIMEOUT",
       duration(&Config::first_byte_timeout, "upstream.first_byte_timeout")},
      {"upstream.idle_timeout", "HUBGATE_IDLE_TIMEOUT",
       duration(&Config::idle_timeout, "upstream.idle_timeout")},
      {"upstream.ca_file", "HUBGATE_CA_FILE", text(&Config::ca_file)},
      {"upstream.offline", "HUBGATE_OFFLINE", boolean(&Config::offline, "upstream.offline")},
      {"upstream.allow_private_addresses", "HUBGATE_ALLOW_PRIVATE_ADDRESSES",
       boolean(&Config::allow_private_addresses, "upstream.allow_private_addresses")},
      {"hub.revision_ttl", "HUBGATE_REVISION_TTL", duration(&Config::revision_ttl, "hub.revision_ttl")},
      {"hub.negative_ttl", "HUBGATE_NEGATIVE_TTL", duration(&Config::negative_ttl, "hub.negative_ttl")},
      {"hub.writes", "HUBGATE_WRITES", text(&Config::writes)},
      {"access.require_key", "HUBGATE_REQUIRE_KEY",
       boolean(&Config::require_key, "access.require_key")},
      {"access.entitlement_ttl", "HUBGATE_ENTITLEMENT_TTL",
       duration(&Config::entitlement_ttl, "access.entitlement_ttl")},
      {"access.offline_grace", "HUBGATE_OFFLINE_GRACE",
       duration(&Config::offline_grace, "access.offline_grace")},
      {"access.admin_key", "HUBGATE_ADMIN_KEY", text(&Config::admin_key)},
      {"access.admin_key_file", "HUBGATE_ADMIN_KEY_FILE", text(&Config::admin_key_file)},
      {"access.admin_listen", "HUBGATE_ADMIN_LISTEN", text(&Config::admin_listen)},
      {"access.metrics_require_admin", "HUBGATE_METRICS_REQUIRE_ADMIN",
       boolean(&Config::metrics_require_admin, "access.metrics_require_admin")},
      {"credentials", "HUBGATE_CREDENTIALS", [](Config& c, const std::string& v) -> Result<void> {
         // Env form: "name=/path/to/file,other=/path" (TOML uses one key per name).
         for (const auto& item : splitList(v)) {
           auto eq = item.find('=');
           if (eq == std::string::npos) {
             return fail(ErrorCode::InvalidArgument,
                         "credentials: expected name=token_file, got '" + item + "'");
           }
           if (auto r = addCredential(c, item.substr(0, eq), item.substr(eq + 1)); !r) return r;
         }
         return {};
       }},
      {"scan.mode", "HUBGATE_SCAN_MODE", text(&Config::scan_mode)},
      {"scan.on_suspicious", "HUBGATE_SCAN_ON_SUSPICIOUS", text(&Config::scan_on_suspicious)},
      {"scan.on_invalid", "HUBGATE_SCAN_ON_INVALID", text(&Config::scan_on_invalid)},
      {"scan.on_error", "HUBGATE_SCAN_ON_ERROR", text(&Config::scan_on_error)},
      {"scan.on_malicious", "HUBGATE_SCAN_ON_MALICIOUS", text(&Config::scan_on_malicious)},
      {"scan.on_unscanned", "HUBGATE_SCAN_ON_UNSCANNED", text(&Config::scan_on_unscanned)},
      {"scan.denylist", "HUBGATE_SCAN_DENYLIST", text(&Config::scan_denylist)},
      {"scan.yara_rules", "HUBGATE_SCAN_YARA_RULES", text(&Config::scan_yara_rules)},
      {"scan.clamav_db", "HUBGATE_SCAN_CLAMAV_DB", text(&Config::scan_clamav_db)},
      {"scan.profiles", "HUBGATE_SCAN_PROFILES", list(&Config::scan_profiles)},
      {"policy.proxy_allow", "HUBGATE_POLICY_PROXY_ALLOW", list(&Config::proxy_allow)},
      {"policy.proxy_deny", "HUBGATE_POLICY_PROXY_DENY", list(&Config::proxy_deny)},
      {"policy.cache_allow", "HUBGATE_POLICY_CACHE_ALLOW", list(&Config::cache_allow)},
      {"policy.cache_deny", "HUBGATE_POLICY_CACHE_DENY", list(&Config::cache_deny)},
      {"policy.overrides", "HUBGATE_POLICY_OVERRIDES", list(&Config::overrides)},
      {"policy.license_allow", "HUBGATE_POLICY_LICENSE_ALLOW", list(&Config::license_allow)},
      {"audit.path", "HUBGATE_AUDIT_PATH", text(&Config::audit_path)},
      {"cache.dir", "HUBGATE_CACHE_DIR", text(&Config::cache_dir)},
      {"cache.max_size", "HUBGATE_CACHE_MAX_SIZE", [](Config& c, const std::string& v) -> Result<void> {
         auto n = parseSize("cache.max_size", v);
         if (!n) return std::unexpected(n.error());
         c.cache_max_bytes = *n;
         return {};
       }},
      {"cache.min_free", "HUBGATE_CACHE_MIN_FREE", [](Config& c, const std::string& v) -> Result<void> {
         // An absolute size ("10GiB") or a share of the cache filesystem ("5%").
         if (!v.empty() && v.back() == '%') {
           double pct = 0;
           auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size() - 1, pct);
           if (ec != std::errc() || ptr != v.data() + v.size() - 1 || pct < 0 || pct > 90) {
             return fail(ErrorCode::InvalidArgument, "cache.min_free: expected 0%..90%, got '" + v + "'");
           }
           c.cache_min_free_percent = pct;
           c.cache_min_free_bytes = 0;
           return {};
         }
         auto n = parseSize("cache.min_free", v);
         if (!n) return std::unexpected(n.error());
         c.cache_min_free_bytes = *n;
         c.cache_min_free_percent = 0;
         return {};
       }},
      {"cache.eviction_interval", "HUBGATE_EVICTION_INTERVAL",
       duration(&Config::eviction_interval, "cache.eviction_interval")},
      {"prefetch.retry_backoff", "HUBGATE_PREFETCH_RETRY_BACKOFF",
       duration(&Config::prefetch_retry_backoff, "prefetch.retry_backoff")},
      {"prefetch.max_attempts", "HUBGATE_PREFETCH_MAX_ATTEMPTS",
       integer(&Config::prefetch_max_attempts, "prefetch.max_attempts")},
      {"log.level", "HUBGATE_LOG_LEVEL", text(&Config::log_level)},
      {"log.access", "HUBGATE_LOG_ACCESS", text(&Config::log_access)},
      {"log.access_path", "HUBGATE_LOG_ACCESS_PATH", text(&Config::log_access_path)},
  };
  return k;
}

std::string nodeToString(const toml::node& n) {
  if (auto s = n.value<std::string>()) return *s;
  if (auto i = n.value<std::int64_t>()) return std::to_string(*i);
  if (auto b = n.value<bool>()) return *b ? "true" : "false";
  if (const auto* arr = n.as_array()) {
    std::string out;
    for (const auto& e : *arr) {
      if (!out.empty()) out += ",";
      out += nodeToString(e);
    }
    return out;
  }
  return {};
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

Result<std::pair<std::string, unsigned short>> splitHostPort(const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return fail(ErrorCode::InvalidArgument, "listen: expected [addr]:port, got '" + listen + "'");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return fail(ErrorCode::InvalidArgument, "listen: expected host:port, got '" + listen + "'");
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535 || host.empty()) {
    return fail(ErrorCode::InvalidArgument, "listen: invalid address '" + listen + "'");
  }
  return std::pair{host, static_cast<unsigned short>(p)};
}

Result<void> applyToml(Config& config, const std::string& toml_text, const std::string& origin) {
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << origin << ": " << e.description() << " at line " << e.source().begin.line;
    return fail(ErrorCode::InvalidArgument, os.str());
  }
  // Reject unknown keys: a typo must not silently fall back to a default.
  for (const auto& [section, node] : tbl) {
    const auto* t = node.as_table();
    if (!t) {
      return fail(ErrorCode::InvalidArgument,
                  origin + ": unknown top-level key '" + std::string(section.str()) + "'");
    }
    if (section.str() == "credentials") {
      for (const auto& [name, value] : *t) {
        if (auto r = addCredential(config, std::string(name.str()), nodeToString(value)); !r) {
          return fail(ErrorCode::InvalidArgument, origin + ": " + r.error().context);
        }
      }
      continue;
    }
    for (const auto& [name, value] : *t) {
      std::string full = std::string(section.str()) + "." + std::string(name.str());
      const Key* key = nullptr;
      for (const auto& k : keys()) {
        if (full == k.toml) key = &k;
      }
      if (!key) return fail(ErrorCode::InvalidArgument, origin + ": unknown key '" + full + "'");
      if (auto r = key->set(config, nodeToString(value)); !r) {
        return fail(ErrorCode::InvalidArgument, origin + ": " + r.error().context);
      }
    }
  }
  return {};
}

Result<void> applyEnv(Config& config, const std::function<const char*(const char*)>& getenv_fn) {
  for (const auto& k : keys()) {
    if (const char* v = getenv_fn(k.env); v != nullptr && *v != '\0') {
      if (auto r = k.set(config, v); !r) {
        return fail(ErrorCode::InvalidArgument, std::string(k.env) + ": " + r.error().context);
      }
    }
  }
  return {};
}

Result<void> finalize(Config& c) {
  if (!c.upstream_token_file.empty()) {
    auto token = readSecretFile("upstream.token_file", c.upstream_token_file);
    if (!token) return std::unexpected(token.error());
    c.upstream_token = *token;
  }
  if (!c.admin_key_file.empty()) {
    auto key = readSecretFile("access.admin_key_file", c.admin_key_file);
    if (!key) return std::unexpected(key.error());
    c.admin_key = *key;
  }
  if (!c.admin_key.empty() && c.admin_key.size() < 16) {
    return fail(ErrorCode::InvalidArgument, "access.admin_key: must be at least 16 characters");
  }
  c.credential_tokens.clear();
  for (const auto& [name, file] : c.credential_files) {
    auto token = readSecretFile("credentials." + name, file);
    if (!token) return std::unexpected(token.error());
    c.credential_tokens.emplace_back(name, *token);
  }
  if (!c.admin_listen.empty()) {
    if (auto hp = splitHostPort(c.admin_listen); !hp) {
      return fail(ErrorCode::InvalidArgument, "access.admin_listen: " + hp.error().context);
    }
  }
  if (auto hp = splitHostPort(c.listen); !hp) return std::unexpected(hp.error());
  if (c.upstream.rfind("https://", 0) != 0 && c.upstream.rfind("http://", 0) != 0) {
    return fail(ErrorCode::InvalidArgument,
                "upstream.url: must start with https:// (or http:// for tests and internal "
                "parents), got '" + c.upstream + "'");
  }
  while (c.upstream.size() > 8 && c.upstream.back() == '/') c.upstream.pop_back();
  if (c.delivery != "buffered" && c.delivery != "sendfile") {
    return fail(ErrorCode::InvalidArgument,
                "server.delivery: expected 'buffered' or 'sendfile', got '" + c.delivery + "'");
  }
  if (c.writes != "deny" && c.writes != "passthrough") {
    return fail(ErrorCode::InvalidArgument,
                "hub.writes: expected 'deny' or 'passthrough', got '" + c.writes + "'");
  }
  if (c.threads < 0 || c.threads > 256) {
    return fail(ErrorCode::InvalidArgument, "server.threads: expected 0..256");
  }
  if (c.max_redirects < 1 || c.max_redirects > 20) {
    return fail(ErrorCode::InvalidArgument, "upstream.max_redirects: expected 1..20");
  }
  static const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), c.log_level) == kLevels.end()) {
    return fail(ErrorCode::InvalidArgument,
                "log.level: expected trace|debug|info|warn|error|off, got '" + c.log_level + "'");
  }
  if (c.log_access != "json" && c.log_access != "clf" && c.log_access != "off") {
    return fail(ErrorCode::InvalidArgument,
                "log.access: expected json, clf or off, got '" + c.log_access + "'");
  }
  if (c.cache_dir.empty()) return fail(ErrorCode::InvalidArgument, "cache.dir: must not be empty");
  if (c.eviction_interval < std::chrono::milliseconds(10)) {
    return fail(ErrorCode::InvalidArgument, "cache.eviction_interval: expected at least 10ms");
  }
  if (c.prefetch_max_attempts < 1 || c.prefetch_max_attempts > 100) {
    return fail(ErrorCode::InvalidArgument, "prefetch.max_attempts: expected 1..100");
  }
  if (c.scan_mode != "enforce" && c.scan_mode != "audit" && c.scan_mode != "off") {
    return fail(ErrorCode::InvalidArgument,
                "scan.mode: expected enforce, audit or off, got '" + c.scan_mode + "'");
  }
  for (auto [key, value] : {std::pair{"scan.on_suspicious", &c.scan_on_suspicious},
                            std::pair{"scan.on_invalid", &c.scan_on_invalid},
                            std::pair{"scan.on_error", &c.scan_on_error},
                            std::pair{"scan.on_malicious", &c.scan_on_malicious},
                            std::pair{"scan.on_unscanned", &c.scan_on_unscanned}}) {
    if (*value != "block" && *value != "warn" && *value != "allow") {
      return fail(ErrorCode::InvalidArgument,
                  std::string(key) + ": expected block, warn or allow, got '" + *value + "'");
    }
  }
  for (const auto& o : c.overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == o.size()) {
      return fail(ErrorCode::InvalidArgument,
                  "policy.overrides: expected repo_glob=rule, got '" + o + "'");
    }
  }
  return {};
}

static std::string quoteList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + quote(s);
  return out + "]";
}

std::string render(const Config& c) {
  auto ms = [](std::chrono::milliseconds d) { return quote(std::to_string(d.count()) + "ms"); };
  std::string hosts;
  for (const auto& h : c.redirect_allow_hosts) hosts += (hosts.empty() ? "" : ", ") + quote(h);
  std::ostringstream os;
  os << "[server]\n"
     << "listen = " << quote(c.listen) << "\n"
     << "threads = " << c.threads << "\n"
     << "delivery = " << quote(c.delivery) << "\n"
     << "drain_timeout = " << ms(c.drain_timeout) << "\n\n"
     << "[upstream]\n"
     << "url = " << quote(c.upstream) << "\n"
     << "token = " << quote(c.upstream_token.empty() ? "" : "***masked***") << "\n"
     << "token_file = " << quote(c.upstream_token_file) << "\n"
     << "redirect_allow_hosts = [" << hosts << "]\n"
     << "max_redirects = " << c.max_redirects << "\n"
     << "connect_timeout = " << ms(c.connect_timeout) << "\n"
     << "first_byte_timeout = " << ms(c.first_byte_timeout) << "\n"
     << "idle_timeout = " << ms(c.idle_timeout) << "\n"
     << "ca_file = " << quote(c.ca_file) << "\n"
     << "offline = " << (c.offline ? "true" : "false") << "\n"
     << "allow_private_addresses = " << (c.allow_private_addresses ? "true" : "false") << "\n\n"
     << "[hub]\n"
     << "revision_ttl = " << ms(c.revision_ttl) << "\n"
     << "negative_ttl = " << ms(c.negative_ttl) << "\n"
     << "writes = " << quote(c.writes) << "\n\n"
     << "[access]\n"
     << "require_key = " << (c.require_key ? "true" : "false") << "\n"
     << "entitlement_ttl = " << ms(c.entitlement_ttl) << "\n"
     << "offline_grace = " << ms(c.offline_grace) << "\n"
     << "admin_key = " << quote(c.admin_key.empty() ? "" : "***masked***") << "\n"
     << "admin_key_file = " << quote(c.admin_key_file) << "\n"
     << "admin_listen = " << quote(c.admin_listen) << "\n"
     << "metrics_require_admin = " << (c.metrics_require_admin ? "true" : "false") << "\n\n"
     << "[credentials]\n";
  for (const auto& [name, file] : c.credential_files) os << name << " = " << quote(file) << "\n";
  os << "\n"
     << "[scan]\n"
     << "mode = " << quote(c.scan_mode) << "\n"
     << "on_suspicious = " << quote(c.scan_on_suspicious) << "\n"
     << "on_invalid = " << quote(c.scan_on_invalid) << "\n"
     << "on_error = " << quote(c.scan_on_error) << "\n"
     << "on_malicious = " << quote(c.scan_on_malicious) << "\n"
     << "on_unscanned = " << quote(c.scan_on_unscanned) << "\n"
     << "denylist = " << quote(c.scan_denylist) << "\n"
     << "yara_rules = " << quote(c.scan_yara_rules) << "\n"
     << "clamav_db = " << quote(c.scan_clamav_db) << "\n"
     << "profiles = " << quoteList(c.scan_profiles) << "\n\n"
     << "[policy]\n"
     << "proxy_allow = " << quoteList(c.proxy_allow) << "\n"
     << "proxy_deny = " << quoteList(c.proxy_deny) << "\n"
     << "cache_allow = " << quoteList(c.cache_allow) << "\n"
     << "cache_deny = " << quoteList(c.cache_deny) << "\n"
     << "overrides = " << quoteList(c.overrides) << "\n"
     << "license_allow = " << quoteList(c.license_allow) << "\n\n"
     << "[audit]\n"
     << "path = " << quote(c.audit_path) << "\n\n"
     << "[cache]\n"
     << "dir = " << quote(c.cache_dir) << "\n"
     << "max_size = " << quote(std::to_string(c.cache_max_bytes)) << "\n"
     << "min_free = "
     << quote(c.cache_min_free_percent > 0 ? std::to_string(c.cache_min_free_percent) + "%"
                                           : std::to_string(c.cache_min_free_bytes))
     << "\n"
     << "eviction_interval = " << quote(std::to_string(c.eviction_interval.count()) + "ms") << "\n\n"
     << "[prefetch]\n"
     << "retry_backoff = " << quote(std::to_string(c.prefetch_retry_backoff.count()) + "ms") << "\n"
     << "max_attempts = " << c.prefetch_max_attempts << "\n\n"
     << "[log]\n"
     << "level = " << quote(c.log_level) << "\n"
     << "access = " << quote(c.log_access) << "\n"
     << "access_path = " << quote(c.log_access_path) << "\n";
  return os.str();
}

}  // namespace hubgate::config
