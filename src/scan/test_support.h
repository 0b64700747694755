// Helpers shared by the scanner's unit tests (zip_test, containers_test, scanner_test). Test-only:
// included by *_test.cc files, never by the library.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "scan/report.h"

namespace hubgate::scan::test_support {

// A committed sample from tests/scan_samples/containers (made by gen_containers.py).
inline std::string sample(const std::string& name) {
  std::ifstream in(std::string(HUBGATE_SOURCE_DIR) + "/tests/scan_samples/containers/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The report as text, for failure messages.
inline std::string dump(const Report& r) {
  std::string out =
      "format " + r.format + ", verdict " + std::string(verdictName(r.verdict)) + "\n";
  for (const auto& f : r.findings) {
    out += "  " + std::string(verdictName(f.severity)) + " " + f.rule + " @" + f.location + ":" +
           std::to_string(f.offset) + " " + f.message + "\n";
  }
  return out;
}

// A finding with rule `rule` (at `location`, or anywhere with "*").
inline bool has(const Report& r, std::string_view rule, std::string_view location = "*") {
  for (const auto& f : r.findings) {
    if (f.rule == rule && (location == "*" || f.location == location)) return true;
  }
  return false;
}

// A finding of at least `severity` whose location is exactly `location`.
inline bool flaggedAt(const Report& r, std::string_view location,
                      Verdict severity = Verdict::Malicious) {
  for (const auto& f : r.findings) {
    if (f.location == location && severityRank(f.severity) >= severityRank(severity)) return true;
  }
  return false;
}

}  // namespace hubgate::scan::test_support
