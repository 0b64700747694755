// Containers: PyTorch zip layout, TorchScript, legacy torch (stream and tar), joblib
// compression, .npy/.npz, tar, and the pickle framing helper. Samples come from
// tests/scan_samples/gen_containers.py. Verdicts on payload samples depend on the pickle walker
// (scan/pickle.cc) flagging posix.system; structure assertions do not.
#include "scan/test_support.h"
#include "scan/containers.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include "scan/scanner.h"

namespace hubgate::scan {
namespace {

using namespace test_support;

Report scanBytes(std::string bytes, std::string_view name = "file", ScanOptions options = {}) {
  MemorySource src(std::move(bytes));
  return scan(src, name, options);
}

Report scanSample(const std::string& name) { return scanBytes(sample(name), name); }

// ---------------------------------------------------------------------------------------------
// PyTorch zip

TEST(ContainerTorch, BenignCheckpointIsClean) {
  for (const char* name : {"torch_benign.pt", "torch_benign_zip64.pt"}) {
    Report r = scanSample(name);
    EXPECT_EQ(r.format, "pytorch-zip") << name;
    EXPECT_EQ(r.verdict, Verdict::Clean) << name << "\n" << dump(r);
    EXPECT_TRUE(r.findings.empty()) << dump(r);
  }
}

TEST(ContainerTorch, PayloadInDataPkl) {
  Report r = scanSample("torch_payload.pt");
  EXPECT_EQ(r.format, "pytorch-zip");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(flaggedAt(r, "archive/data.pkl")) << dump(r);
}

TEST(ContainerTorch, RawTensorRecordsAreNeverUnpickled) {
  // archive/data/0 holds a pickle with a payload; torch reads it as raw float bytes.
  Report r = scanSample("torch_tensor_looks_like_pickle.pt");
  EXPECT_EQ(r.format, "pytorch-zip");
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
}

TEST(ContainerTorch, StorageRecordsMatchPersistentIds) {
  Report extra = scanSample("torch_unreferenced_storage.pt");
  EXPECT_TRUE(has(extra, "torch.storage.unreferenced")) << dump(extra);
  EXPECT_EQ(extra.verdict, Verdict::Suspicious) << dump(extra);
  Report missing = scanSample("torch_missing_storage.pt");
  EXPECT_TRUE(has(missing, "torch.storage.missing")) << dump(missing);
  EXPECT_EQ(missing.verdict, Verdict::Invalid) << dump(missing);
}

TEST(ContainerTorch, DuplicateDataPklWalksBoth) {
  Report r = scanSample("zip_duplicate_name.pt");
  EXPECT_TRUE(has(r, "torch.data-pkl.duplicate")) << dump(r);
  EXPECT_TRUE(has(r, "zip.duplicate-name", "archive/data.pkl"));
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
}

TEST(ContainerTorch, TorchScriptIsFlaggedAsCodeBearing) {
  Report r = scanSample("torchscript.pt");
  EXPECT_EQ(r.format, "torchscript-zip");
  EXPECT_TRUE(has(r, "torchscript.code")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Suspicious) << dump(r);
}

TEST(ContainerTorch, MetadataRecordsMustBeShortText) {
  // Replace archive/version's "3\n" (stored, CRC fixed up) with binary bytes.
  std::string bytes = sample("torch_benign.pt");
  std::size_t at = bytes.find("3\nPK\x07\x08");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '\x01';
  // Fix the CRC in the data descriptor and the central entry.
  std::uint32_t old_crc = crc32Of("3\n");
  std::uint32_t new_crc = crc32Of(std::string("\x01\n", 2));
  std::string o(reinterpret_cast<const char*>(&old_crc), 4),
      n(reinterpret_cast<const char*>(&new_crc), 4);
  for (std::size_t p = bytes.find(o); p != std::string::npos; p = bytes.find(o, p + 4))
    bytes.replace(p, 4, n);
  Report r = scanBytes(bytes);
  EXPECT_TRUE(has(r, "torch.metadata.not-text", "archive/version")) << dump(r);
  EXPECT_FALSE(has(r, "zip.crc-mismatch")) << dump(r);
}

// ---------------------------------------------------------------------------------------------
// NumPy

TEST(ContainerNpy, ParsesHeaders) {
  MemorySource f(sample("npy_float.npy"));
  auto h = parseNpyHeader(f);
  ASSERT_TRUE(h) << h.error().context;
  EXPECT_EQ(h->descr, "<f4");
  EXPECT_EQ(h->shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(h->itemsize, 4u);
  EXPECT_FALSE(h->object);
  EXPECT_FALSE(h->fortran_order);
  EXPECT_EQ(h->data_offset % 64, 0u);

  MemorySource o(sample("npy_object_payload.npy"));
  auto ho = parseNpyHeader(o);
  ASSERT_TRUE(ho);
  EXPECT_TRUE(ho->object);
}

std::string npyWith(std::string header, int major = 1) {
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  std::uint32_t n = static_cast<std::uint32_t>(header.size());
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  if (major >= 2) {
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>(n >> 24));
  }
  return out + header;
}

TEST(ContainerNpy, LiteralParserAcceptsOnlyLiterals) {
  struct Case {
    std::string header;
    bool ok;
    bool object;
  };
  const Case cases[] = {
      {"{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }\n", true, false},
      {"{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": ()}", true, false},
      {"{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }", true, false},  // Python 2
      {"{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, 'shape': (2,), }", true,
       true},
      {"{'descr': [('OUT', '<f4'), ('n', [('x', '<i4', (2,))])], 'fortran_order': False, 'shape': "
       "(2,)}",
       true, false},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", true, true},
      {"{'descr': 'object', 'fortran_order': False, 'shape': (1,), }", true, true},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", false, false},  // (3) is 3
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", false, false},
      {"{'descr': '<f4', 'fortran_order': False}", false, false},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", false, false},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", false, false},
      {"{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (1,)}", false,
       false},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", false, false},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", false,
       false},
      {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]"
       "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
       false, false},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra", false, false},
  };
  for (const Case& c : cases) {
    for (int major : {1, 2, 3}) {
      MemorySource src(npyWith(c.header, major));
      auto h = parseNpyHeader(src);
      EXPECT_EQ(h.has_value(), c.ok) << c.header << (h ? "" : " -> " + h.error().context);
      if (h && c.ok) {
        EXPECT_EQ(h->object, c.object) << c.header;
      }
    }
  }
  MemorySource bad_version(npyWith("{}", 9));
  EXPECT_FALSE(parseNpyHeader(bad_version));
  MemorySource short_file(std::string("\x93NUMPY\x01\x00\xff\xff{", 11));
  EXPECT_FALSE(parseNpyHeader(short_file));
}

