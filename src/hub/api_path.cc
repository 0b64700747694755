#include "hub/api_path.h"

#include "base/utf8.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

namespace hubgate::hub {

namespace {

constexpr std::string_view kApiPrefix = "/api/";

std::unexpected<Error> invalid(std::string msg) {
  return fail(ErrorCode::InvalidArgument, std::move(msg));
}

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool hasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return isControl(static_cast<unsigned char>(c)); });
}


// Splits at every `sep`; "" gives one empty piece.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

// Byte rules shared by revisions and tree paths; `what` is "revision" or "path".
Result<void> checkDecoded(std::string_view text, std::string_view what) {
  return validateDecoded(text, what);
}

Result<void> checkRepoName(std::string_view s) { return validateRepoName(s); }

// Form-style decoding: '+' is a space, then %XX.
Result<std::string> formDecode(std::string_view text) {
  std::string plus;
  plus.reserve(text.size());
  for (char c : text) plus.push_back(c == '+' ? ' ' : c);
  return percentDecode(plus);
}

Result<std::vector<QueryParam>> parseQuery(std::string_view query) {
  std::vector<QueryParam> out;
  if (query.empty()) return out;
  for (std::string_view piece : split(query, '&')) {
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    auto key = formDecode(piece.substr(0, eq));
    auto value =
        formDecode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    if (!key || !value) return invalid("invalid query: bad percent-encoding");
    if (hasControl(*key) || hasControl(*value)) {
      return invalid("invalid query: control characters are not allowed");
    }
    out.push_back({std::move(*key), std::move(*value)});
  }
  return out;
}

enum class Marker { None, Revision, Tree, PathsInfo, Refs, XetToken, OtherRoute };

Marker markerOf(std::string_view s) {
  if (s == "revision") return Marker::Revision;
  if (s == "tree") return Marker::Tree;
  if (s == "paths-info") return Marker::PathsInfo;
  if (s == "refs") return Marker::Refs;
  if (s == "xet-read-token") return Marker::XetToken;
  if (s == "commits" || s == "auth-check" || s == "xet-write-token" || s == "preupload" ||
      s == "commit") {
    return Marker::OtherRoute;
  }
  return Marker::None;
}

// What follows a marker that takes a revision: the revision (with the unencoded refs/pr/<N>
// and refs/convert/<name> forms folded in) and the remaining decoded components.
struct RevisionAndRest {
  std::string revision;
  std::vector<std::string> rest;
};

// segs are decoded segments; segs[at] is the revision segment (REQUIRES at < segs.size()).
RevisionAndRest splitRevision(const std::vector<std::string>& segs, std::size_t at) {
  RevisionAndRest out;
  out.revision = segs[at];
  for (std::size_t i = at + 1; i < segs.size(); ++i) {
    for (std::string_view comp : split(segs[i], '/')) out.rest.emplace_back(comp);
  }
  if (out.revision == "refs" && out.rest.size() >= 2 &&
      (out.rest[0] == "pr" || out.rest[0] == "convert")) {
    out.revision += "/" + out.rest[0] + "/" + out.rest[1];
    out.rest.erase(out.rest.begin(), out.rest.begin() + 2);
  }
  return out;
}

// Whether what follows the marker at segs[m] fits the marker's route.
bool fits(const std::vector<std::string>& segs, std::size_t m, Marker marker) {
  switch (marker) {
    case Marker::None:
      return false;
    case Marker::Refs:
      return m + 1 == segs.size();
    case Marker::Tree:
      return m + 1 < segs.size();
    case Marker::Revision:
    case Marker::PathsInfo:
    case Marker::XetToken:
      return m + 1 < segs.size() && splitRevision(segs, m + 1).rest.empty();
    case Marker::OtherRoute:
      return true;
  }
  return false;
}

Result<void> checkRevision(const std::string& rev) {
  if (rev.empty()) return invalid("invalid revision: empty revision");
  if (rev.starts_with("refs/pr/")) {
    std::string_view num = std::string_view(rev).substr(8);
    bool digits = !num.empty() &&
                  std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) return invalid("invalid revision: expected refs/pr/<number>");
  }
  return checkDecoded(rev, "revision");
}

}  // namespace

std::string_view apiKindName(ApiKind kind) {
  switch (kind) {
    case ApiKind::RepoInfo:
      return "repo-info";
    case ApiKind::Tree:
      return "tree";
    case ApiKind::PathsInfo:
      return "paths-info";
    case ApiKind::Refs:
      return "refs";
    case ApiKind::XetToken:
      return "xet-token";
    case ApiKind::Other:
      return "other";
  }
  return "other";
}

