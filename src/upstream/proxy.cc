#include "upstream/proxy.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

namespace hubgate::upstream {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hexValue(s[i + 1]);
    const int lo = hexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

const char* getenvFirst(const char* a, const char* b) {
  if (const char* v = std::getenv(a); v != nullptr && *v != '\0') return v;
  if (const char* v = std::getenv(b); v != nullptr && *v != '\0') return v;
  return "";
}

}  // namespace

Result<ProxyEndpoint> parseProxyUrl(std::string_view text) {
  text = trim(text);
  std::string_view rest = text;
  const auto sep = text.find("://");
  if (sep != std::string_view::npos) {
    if (lowercase(text.substr(0, sep)) != "http") {
      return fail(ErrorCode::InvalidArgument, "unsupported proxy scheme (only http:// proxies)");
    }
    rest = text.substr(sep + 3);
  }
  const auto auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  const std::string_view path =
      auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (!path.empty() && path != "/") {
    return fail(ErrorCode::InvalidArgument, "proxy URL must not have a path");
  }
  ProxyEndpoint out;
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percentDecode(userinfo.substr(0, colon));
    auto pass = percentDecode(colon == std::string_view::npos ? std::string_view()
                                                              : userinfo.substr(colon + 1));
    if (!user || !pass) return fail(ErrorCode::InvalidArgument, "bad proxy credentials encoding");
    out.authorization = "Basic " + base64(*user + ":" + *pass);
  }
  auto url = Url::parse("http://" + std::string(authority));
  if (!url) return fail(ErrorCode::InvalidArgument, "bad proxy URL: " + url.error().context);
  out.url = std::move(*url);
  return out;
}

bool noProxyMatches(std::string_view no_proxy, std::string_view host) {
  while (!no_proxy.empty()) {
    const auto comma = no_proxy.find(',');
    std::string_view entry = trim(no_proxy.substr(0, comma));
    no_proxy = comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.starts_with('[')) {
      const auto close = entry.find(']');
      entry = close == std::string_view::npos ? entry.substr(1) : entry.substr(1, close - 1);
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      entry = entry.substr(0, entry.find(':'));  // "host:port": the port is ignored
    }
    if (entry.starts_with("*.")) entry.remove_prefix(1);
    if (entry.starts_with('.')) entry.remove_prefix(1);
    if (entry.empty()) continue;
    const std::string e = lowercase(entry);
    if (host == e) return true;
    if (host.size() > e.size() && host.ends_with(e) && host[host.size() - e.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

ProxySelector::Entry ProxySelector::makeEntry(std::string_view text, std::string_view what) {
  Entry entry;
  if (trim(text).empty()) return entry;
  auto parsed = parseProxyUrl(text);
  if (parsed) {
    entry.proxy = std::move(*parsed);
  } else {
    entry.error = "invalid " + std::string(what) + ": " + parsed.error().context;
  }
  return entry;
}

ProxySelector::ProxySelector(const ProxyConfig& config)
    : http_(makeEntry(config.http_proxy, "http proxy setting")),
      https_(makeEntry(config.https_proxy, "https proxy setting")),
      no_proxy_(config.no_proxy) {}

ProxySelector ProxySelector::fromEnvironment() {
  ProxySelector out;
  out.http_ = makeEntry(getenvFirst("http_proxy", "HTTP_PROXY"), "http_proxy/HTTP_PROXY");
  out.https_ = makeEntry(getenvFirst("https_proxy", "HTTPS_PROXY"), "https_proxy/HTTPS_PROXY");
  out.no_proxy_ = getenvFirst("no_proxy", "NO_PROXY");
  return out;
}

Result<std::optional<ProxyEndpoint>> ProxySelector::select(const Url& target) const {
  const Entry& entry = target.isHttps() ? https_ : http_;
  if (!entry.proxy && entry.error.empty()) return std::optional<ProxyEndpoint>();
  if (noProxyMatches(no_proxy_, target.host)) return std::optional<ProxyEndpoint>();
  if (!entry.error.empty()) return fail(ErrorCode::Unavailable, entry.error);
  return entry.proxy;
}

}  // namespace hubgate::upstream