TEST(ContainerNpy, FloatArrayIsCleanAndSizesAreChecked) {
  Report r = scanSample("npy_float.npy");
  EXPECT_EQ(r.format, "npy");
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
  Report t = scanSample("npy_truncated.npy");
  EXPECT_TRUE(has(t, "npy.truncated")) << dump(t);
  Report extra = scanBytes(sample("npy_float.npy") + "hidden");
  EXPECT_TRUE(has(extra, "npy.trailing-bytes")) << dump(extra);
}

TEST(ContainerNpy, ObjectArrayPickleIsWalked) {
  Report r = scanSample("npy_object_payload.npy");
  EXPECT_EQ(r.format, "npy");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
}

TEST(ContainerNpz, FloatArchiveIsClean) {
  Report r = scanSample("npz_float.npz");
  EXPECT_EQ(r.format, "npz");
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
}

TEST(ContainerNpz, LargeCompressedArrayIsNotInflated) {
  // arr_0.npy inflates to 2 MiB; with an inflation budget of a few KiB, inflating it would be
  // a limit finding. Only its header is inflated.
  ScanOptions options;
  options.limits.max_inflate_total_min = 1024;
  Report r = scanBytes(sample("npz_compressed_large.npz"), "x.npz", options);
  EXPECT_EQ(r.format, "npz");
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
  Report normal = scanSample("npz_compressed_large.npz");
  EXPECT_EQ(normal.verdict, Verdict::Clean) << dump(normal);
}

