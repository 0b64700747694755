#include "app/gateway.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <filesystem>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "auth/authenticator.h"
#include "auth/entitlements.h"
#include "auth/key_store.h"
#include "cache/blob_store.h"
#include "cache/fill_session.h"
#include "cache/index.h"
#include "cache/space.h"
#include "base/async.h"
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include "http/server.h"
#include "hub/api_service.h"
#include "hub/hub_client.h"
#include "hub/revision_cache.h"
#include "hub/upstream_gate.h"
#include "hub/resolve_service.h"
#include "metrics/registry.h"
#include "guard/audit_log.h"
#include "guard/guard.h"
#include "guard/inspector.h"
#include "ops/jobs.h"
#include "router/admin.h"
#include "router/router.h"
#include "upstream/client.h"
#include "upstream/metered_client.h"

namespace hubgate::app {
namespace asio = boost::asio;

namespace {

// An io_context whose pending work can be destroyed before the io_context itself: at shutdown
// the frames of abandoned coroutines (fills, cut sessions) must go while the objects they point
// at (registry, metrics, index) still exist.
class IoContext : public asio::io_context {
 public:
  void abandonPending() { shutdown(); }
};

Result<policy::ScanPolicy> scanPolicyFrom(const config::Config& c) {
  policy::ScanPolicy sp;
  sp.mode = *policy::parseMode(c.scan_mode);  // validated by config::finalize
  sp.on_suspicious = *policy::parseAction(c.scan_on_suspicious);
  sp.on_invalid = *policy::parseAction(c.scan_on_invalid);
  sp.on_error = *policy::parseAction(c.scan_on_error);
  sp.on_malicious = *policy::parseAction(c.scan_on_malicious);
  sp.on_unscanned = *policy::parseAction(c.scan_on_unscanned);
  for (const auto& o : c.overrides) {
    auto parsed = policy::parseOverride(o);
    if (!parsed) return fail(ErrorCode::InvalidArgument, "policy.overrides: " + parsed.error().context);
    sp.overrides.push_back(std::move(*parsed));
  }
  sp.proxy_allow = c.proxy_allow;
  sp.proxy_deny = c.proxy_deny;
  sp.cache_allow = c.cache_allow;
  sp.cache_deny = c.cache_deny;
  sp.license_allow = c.license_allow;
  return sp;
}

auth::AccessConfig accessFrom(const config::Config& c) {
  auth::AccessConfig ac;
  ac.require_key = c.require_key;
  ac.default_token = c.upstream_token;
  ac.credentials = c.credential_tokens;
  ac.admin_key = c.admin_key;
  return ac;
}

// Settings SIGHUP applies ("section.key" as config::render names them; "credentials" covers the
// whole section). Everything else is fixed at startup, so a new key needs a restart until it is
// listed here and applied in Impl::reload().
bool reloadable(const std::string& key) {
  static const std::set<std::string> kKeys = {
      "server.drain_timeout", "upstream.token",        "upstream.token_file",
      "access.require_key",   "access.admin_key",      "access.admin_key_file",
      "scan.mode",            "scan.on_suspicious",    "scan.on_invalid",
      "scan.on_error",        "scan.on_malicious",     "scan.on_unscanned",
      "log.level"};
  return kKeys.contains(key) || key.starts_with("policy.") || key.starts_with("credentials.");
}

// "section.key" -> rendered value, from config::render's TOML.
std::map<std::string, std::string> flatten(const config::Config& c) {
  std::map<std::string, std::string> out;
  std::istringstream in(config::render(c));
  std::string line;
  std::string section;
  while (std::getline(in, line)) {
    if (line.size() > 2 && line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    out[section + "." + line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

// Settings that differ between `running` and `fresh` but are not applied by a reload.
std::vector<std::string> needRestart(const config::Config& running, const config::Config& fresh) {
  auto a = flatten(running);
  auto b = flatten(fresh);
  std::vector<std::string> out;
  for (const auto& [k, v] : b) {
    auto it = a.find(k);
    if (!reloadable(k) && (it == a.end() || it->second != v)) out.push_back(k);
  }
  for (const auto& [k, v] : a) {
    if (!reloadable(k) && !b.contains(k)) out.push_back(k);
  }
  // A scanner is built at startup only: switching scanning on or off needs a restart (enforce
  // <-> audit does not).
  if ((running.scan_mode == "off") != (fresh.scan_mode == "off")) out.push_back("scan.mode");
  return out;
}

}  // namespace

struct Gateway::Impl {
  explicit Impl(const config::Config& c, cache::BlobStore s)
      : config(c),
        blocking(2),
        scan_pool(1),
        metrics(registry),
        reloads_ok(registry.counter("hubgate_config_reloads_total",
                                    "Configuration reloads (SIGHUP) by result", {{"result", "ok"}})),
        reloads_error(registry.counter("hubgate_config_reloads_total",
                                       "Configuration reloads (SIGHUP) by result",
                                       {{"result", "error"}})),
        store(std::move(s)),
        life(ioc.get_executor()),
        signals(life, SIGINT, SIGTERM, SIGHUP),
        drain_timer(life) {}

  void waitSignal();
  void beginDrain(int sig);
  void cutNow();
  void finishDrain();
  void reload();

  config::Config config;  // in force; guarded by config_mu after start()
  std::mutex config_mu;
  IoContext ioc;
  asio::thread_pool blocking;
  asio::thread_pool scan_pool;  // scanning is CPU-bound: one thread, off the I/O and disk pools
  metrics::Registry registry;
  metrics::GatewayMetrics metrics;
  metrics::Counter& reloads_ok;
  metrics::Counter& reloads_error;
  cache::BlobStore store;
  std::unique_ptr<cache::Index> index;
  std::unique_ptr<cache::Space> space;
  std::unique_ptr<upstream::Client> client;
  std::unique_ptr<hub::UpstreamGate> gate;
  std::unique_ptr<hub::RevisionCache> revisions;
  std::unique_ptr<auth::KeyStore> keys;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<auth::Entitlements> entitlements;
  std::unique_ptr<router::AdminApi> admin;
  std::unique_ptr<guard::ScanInspector> inspector;
  std::unique_ptr<guard::AuditLog> audit;
  std::unique_ptr<router::AccessLog> access_log;
  std::unique_ptr<guard::Guard> guard;
  std::unique_ptr<hub::HubClient> hub;
  std::unique_ptr<hub::ApiService> api;
  std::unique_ptr<cache::FillDeps> fill_deps;
  std::unique_ptr<cache::FillRegistry> fills;
  std::unique_ptr<hub::ResolveService> resolve;
  std::unique_ptr<ops::Jobs> jobs;
  std::unique_ptr<router::Router> router;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::Server> admin_server;  // only with access.admin_listen
  // Signals, drain and reload bookkeeping run on this strand.
  asio::strand<asio::io_context::executor_type> life;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
  bool draining = false;  // on `life`
  bool cutting = false;   // on `life`
  bool drained = false;   // on `life`: the drain is over, the io_context stops
  int servers_busy = 0;   // on `life`: servers whose connections are not all closed yet
  std::atomic<bool> not_ready{false};  // /ready answers 503 from the drain's start
  Gateway::ConfigSource config_source;
  std::mutex reload_mu;  // one reload at a time
  std::vector<std::function<void()>> shutdown_hooks;
  bool hooks_ran = false;
};

void Gateway::Impl::waitSignal() {
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      spdlog::info("signal {}: reloading the configuration", sig);
      // Reading files and the denylist is disk I/O: off the I/O threads.
      asio::post(blocking, [this] { reload(); });
    } else {
      beginDrain(sig);
    }
    waitSignal();
  });
}

void Gateway::Impl::beginDrain(int sig) {
  if (drained) return;
  if (draining) {
    spdlog::warn("signal {} during the drain: cutting the remaining responses now", sig);
    cutNow();
    return;
  }
  draining = true;
  not_ready = true;
  std::chrono::milliseconds timeout;
  {
    std::lock_guard lock(config_mu);
    timeout = config.drain_timeout;
  }
  spdlog::info("signal {}: draining: not accepting, responses in progress may finish within {} ms",
               sig, timeout.count());
  servers_busy = admin_server ? 2 : 1;
  auto idle = [this] {
    asio::post(life, [this] {
      if (--servers_busy == 0) finishDrain();
    });
  };
  server->drain(idle);
  if (admin_server) admin_server->drain(idle);
  drain_timer.expires_after(timeout);
  drain_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::warn("server.drain_timeout passed: cutting the remaining responses");
    cutNow();
  });
}