Result<ApiTarget> parseApiTarget(std::string_view target) {
  if (target.size() > kMaxTargetLength) {
    return invalid("request target too long (max " + std::to_string(kMaxTargetLength) + " bytes)");
  }
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  if (!path.starts_with(kApiPrefix)) return fail(ErrorCode::NotFound, "not an api route");

  // Decode and vet every segment, whatever the route.
  std::vector<std::string> segs;
  for (std::string_view raw : split(path.substr(kApiPrefix.size()), '/')) {
    auto decoded = percentDecode(raw);
    if (!decoded) return invalid("invalid target: bad percent-encoding");
    if (hasControl(*decoded)) return invalid("invalid target: control characters are not allowed");
    for (std::string_view comp : split(*decoded, '/')) {
      if (comp == "." || comp == "..") {
        return invalid("invalid target: '.' and '..' segments are not allowed");
      }
    }
    segs.push_back(std::move(*decoded));
  }

  ApiTarget out;
  auto query =
      parseQuery(qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1));
  if (!query) return std::unexpected(std::move(query.error()));
  out.query = std::move(*query);

  if (segs[0] == "models") {
    out.type = RepoType::Model;
  } else if (segs[0] == "datasets") {
    out.type = RepoType::Dataset;
  } else if (segs[0] == "spaces") {
    out.type = RepoType::Space;
  } else {
    return out;  // Other, no repo
  }

  // segs[1..] is the repo id; the marker follows two names, else one.
  std::size_t m = 0;
  Marker marker = Marker::None;
  for (std::size_t names : {std::size_t{2}, std::size_t{1}}) {
    const std::size_t at = 1 + names;
    if (at < segs.size() && fits(segs, at, markerOf(segs[at]))) {
      m = at;
      marker = markerOf(segs[at]);
      break;
    }
  }

  if (marker == Marker::None) {
    // Bare repo info: /api/{type}/{name}[/{name}].
    if (segs.size() != 2 && segs.size() != 3) return out;
    for (std::size_t i = 1; i < segs.size(); ++i) {
      if (!checkRepoName(segs[i])) return out;
    }
    out.kind = ApiKind::RepoInfo;
    out.repo = segs[1];
    if (segs.size() == 3) out.repo += "/" + segs[2];
    return out;
  }

  for (std::size_t i = 1; i < m; ++i) {
    if (auto ok = checkRepoName(segs[i]); !ok) return std::unexpected(std::move(ok.error()));
  }
  out.repo = segs[1];
  if (m == 3) out.repo += "/" + segs[2];

  switch (marker) {
    case Marker::None:
    case Marker::OtherRoute:
      out.kind = ApiKind::Other;
      return out;
    case Marker::Refs:
      out.kind = ApiKind::Refs;
      return out;
    case Marker::Revision:
      out.kind = ApiKind::RepoInfo;
      break;
    case Marker::Tree:
      out.kind = ApiKind::Tree;
      break;
    case Marker::PathsInfo:
      out.kind = ApiKind::PathsInfo;
      break;
    case Marker::XetToken:
      out.kind = ApiKind::XetToken;
      break;
  }

  RevisionAndRest rr = splitRevision(segs, m + 1);
  if (auto ok = checkRevision(rr.revision); !ok) return std::unexpected(std::move(ok.error()));
  out.revision = std::move(rr.revision);
  if (!rr.rest.empty()) {  // only Tree has a rest (fits() saw to that)
    std::string joined = rr.rest[0];
    for (std::size_t i = 1; i < rr.rest.size(); ++i) {
      joined.push_back('/');
      joined += rr.rest[i];
    }
    if (auto ok = checkDecoded(joined, "path"); !ok) return std::unexpected(std::move(ok.error()));
    out.path = std::move(joined);
  }
  return out;
}

std::string apiTargetFor(const ApiTarget& t, std::string_view revision) {
  if (t.kind == ApiKind::Other) return "";
  std::string out = "/api/";
  out += repoTypePlural(t.type);
  out += '/';
  out += t.repo;
  switch (t.kind) {
    case ApiKind::RepoInfo:
      if (!revision.empty()) out += "/revision/" + encodeRevision(revision);
      break;
    case ApiKind::Tree:
      out += "/tree/" + encodeRevision(revision);
      if (!t.path.empty()) out += "/" + encodePath(t.path);
      break;
    case ApiKind::PathsInfo:
      out += "/paths-info/" + encodeRevision(revision);
      break;
    case ApiKind::Refs:
      out += "/refs";
      break;
    case ApiKind::XetToken:
      out += "/xet-read-token/" + encodeRevision(revision);
      break;
    case ApiKind::Other:
      break;
  }
  std::string query = canonicalQuery(t.query);
  if (!query.empty()) out += "?" + query;
  return out;
}

std::string canonicalQuery(const std::vector<QueryParam>& q,
                           std::initializer_list<std::string_view> drop) {
  std::vector<const QueryParam*> kept;
  kept.reserve(q.size());
  for (const QueryParam& p : q) {
    if (std::find(drop.begin(), drop.end(), std::string_view(p.key)) == drop.end()) {
      kept.push_back(&p);
    }
  }
  std::sort(kept.begin(), kept.end(), [](const QueryParam* a, const QueryParam* b) {
    return std::tie(a->key, a->value) < std::tie(b->key, b->value);
  });
  std::string out;
  for (const QueryParam* p : kept) {
    if (!out.empty()) out.push_back('&');
    out += encodeRevision(p->key);
    out.push_back('=');
    out += encodeRevision(p->value);
  }
  return out;
}

std::optional<std::string> queryValue(const std::vector<QueryParam>& q, std::string_view key) {
  for (const QueryParam& p : q) {
    if (p.key == key) return p.value;
  }
  return std::nullopt;
}

}  // namespace hubgate::hub
