// AccessLog: one line per HTTP response, as JSON (default) or Common Log Format
// (docs/observability.md). Lines are written with one write(2) each on an O_APPEND descriptor
// (or standard output), so they never interleave with each other or with other log lines.
//
// What is never logged: query strings (they may carry signed or private parameters) and
// credentials (the caller appears by its label, auth::Caller::label).
//
// Thread-safety: write() may be called from any thread. Ownership: owns its descriptor (not
// standard output's).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"

namespace hubgate::router {

struct AccessEntry {
  std::chrono::system_clock::time_point time;  // when the response was done
  std::string request_id;
  std::string remote;  // client address, "" if unknown
  std::string method;
  std::string path;    // without the query string
  int status = 0;
  std::uint64_t bytes = 0;  // body bytes sent
  std::chrono::steady_clock::duration duration{};
  std::optional<std::chrono::steady_clock::duration> ttfb;
  std::string route;
  std::string cache;   // X-Hubgate-Cache value, "" when none
  std::string caller;  // label
  bool ok = true;      // false: the body was cut
  std::string user_agent;
};

class AccessLog {
 public:
  enum class Format { Json, Clf };
  // `path` "" = standard output; otherwise opened (created, mode 640) for appending.
  // Errors: Unavailable naming the path.
  static Result<std::unique_ptr<AccessLog>> open(Format format, const std::string& path);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessEntry& e);
  // The line for `e`, with '\n'.
  static std::string jsonLine(const AccessEntry& e);
  static std::string clfLine(const AccessEntry& e);

 private:
  AccessLog(Format format, int fd, bool owned) : format_(format), fd_(fd), owned_(owned) {}
  Format format_;
  int fd_;
  bool owned_;
};

}  // namespace hubgate::router
