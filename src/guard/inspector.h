// ScanInspector: the scanner (src/scan) as the fill pipeline's cache::Inspector.
//
// Owns the optional hash denylist and YARA / ClamAV engines built from configuration, scans a
// verified blob through a FileSource over a private descriptor, and turns the scan::Report into
// the cache::ScanRecord stored in the index. Its version() combines the scanner version with the
// denylist and rule-set versions, so a changed feed or scanner makes stored verdicts stale.
//
// Thread-safety: inspect() may run concurrently on the scan pool (engines and the denylist are
// thread-safe); the denylist is re-read when its file changes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/fill_session.h"
#include "scan/report.h"
#include "scan/scanner.h"
#include "scan/signatures.h"

namespace hubgate::guard {

struct InspectorConfig {
  std::string denylist;    // "" = none
  std::string yara_rules;  // "" = none
  std::string clamav_db;   // "" = none
  std::vector<std::string> profiles;
};

class ScanInspector final : public cache::Inspector {
 public:
  // Errors: InvalidArgument / Unavailable naming the file that could not be loaded.
  static Result<std::unique_ptr<ScanInspector>> create(const InspectorConfig& config);

  cache::ScanRecord inspect(int fd, std::uint64_t size, const cache::BlobKey& key,
                            const std::string& name_hint) override;
  std::string version() const override;

  // Re-reads the hash denylist file now (SIGHUP) instead of at the next scan, so that hits,
  // whose stored verdicts are compared with version(), are judged against the new list at once.
  // true: a new list is in force; false: unchanged or no denylist. An unreadable or malformed
  // file is an error and the old list stays in force.
  Result<bool> reloadDenylist();

  // The record for a report (findings as JSON), stamped with version().
  cache::ScanRecord record(const scan::Report& report) const;

 private:
  ScanInspector() = default;

  scan::ScanOptions options_;
  std::unique_ptr<scan::HashDenylist> denylist_;
  std::vector<std::unique_ptr<scan::SignatureEngine>> engines_;
  std::string engines_version_;
};

}  // namespace hubgate::guard
