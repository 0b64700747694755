#include "scan/report.h"
#include "scan/report_json.h"

namespace hubgate::scan {

std::string_view verdictName(Verdict v) {
  switch (v) {
    case Verdict::Clean: return "clean";
    case Verdict::Suspicious: return "suspicious";
    case Verdict::Invalid: return "invalid";
    case Verdict::Error: return "error";
    case Verdict::Malicious: return "malicious";
  }
  return "error";
}

int severityRank(Verdict v) { return static_cast<int>(v); }

Verdict worse(Verdict a, Verdict b) { return severityRank(a) >= severityRank(b) ? a : b; }

void Report::add(Finding f) {
  verdict = worse(verdict, f.severity);
  findings.push_back(std::move(f));
}

std::string Report::summary() const {
  const Finding* top = nullptr;
  for (const auto& f : findings) {
    if (f.severity == verdict) {
      top = &f;
      break;
    }
  }
  std::string out(verdictName(verdict));
  if (!top) return out;
  out += ": " + top->message + " at byte " + std::to_string(top->offset);
  if (!top->location.empty()) out += " of " + top->location;
  return out;
}

void FindingSink::add(Verdict severity, std::string rule, std::string message,
                      std::uint64_t offset, std::string location) {
  if (count_ < max_) {
    report_.add(Finding{severity, std::move(rule), std::move(message), std::move(location), offset});
  } else if (count_ == max_) {
    report_.add(Finding{severity, prefix_ + ".findings.truncated",
                        "more than " + std::to_string(max_) + " findings; the rest are not listed",
                        std::move(location), offset});
  } else {
    report_.verdict = worse(report_.verdict, severity);
  }
  ++count_;
}

nlohmann::ordered_json findingsJson(const Report& report) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Finding& f : report.findings) {
    out.push_back({{"severity", std::string(verdictName(f.severity))},
                   {"rule", f.rule},
                   {"message", f.message},
                   {"location", f.location},
                   {"offset", f.offset}});
  }
  return out;
}

}  // namespace hubgate::scan
