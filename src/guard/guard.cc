#include "guard/guard.h"

#include <nlohmann/json.hpp>


#include "base/async.h"

namespace hubgate::guard {
namespace asio = boost::asio;

Guard::Guard(policy::ScanPolicy policy, cache::Inspector* inspector, cache::Index& index,
             cache::BlobStore& store, asio::thread_pool& scan_pool, AuditLog* audit,
             metrics::GatewayMetrics* metrics)
    : policy_(std::make_shared<const PolicySnapshot>(std::move(policy))),
      inspector_(inspector),
      index_(index),
      store_(store),
      scan_pool_(scan_pool),
      audit_(audit),
      metrics_(metrics) {}

std::vector<std::string> cardLicenses(std::string_view repo_info_json) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(repo_info_json, nullptr, false);
  if (!j.is_object() || !j.contains("cardData") || !j["cardData"].is_object()) return out;
  const auto& card = j["cardData"];
  if (!card.contains("license")) return out;
  const auto& l = card["license"];
  if (l.is_string()) out.push_back(l.get<std::string>());
  if (l.is_array()) {
    for (const auto& e : l) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

void Guard::setPolicy(policy::ScanPolicy policy) {
  policy_.store(std::make_shared<const PolicySnapshot>(std::move(policy)));
}

namespace {
struct RescanJob {
  cache::Inspector* inspector;
  cache::Index* index;
  cache::BlobStore* store;
  cache::BlobKey blob;
  std::uint64_t size;
  std::string name_hint;
  bool scanned = false;  // the inspector ran (the blob could be read)
};
}  // namespace

asio::awaitable<std::shared_ptr<const cache::ScanRecord>> Guard::verdictFor(
    const cache::BlobKey& blob, std::uint64_t size, const std::string& name_hint) {
  if (!inspector_) co_return nullptr;
  const std::string version = inspector_->version();
  const std::string key = blob.str();
  {
    std::lock_guard lock(memo_mu_);
    if (auto it = memo_.find(key); it != memo_.end() && it->second->scanner_version == version) {
      co_return it->second;
    }
  }
  auto stored = index_.findVerdict(blob);
  if (stored && *stored && (*stored)->scanner_version == version) {
    auto record = std::make_shared<const cache::ScanRecord>(std::move(**stored));
    remember(key, record);
    co_return record;
  }
  // Missing (a blob cached before scanning existed) or stale (scanner or feeds changed).
  auto job = std::make_unique<RescanJob>(
      RescanJob{inspector_, &index_, &store_, blob, size, name_hint});
  RescanJob* j = job.get();
  auto record = co_await runBlocking(scan_pool_, [j]() -> std::shared_ptr<const cache::ScanRecord> {
    auto fd = j->store->openBlob(j->blob);
    cache::ScanRecord r;
    if (!fd) {
      r.verdict = "error";
      r.summary = "error: the cached blob cannot be read: " + fd.error().context;
      r.findings = "[]";
      r.scanner_version = j->inspector->version();
    } else {
      r = j->inspector->inspect(fd->get(), j->size, j->blob, j->name_hint);
      j->scanned = true;
      (void)j->index->putVerdict(j->blob, r);
    }
    return std::make_shared<const cache::ScanRecord>(std::move(r));
  });
  if (metrics_ && j->scanned) metrics_->scanVerdict(record->verdict).inc();
  if (j->scanned) remember(key, record);
  co_return record;
}

void Guard::remember(const std::string& key, std::shared_ptr<const cache::ScanRecord> record) {
  std::lock_guard lock(memo_mu_);
  // Bounded by clearing: a miss costs one point read, so a simple reset is enough.
  if (memo_.size() >= kMemoEntries) memo_.clear();
  memo_[key] = std::move(record);
}

policy::Decision PolicySnapshot::decide(const cache::ScanRecord* record,
                                        std::string_view repo) const {
  if (!record) return policy::decide(policy_, "", {}, repo);
  std::vector<policy::FindingRef> findings;
  // The common hit (a clean file) has nothing to parse.
  if (record->findings == "[]") return policy::decide(policy_, record->verdict, findings, repo);
  auto parsed = nlohmann::json::parse(record->findings, nullptr, false);
  if (parsed.is_array()) {
    for (const auto& f : parsed) {
      if (!f.is_object()) continue;
      findings.push_back({f.value("severity", std::string("error")), f.value("rule", std::string())});
    }
  } else if (!record->findings.empty() && record->findings != "[]") {
    findings.push_back({"error", "scan.record-unreadable"});
  }
  return policy::decide(policy_, record->verdict, findings, repo);
}

void Guard::audit(const AuditRecord& record) const {
  if (audit_) audit_->write(record);
}

}  // namespace hubgate::guard