TEST(ContainerNpz, ObjectMemberWithPayload) {
  Report r = scanSample("npz_payload.npz");
  EXPECT_EQ(r.format, "npz");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(flaggedAt(r, "arr_1.npy")) << dump(r);
  EXPECT_FALSE(flaggedAt(r, "arr_0.npy", Verdict::Suspicious)) << dump(r);
}

// ---------------------------------------------------------------------------------------------
// Legacy torch

TEST(ContainerLegacyTorch, MagicNumberIsComparedNotEvaluated) {
  MemorySource legacy(sample("legacy_torch_benign.pt"));
  EXPECT_TRUE(hasLegacyTorchMagic(legacy));
  MemorySource plain(sample("plain_pickle.pt"));
  EXPECT_FALSE(hasLegacyTorchMagic(plain));
  // Protocol 0/1 spelling of the same integer.
  MemorySource text(std::string("L119547037146038801333356L\n."));
  EXPECT_TRUE(hasLegacyTorchMagic(text));
  MemorySource off_by_one(std::string("L119547037146038801333357L\n."));
  EXPECT_FALSE(hasLegacyTorchMagic(off_by_one));
  // Anything more than an integer (a computed magic) is not the magic.
  MemorySource computed(std::string("cbuiltins\neval\n(V0x1950a86a20f9469cfc6c\ntR."));
  EXPECT_FALSE(hasLegacyTorchMagic(computed));
}

TEST(ContainerLegacyTorch, BenignIsClean) {
  Report r = scanSample("legacy_torch_benign.pt");
  EXPECT_EQ(r.format, "legacy-torch");
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
}

TEST(ContainerLegacyTorch, PayloadInObjectPickle) {
  Report r = scanSample("legacy_torch_payload.pt");
  EXPECT_EQ(r.format, "legacy-torch");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
}

TEST(ContainerLegacyTorch, StorageAreaIsNotUnpickled) {
  // Pickle bytes with a payload after the five pickles are raw storage to torch.
  Report r = scanBytes(sample("legacy_torch_benign.pt") + sample("plain_pickle.pt"));
  EXPECT_EQ(r.format, "legacy-torch");
  EXPECT_EQ(r.verdict, Verdict::Clean) << dump(r);
}

TEST(ContainerLegacyTorch, TruncatedStreamIsInvalid) {
  std::string bytes = sample("legacy_torch_benign.pt");
  MemorySource full(bytes);
  auto first = skipPickle(full, 0);
  ASSERT_TRUE(first);
  Report r = scanBytes(bytes.substr(0, *first + 4));
  EXPECT_TRUE(has(r, "torch.legacy.structure")) << dump(r);
  EXPECT_GE(severityRank(r.verdict), severityRank(Verdict::Invalid));
}

TEST(ContainerLegacyTorch, TarVariant) {
  Report benign = scanSample("legacy_torch_tar_benign.tar");
  EXPECT_EQ(benign.format, "legacy-torch-tar");
  EXPECT_EQ(benign.verdict, Verdict::Clean) << dump(benign);
  Report evil = scanSample("legacy_torch_tar_payload.tar");
  EXPECT_EQ(evil.format, "legacy-torch-tar");
  EXPECT_EQ(evil.verdict, Verdict::Malicious) << dump(evil);
  EXPECT_TRUE(flaggedAt(evil, "pickle")) << dump(evil);
}

TEST(ContainerTar, MembersAreScannedByContent) {
  Report r = scanSample("tar_with_pickle.tar");
  EXPECT_EQ(r.format, "tar");
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
  EXPECT_TRUE(flaggedAt(r, "model/evil.pkl")) << dump(r);
}

