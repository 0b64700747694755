// Signature hooks (scanning.md §8): the SHA-256 hash denylist (always available) and the
// optional YARA and ClamAV engines, which scan decoded byte streams (whole small files,
// decompressed archive members, inflated joblib payloads).
//
// Ownership and thread-safety: the caller (app/ or `hubgate scan`) creates one HashDenylist and
// one engine of each kind and owns them for as long as scans may run; scan() receives const
// pointers (ScanOptions). lookup(), version() and scanBytes() may run concurrently from any
// number of threads; HashDenylist::reloadIfChanged() may run concurrently with lookups (one
// reload at a time; lookups see the old list or the new one, never a mix).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"
#include "scan/report.h"

namespace hubgate::scan {

// A set of SHA-256 digests with a label each, loaded from a text file that may mix two line
// forms (blank lines and lines starting with '#' are ignored; CR LF endings are accepted):
//
//   <sha256 hex> [<label>]            plain list (also `sha256sum` output); label defaults to
//                                     "denylisted"
//   <sha256 hex>:<size|*>:<name>[:<min flevel>[:<max flevel>]]
//                                     a ClamAV .hsb line (the size is not compared)
//
// Hex digits may be upper or lower case. Any other line (a 32- or 40-hex MD5/SHA-1 hash
// included: only SHA-256 is supported) fails the load with an InvalidArgument error naming the
// file and line number. A repeated hash keeps its first label.
class HashDenylist {
 public:
  // Errors: NotFound / Unavailable (cannot read), InvalidArgument (a bad line).
  static Result<std::unique_ptr<HashDenylist>> load(const std::string& path);

  // The label of `sha256_hex` (any case), or nullopt (also for anything that is not 64 hex).
  std::optional<std::string> lookup(std::string_view sha256_hex) const;
  // Identifies the loaded content: the first 16 hex digits of its SHA-256. Recorded in audit
  // records and in verdict cache keys.
  std::string version() const;
  std::size_t size() const;  // number of hashes

  // Re-reads the file when its size, mtime, ctime or inode changed since the last successful
  // load. true: a new list is in force; false: unchanged (also when the bytes are identical).
  // On an error (unreadable, bad line) the old list stays in force and the error is returned;
  // the next call tries again.
  Result<bool> reloadIfChanged();

  const std::string& path() const { return path_; }

 private:
  struct Snapshot;  // the parsed list (signatures.cc)
  // Parses file content; `name` prefixes error messages.
  static Result<std::shared_ptr<const Snapshot>> parse(std::string_view content, const std::string& name);
  struct FileStamp {
    std::uint64_t size = 0, inode = 0, device = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  explicit HashDenylist(std::string path) : path_(std::move(path)) {}
  static Result<std::pair<std::string, FileStamp>> readFile(const std::string& path);

  const std::string path_;
  std::mutex reload_mu_;  // one reload at a time; guards stamp_
  FileStamp stamp_;
  mutable std::shared_mutex mu_;  // guards current_
  std::shared_ptr<const Snapshot> current_;
};

// A content-signature engine. scanBytes() adds findings for matches in `bytes` (the decoded
// content of `location`: "" for the file itself, "archive/data.pkl" for a member) and Error
// findings when it could not scan them fully; it never adds anything for clean content.
class SignatureEngine {
 public:
  virtual ~SignatureEngine() = default;
  virtual std::string_view name() const = 0;  // "yara" | "clamav"
  virtual void scanBytes(std::string_view bytes, const std::string& location, Report& report) const = 0;
  // Identifies the loaded rules/signatures (first 16 hex digits of the SHA-256 of the files
  // loaded, in name order), for audit records and verdict cache keys. "" when unknown.
  virtual std::string version() const { return {}; }
};

// YARA (libyara 4.2). `rules_path` is a rules file, or a directory whose *.yar / *.yara files
// (not recursive, in name order) are compiled together; compiled once here. A matching rule
// is a finding with rule id "yara.<rule identifier>", severity from the rule's string meta
// `severity` ("suspicious" -> Suspicious; "malicious", absent or anything else -> Malicious),
// message "YARA rule <id> matched" plus the meta `description` if any, and the offset of the
// rule's first string match. A scan that times out after `timeout` (whole seconds, at least 1)
// or fails is an Error finding "yara.timeout" / "yara.error".
// Errors: NotFound (no such path / no rules files), InvalidArgument (compile errors, with
// file:line), Unavailable ("built without YARA" when HUBGATE_YARA is OFF), Internal.
Result<std::unique_ptr<SignatureEngine>> makeYaraEngine(
    const std::string& rules_path, std::chrono::seconds timeout = std::chrono::seconds(30));

// ClamAV (libclamav 1.4), fully offline: only the custom signature files *.hdb (MD5), *.hsb
// (SHA-256/SHA-1) and *.ndb (hex body) directly in `db_dir` are loaded (official .cvd/.cld
// databases and every other file are ignored, bytecode is never loaded); then the engine is
// compiled once. Matches are Malicious findings "clamav.<signature name>" (without ClamAV's
// ".UNOFFICIAL" suffix for custom signatures; the message has the full name). Content above the
// engine's file and scan size limits (`max_size`, capped at kClamavMaxSize) or a scan that hits
// any other limit that ClamAV reports (time, recursion, file count) is an Error finding
// "clamav.not-scanned", never clean; other scan errors are "clamav.error". Caveat (observed
// with libclamav 1.4.6): ClamAV's own zip parser trims a member larger than `max_size` to the
// limit without any alert, so callers must pass decoded members to scanBytes themselves rather
// than rely on ClamAV's archive parsing for large members.
// Errors: NotFound (no such directory, or no signature file in it), InvalidArgument (a file
// fails to load), Unavailable ("built without ClamAV"), Internal.
inline constexpr std::uint64_t kClamavMaxSize = (2ull << 30) - 1;  // libclamav 1.4's maximum
Result<std::unique_ptr<SignatureEngine>> makeClamavEngine(const std::string& db_dir,
                                                          std::uint64_t max_size = kClamavMaxSize);

}  // namespace hubgate::scan
