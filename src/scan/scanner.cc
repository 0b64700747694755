// scan(): sniff (sniff.h) -> route -> findings. The routing lives in Session::scanContent(),
// which the containers call back for every member and decompressed stream (containers.h), so
// nesting is handled in one place, bounded by Limits::max_archive_depth.
//
// Findings added here (others come from the parts: zip.h, containers.h, pickle.h,
// safetensors.h, gguf.h, signatures.h):
//   hash.denylisted       the file's sha256, or a decoded member's, is on the denylist: Malicious
//   polyglot.pickle-zip   a pickle at offset 0 (what torch.load unpickles when the file does not
//                         start with PK\3\4) and a zip archive (what zip readers see): Malicious;
//                         both readings are scanned
//   polyglot.zip          another format (npy, safetensors, gguf, hdf5) with a zip behind it:
//                         Invalid; the zip is scanned too
//   name.mismatch         the content is identified as a format other than the one the name
//                         promises: Suspicious; Invalid when the name promises a format without
//                         code and the content can carry code (unrecognised content: nothing)
//   limit.archive-depth   an archive or compressed stream nested deeper than the limit: Invalid
//   container.unsupported a 7z archive (not supported: fails closed, Invalid)
//   scan.io               the file cannot be read for hashing or the engines: Error
#include "scan/scanner.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "base/hash.h"
#include "scan/containers.h"
#include "scan/gguf.h"
#include "scan/pickle.h"
#include "scan/safetensors.h"
#include "scan/signatures.h"
#include "scan/sniff.h"
#include "scan/zip.h"