TEST(ContainerTar, BadChecksumIsInvalid) {
  std::string bytes = sample("tar_with_pickle.tar");
  bytes[0] = 'X';  // the first header's name changes, its checksum does not
  Report r = scanBytes(bytes);
  EXPECT_TRUE(has(r, "tar.checksum")) << dump(r);
}

// ---------------------------------------------------------------------------------------------
// joblib

TEST(ContainerJoblib, CompressedPayloadIsFound) {
  for (auto [name, loc] :
       {std::pair{"joblib_zlib.joblib", "[zlib]"}, std::pair{"joblib_gzip.joblib", "[gzip]"},
        std::pair{"joblib_bz2.joblib", "[bz2]"}, std::pair{"joblib_xz.joblib", "[xz]"},
        std::pair{"joblib_lzma.joblib", "[lzma]"}}) {
    Report r = scanSample(name);
    EXPECT_EQ(r.format, "joblib") << name;
    EXPECT_EQ(r.verdict, Verdict::Malicious) << name << "\n" << dump(r);
    EXPECT_TRUE(flaggedAt(r, loc)) << name << "\n" << dump(r);
  }
}

TEST(ContainerJoblib, BenignAndUnsupported) {
  Report ok = scanSample("joblib_benign_gzip.joblib");
  EXPECT_EQ(ok.format, "joblib");
  EXPECT_EQ(ok.verdict, Verdict::Clean) << dump(ok);
  Report lz4 = scanSample("joblib_lz4.joblib");
  EXPECT_EQ(lz4.format, "lz4");
  EXPECT_EQ(lz4.verdict, Verdict::Error) << dump(lz4);
  EXPECT_TRUE(has(lz4, "container.unsupported"));
}

TEST(ContainerJoblib, TrailingGarbageIsReportedAndTheStreamStillScanned) {
  Report r = scanBytes(sample("joblib_gzip.joblib") + "garbage!");
  EXPECT_TRUE(has(r, "compressed.trailing-data")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Malicious) << dump(r);
}

TEST(ContainerJoblib, CompressionBombStopsAtTheRatioLimit) {
  std::string zeros(16 << 20, '\0');
  uLongf n = compressBound(zeros.size());
  std::string z(n, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &n,
                      reinterpret_cast<const Bytef*>(zeros.data()), zeros.size(), 9),
            Z_OK);
  z.resize(n);
  Report r = scanBytes(z);
  EXPECT_TRUE(has(r, "limit.inflate-ratio")) << dump(r);
  EXPECT_EQ(r.verdict, Verdict::Invalid) << dump(r);
}

// ---------------------------------------------------------------------------------------------
// Pickle framing

TEST(ContainerSkipPickle, FindsEachPickleEnd) {
  MemorySource src(sample("legacy_torch_benign.pt"));
  std::uint64_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    auto e = skipPickle(src, pos);
    ASSERT_TRUE(e) << i;
    EXPECT_GT(*e, pos);
    pos = *e;
  }
  // What follows is the storage area: u64 count 4 then 16 float bytes.
  EXPECT_EQ(src.size() - pos, 24u);
  MemorySource proto0(std::string("(lp0\nI1\naI2\na.rest"));
  EXPECT_EQ(skipPickle(proto0, 0), 14u);
  MemorySource bad(std::string("\x80\x02\xff.", 4));
  EXPECT_FALSE(skipPickle(bad, 0));
  MemorySource huge(std::string("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.", 12));
  EXPECT_FALSE(skipPickle(huge, 0));
  MemorySource negative(std::string("T\xff\xff\xff\xff.", 6));
  EXPECT_FALSE(skipPickle(negative, 0));
  MemorySource empty(std::string{});
  EXPECT_FALSE(skipPickle(empty, 0));
}

}  // namespace
}  // namespace hubgate::scan
