#include "cache/index.h"

#include <sqlite3.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "base/time.h"

namespace hubgate::cache {
namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs(
  kind TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_access INTEGER NOT NULL,
  PRIMARY KEY(kind, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files(
  repo_type TEXT NOT NULL,
  repo TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  path TEXT NOT NULL,
  kind TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  headers TEXT NOT NULL,
  authenticated INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_type, repo, commit_sha, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_blob ON files(kind, digest);
CREATE TABLE IF NOT EXISTS answers(
  kind TEXT NOT NULL,
  repo_type TEXT NOT NULL,
  repo TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  key TEXT NOT NULL,
  scope TEXT NOT NULL,
  status INTEGER NOT NULL,
  headers TEXT NOT NULL,
  body BLOB NOT NULL,
  fetched_at INTEGER NOT NULL,
  PRIMARY KEY(kind, repo_type, repo, commit_sha, key, scope)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revisions(
  repo_type TEXT NOT NULL,
  repo TEXT NOT NULL,
  revision TEXT NOT NULL,
  scope TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  fetched_at_ms INTEGER NOT NULL,
  PRIMARY KEY(repo_type, repo, revision, scope)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gateway_keys(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  credential TEXT NOT NULL,
  allow TEXT NOT NULL,
  deny TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entitlements(
  scope TEXT NOT NULL,
  repo_type TEXT NOT NULL,
  repo TEXT NOT NULL,
  files_at_ms INTEGER NOT NULL,
  meta_at_ms INTEGER NOT NULL,
  PRIMARY KEY(scope, repo_type, repo)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS verdicts(
  kind TEXT NOT NULL,
  digest TEXT NOT NULL,
  verdict TEXT NOT NULL,
  format TEXT NOT NULL,
  summary TEXT NOT NULL,
  findings TEXT NOT NULL,
  scanner_version TEXT NOT NULL,
  scanned_at INTEGER NOT NULL,
  PRIMARY KEY(kind, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pins(
  repo_type TEXT NOT NULL,
  repo TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_type, repo)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs(
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  progress TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL) WITHOUT ROWID;
)sql";

// Globs are stored one per line (a glob never contains a newline: validated by auth/).
std::string joinLines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}
std::vector<std::string> splitLines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    if (nl > pos) out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}


DigestKind kindFrom(std::string_view s) {
  return s == "sha1" ? DigestKind::GitSha1 : DigestKind::Sha256;
}

// Prepared statements kept per connection for the index's lifetime, keyed by their SQL text's
// address (every statement is a string literal): a point lookup then costs a bind and a step
// instead of a parse. Guarded by the connection's mutex, like the connection itself.
using StmtCache = std::unordered_map<const char*, sqlite3_stmt*>;

struct Conn {
  sqlite3* db;
  StmtCache* cache;
};

// A prepared statement: cached ones are reset (ending their read transaction) and kept when
// the Stmt goes out of scope; uncached ones are finalized.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  Stmt(Conn conn, const char* sql) : cached_(true) {
    auto& slot = (*conn.cache)[sql];
    if (!slot) {
      rc_ = sqlite3_prepare_v2(conn.db, sql, -1, &slot, nullptr);
      if (rc_ != SQLITE_OK) {
        sqlite3_finalize(slot);
        slot = nullptr;
      }
    } else {
      rc_ = SQLITE_OK;
    }
    stmt_ = slot;
  }
  ~Stmt() {
    if (!cached_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) const {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
  bool cached_ = false;
};

void finalizeAll(StmtCache& cache) {
  for (auto& [sql, stmt] : cache) sqlite3_finalize(stmt);
  cache.clear();
}

Result<std::vector<BlobKey>> collectKeys(Stmt& s, const char* what) {
  std::vector<BlobKey> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(BlobKey{kindFrom(s.text(0)), s.text(1)});
  if (rc != SQLITE_DONE) return fail(ErrorCode::Internal, what);
  return out;
}

class SqliteIndex final : public Index {
 public:
  ~SqliteIndex() override {
    finalizeAll(read_stmts_);
    finalizeAll(write_stmts_);
    sqlite3_close(reader_);
    sqlite3_close(writer_);
  }

  static Result<std::unique_ptr<Index>> open(const std::string& path) {
    auto idx = std::unique_ptr<SqliteIndex>(new SqliteIndex());
    // ":memory:" databases are per connection, so tests share one connection for both roles.
    const bool memory = path == ":memory:";
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path.c_str(), &idx->writer_, flags, nullptr) != SQLITE_OK) {
      return fail(ErrorCode::Unavailable, "open index " + path + ": " + sqlite3_errmsg(idx->writer_));
    }
    sqlite3_busy_timeout(idx->writer_, 5000);
    char* err = nullptr;
    if (sqlite3_exec(idx->writer_, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      return fail(ErrorCode::Corruption, "index " + path + " is not a usable hubgate index: " + msg);
    }
    {
      Stmt get(idx->writer_, "SELECT value FROM meta WHERE key='format_version'");
      if (get.step() == SQLITE_ROW) {
        int v = std::stoi(get.text(0));
        if (v > kFormatVersion) {
          return fail(ErrorCode::Corruption, "index " + path + " has format version " +
                                                 std::to_string(v) + ", this hubgate reads up to " +
                                                 std::to_string(kFormatVersion));
        }
        idx->version_ = v;
      } else {
        Stmt put(idx->writer_, "INSERT INTO meta(key, value) VALUES('format_version', ?1)");
        put.bind(1, std::to_string(kFormatVersion));
        if (put.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "write index version");
        idx->version_ = kFormatVersion;
      }
    }
    if (memory) {
      idx->reader_ = nullptr;
    } else if (sqlite3_open_v2(path.c_str(), &idx->reader_,
                               SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
                               nullptr) != SQLITE_OK) {
      return fail(ErrorCode::Unavailable, "open index reader " + path);
    } else {
      sqlite3_busy_timeout(idx->reader_, 5000);
    }
    return std::unique_ptr<Index>(std::move(idx));
  }

  Result<std::optional<BlobRecord>> findBlob(const BlobKey& key) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(), "SELECT size, created_at, last_access FROM blobs WHERE kind=?1 AND digest=?2");
    s.bind(1, digestKindName(key.kind)).bind(2, key.digest);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<BlobRecord>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findBlob failed");
    return BlobRecord{key, static_cast<std::uint64_t>(s.i64(0)), s.i64(1), s.i64(2)};
  }

  Result<std::optional<FileEntry>> findFile(const std::string& repo_type, const std::string& repo,
                                            const std::string& commit,
                                            const std::string& path) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT kind, digest, size, headers, authenticated FROM files WHERE repo_type=?1 AND "
           "repo=?2 AND commit_sha=?3 AND path=?4");
    s.bind(1, repo_type).bind(2, repo).bind(3, commit).bind(4, path);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<FileEntry>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findFile failed");
    FileEntry e;
    e.repo_type = repo_type;
    e.repo = repo;
    e.commit = commit;
    e.path = path;
    e.blob = BlobKey{kindFrom(s.text(0)), s.text(1)};
    e.size = static_cast<std::uint64_t>(s.i64(2));
    e.headers = s.text(3);
    e.authenticated = s.i64(4) != 0;
    return e;
  }

  Result<void> putBlob(const BlobRecord& b) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO blobs(kind, digest, size, created_at, last_access) "
           "VALUES(?1, ?2, ?3, ?4, ?5)");
    std::int64_t now = unixSeconds();
    s.bind(1, digestKindName(b.key.kind))
        .bind(2, b.key.digest)
        .bind(3, static_cast<std::int64_t>(b.size))
        .bind(4, b.created_at ? b.created_at : now)
        .bind(5, b.last_access ? b.last_access : now);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putBlob failed");
    return {};
  }

