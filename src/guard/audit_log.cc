#include "guard/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

namespace hubgate::guard {

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail(ErrorCode::Unavailable, "audit log " + path + ": " + std::strerror(errno));
  return std::unique_ptr<AuditLog>(new AuditLog(fd));
}

AuditLog::~AuditLog() { ::close(fd_); }

std::string AuditLog::line(const AuditRecord& r) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  nlohmann::json j = {{"time", stamp},
                      {"caller", r.caller},
                      {"repo_type", r.repo_type},
                      {"repo", r.repo},
                      {"commit", r.commit},
                      {"path", r.path},
                      {"content", r.content},
                      {"bytes", r.bytes},
                      {"status", r.status},
                      {"cache", r.cache},
                      {"verdict", r.verdict},
                      {"decision", r.decision},
                      {"overridden", r.overridden},
                      {"reason", r.reason},
                      {"scanner_version", r.scanner_version},
                      {"policy_version", r.policy_version},
                      {"request_id", r.request_id}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void AuditLog::write(const AuditRecord& record) {
  std::string text = line(record);
  // One write(2): O_APPEND makes it atomic with respect to other appenders for regular files.
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the gateway keeps serving; a full disk must not take it down
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace hubgate::guard
