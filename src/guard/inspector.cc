#include "guard/inspector.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/hash.h"
#include "base/time.h"
#include "scan/report_json.h"

namespace hubgate::guard {
namespace {

std::string fileDigest(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return sha256Hex(ss.str()).substr(0, 12);
}

// A digest of a signature directory: names and contents of its files, in name order.
std::string dirDigest(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) all += f.filename().string() + ":" + fileDigest(f) + ";";
  return sha256Hex(all).substr(0, 12);
}

}  // namespace

Result<std::unique_ptr<ScanInspector>> ScanInspector::create(const InspectorConfig& config) {
  auto in = std::unique_ptr<ScanInspector>(new ScanInspector());
  in->options_.extra_profiles = config.profiles;
  if (!config.denylist.empty()) {
    auto d = scan::HashDenylist::load(config.denylist);
    if (!d) return fail(d.error().code, "scan.denylist: " + d.error().context);
    in->denylist_ = std::move(*d);
    in->options_.denylist = in->denylist_.get();
  }
  if (!config.yara_rules.empty()) {
    auto y = scan::makeYaraEngine(config.yara_rules);
    if (!y) return fail(y.error().code, "scan.yara_rules: " + y.error().context);
    in->engines_.push_back(std::move(*y));
    in->engines_version_ += ";yara=" + fileDigest(config.yara_rules);
  }
  if (!config.clamav_db.empty()) {
    auto c = scan::makeClamavEngine(config.clamav_db);
    if (!c) return fail(c.error().code, "scan.clamav_db: " + c.error().context);
    in->engines_.push_back(std::move(*c));
    in->engines_version_ += ";clamav=" + dirDigest(config.clamav_db);
  }
  for (const auto& e : in->engines_) in->options_.engines.push_back(e.get());
  return in;
}

std::string ScanInspector::version() const {
  std::string v = "scanner=" + std::string(scan::kScannerVersion);
  for (const auto& p : options_.extra_profiles) v += ";profile=" + p;
  if (denylist_) v += ";deny=" + denylist_->version();
  return v + engines_version_;
}

Result<bool> ScanInspector::reloadDenylist() {
  if (!denylist_) return false;
  return denylist_->reloadIfChanged();
}

cache::ScanRecord ScanInspector::record(const scan::Report& report) const {
  cache::ScanRecord r;
  r.verdict = std::string(scan::verdictName(report.verdict));
  r.format = report.format;
  r.summary = report.summary();
  // Findings quote file content (names, strings): never let bad UTF-8 break the record.
  r.findings = scan::findingsJson(report).dump(-1, ' ', false,
                                              nlohmann::ordered_json::error_handler_t::replace);
  r.scanner_version = version();
  r.scanned_at = unixSeconds();
  return r;
}

cache::ScanRecord ScanInspector::inspect(int fd, std::uint64_t size, const cache::BlobKey& key,
                                         const std::string& name_hint) {
  if (denylist_) (void)denylist_->reloadIfChanged();
  int own = ::dup(fd);
  if (own < 0) {
    scan::Report failed;
    failed.add(scan::Finding{scan::Verdict::Error, "scan.io", "cannot open the blob to scan", "", 0});
    return record(failed);
  }
  scan::FileSource source(own, size);
  std::string sha = key.kind == DigestKind::Sha256 ? key.digest : std::string();
  try {
    return record(scan::scan(source, name_hint, options_, sha));
  } catch (const std::exception& e) {
    // The scanner never throws on input, but memory can run out: fail closed, keep serving.
    scan::Report failed;
    failed.add(scan::Finding{scan::Verdict::Error, "scan.exception",
                             std::string("the scanner stopped: ") + e.what(), "", 0});
    return record(failed);
  }
}

}  // namespace hubgate::guard
