// Guard: the supply-chain checks the router applies to every file answer (docs/scanning.md).
//
//   mayProxy / mayCache   repo policy globs (policy/policy.h)
//   verdictFor            the scan verdict of a published blob: the stored one when its version is
//                         current, otherwise the blob is (re)scanned on the scan pool first
//   decide                the policy's answer for one request (repo overrides apply)
//   audit                 one audit line (guard/audit_log.h), when an audit log is configured
//
// The repo and verdict rules live in a PolicySnapshot: immutable, swapped whole by setPolicy()
// (SIGHUP). A request takes one snapshot with policy() and asks it every question, so it is
// judged by one policy from start to end even when a reload lands in between.
//
// Thread-safety: all methods are safe from any strand; state lives in the index, the inspector,
// the audit log (each thread-safe) and the atomically swapped snapshot.
#pragma once

#include <unordered_map>

#include <mutex>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <memory>
#include <string>

#include "cache/blob_store.h"
#include "cache/fill_session.h"
#include "cache/index.h"
#include "guard/audit_log.h"
#include "metrics/registry.h"
#include "policy/policy.h"

namespace hubgate::guard {

// The licenses a repo card declares (`cardData.license`, a string or a list) in a repo info
// answer; empty when it declares none or the answer is not JSON.
std::vector<std::string> cardLicenses(std::string_view repo_info_json);

// One scan policy and its version, as in force when a request started.
class PolicySnapshot {
 public:
  explicit PolicySnapshot(policy::ScanPolicy p) : policy_(std::move(p)), version_(policy_.version()) {}

  bool mayProxy(std::string_view repo) const { return policy::mayProxy(policy_, repo); }
  bool mayCache(std::string_view repo) const { return policy::mayCache(policy_, repo); }
  bool checksLicenses() const { return !policy_.license_allow.empty(); }
  bool licenseAllowed(const std::vector<std::string>& licenses) const {
    return policy::licenseAllowed(policy_, licenses);
  }
  // The policy's answer for a blob with `record` (null: not scanned) in `repo`.
  policy::Decision decide(const cache::ScanRecord* record, std::string_view repo) const;
  policy::Decision decideUnscanned() const { return policy::decideUnscanned(policy_); }
  const std::string& version() const { return version_; }
  const policy::ScanPolicy& rules() const { return policy_; }

 private:
  policy::ScanPolicy policy_;
  std::string version_;
};

class Guard {
 public:
  // `inspector` null: scanning is off (scan.mode = off). `audit` null: no audit log.
  // `metrics` (optional): rescans count in hubgate_scan_verdicts_total.
  Guard(policy::ScanPolicy policy, cache::Inspector* inspector, cache::Index& index,
        cache::BlobStore& store, boost::asio::thread_pool& scan_pool, AuditLog* audit,
        metrics::GatewayMetrics* metrics = nullptr);

  // The policy in force now; never null. Keep it for the whole request.
  std::shared_ptr<const PolicySnapshot> policy() const { return policy_.load(); }
  // Installs a new policy for requests that start from now on.
  void setPolicy(policy::ScanPolicy policy);

  // Shorthands that ask the current snapshot (one question each).
  bool mayProxy(std::string_view repo) const { return policy()->mayProxy(repo); }
  bool mayCache(std::string_view repo) const { return policy()->mayCache(repo); }
  bool scanning() const { return inspector_ != nullptr; }
  bool checksLicenses() const { return policy()->checksLicenses(); }
  bool licenseAllowed(const std::vector<std::string>& licenses) const {
    return policy()->licenseAllowed(licenses);
  }

  // Null when scanning is off. Never fails: a blob that cannot be read is an "error" verdict.
  boost::asio::awaitable<std::shared_ptr<const cache::ScanRecord>> verdictFor(
      const cache::BlobKey& blob, std::uint64_t size, const std::string& name_hint);
  policy::Decision decide(const cache::ScanRecord* record, std::string_view repo) const {
    return policy()->decide(record, repo);
  }
  // For a file passed through uncached (never scanned): scan.on_unscanned.
  policy::Decision decideUnscanned() const { return policy()->decideUnscanned(); }
  void audit(const AuditRecord& record) const;

  std::string scannerVersion() const { return inspector_ ? inspector_->version() : "off"; }
  std::string policyVersion() const { return policy()->version(); }

 private:
  std::atomic<std::shared_ptr<const PolicySnapshot>> policy_;
  cache::Inspector* inspector_;
  cache::Index& index_;
  cache::BlobStore& store_;
  boost::asio::thread_pool& scan_pool_;
  AuditLog* audit_;
  metrics::GatewayMetrics* metrics_;

  // Verdicts of recently served blobs, so a hit does not read the index for them (a verdict
  // changes only with the scanner version, which every lookup compares).
  static constexpr std::size_t kMemoEntries = 65536;
  void remember(const std::string& key, std::shared_ptr<const cache::ScanRecord> record);
  std::mutex memo_mu_;
  std::unordered_map<std::string, std::shared_ptr<const cache::ScanRecord>> memo_;
};

}  // namespace hubgate::guard
