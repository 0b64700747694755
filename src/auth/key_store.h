// KeyStore: gateway API keys, issued by the gateway and stored as digests in the index.
//
// A key reads "hgk_<id>_<secret>": <id> (12 hex) is its public name (listed, revoked by it),
// <secret> 48 hex characters of randomness. The index keeps sha256(key) only; verify() finds the
// row by id and compares digests in constant time (CRYPTO_memcmp), so neither a wrong secret
// nor a near miss is distinguishable by timing. The whole key is shown once, by create().
//
// Each key maps to a named upstream credential (config [credentials]) or to anonymous, and
// carries repo allow / deny globs (deny wins; an empty allow list allows every repo).
//
// Thread-safety: all methods are safe from any thread (the index serialises). Every call
// blocks on SQLite briefly (one point lookup for verify()).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include <nlohmann/json_fwd.hpp>

#include "auth/token_syntax.h"
#include "cache/index.h"

namespace hubgate::auth {

struct NewKey {
  cache::KeyRecord record;
  std::string key;  // the whole key, to hand to its user once; never stored
};

class KeyStore {
 public:
  explicit KeyStore(cache::Index& index) : index_(index) {}

  // InvalidArgument for an empty or over-long name or a bad glob. The caller checks that
  // `credential` names a configured credential.
  Result<NewKey> create(const std::string& name, const std::string& credential,
                        const std::vector<std::string>& allow, const std::vector<std::string>& deny);
  Result<std::vector<cache::KeyRecord>> list();
  // NotFound when no active key has that id.
  Result<void> revoke(const std::string& id);
  // The active key record `presented` proves, or nullopt (malformed, unknown, revoked, wrong secret).
  Result<std::optional<cache::KeyRecord>> verify(std::string_view presented);

 private:
  cache::Index& index_;
};

// Constant-time equality of two strings of the same length (false when lengths differ).
bool constantTimeEquals(std::string_view a, std::string_view b);
// The public description of a key (admin API, `hubgate keys list --json`): id, name,
// credential (null = anonymous), allow, deny, created_at, revoked_at (null = active). No secret.
nlohmann::json keyToJson(const cache::KeyRecord& key);
// Allow/deny decision for a repo id under a key's globs.
bool repoAllowed(const cache::KeyRecord& key, std::string_view repo);

}  // namespace hubgate::auth
