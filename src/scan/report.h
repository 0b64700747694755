// Scan results: the verdict scale, findings, and the report of one file (docs: scanning.md §3.4).
//
// Verdicts, by increasing severity for combining: Clean < Suspicious < Invalid < Error <
// Malicious. Error (the scanner could not finish: a limit, an I/O failure) fails closed like
// Invalid. A Report's verdict is the most severe of its findings' severities (Clean if none).
//
// Pure data; no I/O. Not thread-safe (one report per scan).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hubgate::scan {

enum class Verdict { Clean, Suspicious, Invalid, Error, Malicious };
std::string_view verdictName(Verdict v);  // "clean" | "suspicious" | "invalid" | "error" | "malicious"
int severityRank(Verdict v);              // order above, Clean = 0
Verdict worse(Verdict a, Verdict b);

struct Finding {
  Verdict severity = Verdict::Suspicious;
  // Stable rule id, dotted: "pickle.global.denylisted", "pickle.dynamic-import",
  // "zip.duplicate-name", "safetensors.offsets.gap", "limit.pickle-opcodes", ...
  std::string rule;
  // What, for humans: "posix.system via STACK_GLOBAL" (normalised global when there is one).
  std::string message;
  // Where: the container path of the member ("" = the file itself; "archive/data.pkl";
  // nested: "outer.zip/inner.npz/arr_0.npy") and the byte offset inside that member.
  std::string location;
  std::uint64_t offset = 0;
};

struct Report {
  // Detected format of the file (from content, never from the name): "pickle",
  // "pytorch-zip", "torchscript-zip", "legacy-torch", "zip", "npy", "npz", "joblib",
  // "safetensors", "gguf", "7z", "tar", "unknown", ...
  std::string format = "unknown";
  Verdict verdict = Verdict::Clean;
  std::vector<Finding> findings;

  void add(Finding f);  // appends and raises `verdict` to at least f.severity
  // "malicious: posix.system via STACK_GLOBAL at byte 812 of archive/data.pkl" (first most
  // severe finding), or "clean".
  std::string summary() const;
};

// Adds findings to a report up to `max`, then one "<prefix>.findings.truncated" finding; later
// findings only raise the verdict. A flood of anomalies (hostile input) cannot grow a report
// without bound, and the verdict still reflects the worst of them. One sink per parser run.
class FindingSink {
 public:
  FindingSink(Report& report, std::string prefix, std::size_t max)
      : report_(report), prefix_(std::move(prefix)), max_(max) {}
  void add(Verdict severity, std::string rule, std::string message, std::uint64_t offset,
           std::string location = {});
  void invalid(std::string rule, std::string message, std::uint64_t offset,
               std::string location = {}) {
    add(Verdict::Invalid, std::move(rule), std::move(message), offset, std::move(location));
  }

 private:
  Report& report_;
  std::string prefix_;
  std::size_t max_;
  std::size_t count_ = 0;
};

}  // namespace hubgate::scan
