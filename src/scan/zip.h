// Our own zip reader (scanning.md §4.2) and the stream decoders the containers share (raw
// deflate, zlib, gzip, bzip2, xz, lzma).
//
// readZip() reads an archive twice and compares the readings:
//   - the way PyTorch's miniz and Python's zipfile do: end-of-central-directory record (and the
//     ZIP64 locator/record), found by a bounded backward search; central directory entries by
//     index; the local header at each entry's offset, whose name/extra lengths locate the data,
//     while sizes and method come from the CENTRAL entry;
//   - the way a streaming reader does: local headers walked from offset 0, each record skipped
//     by its local sizes (or its data descriptor), plus a signature search in the bytes that no
//     structure accounts for (gaps).
// Every disagreement and every structure a careful writer never produces is an anomaly finding
// (rule "zip.*", Invalid): local vs central name, flags, method, CRC and sizes; duplicate names;
// two entries sharing a local header; overlapping records; gaps; records that only the local
// walk finds ("decoys", returned in ZipArchive::local_only so they are scanned too); unsafe
// names ("../", absolute, drive letters, backslashes, NUL); encryption/patch flags; sizes that
// cannot be true. readZip() reads headers only, never member data (except to find where a
// local-only record ends when only a data descriptor says so): which members are read, and
// how, is the caller's business (containers.h).
//
// Anomaly findings (all Invalid), at the archive's location unless a member is named:
//   zip.eocd.missing / .invalid / .multiple / .comment-length     end record problems
//   zip.zip64.invalid         ZIP64 locator/record unusable       zip.multi-disk
//   zip.cd.missing / .bad-signature / .truncated / .size-mismatch / .count-mismatch
//   zip.offset-shift          the directory is only found at its offset plus the bytes before
//                             the archive (Python's zipfile reads it, miniz does not)
//   zip.trailing-data         bytes after the end record's comment
//   zip.local-header.missing  no local header at an entry's offset (the entry cannot be read)
//   zip.local-mismatch.name / .flags / .method / .crc / .size   local header vs central entry
//   zip.descriptor.invalid    flag 0x08 without a data descriptor matching the central entry
//   zip.duplicate-name        zip.shared-local-header     zip.overlap     zip.gap
//   zip.local-only            a record the central directory does not list (decoy)
//   zip.unsafe-name           zip.flags.encrypted (0x01/0x40)     zip.flags.patched (0x20)
//   zip.entry-out-of-range    data past the end of the file
//   zip.size-mismatch         stored entry with compressed size != uncompressed size
//   zip.size-implausible      declared sizes no writer produces (above 2^50 bytes, or a
//                             deflate ratio above 1032:1)
//   limit.members             more entries than Limits::max_members (the rest are ignored)
// After 64 anomaly findings the rest are summarised by one "zip.findings.truncated" finding.
//
// Thread-safety: pure functions over a ByteSource; re-entrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scan/limits.h"
#include "scan/report.h"
#include "scan/source.h"

namespace hubgate::scan {

inline constexpr std::uint32_t kZipNoIndex = 0xFFFFFFFFu;

// General-purpose flag bits that matter to the scanner.
inline constexpr std::uint16_t kZipFlagEncrypted = 0x0001;
inline constexpr std::uint16_t kZipFlagDescriptor = 0x0008;
inline constexpr std::uint16_t kZipFlagPatched = 0x0020;
inline constexpr std::uint16_t kZipFlagStrongEncryption = 0x0040;

// Compression methods.
inline constexpr std::uint16_t kZipStored = 0;
inline constexpr std::uint16_t kZipDeflate = 8;
inline constexpr std::uint16_t kZipDeflate64 = 9;
inline constexpr std::uint16_t kZipBzip2 = 12;
inline constexpr std::uint16_t kZipLzma = 14;
inline constexpr std::uint16_t kZipZstd = 93;
inline constexpr std::uint16_t kZipXz = 95;

// One record. For central entries the main fields come from the central directory and the
// local_* fields from the local header at header_offset; for local-only records both are the
// local header's.
struct ZipEntry {
  std::uint32_t index = kZipNoIndex;  // central directory index; kZipNoIndex: local-only record
  std::string name;
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t crc32 = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t header_offset = 0;

  bool has_local = false;  // a local header was parsed at header_offset
  std::string local_name;
  std::uint16_t local_flags = 0;
  std::uint16_t local_method = 0;
  std::uint32_t local_crc32 = 0;
  std::uint64_t local_compressed_size = 0;
  std::uint64_t local_uncompressed_size = 0;

