// AdminApi: the operator's HTTP interface under /admin (docs/access_control.md).
//
//   GET    /admin/stats        cache totals (blobs, bytes, files, answers, active keys)
//   GET    /admin/keys         gateway keys, without secrets
//   POST   /admin/keys         {"name", "credential"?, "allow"?: [globs], "deny"?: [globs]}
//                              -> 201 with the new key, shown this once
//   DELETE /admin/keys/{id}    revoke -> 204 (404 when no active key has that id)
//   GET    /admin/scan/{digest} the stored scan verdict of a blob (sha256 or git sha1)
// Cache operations (docs/operations.md):
//   GET    /admin/cache                      space: bytes, objects, quota, reserve, disk, pins
//   GET    /admin/cache/repos                cached repos with files, bytes, last access, pinned
//   DELETE /admin/cache/repos/{type}/{repo}  drop the repo's blobs -> 200 {type, repo, blobs_removed}
//   DELETE /admin/cache/blobs/{digest}       drop one blob -> 204 (404 when not cached)
//   GET    /admin/pins                       pinned repos
//   POST   /admin/pins                       {"type"?, "repo"} -> 201
//   DELETE /admin/pins/{type}/{repo}         -> 204 (404 when not pinned)
//   POST   /admin/prefetch                   {"repo", "type"?, "revision"?, "include"?, "exclude"?,
//                                            "pin"?, "credential"?} -> 202 with the job
//   POST   /admin/verify, /admin/gc          start that job -> 202
//   GET    /admin/jobs, /admin/jobs/{id}     job state and progress
//   DELETE /admin/jobs/{id}                  cancel -> 202 (404 when not running, 409 for gc)
// Every request needs the admin key (Authorization: Bearer <admin key>): 401 AdminKeyRequired /
// InvalidAdminKey, 403 AdminDisabled when none is configured. Served on the main listener, or
// only on access.admin_listen when that is set.
//
// Thread-safety: handle() is re-entrant (KeyStore and Index are thread-safe). Admin calls
// block on SQLite briefly; they are rare operator actions.
#pragma once

#include "auth/authenticator.h"
#include "cache/index.h"
#include "cache/space.h"
#include "http/server.h"
#include "ops/jobs.h"

namespace hubgate::router {

class AdminApi {
 public:
  // `space` and `jobs` may be null (no cache routes).
  AdminApi(auth::Authenticator& auth, cache::Index& index, cache::Space* space = nullptr,
           ops::Jobs* jobs = nullptr)
      : auth_(auth), index_(index), space_(space), jobs_(jobs) {}

  http::Response handle(const http::Request& req);

 private:
  http::Response keys(const http::Request& req);
  http::Response createKey(const http::Request& req);
  http::Response cacheRoutes(const http::Request& req, std::string_view path);
  http::Response jobRoutes(const http::Request& req, std::string_view path);

  auth::Authenticator& auth_;
  cache::Index& index_;
  cache::Space* space_;
  ops::Jobs* jobs_;
};

// A JSON error answer with X-Error-Code, as the Hub writes them.
http::Response jsonError(int status, const std::string& code, const std::string& message);

}  // namespace hubgate::router
