// ByteSource: random-access bytes of the file being scanned (a cached blob, a temp file of a
// fill, a decompressed archive member, a test sample).
//
// Scanners read only what they need (a safetensors check reads the header, a zip its central
// directory and the members it must parse), so multi-GB files cost what their structure costs.
// Thread-safety: a source is used by one scan at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"

namespace hubgate::scan {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  // Reads up to out.size() bytes at `offset`; fewer only at the end. Errors: Unavailable (I/O).
  virtual Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) = 0;
  // Reads exactly [offset, offset + n) into a string. InvalidArgument when it is out of range
  // (checked before allocating), Unavailable on I/O errors.
  Result<std::string> readString(std::uint64_t offset, std::size_t n);
};

// Bytes held in memory (owned).
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_.size(); }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override;
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// A file read with pread(2). Owns the descriptor.
class FileSource final : public ByteSource {
 public:
  // Errors: NotFound / Unavailable.
  static Result<std::unique_ptr<FileSource>> open(const std::string& path);
  // Takes ownership of an open descriptor whose first `size` bytes are scanned.
  FileSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override;

 private:
  int fd_;
  std::uint64_t size_;
};

// A window [begin, begin + size) of another source (a stored zip member, a tar member).
class SliceSource final : public ByteSource {
 public:
  SliceSource(ByteSource& inner, std::uint64_t begin, std::uint64_t size)
      : inner_(inner), begin_(begin), size_(size) {}
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override;

 private:
  ByteSource& inner_;
  std::uint64_t begin_;
  std::uint64_t size_;
};

}  // namespace hubgate::scan
