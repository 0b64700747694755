#include "guard/audit_log.h"

#include "base/time.h"

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
  const std::string stamp = rfc3339Millis(std::chrono::system_clock::now());
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
