#include "auth/authenticator.h"

#include "base/hash.h"

namespace hubgate::auth {

std::string scopeFor(std::string_view upstream_authorization) {
  if (upstream_authorization.empty()) return std::string(kAnonScope);
  return "tok:" + sha256Hex(upstream_authorization).substr(0, 32);
}

std::shared_ptr<const Authenticator::State> Authenticator::makeState(AccessConfig config) {
  auto s = std::make_shared<State>();
  s->config = std::move(config);
  if (!s->config.admin_key.empty()) s->admin_digest = sha256Hex(s->config.admin_key);
  return s;
}

Authenticator::Authenticator(AccessConfig config, KeyStore& keys)
    : state_(makeState(std::move(config))), keys_(keys) {}

void Authenticator::reconfigure(AccessConfig config) { state_.store(makeState(std::move(config))); }

bool Authenticator::hasCredential(std::string_view name) const {
  auto state = state_.load();
  for (const auto& [n, t] : state->config.credentials) {
    if (n == name) return true;
  }
  return false;
}

Result<Caller> Authenticator::serviceCaller(std::string_view credential, std::string label) const {
  auto state = state_.load();
  const AccessConfig& config = state->config;
  Caller c;
  if (!credential.empty()) {
    for (const auto& [n, t] : config.credentials) {
      if (n == credential) c.upstream_auth = "Bearer " + t;
    }
    if (c.upstream_auth.empty()) {
      return fail(ErrorCode::InvalidArgument,
                  "credential '" + std::string(credential) + "' is not configured on this gateway");
    }
  } else if (!config.default_token.empty()) {
    c.upstream_auth = "Bearer " + config.default_token;
  }
  c.scope = scopeFor(c.upstream_auth);
  c.label = std::move(label);
  return c;
}

std::variant<Caller, Denial> Authenticator::identify(std::string_view authorization) {
  auto state = state_.load();
  const AccessConfig& config = state->config;
  auto finish = [](Caller c) {
    c.scope = scopeFor(c.upstream_auth);
    return c;
  };
  std::string_view token = bearerToken(authorization);
  if (looksLikeGatewayKey(token)) {
    auto found = keys_.verify(token);
    if (!found) {
      return Denial{503, "KeyStoreUnavailable", "gateway keys cannot be checked right now"};
    }
    if (!*found) {
      return Denial{401, "InvalidGatewayKey", "unknown or revoked gateway key"};
    }
    Caller c;
    c.label = "key:" + (*found)->id;
    if (!(*found)->credential.empty()) {
      const std::string* upstream_token = nullptr;
      for (const auto& [n, t] : config.credentials) {
        if (n == (*found)->credential) upstream_token = &t;
      }
      if (!upstream_token) {
        return Denial{500, "CredentialNotConfigured",
                      "this gateway key maps to credential '" + (*found)->credential +
                          "', which is not configured on this gateway"};
      }
      c.upstream_auth = "Bearer " + *upstream_token;
    }
    c.key = std::move(**found);
    return finish(std::move(c));
  }
  if (config.require_key) {
    return Denial{401, "GatewayKeyRequired",
                  "this gateway requires a gateway key (Authorization: Bearer hgk_...)"};
  }
  Caller c;
  if (!authorization.empty()) {
    c.upstream_auth = std::string(authorization);
  } else if (!config.default_token.empty()) {
    c.upstream_auth = "Bearer " + config.default_token;
  }
  c = finish(std::move(c));
  c.label = c.upstream_auth.empty() ? "anon" : "token:" + c.scope.substr(4, 8);
  return c;
}

std::optional<Denial> Authenticator::checkAdmin(std::string_view authorization) const {
  auto state = state_.load();
  if (state->admin_digest.empty()) {
    return Denial{403, "AdminDisabled",
                  "the admin API is disabled: configure access.admin_key_file"};
  }
  std::string_view token = bearerToken(authorization);
  if (token.empty()) {
    return Denial{401, "AdminKeyRequired", "the admin API requires Authorization: Bearer <admin key>"};
  }
  if (!constantTimeEquals(sha256Hex(token), state->admin_digest)) {
    return Denial{401, "InvalidAdminKey", "wrong admin key"};
  }
  return std::nullopt;
}

}  // namespace hubgate::auth
