#include "cache/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <system_error>

namespace hubgate::cache {
namespace fs = std::filesystem;
namespace {

std::string errnoText() { return std::strerror(errno); }

Result<void> fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::Internal, "open dir " + dir.string() + ": " + errnoText());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return fail(ErrorCode::Internal, "fsync dir " + dir.string() + ": " + errnoText());
  return {};
}

std::string randomName() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(24, '0');
  for (auto& c : s) c = kHex[rng() & 0xf];
  return s;
}

}  // namespace

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Result<Fd> Fd::dup() const {
  int f = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (f < 0) {
    return fail(errno == EMFILE || errno == ENFILE ? ErrorCode::ResourceExhausted : ErrorCode::Internal,
                "dup: " + errnoText());
  }
  return Fd(f);
}

Result<BlobStore> BlobStore::open(const fs::path& root) {
  std::error_code ec;
  for (const char* sub : {"blobs/sha256", "blobs/sha1", "tmp"}) {
    fs::create_directories(root / sub, ec);
    if (ec) {
      return fail(ErrorCode::Unavailable,
                  "cannot create cache directory " + (root / sub).string() + ": " + ec.message());
    }
  }
  return BlobStore(fs::absolute(root));
}

fs::path BlobStore::blobPath(const BlobKey& key) const {
  return root_ / "blobs" / std::string(digestKindName(key.kind)) / key.digest.substr(0, 2) /
         key.digest;
}

Result<TempFile> BlobStore::createTemp() const {
  fs::path p = root_ / "tmp" / (randomName() + ".part");
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return fail(ErrorCode::Unavailable, "create " + p.string() + ": " + errnoText());
  return TempFile{Fd(fd), p};
}

Result<void> BlobStore::publish(TempFile& temp, const BlobKey& key) const {
  auto cleanup = [&] {
    std::error_code ec;
    fs::remove(temp.path, ec);
  };
  if (::fsync(temp.fd.get()) != 0) {
    cleanup();
    return fail(ErrorCode::Unavailable, "fsync " + temp.path.string() + ": " + errnoText());
  }
  fs::path dst = blobPath(key);
  std::error_code ec;
  fs::create_directories(dst.parent_path(), ec);
  if (ec) {
    cleanup();
    return fail(ErrorCode::Unavailable, "mkdir " + dst.parent_path().string() + ": " + ec.message());
  }
  if (::rename(temp.path.c_str(), dst.c_str()) != 0) {
    cleanup();
    return fail(ErrorCode::Unavailable, "rename to " + dst.string() + ": " + errnoText());
  }
  return fsyncDir(dst.parent_path());
}

Result<Fd> BlobStore::openBlob(const BlobKey& key) const {
  fs::path p = blobPath(key);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fail(ErrorCode::NotFound, "blob " + key.str() + " not on disk");
    return fail(ErrorCode::Unavailable, "open " + p.string() + ": " + errnoText());
  }
  return Fd(fd);
}

Result<ReconcileStats> BlobStore::reconcile(Index& index) const {
  ReconcileStats stats;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ / "tmp", ec)) {
    std::error_code rec;
    if (fs::remove(e.path(), rec)) ++stats.temp_removed;
  }
  auto rows = index.listBlobs();
  if (!rows) return std::unexpected(rows.error());
  std::set<std::string> known;
  for (const auto& b : *rows) {
    std::error_code sec;
    auto size = fs::file_size(blobPath(b.key), sec);
    if (sec || size != b.size) {
      if (auto r = index.removeBlob(b.key); !r) return std::unexpected(r.error());
      ++stats.rows_dropped;
      continue;
    }
    known.insert(blobPath(b.key).string());
  }
  for (const char* kind : {"sha256", "sha1"}) {
    for (const auto& e : fs::recursive_directory_iterator(root_ / "blobs" / kind, ec)) {
      if (!e.is_regular_file()) continue;
      if (!known.contains(e.path().string())) {
        std::error_code rec;
        if (fs::remove(e.path(), rec)) ++stats.orphans_removed;
      }
    }
  }
  return stats;
}

}  // namespace hubgate::cache
