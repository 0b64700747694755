#include "upstream/url.h"

#include <charconv>
#include <string>
#include <string_view>

namespace hubgate::upstream {
namespace {

char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = toLower(c);
  return out;
}

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// reg-name characters we accept in a host (unreserved set; no percent-encoding).
bool isHostChar(char c) { return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_'; }

// Characters allowed in a request target: printable ASCII except space, '#' handled by caller.
bool isTargetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

std::uint16_t defaultPort(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

// "scheme:" prefix per RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
bool hasScheme(std::string_view s) {
  if (s.empty() || !isAlpha(s[0])) return false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ':') return true;
    if (!isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

std::string_view stripFragment(std::string_view s) {
  const auto hash = s.find('#');
  return hash == std::string_view::npos ? s : s.substr(0, hash);
}

bool validTarget(std::string_view target) {
  for (char c : target) {
    if (!isTargetChar(c)) return false;
  }
  return true;
}

// RFC 3986 section 5.2.4.
std::string removeDotSegments(std::string_view path) {
  std::string out;
  std::string_view in = path;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      const auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const auto next = in.find('/', 1);
      const auto seg = in.substr(0, next);
      out.append(seg);
      in.remove_prefix(seg.size());
    }
  }
  return out;
}

// Splits "path?query" and normalizes the path's dot segments.
std::string normalizeTarget(std::string_view target) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  std::string out = removeDotSegments(path);
  if (out.empty() || out[0] != '/') out.insert(out.begin(), '/');
  if (q != std::string_view::npos) out.append(target.substr(q));
  return out;
}

std::string hostForUrl(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return fail(ErrorCode::InvalidArgument, "not an absolute URL");
  Url url;
  url.scheme = lowercase(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return fail(ErrorCode::InvalidArgument, "unsupported URL scheme '" + url.scheme + "'");
  }
  std::string_view rest = text.substr(sep + 3);
  const auto auth_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, auth_end);
  rest = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);

  if (authority.find('@') != std::string_view::npos) {
    return fail(ErrorCode::InvalidArgument, "userinfo in URL is not allowed");
  }
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail(ErrorCode::InvalidArgument, "unterminated IPv6 literal in URL");
    }
    host = authority.substr(1, close - 1);
    if (host.empty() || host.find(':') == std::string_view::npos) {
      return fail(ErrorCode::InvalidArgument, "bad IPv6 literal in URL");
    }
    for (char c : host) {
      if (!isHex(c) && c != ':' && c != '.') {
        return fail(ErrorCode::InvalidArgument, "bad IPv6 literal in URL");
      }
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail(ErrorCode::InvalidArgument, "bad authority in URL");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    for (char c : host) {
      if (!isHostChar(c)) return fail(ErrorCode::InvalidArgument, "bad character in URL host");
    }
  }
  if (host.empty()) return fail(ErrorCode::InvalidArgument, "empty host in URL");
  url.host = lowercase(host);

  if (has_port) {
    unsigned value = 0;
    const auto* first = port_text.data();
    const auto* last = first + port_text.size();
    const auto [ptr, ec] = std::from_chars(first, last, value);
    if (port_text.empty() || !isDigit(port_text[0]) || ec != std::errc() || ptr != last ||
        value == 0 || value > 65535) {
      return fail(ErrorCode::InvalidArgument, "bad port in URL");
    }
    url.port = static_cast<std::uint16_t>(value);
  } else {
    url.port = defaultPort(url.scheme);
  }

  rest = stripFragment(rest);
  if (!validTarget(rest)) return fail(ErrorCode::InvalidArgument, "bad character in URL path");
  if (rest.empty()) {
    url.target = "/";
  } else if (rest[0] == '?') {
    url.target = "/" + std::string(rest);
  } else {
    url.target = std::string(rest);
  }
  return url;
}

Result<Url> Url::resolve(std::string_view location) const {
  if (location.empty()) return fail(ErrorCode::InvalidArgument, "empty Location");
  if (location.starts_with("//")) return parse(scheme + ":" + std::string(location));
  if (hasScheme(location)) return parse(location);

  std::string_view ref = stripFragment(location);
  if (!validTarget(ref)) return fail(ErrorCode::InvalidArgument, "bad character in Location");
  Url out = *this;
  if (ref.empty()) {
    // A fragment-only reference designates the current document.
  } else if (ref[0] == '/') {
    out.target = normalizeTarget(ref);
  } else if (ref[0] == '?') {
    out.target = target.substr(0, target.find('?')) + std::string(ref);
  } else {
    // Relative path: merge with the base path's directory (RFC 3986 section 5.2.3).
    const std::string base_path = target.substr(0, target.find('?'));
    const std::string dir = base_path.substr(0, base_path.rfind('/') + 1);
    out.target = normalizeTarget(dir + std::string(ref));
  }
  return out;
}

std::string Url::origin() const {
  return scheme + "://" + hostForUrl(host) + ":" + std::to_string(port);
}

std::string Url::hostHeader() const {
  std::string out = hostForUrl(host);
  if (port != defaultPort(scheme)) out += ":" + std::to_string(port);
  return out;
}

std::string Url::str() const { return scheme + "://" + hostHeader() + target; }

std::string Url::redacted() const {
  return scheme + "://" + hostHeader() + target.substr(0, target.find('?'));
}

}  // namespace hubgate::upstream