namespace hubgate::scan {
namespace {

// Whole files up to this size go to the signature engines as they are.
constexpr std::uint64_t kEngineWholeFileMax = 16ull << 20;
constexpr std::size_t kHashChunk = 1 << 20;

Result<std::string> sha256Of(ByteSource& source) {
  auto hasher = Hasher::sha256();
  std::string buf(kHashChunk, '\0');
  std::uint64_t pos = 0;
  while (pos < source.size()) {
    auto got = source.read(pos, std::as_writable_bytes(std::span(buf.data(), buf.size())));
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return fail(ErrorCode::Unavailable, "unexpected end of data");
    hasher->update(std::string_view(buf.data(), *got));
    pos += *got;
  }
  return hasher->finish();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The recursion of one scan: sniff, route, and the decoded-bytes hooks.
class Session final : public ContainerContext {
 public:
  Session(const ScanOptions& options, std::uint64_t file_size)
      : ContainerContext(options.limits, options.extra_profiles, file_size), options_(options) {}

  void markWholeFileInspected() { whole_file_inspected_ = true; }

  bool wantsDecodedBytes() const override {
    return options_.denylist != nullptr || !options_.engines.empty();
  }

  void inspectDecoded(std::string_view bytes, const std::string& location,
                      Report& report) override {
    if (options_.denylist != nullptr) {
      if (auto label = options_.denylist->lookup(sha256Hex(bytes))) {
        report.add({Verdict::Malicious, "hash.denylisted",
                    "decoded content matches the hash denylist: " + *label + " (list " +
                        options_.denylist->version() + ")",
                    location, 0});
      }
    }
    // The file itself already went to the engines whole.
    if (location.empty() && whole_file_inspected_) return;
    for (const SignatureEngine* engine : options_.engines) {
      if (engine != nullptr) engine->scanBytes(bytes, location, report);
    }
  }

  std::string scanContent(ByteSource& content, const std::string& location, int depth,
                          Report& report) override {
    const Sniffed sn = sniff(content);
    switch (sn.format) {
      case Format::Zip:
        if (tooDeep(depth, location, report)) return "zip";
        return scanZipContainer(content, location, depth, *this, report);
      case Format::SevenZip:
        report.add({Verdict::Invalid, "container.unsupported",
                    "7z archive: members cannot be scanned (7z is not supported)", location, 0});
        return "7z";
      case Format::Pickle:
        return scanPickle(content, location, depth, sn, report);
      case Format::Npy:
        return withZipView(scanNpy(content, location, depth, *this, report), content, location,
                           depth, sn, report);
      case Format::Gguf:
        validated(content, location, report, validateGguf);
        return withZipView("gguf", content, location, depth, sn, report);
      case Format::Safetensors:
        validated(content, location, report, validateSafetensors);
        return withZipView("safetensors", content, location, depth, sn, report);
      case Format::Zlib:
      case Format::Gzip:
      case Format::Bzip2:
      case Format::Xz:
      case Format::Lzma:
      case Format::Lz4: {
        const Codec codec = sn.format == Format::Zlib    ? Codec::Zlib
                            : sn.format == Format::Gzip  ? Codec::Gzip
                            : sn.format == Format::Bzip2 ? Codec::Bzip2
                            : sn.format == Format::Xz    ? Codec::Xz
                            : sn.format == Format::Lzma  ? Codec::LzmaAlone
                                                         : Codec::Lz4;
        if (tooDeep(depth, location, report)) return std::string(codecName(codec));
        return scanCompressed(content, codec, location, depth, *this, report);
      }
      case Format::Tar:
        if (tooDeep(depth, location, report)) return "tar";
        return scanTar(content, location, depth, *this, report);
      case Format::Hdf5:
        return withZipView("hdf5", content, location, depth, sn, report);
      case Format::Unknown:
        return "unknown";
    }
    return "unknown";
  }

 private:
  bool tooDeep(int depth, const std::string& location, Report& report) {
    if (depth <= limits().max_archive_depth) return false;
    report.add({Verdict::Invalid, "limit.archive-depth",
                "archive nested more than " + std::to_string(limits().max_archive_depth) +
                    " levels deep; not opened",
                location, 0});
    return true;
  }

  // Validators report at the file's top level; nested members get their location.
  template <class Validate>
  void validated(ByteSource& content, const std::string& location, Report& report,
                 Validate validate) {
    Report sub;
    validate(content, limits(), sub);
    for (Finding& f : sub.findings) {
      f.location = joinLocation(location, f.location);
      report.add(std::move(f));
    }
    report.verdict = worse(report.verdict, sub.verdict);
  }

  // Another format at offset 0 and a zip archive behind it: both readings are scanned.
  std::string withZipView(std::string format, ByteSource& content, const std::string& location,
                          int depth, const Sniffed& sn, Report& report) {
    if (!sn.zip_end) return format;
    report.add({Verdict::Invalid, "polyglot.zip",
                "the file is " + format + " and also a zip archive (end record at byte " +
                    std::to_string(*sn.zip_end) + ")",
                location, *sn.zip_end});
    if (tooDeep(depth, location, report)) return format + "+zip";
    return format + "+" + scanZipContainer(content, location, depth, *this, report);
  }

  std::string scanPickle(ByteSource& content, const std::string& location, int depth,
                         const Sniffed& sn, Report& report) {
    const bool legacy = hasLegacyTorchMagic(content);
    if (sn.zip_end) {
      // torch.load unpickles offset 0 of a file that does not start with PK\3\4, while every
      // zip reader (and a scanner that sniffs the end record) sees an archive: scan both.
      report.add(
          {Verdict::Malicious, "polyglot.pickle-zip",
           "pickle at offset 0 (what torch.load runs) and a zip archive (end record at byte " +
               std::to_string(*sn.zip_end) + ", what zip readers see)",
           location, 0});
      std::string first;
      if (legacy) {
        first = scanLegacyTorch(content, location, depth, *this, report);
      } else {
        walkPickle(
            content, 0,
            pickleContext(location, /*torch_container=*/true, /*trailing_data_ok=*/true, depth),
            report);
        first = "pickle";
      }
      if (tooDeep(depth, location, report)) return first + "+zip";
      return first + "+" + scanZipContainer(content, location, depth, *this, report);
    }
    if (legacy) return scanLegacyTorch(content, location, depth, *this, report);
    walkPickle(content, 0, pickleContext(location, /*torch_container=*/false, false, depth),
               report);
    return "pickle";
  }

  const ScanOptions& options_;
  bool whole_file_inspected_ = false;
};

// ---------------------------------------------------------------------------------------------
// Name hints

struct Expectation {
  std::string_view ext;
  std::array<std::string_view, 5> formats;  // empty slots unused
  bool no_code;                             // the name promises a format that carries no code
};

constexpr std::array<Expectation, 27> kExpectations{{
    {"safetensors", {"safetensors"}, true},
    {"gguf", {"gguf"}, true},
    {"npy", {"npy"}, true},
    {"npz", {"npz", "zip"}, false},
    {"pt", {"pytorch-zip", "torchscript-zip", "legacy-torch", "legacy-torch-tar", "zip"}, false},
    {"pth", {"pytorch-zip", "torchscript-zip", "legacy-torch", "legacy-torch-tar", "zip"}, false},
    {"ckpt", {"pytorch-zip", "torchscript-zip", "legacy-torch", "legacy-torch-tar", "zip"}, false},
    {"pkl",
     {"pickle", "joblib", "pytorch-zip", "legacy-torch", "lz4"},
     false},  // fastai: torch.save
    {"pickle", {"pickle", "joblib", "pytorch-zip", "legacy-torch", "lz4"}, false},
    {"joblib", {"joblib", "pickle", "lz4"}, false},
    {"json", {"unknown"}, true},
    {"txt", {"unknown"}, true},
    {"md", {"unknown"}, true},
    {"yaml", {"unknown"}, true},
    {"yml", {"unknown"}, true},
    {"csv", {"unknown"}, true},
    {"jinja", {"unknown"}, true},
    {"model", {"unknown"}, true},  // sentencepiece
    {"onnx", {"unknown"}, true},
    {"pb", {"unknown"}, true},
    {"tflite", {"unknown"}, true},
    {"msgpack", {"unknown"}, true},
    {"h5", {"hdf5"}, false},
    {"hdf5", {"hdf5"}, false},
    {"keras", {"zip"}, false},
    {"zip", {"zip", "pytorch-zip", "torchscript-zip", "npz"}, false},
    {"7z", {"7z"}, false},
}};

bool carriesCode(std::string_view format) {
  for (std::string_view f : {"pickle", "joblib", "legacy-torch", "legacy-torch-tar", "pytorch-zip",
                             "torchscript-zip", "zip", "npz", "7z", "tar"}) {
    if (format == f) return true;
  }
  return false;
}

void checkName(std::string_view name_hint, Report& report) {
  auto slash = name_hint.find_last_of("/\\");
  std::string_view base = slash == std::string_view::npos ? name_hint : name_hint.substr(slash + 1);
  auto dot = base.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= base.size()) return;
  const std::string ext = lower(base.substr(dot + 1));
  const std::string& format = report.format;
  if (format.find('+') != std::string::npos) return;  // polyglots are findings already
  // Content we do not recognise (text, unparsed formats) cannot be what the name promises, but
  // no loader runs it either: the name is only worth a finding when the content is something.
  if (format == "unknown") return;
  for (const Expectation& e : kExpectations) {
    if (e.ext != ext) continue;
    for (std::string_view f : e.formats) {
      if (!f.empty() && f == format) return;
    }
    const bool worse = e.no_code && carriesCode(format);
    report.add(
        {worse ? Verdict::Invalid : Verdict::Suspicious, "name.mismatch",
         "file named *." + ext + " is " + format + (worse ? ", a format that can carry code" : ""),
         "", 0});
    return;
  }
}

}  // namespace

Report scan(ByteSource& source, std::string_view name_hint, const ScanOptions& options,
            std::string_view sha256_hex) {
  Report report;
  Session session(options, source.size());
  if (options.denylist != nullptr) {
    Result<std::string> sha =
        sha256_hex.empty() ? sha256Of(source) : Result<std::string>(lower(sha256_hex));
    if (!sha) {
      report.add(
          {Verdict::Error, "scan.io", "cannot hash the file: " + sha.error().context, "", 0});
    } else if (auto label = options.denylist->lookup(*sha)) {
      report.add({Verdict::Malicious, "hash.denylisted",
                  "file sha256 is on the hash denylist: " + *label + " (list " +
                      options.denylist->version() + ")",
                  "", 0});
    }
  }
  if (!options.engines.empty() && source.size() <= kEngineWholeFileMax) {
    auto bytes = source.readString(0, static_cast<std::size_t>(source.size()));
    if (!bytes) {
      report.add(
          {Verdict::Error, "scan.io", "cannot read the file: " + bytes.error().context, "", 0});
    } else {
      for (const SignatureEngine* engine : options.engines) {
        if (engine != nullptr) engine->scanBytes(*bytes, "", report);
      }
      session.markWholeFileInspected();
    }
  }
  report.format = session.scanContent(source, "", 0, report);
  checkName(name_hint, report);
  return report;
}

}  // namespace hubgate::scan
