#include "scan/source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hubgate::scan {

Result<std::string> ByteSource::readString(std::uint64_t offset, std::size_t n) {
  if (offset > size() || n > size() - offset) {
    return fail(ErrorCode::InvalidArgument, "read of " + std::to_string(n) + " bytes at " +
                                                std::to_string(offset) + " is past the end (" +
                                                std::to_string(size()) + " bytes)");
  }
  std::string out(n, '\0');
  std::size_t done = 0;
  while (done < n) {
    auto got = read(offset + done, std::as_writable_bytes(std::span(out.data() + done, n - done)));
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return fail(ErrorCode::Unavailable, "unexpected end of data");
    done += *got;
  }
  return out;
}

Result<std::size_t> MemorySource::read(std::uint64_t offset, std::span<std::byte> out) {
  if (offset >= bytes_.size()) return std::size_t{0};
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), bytes_.size() - offset));
  std::memcpy(out.data(), bytes_.data() + offset, n);
  return n;
}

Result<std::unique_ptr<FileSource>> FileSource::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Unavailable,
                "open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail(ErrorCode::Unavailable, "stat " + path + ": " + std::strerror(e));
  }
  return std::make_unique<FileSource>(fd, static_cast<std::uint64_t>(st.st_size));
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::size_t> FileSource::read(std::uint64_t offset, std::span<std::byte> out) {
  if (offset >= size_) return std::size_t{0};
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset));
  for (;;) {
    ssize_t n = ::pread(fd_, out.data(), want, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return fail(ErrorCode::Unavailable, std::string("pread: ") + std::strerror(errno));
  }
}

Result<std::size_t> SliceSource::read(std::uint64_t offset, std::span<std::byte> out) {
  if (offset >= size_) return std::size_t{0};
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset));
  return inner_.read(begin_ + offset, out.first(want));
}

}  // namespace hubgate::scan
