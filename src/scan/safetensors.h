// safetensors validator (scanning.md §5): checks that a file is exactly what the format says,
// an 8-byte little-endian header length N, N bytes of JSON header, then a data buffer tiled
// exactly by the tensors the header describes. Anything else is Invalid (a polyglot, a
// truncated or padded file, a header a loader would read differently).
//
// Only the 8 + N header bytes are read, never the data buffer: the cost is O(N) whatever the
// file size (N <= 100 000 000). The header is parsed by a small dedicated JSON parser that
// detects duplicate keys (at every level, after unescaping) and bounds nesting by
// Limits::max_json_depth; nothing is built from it but one record per tensor.
//
// Thread-safety: pure functions over a ByteSource; re-entrant.
//
// Findings (rule ids; Invalid unless noted), offsets are file offsets:
//   safetensors.too-small            file shorter than the 8-byte length prefix
//   safetensors.header.too-large     N > 100 000 000
//   safetensors.header.truncated     8 + N > file size
//   safetensors.header.utf8          header bytes are not valid UTF-8
//   safetensors.header.json          JSON syntax error (incl. non-whitespace padding)
//   safetensors.header.depth         nesting deeper than Limits::max_json_depth
//   safetensors.header.not-object    the header is valid JSON but not an object
//   safetensors.duplicate-key        a key repeated in one object
//   safetensors.metadata.invalid     __metadata__ not an object of strings
//   safetensors.tensor.invalid       entry not an object, or dtype/shape/data_offsets missing
//   safetensors.tensor.unknown-field extra field in a tensor entry (Suspicious)
//   safetensors.tensor.name          tensor name with control characters (Suspicious)
//   safetensors.dtype.unknown        dtype not in the table below
//   safetensors.shape.invalid        shape not an array of non-negative integers
//   safetensors.shape.overflow       element count or bit count overflows 64 bits
//   safetensors.offsets.invalid      data_offsets not two non-negative integers, or begin > end
//   safetensors.size-mismatch        end - begin != element count x dtype bits / 8, or the
//                                    bit count is not a whole number of bytes
//   safetensors.offsets.gap          a tensor (or the first) begins after the previous end
//   safetensors.offsets.overlap      a tensor begins before the previous one ended
//   safetensors.truncated            the tensors extend past the end of the file
//   safetensors.trailing-bytes       bytes after the last tensor (polyglot)
// After 64 findings the rest are summarised by one "safetensors.findings.truncated" finding.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "scan/limits.h"
#include "scan/report.h"
#include "scan/source.h"

namespace hubgate::scan {

// The reference implementation's limit on N.
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;

// Cheap sniff: u64 LE length N, 8 + N <= size, N <= kSafetensorsMaxHeader, and the first
// non-whitespace header byte (within the first 64 KiB of the header) is '{'. Reads at most
// 8 + 64 KiB bytes. False on any read error.
bool looksLikeSafetensors(ByteSource& source);

// Validates the whole structure; findings go to `report` with an empty location. Does not set
// report.format (the caller does). I/O errors are an Error finding "safetensors.io".
void validateSafetensors(ByteSource& source, const Limits& limits, Report& report);

// Bit width of a safetensors dtype name ("F32" -> 32, "F4" -> 4), nullopt if unknown.
std::optional<unsigned> safetensorsDtypeBits(std::string_view dtype);

}  // namespace hubgate::scan
