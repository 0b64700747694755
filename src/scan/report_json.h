// A Report's findings as JSON: one shape for `hubgate scan --json` and the stored verdicts
// (cache::ScanRecord::findings). Kept out of report.h so the parsers do not pull in nlohmann.
#pragma once

#include <nlohmann/json.hpp>

#include "scan/report.h"

namespace hubgate::scan {

// [{"severity", "rule", "message", "location", "offset"}, ...] in finding order. Messages and
// locations may quote file content: dump with error_handler_t::replace.
nlohmann::ordered_json findingsJson(const Report& report);

}  // namespace hubgate::scan
