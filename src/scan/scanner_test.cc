// scan(): format sniffing, routing, every zip trick of scanning.md §2 end to end, polyglots,
// name-hint mismatches, the hash denylist and signature engines on decoded members, and that a
// large raw tensor record is never read. Samples come from tests/scan_samples/gen_containers.py.
// Malicious verdicts on payload samples depend on the pickle walker (scan/pickle.cc) flagging
// posix.system; container assertions (formats, anomaly rules, locations) do not.
#include "scan/test_support.h"
#include "scan/scanner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "base/hash.h"
#include "scan/signatures.h"
#include "scan/sniff.h"
#include "scan/zip.h"

namespace hubgate::scan {
namespace {

using namespace test_support;

Report scanBytes(std::string bytes, std::string_view name = "file", const ScanOptions& options = {},
                 std::string_view sha = {}) {
  MemorySource src(std::move(bytes));
  return scan(src, name, options, sha);
}

Report scanSample(const std::string& name, std::string_view hint = {}) {
  return scanBytes(sample(name), hint.empty() ? std::string_view(name) : hint);
}

// ---------------------------------------------------------------------------------------------
// Sniffing

TEST(Sniff, FormatsFromContent) {
  const std::map<std::string, Format> expected = {
      {"torch_benign.pt", Format::Zip},
      {"npz_float.npz", Format::Zip},
      {"npy_float.npy", Format::Npy},
      {"plain_pickle.pt", Format::Pickle},
      {"legacy_torch_benign.pt", Format::Pickle},
      {"polyglot_pickle_zip.pt", Format::Pickle},
      {"joblib_zlib.joblib", Format::Zlib},
      {"joblib_gzip.joblib", Format::Gzip},
      {"joblib_bz2.joblib", Format::Bzip2},
      {"joblib_xz.joblib", Format::Xz},
      {"joblib_lzma.joblib", Format::Lzma},
      {"joblib_lz4.joblib", Format::Lz4},
      {"legacy_torch_tar_benign.tar", Format::Tar},
      {"sevenz.7z", Format::SevenZip},
      {"readme.md", Format::Unknown},
      {"config.json", Format::Unknown},
      {"notes.txt", Format::Unknown},
      {"zip_prefix_shift.zip", Format::Zip},
  };
  for (const auto& [name, format] : expected) {
    MemorySource src(sample(name));
    EXPECT_EQ(formatName(sniff(src).format), formatName(format)) << name;
  }
  auto weights = [](const std::string& n) {
    std::ifstream in(std::string(HUBGATE_SOURCE_DIR) + "/tests/scan_samples/weights/" + n,
                     std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  MemorySource st(weights("clean_minimal.safetensors"));
  EXPECT_EQ(sniff(st).format, Format::Safetensors);
  MemorySource gg(weights("clean_v3.gguf"));
  EXPECT_EQ(sniff(gg).format, Format::Gguf);
  MemorySource h5(std::string("\x89HDF\r\n\x1a\n", 8) + std::string(64, '\0'));
  EXPECT_EQ(sniff(h5).format, Format::Hdf5);
}

TEST(Sniff, ZipBehindAnotherFormat) {
  MemorySource poly(sample("polyglot_pickle_zip.pt"));
  Sniffed s = sniff(poly);
  EXPECT_EQ(s.format, Format::Pickle);
  ASSERT_TRUE(s.zip_end.has_value());
  MemorySource plain(sample("plain_pickle.pt"));
  EXPECT_FALSE(sniff(plain).zip_end.has_value());
}

TEST(Sniff, WeakMagicsNeedToDecode) {
  // "x^" is a valid zlib header pair, but text after it does not inflate.
  MemorySource text(std::string("x^2 + y^2 = z^2\n"));
  EXPECT_EQ(sniff(text).format, Format::Unknown);
  MemorySource lz(std::string("\x5d\x00 not lzma", 11));
  EXPECT_NE(sniff(lz).format, Format::Lzma);
  MemorySource empty(std::string{});
  EXPECT_EQ(sniff(empty).format, Format::Unknown);
}

// ---------------------------------------------------------------------------------------------
// Zip tricks (scanning.md §2, "Containers and file typing")

struct Trick {
  const char* sample;
  const char* rule;        // the anomaly the trick must leave
  const char* payload_at;  // where the payload must be found
};

TEST(ScanZipTricks, EveryTrickIsFlaggedAndItsPayloadFound) {
  const Trick tricks[] = {
      {"zip_local_name_mismatch.pt", "zip.local-mismatch.name",
       "archive/data.pkl"},                                           // CVE-2025-1944
      {"zip_flag_01.pt", "zip.flags.encrypted", "archive/data.pkl"},  // CVE-2025-1945
      {"zip_flag_20.pt", "zip.flags.patched", "archive/data.pkl"},    // CVE-2025-1945
      {"zip_flag_40.pt", "zip.flags.encrypted", "archive/data.pkl"},  // CVE-2025-1945
      {"zip_bad_crc.pt", "zip.crc-mismatch", "archive/data.pkl"},     // CVE-2025-10156
      {"zip_duplicate_name.pt", "zip.duplicate-name", "archive/data.pkl"},
      {"zip_decoy_local.pt", "zip.local-only", "archive/data.pkl#local@0"},
      {"zip_local_sizes_zero.pt", "zip.local-mismatch.size", "archive/data.pkl"},
      {"zip_method_mismatch.pt", "zip.local-mismatch.method", "archive/data.pkl"},
      {"zip_gap_hides_record.zip", "zip.gap", "hidden.pkl#local@"},
      {"zip_cd_count_hides_entry.zip", "zip.cd.count-mismatch", "evil.pkl"},
      {"zip_prefix_shift.zip", "zip.offset-shift", "evil.pkl"},
      {"zip_overlap.zip", "zip.overlap", "inner.pkl"},
  };
  for (const Trick& t : tricks) {
    Report r = scanSample(t.sample);
    EXPECT_TRUE(has(r, t.rule)) << t.sample << "\n" << dump(r);
    EXPECT_EQ(r.verdict, Verdict::Malicious) << t.sample << "\n" << dump(r);
    bool found = false;
    for (const auto& f : r.findings) {
      if (f.severity == Verdict::Malicious && f.location.rfind(t.payload_at, 0) == 0) found = true;
    }
    EXPECT_TRUE(found) << t.sample << ": no malicious finding at " << t.payload_at << "\n"
                       << dump(r);
  }
}

TEST(ScanZipTricks, AnomaliesAloneAreInvalid) {
  for (const char* name : {"zip_traversal.zip", "zip_shared_header.zip", "zip_gap.zip",
                           "zip_encrypted.zip", "zip_zstd.zip"}) {
    Report r = scanSample(name);
    EXPECT_EQ(r.verdict, Verdict::Invalid) << name << "\n" << dump(r);
  }
  EXPECT_TRUE(has(scanSample("zip_encrypted.zip"), "zip.member.encrypted"));
  EXPECT_TRUE(has(scanSample("zip_zstd.zip"), "zip.member.unsupported"));
}

TEST(ScanZipTricks, NestedZipPayload) {
  Report r = scanSample("zip_nested.zip");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(flaggedAt(r, "inner.zip/model/evil.pkl")) << dump(r);
}

TEST(ScanZipTricks, NestingDeeperThanThreeIsInvalid) {
  Report ok = scanSample("zip_nested_depth3.zip");
  EXPECT_EQ(ok.verdict, Verdict::Malicious) << dump(ok);
  EXPECT_TRUE(flaggedAt(ok, "level2.zip/level1.zip/level0.zip/payload.pkl")) << dump(ok);
  Report deep = scanSample("zip_nested_depth4.zip");
  EXPECT_TRUE(has(deep, "limit.archive-depth", "level3.zip/level2.zip/level1.zip/level0.zip"))
      << dump(deep);
  EXPECT_EQ(deep.verdict, Verdict::Invalid) << dump(deep);
}

TEST(ScanZipTricks, NonStandardMemberName) {  // CVE-2025-1889
  Report r = scanSample("zip_nonstandard_name.zip");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(flaggedAt(r, "weights/model.txt")) << dump(r);
}

TEST(ScanZipTricks, CompressedMembers) {
  for (const char* name : {"zip_bzip2.zip", "zip_lzma.zip"}) {
    Report r = scanSample(name);
    EXPECT_EQ(r.verdict, Verdict::Malicious) << name << "\n" << dump(r);
    EXPECT_TRUE(flaggedAt(r, "evil.pkl")) << dump(r);
  }
}

TEST(ScanZipTricks, ZipBombs) {
  for (const char* name : {"zip_bomb_ratio.zip", "zip_bomb_lying.zip"}) {
    Report r = scanSample(name);
    EXPECT_TRUE(has(r, "limit.inflate-ratio")) << name << "\n" << dump(r);
    EXPECT_GE(severityRank(r.verdict), severityRank(Verdict::Invalid)) << name;
  }
}

TEST(ScanZipTricks, HugeSizeFields) {
  Report r = scanSample("zip64_huge_sizes.zip");
  EXPECT_TRUE(has(r, "zip.entry-out-of-range", "a.bin")) << dump(r);
  EXPECT_TRUE(has(r, "zip.size-implausible", "b.pkl")) << dump(r);
  // b.pkl's real content is small and still scanned: its payload is found.
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
}

TEST(ScanPolyglot, PickleAndZipAreBothScanned) {
  Report r = scanSample("polyglot_pickle_zip.pt");
  EXPECT_EQ(r.format, "pickle+pytorch-zip");
  EXPECT_TRUE(has(r, "polyglot.pickle-zip")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(has(r, "zip.gap")) << dump(r);  // the zip view sees the pickle as a gap
  // The payload (offset 0 view) is reported at the file itself.
  bool payload = false;
  for (const auto& f : r.findings) {
    if (f.location.empty() && f.rule.rfind("pickle.", 0) == 0 && f.severity == Verdict::Malicious)
      payload = true;
  }
  EXPECT_TRUE(payload) << dump(r);
}

TEST(ScanPolyglot, ZipBehindSafeFormats) {
  Report r = scanBytes(sample("npy_float.npy") + sample("zip_nonstandard_name.zip"));
  EXPECT_TRUE(has(r, "polyglot.zip")) << dump(r);
  EXPECT_EQ(r.format, "npy+zip");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(ScanName, PlainPickleNamedPt) {  // CVE-2025-10155
  Report r = scanSample("plain_pickle.pt");
  EXPECT_EQ(r.format, "pickle");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(has(r, "name.mismatch")) << dump(r);
}

TEST(ScanName, SafeExtensionOnACodeFormat) {
  Report r = scanBytes(sample("torch_benign.pt"), "model.safetensors");
  EXPECT_TRUE(has(r, "name.mismatch")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Invalid) << dump(r);
  Report ok = scanBytes(sample("torch_benign.pt"), "org/repo/pytorch_model.bin");
  EXPECT_FALSE(has(ok, "name.mismatch")) << dump(ok);
  Report ok2 = scanBytes(sample("torch_benign.pt"), "model.PT");
  EXPECT_FALSE(has(ok2, "name.mismatch")) << dump(ok2);
  Report json = scanBytes(sample("plain_pickle.pt"), "config.json");
  EXPECT_TRUE(has(json, "name.mismatch")) << dump(json);
}

// ---------------------------------------------------------------------------------------------
// Benign guards

TEST(ScanBenign, TextAndArraysAreClean) {
  for (const char* name : {"readme.md", "config.json", "notes.txt"}) {
    Report r = scanSample(name);
    EXPECT_EQ(r.format, "unknown") << name;
    EXPECT_EQ(r.verdict, Verdict::Clean) << name << "\n" << dump(r);
    EXPECT_TRUE(r.findings.empty()) << dump(r);
  }
  Report empty = scanBytes("");
  EXPECT_EQ(empty.verdict, Verdict::Clean) << dump(empty);
  for (const char* name : {"npy_float.npy", "npz_float.npz", "torch_benign.pt"}) {
    Report r = scanSample(name);
    EXPECT_EQ(r.verdict, Verdict::Clean) << name << "\n" << dump(r);
  }
}

TEST(ScanBenign, UnsupportedContainers) {
  Report r = scanSample("sevenz.7z");
  EXPECT_EQ(r.format, "7z");
  EXPECT_TRUE(has(r, "container.unsupported")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Invalid);
  Report h5 = scanBytes(std::string("\x89HDF\r\n\x1a\n", 8) + std::string(64, '\0'), "model.h5");
  EXPECT_EQ(h5.format, "hdf5");
  EXPECT_EQ(h5.verdict, Verdict::Clean) << dump(h5);  // not parsed: the policy decides
}

// ---------------------------------------------------------------------------------------------
// Hash denylist and signature engines

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/hubgate-scan-test-XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ScanDenylist, FileHashAndDecodedMembers) {
  const std::string notes = sample("notes.txt");
  const std::string payload = sample("plain_pickle.pt");  // also zip_nonstandard_name's member
  TempFile list(sha256Hex(notes) + " test-notes\n" + sha256Hex(payload) + " test-payload\n");
  auto denylist = HashDenylist::load(list.path());
  ASSERT_TRUE(denylist) << denylist.error().context;
  ScanOptions options;
  options.denylist = denylist->get();

  Report file = scanBytes(notes, "notes.txt", options);
  EXPECT_TRUE(has(file, "hash.denylisted", "")) << dump(file);
  EXPECT_EQ(file.verdict, Verdict::Malicious);
  // A known digest from the caller is used as is.
  Report given = scanBytes("other bytes", "x", options, sha256Hex(notes));
  EXPECT_TRUE(has(given, "hash.denylisted", "")) << dump(given);

  Report member = scanBytes(sample("zip_nonstandard_name.zip"), "x.zip", options);
  EXPECT_TRUE(has(member, "hash.denylisted", "weights/model.txt")) << dump(member);
  Report clean = scanBytes(sample("torch_benign.pt"), "x.pt", options);
  EXPECT_FALSE(has(clean, "hash.denylisted")) << dump(clean);
}

class RecordingEngine final : public SignatureEngine {
 public:
  std::string_view name() const override { return "recording"; }
  void scanBytes(std::string_view bytes, const std::string& location,
                 Report& report) const override {
    std::lock_guard lock(mu_);
    seen_[location] = std::string(bytes);
    if (bytes.find("hubgate-test-payload") != std::string_view::npos) {
      report.add({Verdict::Malicious, "test.signature", "payload string", location, 0});
    }
  }
  std::map<std::string, std::string> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::string, std::string> seen_;
};

TEST(ScanEngines, SeeDecodedMembersNotRawTensors) {
  RecordingEngine engine;
  ScanOptions options;
  options.engines.push_back(&engine);
  Report r = scanBytes(sample("torch_benign.pt"), "x.pt", options);
  auto seen = engine.seen();
  EXPECT_TRUE(seen.count(""));  // the whole (small) file
  EXPECT_TRUE(seen.count("archive/data.pkl"));
  EXPECT_EQ(seen["archive/version"], "3\n");
  EXPECT_FALSE(seen.count("archive/data/0"));
  EXPECT_FALSE(seen.count("archive/data/1"));

  RecordingEngine joblib;
  ScanOptions jo;
  jo.engines.push_back(&joblib);
  Report j = scanBytes(sample("joblib_gzip.joblib"), "m.joblib", jo);
  EXPECT_TRUE(has(j, "test.signature", "[gzip]")) << dump(j);  // found only after inflating

  RecordingEngine nested;
  ScanOptions no;
  no.engines.push_back(&nested);
  scanBytes(sample("zip_nested.zip"), "n.zip", no);
  EXPECT_TRUE(nested.seen().count("inner.zip/model/evil.pkl"));
}

// ---------------------------------------------------------------------------------------------
// Reads only what it must

// A sparse file: a few byte runs at offsets, zeros elsewhere; counts what is read.
class SparseSource final : public ByteSource {
 public:
  SparseSource(std::uint64_t size, std::map<std::uint64_t, std::string> runs)
      : size_(size), runs_(std::move(runs)) {}
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= size_) return std::size_t{0};
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset));
    std::memset(out.data(), 0, n);
    for (const auto& [at, bytes] : runs_) {
      std::uint64_t b = std::max(at, offset), e = std::min(at + bytes.size(), offset + n);
      if (b < e) std::memcpy(out.data() + (b - offset), bytes.data() + (b - at), e - b);
    }
    bytes_read_ += n;
    return n;
  }
  std::uint64_t bytesRead() const { return bytes_read_; }

