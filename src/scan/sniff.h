// Format detection from content (scanning.md §4.1): the scanner never routes by file name; the
// name is only a hint whose disagreement with the content is a finding (scanner.cc).
//
// Thread-safety: pure functions over a ByteSource; re-entrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "scan/source.h"

namespace hubgate::scan {

enum class Format {
  Unknown,      // nothing we recognise: ordinary text, JSON, unparsed binary formats
  Zip,          // PK\3\4 at offset 0, or a zip end record near the end of the file
  SevenZip,     // 7z\xBC\xAF\x27\x1C
  Npy,          // \x93NUMPY
  Gguf,         // GGUF
  Safetensors,  // u64 header length + '{' (looksLikeSafetensors)
  Pickle,       // PROTO 2..5 at offset 0, or a protocol 0/1 stream (looksLikePickle)
  Zlib,         // zlib header whose first bytes inflate (joblib "zlib")
  Gzip,         // 1f 8b 08
  Bzip2,        // BZh[1-9] + block or end-of-stream magic
  Xz,           // FD 37 7A 58 5A 00
  Lzma,         // .lzma ("alone") header 5D 00 whose first bytes decode (joblib "lzma")
  Lz4,          // lz4 frame 04 22 4D 18 (joblib "lz4": not supported)
  Tar,          // "ustar" at offset 257
  Hdf5,         // \x89HDF\r\n\x1a\n at offset 0, 512, 1024 or 2048
};

// "unknown", "zip", "7z", "npy", "gguf", "safetensors", "pickle", "zlib", "gzip", "bz2", "xz",
// "lzma", "lz4", "tar", "hdf5".
std::string_view formatName(Format format);

struct Sniffed {
  Format format = Format::Unknown;
  // A plausible zip end record (with a central directory behind it) in the last 64 KiB + 22
  // bytes, whatever the format at offset 0: with a pickle at offset 0 this is a polyglot.
  std::optional<std::uint64_t> zip_end;
};

// Reads the first 2 KiB, the last 64 KiB + 22 bytes, and for weak magics (zlib, lzma) decodes a
// few bytes to confirm them. Read errors make a format undetectable (Unknown), never throw.
Sniffed sniff(ByteSource& source);

}  // namespace hubgate::scan
