// GGUF validator (scanning.md §6): checks the header, metadata key/value pairs and tensor infos
// of a little-endian GGUF v2/v3 file the way ggml's loader (gguf.cpp) does, plus the layout
// rules a loader relies on (tensors inside the file, in order, only alignment padding between
// them), and looks for Jinja server-side template injection in `tokenizer.chat_template*`.
//
// Only the header, the metadata and the tensor infos are read, never the tensor data; reads are
// buffered (64 KiB), every count and length is checked against the bytes that remain before it
// is used, and nothing is allocated from a length field beyond what the file can hold.
//
// Thread-safety: pure functions over a ByteSource; re-entrant.
//
// Findings (rule ids; Invalid unless noted), offsets are file offsets:
//   gguf.too-small / gguf.magic      shorter than the 24-byte header / not "GGUF"
//   gguf.version                     not 2 or 3 (1 is obsolete; a byte-swapped version means a
//                                    big-endian file, unsupported)
//   gguf.count.too-large             tensor or KV count larger than the remaining bytes allow
//   gguf.truncated                   a structure runs past the end of the file
//   gguf.key.invalid                 empty, > 65 535 bytes, non-ASCII, control or space bytes
//   gguf.key.style                   ASCII key that is not dotted lower_snake ([a-z0-9_-]
//                                    segments): Suspicious
//   gguf.kv.duplicate                a key repeated
//   gguf.kv.type                     value or array element type outside 0..12
//   gguf.kv.bool                     a bool byte other than 0 or 1
//   gguf.kv.array-depth              arrays nested more than 2 deep
//   gguf.alignment                   general.alignment not a u32 power of two multiple of 8
//   gguf.tensor.name                 name of 64 bytes or more (ggml's GGML_MAX_NAME includes
//                                    the NUL), or repeated (gguf.tensor.duplicate-name)
//   gguf.tensor.dims                 more than 4 dimensions, or a dimension above INT64_MAX
//   gguf.tensor.overflow             element or byte count overflows
//   gguf.tensor.type                 ggml type unknown; gguf.tensor.type-removed: a type id
//                                    current ggml refuses (Q4_2, Q4_0_4_4, IQ4_NL_4_4, ...)
//   gguf.tensor.block                first dimension not a multiple of the type's block size
//   gguf.tensor.misaligned           offset not a multiple of the alignment
//   gguf.tensor.gap / .overlap       offset after / before where the previous tensor (padded)
//                                    ends: ggml requires exactly that offset
//   gguf.tensor.out-of-file          tensor data past the end of the file
//   gguf.trailing-bytes              bytes after the (padded) end of the data: Suspicious
//   gguf.chat-template.ssti          template injection indicators: Malicious
//   gguf.chat-template.suspicious    weaker indicators (the `attr` filter, "__x" string
//                                    literals): Suspicious
//   gguf.chat-template.too-large     a template above 16 MiB, not inspected: Error
// After 64 findings the rest are summarised by one "gguf.findings.truncated" finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scan/limits.h"
#include "scan/report.h"
#include "scan/source.h"

namespace hubgate::scan {

// Validates the file; findings go to `report` with an empty location. Does not set
// report.format (the caller does). I/O errors are an Error finding "gguf.io".
void validateGguf(ByteSource& source, const Limits& limits, Report& report);

// Magic "GGUF" at offset 0 (any version: validateGguf judges it).
bool looksLikeGguf(ByteSource& source);

// ggml tensor types, as in ggml.h (ggml_type) and ggml.c (type_traits).
struct GgmlType {
  std::uint32_t id;
  std::string_view name;
  std::uint32_t block_size;  // elements per block
  std::uint32_t type_size;   // bytes per block
};
enum class GgmlTypeStatus { Known, Removed, Unknown };
// Known: `out` is filled. Removed: a retired id (`out.name` names it). Unknown: out of range.
GgmlTypeStatus ggmlTypeInfo(std::uint32_t id, GgmlType& out);

// Jinja template-injection indicators in a chat template (also usable for the chat_template of
// tokenizer_config.json). `malicious` indicators: attribute walks to dunders (__class__,
// __globals__, __init__, __subclasses__, __builtins__, __import__, __mro__, ...), `os.`,
// `popen`, `subprocess`, `\x5f`-style escapes of '_', and the Jinja globals cycler / joiner /
// namespace / lipsum used as objects (followed by '.', '[' or '|') rather than called.
// Benign templates (loops, `namespace(...)`, `raise_exception`) produce nothing.
struct TemplateIndicator {
  bool malicious;
  std::string what;  // "__globals__", "os.", ...
  std::size_t pos;   // byte offset in the template
};
std::vector<TemplateIndicator> chatTemplateIndicators(std::string_view tmpl);

}  // namespace hubgate::scan
