// BlobStore: content-addressed blob files on local disk.
//
// Layout under the cache root (docs/cache_format.md):
//   blobs/sha256/<aa>/<64-hex>     LFS content, named by its sha256
//   blobs/sha1/<aa>/<40-hex>       regular files, named by their git blob sha1
//   tmp/<random>.part              fills in progress; never served by path, removed at startup
//   index.sqlite                   the Index
// A blob becomes visible only through publish(): fsync(temp) -> rename into blobs/ -> fsync(dir);
// the caller writes the index row after publish() returns, so an index row always points at
// durable bytes. Crash at any point leaves either nothing visible or a file without a row
// (an orphan, deleted by reconcile()).
//
// Thread-safety: all methods may be called concurrently. publish() and reconcile() block on
// disk I/O: call them from the blocking worker pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/error.h"
#include "cache/index.h"

namespace hubgate::cache {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  Result<Fd> dup() const;

 private:
  int fd_ = -1;
};

struct TempFile {
  Fd fd;  // open read-write
  std::filesystem::path path;
};

struct ReconcileStats {
  std::uint64_t temp_removed = 0;
  std::uint64_t orphans_removed = 0;
  std::uint64_t rows_dropped = 0;  // index rows whose file was missing or of the wrong size
};

class BlobStore {
 public:
  // Creates the directory layout under `root` if needed.
  static Result<BlobStore> open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path indexPath() const { return root_ / "index.sqlite"; }
  std::filesystem::path blobPath(const BlobKey& key) const;

  Result<TempFile> createTemp() const;
  // Makes the temp file's bytes durable and moves them to blobPath(key). On failure the temp
  // file is removed. Idempotent if the blob already exists (same content by construction).
  Result<void> publish(TempFile& temp, const BlobKey& key) const;
  // Opens a published blob read-only. NotFound if absent.
  Result<Fd> openBlob(const BlobKey& key) const;
  // Startup reconciliation: delete tmp/*, delete blob files without an index row, drop index rows
  // whose file is missing or has a different size.
  Result<ReconcileStats> reconcile(Index& index) const;

 private:
  explicit BlobStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace hubgate::cache