  Result<void> putFile(const FileEntry& f) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO files(repo_type, repo, commit_sha, path, kind, digest, size, "
           "headers, authenticated, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    s.bind(1, f.repo_type)
        .bind(2, f.repo)
        .bind(3, f.commit)
        .bind(4, f.path)
        .bind(5, digestKindName(f.blob.kind))
        .bind(6, f.blob.digest)
        .bind(7, static_cast<std::int64_t>(f.size))
        .bind(8, f.headers)
        .bind(9, std::int64_t{f.authenticated ? 1 : 0})
        .bind(10, unixSeconds());
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putFile failed");
    return {};
  }

  Result<void> removeBlob(const BlobKey& key) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(), "DELETE FROM blobs WHERE kind=?1 AND digest=?2");
    s.bind(1, digestKindName(key.kind)).bind(2, key.digest);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index removeBlob failed");
    return {};
  }

  Result<std::vector<BlobRecord>> listBlobs() override {
    std::lock_guard lock(readMu());
    Stmt s(reader(), "SELECT kind, digest, size, created_at, last_access FROM blobs");
    std::vector<BlobRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back(BlobRecord{BlobKey{kindFrom(s.text(0)), s.text(1)},
                               static_cast<std::uint64_t>(s.i64(2)), s.i64(3), s.i64(4)});
    }
    if (rc != SQLITE_DONE) return fail(ErrorCode::Internal, "index listBlobs failed");
    return out;
  }

  Result<void> touchBlobs(const std::vector<std::pair<BlobKey, std::int64_t>>& accessed) override {
    if (accessed.empty()) return {};
    std::lock_guard lock(write_mu_);
    if (sqlite3_exec(writer_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail(ErrorCode::Internal, "index touchBlobs: begin failed");
    }
    {
      Stmt s(writer(), "UPDATE blobs SET last_access=max(last_access, ?3) WHERE kind=?1 AND digest=?2");
      for (const auto& [key, at] : accessed) {
        s.reset();
        s.bind(1, digestKindName(key.kind)).bind(2, key.digest).bind(3, at);
        if (s.step() != SQLITE_DONE) {
          sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
          return fail(ErrorCode::Internal, "index touchBlobs failed");
        }
      }
    }
    if (sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
      return fail(ErrorCode::Internal, "index touchBlobs: commit failed");
    }
    return {};
  }

  Result<std::vector<BlobKey>> blobsOfRepo(const std::string& repo_type,
                                           const std::string& repo) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(), "SELECT DISTINCT kind, digest FROM files WHERE repo_type=?1 AND repo=?2");
    s.bind(1, repo_type).bind(2, repo);
    return collectKeys(s, "index blobsOfRepo failed");
  }

  Result<std::vector<RepoUsage>> repoUsage() override {
    std::lock_guard lock(readMu());
    // Distinct blobs per repo first (a blob may back several paths or commits of one repo).
    Stmt s(reader(),
           "SELECT u.repo_type, u.repo, sum(u.paths), count(*), sum(b.size), max(b.last_access), "
           "EXISTS(SELECT 1 FROM pins p WHERE p.repo_type=u.repo_type AND p.repo=u.repo) "
           "FROM (SELECT repo_type, repo, kind, digest, count(*) AS paths FROM files "
           "      GROUP BY repo_type, repo, kind, digest) u "
           "JOIN blobs b ON b.kind=u.kind AND b.digest=u.digest "
           "GROUP BY u.repo_type, u.repo ORDER BY u.repo_type, u.repo");
    std::vector<RepoUsage> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back(RepoUsage{s.text(0), s.text(1), static_cast<std::uint64_t>(s.i64(2)),
                              static_cast<std::uint64_t>(s.i64(3)),
                              static_cast<std::uint64_t>(s.i64(4)), s.i64(5), s.i64(6) != 0});
    }
    if (rc != SQLITE_DONE) return fail(ErrorCode::Internal, "index repoUsage failed");
    return out;
  }

  Result<void> putPin(const std::string& repo_type, const std::string& repo) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(), "INSERT OR IGNORE INTO pins(repo_type, repo, created_at) VALUES(?1, ?2, ?3)");
    s.bind(1, repo_type).bind(2, repo).bind(3, unixSeconds());
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putPin failed");
    return {};
  }

  Result<bool> removePin(const std::string& repo_type, const std::string& repo) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(), "DELETE FROM pins WHERE repo_type=?1 AND repo=?2");
    s.bind(1, repo_type).bind(2, repo);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index removePin failed");
    return sqlite3_changes(writer_) > 0;
  }

  Result<std::vector<PinRecord>> listPins() override {
    std::lock_guard lock(readMu());
    Stmt s(reader(), "SELECT repo_type, repo, created_at FROM pins ORDER BY repo_type, repo");
    std::vector<PinRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(PinRecord{s.text(0), s.text(1), s.i64(2)});
    if (rc != SQLITE_DONE) return fail(ErrorCode::Internal, "index listPins failed");
    return out;
  }

  Result<std::vector<BlobKey>> pinnedBlobs() override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT DISTINCT f.kind, f.digest FROM files f JOIN pins p "
           "ON p.repo_type=f.repo_type AND p.repo=f.repo");
    return collectKeys(s, "index pinnedBlobs failed");
  }

  Result<void> putJob(const JobRecord& j) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO jobs(id, kind, spec, state, progress, created_at, updated_at) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    std::int64_t now = unixSeconds();
    s.bind(1, j.id).bind(2, j.kind).bind(3, j.spec).bind(4, j.state).bind(5, j.progress);
    s.bind(6, j.created_at ? j.created_at : now).bind(7, now);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putJob failed");
    return {};
  }

  Result<std::optional<JobRecord>> findJob(const std::string& id) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT id, kind, spec, state, progress, created_at, updated_at FROM jobs WHERE id=?1");
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<JobRecord>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findJob failed");
    return JobRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.i64(5), s.i64(6)};
  }

  Result<std::vector<JobRecord>> listJobs(std::size_t limit) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT id, kind, spec, state, progress, created_at, updated_at FROM jobs "
           "ORDER BY created_at DESC, id DESC LIMIT ?1");
    s.bind(1, static_cast<std::int64_t>(limit));
    std::vector<JobRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back(JobRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.i64(5), s.i64(6)});
    }
    if (rc != SQLITE_DONE) return fail(ErrorCode::Internal, "index listJobs failed");
    return out;
  }

  Result<std::optional<MetaEntry>> findMeta(const MetaEntry& k) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT status, headers, body, fetched_at FROM answers WHERE kind=?1 AND repo_type=?2 AND "
           "repo=?3 AND commit_sha=?4 AND key=?5 AND scope=?6");
    s.bind(1, k.kind).bind(2, k.repo_type).bind(3, k.repo).bind(4, k.commit).bind(5, k.key).bind(6, k.scope);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<MetaEntry>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findMeta failed");
    MetaEntry e = k;
    e.status = static_cast<int>(s.i64(0));
    e.headers = s.text(1);
    e.body = s.text(2);
    e.fetched_at = s.i64(3);
    return e;
  }

  Result<void> putMeta(const MetaEntry& e) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO answers(kind, repo_type, repo, commit_sha, key, scope, status, "
           "headers, body, fetched_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    s.bind(1, e.kind).bind(2, e.repo_type).bind(3, e.repo).bind(4, e.commit).bind(5, e.key).bind(6, e.scope);
    s.bind(7, std::int64_t{e.status}).bind(8, e.headers).bind(9, e.body);
    s.bind(10, e.fetched_at ? e.fetched_at : unixSeconds());
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putMeta failed");
    return {};
  }

  Result<std::optional<RevisionEntry>> findRevision(const std::string& repo_type,
                                                    const std::string& repo,
                                                    const std::string& revision,
                                                    const std::string& scope) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT commit_sha, fetched_at_ms FROM revisions WHERE repo_type=?1 AND repo=?2 AND "
           "revision=?3 AND scope=?4");
    s.bind(1, repo_type).bind(2, repo).bind(3, revision).bind(4, scope);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<RevisionEntry>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findRevision failed");
    return RevisionEntry{s.text(0), s.i64(1)};
  }

  Result<void> putRevision(const std::string& repo_type, const std::string& repo,
                           const std::string& revision, const std::string& scope,
                           const std::string& commit) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO revisions(repo_type, repo, revision, scope, commit_sha, "
           "fetched_at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    s.bind(1, repo_type).bind(2, repo).bind(3, revision).bind(4, scope).bind(5, commit).bind(6, std::int64_t{ms});
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putRevision failed");
    return {};
  }

  Result<void> putKey(const KeyRecord& k) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO gateway_keys(id, name, digest, credential, allow, deny, "
           "created_at, revoked_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    s.bind(1, k.id).bind(2, k.name).bind(3, k.digest).bind(4, k.credential);
    s.bind(5, joinLines(k.allow)).bind(6, joinLines(k.deny));
    s.bind(7, k.created_at ? k.created_at : unixSeconds()).bind(8, k.revoked_at);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putKey failed");
    return {};
  }

  static KeyRecord keyFrom(const Stmt& s) {
    KeyRecord k;
    k.id = s.text(0);
    k.name = s.text(1);
    k.digest = s.text(2);
    k.credential = s.text(3);
    k.allow = splitLines(s.text(4));
    k.deny = splitLines(s.text(5));
    k.created_at = s.i64(6);
    k.revoked_at = s.i64(7);
    return k;
  }

  Result<std::optional<KeyRecord>> findKey(const std::string& id) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT id, name, digest, credential, allow, deny, created_at, revoked_at FROM "
           "gateway_keys WHERE id=?1");
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<KeyRecord>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findKey failed");
    return keyFrom(s);
  }

  Result<std::vector<KeyRecord>> listKeys() override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT id, name, digest, credential, allow, deny, created_at, revoked_at FROM "
           "gateway_keys ORDER BY created_at, id");
    std::vector<KeyRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(keyFrom(s));
    if (rc != SQLITE_DONE) return fail(ErrorCode::Internal, "index listKeys failed");
    return out;
  }

  Result<bool> revokeKey(const std::string& id) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(), "UPDATE gateway_keys SET revoked_at=?2 WHERE id=?1 AND revoked_at=0");
    s.bind(1, id).bind(2, unixSeconds());
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index revokeKey failed");
    return sqlite3_changes(writer_) > 0;
  }

  Result<std::optional<EntitlementRecord>> findEntitlement(const std::string& scope,
                                                           const std::string& repo_type,
                                                           const std::string& repo) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT files_at_ms, meta_at_ms FROM entitlements WHERE scope=?1 AND repo_type=?2 AND "
           "repo=?3");
    s.bind(1, scope).bind(2, repo_type).bind(3, repo);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<EntitlementRecord>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findEntitlement failed");
    return EntitlementRecord{s.i64(0), s.i64(1)};
  }

  Result<void> putEntitlement(const std::string& scope, const std::string& repo_type,
                              const std::string& repo, const EntitlementRecord& e) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO entitlements(scope, repo_type, repo, files_at_ms, meta_at_ms) "
           "VALUES(?1, ?2, ?3, ?4, ?5)");
    s.bind(1, scope).bind(2, repo_type).bind(3, repo).bind(4, e.files_at_ms).bind(5, e.meta_at_ms);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putEntitlement failed");
    return {};
  }

  Result<void> removeEntitlement(const std::string& scope, const std::string& repo_type,
                                 const std::string& repo) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(), "DELETE FROM entitlements WHERE scope=?1 AND repo_type=?2 AND repo=?3");
    s.bind(1, scope).bind(2, repo_type).bind(3, repo);
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index removeEntitlement failed");
    return {};
  }

  Result<void> putVerdict(const BlobKey& b, const ScanRecord& r) override {
    std::lock_guard lock(write_mu_);
    Stmt s(writer(),
           "INSERT OR REPLACE INTO verdicts(kind, digest, verdict, format, summary, findings, "
           "scanner_version, scanned_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    s.bind(1, digestKindName(b.kind)).bind(2, b.digest).bind(3, r.verdict).bind(4, r.format);
    s.bind(5, r.summary).bind(6, r.findings).bind(7, r.scanner_version);
    s.bind(8, r.scanned_at ? r.scanned_at : unixSeconds());
    if (s.step() != SQLITE_DONE) return fail(ErrorCode::Internal, "index putVerdict failed");
    return {};
  }

  Result<std::optional<ScanRecord>> findVerdict(const BlobKey& b) override {
    std::lock_guard lock(readMu());
    Stmt s(reader(),
           "SELECT verdict, format, summary, findings, scanner_version, scanned_at FROM verdicts "
           "WHERE kind=?1 AND digest=?2");
    s.bind(1, digestKindName(b.kind)).bind(2, b.digest);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<ScanRecord>();
    if (rc != SQLITE_ROW) return fail(ErrorCode::Internal, "index findVerdict failed");
    return ScanRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.i64(5)};
  }

  Result<IndexStats> stats() override {
    std::lock_guard lock(readMu());
    IndexStats st;
    Stmt b(reader(), "SELECT count(*), coalesce(sum(size), 0) FROM blobs");
    if (b.step() != SQLITE_ROW) return fail(ErrorCode::Internal, "index stats failed");
    st.blobs = static_cast<std::uint64_t>(b.i64(0));
    st.blob_bytes = static_cast<std::uint64_t>(b.i64(1));
    Stmt f(reader(), "SELECT count(*) FROM files");
    if (f.step() != SQLITE_ROW) return fail(ErrorCode::Internal, "index stats failed");
    st.files = static_cast<std::uint64_t>(f.i64(0));
    Stmt a(reader(), "SELECT count(*) FROM answers");
    if (a.step() != SQLITE_ROW) return fail(ErrorCode::Internal, "index stats failed");
    st.answers = static_cast<std::uint64_t>(a.i64(0));
    Stmt k(reader(), "SELECT count(*) FROM gateway_keys WHERE revoked_at=0");
    if (k.step() != SQLITE_ROW) return fail(ErrorCode::Internal, "index stats failed");
    st.keys_active = static_cast<std::uint64_t>(k.i64(0));
    return st;
  }

  int formatVersion() const override { return version_; }

 private:
  SqliteIndex() = default;
  Conn reader() { return reader_ ? Conn{reader_, &read_stmts_} : writer(); }
  Conn writer() { return Conn{writer_, &write_stmts_}; }
  std::mutex& readMu() { return reader_ ? read_mu_ : write_mu_; }

  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
  std::mutex write_mu_;
  std::mutex read_mu_;
  StmtCache write_stmts_;  // guarded by write_mu_
  StmtCache read_stmts_;   // guarded by read_mu_
  int version_ = 0;
};

}  // namespace

std::string BlobKey::str() const { return std::string(digestKindName(kind)) + ":" + digest; }

Result<std::unique_ptr<Index>> Index::open(const std::string& path) { return SqliteIndex::open(path); }

}  // namespace hubgate::cache
