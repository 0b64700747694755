#include "ops/jobs.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>

#include "base/async.h"
#include "base/glob.h"
#include "base/hash.h"
#include "base/time.h"
#include "cache/fill_session.h"

namespace hubgate::ops {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

struct Jobs::Live {
  std::mutex mu;
  cache::JobRecord rec;  // progress field is rendered from `progress` on snapshot()
  json spec;
  json progress = json::object();
  std::atomic<bool> cancel{false};

  cache::JobRecord snapshot() {
    std::lock_guard lock(mu);
    cache::JobRecord r = rec;
    r.progress = progress.dump();
    r.updated_at = unixSeconds();
    return r;
  }
  void set(const std::string& key, json value) {
    std::lock_guard lock(mu);
    progress[key] = std::move(value);
  }
  void add(const std::string& key, std::uint64_t n) {
    std::lock_guard lock(mu);
    progress[key] = progress.value(key, std::uint64_t{0}) + n;
  }
  void state(const std::string& s) {
    std::lock_guard lock(mu);
    rec.state = s;
  }
};

namespace {

// 12 hex characters: unique enough among one gateway's jobs, short enough to type.
std::string newJobId() {
  auto id = randomHex(6);
  if (id) return *id;
  return std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::optional<hub::RepoType> repoTypeOf(std::string_view s) {
  if (s == "model") return hub::RepoType::Model;
  if (s == "dataset") return hub::RepoType::Dataset;
  if (s == "space") return hub::RepoType::Space;
  return std::nullopt;
}

Result<std::vector<std::string>> globList(const json& j, const char* field) {
  std::vector<std::string> out;
  if (!j.contains(field)) return out;
  const json& v = j[field];
  auto take = [&](const json& e) -> Result<void> {
    if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>().size() > 200) {
      return fail(ErrorCode::InvalidArgument, std::string(field) + ": expected non-empty glob strings");
    }
    out.push_back(e.get<std::string>());
    return {};
  };
  if (v.is_string()) {
    if (auto r = take(v); !r) return std::unexpected(r.error());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (auto r = take(e); !r) return std::unexpected(r.error());
    }
  } else if (!v.is_null()) {
    return fail(ErrorCode::InvalidArgument, std::string(field) + ": expected a glob or a list of globs");
  }
  return out;
}

bool retryableStatus(int status) { return status == 429 || status >= 500; }

std::string headerOf(const hub::HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

// Hashes one published blob and quarantines it when its bytes no longer match its name.
struct VerifyTask {
  cache::BlobStore* store;
  cache::Space* space;
  cache::BlobKey key;
  std::uint64_t size;
  std::string outcome;  // "ok" | "gone" | "corrupt: ..."
};

void verifyBlob(VerifyTask& t) {
  auto fd = t.store->openBlob(t.key);
  if (!fd) {
    t.outcome = "gone";
    return;
  }
  struct stat st {};
  std::string problem;
  if (::fstat(fd->get(), &st) != 0) {
    problem = "cannot stat";
  } else if (static_cast<std::uint64_t>(st.st_size) != t.size) {
    problem = "size " + std::to_string(st.st_size) + ", expected " + std::to_string(t.size);
  } else {
    auto hasher = Hasher::forKind(t.key.kind, t.size);
    std::vector<std::byte> buf(1 << 20);
    std::uint64_t pos = 0;
    while (pos < t.size) {
      ssize_t n = ::pread(fd->get(), buf.data(), buf.size(), static_cast<off_t>(pos));
      if (n <= 0) {
        problem = "read error at byte " + std::to_string(pos);
        break;
      }
      hasher->update(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
      pos += static_cast<std::uint64_t>(n);
    }
    if (problem.empty()) {
      std::string digest = hasher->finish();
      if (digest != t.key.digest) problem = "content hashes to " + digest;
    }
  }
  if (problem.empty()) {
    t.outcome = "ok";
    return;
  }
  // Keep the bytes for inspection, out of the serving path, then forget the blob.
  std::error_code ec;
  fs::path dir = t.store->root() / "quarantine";
  fs::create_directories(dir, ec);
  fs::rename(t.store->blobPath(t.key), dir / (std::string(digestKindName(t.key.kind)) + "-" + t.key.digest), ec);
  (void)t.space->remove(t.key);
  t.outcome = "corrupt: " + problem;
}

struct GcTask {
  cache::Space* space;
  cache::BlobStore* store;
  cache::EvictStats evicted;
  std::uint64_t orphans = 0;
  std::uint64_t orphan_bytes = 0;
};

void collectGarbage(GcTask& t) {
  t.evicted = t.space->evictPass(static_cast<std::size_t>(-1));
  (void)t.space->flushAccess();
  // Blob files the index does not know: left by a crash between rename and row, or by an old
  // eviction that failed. Young files may be a commit in progress.
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::minutes(1);
  for (auto kind : {DigestKind::Sha256, DigestKind::GitSha1}) {
    fs::path base = t.store->root() / "blobs" / std::string(digestKindName(kind));
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      cache::BlobKey key{kind, it->path().filename().string()};
      if (t.space->contains(key)) continue;
      std::error_code ec2;
      if (fs::last_write_time(it->path(), ec2) > cutoff || ec2) continue;
      auto size = fs::file_size(it->path(), ec2);
      if (fs::remove(it->path(), ec2)) {
        ++t.orphans;
        t.orphan_bytes += ec2 ? 0 : size;
      }
    }
  }
}

}  // namespace

Result<PrefetchSpec> PrefetchSpec::fromJson(const json& j) {
  if (!j.is_object()) return fail(ErrorCode::InvalidArgument, "expected a JSON object");
  PrefetchSpec s;
  if (!j.contains("repo") || !j["repo"].is_string() || j["repo"].get<std::string>().empty()) {
    return fail(ErrorCode::InvalidArgument, "repo: expected \"org/name\"");
  }
  s.repo = j["repo"].get<std::string>();
  if (s.repo.size() > 200 || s.repo.find("..") != std::string::npos ||
      s.repo.find_first_of("?#% \t\r\n\\") != std::string::npos || s.repo.front() == '/' ||
      s.repo.back() == '/') {
    return fail(ErrorCode::InvalidArgument, "repo: '" + s.repo + "' is not a repo id");
  }
  auto text = [&](const char* field, std::string& out) -> Result<void> {
    if (!j.contains(field) || j[field].is_null()) return {};
    if (!j[field].is_string()) return fail(ErrorCode::InvalidArgument, std::string(field) + ": expected a string");
    out = j[field].get<std::string>();
    return {};
  };
  for (auto [field, out] : {std::pair{"type", &s.repo_type}, std::pair{"revision", &s.revision},
                            std::pair{"credential", &s.credential}}) {
    if (auto r = text(field, *out); !r) return std::unexpected(r.error());
  }
  if (!repoTypeOf(s.repo_type)) {
    return fail(ErrorCode::InvalidArgument, "type: expected model, dataset or space");
  }
  if (s.revision.empty() || s.revision.size() > 256 ||
      s.revision.find_first_of("?#\r\n") != std::string::npos) {
    return fail(ErrorCode::InvalidArgument, "revision: expected a branch, tag or commit");
  }
  auto inc = globList(j, "include");
  if (!inc) return std::unexpected(inc.error());
  s.include = std::move(*inc);
  auto exc = globList(j, "exclude");
  if (!exc) return std::unexpected(exc.error());
  s.exclude = std::move(*exc);
  if (j.contains("pin")) {
    if (!j["pin"].is_boolean()) return fail(ErrorCode::InvalidArgument, "pin: expected true or false");
    s.pin = j["pin"].get<bool>();
  }
  return s;
}

json PrefetchSpec::toJson() const {
  return json{{"type", repo_type}, {"repo", repo},       {"revision", revision},
              {"include", include}, {"exclude", exclude}, {"pin", pin},
              {"credential", credential}};
}

Jobs::Jobs(cache::Index& index, cache::BlobStore& store, cache::Space& space,
           hub::ResolveService& resolve, hub::ApiService& api, auth::Authenticator& auth,
           const guard::Guard& guard, asio::thread_pool& blocking, asio::any_io_executor executor, JobsConfig config)
    : index_(index),
      store_(store),
      space_(space),
      resolve_(resolve),
      api_(api),
      auth_(auth),
      guard_(guard),
      blocking_(blocking),
      executor_(std::move(executor)),
      config_(config) {}

Jobs::~Jobs() {
  std::lock_guard lock(mu_);
  for (auto& [id, job] : live_) job->cancel = true;
}

Result<cache::JobRecord> Jobs::startPrefetch(const PrefetchSpec& spec) {
  auto rules = guard_.policy();
  if (!rules->mayProxy(spec.repo)) {
    return fail(ErrorCode::InvalidArgument, "this gateway's policy does not serve " + spec.repo);
  }
  if (!rules->mayCache(spec.repo)) {
    return fail(ErrorCode::InvalidArgument,
                "this gateway's policy does not cache " + spec.repo + " (policy.cache_deny)");
  }
  if (!spec.credential.empty()) {
    if (auto c = auth_.serviceCaller(spec.credential, "prefetch"); !c) return std::unexpected(c.error());
  }
  return launch("prefetch", spec.toJson());
}

Result<cache::JobRecord> Jobs::startVerify() { return launch("verify", json::object()); }
Result<cache::JobRecord> Jobs::startGc() { return launch("gc", json::object()); }

Result<cache::JobRecord> Jobs::launch(const std::string& kind, json spec, std::string id,
                                      json progress, std::int64_t created_at) {
  auto job = std::make_shared<Live>();
  job->rec.id = id.empty() ? newJobId() : std::move(id);
  job->rec.kind = kind;
  job->rec.spec = spec.dump();
  job->rec.state = "queued";
  job->rec.created_at = created_at ? created_at : unixSeconds();
  job->rec.updated_at = job->rec.created_at;
  job->spec = std::move(spec);
  if (progress.is_object()) job->progress = std::move(progress);
  auto rec = job->snapshot();
  if (auto r = index_.putJob(rec); !r) return std::unexpected(r.error());
  {
    std::lock_guard lock(mu_);
    live_[rec.id] = job;
  }
  asio::co_spawn(executor_, run(job), asio::detached);
  return rec;
}

Result<bool> Jobs::cancel(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return false;
  if (it->second->rec.kind == "gc") {
    return fail(ErrorCode::InvalidArgument, "a gc job is one pass and cannot be cancelled");
  }
  it->second->cancel = true;
  return true;
}

Result<std::optional<cache::JobRecord>> Jobs::get(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = live_.find(id); it != live_.end()) return std::optional(it->second->snapshot());
  }
  return index_.findJob(id);
}

