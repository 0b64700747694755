// Index: the SQLite catalogue of the cache (the only code in hubgate that speaks SQL).
//
// Tables (see docs/cache_format.md, format version kFormatVersion):
//   blobs     (kind, digest) -> size, timestamps          one row per verified blob on disk
//   files     (repo_type, repo, commit, path) -> blob     file identity at an immutable commit
//   answers   Hub metadata answers at a commit (info, tree pages, paths-info, 404s)
//   revisions (repo_type, repo, revision, scope) -> last commit seen
//   gateway_keys  id -> digest, credential name, repo globs     (no key in plain text)
//   entitlements  (scope, repo_type, repo) -> last confirmation (scope = "anon" | token digest)
//   verdicts      (kind, digest) -> scanner verdict, findings, scanner version
// A file row may exist before its blob (written when the Hub told us the identity); lookups
// that serve bytes join both, so a file row alone never makes a hit.
//
// Thread-safety: all methods are safe from any thread. Reads and writes use separate
// connections (WAL mode lets readers run beside the writer); each connection has its own mutex.
// Every call blocks on SQLite: reads are short point lookups (page-cache resident); writes
// should be issued from the blocking worker pool, not from an I/O thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/hash.h"

namespace hubgate::cache {

inline constexpr int kFormatVersion = 1;

struct BlobKey {
  DigestKind kind = DigestKind::Sha256;
  std::string digest;  // lowercase hex: 64 chars for sha256, 40 for git sha1

  std::string str() const;  // "sha256:<hex>"
  friend bool operator==(const BlobKey&, const BlobKey&) = default;
};

struct BlobRecord {
  BlobKey key;
  std::uint64_t size = 0;
  std::int64_t created_at = 0;   // unix seconds
  std::int64_t last_access = 0;  // unix seconds (batched updates; may lag)
};

struct FileEntry {
  std::string repo_type;  // "model" | "dataset" | "space"
  std::string repo;
  std::string commit;  // 40-hex
  std::string path;
  BlobKey blob;
  std::uint64_t size = 0;
  // Hub response headers preserved for replay on hits, "Name: value" lines joined by '\n'.
  std::string headers;
  // True when the Hub answered this identity to a request that carried credentials: such a
  // file may be private or gated, so every caller is re-checked upstream before a hit.
  bool authenticated = false;
};

// A cached Hub metadata answer (repo info, tree page, paths-info, refs, negative resolve).
// Keyed by (kind, repo_type, repo, commit, key, scope): `key` is the canonical request detail
// (query, sub-path, paths-info body), `scope` the caller identity class ("anon" or a token
// digest) so that an answer learned with one token is never replayed to another caller.
struct MetaEntry {
  std::string kind;
  std::string repo_type;
  std::string repo;
  std::string commit;  // 40-hex, or "" for answers not tied to a commit (refs)
  std::string key;
  std::string scope;
  int status = 200;
  std::string headers;  // "Name: value" lines
  std::string body;
  std::int64_t fetched_at = 0;  // unix seconds
};

// The last commit a branch or tag was seen at, per scope.
struct RevisionEntry {
  std::string commit;
  std::int64_t fetched_at = 0;  // unix milliseconds
};

// A gateway API key (issue 4). Only the key's digest is stored; `id` is its public part.
struct KeyRecord {
  std::string id;          // public identifier, embedded in the key ("hgk_<id>_<secret>")
  std::string name;        // operator's label
  std::string digest;      // sha256 hex of the whole key
  std::string credential;  // named upstream credential it maps to; "" = anonymous
  std::vector<std::string> allow;  // repo globs; empty = every repo
  std::vector<std::string> deny;   // repo globs; deny wins over allow
  std::int64_t created_at = 0;     // unix seconds
  std::int64_t revoked_at = 0;     // unix seconds, 0 = active
};

// When the Hub last confirmed a (caller scope, repo) access (auth/entitlements.h), per kind.
struct EntitlementRecord {
  std::int64_t files_at_ms = 0;  // file downloads confirmed (unix ms; 0 = never)
  std::int64_t meta_at_ms = 0;   // metadata answers confirmed (unix ms; 0 = never)
};

// The scanner's verdict on a blob's content (issue 5; scan/report.h). Keyed by the blob: content
// decides the verdict, the policy decides per request what it means.
struct ScanRecord {
  std::string verdict;          // "clean" | "suspicious" | "invalid" | "error" | "malicious"
  std::string format;           // detected format ("pickle", "safetensors", ...)
  std::string summary;          // "malicious: posix.system via STACK_GLOBAL at byte 812 of ..."
  std::string findings;         // JSON array [{severity, rule, message, location, offset}]
  std::string scanner_version;  // scanner + signature feed versions; a change means rescan
  std::int64_t scanned_at = 0;  // unix seconds
};

// A pinned repo: its cached blobs are never evicted (issue 6).
struct PinRecord {
  std::string repo_type;
  std::string repo;
  std::int64_t created_at = 0;  // unix seconds
};

// One cached repo, as `hubgate cache ls` shows it.
struct RepoUsage {
  std::string repo_type;
  std::string repo;
  std::uint64_t files = 0;   // file rows whose blob is cached
  std::uint64_t blobs = 0;   // distinct cached blobs
  std::uint64_t bytes = 0;   // bytes of those blobs
  std::int64_t last_access = 0;  // newest access of any of its blobs (unix seconds)
  bool pinned = false;
};

// A background operation (prefetch, verify, gc) that survives restarts (ops/jobs.h).
struct JobRecord {
  std::string id;
  std::string kind;      // "prefetch" | "verify" | "gc"
  std::string spec;      // JSON: what was asked
  std::string state;     // "queued" | "running" | "done" | "failed" | "cancelled"
  std::string progress;  // JSON: counters and errors
  std::int64_t created_at = 0;  // unix seconds
  std::int64_t updated_at = 0;
};

// Totals for the admin API.
struct IndexStats {
  std::uint64_t blobs = 0;
  std::uint64_t blob_bytes = 0;
  std::uint64_t files = 0;
  std::uint64_t answers = 0;
  std::uint64_t keys_active = 0;
};

class Index {
 public:
  // Opens (creating if needed) the index at `path` (":memory:" for tests). Fails with
  // Corruption when the file is not a hubgate index or has a newer format version.
  static Result<std::unique_ptr<Index>> open(const std::string& path);
  virtual ~Index() = default;

