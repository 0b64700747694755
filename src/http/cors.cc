#include "http/cors.h"

#include <cstddef>

namespace hubgate::http {

namespace {

constexpr std::size_t kMaxOrigin = 2048;
constexpr std::size_t kMaxAllowHeaders = 4096;

bool isTchar(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool plausibleOrigin(std::string_view origin) {
  if (origin.empty() || origin.size() > kMaxOrigin) return false;
  for (char c : origin) {
    if (c <= 0x20 || c >= 0x7f || c == ',') return false;
  }
  return true;
}

std::string allowHeaders(std::string_view requested) {
  std::string out;
  while (true) {
    auto comma = requested.find(',');
    std::string_view element = trimOws(requested.substr(0, comma));
    bool token = !element.empty();
    for (char c : element) token = token && isTchar(c);
    if (token) {
      if (!out.empty()) out.push_back(',');
      out += element;
    }
    if (comma == std::string_view::npos) break;
    requested.remove_prefix(comma + 1);
  }
  if (out.empty() || out.size() > kMaxAllowHeaders) return std::string(kDefaultAllowHeaders);
  return out;
}

}  // namespace

HeaderList corsHeaders(std::string_view origin) {
  origin = trimOws(origin);
  HeaderList out;
  out.emplace_back("Access-Control-Allow-Origin",
                   plausibleOrigin(origin) ? std::string(origin) : std::string("*"));
  out.emplace_back("Access-Control-Expose-Headers", std::string(kExposeHeaders));
  out.emplace_back("Vary", "Origin");
  return out;
}

HeaderList preflightHeaders(std::string_view origin, std::string_view request_headers) {
  HeaderList out = corsHeaders(origin);
  for (auto& [name, value] : out) {
    if (name == "Vary") value = "Origin, Access-Control-Request-Headers";
  }
  out.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
  out.emplace_back("Access-Control-Allow-Headers", allowHeaders(request_headers));
  out.emplace_back("Access-Control-Max-Age", "86400");
  return out;
}

}  // namespace hubgate::http
