// AuditLog: one JSON line per file served or refused (issue 5 §6; docs/scanning.md).
//
// Fields: time (RFC 3339 UTC), caller (identity scope: "anon" or a token digest, never a
// token), repo_type, repo, commit, path, sha256 (or "sha1:<hex>" for regular git files), bytes
// (body bytes sent), status, cache ("hit" | "miss" | "join"), verdict, decision ("allow" |
// "warn" | "block" | "would-block"), overridden (finding rules an override set aside), scanner
// and policy versions, request_id (the X-Request-Id of the answer, as in the access log).
//
// Thread-safety: write() may be called from any thread; each record is one write(2) on an
// O_APPEND descriptor, so lines never interleave (also across processes sharing the file).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace hubgate::guard {

struct AuditRecord {
  std::string caller;
  std::string repo_type;
  std::string repo;
  std::string commit;
  std::string path;
  std::string content;  // "sha256:<hex>" | "sha1:<hex>"
  std::uint64_t bytes = 0;
  int status = 0;
  std::string cache;
  std::string verdict;
  std::string decision;
  std::vector<std::string> overridden;
  std::string reason;  // the finding summary when not clean, or the refusal
  std::string scanner_version;
  std::string policy_version;
  std::string request_id;  // X-Request-Id of the request (http::Server)
};

class AuditLog {
 public:
  // Opens (creating, mode 600) `path` for appending. Errors: Unavailable naming the path.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void write(const AuditRecord& record);
  static std::string line(const AuditRecord& record);  // the JSON line, with '\n'

 private:
  explicit AuditLog(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace hubgate::guard
