// The pickle VM walker (scanning.md §3): emulates protocols 0-5 symbolically (every opcode, a
// real value stack, mark stack, memo map) without Python, and judges every imported global
// against exact (module, name) allowlist profiles, with a denylist for severity and messages.
//
// Thread-safety: pure functions over a ByteSource; re-entrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scan/limits.h"
#include "scan/report.h"
#include "scan/source.h"

namespace hubgate::scan {

struct PickleContext {
  const Limits* limits = nullptr;           // REQUIRES: non-null
  // Allowlist profiles in force: "core", "torch", "numpy" are always on; extras by name
  // ("hf-training", "sklearn").
  std::vector<std::string> extra_profiles;
  bool torch_container = false;  // inside a PyTorch checkpoint: PERSID/BINPERSID are expected
  bool trailing_data_ok = false;  // bytes after the last pickle are not pickles (legacy torch storage)
  int nested_depth = 0;           // pickles found in string arguments are walked up to the limit
  std::string location;           // container path for findings ("" = top level)
};

struct PickleOutcome {
  std::uint64_t end = 0;       // offset after the last opcode read
  int pickles = 0;             // complete pickles (STOP reached) in the stream
  bool complete = false;       // at least one pickle ended at STOP and nothing unparsable followed
  std::vector<std::string> persistent_ids;  // string forms of PERSID/BINPERSID operands seen
  std::vector<std::string> globals;         // normalised "module.name" of every import, in order
};

// Walks the pickle stream at [begin, source.size()): one pickle, then further pickles while
// bytes remain (§3.3). Findings go to `report` (location ctx.location, offsets relative to the
// start of `source`). A parse failure is an Invalid finding; after any other finding it is
// Malicious.
PickleOutcome walkPickle(ByteSource& source, std::uint64_t begin, const PickleContext& ctx,
                         Report& report);

// Cheap content sniff: PROTO 2-5 at `offset`, or a protocol 0/1 opcode sequence that parses for
// a few opcodes.
bool looksLikePickle(ByteSource& source, std::uint64_t offset = 0);

}  // namespace hubgate::scan
