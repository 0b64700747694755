// Gateway: builds every part of `hubgate serve` from a Config and owns them.
//
// Owns the io_context and its threads, the blocking worker pool, the index, the blob store,
// the upstream client, the Hub services, the fill registry and the HTTP server. Only this module
// picks production implementations. Startup: open the cache (reconcile leftovers of a crash),
// bind, then accept. Signals (docs/operations.md):
//   SIGTERM/SIGINT  drain: listeners close, idle connections close, responses in progress run on
//                   until server.drain_timeout, then the rest are cut; a second signal cuts at
//                   once. Then the io_context stops, the shutdown hooks run, the pools are joined.
//                   Fills still running are abandoned; their temp files go at the next start.
//   SIGHUP          reload: the configuration is read again from its sources and the scan policy,
//                   the hash denylist, access settings and log level are swapped in without
//                   touching listeners or connections. A configuration that does not load leaves
//                   the old one in force; settings that need a restart are logged, not applied.
//
// Thread-safety: create/start/run/onShutdown/setConfigSource from the owning thread; signals
// are handled on a strand of the io_context, reloads on the blocking pool (one at a time).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "config/config.h"

namespace hubgate::app {

class Gateway {
 public:
  static Result<std::unique_ptr<Gateway>> create(const config::Config& config);
  ~Gateway();

  // Binds the listener; returns the URL clients use ("http://127.0.0.1:8080").
  Result<std::string> start();
  // The admin listener's URL after start() when access.admin_listen is set, else "".
  const std::string& adminUrl() const { return admin_url_; }
  // Runs the I/O threads until the drain after SIGINT/SIGTERM ends, or stop(); then runs the
  // shutdown hooks. Blocks.
  void run();
  // Stops at once: no drain.
  void stop();

  // Where SIGHUP reads the configuration again: the same file, environment and flags as at
  // startup. Unset: SIGHUP is logged and changes nothing. REQUIRES: before run().
  using ConfigSource = std::function<Result<config::Config>()>;
  void setConfigSource(ConfigSource source);
  // Registers `fn` to run once at shutdown, after the drain and before the worker pools are
  // joined, in registration order, on the thread that called run(); the io_context is stopped
  // by then, so `fn` must not wait on I/O. REQUIRES: before run().
  void onShutdown(std::function<void()> fn);

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string admin_url_;
};

}  // namespace hubgate::app
