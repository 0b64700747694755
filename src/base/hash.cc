#include "base/hash.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <stdexcept>

namespace hubgate {
namespace {

std::string toHex(const unsigned char* p, unsigned n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return out;
}

class EvpHasher final : public Hasher {
 public:
  explicit EvpHasher(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex failed");
    }
  }
  ~EvpHasher() override { EVP_MD_CTX_free(ctx_); }
  EvpHasher(const EvpHasher&) = delete;
  EvpHasher& operator=(const EvpHasher&) = delete;

  void update(std::span<const std::byte> bytes) override {
    EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
  }
  std::string finish() override {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    return toHex(md, n);
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace

std::string_view digestKindName(DigestKind kind) {
  return kind == DigestKind::Sha256 ? "sha256" : "sha1";
}

std::unique_ptr<Hasher> Hasher::sha256() { return std::make_unique<EvpHasher>(EVP_sha256()); }

std::unique_ptr<Hasher> Hasher::gitBlobSha1(std::uint64_t size) {
  auto h = std::make_unique<EvpHasher>(EVP_sha1());
  std::string header = "blob " + std::to_string(size);
  header.push_back('\0');
  h->Hasher::update(std::string_view(header));
  return h;
}

std::unique_ptr<Hasher> Hasher::forKind(DigestKind kind, std::uint64_t size) {
  return kind == DigestKind::Sha256 ? sha256() : gitBlobSha1(size);
}

std::string sha256Hex(std::string_view bytes) {
  auto h = Hasher::sha256();
  h->update(bytes);
  return h->finish();
}

std::string gitBlobSha1Hex(std::string_view bytes) {
  auto h = Hasher::gitBlobSha1(bytes.size());
  h->update(bytes);
  return h->finish();
}

bool isHex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Result<std::string> randomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return fail(ErrorCode::Internal, "no randomness available");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace hubgate
