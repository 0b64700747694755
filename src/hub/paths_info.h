// The body of `POST /api/{type}s/{repo}/paths-info/{rev}`: parsing both client formats and
// the one canonical form sent upstream and used as a cache key (hub-protocol.md §1.4, §5.3).
//
// Pure functions over hostile input (request bodies), no I/O, thread-safe, never throw.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hubgate::hub {

// Largest body parsePathsInfoBody accepts.
inline constexpr std::size_t kMaxPathsInfoBody = 1024 * 1024;
// Most `paths` entries parsePathsInfoBody accepts (the Hub documents 2000 per call).
inline constexpr std::size_t kMaxPathsInfoPaths = 10000;

struct PathsInfoQuery {
  std::vector<std::string> paths;  // decoded, in the order sent, duplicates kept
  bool expand = false;

  friend bool operator==(const PathsInfoQuery&, const PathsInfoQuery&) = default;
};

// Parses a POST body by its media type (compared case-insensitively; parameters such as
// `; charset=utf-8` ignored):
// - `application/x-www-form-urlencoded` (Python): `paths=a&paths=b%2Fc&expand=false`;
//   `paths` and `paths[]` repeat, '+' is a space, `expand` is true|false|1|0 (case-
//   insensitive; empty = false), other keys are ignored.
// - `application/json` (JS): `{"paths":["a"],"expand":true}`; `paths` is a required array of
//   strings, `expand` an optional boolean, other keys are ignored.
// Each path must be non-empty, valid UTF-8, free of control characters and backslashes, and
// its '/'-separated components neither empty nor `.` / `..`. Zero paths are allowed.
// Errors (InvalidArgument, message meant for the client): another media type, a body over
// kMaxPathsInfoBody, malformed form or JSON, an invalid path, more than kMaxPathsInfoPaths.
Result<PathsInfoQuery> parsePathsInfoBody(std::string_view content_type, std::string_view body);

// Canonical form-urlencoded body: paths de-duplicated and sorted (bytewise), each
// `paths=<encodeRevision(path)>`, then `expand=true|false` last, joined with '&'
// (`expand=false` alone when there are no paths).
std::string pathsInfoFormBody(const PathsInfoQuery& q);

}  // namespace hubgate::hub
