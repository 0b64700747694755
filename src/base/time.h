// Wall-clock formatting shared by the logs (access log, audit trail).
#pragma once

#include <chrono>
#include <string>

namespace hubgate {

// "2026-11-27T21:24:05.397Z": RFC 3339, UTC, milliseconds.
std::string rfc3339Millis(std::chrono::system_clock::time_point t);

}  // namespace hubgate
