// The pickle VM walker (scanning.md §3): emulates protocols 0-5 symbolically (every opcode, a
// real value stack, mark stack, memo map) without Python, and judges every imported global
// against exact (module, name) allowlist profiles, with a denylist for severity and messages.
//
// Thread-safety: pure functions over a ByteSource; re-entrant.
#pragma once

#include <cstdint>
#include <functional>
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
  // Optional: scans bytes that an allowlisted helper would load as a whole checkpoint
  // (torch.storage._load_from_bytes) when they are not a bare pickle stream, typically a torch
  // zip. `nested` carries nested_depth + 1 and the location to use. Without it such bytes are a
  // Suspicious "pickle.nested-unscanned" finding. Bare pickle streams are always walked here.
  std::function<void(ByteSource& bytes, const PickleContext& nested, Report& report)> scan_nested;
};

struct PickleOutcome {
  // Offset after the last opcode read. When ctx.trailing_data_ok tolerated trailing bytes, the
  // offset after the last complete pickle (where the non-pickle data starts).
  std::uint64_t end = 0;
  int pickles = 0;             // complete pickles (STOP reached) in the stream
  bool complete = false;       // at least one pickle ended at STOP and nothing unparsable followed
  // String forms of PERSID/BINPERSID operands seen, Python-repr style for BINPERSID:
  // "('storage', torch.FloatStorage, '0', 'cpu', 4)". At most 2^20 entries (then a limit finding).
  std::vector<std::string> persistent_ids;
  // The key (third element) of every torch-style ('storage', type, key, location, numel)
  // persistent id, in order: the names of data/<key> records in a torch zip.
  std::vector<std::string> storage_keys;
  // Normalised "module.name" of every import (GLOBAL, INST, STACK_GLOBAL with constant
  // operands), in order; dynamic and EXT imports have no name and are not listed.
  std::vector<std::string> globals;
};

// Walks the pickle stream at [begin, source.size()): one pickle, then further pickles while
// bytes remain (§3.3). Findings go to `report` (location ctx.location, offsets relative to the
// start of `source`). A parse failure is an Invalid finding; after any other finding it is
// Malicious.
//
// Rules (Finding::rule): pickle.global.{denylisted,dunder,dotted,not-allowlisted},
// pickle.dynamic-import, pickle.call-of-call-result, pickle.build-on-global,
// pickle.mutate-global, pickle.build-on-unallowlisted, pickle.ext-import,
// pickle.codecs-encode-args, pickle.nested-unscanned, pickle.persid-outside-torch,
// pickle.proto-misplaced, pickle.proto-repeated, pickle.frame-mismatch (structure), the
// Invalid parse rules pickle.{empty,truncated,invalid-opcode,bad-argument,stack-underflow,
// no-mark,memo-missing,memo-index,not-callable,out-of-band-buffer,trailing-data},
// pickle.error-after-finding (Malicious), pickle.io-error (Error), and limit.pickle-{opcodes,
// stack,memo,memory,nested-depth,outcome} (Error) / limit.pickle-length (Invalid), and
// pickle.findings-suppressed (one summary after the first 256 findings of a walk, at the
// severity of the worst one left out).
//
// EXT1/2/4 (an import through copyreg's extension registry, which the scanner cannot resolve)
// are Malicious: no ML pickler emits them, and stock CPython has no codes registered, so they
// only serve to hide an import. Each pickle after the first starts with a fresh memo and
// protocol, like pickle.load called in a loop.
//
// joblib: after a BUILD on a joblib.numpy_pickle.NumpyArrayWrapper (whatever the profiles), the
// raw array bytes joblib writes inline are skipped the way its NumpyUnpickler reads them
// (padding, then shape x itemsize bytes; object arrays are one nested pickle), and walked once
// as opcodes for a payload aimed at a plain pickle.load (denylisted imports only). Rules
// pickle.joblib-array (Invalid: wrapper state not understood), limit.pickle-length.
//
// With ctx.trailing_data_ok, a pickle after the first that fails to parse is taken for the
// non-pickle data: its findings are dropped except denylisted and dunder imports.
PickleOutcome walkPickle(ByteSource& source, std::uint64_t begin, const PickleContext& ctx,
                         Report& report);

// Cheap content sniff (scanning.md §4.1): PROTO 0-5 at `offset`, or a protocol 0/1 opcode
// sequence that parses for a few opcodes (a complete short pickle, or 8 opcodes). Reads little:
// at most 64 opcodes, large payloads skipped.
bool looksLikePickle(ByteSource& source, std::uint64_t offset = 0);

}  // namespace hubgate::scan
