// Streaming content digests: sha256 (LFS content identity) and git blob sha1 (regular files).
//
// A Hasher is fed bytes in order with update() and produces a lowercase hex digest with
// finish(). Not thread-safe; one hasher per stream. GitBlobSha1 hashes the git object
// header "blob <size>\0" first, so the total size must be known up front (the Hub tells us).
#pragma once

#include "base/error.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace hubgate {

enum class DigestKind { Sha256, GitSha1 };

std::string_view digestKindName(DigestKind kind);  // "sha256" | "sha1"

class Hasher {
 public:
  // A sha256 of the raw bytes.
  static std::unique_ptr<Hasher> sha256();
  // git's blob id: sha1("blob " + size + "\0" + bytes).
  static std::unique_ptr<Hasher> gitBlobSha1(std::uint64_t size);
  static std::unique_ptr<Hasher> forKind(DigestKind kind, std::uint64_t size);

  virtual ~Hasher() = default;
  virtual void update(std::span<const std::byte> bytes) = 0;
  void update(std::string_view bytes) {
    update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  }
  // Lowercase hex. The hasher must not be used afterwards.
  virtual std::string finish() = 0;
};

std::string sha256Hex(std::string_view bytes);
std::string gitBlobSha1Hex(std::string_view bytes);

// `bytes` random bytes from OpenSSL's CSPRNG as lowercase hex (2 * bytes characters). Internal
// when no randomness is available.
Result<std::string> randomHex(std::size_t bytes);

// True for exactly n lowercase-or-uppercase hex characters.
bool isHex(std::string_view s, std::size_t n);

}  // namespace hubgate
