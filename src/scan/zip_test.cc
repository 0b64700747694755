// Zip reader (readZip) and decoders: structure and anomalies of the samples made by
// tests/scan_samples/gen_containers.py, plus hand-made edge cases. Verdicts of whole scans are
// in scanner_test.cc; these tests need no pickle walker.
#include "scan/zip.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "scan/test_support.h"

namespace hubgate::scan {
namespace {

using namespace test_support;

struct Read {
  ZipArchive ar;
  Report report;
};

Read read(const std::string& bytes, const Limits& limits = {}) {
  Read r;
  MemorySource src(bytes);
  r.ar = readZip(src, limits, "", r.report);
  return r;
}

std::vector<std::string> names(const std::vector<ZipEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}

TEST(ZipReader, TorchCheckpointHasNoAnomalies) {
  for (const char* name : {"torch_benign.pt", "torch_benign_zip64.pt"}) {
    Read r = read(sample(name));
    EXPECT_TRUE(r.report.findings.empty()) << name << "\n" << dump(r.report);
    EXPECT_TRUE(r.ar.has_directory);
    EXPECT_TRUE(r.ar.local_only.empty());
    ASSERT_GE(r.ar.entries.size(), 6u);
    EXPECT_EQ(r.ar.entries[0].name, "archive/data.pkl");
    for (const auto& e : r.ar.entries) {
      EXPECT_TRUE(e.readable) << e.name;
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;  // torch's "FB" padding
      EXPECT_EQ(e.local_flags & kZipFlagDescriptor, kZipFlagDescriptor);
      EXPECT_FALSE(e.local_view_differs);
    }
  }
  EXPECT_TRUE(read(sample("torch_benign_zip64.pt")).ar.zip64);
}

TEST(ZipReader, PythonZipfileArchivesHaveNoAnomalies) {
  for (const char* name : {"npz_float.npz", "zip_nested.zip", "zip_bzip2.zip", "zip_lzma.zip",
                           "zip_nonstandard_name.zip"}) {
    Read r = read(sample(name));
    EXPECT_TRUE(r.report.findings.empty()) << name << "\n" << dump(r.report);
    EXPECT_FALSE(r.ar.entries.empty()) << name;
  }
}

TEST(ZipReader, LocalNameDiffersFromCentralName) {  // CVE-2025-1944
  Read r = read(sample("zip_local_name_mismatch.pt"));
  EXPECT_TRUE(has(r.report, "zip.local-mismatch.name", "archive/data.pkl")) << dump(r.report);
  EXPECT_EQ(r.ar.entries[0].local_name, "archive/data.bin");
  EXPECT_TRUE(r.ar.entries[0].readable);
  EXPECT_EQ(r.report.verdict, Verdict::Invalid);
}

TEST(ZipReader, FlagBitsAreAnomaliesButDataStaysReadable) {  // CVE-2025-1945
  struct Case {
    const char* sample;
    const char* rule;
    bool local_only;
  };
  for (Case c : {Case{"zip_flag_01.pt", "zip.flags.encrypted", true},
                 Case{"zip_flag_20.pt", "zip.flags.patched", false},
                 Case{"zip_flag_40.pt", "zip.flags.encrypted", true}}) {
    Read r = read(sample(c.sample));
    EXPECT_TRUE(has(r.report, c.rule, "archive/data.pkl")) << c.sample << "\n" << dump(r.report);
    EXPECT_EQ(has(r.report, "zip.local-mismatch.flags"), c.local_only) << c.sample;
    EXPECT_TRUE(r.ar.entries[0].readable);
  }
}

TEST(ZipReader, DuplicateNamesAreAllListed) {
  Read r = read(sample("zip_duplicate_name.pt"));
  EXPECT_TRUE(has(r.report, "zip.duplicate-name", "archive/data.pkl")) << dump(r.report);
  auto n = names(r.ar.entries);
  EXPECT_EQ(std::count(n.begin(), n.end(), "archive/data.pkl"), 2);
}

TEST(ZipReader, DecoyLocalRecordIsFoundByTheLocalWalk) {
  Read r = read(sample("zip_decoy_local.pt"));
  ASSERT_EQ(r.ar.local_only.size(), 1u) << dump(r.report);
  const ZipEntry& d = r.ar.local_only[0];
  EXPECT_EQ(d.name, "archive/data.pkl");
  EXPECT_EQ(d.header_offset, 0u);
  EXPECT_EQ(d.index, kZipNoIndex);
  EXPECT_TRUE(d.readable);
  EXPECT_TRUE(has(r.report, "zip.local-only", "archive/data.pkl"));
}

TEST(ZipReader, RecordHiddenInAGapIsFound) {
  Read r = read(sample("zip_gap_hides_record.zip"));
  EXPECT_TRUE(has(r.report, "zip.gap")) << dump(r.report);
  ASSERT_EQ(r.ar.local_only.size(), 1u) << dump(r.report);
  EXPECT_EQ(r.ar.local_only[0].name, "hidden.pkl");
}

TEST(ZipReader, LocalSizesOfZero) {
  Read r = read(sample("zip_local_sizes_zero.pt"));
  EXPECT_TRUE(has(r.report, "zip.local-mismatch.size", "archive/data.pkl")) << dump(r.report);
  EXPECT_TRUE(r.ar.entries[0].readable);  // central sizes are used
  EXPECT_FALSE(r.ar.entries[0].local_view_differs);
}

TEST(ZipReader, MethodMismatchGivesASecondReading) {
  Read r = read(sample("zip_method_mismatch.pt"));
  EXPECT_TRUE(has(r.report, "zip.local-mismatch.method", "archive/data.pkl")) << dump(r.report);
  EXPECT_EQ(r.ar.entries[0].method, kZipDeflate);
  EXPECT_EQ(r.ar.entries[0].local_method, kZipStored);
  EXPECT_TRUE(r.ar.entries[0].local_view_differs);
}

TEST(ZipReader, BadCrcIsNotAStructuralAnomaly) {
  // Both headers carry the same wrong CRC: only reading the data shows it (containers_test).
  Read r = read(sample("zip_bad_crc.pt"));
  EXPECT_FALSE(has(r.report, "zip.local-mismatch.crc")) << dump(r.report);
  EXPECT_TRUE(r.ar.entries[0].readable);
}

TEST(ZipReader, SharedHeaderOverlapGapTraversal) {
  EXPECT_TRUE(
      has(read(sample("zip_shared_header.zip")).report, "zip.shared-local-header", "b.txt"));
  Read overlap = read(sample("zip_overlap.zip"));
  EXPECT_TRUE(has(overlap.report, "zip.overlap", "inner.pkl")) << dump(overlap.report);
  Read gap = read(sample("zip_gap.zip"));
  EXPECT_TRUE(has(gap.report, "zip.gap")) << dump(gap.report);
  Read trav = read(sample("zip_traversal.zip"));
  EXPECT_TRUE(has(trav.report, "zip.unsafe-name", "../evil.txt")) << dump(trav.report);
}

TEST(ZipReader, EntriesBeyondTheDeclaredCountAreRead) {
  Read r = read(sample("zip_cd_count_hides_entry.zip"));
  EXPECT_TRUE(has(r.report, "zip.cd.count-mismatch")) << dump(r.report);
  EXPECT_EQ(names(r.ar.entries), (std::vector<std::string>{"ok.txt", "evil.pkl"}));
}

TEST(ZipReader, PrependedArchiveWithRelativeOffsets) {
  Read r = read(sample("zip_prefix_shift.zip"));
  EXPECT_TRUE(has(r.report, "zip.offset-shift")) << dump(r.report);
  ASSERT_EQ(r.ar.entries.size(), 1u);
  EXPECT_TRUE(r.ar.entries[0].readable);
  EXPECT_EQ(r.ar.entries[0].header_offset, 64u);
}

TEST(ZipReader, HugeSizeFieldsAreBoundedNotTrusted) {
  Read r = read(sample("zip64_huge_sizes.zip"));
  ASSERT_EQ(r.ar.entries.size(), 2u) << dump(r.report);
  EXPECT_EQ(r.ar.entries[0].compressed_size, 1ull << 62);
  EXPECT_FALSE(r.ar.entries[0].readable);
  EXPECT_TRUE(has(r.report, "zip.entry-out-of-range", "a.bin")) << dump(r.report);
  EXPECT_TRUE(has(r.report, "zip.size-implausible", "b.pkl")) << dump(r.report);
  EXPECT_TRUE(r.ar.entries[1].readable);
}

TEST(ZipReader, MissingEndRecordFallsBackToTheLocalWalk) {
  std::string bytes = sample("torch_benign.pt");
  bytes.resize(bytes.find("PK\x01\x02"));
  Read r = read(bytes);
  EXPECT_TRUE(has(r.report, "zip.eocd.missing")) << dump(r.report);
  EXPECT_FALSE(r.ar.has_directory);
  EXPECT_GE(r.ar.local_only.size(), 6u);
  EXPECT_EQ(r.ar.local_only[0].name, "archive/data.pkl");
  EXPECT_TRUE(r.ar.local_only[0].readable);  // sized by its data descriptor
}

TEST(ZipReader, EmptyArchive) {
  std::string eocd("PK\x05\x06", 4);
  eocd.append(18, '\0');
  Read r = read(eocd);
  EXPECT_TRUE(r.report.findings.empty()) << dump(r.report);
  EXPECT_TRUE(r.ar.has_directory);
  EXPECT_TRUE(r.ar.entries.empty());
}

TEST(ZipReader, TrailingBytesAndMultipleEndRecords) {
  Read r = read(sample("zip_traversal.zip") + "tail");
  EXPECT_TRUE(has(r.report, "zip.trailing-data")) << dump(r.report);
}

TEST(ZipReader, MemberLimit) {
  Limits limits;
  limits.max_members = 3;
  Read r = read(sample("torch_benign.pt"), limits);
  EXPECT_TRUE(has(r.report, "limit.members")) << dump(r.report);
  EXPECT_EQ(r.ar.entries.size(), 3u);
}

TEST(ZipReader, TruncatedAndCorruptedInputsNeverBreakTheReader) {
  for (const char* name :
       {"torch_benign.pt", "torch_benign_zip64.pt", "zip_decoy_local.pt", "npz_float.npz"}) {
    const std::string bytes = sample(name);
    for (std::size_t n = 0; n < bytes.size(); n += 3) {
      Read r = read(bytes.substr(0, n));
      for (const auto& e : r.ar.entries) {
        if (e.readable) {
          EXPECT_LE(e.data_offset + e.compressed_size, n);
        }
      }
    }
    for (std::size_t i = 0; i < bytes.size(); i += 2) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(copy[i] ^ 0xA5);
      Read r = read(copy);
      for (const auto& e : r.ar.entries) {
        if (e.readable) {
          EXPECT_LE(e.data_offset + e.compressed_size, copy.size());
        }
      }
    }
  }
}

TEST(ZipNames, UnsafeNames) {
  for (const char* bad :
       {"", "/etc/passwd", "\\x", "C:/x", "c:x", "a/../b", "..", "../a", "a/..", "a\\b", "a\x01"}) {
    EXPECT_TRUE(zipNameIsUnsafe(bad)) << bad;
  }
  for (const char* ok : {"archive/data.pkl", "a..b", "a/.hidden", "..a/b", "arr_0.npy"}) {
    EXPECT_FALSE(zipNameIsUnsafe(ok)) << ok;
  }
  EXPECT_EQ(printableName(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printableName("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(printableName("bad\xff"), "bad\\xff");
  EXPECT_EQ(printableName(std::string(300, 'x')).size(), 203u);
  EXPECT_EQ(joinLocation("", "a"), "a");
  EXPECT_EQ(joinLocation("a.zip", "b"), "a.zip/b");
}

// ---------------------------------------------------------------------------------------------
// Decoders

std::string deflateRaw(const std::string& in, int bits = -15) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

DecodeResult decodeAll(const std::string& bytes, Codec codec, DecodeLimits limits = {}) {
  MemorySource src(bytes);
  return decode(src, 0, bytes.size(), codec, limits);
}

TEST(ZipDecode, RawDeflateRoundTripAndLimits) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "line " + std::to_string(i) + "\n";
  DecodeResult ok = decodeAll(deflateRaw(text), Codec::RawDeflate);
  EXPECT_EQ(ok.status, DecodeStatus::Ok) << ok.detail;
  EXPECT_EQ(ok.bytes, text);

  DecodeLimits small;
  small.max_out = 100;
  DecodeResult capped = decodeAll(deflateRaw(text), Codec::RawDeflate, small);
  EXPECT_EQ(capped.status, DecodeStatus::OutputLimit);
  EXPECT_EQ(capped.bytes, text.substr(0, 100));

  DecodeLimits count;
  count.keep_output = false;
  DecodeResult counted = decodeAll(deflateRaw(text) + "after", Codec::RawDeflate, count);
  EXPECT_EQ(counted.status, DecodeStatus::Ok);
  EXPECT_TRUE(counted.bytes.empty());
  EXPECT_EQ(counted.produced, text.size());
  EXPECT_EQ(counted.consumed, deflateRaw(text).size());

  std::string cut = deflateRaw(text);
  DecodeResult truncated = decodeAll(cut.substr(0, cut.size() / 2), Codec::RawDeflate);
  EXPECT_EQ(truncated.status, DecodeStatus::Truncated);
  EXPECT_GT(truncated.produced, 0u);

  DecodeResult corrupt = decodeAll(std::string("\xff\xff\xff\xff", 4), Codec::RawDeflate);
  EXPECT_EQ(corrupt.status, DecodeStatus::Corrupt);
}

TEST(ZipDecode, RatioLimitStopsABomb) {
  const std::string zeros(8 << 20, '\0');
  DecodeLimits limits;
  limits.max_ratio = 100;
  DecodeResult r = decodeAll(deflateRaw(zeros), Codec::RawDeflate, limits);
  EXPECT_EQ(r.status, DecodeStatus::RatioLimit);
  EXPECT_LT(r.produced, 2u << 20);
}

TEST(ZipDecode, JoblibCompressorsDecodeToThePickle) {
  const std::string expected_start("\x80\x04", 2);
  for (auto [name, codec] :
       {std::pair{"joblib_zlib.joblib", Codec::Zlib}, std::pair{"joblib_gzip.joblib", Codec::Gzip},
        std::pair{"joblib_bz2.joblib", Codec::Bzip2}, std::pair{"joblib_xz.joblib", Codec::Xz},
        std::pair{"joblib_lzma.joblib", Codec::LzmaAlone}}) {
    DecodeResult r = decodeAll(sample(name), codec);
    EXPECT_EQ(r.status, DecodeStatus::Ok) << name << " " << r.detail;
    EXPECT_EQ(r.bytes.substr(0, 2), expected_start) << name;
    EXPECT_NE(r.bytes.find("posix"), std::string::npos) << name;
  }
}

TEST(ZipDecode, ConcatenatedStreamsAndTrailingBytes) {
  const std::string gz = sample("joblib_gzip.joblib");
  const std::string one = decodeAll(gz, Codec::Gzip).bytes;
  DecodeResult two = decodeAll(gz + gz, Codec::Gzip);
  EXPECT_EQ(two.status, DecodeStatus::Ok);
  EXPECT_EQ(two.bytes, one + one);
  DecodeResult padded = decodeAll(gz + std::string(16, '\0'), Codec::Gzip);
  EXPECT_EQ(padded.status, DecodeStatus::Ok);
  DecodeResult garbage = decodeAll(gz + "garbage", Codec::Gzip);
  EXPECT_EQ(garbage.status, DecodeStatus::Corrupt);
  EXPECT_EQ(garbage.bytes, one);  // what was decoded before the garbage is kept
  const std::string bz = sample("joblib_bz2.joblib");
  EXPECT_EQ(decodeAll(bz + bz, Codec::Bzip2).bytes, one + one);
  const std::string zl = sample("joblib_zlib.joblib");
  EXPECT_EQ(decodeAll(zl + zl, Codec::Zlib).status, DecodeStatus::Ok);
  const std::string xz = sample("joblib_xz.joblib");
  EXPECT_EQ(decodeAll(xz + xz, Codec::Xz).status, DecodeStatus::Ok);
}

TEST(ZipDecode, ZipMethodsOfPythonsZipfile) {
  for (auto [name, method] :
       {std::pair{"zip_bzip2.zip", kZipBzip2}, std::pair{"zip_lzma.zip", kZipLzma}}) {
    const std::string bytes = sample(name);
    Read r = read(bytes);
    ASSERT_EQ(r.ar.entries.size(), 1u);
    const ZipEntry& e = r.ar.entries[0];
    EXPECT_EQ(e.method, method);
    MemorySource src(bytes);
    DecodeResult d =
        decode(src, e.data_offset, e.compressed_size, *codecForZipMethod(e.method), {});
    EXPECT_EQ(d.status, DecodeStatus::Ok) << name << " " << d.detail;
    EXPECT_EQ(d.bytes.size(), e.uncompressed_size);
    EXPECT_EQ(crc32Of(d.bytes), e.crc32);
  }
}

TEST(ZipDecode, UnsupportedCodecs) {
  for (Codec c : {Codec::Lz4, Codec::Zstd, Codec::Deflate64}) {
    EXPECT_EQ(decodeAll("abcd", c).status, DecodeStatus::Unsupported);
  }
  EXPECT_FALSE(codecForZipMethod(99).has_value());
  EXPECT_EQ(codecForZipMethod(93), Codec::Zstd);
}

TEST(ZipDecode, HostileLzmaHeadersStayBounded) {
  // .lzma header asking for a 4 GiB dictionary: refused by the memory limit, not allocated.
  std::string alone("\x5d\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 13);
  alone += std::string(64, '\0');
  DecodeResult r = decodeAll(alone, Codec::LzmaAlone);
  EXPECT_NE(r.status, DecodeStatus::Ok);
  // Zip LZMA properties with a 4 GiB dictionary: clamped to the output limit.
  std::string zl("\x09\x14\x05\x00\x5d\xff\xff\xff\xff", 9);
  zl += std::string(32, '\0');
  DecodeLimits limits;
  limits.max_out = 1 << 20;
  DecodeResult z = decodeAll(zl, Codec::ZipLzma, limits);
  EXPECT_LE(z.produced, limits.max_out);
}

}  // namespace
}  // namespace hubgate::scan
