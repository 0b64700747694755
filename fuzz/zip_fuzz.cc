// libFuzzer target: scan::scan() on arbitrary bytes (a MemorySource), so one target covers the
// format sniffer, the zip reader, every container (PyTorch zip and legacy files, TorchScript,
// tar, joblib compression, .npy/.npz) and, through them, the pickle walker and the validators.
// readZip() and decode() also run directly on the input.
//
// Input layout: byte 0 picks the name hint (and whether the scan gets a signature engine that
// only records what it sees); the rest is the file.
// Invariants (a violation aborts, which libFuzzer reports as a crash):
// - scan() returns; the report's verdict is at least as severe as each of its findings, and
//   every finding has a rule id;
// - every readable zip entry's data, and every local-only record, lies inside the input;
// - a decoder never returns more than its output limit;
// - decoded bytes handed to the signature engines are bounded by the inflation budget.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "oracles.h"
#include "scan/report.h"
#include "scan/scanner.h"
#include "scan/signatures.h"
#include "scan/source.h"
#include "scan/zip.h"

namespace {

using hubgate::fuzz::check;
using namespace hubgate::scan;

constexpr std::string_view kNames[] = {"pytorch_model.bin", "model.pt",   "model.safetensors",
                                       "arrays.npz",        "x.npy",      "model.joblib",
                                       "README.md",         "archive.zip"};

class CountingEngine final : public SignatureEngine {
 public:
  std::string_view name() const override { return "fuzz"; }
  void scanBytes(std::string_view bytes, const std::string&, Report&) const override {
    total_ += bytes.size();
  }
  mutable std::uint64_t total_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t selector = data[0];
  std::string file(reinterpret_cast<const char*>(data + 1), size - 1);

  ScanOptions options;
  options.limits.max_inflate_total_min = 4u << 20;
  options.limits.max_members = 2'000;
  CountingEngine engine;
  if (selector & 0x80) options.engines.push_back(&engine);

  MemorySource source(file);
  Report report = scan(source, kNames[selector % std::size(kNames)], options);
  for (const Finding& f : report.findings) {
    check(severityRank(report.verdict) >= severityRank(f.severity), "verdict below a finding",
          __FILE__);
    check(!f.rule.empty(), "finding without a rule", __FILE__);
  }
  // The whole file (small here) plus decoded members, each bounded by the inflation budget.
  const std::uint64_t budget =
      std::max<std::uint64_t>(4 * file.size(), options.limits.max_inflate_total_min);
  check(engine.total_ <= 64 * (file.size() + budget) + (1u << 20), "engines saw unbounded bytes",
        __FILE__);

  Report zr;
  ZipArchive ar = readZip(source, options.limits, "", zr);
  for (const ZipEntry& e : ar.entries) {
    if (e.readable) {
      check(e.data_offset <= file.size() && e.compressed_size <= file.size() - e.data_offset,
            "readable entry outside the input", __FILE__);
    }
  }
  for (const ZipEntry& e : ar.local_only) {
    check(e.header_offset < file.size(), "local-only record outside the input", __FILE__);
    if (e.readable) {
      check(e.data_offset + e.compressed_size <= file.size(), "readable record outside the input",
            __FILE__);
    }
  }
  check(ar.entries.size() + ar.local_only.size() <= options.limits.max_members, "member limit",
        __FILE__);

  DecodeLimits dl;
  dl.max_out = 1u << 20;
  dl.max_ratio = 100;
  const Codec codecs[] = {Codec::RawDeflate, Codec::Zlib,      Codec::Gzip,   Codec::Bzip2,
                          Codec::Xz,         Codec::LzmaAlone, Codec::ZipLzma};
  DecodeResult d = decode(source, 0, file.size(), codecs[(selector >> 3) % std::size(codecs)], dl);
  check(d.bytes.size() <= dl.max_out && d.produced <= dl.max_out, "decoder output over its limit",
        __FILE__);
  check(d.consumed <= file.size(), "decoder consumed more than its input", __FILE__);
  return 0;
}
