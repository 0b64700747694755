// gzip content-coding for responses the gateway builds in memory (JSON metadata).
//
// Pure functions, no I/O, thread-safe (zlib streams are per call). Large file bodies are
// never compressed: clients need their exact size and byte ranges.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace hubgate::http {

// True when an Accept-Encoding value allows gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip`
// listed with q > 0 (any of them listed with q = 0 refuses), or, when neither is listed,
// `*` with q > 0. Codings and the `q` name are case-insensitive; OWS is tolerated; an
// element with an invalid qvalue is ignored. "" (also: header absent) -> false, since a
// client that does not ask for gzip is not sent gzip.
bool acceptsGzip(std::string_view accept_encoding);

// gzip-compresses `data` (zlib deflateInit2, windowBits 31, level 6): a complete gzip
// member. Errors: Internal if zlib fails, ResourceExhausted when out of memory.
Result<std::string> gzipCompress(std::string_view data);

}  // namespace hubgate::http