  std::uint64_t data_offset = 0;  // first data byte (local header + local name + local extra)
  std::uint64_t data_end = 0;     // end of the data and of its data descriptor, if any
  // has_local and [data_offset, data_offset + compressed_size) lies inside the file.
  bool readable = false;
  // The local header describes other data (another method, or a non-zero compressed size
  // that differs): a streaming reader sees something else, so that reading is scanned too.
  bool local_view_differs = false;
  bool local_view_readable = false;  // [data_offset, data_offset + local_compressed_size) fits

  bool isDirectory() const { return !name.empty() && name.back() == '/'; }
};

struct ZipArchive {
  bool has_directory = false;  // an end record and a central directory were found and parsed
  bool zip64 = false;
  std::uint64_t eocd_offset = 0;
  std::uint64_t cd_offset = 0;  // where the central directory actually is
  std::uint64_t cd_size = 0;
  std::vector<ZipEntry> entries;     // central directory, in index order
  std::vector<ZipEntry> local_only;  // local records not referenced by the central directory
};

// Reads and cross-checks the structure of the zip archive in `source`; anomaly findings go to
// `report` at `location` (member names are appended: "<location>/<name>"). Never fails: an
// unusable archive yields fewer (or no) entries and Invalid findings. I/O errors are an Error
// finding "zip.io".
ZipArchive readZip(ByteSource& source, const Limits& limits, const std::string& location,
                   Report& report);

// Cheap sniff: the offset of a plausible end-of-central-directory record in the last
// 64 KiB + 22 bytes whose central directory starts with a central header signature (at its
// offset, or at its offset shifted by the bytes before the archive), or a record of an empty
// archive. nullopt otherwise (also on read errors).
std::optional<std::uint64_t> findZipEnd(ByteSource& source);

// A name a careful writer never produces and an extractor may misuse: empty, absolute ("/x",
// "\\x", "C:"), a ".." component, a backslash, a NUL or another control byte.
bool zipNameIsUnsafe(std::string_view name);

// For locations and messages: control bytes and invalid UTF-8 escaped as \xNN, at most 200
// bytes.
std::string printableName(std::string_view name);

// "<parent>/<child>", or child when parent is empty.
std::string joinLocation(const std::string& parent, std::string_view child);

std::uint32_t crc32Of(std::string_view bytes);

// ---------------------------------------------------------------------------------------------
// Stream decoders.

enum class Codec {
  Stored,      // copy
  RawDeflate,  // zip method 8
  Zlib,        // zlib container (joblib "zlib")
  Gzip,        // gzip members (concatenated members are one stream, as Python reads them)
  Bzip2,       // bz2 streams (concatenated streams too)
  Xz,          // xz streams
  LzmaAlone,   // .lzma ("alone") streams, joblib "lzma"
  ZipLzma,     // zip method 14: 2-byte version, 2-byte properties size, properties, raw LZMA1
  Deflate64,   // zip method 9: unsupported
  Zstd,        // zip method 93: unsupported
  Lz4,         // lz4 frames (joblib "lz4"): unsupported
};
std::string_view codecName(Codec codec);  // "stored", "deflate", "zlib", "gzip", ...
// The codec of a zip method; nullopt for methods we do not know at all.
std::optional<Codec> codecForZipMethod(std::uint16_t method);

enum class DecodeStatus {
  Ok,           // the input ended cleanly (every stream complete)
  OutputLimit,  // stopped after max_out bytes of output; more would follow
  RatioLimit,   // output exceeded max_ratio x input size (output above ratio_min_output)
  Corrupt,      // the data is not valid for the codec (bytes decoded before the error are kept)
  Truncated,    // the input ended inside a stream (bytes decoded so far are kept)
  Unsupported,  // the codec is not available
  Io,           // the source could not be read
};
std::string_view decodeStatusName(DecodeStatus status);

struct DecodeLimits {
  std::uint64_t max_out = 64ull << 20;
  std::uint32_t max_ratio = 0;  // 0: no ratio check
  std::uint64_t ratio_min_output = 1ull << 20;
  bool keep_output = true;  // false: count the output only (to find where a stream ends)
};

struct DecodeResult {
  std::string bytes;  // empty when !keep_output
  std::uint64_t produced = 0;
  std::uint64_t consumed = 0;  // input bytes consumed by complete streams (and the last one)
  DecodeStatus status = DecodeStatus::Ok;
  std::string detail;  // for Corrupt/Unsupported/Io
};

// Decodes source[offset, offset + size) with `codec`. Never reads outside that range and never
// allocates more than limits.max_out (+ one 64 KiB chunk) whatever the headers declare.
DecodeResult decode(ByteSource& source, std::uint64_t offset, std::uint64_t size, Codec codec,
                    const DecodeLimits& limits);

}  // namespace hubgate::scan
