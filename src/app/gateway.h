// Gateway: builds every part of `hubgate serve` from a Config and owns them.
//
// Owns the io_context and its threads, the blocking worker pool, the index, the blob store,
// the upstream client, the Hub services, the fill registry and the HTTP server. Only this module
// picks production implementations. Startup: open the cache (reconcile leftovers of a crash),
// bind, then accept. Shutdown (SIGINT/SIGTERM): stop accepting, stop the io_context.
#pragma once

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
  // Runs the I/O threads until SIGINT/SIGTERM or stop(). Blocks.
  void run();
  void stop();

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string admin_url_;
};

}  // namespace hubgate::app
