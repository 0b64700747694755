// The scanner's entry point: bytes in, Report out. No I/O besides reading the ByteSource, no
// dependency on the gateway; used by `hubgate scan` and by the fill pipeline.
//
// scan() sniffs the format from content (never the name: `name_hint` only adds a finding when it
// disagrees, scanning.md §4.1), then runs the matching checks: pickle walker (scan/pickle.h), zip
// reader and PyTorch/NumPy/joblib containers (scan/zip.h, scan/containers.h), safetensors and
// GGUF validators (scan/safetensors.h, scan/gguf.h), then the hash denylist and the optional
// YARA / ClamAV hooks (scan/signatures.h) on the file and on decoded members.
//
// Thread-safety: scan() is re-entrant; ScanOptions' pointees must be thread-safe for concurrent
// scans (HashDenylist and the signature engines are).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "scan/limits.h"
#include "scan/report.h"
#include "scan/source.h"

namespace hubgate::scan {

// Bumped whenever a change can alter a verdict (stored verdicts are recomputed when it changes).
inline constexpr std::string_view kScannerVersion = "1";

class HashDenylist;      // scan/signatures.h
class SignatureEngine;   // scan/signatures.h (YARA, ClamAV)

struct ScanOptions {
  Limits limits;
  // Extra exact (module, name) allowlist profiles beyond the default ones ("hf-training",
  // "sklearn"); see scan/pickle.h.
  std::vector<std::string> extra_profiles;
  const HashDenylist* denylist = nullptr;          // optional
  std::vector<const SignatureEngine*> engines;     // optional (YARA, ClamAV)
};

// `sha256_hex`: the file's sha256 when the caller knows it (the gateway verified it while
// filling); computed here otherwise. Used for the hash denylist.
Report scan(ByteSource& source, std::string_view name_hint, const ScanOptions& options,
            std::string_view sha256_hex = {});

}  // namespace hubgate::scan
