#include "hub/paths_info.h"

#include "base/utf8.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include <nlohmann/json.hpp>

#include "hub/repo_path.h"

namespace hubgate::hub {

namespace {

std::unexpected<Error> invalid(std::string msg) {
  return fail(ErrorCode::InvalidArgument, std::move(msg));
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}


Result<void> checkPath(std::string_view path) {
  if (path.empty()) return invalid("invalid path: empty path");
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return invalid("invalid path: control characters are not allowed");
    if (c == '\\') return invalid("invalid path: backslashes are not allowed");
  }
  if (!isValidUtf8(path)) return invalid("invalid path: not valid UTF-8");
  std::string_view rest = path;
  while (true) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty()) return invalid("invalid path: empty segment not allowed");
    if (part == "." || part == "..")
      return invalid("invalid path: '.' and '..' segments not allowed");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return {};
}

Result<void> addPath(PathsInfoQuery& q, std::string path) {
  if (q.paths.size() >= kMaxPathsInfoPaths) {
    return invalid("too many paths (max " + std::to_string(kMaxPathsInfoPaths) + ")");
  }
  if (auto ok = checkPath(path); !ok) return ok;
  q.paths.push_back(std::move(path));
  return {};
}

Result<std::string> formDecode(std::string_view text) {
  std::string plus(text);
  std::replace(plus.begin(), plus.end(), '+', ' ');
  return percentDecode(plus);
}

Result<PathsInfoQuery> parseForm(std::string_view body) {
  PathsInfoQuery q;
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view piece = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    auto key = formDecode(piece.substr(0, eq));
    auto value =
        formDecode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    if (!key || !value) return invalid("invalid paths-info body: bad percent-encoding");
    if (*key == "paths" || *key == "paths[]") {
      if (auto ok = addPath(q, std::move(*value)); !ok)
        return std::unexpected(std::move(ok.error()));
    } else if (*key == "expand") {
      if (equalsIgnoreCase(*value, "true") || *value == "1") {
        q.expand = true;
      } else if (equalsIgnoreCase(*value, "false") || *value == "0" || value->empty()) {
        q.expand = false;
      } else {
        return invalid("invalid paths-info body: expand must be true or false");
      }
    }
  }
  return q;
}

Result<PathsInfoQuery> parseJson(std::string_view body) {
  // nlohmann's parser is iterative and its destructor flattens nesting, so deep input is
  // safe here (the body is at most kMaxPathsInfoBody bytes).
  auto doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("invalid paths-info body: not valid JSON");
  if (!doc.is_object()) return invalid("invalid paths-info body: expected a JSON object");
  PathsInfoQuery q;
  auto paths = doc.find("paths");
  if (paths == doc.end() || !paths->is_array()) {
    return invalid("invalid paths-info body: \"paths\" must be an array of strings");
  }
  for (auto& entry : *paths) {
    if (!entry.is_string()) {
      return invalid("invalid paths-info body: \"paths\" must be an array of strings");
    }
    if (auto ok = addPath(q, entry.get<std::string>()); !ok) {
      return std::unexpected(std::move(ok.error()));
    }
  }
  if (auto expand = doc.find("expand"); expand != doc.end()) {
    if (!expand->is_boolean())
      return invalid("invalid paths-info body: \"expand\" must be a boolean");
    q.expand = expand->get<bool>();
  }
  return q;
}

}  // namespace

Result<PathsInfoQuery> parsePathsInfoBody(std::string_view content_type, std::string_view body) {
  if (body.size() > kMaxPathsInfoBody) {
    return invalid("paths-info body too large (max " + std::to_string(kMaxPathsInfoBody) +
                   " bytes)");
  }
  const std::string_view media = trimOws(content_type.substr(0, content_type.find(';')));
  try {
    if (equalsIgnoreCase(media, "application/x-www-form-urlencoded")) return parseForm(body);
    if (equalsIgnoreCase(media, "application/json")) return parseJson(body);
  } catch (...) {  // std::bad_alloc
    return fail(ErrorCode::ResourceExhausted, "out of memory parsing the paths-info body");
  }
  return invalid(
      "unsupported Content-Type for paths-info: expected application/x-www-form-urlencoded or "
      "application/json");
}

std::string pathsInfoFormBody(const PathsInfoQuery& q) {
  std::vector<std::string_view> paths(q.paths.begin(), q.paths.end());
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  std::string out;
  for (std::string_view p : paths) {
    out += "paths=";
    out += encodeRevision(p);
    out.push_back('&');
  }
  out += q.expand ? "expand=true" : "expand=false";
  return out;
}

}  // namespace hubgate::hub
