// Hub metadata addressing: the grammar of `/api/...` request targets and their canonical
// upstream encoding.
//
// Pure functions over hostile input (HTTP request targets), no I/O, thread-safe. They turn the
// target a client sent into an ApiTarget (what endpoint, which repo, decoded revision, decoded
// tree sub-path, decoded query) and build one canonical upstream target for it. See docs
// hub-protocol.md §1.4 and §3.
//
// Grammar recognised by parseApiTarget ({type} is models | datasets | spaces):
//
//   /api/{type}/{repo}                               RepoInfo (no revision: default branch)
//   /api/{type}/{repo}/revision/{rev}                RepoInfo
//   /api/{type}/{repo}/tree/{rev}[/{path}]           Tree
//   /api/{type}/{repo}/paths-info/{rev}              PathsInfo (POST)
//   /api/{type}/{repo}/refs                          Refs
//   /api/{type}/{repo}/xet-read-token/{rev}          XetToken
//   /api/{type}/{repo}/{commits|auth-check|xet-write-token|preupload|commit}[/...]   Other
//   any other /api/... target                        Other (type and repo not filled)
//
// - Every '/'-separated segment of the path is percent-decoded on its own; markers, repo
//   names and the revision segment are compared in decoded form. Anywhere in the path, bad
//   percent-encoding, a decoded control character (< 0x20, 0x7f) or a `.` / `..` component
//   (also one formed by a decoded %2F) is InvalidArgument, whatever the route.
// - repo: one segment (legacy `gpt2`) or two (`org/name`), each `[A-Za-z0-9][A-Za-z0-9._-]*`,
//   at most kMaxRepoSegmentLength bytes, no "..", not ending in ".git". The marker is looked
//   for after two repo segments, then after one; a reading counts only when what follows the
//   marker fits the route (`refs` and `revision/{rev}` take nothing more), and the
//   two-segment reading wins when both fit (`/api/models/a/refs` is repo `a`,
//   `/api/models/a/b/refs` is repo `a/b`). When a marker is found, an invalid repo id is
//   InvalidArgument. Without a marker, one or two valid names are RepoInfo; anything else
//   (`/api/models`, `/api/models/a/b/discussions/1`) is Other with an empty repo, so the
//   router forwards it as the client sent it.
// - revision: one segment, percent-decoded (`refs%2Fpr%2F1` -> `refs/pr/1`); a segment `refs`
//   followed by the components `pr`, `<digits>` or `convert`, `<name>` is the unencoded form
//   `refs/pr/<N>` / `refs/convert/<name>` (JS sends tree revisions raw). The revision is
//   non-empty, valid UTF-8, has no control characters or backslashes, and its
//   '/'-separated components are neither empty nor `.` / `..`. `refs/pr/<not digits>` is
//   InvalidArgument.
// - tree path: everything after the revision, decoded and split at '/' and '%2F' alike
//   (Python encodes the '/' of the sub-path), joined with '/'. Empty when nothing follows
//   the revision; otherwise the same rules as a revision.
// - query (after the first '?'): split at '&' (empty pieces skipped), key and value at the
//   first '=' (a piece without '=' has an empty value), '+' read as a space, then
//   percent-decoded; bad percent-encoding or a control character is InvalidArgument.
// - the whole target is at most kMaxTargetLength bytes (repo_path.h).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "hub/repo_path.h"

namespace hubgate::hub {

enum class ApiKind { RepoInfo, Tree, PathsInfo, Refs, XetToken, Other };

// "repo-info", "tree", "paths-info", "refs", "xet-token", "other" (for logs and metrics).
std::string_view apiKindName(ApiKind kind);

struct QueryParam {
  std::string key;    // decoded
  std::string value;  // decoded

  friend bool operator==(const QueryParam&, const QueryParam&) = default;
};

struct ApiTarget {
  ApiKind kind = ApiKind::Other;
  // Meaningful only when repo is non-empty.
  RepoType type = RepoType::Model;
  // "org/name" or legacy "gpt2"; empty for an Other target without a recognisable repo.
  std::string repo;
  // Decoded ("refs/pr/1"). Empty for RepoInfo without /revision/ (default branch), Refs and
  // Other; non-empty for Tree, PathsInfo, XetToken and RepoInfo with /revision/.
  std::string revision;
  // Tree sub-path, decoded, '/'-joined; may be empty. Empty for other kinds.
  std::string path;
  // In the order sent, decoded ('+' is a space).
  std::vector<QueryParam> query;

  friend bool operator==(const ApiTarget&, const ApiTarget&) = default;
};

// Parses an origin-form request target per the grammar above.
// Errors: NotFound if the target does not start with "/api/" (the router may try other
// routes); InvalidArgument, with a message meant for the client, if it is malformed or
// longer than kMaxTargetLength.
Result<ApiTarget> parseApiTarget(std::string_view target);

// The canonical upstream origin-form target for `t` at `revision` (encodeRevision), the tree
// path encoded with encodePath, and canonicalQuery(t.query) after a '?' when non-empty:
//   RepoInfo   /api/{type}s/{repo}/revision/{rev}, or /api/{type}s/{repo} when revision is ""
//   Tree       /api/{type}s/{repo}/tree/{rev}[/{path}]
//   PathsInfo  /api/{type}s/{repo}/paths-info/{rev}
//   Refs       /api/{type}s/{repo}/refs            (revision ignored)
//   XetToken   /api/{type}s/{repo}/xet-read-token/{rev}
//   Other      "" (an Other target is forwarded as the client sent it)
// REQUIRES: revision non-empty for Tree, PathsInfo and XetToken.
// For a target parsed by parseApiTarget (not Other), parseApiTarget(apiTargetFor(t,
// t.revision)) gives t back with its query sorted as canonicalQuery sorts it, unless the
// result exceeds kMaxTargetLength.
std::string apiTargetFor(const ApiTarget& t, std::string_view revision);

// Query params sorted by key then value, each `encodeRevision(key)=encodeRevision(value)`,
// joined with '&'; params whose key is listed in `drop` are omitted. Empty string when
// nothing remains. Used as a cache key and as the upstream query.
std::string canonicalQuery(const std::vector<QueryParam>& q,
                           std::initializer_list<std::string_view> drop = {});

// The value of the first param named `key`, or nullopt.
std::optional<std::string> queryValue(const std::vector<QueryParam>& q, std::string_view key);

}  // namespace hubgate::hub
