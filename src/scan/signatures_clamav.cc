// The ClamAV signature engine (libclamav 1.4): custom .hdb/.hsb/.ndb files only, fully offline,
// compiled once; bytes are scanned from memory through an fmap (no temp file).
#include "scan/signatures.h"

#ifdef HUBGATE_HAVE_CLAMAV

#include <clamav.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "base/hash.h"

namespace hubgate::scan {
namespace {

constexpr std::string_view kExceedsMaxPrefix = "Heuristics.Limits.Exceeded";
constexpr std::string_view kUnofficialSuffix = ".UNOFFICIAL";

// What one scan reported through the virus-found callback (libclamav 1.4 leaves `virname` null
// for heuristic alerts such as Heuristics.Limits.Exceeded.* unless a callback is set).
struct Detections {
  std::vector<std::string> names;
};

void onVirusFound(int /*fd*/, const char* virname, void* context) {
  if (context && virname) static_cast<Detections*>(context)->names.emplace_back(virname);
}

// cl_init once per process, before any engine (libclamav requires it before going multithreaded).
cl_error_t initClamav() {
  static std::once_flag once;
  static cl_error_t rc = CL_SUCCESS;
  std::call_once(once, [] { rc = cl_init(CL_INIT_DEFAULT); });
  return rc;
}

class ClamavEngine final : public SignatureEngine {
 public:
  ClamavEngine(cl_engine* engine, std::uint64_t max_size, std::string version)
      : engine_(engine), max_size_(max_size), version_(std::move(version)) {}
  ~ClamavEngine() override { cl_engine_free(engine_); }
  ClamavEngine(const ClamavEngine&) = delete;
  ClamavEngine& operator=(const ClamavEngine&) = delete;

  std::string_view name() const override { return "clamav"; }
  std::string version() const override { return version_; }

  void scanBytes(std::string_view bytes, const std::string& location,
                 Report& report) const override {
    if (bytes.empty()) return;
    if (bytes.size() > max_size_) {
      notScanned(report, location,
                 std::to_string(bytes.size()) + " bytes exceed the ClamAV size limit of " +
                     std::to_string(max_size_));
      return;
    }
    cl_fmap_t* map = cl_fmap_open_memory(bytes.data(), bytes.size());
    if (!map) {
      report.add(
          Finding{Verdict::Error, "clamav.error", "ClamAV could not map the content", location, 0});
      return;
    }
    cl_scan_options options{};
    options.general = CL_SCAN_GENERAL_HEURISTICS;  // needed for the "exceeds max" alert below
    options.parse = ~0u;  // look inside archives and documents, like clamscan
    options.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
    const char* virname = nullptr;
    unsigned long scanned = 0;
    Detections found;
    cl_error_t rc = cl_scanmap_callback(map, location.empty() ? nullptr : location.c_str(),
                                        &virname, &scanned, engine_, &options, &found);
    // virname points into the scan's state, which closing the map releases.
    if (virname && found.names.empty()) found.names.emplace_back(virname);
    cl_fmap_close(map);
    switch (rc) {
      case CL_CLEAN:
        return;
      case CL_VIRUS: {
        if (found.names.empty()) found.names.emplace_back("unknown");
        for (const auto& sig : found.names) {
          if (std::string_view(sig).starts_with(kExceedsMaxPrefix)) {
            notScanned(report, location, "a ClamAV limit was reached (" + sig + ")");
            continue;
          }
          // Custom signatures are reported as "<name>.UNOFFICIAL"; the rule id keeps the name.
          std::string id = sig;
          if (std::string_view(id).ends_with(kUnofficialSuffix))
            id.resize(id.size() - kUnofficialSuffix.size());
          report.add(
              Finding{Verdict::Malicious, "clamav." + id, "ClamAV signature " + sig, location, 0});
        }
        return;
      }
      case CL_ETIMEOUT:
      case CL_EMAXREC:
      case CL_EMAXSIZE:
      case CL_EMAXFILES:
        notScanned(report, location, std::string("a ClamAV limit was reached: ") + cl_strerror(rc));
        return;
      default:
        report.add(Finding{Verdict::Error, "clamav.error",
                           std::string("ClamAV scan failed: ") + cl_strerror(rc), location, 0});
    }
  }

