#include "http/link_header.h"

#include <cstddef>
#include <optional>
#include <vector>

namespace hubgate::http {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != lower(prefix[i])) return false;
  }
  return true;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && startsWithIgnoreCase(a, b);
}

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar.
bool isTchar(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

struct Param {
  std::string name;    // lower-cased
  std::string quoted;  // the value as a quoted-string; empty when the param has no value
};

struct LinkValue {
  std::string_view url;
  std::vector<Param> params;
};

// A cursor over the header value.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  void advance() { ++pos_; }
  void skipOws() {
    while (!done() && isOws(peek())) ++pos_;
  }
  // Moves past the next ',' outside <...> and quoted strings (or to the end).
  void skipToNextValue() {
    bool in_quotes = false;
    bool in_url = false;
    while (!done()) {
      char c = s_[pos_++];
      if (in_quotes) {
        if (c == '\\' && !done()) {
          ++pos_;
        } else if (c == '"') {
          in_quotes = false;
        }
      } else if (in_url) {
        in_url = c != '>';
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == '<') {
        in_url = true;
      } else if (c == ',') {
        return;
      }
    }
  }
  // One link-value; nullopt when malformed (the scanner is then past it).
  std::optional<LinkValue> next() {
    LinkValue link;
    if (peek() != '<') return malformed();
    const auto close = s_.find('>', pos_ + 1);
    if (close == std::string_view::npos) {
      pos_ = s_.size();
      return std::nullopt;
    }
    link.url = s_.substr(pos_ + 1, close - pos_ - 1);
    pos_ = close + 1;
    while (true) {
      skipOws();
      if (done()) return link;
      if (peek() == ',') {
        ++pos_;
        return link;
      }
      if (peek() != ';') return malformed();
      ++pos_;
      skipOws();
      Param param;
      while (!done() && isTchar(peek())) param.name.push_back(lower(s_[pos_++]));
      if (param.name.empty()) continue;  // ";;" or a trailing ';'
      skipOws();
      if (!done() && peek() == '=') {
        ++pos_;
        skipOws();
        if (!done() && peek() == '"') {
          const std::size_t start = pos_++;
          bool closed = false;
          while (!done()) {
            char c = s_[pos_++];
            if (c == '\\' && !done()) {
              ++pos_;
            } else if (c == '"') {
              closed = true;
              break;
            }
          }
          if (!closed) return std::nullopt;  // at the end already
          param.quoted = std::string(s_.substr(start, pos_ - start));
        } else {
          // A token (leniently: anything up to OWS, ';' or ','), quoted on output.
          param.quoted = "\"";
          while (!done() && !isOws(peek()) && peek() != ';' && peek() != ',') {
            char c = s_[pos_++];
            if (c == '"' || c == '\\') param.quoted.push_back('\\');
            param.quoted.push_back(c);
          }
          param.quoted.push_back('"');
        }
      }
      link.params.push_back(std::move(param));
    }
  }

 private:
  std::optional<LinkValue> malformed() {
    skipToNextValue();
    return std::nullopt;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// The content of a quoted-string, unescaped.
std::string unquote(std::string_view quoted) {
  std::string out;
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    if (quoted[i] == '\\' && i + 2 < quoted.size()) ++i;
    out.push_back(quoted[i]);
  }
  return out;
}

bool isXetRel(std::string_view rels) {
  std::size_t i = 0;
  while (i < rels.size()) {
    while (i < rels.size() && (isOws(rels[i]) || rels[i] == '\n' || rels[i] == '\r')) ++i;
    std::size_t start = i;
    while (i < rels.size() && !isOws(rels[i]) && rels[i] != '\n' && rels[i] != '\r') ++i;
    std::string_view rel = rels.substr(start, i - start);
    if (equalsIgnoreCase(rel, "xet-auth") || equalsIgnoreCase(rel, "xet-reconstruction-info")) {
      return true;
    }
  }
  return false;
}

std::string rewriteUrl(std::string_view url, std::string_view origin) {
  std::size_t after_scheme = 0;
  if (startsWithIgnoreCase(url, "http://")) {
    after_scheme = 7;
  } else if (startsWithIgnoreCase(url, "https://")) {
    after_scheme = 8;
  } else {
    return std::string(url);
  }
  std::size_t path = url.find_first_of("/?#", after_scheme);
  std::string out(origin);
  if (path != std::string_view::npos) out += url.substr(path);
  return out;
}

bool isHostChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
}

std::string_view firstElement(std::string_view list) {
  return trimOws(list.substr(0, list.find(',')));
}

}  // namespace

std::string rewriteLinkHeader(std::string_view value, std::string_view gateway_origin) {
  while (!gateway_origin.empty() && gateway_origin.back() == '/') gateway_origin.remove_suffix(1);
  std::string out;
  Scanner scan(value);
  while (true) {
    while (!scan.done() && (isOws(scan.peek()) || scan.peek() == ',')) scan.advance();
    if (scan.done()) break;
    std::optional<LinkValue> link = scan.next();
    if (!link) continue;
    const Param* rel = nullptr;
    for (const Param& p : link->params) {
      if (p.name == "rel") {
        rel = &p;
        break;
      }
    }
    if (rel != nullptr && isXetRel(unquote(rel->quoted))) continue;
    if (!out.empty()) out += ", ";
    out += '<';
    out += rewriteUrl(link->url, gateway_origin);
    out += '>';
    if (rel != nullptr) out += "; rel=" + (rel->quoted.empty() ? std::string("\"\"") : rel->quoted);
    for (const Param& p : link->params) {
      if (&p == rel) continue;
      out += "; " + p.name;
      if (!p.quoted.empty()) out += "=" + p.quoted;
    }
  }
  return out;
}

std::string gatewayOrigin(std::string_view host, std::string_view fwd_proto,
                          std::string_view fwd_host, std::string_view fallback) {
  std::string scheme = "http";
  if (equalsIgnoreCase(firstElement(fwd_proto), "https")) scheme = "https";
  std::string_view chosen = firstElement(fwd_host);
  if (chosen.empty()) chosen = trimOws(host);
  bool ok = !chosen.empty() && chosen.size() <= 255;
  for (char c : chosen) ok = ok && isHostChar(c);
  if (ok) return scheme + "://" + std::string(chosen);
  if (fallback.find("://") != std::string_view::npos) return std::string(fallback);
  return scheme + "://" + std::string(fallback);
}

}  // namespace hubgate::http
