// Rewriting of the `Link` response header (RFC 8288) for clients of the gateway, and the
// gateway origin those clients see.
//
// Pure functions over untrusted header values, no I/O, thread-safe, never throw. Tree and
// commit listings paginate with `Link: <absolute upstream URL>; rel="next"`; a client that
// followed it would leave the gateway on page 2 (hub-protocol.md §5.2). Resolve answers carry
// `rel="xet-auth"` / `rel="xet-reconstruction-info"` links that would send Xet-capable
// clients to the CAS (xet.md §7.1).
#pragma once

#include <string>
#include <string_view>

namespace hubgate::http {

// Rewrites an upstream `Link` value: every `<URL>` whose URL is absolute http(s) (scheme
// case-insensitive) gets its scheme and authority replaced by `gateway_origin` (a trailing
// '/' of it is ignored), path, query and fragment kept byte for byte; relative URLs are kept.
// Link-values whose rel (the first `rel` parameter, a space-separated list compared
// case-insensitively) contains "xet-auth" or "xet-reconstruction-info" are removed.
// The others are kept in order, joined by ", ", each written `<url>; rel="..."` followed by
// the remaining parameters as `; name="value"` (names lower-cased, token values quoted,
// quoted values kept verbatim; rel first, because huggingface.js only reads
// `<url>; rel="next"`). Commas inside <...> or quoted strings, and OWS anywhere between
// the parts, are handled. Malformed link-values (no <...>) are dropped. Returns "" when
// nothing remains.
std::string rewriteLinkHeader(std::string_view value, std::string_view gateway_origin);

// The origin clients used to reach the gateway: scheme from `fwd_proto`
// (X-Forwarded-Proto; its first comma-separated element, "http" or "https" case-
// insensitively, else "http") + "://" + the host from `fwd_host` (X-Forwarded-Host, first
// element) or, when that is empty, `host` (Host). The host must be host[:port] characters
// only (letters, digits, '.', '-', '_', ':', '[' and ']', at most 255 bytes); otherwise the
// result is `fallback` itself when it contains "://", else scheme + "://" + fallback.
// Pass empty forwarded values when X-Forwarded-* are not trusted.
std::string gatewayOrigin(std::string_view host, std::string_view fwd_proto,
                          std::string_view fwd_host, std::string_view fallback);

}  // namespace hubgate::http