void Gateway::Impl::cutNow() {
  if (cutting || drained) return;
  cutting = true;
  // A response waiting on a stalled fill would not notice its socket closing; the drain ends
  // once every connection is closed, not when their coroutines have unwound.
  auto left = std::make_shared<int>(admin_server ? 2 : 1);
  auto closed = [this, left] {
    asio::post(life, [this, left] {
      if (--*left == 0) finishDrain();
    });
  };
  server->cutAll(closed);
  if (admin_server) admin_server->cutAll(closed);
}

void Gateway::Impl::finishDrain() {
  if (drained) return;
  drained = true;
  drain_timer.cancel();
  auto stats = server->drainStats();
  if (admin_server) {
    auto a = admin_server->drainStats();
    stats.drained += a.drained;
    stats.cut += a.cut;
  }
  spdlog::info("drain finished: {} responses drained, {} cut; {} fills in progress abandoned",
               stats.drained, stats.cut, metrics.fills_in_flight.value());
  ioc.stop();
}

void Gateway::Impl::reload() {
  std::lock_guard serial(reload_mu);
  auto failed = [this](const std::string& why) {
    reloads_error.inc();
    spdlog::error("configuration reload failed, the previous configuration stays in force: {}", why);
  };
  if (!config_source) {
    failed("this gateway has no configuration source to read again");
    return;
  }
  auto fresh = config_source();
  if (!fresh) return failed(fresh.error().context);
  config::Config running;
  {
    std::lock_guard lock(config_mu);
    running = config;
  }
  // Everything is checked before anything is applied, so a failure leaves the old set whole.
  auto sp = scanPolicyFrom(*fresh);
  if (!sp) return failed(sp.error().context);
  auto restart = needRestart(running, *fresh);
  if ((running.scan_mode == "off") != (fresh->scan_mode == "off")) {
    sp->mode = *policy::parseMode(running.scan_mode);
  }
  bool new_denylist = false;
  if (inspector) {
    // The file in force is re-read; a changed scan.denylist path is listed in `restart`.
    auto d = inspector->reloadDenylist();
    if (!d) return failed(d.error().context);
    new_denylist = *d;
  }
  guard->setPolicy(std::move(*sp));
  authenticator->reconfigure(accessFrom(*fresh));
  spdlog::set_level(spdlog::level::from_str(fresh->log_level));
  {
    std::lock_guard lock(config_mu);
    const std::string mode = config.scan_mode;
    config.drain_timeout = fresh->drain_timeout;
    config.upstream_token = fresh->upstream_token;
    config.upstream_token_file = fresh->upstream_token_file;
    config.require_key = fresh->require_key;
    config.admin_key = fresh->admin_key;
    config.admin_key_file = fresh->admin_key_file;
    config.credential_files = fresh->credential_files;
    config.credential_tokens = fresh->credential_tokens;
    config.scan_mode = (mode == "off") == (fresh->scan_mode == "off") ? fresh->scan_mode : mode;
    config.scan_on_suspicious = fresh->scan_on_suspicious;
    config.scan_on_invalid = fresh->scan_on_invalid;
    config.scan_on_error = fresh->scan_on_error;
    config.scan_on_malicious = fresh->scan_on_malicious;
    config.scan_on_unscanned = fresh->scan_on_unscanned;
    config.proxy_allow = fresh->proxy_allow;
    config.proxy_deny = fresh->proxy_deny;
    config.cache_allow = fresh->cache_allow;
    config.cache_deny = fresh->cache_deny;
    config.overrides = fresh->overrides;
    config.license_allow = fresh->license_allow;
    config.log_level = fresh->log_level;
  }
  if (!restart.empty()) {
    std::string keys;
    for (const auto& k : restart) keys += (keys.empty() ? "" : ", ") + k;
    spdlog::warn("configuration reload: changed settings need a restart and were not applied: {}",
                 keys);
  }
  reloads_ok.inc();
  spdlog::info("configuration reloaded: policy {}, denylist {}", guard->policyVersion(),
               new_denylist ? "re-read" : "unchanged");
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() {
  if (impl_) {
    impl_->ioc.stop();
    // Work already on the pools finishes first: it may point into coroutine frames.
    impl_->blocking.join();
    impl_->scan_pool.join();
    impl_->ioc.abandonPending();
    // Access times batched since the last pass: keep LRU order across restarts (after the
    // abandoned work above released its leases).
    if (impl_->space) (void)impl_->space->flushAccess();
  }
}

void Gateway::setConfigSource(ConfigSource source) { impl_->config_source = std::move(source); }

void Gateway::onShutdown(std::function<void()> fn) {
  impl_->shutdown_hooks.push_back(std::move(fn));
}

Result<std::unique_ptr<Gateway>> Gateway::create(const config::Config& c) {
  auto store = cache::BlobStore::open(c.cache_dir);
  if (!store) return std::unexpected(store.error());
  auto impl = std::make_unique<Impl>(c, std::move(*store));
  auto index = cache::Index::open(impl->store.indexPath().string());
  if (!index) return std::unexpected(index.error());
  impl->index = std::move(*index);
  auto reconciled = impl->store.reconcile(*impl->index);
  if (!reconciled) return std::unexpected(reconciled.error());
  if (reconciled->temp_removed || reconciled->orphans_removed || reconciled->rows_dropped) {
    spdlog::warn("cache reconcile: removed {} partial files and {} orphan blobs, dropped {} rows",
                 reconciled->temp_removed, reconciled->orphans_removed, reconciled->rows_dropped);
  }

  cache::SpaceConfig sc;
  sc.max_bytes = c.cache_max_bytes;
  sc.min_free_bytes = c.cache_min_free_bytes;
  sc.min_free_percent = c.cache_min_free_percent;
  impl->space = std::make_unique<cache::Space>(impl->store, *impl->index, impl->blocking,
                                               impl->metrics, sc);
  if (auto loaded = impl->space->load(); !loaded) return std::unexpected(loaded.error());

  upstream::ClientConfig cc;
  cc.connect_timeout = c.connect_timeout;
  cc.first_byte_timeout = c.first_byte_timeout;
  cc.idle_timeout = c.idle_timeout;
  cc.ca_file = c.ca_file;
  impl->client =
      upstream::withMetrics(upstream::makeHttpClient(impl->ioc.get_executor(), cc), impl->metrics);

  auto up = upstream::Url::parse(c.upstream);
  if (!up) return fail(ErrorCode::InvalidArgument, "upstream.url: " + up.error().context);
  hub::HubConfig hc;
  hc.upstream = *up;
  hc.redirect_allow_hosts = c.redirect_allow_hosts;
  hc.max_redirects = c.max_redirects;
  hc.allow_private_addresses = c.allow_private_addresses;
  impl->gate = std::make_unique<hub::UpstreamGate>(c.offline);
  impl->registry.gaugeFn("hubgate_upstream_backoff_seconds",
                         "Seconds left in the back-off after an upstream 429 (0: not backing off).",
                         [gate = impl->gate.get()] { return static_cast<double>(gate->backoffSecondsLeft()); });
  impl->revisions =
      std::make_unique<hub::RevisionCache>(*impl->index, impl->blocking, c.revision_ttl);
  impl->hub = std::make_unique<hub::HubClient>(*impl->client, hc, *impl->gate);
  impl->keys = std::make_unique<auth::KeyStore>(*impl->index);
  impl->authenticator = std::make_unique<auth::Authenticator>(accessFrom(c), *impl->keys);
  impl->entitlements = std::make_unique<auth::Entitlements>(*impl->index, impl->blocking,
                                                            c.entitlement_ttl, c.offline_grace);
  impl->api = std::make_unique<hub::ApiService>(*impl->hub, *impl->index, *impl->revisions,
                                                *impl->entitlements, impl->blocking,
                                                c.writes == "passthrough", c.negative_ttl);
  // Supply-chain guard: scanner, policy, audit trail (docs/scanning.md).
  auto sp = scanPolicyFrom(c);
  if (!sp) return std::unexpected(sp.error());
  if (sp->mode != policy::Mode::Off) {
    guard::InspectorConfig ic{c.scan_denylist, c.scan_yara_rules, c.scan_clamav_db, c.scan_profiles};
    auto inspector = guard::ScanInspector::create(ic);
    if (!inspector) return std::unexpected(inspector.error());
    impl->inspector = std::move(*inspector);
  }
  if (c.audit_path != "off") {
    std::string path = c.audit_path.empty() ? (impl->store.root() / "audit.jsonl").string() : c.audit_path;
    auto audit = guard::AuditLog::open(path);
    if (!audit) return std::unexpected(audit.error());
    impl->audit = std::move(*audit);
  }
  impl->guard = std::make_unique<guard::Guard>(std::move(*sp), impl->inspector.get(), *impl->index,
                                               impl->store, impl->scan_pool, impl->audit.get(),
                                               &impl->metrics);
  impl->fill_deps = std::make_unique<cache::FillDeps>(
      cache::FillDeps{impl->store, *impl->index, impl->blocking, impl->metrics});
  impl->fill_deps->inspector = impl->inspector.get();
  impl->fill_deps->scan_pool = &impl->scan_pool;
  impl->fill_deps->space = impl->space.get();
  impl->fills = std::make_unique<cache::FillRegistry>(impl->metrics);
  impl->resolve = std::make_unique<hub::ResolveService>(*impl->hub, *impl->index, impl->store,
                                                        *impl->space, *impl->fills, *impl->fill_deps,
                                                        impl->blocking, impl->ioc.get_executor(),
                                                        *impl->revisions, *impl->entitlements,
                                                        c.negative_ttl);
  impl->jobs = std::make_unique<ops::Jobs>(
      *impl->index, impl->store, *impl->space, *impl->resolve, *impl->api, *impl->authenticator,
      *impl->guard, impl->blocking, impl->ioc.get_executor(),
      ops::JobsConfig{c.prefetch_retry_backoff, c.prefetch_max_attempts});
  impl->admin = std::make_unique<router::AdminApi>(*impl->authenticator, *impl->index,
                                                   impl->space.get(), impl->jobs.get());
  router::RouterOptions ro;
  ro.fill_stall_timeout = c.idle_timeout * 2;
  ro.admin_on_main = c.admin_listen.empty();
  ro.metrics_require_admin = c.metrics_require_admin;
  if (c.log_access != "off") {
    auto format = c.log_access == "clf" ? router::AccessLog::Format::Clf : router::AccessLog::Format::Json;
    auto access = router::AccessLog::open(format, c.log_access_path);
    if (!access) return std::unexpected(access.error());
    impl->access_log = std::move(*access);
    ro.access_log = impl->access_log.get();
  }
  // A probe, not a request path: one index point read and one create+unlink in tmp/.
  ro.readiness = [index = impl->index.get(), store = &impl->store,
                  not_ready = &impl->not_ready]() -> std::string {
    if (*not_ready) return "draining";
    if (auto r = index->findBlob(cache::BlobKey{DigestKind::Sha256, std::string(64, '0')}); !r) {
      return "the cache index does not answer: " + r.error().context;
    }
    auto temp = store->createTemp();
    if (!temp) return "the cache directory cannot take a new file: " + temp.error().context;
    std::error_code ec;
    std::filesystem::remove(temp->path, ec);
    return {};
  };
  impl->router = std::make_unique<router::Router>(*impl->resolve, *impl->api, *impl->gate,
                                                  impl->store, *impl->space, impl->metrics,
                                                  *impl->authenticator, *impl->admin,
                                                  *impl->guard, ro);

  http::ServerLimits limits;
  limits.max_header_bytes = c.max_header_bytes;
  limits.delivery = c.delivery == "sendfile" ? http::Delivery::Sendfile : http::Delivery::Buffered;
  auto* router = impl->router.get();
  impl->server = std::make_unique<http::Server>(
      impl->ioc, limits, [router](http::Request& req) { return router->handle(req); },
      [router](const http::Request& req, const http::Response& resp, std::uint64_t sent, bool ok,
               std::chrono::steady_clock::duration took) {
        router->observe(req, resp, sent, ok, took);
      });
  if (!c.admin_listen.empty()) {
    impl->admin_server = std::make_unique<http::Server>(
        impl->ioc, limits, [router](http::Request& req) { return router->handleAdmin(req); },
        [router](const http::Request& req, const http::Response& resp, std::uint64_t sent,
                 bool ok, std::chrono::steady_clock::duration took) {
          router->observe(req, resp, sent, ok, took);
        });
  }
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Result<std::string> Gateway::start() {
  auto hp = config::splitHostPort(impl_->config.listen);
  if (!hp) return std::unexpected(hp.error());
  auto ep = impl_->server->listen(hp->first, hp->second);
  if (!ep) return std::unexpected(ep.error());
  impl_->server->start();
  if (impl_->admin_server) {
    auto ahp = config::splitHostPort(impl_->config.admin_listen);
    if (!ahp) return std::unexpected(ahp.error());
    auto aep = impl_->admin_server->listen(ahp->first, ahp->second);
    if (!aep) return std::unexpected(aep.error());
    impl_->admin_server->start();
    std::string ahost = aep->address().to_string();
    if (aep->address().is_v6()) ahost = "[" + ahost + "]";
    admin_url_ = "http://" + ahost + ":" + std::to_string(aep->port());
  }
  // Prefetch, verify and gc jobs the previous process did not finish.
  impl_->jobs->resume();
  // Background cache upkeep: an eviction pass (limits may be exceeded by a lowered quota or by
  // other writers on the disk) and the batched access-time flush, on the blocking pool.
  asio::co_spawn(
      impl_->ioc,
      [impl = impl_.get()]() -> asio::awaitable<void> {
        asio::steady_timer timer(impl->ioc);
        for (;;) {
          cache::Space* space = impl->space.get();
          co_await runBlocking(impl->blocking, [space] { return space->maintain().blobs; });
          timer.expires_after(impl->config.eviction_interval);
          auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
          if (ec) co_return;
        }
      },
      asio::detached);
  impl_->waitSignal();
  std::string host = ep->address().to_string();
  if (ep->address().is_v6()) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(ep->port());
}

void Gateway::run() {
  int n = impl_->config.threads > 0 ? impl_->config.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : threads) t.join();
  if (!impl_->hooks_ran) {
    impl_->hooks_ran = true;
    for (auto& fn : impl_->shutdown_hooks) fn();
  }
}

void Gateway::stop() {
  impl_->server->stop();
  if (impl_->admin_server) impl_->admin_server->stop();
  impl_->ioc.stop();
}

}  // namespace hubgate::app
