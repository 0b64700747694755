// Wall-clock helpers: unix timestamps for stored records, formatting for the logs (access log,
// audit trail).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hubgate {

// Now, as unix seconds (the timestamps the index stores).
std::int64_t unixSeconds();

// "2026-11-27T21:24:05.397Z": RFC 3339, UTC, milliseconds.
std::string rfc3339Millis(std::chrono::system_clock::time_point t);

}  // namespace hubgate
