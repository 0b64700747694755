// Jobs: the cache's long operations, run in the background and recorded in the index so that they
// survive a restart (docs/operations.md).
//
//   prefetch  download every file of a repo at one revision (include/exclude globs) through the
//             normal resolve path, so a prefetch and a client asking for the same file share one
//             fill; optionally pin the repo first. Retries each file with exponential back-off.
//             The repo policy applies as to clients: a repo the gateway may not serve or cache
//             (policy.proxy_*, policy.cache_*, policy.license_allow) is refused, not fetched.
//   verify    rehash every cached blob; a blob whose bytes no longer match its name is moved to
//             <cache>/quarantine/ and dropped from the index.
//   gc        an eviction pass down to the limits, an access-time flush, and deletion of blob
//             files the index does not know (older than a minute, so a commit in flight is safe).
//
// A job is queued -> running -> done | failed | cancelled. Progress is kept in memory while it
// runs and written to the index after every file; at startup, jobs that were queued or running
// start again (resume()): a prefetch re-lists the repo at the commit it had resolved, and files
// already cached are hits, so it continues where it stopped.
//
// Thread-safety: all public methods are safe from any thread. Jobs run as coroutines on the
// executor given at construction; blocking work goes to the blocking pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "base/error.h"
#include "cache/index.h"
#include "cache/space.h"
#include "guard/guard.h"
#include "hub/api_service.h"
#include "hub/resolve_service.h"

namespace hubgate::ops {

struct PrefetchSpec {
  std::string repo_type = "model";
  std::string repo;
  std::string revision = "main";
  std::vector<std::string> include;  // path globs; empty = every file
  std::vector<std::string> exclude;
  bool pin = false;
  std::string credential;  // named upstream credential; "" = the gateway's default token

  // From the admin API's JSON body. InvalidArgument names the bad field.
  static Result<PrefetchSpec> fromJson(const nlohmann::json& j);
  nlohmann::json toJson() const;
};

struct JobsConfig {
  std::chrono::milliseconds retry_backoff{2000};  // first retry delay; doubles per attempt
  int max_attempts = 4;                           // per file (and for the listing)
};

class Jobs {
 public:
  Jobs(cache::Index& index, cache::BlobStore& store, cache::Space& space,
       hub::ResolveService& resolve, hub::ApiService& api, auth::Authenticator& auth,
       const guard::Guard& guard, boost::asio::thread_pool& blocking, boost::asio::any_io_executor executor,
       JobsConfig config);
  ~Jobs();

  Result<cache::JobRecord> startPrefetch(const PrefetchSpec& spec);
  Result<cache::JobRecord> startVerify();
  Result<cache::JobRecord> startGc();
  // Asks a queued or running job to stop; false when no such live job. InvalidArgument for a
  // gc job (one pass; it cannot stop half-way).
  Result<bool> cancel(const std::string& id);
  // Live state for running jobs, else the index's record.
  Result<std::optional<cache::JobRecord>> get(const std::string& id);
  Result<std::vector<cache::JobRecord>> list(std::size_t limit = 100);
  // Restarts jobs left queued or running by the previous process. Call once at startup.
  void resume();

 private:
  struct Live;
  Result<cache::JobRecord> launch(const std::string& kind, nlohmann::json spec,
                                  std::string id = {}, nlohmann::json progress = nullptr,
                                  std::int64_t created_at = 0);
  boost::asio::awaitable<void> run(std::shared_ptr<Live> job);
  boost::asio::awaitable<void> runPrefetch(std::shared_ptr<Live> job);
  boost::asio::awaitable<void> runVerify(std::shared_ptr<Live> job);
  boost::asio::awaitable<void> runGc(std::shared_ptr<Live> job);
  // Fetches one file (resolve + wait for its fill): "" on success, else why not.
  boost::asio::awaitable<std::string> fetchOne(std::shared_ptr<Live> job, hub::FileRef file,
                                               const auth::Caller& caller, bool* retryable);
  boost::asio::awaitable<bool> sleepUnlessCancelled(std::shared_ptr<Live> job,
                                                    std::chrono::milliseconds d);
  void persist(const std::shared_ptr<Live>& job);

  cache::Index& index_;
  cache::BlobStore& store_;
  cache::Space& space_;
  hub::ResolveService& resolve_;
  hub::ApiService& api_;
  auth::Authenticator& auth_;
  const guard::Guard& guard_;
  boost::asio::thread_pool& blocking_;
  boost::asio::any_io_executor executor_;
  const JobsConfig config_;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Live>> live_;
};

}  // namespace hubgate::ops
