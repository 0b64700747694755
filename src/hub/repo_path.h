// Hub file addressing: the grammar of `/resolve` request targets and its canonical encoding.
//
// Pure functions over hostile input (HTTP request targets), no I/O, thread-safe. They turn the
// target a client sent into a FileRef (repo type, repo id, decoded revision, decoded file path)
// and build the one canonical upstream target for a FileRef. See docs hub-protocol.md §1.
//
// Grammar accepted by parseResolveTarget (the query string, from the first '?', is ignored):
//
//   /{repo}/resolve/{rev}/{path}                     model
//   /datasets/{repo}/resolve/{rev}/{path}            dataset
//   /spaces/{repo}/resolve/{rev}/{path}              space
//   /api/resolve-cache/{models|datasets|spaces}/{repo}/{commit}/{path}    resolve_cache = true
//
// The target is split at '/' and every segment is percent-decoded on its own (a decoding error
// is reported only once the target is known to be a resolve route). Route markers, prefixes,
// repo names and the revision segment are read from decoded segments; what follows the
// revision (and, for resolve-cache, what follows the type) is read as decoded *components*:
// the decoded segments split again at every '/', so an encoded `%2F` there is a separator. A
// target and its canonical re-encoding (resolveTargetFor) therefore always read the same way.
//
// - repo: one segment (legacy `gpt2`) or two (`org/name`). Each segment matches
//   `[A-Za-z0-9][A-Za-z0-9._-]*`, is at most 96 bytes, contains no "..", and does not end in
//   ".git" (the Hub's git endpoints live at `/{repo}.git/...`). The `resolve` marker is
//   located at segment 3 (two-segment repo) before segment 2 (one-segment repo), so
//   `/a/resolve/resolve/x` is repo `a/resolve`, revision `x`. For resolve-cache the 40-hex
//   commit locates the end of the repo id, again preferring the two-segment reading.
//   A first segment of `api` (other than resolve-cache), `kernels` or `buckets` is not a
//   model namespace: such targets are not resolve routes. A model repo id reached through
//   resolve-cache must not start with `api`, `datasets`, `spaces`, `kernels` or `buckets`.
// - revision: one segment (`main`, `refs%2Fpr%2F1` -> `refs/pr/1`); a revision segment
//   `refs` followed by the components `pr`, `<digits>` or `convert`, `<name>` is the
//   unencoded form `refs/pr/<N>` / `refs/convert/<name>`. The decoded revision is non-empty,
//   valid UTF-8, has no control characters or backslashes, and its '/'-separated components
//   are neither empty nor `.` / `..`.
// - path: all remaining components, at least one, each non-empty and not `.` / `..`; the
//   path is valid UTF-8 with no control characters (< 0x20, 0x7f) and no backslashes.
//   Spaces, '#' (raw or %23), '+', '%' (as %25) and unicode (raw or encoded) are legal.
// - the whole target is at most kMaxTargetLength bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace hubgate::hub {

enum class RepoType { Model, Dataset, Space };

// "model" / "dataset" / "space".
std::string_view repoTypeName(RepoType type);
// "models" / "datasets" / "spaces" (as in /api/{plural}/...).
std::string_view repoTypePlural(RepoType type);
// Prefix of file URLs: "" / "datasets/" / "spaces/".
std::string_view urlPrefix(RepoType type);

// One file of one repo at one revision. Revision and path are decoded (`refs/pr/1`,
// `sub dir/a #1.txt`); repo is `org/name` or a legacy single-segment id.
struct FileRef {
  RepoType type = RepoType::Model;
  std::string repo;
  std::string revision;
  std::string path;

  friend bool operator==(const FileRef&, const FileRef&) = default;
};

struct ResolveTarget {
  FileRef file;
  // The target was /api/resolve-cache/...: the revision is a 40-hex commit.
  bool resolve_cache = false;

  friend bool operator==(const ResolveTarget&, const ResolveTarget&) = default;
};

// Longest request target parseResolveTarget accepts.
inline constexpr std::size_t kMaxTargetLength = 8 * 1024;
// Longest repo id segment (namespace or name).
inline constexpr std::size_t kMaxRepoSegmentLength = 96;

// Parses an origin-form request target (path + optional query) per the grammar above.
// Errors: NotFound if the target is not a resolve route at all (the router may try other
// routes); InvalidArgument, with a message meant for the client, if it is a resolve route
// that breaks a rule, or if the target is longer than kMaxTargetLength.
Result<ResolveTarget> parseResolveTarget(std::string_view target);

// encodeURIComponent-style: every byte except the unreserved `A-Za-z0-9-._~` becomes %XX
// (upper-case hex), so '/' becomes %2F.
std::string encodeRevision(std::string_view rev);
// Like encodeRevision, but '/' is kept.
std::string encodePath(std::string_view path);
// Decodes every %XX (either hex case); '+' stays '+'. Fails (InvalidArgument) on a '%' not
// followed by two hex digits. Does not validate the decoded bytes.
Result<std::string> percentDecode(std::string_view text);

// The canonical upstream origin-form target for `file`:
// `/{prefix}{repo}/resolve/{encodeRevision(revision)}/{encodePath(path)}`.
// For any FileRef produced by parseResolveTarget, parsing the result yields the same FileRef
// (with resolve_cache = false) unless the result exceeds kMaxTargetLength.
std::string resolveTargetFor(const FileRef& file);

// True iff `text` is exactly 40 lower-case hex digits (a full git commit id).
bool isCommitHash(std::string_view text);

// Validation shared by the Hub path parsers (resolve and API routes). InvalidArgument with a
// message naming the problem.
// A repo id segment: [A-Za-z0-9][A-Za-z0-9._-]*, at most 96 characters, no "..", no ".git" end.
Result<void> validateRepoName(std::string_view name);
// Decoded text (`what` names it in the message: "path", "revision"): no control characters, no
// backslash, valid UTF-8, no empty, "." or ".." segment between slashes.
Result<void> validateDecoded(std::string_view text, std::string_view what);

}  // namespace hubgate::hub