Result<std::vector<cache::JobRecord>> Jobs::list(std::size_t limit) {
  auto stored = index_.listJobs(limit);
  if (!stored) return stored;
  std::lock_guard lock(mu_);
  for (auto& r : *stored) {
    if (auto it = live_.find(r.id); it != live_.end()) r = it->second->snapshot();
  }
  return stored;
}

void Jobs::resume() {
  auto jobs = index_.listJobs(1000);
  if (!jobs) {
    spdlog::warn("jobs: cannot list jobs to resume: {}", jobs.error().context);
    return;
  }
  for (const auto& r : *jobs) {
    if (r.state != "queued" && r.state != "running") continue;
    auto spec = json::parse(r.spec, nullptr, false);
    auto progress = json::parse(r.progress, nullptr, false);
    spdlog::info("jobs: resuming {} job {}", r.kind, r.id);
    if (auto l = launch(r.kind, spec.is_discarded() ? json::object() : spec, r.id,
                        progress.is_discarded() ? json::object() : progress, r.created_at);
        !l) {
      spdlog::warn("jobs: cannot resume {}: {}", r.id, l.error().context);
    }
  }
}

void Jobs::persist(const std::shared_ptr<Live>& job) {
  asio::post(blocking_, [index = &index_, rec = job->snapshot()] {
    if (auto r = index->putJob(rec); !r) spdlog::warn("jobs: cannot record {}: {}", rec.id, r.error().context);
  });
}