 private:
  std::uint64_t size_;
  std::map<std::uint64_t, std::string> runs_;
  std::uint64_t bytes_read_ = 0;
};

std::string le16s(std::uint16_t v) {
  return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}
std::string le32s(std::uint32_t v) { return le16s(v & 0xffff) + le16s(v >> 16); }

std::string localHeader(const std::string& name, std::uint32_t crc, std::uint32_t size) {
  return le32s(0x04034b50) + le16s(20) + le16s(0) + le16s(0) + le16s(0) + le16s(0) + le32s(crc) +
         le32s(size) + le32s(size) + le16s(static_cast<std::uint16_t>(name.size())) + le16s(0) +
         name;
}
std::string centralHeader(const std::string& name, std::uint32_t crc, std::uint32_t size,
                          std::uint32_t offset) {
  return le32s(0x02014b50) + le16s(20) + le16s(20) + le16s(0) + le16s(0) + le16s(0) + le16s(0) +
         le32s(crc) + le32s(size) + le32s(size) + le16s(static_cast<std::uint16_t>(name.size())) +
         le16s(0) + le16s(0) + le16s(0) + le16s(0) + le32s(0) + le32s(offset) + name;
}

TEST(ScanReadsOnly, LargeRawTensorRecordIsNotRead) {
  // archive/data.pkl, a 200 MB archive/data/0 (zeros, wrong CRC on purpose: never read, never
  // checked), archive/data/1, archive/version, central directory.
  const std::string pkl = sample("torch_pickle_benign.pkl");
  const std::uint32_t big = 200u << 20;
  std::map<std::uint64_t, std::string> runs;
  std::string head =
      localHeader("archive/data.pkl", crc32Of(pkl), static_cast<std::uint32_t>(pkl.size())) + pkl;
  const std::uint32_t off_pkl = 0;
  const std::uint32_t off_t0 = static_cast<std::uint32_t>(head.size());
  head += localHeader("archive/data/0", 0x12345678, big);
  runs[0] = head;
  std::uint64_t pos = head.size() + big;
  const std::string t1 = std::string(8, '\0');
  std::string tail;
  const std::uint32_t off_t1 = static_cast<std::uint32_t>(pos);
  tail += localHeader("archive/data/1", crc32Of(t1), 8) + t1;
  const std::uint32_t off_ver = static_cast<std::uint32_t>(pos + tail.size());
  tail += localHeader("archive/version", crc32Of("3\n"), 2) + "3\n";
  const std::uint32_t cd = static_cast<std::uint32_t>(pos + tail.size());
  std::string dir = centralHeader("archive/data.pkl", crc32Of(pkl),
                                  static_cast<std::uint32_t>(pkl.size()), off_pkl) +
                    centralHeader("archive/data/0", 0x12345678, big, off_t0) +
                    centralHeader("archive/data/1", crc32Of(t1), 8, off_t1) +
                    centralHeader("archive/version", crc32Of("3\n"), 2, off_ver);
  tail += dir + le32s(0x06054b50) + le16s(0) + le16s(0) + le16s(4) + le16s(4) +
          le32s(static_cast<std::uint32_t>(dir.size())) + le32s(cd) + le16s(0);
  runs[pos] = tail;
  SparseSource src(pos + tail.size(), runs);

  Report r = scan(src, "pytorch_model.bin", ScanOptions{});
  EXPECT_EQ(r.format, "pytorch-zip");
  EXPECT_FALSE(has(r, "zip.crc-mismatch")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
  EXPECT_LT(src.bytesRead(), 1u << 20)
      << "read " << src.bytesRead() << " of " << src.size() << " bytes";
}

// ---------------------------------------------------------------------------------------------
// Robustness: every sample, truncated and bit-flipped, scans without crashing and with a
// consistent report.

TEST(ScanRobustness, MutatedSamples) {
  for (const char* name :
       {"torch_payload.pt", "zip_nested.zip", "npz_payload.npz", "legacy_torch_payload.pt",
        "legacy_torch_tar_payload.tar", "joblib_xz.joblib", "polyglot_pickle_zip.pt"}) {
    const std::string bytes = sample(name);
    for (std::size_t i = 0; i < bytes.size(); i += 5) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(copy[i] ^ 0x5A);
      for (const std::string& input : {copy, bytes.substr(0, i)}) {
        Report r = scanBytes(input, name);
        Verdict worst = Verdict::Clean;
        for (const auto& f : r.findings) worst = worse(worst, f.severity);
        EXPECT_GE(severityRank(r.verdict), severityRank(worst));
      }
    }
  }
}

}  // namespace
}  // namespace hubgate::scan