  virtual Result<std::optional<BlobRecord>> findBlob(const BlobKey& key) = 0;
  virtual Result<std::optional<FileEntry>> findFile(const std::string& repo_type,
                                                    const std::string& repo,
                                                    const std::string& commit,
                                                    const std::string& path) = 0;
  // Inserts or replaces.
  virtual Result<void> putBlob(const BlobRecord& blob) = 0;
  virtual Result<void> putFile(const FileEntry& file) = 0;
  virtual Result<void> removeBlob(const BlobKey& key) = 0;
  virtual Result<std::vector<BlobRecord>> listBlobs() = 0;
  // Batched access-time bookkeeping (cache/space.h): one transaction for many blobs.
  virtual Result<void> touchBlobs(const std::vector<std::pair<BlobKey, std::int64_t>>& accessed) = 0;
  // Blobs referenced by a file row of `repo` (any commit), whether or not they are cached.
  virtual Result<std::vector<BlobKey>> blobsOfRepo(const std::string& repo_type,
                                                   const std::string& repo) = 0;
  // Cached repos with their usage (only repos with at least one cached blob).
  virtual Result<std::vector<RepoUsage>> repoUsage() = 0;

  virtual Result<void> putPin(const std::string& repo_type, const std::string& repo) = 0;
  // False when the repo was not pinned.
  virtual Result<bool> removePin(const std::string& repo_type, const std::string& repo) = 0;
  virtual Result<std::vector<PinRecord>> listPins() = 0;
  // Blobs referenced by a file row of any pinned repo.
  virtual Result<std::vector<BlobKey>> pinnedBlobs() = 0;

  virtual Result<void> putJob(const JobRecord& job) = 0;
  virtual Result<std::optional<JobRecord>> findJob(const std::string& id) = 0;
  // Newest first, at most `limit`.
  virtual Result<std::vector<JobRecord>> listJobs(std::size_t limit) = 0;

  virtual Result<std::optional<MetaEntry>> findMeta(const MetaEntry& key_fields) = 0;
  virtual Result<void> putMeta(const MetaEntry& entry) = 0;
  virtual Result<std::optional<RevisionEntry>> findRevision(const std::string& repo_type,
                                                            const std::string& repo,
                                                            const std::string& revision,
                                                            const std::string& scope) = 0;
  virtual Result<void> putRevision(const std::string& repo_type, const std::string& repo,
                                   const std::string& revision, const std::string& scope,
                                   const std::string& commit) = 0;

  virtual Result<void> putKey(const KeyRecord& key) = 0;
  virtual Result<std::optional<KeyRecord>> findKey(const std::string& id) = 0;
  virtual Result<std::vector<KeyRecord>> listKeys() = 0;
  // Marks the key revoked; false when no active key has that id.
  virtual Result<bool> revokeKey(const std::string& id) = 0;

  virtual Result<std::optional<EntitlementRecord>> findEntitlement(const std::string& scope,
                                                                   const std::string& repo_type,
                                                                   const std::string& repo) = 0;
  virtual Result<void> putEntitlement(const std::string& scope, const std::string& repo_type,
                                      const std::string& repo, const EntitlementRecord& e) = 0;
  virtual Result<void> removeEntitlement(const std::string& scope, const std::string& repo_type,
                                         const std::string& repo) = 0;

  virtual Result<void> putVerdict(const BlobKey& blob, const ScanRecord& record) = 0;
  virtual Result<std::optional<ScanRecord>> findVerdict(const BlobKey& blob) = 0;

  virtual Result<IndexStats> stats() = 0;
  virtual int formatVersion() const = 0;
};

}  // namespace hubgate::cache