asio::awaitable<bool> Jobs::sleepUnlessCancelled(std::shared_ptr<Live> job, std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto until = std::chrono::steady_clock::now() + d;
  while (!job->cancel && std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return !job->cancel;
}

asio::awaitable<void> Jobs::run(std::shared_ptr<Live> job) {
  job->state("running");
  persist(job);
  const std::string kind = job->rec.kind;
  if (kind == "prefetch") {
    co_await runPrefetch(job);
  } else if (kind == "verify") {
    co_await runVerify(job);
  } else if (kind == "gc") {
    co_await runGc(job);
  } else {
    job->set("error", "unknown job kind '" + kind + "'");
    job->state("failed");
  }
  {
    std::lock_guard lock(job->mu);
    job->progress.erase("current");
    job->progress.erase("current_bytes");
  }
  spdlog::info("jobs: {} job {} {}", kind, job->rec.id, job->snapshot().state);
  persist(job);
  std::lock_guard lock(mu_);
  live_.erase(job->rec.id);
}

asio::awaitable<std::string> Jobs::fetchOne(std::shared_ptr<Live> job, hub::FileRef file,
                                            const auth::Caller& caller, bool* retryable) {
  *retryable = false;
  auto resolved = co_await resolve_.resolve(file, caller, true);
  if (!resolved) {
    auto code = resolved.error().code;
    *retryable = code == ErrorCode::Unavailable || code == ErrorCode::Timeout ||
                 code == ErrorCode::ResourceExhausted;
    co_return resolved.error().context;
  }
  if (auto* reply = std::get_if<hub::UpstreamReply>(&*resolved)) {
    *retryable = retryableStatus(reply->status);
    std::string msg = headerOf(reply->headers, "X-Error-Message");
    co_return "the Hub answered " + std::to_string(reply->status) + (msg.empty() ? "" : ": " + msg);
  }
  auto& found = std::get<hub::FoundFile>(*resolved);
  if (found.status == hub::CacheStatus::Hit) {
    job->add("files_cached", 1);
    job->add("bytes_done", found.size);
    co_return std::string();
  }
  if (found.status == hub::CacheStatus::Pass || !found.fill) {
    co_return "does not fit in the cache (cache.max_size or cache.min_free)";
  }
  for (;;) {
    auto p = found.fill->progress();
    job->set("current_bytes", p.available);
    if (p.state == cache::FillSession::State::Committed) {
      job->add("bytes_done", found.size);
      if (p.scan && p.scan->verdict != "clean") {
        std::lock_guard lock(job->mu);
        auto& flagged = job->progress["flagged"];
        if (!flagged.is_array()) flagged = json::array();
        if (flagged.size() < 100) flagged.push_back({{"path", file.path}, {"verdict", p.scan->verdict}});
      }
      co_return std::string();
    }
    if (p.state == cache::FillSession::State::Failed) {
      *retryable = true;
      co_return p.error ? p.error->context : std::string("fill failed");
    }
    if (job->cancel) co_return "cancelled";
    co_await found.fill->waitUntil(found.size + 1, std::chrono::milliseconds(500));
  }
}

asio::awaitable<void> Jobs::runPrefetch(std::shared_ptr<Live> job) {
  auto spec = PrefetchSpec::fromJson(job->spec);
  if (!spec) {
    job->set("error", spec.error().context);
    job->state("failed");
    co_return;
  }
  auto caller = auth_.serviceCaller(spec->credential, "prefetch:" + job->rec.id);
  if (!caller) {
    job->set("error", caller.error().context);
    job->state("failed");
    co_return;
  }
  const hub::RepoType type = *repoTypeOf(spec->repo_type);
  if (spec->pin) {
    const PrefetchSpec* sp = &*spec;
    cache::Space* space = &space_;
    auto pinned = co_await runBlocking(blocking_, [sp, space] { return space->pin(sp->repo_type, sp->repo); });
    if (!pinned) spdlog::warn("prefetch {}: pin failed: {}", job->rec.id, pinned.error().context);
  }
  // The revision is resolved to a commit once; a resumed job keeps the commit it started with.
  std::string commit;
  {
    std::lock_guard lock(job->mu);
    commit = job->progress.value("commit", std::string());
  }
  hub::ApiRequest info;
  info.target.kind = hub::ApiKind::RepoInfo;
  info.target.type = type;
  info.target.repo = spec->repo;
  info.target.revision = commit.empty() ? spec->revision : commit;
  info.caller = &*caller;
  json listing;
  std::string listing_error;
  for (int attempt = 0; attempt < config_.max_attempts; ++attempt) {
    if (attempt > 0 && !co_await sleepUnlessCancelled(job, config_.retry_backoff * (1 << std::min(attempt - 1, 10)))) {
      break;
    }
    auto reply = co_await api_.handle(info);
    if (reply.status == 200) {
      listing = json::parse(reply.body, nullptr, false);
      listing_error.clear();
      break;
    }
    std::string msg = headerOf(reply.headers, "X-Error-Message");
    listing_error = "listing " + spec->repo + "@" + info.target.revision + ": the Hub answered " +
                    std::to_string(reply.status) + (msg.empty() ? "" : ": " + msg);
    if (!retryableStatus(reply.status)) break;
  }
  if (job->cancel) {
    job->state("cancelled");
    co_return;
  }
  if (!listing_error.empty() || !listing.is_object() || !listing.contains("sha") ||
      !listing["sha"].is_string()) {
    job->set("error", listing_error.empty() ? std::string("the Hub's repo info has no commit") : listing_error);
    job->state("failed");
    co_return;
  }
  commit = listing["sha"].get<std::string>();
  // Policy again, as in force now (a resumed job may meet a reloaded policy): what clients would
  // be refused is not fetched.
  if (auto rules = guard_.policy(); !rules->mayProxy(spec->repo) || !rules->mayCache(spec->repo)) {
    job->set("error", "this gateway's policy does not serve or cache " + spec->repo);
    job->state("failed");
    co_return;
  } else if (rules->checksLicenses() && !rules->licenseAllowed(guard::cardLicenses(listing.dump()))) {
    job->set("error", spec->repo + " does not declare a license on this gateway's license allowlist");
    job->state("failed");
    co_return;
  }
  std::vector<std::string> files;
  if (listing.contains("siblings") && listing["siblings"].is_array()) {
    for (const auto& s : listing["siblings"]) {
      if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
      std::string path = s["rfilename"].get<std::string>();
      bool wanted = spec->include.empty();
      for (const auto& g : spec->include) wanted = wanted || globMatch(g, path);
      for (const auto& g : spec->exclude) wanted = wanted && !globMatch(g, path);
      if (wanted) files.push_back(std::move(path));
    }
  }
  {
    std::lock_guard lock(job->mu);
    job->progress["commit"] = commit;
    job->progress["files_total"] = files.size();
    // Counters restart with the listing; a resumed job recounts its cached files as it goes.
    job->progress["files_done"] = 0;
    job->progress["files_cached"] = 0;
    job->progress["files_failed"] = 0;
    job->progress["bytes_done"] = 0;
    job->progress["errors"] = json::array();
  }
  persist(job);
  for (const auto& path : files) {
    if (job->cancel) break;
    job->set("current", path);
    job->set("current_bytes", 0);
    std::string why;
    for (int attempt = 0; attempt < config_.max_attempts; ++attempt) {
      if (attempt > 0) {
        job->add("retries", 1);
        if (!co_await sleepUnlessCancelled(job, config_.retry_backoff * (1 << std::min(attempt - 1, 10)))) break;
      }
      bool retryable = false;
      // A named argument: g++ 12 destroys a temporary passed to a coroutine twice.
      hub::FileRef ref{type, spec->repo, commit, path};
      why = co_await fetchOne(job, ref, *caller, &retryable);
      if (why.empty() || !retryable || job->cancel) break;
      spdlog::info("prefetch {}: {}: {} (attempt {} of {})", job->rec.id, path, why, attempt + 1,
                   config_.max_attempts);
    }
    if (job->cancel) break;
    if (why.empty()) {
      job->add("files_done", 1);
    } else {
      std::lock_guard lock(job->mu);
      job->progress["files_failed"] = job->progress.value("files_failed", 0) + 1;
      if (job->progress["errors"].size() < 100) {
        job->progress["errors"].push_back({{"path", path}, {"error", why}});
      }
    }
    persist(job);
  }
  if (job->cancel) {
    job->state("cancelled");
  } else {
    std::lock_guard lock(job->mu);
    job->rec.state = job->progress.value("files_failed", 0) > 0 ? "failed" : "done";
  }
}

asio::awaitable<void> Jobs::runVerify(std::shared_ptr<Live> job) {
  cache::Index* index = &index_;
  auto blobs = co_await runBlocking(blocking_, [index] { return index->listBlobs(); });
  if (!blobs) {
    job->set("error", blobs.error().context);
    job->state("failed");
    co_return;
  }
  std::uint64_t total_bytes = 0;
  for (const auto& b : *blobs) total_bytes += b.size;
  job->set("blobs_total", blobs->size());
  job->set("bytes_total", total_bytes);
  job->set("blobs_done", 0);
  job->set("bytes_done", 0);
  job->set("corrupt", json::array());
  for (const auto& b : *blobs) {
    if (job->cancel) break;
    job->set("current", b.key.str());
    auto task = std::make_unique<VerifyTask>(VerifyTask{&store_, &space_, b.key, b.size, {}});
    VerifyTask* t = task.get();
    co_await runBlocking(blocking_, [t] {
      verifyBlob(*t);
      return 0;
    });
    job->add("blobs_done", 1);
    job->add("bytes_done", b.size);
    if (t->outcome.starts_with("corrupt")) {
      spdlog::warn("verify: {} quarantined: {}", b.key.str(), t->outcome);
      std::lock_guard lock(job->mu);
      job->progress["corrupt"].push_back({{"blob", b.key.str()}, {"problem", t->outcome}});
    }
  }
  job->state(job->cancel ? "cancelled" : "done");
}

asio::awaitable<void> Jobs::runGc(std::shared_ptr<Live> job) {
  auto task = std::make_unique<GcTask>(GcTask{&space_, &store_, {}, 0, 0});
  GcTask* t = task.get();
  co_await runBlocking(blocking_, [t] {
    collectGarbage(*t);
    return 0;
  });
  job->set("evicted_blobs", t->evicted.blobs);
  job->set("evicted_bytes", t->evicted.bytes);
  job->set("orphans_removed", t->orphans);
  job->set("orphan_bytes", t->orphan_bytes);
  job->state("done");
}

}  // namespace hubgate::ops
