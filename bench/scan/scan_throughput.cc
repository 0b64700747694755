// Scanner throughput, side by side with the baseline every cached byte already pays: reading the
// file and hashing it with sha256 (what a fill does while streaming). Reported as MB/s and as the
// ratio scan / baseline. Not a test: run by bench/scan/run.sh (numbers in docs/benchmarks.md).
//
//   safetensors 2 GiB  (sparse file: only the header is real) - must cost O(header), not O(file)
//   PyTorch zip 500 MB (stored members: data.pkl + raw tensor records, like torch.save writes)
//   pickle     100 MB  (protocol 4: many small tensors' worth of opcodes, BINBYTES payloads)
//
// picklescan's approach for comparison (scanning.md §1): it lists opcodes with pickletools in
// Python and, for a PyTorch zip, reads every member named *.pkl; it never reads raw tensor
// records either, but pays Python's per-opcode cost (typically a few MB/s on opcode-dense
// pickles).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/hash.h"
#include "scan/scanner.h"

namespace {

namespace fs = std::filesystem;
using hubgate::scan::FileSource;

fs::path workDir() {
  static fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("hubgate-scan-bench-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

void le32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void le16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void le64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// 2 GiB safetensors: a real header describing 512 F32 tensors, the data region a sparse hole.
fs::path makeSafetensors() {
  auto p = workDir() / "big.safetensors";
  if (fs::exists(p)) return p;
  const std::uint64_t total = 2ull << 30;
  const int tensors = 512;
  std::uint64_t per = (total - 64 * 1024) / tensors / 4 * 4;
  std::string header = "{";
  for (int i = 0; i < tensors; ++i) {
    if (i) header += ",";
    header += "\"layer." + std::to_string(i) + ".weight\":{\"dtype\":\"F32\",\"shape\":[" +
              std::to_string(per / 4) + "],\"data_offsets\":[" + std::to_string(per * i) + "," +
              std::to_string(per * (i + 1)) + "]}";
  }
  header += "}";
  while ((header.size() + 8) % 8) header += ' ';
  std::string head;
  le64(head, header.size());
  head += header;
  std::ofstream(p, std::ios::binary).write(head.data(), static_cast<std::streamsize>(head.size()));
  fs::resize_file(p, head.size() + per * tensors);
  return p;
}

// A protocol-4 pickle shaped like a state dict: many entries, each a _rebuild_tensor_v2-like
// call with a BINBYTES payload (as numpy/joblib pickles carry data inline).
std::string stateDictPickle(std::size_t target, bool torch_refs) {
  std::string p = "\x80\x04";
  p += "\x8c\x0b" "collections\x8c\x0b" "OrderedDict\x93)R";  // OrderedDict()
  p += "(";                                                    // MARK for SETITEMS
  std::size_t i = 0;
  std::string blob(torch_refs ? 0 : 4096, 'x');
  while (p.size() < target) {
    std::string key = "layer." + std::to_string(i) + ".weight";
    p += "\x8c";
    p.push_back(static_cast<char>(key.size()));
    p += key;
    if (torch_refs) {
      // torch._utils._rebuild_tensor_v2((storage via BINPERSID), 0, (n,), (1,), False, OrderedDict())
      p += "\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2\x93(";
      p += "(\x8c\x07storage\x8c\x05torch\x8c\x0c" "FloatStorage\x93";
      std::string id = std::to_string(i % 8);  // the 8 storage records of the archive
      p += "\x8c";
      p.push_back(static_cast<char>(id.size()));
      p += id + "\x8c\x03" "cpuJ";
      le32(p, 1024);
      p += "tQ";                      // tuple -> BINPERSID
      p += 'K';                       // storage offset 0
      p.push_back('\0');
      p += "J";
      le32(p, 1024);
      p += "\x85K\x01\x85\x89";        // (1024,), (1,), False
      p += "\x8c\x0b" "collections\x8c\x0b" "OrderedDict\x93)R";
      p += "tR";                      // args tuple, REDUCE
    } else {
      p += "B";
      le32(p, static_cast<std::uint32_t>(blob.size()));
      p += blob;
    }
    ++i;
  }
  p += "u.";
  return p;
}

void putFile(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

fs::path makePickle() {
  auto p = workDir() / "big.pkl";
  if (!fs::exists(p)) putFile(p, stateDictPickle(100ull << 20, false));
  return p;
}

// A stored (uncompressed) zip in PyTorch's layout: archive/data.pkl (torch refs), archive/version,
// archive/byteorder and 8 raw storage records making up ~500 MB.
fs::path makeTorchZip() {
  auto p = workDir() / "big.pt";
  if (fs::exists(p)) return p;
  struct Entry {
    std::string name;
    std::uint64_t size;
    std::uint32_t crc;
    std::uint64_t offset;
  };
  std::vector<Entry> entries;
  std::ofstream out(p, std::ios::binary);
  std::uint64_t pos = 0;
  auto add = [&](const std::string& name, const std::string& data, std::uint64_t size) {
    std::string h;
    le32(h, 0x04034b50);
    le16(h, 20); le16(h, 0); le16(h, 0); le16(h, 0); le16(h, 0);
    std::string chunk(1 << 20, '\x3f');  // raw storage bytes
    uLong crc = 0;
    if (!data.empty()) {
      crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    } else {
      for (std::uint64_t left = size; left > 0;) {
        auto n = std::min<std::uint64_t>(left, chunk.size());
        crc = crc32(crc, reinterpret_cast<const Bytef*>(chunk.data()), static_cast<uInt>(n));
        left -= n;
      }
    }
    le32(h, static_cast<std::uint32_t>(crc));
    le32(h, static_cast<std::uint32_t>(size));
    le32(h, static_cast<std::uint32_t>(size));
    le16(h, static_cast<std::uint16_t>(name.size()));
    le16(h, 0);
    h += name;
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    entries.push_back({name, size, static_cast<std::uint32_t>(crc), pos});
    pos += h.size();
    if (!data.empty()) {
      out.write(data.data(), static_cast<std::streamsize>(data.size()));
    } else {
      for (std::uint64_t left = size; left > 0;) {
        auto n = std::min<std::uint64_t>(left, chunk.size());
        out.write(chunk.data(), static_cast<std::streamsize>(n));
        left -= n;
      }
    }
    pos += size;
  };
  std::string pkl = stateDictPickle(64 * 1024, true);
  add("archive/data.pkl", pkl, pkl.size());
  add("archive/version", "3\n", 2);
  add("archive/byteorder", "little", 6);
  for (int i = 0; i < 8; ++i) add("archive/data/" + std::to_string(i), "", 62ull << 20);
  std::string cd;
  for (const auto& e : entries) {
    le32(cd, 0x02014b50);
    le16(cd, 20); le16(cd, 20); le16(cd, 0); le16(cd, 0); le16(cd, 0); le16(cd, 0);
    le32(cd, e.crc);
    le32(cd, static_cast<std::uint32_t>(e.size));
    le32(cd, static_cast<std::uint32_t>(e.size));
    le16(cd, static_cast<std::uint16_t>(e.name.size()));
    le16(cd, 0); le16(cd, 0); le16(cd, 0); le16(cd, 0);
    le32(cd, 0);
    le32(cd, static_cast<std::uint32_t>(e.offset));
    cd += e.name;
  }
  std::string eocd;
  le32(eocd, 0x06054b50);
  le16(eocd, 0); le16(eocd, 0);
  le16(eocd, static_cast<std::uint16_t>(entries.size()));
  le16(eocd, static_cast<std::uint16_t>(entries.size()));
  le32(eocd, static_cast<std::uint32_t>(cd.size()));
  le32(eocd, static_cast<std::uint32_t>(pos));
  le16(eocd, 0);
  out.write(cd.data(), static_cast<std::streamsize>(cd.size()));
  out.write(eocd.data(), static_cast<std::streamsize>(eocd.size()));
  return p;
}

void runScan(benchmark::State& state, const fs::path& file, const char* expect_format) {
  hubgate::scan::ScanOptions options;
  std::uint64_t size = fs::file_size(file);
  std::string verdict;
  std::string format;
  for (auto _ : state) {
    auto src = FileSource::open(file.string());
    if (!src) {
      state.SkipWithError("cannot open sample");
      return;
    }
    // The gateway passes the sha256 it verified while filling; so does the benchmark.
    auto report = hubgate::scan::scan(**src, file.filename().string(), options, std::string(64, '0'));
    verdict = std::string(hubgate::scan::verdictName(report.verdict));
    format = report.format;
    benchmark::DoNotOptimize(report);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.SetLabel(format + "/" + verdict + (format == expect_format ? "" : " (unexpected format)"));
}

// Baseline: read the whole file and sha256 it (what the fill already pays per byte).
void runHash(benchmark::State& state, const fs::path& file) {
  std::uint64_t size = fs::file_size(file);
  std::vector<char> buf(1 << 20);
  for (auto _ : state) {
    int fd = ::open(file.c_str(), O_RDONLY);
    auto h = hubgate::Hasher::sha256();
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) break;
      h->update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    ::close(fd);
    benchmark::DoNotOptimize(h->finish());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_Scan_Safetensors2GiB(benchmark::State& s) { runScan(s, makeSafetensors(), "safetensors"); }
void BM_Hash_Safetensors2GiB(benchmark::State& s) { runHash(s, makeSafetensors()); }
void BM_Scan_TorchZip500MB(benchmark::State& s) { runScan(s, makeTorchZip(), "pytorch-zip"); }
void BM_Hash_TorchZip500MB(benchmark::State& s) { runHash(s, makeTorchZip()); }
void BM_Scan_Pickle100MB(benchmark::State& s) { runScan(s, makePickle(), "pickle"); }
void BM_Hash_Pickle100MB(benchmark::State& s) { runHash(s, makePickle()); }

BENCHMARK(BM_Scan_Safetensors2GiB)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Hash_Safetensors2GiB)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Scan_TorchZip500MB)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Hash_TorchZip500MB)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_Scan_Pickle100MB)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Hash_Pickle100MB)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(workDir(), ec);
  return 0;
}