 private:
  static void notScanned(Report& report, const std::string& location, std::string why) {
    report.add(Finding{Verdict::Error, "clamav.not-scanned", "not scanned by ClamAV: " + why,
                       location, 0});
  }

  cl_engine* engine_;
  std::uint64_t max_size_;
  std::string version_;
};

}  // namespace

Result<std::unique_ptr<SignatureEngine>> makeClamavEngine(const std::string& db_dir,
                                                          std::uint64_t max_size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(db_dir, ec))
    return fail(ErrorCode::NotFound, "ClamAV database " + db_dir + ": not a directory");
  std::vector<fs::path> files;
  for (fs::directory_iterator it(db_dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto ext = it->path().extension().string();
    if ((ext == ".hdb" || ext == ".hsb" || ext == ".ndb") && it->is_regular_file(ec))
      files.push_back(it->path());
  }
  if (ec) return fail(ErrorCode::Unavailable, "ClamAV database " + db_dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty())
    return fail(ErrorCode::NotFound, "ClamAV database " + db_dir + ": no .hdb, .hsb or .ndb files");

  if (cl_error_t rc = initClamav(); rc != CL_SUCCESS) {
    return fail(ErrorCode::Internal, std::string("cl_init: ") + cl_strerror(rc));
  }
  cl_engine* engine = cl_engine_new();
  if (!engine) return fail(ErrorCode::Internal, "cl_engine_new failed");
  auto release = [&](Error e) {
    cl_engine_free(engine);
    return std::unexpected(std::move(e));
  };
  max_size = std::clamp<std::uint64_t>(max_size, 1, kClamavMaxSize);
  for (auto field : {CL_ENGINE_MAX_FILESIZE, CL_ENGINE_MAX_SCANSIZE}) {
    if (cl_error_t rc = cl_engine_set_num(engine, field, static_cast<long long>(max_size));
        rc != CL_SUCCESS) {
      return release(
          Error{ErrorCode::Internal, std::string("cl_engine_set_num: ") + cl_strerror(rc)});
    }
  }
  cl_engine_set_clcb_virus_found(engine, onVirusFound);
  auto hasher = Hasher::sha256();
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    hasher->update(file.filename().string());
    hasher->update(std::string_view("\0", 1));
    hasher->update(content.str());
    unsigned int sigs = 0;
    // dboptions 0: no bytecode, no phishing databases; custom signatures only.
    if (cl_error_t rc = cl_load(file.c_str(), engine, &sigs, 0); rc != CL_SUCCESS) {
      return release(Error{ErrorCode::InvalidArgument, "ClamAV database " + file.string() +
                                                           " does not load: " + cl_strerror(rc)});
    }
  }
  if (cl_error_t rc = cl_engine_compile(engine); rc != CL_SUCCESS) {
    return release(
        Error{ErrorCode::InvalidArgument, std::string("cl_engine_compile: ") + cl_strerror(rc)});
  }
  return std::unique_ptr<SignatureEngine>(
      new ClamavEngine(engine, max_size, hasher->finish().substr(0, 16)));
}

}  // namespace hubgate::scan

#else  // !HUBGATE_HAVE_CLAMAV

namespace hubgate::scan {

Result<std::unique_ptr<SignatureEngine>> makeClamavEngine(const std::string& /*db_dir*/,
                                                          std::uint64_t /*max_size*/) {
  return fail(ErrorCode::Unavailable, "built without ClamAV (configure with -DHUBGATE_CLAMAV=ON)");
}

}  // namespace hubgate::scan

#endif
