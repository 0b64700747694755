#include "upstream/metered_client.h"

#include <gtest/gtest.h>

namespace hubgate::upstream {
namespace {

TEST(ErrorKind, ClassifiesTheClientsErrors) {
  struct Case {
    ErrorCode code;
    const char* context;
    const char* kind;
  };
  const Case cases[] = {
      {ErrorCode::Timeout, "connect to https://x: timed out", "timeout"},
      {ErrorCode::Timeout, "resolve https://x: timed out", "timeout"},
      {ErrorCode::Unavailable, "resolve https://x: Host not found (authoritative)", "dns"},
      {ErrorCode::Unavailable, "resolve proxy http://p: Host not found", "dns"},
      {ErrorCode::Unavailable, "connect to http://127.0.0.1:1: Connection refused", "connect"},
      {ErrorCode::Unavailable, "proxy CONNECT to https://x via proxy http://p: HTTP 403", "connect"},
      {ErrorCode::Unavailable, "TLS handshake with https://x: certificate verify failed", "tls"},
      {ErrorCode::Unavailable, "read body from https://x/a: Connection reset by peer", "reset"},
      {ErrorCode::Unavailable, "read response header from https://x/a: connection closed by the server", "reset"},
      {ErrorCode::Unavailable, "send request to https://x/a: Broken pipe", "reset"},
      {ErrorCode::Forbidden, "refused to connect to https://x: it resolves only to non-public addresses (10.0.0.1)", "refused_address"},
      {ErrorCode::ResourceExhausted, "body larger than 64 bytes", "other"},
      {ErrorCode::Unavailable, "something new", "other"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(errorKind(Error{c.code, c.context}), c.kind) << c.context;
  }
}

}  // namespace
}  // namespace hubgate::upstream
