// Containers around pickles and arrays (scanning.md §4.2-4.3): zip archives and their PyTorch,
// TorchScript and NumPy (.npz) layouts, legacy PyTorch files (a pickle stream, or a tar),
// joblib's whole-file compression, tar archives and NumPy .npy files.
//
// Each scan* function checks the container's structure, walks the pickles a loader would
// unpickle (scan/pickle.h) with the context the loader gives them, and hands every other member
// back to ContainerContext::scanContent(), which sniffs it and routes it (scanner.cc), so nested
// archives and mislabelled members are scanned by content. Raw tensor bytes (`data/<key>`
// records of a PyTorch zip, legacy storage areas, .npy bodies of plain dtypes) are never read.
//
// Findings (Invalid unless noted; zip structure: see zip.h; pickles: see pickle.h):
//   zip.member.encrypted      encrypted data that cannot be read (fails closed)
//   zip.member.unsupported    a compression method we cannot decode (zstd, deflate64, ...)
//   zip.member.corrupt        the data does not decode (what decoded before the error is scanned)
//   zip.crc-mismatch          the CRC-32 of the data differs (scanned anyway)
//   zip.member.size-mismatch  decoded size differs from the central directory's
//   zip.directory-with-data   a directory entry with data (scanned anyway)
//   zip.io                    a member cannot be read (Error)
//   limit.inflate-total / limit.inflate-ratio / limit.members: what was decoded before the
//                             limit is scanned; limit.time: Error, the rest is not scanned
//   torch.data-pkl.duplicate  several <prefix>/data.pkl records (every one is walked)
//   torch.storage.missing     data.pkl names a storage key without a <prefix>/data/<key> record
//   torch.storage.unreferenced  a <prefix>/data/<key> record data.pkl never names: Suspicious
//   torch.metadata.not-text   version/byteorder/.format_version/serialization_id not short
//                             text: Suspicious (then scanned by content)
//   torchscript.code          constants.pkl + code/: a TorchScript archive carries code: Suspicious
//   torch.legacy.structure    a legacy stream or tar member not as torch writes it
//   tar.checksum / tar.truncated / tar.duplicate-name / tar.unsafe-name / tar.io (Error)
//   tar.special-member        links and devices: Suspicious
//   npy.header.invalid / npy.truncated / npy.trailing-bytes / npy.io (Error)
//   compressed.corrupt / compressed.trailing-data / compressed.io (Error)
//   container.unsupported     lz4/zstd-compressed files (Error: not scanned)
//
// Thread-safety: a ContainerContext belongs to one scan() call; the functions are re-entrant.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "scan/limits.h"
#include "scan/pickle.h"
#include "scan/report.h"
#include "scan/source.h"
#include "scan/zip.h"

namespace hubgate::scan {

// State shared by every container level of one scan, and the hook back into the router.
class ContainerContext {
 public:
  // `file_size`: size of the outermost file (the inflation budget is max(4 x that, the limit)).
  ContainerContext(const Limits& limits, std::vector<std::string> extra_profiles,
                   std::uint64_t file_size);
  virtual ~ContainerContext() = default;
  ContainerContext(const ContainerContext&) = delete;
  ContainerContext& operator=(const ContainerContext&) = delete;

  // Scans `content` (a member, a decompressed stream) by its content; `depth` is the number of
  // archives and compression layers around it. Returns the detected format name.
  // REQUIRES: `content` outlives the call.
  virtual std::string scanContent(ByteSource& content, const std::string& location, int depth,
                                  Report& report) = 0;
  // Receives decoded bytes (decompressed members and streams, pickles, .npy headers, small
  // members) for the hash denylist and the signature engines. Default: nothing.
  virtual void inspectDecoded(std::string_view bytes, const std::string& location, Report& report);
  // Whether inspectDecoded() wants bytes at all (so callers can avoid reading them).
  virtual bool wantsDecodedBytes() const { return false; }

