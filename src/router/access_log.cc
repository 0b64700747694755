#include "router/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/time.h"

namespace hubgate::router {
namespace {

constexpr std::size_t kMaxUserAgent = 256;

std::tm utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

double ms(std::chrono::steady_clock::duration d) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) / 1000.0;
}

// Cuts at a byte limit without splitting a UTF-8 sequence.
std::string truncated(const std::string& s, std::size_t limit) {
  if (s.size() <= limit) return s;
  std::size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// CLF fields are space-separated: a field must not contain a space, quote or control byte.
std::string clfToken(const std::string& s) {
  if (s.empty()) return "-";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u <= 0x20 || u == 0x7f || c == '"' ? '_' : c);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<AccessLog>> AccessLog::open(Format format, const std::string& path) {
  if (path.empty()) return std::unique_ptr<AccessLog>(new AccessLog(format, STDOUT_FILENO, false));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return fail(ErrorCode::Unavailable, "access log " + path + ": " + std::strerror(errno));
  return std::unique_ptr<AccessLog>(new AccessLog(format, fd, true));
}

AccessLog::~AccessLog() {
  if (owned_) ::close(fd_);
}

std::string AccessLog::jsonLine(const AccessEntry& e) {
  const std::string stamp = rfc3339Millis(e.time);
  nlohmann::json j = {{"ts", stamp},
                      {"request_id", e.request_id},
                      {"remote", e.remote},
                      {"method", e.method},
                      {"path", e.path},
                      {"status", e.status},
                      {"bytes", e.bytes},
                      {"duration_ms", ms(e.duration)},
                      {"route", e.route},
                      {"cache", e.cache.empty() ? std::string("-") : e.cache},
                      {"caller", e.caller},
                      {"outcome", e.ok ? "ok" : "cut"},
                      {"user_agent", truncated(e.user_agent, kMaxUserAgent)}};
  j["ttfb_ms"] = e.ttfb ? nlohmann::json(ms(*e.ttfb)) : nlohmann::json(nullptr);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string AccessLog::clfLine(const AccessEntry& e) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::tm tm = utc(e.time);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday,
                kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return clfToken(e.remote) + " - " + clfToken(e.caller) + " [" + stamp + "] \"" +
         clfToken(e.method) + " " + clfToken(e.path) + " HTTP/1.1\" " + std::to_string(e.status) +
         " " + std::to_string(e.bytes) + "\n";
}

void AccessLog::write(const AccessEntry& e) {
  const std::string text = format_ == Format::Json ? jsonLine(e) : clfLine(e);
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk or closed pipe must not take the gateway down
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace hubgate::router
