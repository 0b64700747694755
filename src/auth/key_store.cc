#include "auth/key_store.h"

#include <openssl/crypto.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "base/glob.h"
#include "base/hash.h"
#include "base/time.h"

namespace hubgate::auth {

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

nlohmann::json keyToJson(const cache::KeyRecord& k) {
  using nlohmann::json;
  return json{{"id", k.id},
              {"name", k.name},
              {"credential", k.credential.empty() ? json(nullptr) : json(k.credential)},
              {"allow", k.allow},
              {"deny", k.deny},
              {"created_at", k.created_at},
              {"revoked_at", k.revoked_at == 0 ? json(nullptr) : json(k.revoked_at)}};
}

bool repoAllowed(const cache::KeyRecord& key, std::string_view repo) {
  for (const auto& g : key.deny) {
    if (globMatch(g, repo)) return false;
  }
  if (key.allow.empty()) return true;
  for (const auto& g : key.allow) {
    if (globMatch(g, repo)) return true;
  }
  return false;
}

Result<NewKey> KeyStore::create(const std::string& name, const std::string& credential,
                                const std::vector<std::string>& allow,
                                const std::vector<std::string>& deny) {
  if (name.empty() || name.size() > 100) {
    return fail(ErrorCode::InvalidArgument, "key name must be 1-100 characters");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail(ErrorCode::InvalidArgument, "key name contains a control character");
    }
  }
  for (const auto* list : {&allow, &deny}) {
    for (const auto& g : *list) {
      if (auto v = validateGlob(g); !v) return std::unexpected(v.error());
    }
  }
  auto id = randomHex(6);
  auto secret = randomHex(24);
  if (!id || !secret) return fail(ErrorCode::Internal, "no randomness available for a new key");
  NewKey k;
  k.key = std::string(kKeyPrefix) + *id + "_" + *secret;
  k.record.id = *id;
  k.record.name = name;
  k.record.digest = sha256Hex(k.key);
  k.record.credential = credential;
  k.record.allow = allow;
  k.record.deny = deny;
  k.record.created_at = unixSeconds();
  if (auto put = index_.putKey(k.record); !put) return std::unexpected(put.error());
  return k;
}

Result<std::vector<cache::KeyRecord>> KeyStore::list() { return index_.listKeys(); }

Result<void> KeyStore::revoke(const std::string& id) {
  auto done = index_.revokeKey(id);
  if (!done) return std::unexpected(done.error());
  if (!*done) return fail(ErrorCode::NotFound, "no active key with id '" + id + "'");
  return {};
}

Result<std::optional<cache::KeyRecord>> KeyStore::verify(std::string_view presented) {
  auto id = gatewayKeyId(presented);
  if (!id) return std::optional<cache::KeyRecord>();
  auto row = index_.findKey(std::string(*id));
  if (!row) return std::unexpected(row.error());
  // Hash even when the id is unknown, so that a miss costs what a hit costs.
  std::string digest = sha256Hex(presented);
  if (!*row) return std::optional<cache::KeyRecord>();
  if (!constantTimeEquals(digest, (*row)->digest) || (*row)->revoked_at != 0) {
    return std::optional<cache::KeyRecord>();
  }
  return row;
}

}  // namespace hubgate::auth
