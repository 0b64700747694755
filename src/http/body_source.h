// BodySource: the one delivery path for response bodies (finished blob, blob still filling,
// in-memory text). The HTTP writer pulls chunks and sends them with sendfile() or buffered
// writes; a source never holds more than one chunk's worth of memory.
//
// Ownership: the writer owns the source for the duration of one response. A source is used
// by one coroutine at a time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/error.h"

namespace hubgate::http {

struct BodyChunk {
  // A chunk is either file-backed (fd >= 0: send `length` bytes at `offset` of `fd`) or
  // memory-backed (`data`, valid until the next call to next()). length == 0 means end of body.
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::span<const std::byte> data;
};

class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next chunk of at most `max_bytes`, waiting if the bytes are not there yet (a fill in
  // progress). An error means the body cannot be completed: the writer cuts the connection so
  // that the client sees a truncated response, never a complete wrong one.
  virtual boost::asio::awaitable<Result<BodyChunk>> next(std::size_t max_bytes) = 0;
  // Called after a chunk has been written to the client (for byte accounting).
  virtual void sent(std::uint64_t bytes) = 0;
};

}  // namespace hubgate::http
