#include "hub/repo_path.h"

#include "base/utf8.h"

#include <cstdint>
#include <vector>

namespace hubgate::hub {

namespace {

// One '/'-separated segment of the target path, decoded on its own.
struct Segment {
  bool ok = false;   // percent-encoding was valid
  std::string text;  // decoded bytes when ok
};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isAlnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (isUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}


std::vector<Segment> splitSegments(std::string_view path) {
  std::vector<Segment> segs;
  while (true) {
    auto slash = path.find('/');
    Segment seg;
    if (auto decoded = percentDecode(path.substr(0, slash))) {
      seg.ok = true;
      seg.text = std::move(*decoded);
    }
    segs.push_back(std::move(seg));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segs;
}

bool is(const std::vector<Segment>& segs, std::size_t i, std::string_view word) {
  return i < segs.size() && segs[i].ok && segs[i].text == word;
}

std::unexpected<Error> invalid(std::string msg) {
  return fail(ErrorCode::InvalidArgument, std::move(msg));
}

std::unexpected<Error> notResolveRoute() {
  return fail(ErrorCode::NotFound, "not a resolve route");
}

Result<void> checkRepoName(std::string_view s) {
  if (s.empty()) return invalid("invalid repo id: empty name");
  if (s.size() > kMaxRepoSegmentLength) {
    return invalid("invalid repo id: a name is longer than 96 characters");
  }
  if (!isAlnum(static_cast<unsigned char>(s[0]))) {
    return invalid("invalid repo id: a name must start with a letter or digit");
  }
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (!isAlnum(c) && c != '.' && c != '_' && c != '-') {
      return invalid("invalid repo id: only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  if (s.find("..") != std::string_view::npos) return invalid("invalid repo id: '..' not allowed");
  if (s.ends_with(".git")) return invalid("invalid repo id: a name must not end in '.git'");
  return {};
}

// First path segments that are Hub routes, not model namespaces.
bool isReservedNamespace(std::string_view s) {
  return s == "api" || s == "datasets" || s == "spaces" || s == "kernels" || s == "buckets";
}

// Validates the one or two decoded names of a repo id and joins them with '/'.
Result<std::string> parseRepo(const std::vector<std::string>& names, RepoType type) {
  // Only reachable through resolve-cache; such an id could not be addressed as /{repo}/resolve.
  if (type == RepoType::Model && !names.empty() && isReservedNamespace(names.front())) {
    return invalid("invalid repo id: '" + names.front() + "' is a reserved name");
  }
  std::string repo;
  for (const std::string& name : names) {
    if (auto ok = checkRepoName(name); !ok) return std::unexpected(std::move(ok.error()));
    if (!repo.empty()) repo.push_back('/');
    repo += name;
  }
  return repo;
}

// Byte rules shared by revisions and paths; `what` is "revision" or "path".
Result<void> checkDecoded(std::string_view text, std::string_view what) {
  const std::string prefix = "invalid " + std::string(what) + ": ";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (isControl(c)) return invalid(prefix + "control characters are not allowed");
    if (c == '\\') return invalid(prefix + "backslashes are not allowed");
  }
  if (!isValidUtf8(text)) return invalid(prefix + "not valid UTF-8");
  std::string_view rest = text;
  while (true) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty()) return invalid(prefix + "empty segment not allowed");
    if (part == ".") return invalid(prefix + "'.' segment not allowed");
    if (part == "..") return invalid(prefix + "'..' segment not allowed");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return {};
}

// Decodes segs[i, end) and splits them at every '/', encoded or not. Decisions that look past
// the revision use these components, so that a target and its canonical re-encoding (which
// writes a decoded '/' of the path as a separator) always read the same way.
Result<std::vector<std::string>> decodeComponents(const std::vector<Segment>& segs, std::size_t i) {
  std::vector<std::string> out;
  for (; i < segs.size(); ++i) {
    if (!segs[i].ok) return invalid("invalid path: bad percent-encoding");
    std::string_view rest = segs[i].text;
    while (true) {
      auto slash = rest.find('/');
      out.emplace_back(rest.substr(0, slash));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
  }
  return out;
}

// Joins comps[i, end) as the file path and validates it.
Result<std::string> parseFilePath(const std::vector<std::string>& comps, std::size_t i) {
  if (i >= comps.size()) return invalid("invalid path: missing file path");
  std::string path = comps[i];
  for (++i; i < comps.size(); ++i) {
    path.push_back('/');
    path += comps[i];
  }
  if (auto ok = checkDecoded(path, "path"); !ok) return std::unexpected(std::move(ok.error()));
  return path;
}

// segs[marker + 1] is the revision segment; the rest is the path, where the unencoded forms
// refs/pr/<N> and refs/convert/<name> continue the revision `refs`.
Result<ResolveTarget> parseRevisionAndPath(const std::vector<Segment>& segs, std::size_t marker,
                                           ResolveTarget out) {
  if (marker + 1 >= segs.size()) return invalid("invalid revision: missing revision and file path");
  const Segment& rev_seg = segs[marker + 1];
  if (!rev_seg.ok) return invalid("invalid revision: bad percent-encoding");
  if (rev_seg.text.empty()) return invalid("invalid revision: empty revision");
  auto comps = decodeComponents(segs, marker + 2);
  if (!comps) return std::unexpected(std::move(comps.error()));

  std::string rev = rev_seg.text;
  std::size_t path_at = 0;
  if (rev == "refs" && comps->size() >= 2 && ((*comps)[0] == "pr" || (*comps)[0] == "convert")) {
    const std::string& last = (*comps)[1];
    if ((*comps)[0] == "pr") {
      bool digits = !last.empty();
      for (char c : last) digits = digits && c >= '0' && c <= '9';
      if (!digits) return invalid("invalid revision: expected refs/pr/<number>");
    }
    rev += "/" + (*comps)[0] + "/" + last;
    path_at = 2;
  }
  if (auto ok = checkDecoded(rev, "revision"); !ok) return std::unexpected(std::move(ok.error()));
  auto path = parseFilePath(*comps, path_at);
  if (!path) return std::unexpected(std::move(path.error()));
  out.file.revision = std::move(rev);
  out.file.path = std::move(*path);
  return out;
}

// segs: api, resolve-cache, {plural}, then the components repo..., commit, path...
Result<ResolveTarget> parseResolveCache(const std::vector<Segment>& segs) {
  ResolveTarget out;
  out.resolve_cache = true;
  if (is(segs, 2, "models")) {
    out.file.type = RepoType::Model;
  } else if (is(segs, 2, "datasets")) {
    out.file.type = RepoType::Dataset;
  } else if (is(segs, 2, "spaces")) {
    out.file.type = RepoType::Space;
  } else {
    return notResolveRoute();
  }
  auto comps = decodeComponents(segs, 3);
  if (!comps) return std::unexpected(std::move(comps.error()));
  std::size_t commit_at = 0;
  if (comps->size() > 2 && isCommitHash((*comps)[2])) {
    commit_at = 2;  // org/name
  } else if (comps->size() > 1 && isCommitHash((*comps)[1])) {
    commit_at = 1;  // legacy single-segment id
  } else {
    return invalid("invalid resolve-cache target: expected a 40-hex commit after the repo id");
  }
  auto repo = parseRepo({comps->begin(), comps->begin() + static_cast<std::ptrdiff_t>(commit_at)},
                        out.file.type);
  if (!repo) return std::unexpected(std::move(repo.error()));
  auto path = parseFilePath(*comps, commit_at + 1);
  if (!path) return std::unexpected(std::move(path.error()));
  out.file.repo = std::move(*repo);
  out.file.revision = (*comps)[commit_at];
  out.file.path = std::move(*path);
  return out;
}

}  // namespace

Result<void> validateRepoName(std::string_view name) { return checkRepoName(name); }

Result<void> validateDecoded(std::string_view text, std::string_view what) {
  return checkDecoded(text, what);
}

std::string_view repoTypeName(RepoType type) {
  switch (type) {
    case RepoType::Model:
      return "model";
    case RepoType::Dataset:
      return "dataset";
    case RepoType::Space:
      return "space";
  }
  return "model";
}

std::string_view repoTypePlural(RepoType type) {
  switch (type) {
    case RepoType::Model:
      return "models";
    case RepoType::Dataset:
      return "datasets";
    case RepoType::Space:
      return "spaces";
  }
  return "models";
}

std::string_view urlPrefix(RepoType type) {
  switch (type) {
    case RepoType::Model:
      return "";
    case RepoType::Dataset:
      return "datasets/";
    case RepoType::Space:
      return "spaces/";
  }
  return "";
}

Result<ResolveTarget> parseResolveTarget(std::string_view target) {
  if (target.size() > kMaxTargetLength) {
    return invalid("request target too long (max " + std::to_string(kMaxTargetLength) + " bytes)");
  }
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') return notResolveRoute();
  const std::vector<Segment> segs = splitSegments(path.substr(1));

  if (is(segs, 0, "api")) {
    if (is(segs, 1, "resolve-cache")) return parseResolveCache(segs);
    return notResolveRoute();
  }
  if (is(segs, 0, "kernels") || is(segs, 0, "buckets")) return notResolveRoute();

  ResolveTarget out;
  std::size_t first = 0;
  if (is(segs, 0, "datasets")) {
    out.file.type = RepoType::Dataset;
    first = 1;
  } else if (is(segs, 0, "spaces")) {
    out.file.type = RepoType::Space;
    first = 1;
  }
  std::size_t marker = 0;
  if (is(segs, first + 2, "resolve")) {
    marker = first + 2;  // org/name
  } else if (is(segs, first + 1, "resolve")) {
    marker = first + 1;  // legacy single-segment id
  } else {
    return notResolveRoute();
  }
  std::vector<std::string> names;
  for (std::size_t i = first; i < marker; ++i) {
    if (!segs[i].ok) return invalid("invalid repo id: bad percent-encoding");
    names.push_back(segs[i].text);
  }
  auto repo = parseRepo(names, out.file.type);
  if (!repo) return std::unexpected(std::move(repo.error()));
  out.file.repo = std::move(*repo);
  return parseRevisionAndPath(segs, marker, std::move(out));
}

std::string encodeRevision(std::string_view rev) { return encode(rev, /*keep_slash=*/false); }

std::string encodePath(std::string_view path) { return encode(path, /*keep_slash=*/true); }

Result<std::string> percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (text.size() - i < 3) return invalid("bad percent-encoding: truncated escape");
    int hi = hexValue(text[i + 1]);
    int lo = hexValue(text[i + 2]);
    if (hi < 0 || lo < 0)
      return invalid("bad percent-encoding: '%' not followed by two hex digits");
    out.push_back(static_cast<char>((hi << 4) | lo));
    i += 2;
  }
  return out;
}

std::string resolveTargetFor(const FileRef& file) {
  std::string out = "/";
  out += urlPrefix(file.type);
  out += file.repo;
  out += "/resolve/";
  out += encodeRevision(file.revision);
  out += '/';
  out += encodePath(file.path);
  return out;
}

bool isCommitHash(std::string_view text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace hubgate::hub