  const Limits& limits() const { return limits_; }
  // The walker's context for a pickle at `location`, `depth` archive levels down. Bytes an
  // allowlisted helper loads as a whole checkpoint (torch.storage._load_from_bytes) come back
  // to scanContent() one level deeper.
  PickleContext pickleContext(const std::string& location, bool torch_container,
                              bool trailing_data_ok = false, int depth = 0);

  // Inflation budget: what may still be produced by decoders in this scan.
  std::uint64_t inflateRemaining() const { return inflate_remaining_; }
  void chargeInflate(std::uint64_t n) { inflate_remaining_ -= std::min(n, inflate_remaining_); }
  // Counts one member; false (and, the first time, a limit.members finding) past the limit.
  bool admitMember(const std::string& location, Report& report);
  // True (and, the first time, an Error finding limit.time) once the time budget is spent.
  bool outOfTime(const std::string& location, Report& report);

 private:
  const Limits& limits_;
  std::vector<std::string> extra_profiles_;
  std::uint64_t inflate_remaining_;
  std::uint64_t members_ = 0;
  bool members_reported_ = false;
  bool time_reported_ = false;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

// Zip archives: "zip", "pytorch-zip", "torchscript-zip" or "npz". Every central entry, every
// local-only record and every differing local reading is scanned.
std::string scanZipContainer(ByteSource& source, const std::string& location, int depth,
                             ContainerContext& ctx, Report& report);

// Legacy PyTorch (torch.save before 1.6, or _use_new_zipfile_serialization=False): the first
// pickle is exactly the magic number 0x1950a86a20f9469cfc6c (compared as an integer, never
// evaluated).
bool hasLegacyTorchMagic(ByteSource& source);
// The five pickles (magic, protocol 1001, sys_info, object in torch context, storage keys) are
// walked; the raw storage bytes after them are not read. Returns "legacy-torch".
std::string scanLegacyTorch(ByteSource& source, const std::string& location, int depth,
                            ContainerContext& ctx, Report& report);

// Tar archives: "tar", or "legacy-torch-tar" (members sys_info, pickle, storages, tensors,
// parsed as torch reads them). Other regular members are scanned by content.
std::string scanTar(ByteSource& source, const std::string& location, int depth,
                    ContainerContext& ctx, Report& report);

// A whole-file compressed stream (joblib compress=..., or any .gz/.bz2/.xz/.lzma): decoded
// with the limits, then scanned by content. "joblib" when the content is a pickle, else
// "<codec>" or "<codec>+<inner format>". Lz4 is reported as not scanned (Error).
std::string scanCompressed(ByteSource& source, Codec codec, const std::string& location, int depth,
                           ContainerContext& ctx, Report& report);

// .npy header (format versions 1.0, 2.0 and 3.0).
struct NpyHeader {
  int major = 0, minor = 0;
  std::string descr;        // the dtype string, or the text of a structured descr list
  bool structured = false;  // descr was a list of fields
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
  bool object = false;                    // 'O' anywhere in the dtype: the body is a pickle
  std::optional<std::uint64_t> itemsize;  // bytes per element when computable
  std::uint64_t header_offset = 0;        // first byte of the header dict text
  std::uint64_t data_offset = 0;          // first byte of the body
};
// Parses the header with a small Python-literal parser (no eval). Errors: Corruption (with what
// is wrong), Unavailable (I/O).
Result<NpyHeader> parseNpyHeader(ByteSource& source);
// Object dtype: the body is walked as a pickle; otherwise its size is checked. Returns "npy".
std::string scanNpy(ByteSource& source, const std::string& location, int depth,
                    ContainerContext& ctx, Report& report);

// Pickle framing without emulation: the offset just after the STOP of the pickle that starts at
// `begin`, following CPython's opcode argument rules. nullopt when an opcode is invalid or the
// data ends first. Used to split multi-pickle containers exactly where a loader would.
std::optional<std::uint64_t> skipPickle(ByteSource& source, std::uint64_t begin);

}  // namespace hubgate::scan
