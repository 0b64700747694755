#include "auth/token_syntax.h"

namespace hubgate::auth {
namespace {
bool lowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

std::string_view bearerToken(std::string_view authorization) {
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size()) return {};
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kBearer[i]) return {};
  }
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

std::optional<std::string_view> gatewayKeyId(std::string_view token) {
  constexpr std::size_t kIdLen = 12, kSecretLen = 48;
  if (token.size() != kKeyPrefix.size() + kIdLen + 1 + kSecretLen) return std::nullopt;
  if (!token.starts_with(kKeyPrefix)) return std::nullopt;
  std::string_view id = token.substr(kKeyPrefix.size(), kIdLen);
  if (token[kKeyPrefix.size() + kIdLen] != '_') return std::nullopt;
  std::string_view secret = token.substr(kKeyPrefix.size() + kIdLen + 1);
  if (!lowerHex(id) || !lowerHex(secret)) return std::nullopt;
  return id;
}

}  // namespace hubgate::auth
