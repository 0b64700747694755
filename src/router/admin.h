// AdminApi: the operator's HTTP interface under /admin (docs/access_control.md).
//
//   GET    /admin/stats        cache totals (blobs, bytes, files, answers, active keys)
//   GET    /admin/keys         gateway keys, without secrets
//   POST   /admin/keys         {"name", "credential"?, "allow"?: [globs], "deny"?: [globs]}
//                              -> 201 with the new key, shown this once
//   DELETE /admin/keys/{id}    revoke -> 204 (404 when no active key has that id)
//   GET    /admin/scan/{digest} the stored scan verdict of a blob (sha256 or git sha1)
// Every request needs the admin key (Authorization: Bearer <admin key>): 401 AdminKeyRequired /
// InvalidAdminKey, 403 AdminDisabled when none is configured. Served on the main listener, or
// only on access.admin_listen when that is set.
//
// Thread-safety: handle() is re-entrant (KeyStore and Index are thread-safe). Admin calls
// block on SQLite briefly; they are rare operator actions.
#pragma once

#include "auth/authenticator.h"
#include "cache/index.h"
#include "http/server.h"

namespace hubgate::router {

class AdminApi {
 public:
  AdminApi(auth::Authenticator& auth, cache::Index& index) : auth_(auth), index_(index) {}

  http::Response handle(const http::Request& req);

 private:
  http::Response keys(const http::Request& req);
  http::Response createKey(const http::Request& req);

  auth::Authenticator& auth_;
  cache::Index& index_;
};

// A JSON error answer with X-Error-Code, as the Hub writes them.
http::Response jsonError(int status, const std::string& code, const std::string& message);

}  // namespace hubgate::router
