// MeteredClient: a Client decorator that counts upstream failures by kind and 429 answers
// (hubgate_upstream_errors_total{kind}, hubgate_upstream_throttled_total), so every upstream call
// (metadata, API, file bodies) is counted in one place, once per failed request or body read.
//
// Counted: send() failures (errorKind of the error), answers with status 5xx (status_5xx) and 429
// (status_429, plus upstream_throttled), and body reads that fail (errorKind). A retry inside the
// wrapped client is invisible here (only its outcome counts).
//
// Thread-safety: as the wrapped client. Ownership: owns the wrapped client; the metrics outlive it.
#pragma once

#include <memory>
#include <string_view>

#include "metrics/registry.h"
#include "upstream/client.h"

namespace hubgate::upstream {

// The failure kind of an error returned by Client::send() or Response::read(): "timeout", "dns",
// "connect", "tls", "reset", "refused_address" or "other" (a closed set:
// metrics::GatewayMetrics::kUpstreamErrorKinds).
std::string_view errorKind(const Error& e);

std::unique_ptr<Client> withMetrics(std::unique_ptr<Client> inner, metrics::GatewayMetrics& metrics);

}  // namespace hubgate::upstream
