#include "scan/sniff.h"

#include <algorithm>
#include <string>

#include "scan/pickle.h"
#include "scan/safetensors.h"
#include "scan/zip.h"

namespace hubgate::scan {
namespace {

constexpr std::uint64_t kHead = 2048 + 8;

bool startsWith(std::string_view s, std::string_view prefix, std::size_t at = 0) {
  return s.size() >= at + prefix.size() && s.substr(at, prefix.size()) == prefix;
}

// Weak magics are confirmed by decoding the first bytes.
bool decodesAsStart(ByteSource& source, Codec codec) {
  DecodeLimits dl;
  dl.max_out = 64;
  DecodeResult r = decode(source, 0, std::min<std::uint64_t>(source.size(), 4096), codec, dl);
  if (r.status == DecodeStatus::OutputLimit || r.status == DecodeStatus::Ok) return r.produced > 0;
  // A short input that ends mid-stream is still that format when something came out.
  return r.status == DecodeStatus::Truncated && r.produced > 0;
}

bool looksLikeZlib(std::string_view head) {
  if (head.size() < 2) return false;
  auto b0 = static_cast<unsigned char>(head[0]);
  auto b1 = static_cast<unsigned char>(head[1]);
  return (b0 & 0x0F) == 8 && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0 && !(b1 & 0x20);
}

}  // namespace

std::string_view formatName(Format format) {
  switch (format) {
    case Format::Unknown:
      return "unknown";
    case Format::Zip:
      return "zip";
    case Format::SevenZip:
      return "7z";
    case Format::Npy:
      return "npy";
    case Format::Gguf:
      return "gguf";
    case Format::Safetensors:
      return "safetensors";
    case Format::Pickle:
      return "pickle";
    case Format::Zlib:
      return "zlib";
    case Format::Gzip:
      return "gzip";
    case Format::Bzip2:
      return "bz2";
    case Format::Xz:
      return "xz";
    case Format::Lzma:
      return "lzma";
    case Format::Lz4:
      return "lz4";
    case Format::Tar:
      return "tar";
    case Format::Hdf5:
      return "hdf5";
  }
  return "unknown";
}

Sniffed sniff(ByteSource& source) {
  Sniffed out;
  const std::uint64_t size = source.size();
  auto head_or = source.readString(0, static_cast<std::size_t>(std::min(size, kHead)));
  if (!head_or) return out;
  const std::string& head = *head_or;
  out.zip_end = findZipEnd(source);

  auto is = [&](Format f) {
    out.format = f;
    return out;
  };
  if (startsWith(head, "PK\x03\x04") || (startsWith(head, "PK\x05\x06") && out.zip_end)) {
    return is(Format::Zip);
  }
  if (startsWith(head, "7z\xBC\xAF\x27\x1C")) return is(Format::SevenZip);
  if (startsWith(head, "\x93NUMPY")) return is(Format::Npy);
  if (startsWith(head, "GGUF")) return is(Format::Gguf);
  for (std::size_t at : {0u, 512u, 1024u, 2048u}) {
    if (startsWith(head, "\x89HDF\r\n\x1a\n", at)) return is(Format::Hdf5);
  }
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 &&
      static_cast<unsigned char>(head[1]) >= 2 && static_cast<unsigned char>(head[1]) <= 5) {
    return is(Format::Pickle);
  }
  if (startsWith(head, "\x1f\x8b\x08")) return is(Format::Gzip);
  if (head.size() >= 10 && startsWith(head, "BZh") && head[3] >= '1' && head[3] <= '9' &&
      (startsWith(head, "\x31\x41\x59\x26\x53\x59", 4) ||
       startsWith(head, "\x17\x72\x45\x38\x50\x90", 4))) {
    return is(Format::Bzip2);
  }
  if (startsWith(head, std::string_view("\xFD"
                                        "7zXZ\x00",
                                        6)))
    return is(Format::Xz);
  if (startsWith(head, "\x04\x22\x4D\x18")) return is(Format::Lz4);
  if (looksLikeZlib(head) && decodesAsStart(source, Codec::Zlib)) return is(Format::Zlib);
  if (startsWith(head, std::string_view("\x5D\x00", 2)) &&
      decodesAsStart(source, Codec::LzmaAlone)) {
    return is(Format::Lzma);
  }
  if (looksLikeSafetensors(source)) return is(Format::Safetensors);
  if (head.size() >= 262 && startsWith(head, "ustar", 257)) return is(Format::Tar);
  if (looksLikePickle(source, 0)) return is(Format::Pickle);
  if (out.zip_end) return is(Format::Zip);
  return out;
}

}  // namespace hubgate::scan
