// Error and Result: the one error type of hubgate.
//
// Every fallible operation on the request path returns Result<T> (std::expected<T, Error>);
// nothing on that path throws. Exceptions are allowed only at startup (config parsing).
// Error is a value type; it carries a code (what kind of failure, drives the HTTP status)
// and a human-readable context (what failed, never containing secrets).
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace hubgate {

enum class ErrorCode {
  NotFound,
  InvalidArgument,
  Unauthorized,
  Forbidden,
  Unavailable,
  Timeout,
  Cancelled,
  Corruption,
  PolicyDenied,
  ScanRejected,
  ResourceExhausted,
  NoSpace,  // the cache cannot hold this (quota or free-disk reserve): serve without caching
  Internal,
};

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string context;
};

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for returning a failure: `return fail(ErrorCode::NotFound, "blob " + hex);`
inline std::unexpected<Error> fail(ErrorCode code, std::string context) {
  return std::unexpected<Error>(Error{code, std::move(context)});
}

std::string_view errorCodeName(ErrorCode code);

// The one mapping from error codes to HTTP status codes.
int httpStatusFor(ErrorCode code);

}  // namespace hubgate
