// Authenticator: who is calling, and with which credentials the gateway asks the Hub for them.
//
// identify() maps the request's Authorization header to a Caller:
//   - none                 -> anonymous; upstream sees the gateway's default token if one is
//                             configured (upstream.token), else no credentials.
//                             With access.require_key: 401 GatewayKeyRequired.
//   - Bearer hgk_...       -> a gateway key (KeyStore): upstream sees the key's named credential
//                             (config [credentials]) or nothing; its repo globs apply.
//                             Unknown or revoked: 401 InvalidGatewayKey. Never forwarded.
//   - anything else        -> the caller's own Hub token, forwarded to the Hub's origin only.
//                             With access.require_key: 401 GatewayKeyRequired.
// A Caller's scope ("anon" or a digest of what upstream sees) keys every per-identity cache
// (revisions, answers, entitlements), so two callers share cached answers exactly when the Hub
// would see the same credentials.
//
// checkAdmin() guards /admin (and /metrics when configured): the admin key is compared as a
// sha256 digest in constant time.
//
// Thread-safety: all methods are safe from any thread. reconfigure() (SIGHUP) swaps the access
// settings whole; each call reads one consistent set. Keys are looked up in the index on every
// call (KeyStore keeps no cache), so a key added or revoked is seen by the next request.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "auth/entitlements.h"
#include "auth/key_store.h"

namespace hubgate::auth {

// The identity class of an upstream Authorization value: "anon", or "tok:" + a digest.
std::string scopeFor(std::string_view upstream_authorization);

struct Caller {
  std::string upstream_auth;  // Authorization value for the Hub's origin; "" = anonymous
  std::string scope;          // scopeFor(upstream_auth)
  std::string label;          // for logs, no secret: "anon" | "token:<8 hex of scope>" | "key:<id>"
  std::optional<cache::KeyRecord> key;  // set when the caller used a gateway key

  bool mayAccess(std::string_view repo) const { return !key || repoAllowed(*key, repo); }
};

// A refusal the router turns into an error answer (X-Error-Code = code).
struct Denial {
  int status = 401;
  std::string code;
  std::string message;
};

struct AccessConfig {
  bool require_key = false;
  std::string default_token;  // upstream token for callers without credentials ("" = none)
  std::vector<std::pair<std::string, std::string>> credentials;  // name -> upstream token
  std::string admin_key;  // "" = admin API disabled
};

class Authenticator {
 public:
  Authenticator(AccessConfig config, KeyStore& keys);

  std::variant<Caller, Denial> identify(std::string_view authorization);
  // nullopt when `authorization` carries the admin key; else 401 (missing/wrong key) or
  // 403 AdminDisabled (no admin key configured).
  std::optional<Denial> checkAdmin(std::string_view authorization) const;
  bool hasCredential(std::string_view name) const;
  // The gateway acting on its own behalf (prefetch jobs): the named credential's token, or the
  // default upstream token for "" (anonymous without one). InvalidArgument for an unknown name.
  Result<Caller> serviceCaller(std::string_view credential, std::string label) const;
  KeyStore& keys() { return keys_; }
  // Applies new access settings (require_key, tokens, credentials, admin key) to calls that
  // start from now on.
  void reconfigure(AccessConfig config);

 private:
  struct State {
    AccessConfig config;
    std::string admin_digest;  // sha256 of config.admin_key; "" = admin API disabled
  };
  static std::shared_ptr<const State> makeState(AccessConfig config);

  std::atomic<std::shared_ptr<const State>> state_;
  KeyStore& keys_;
};

}  // namespace hubgate::auth
