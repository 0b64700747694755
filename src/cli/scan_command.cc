#include "cli/scan_command.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>

#include "scan/report.h"
#include "scan/report_json.h"
#include "scan/scanner.h"
#include "scan/signatures.h"
#include "scan/source.h"

namespace hubgate::cli {
namespace {

namespace fs = std::filesystem;
using scan::Finding;
using scan::Report;
using scan::Verdict;

void printHuman(std::FILE* out, const std::string& path, const Report& report) {
  std::string line = path + ": " + std::string(scan::verdictName(report.verdict)) + " (" + report.format + ")";
  if (!report.findings.empty()) {
    // summary() is "<verdict>: <message> at byte N[ of location]"; the verdict is already shown.
    std::string summary = report.summary();
    std::string prefix = std::string(scan::verdictName(report.verdict)) + ": ";
    if (summary.starts_with(prefix)) summary.erase(0, prefix.size());
    line += " " + summary;
    if (report.findings.size() > 1) line += " (+" + std::to_string(report.findings.size() - 1) + " more findings)";
  }
  // Control characters in names or messages must not rewrite the terminal.
  for (auto& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  std::fprintf(out, "%s\n", line.c_str());
}

void printJson(std::FILE* out, const std::string& path, const Report& report) {
  nlohmann::ordered_json line = {{"path", path},
                                 {"verdict", std::string(scan::verdictName(report.verdict))},
                                 {"format", report.format},
                                 {"findings", scan::findingsJson(report)}};
  std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::fprintf(out, "%s\n", text.c_str());
}

// Regular files under `root` (not following symlinks), sorted. Unreadable parts are reported on
// `err` and make `complete` false.
std::vector<std::string> listTree(const std::string& root, std::FILE* err, bool& complete) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    std::error_code sec;
    auto st = it->symlink_status(sec);
    if (!sec && fs::is_regular_file(st)) files.push_back(it->path().string());
  }
  if (ec) {
    std::fprintf(err, "hubgate scan: %s: %s\n", root.c_str(), ec.message().c_str());
    complete = false;
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int runScanCommand(const ScanCommandArgs& args, std::FILE* out, std::FILE* err) {
  if (args.paths.empty()) {
    std::fprintf(err, "hubgate scan: no file or directory given\n");
    return 2;
  }
  bool usage_error = false;
  for (const auto& p : args.paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      std::fprintf(err, "hubgate scan: %s: no such file or directory\n", p.c_str());
      usage_error = true;
    }
  }

  scan::ScanOptions options;
  options.extra_profiles = args.profiles;
  std::unique_ptr<scan::HashDenylist> denylist;
  if (!args.denylist.empty()) {
    auto loaded = scan::HashDenylist::load(args.denylist);
    if (!loaded) {
      std::fprintf(err, "hubgate scan: hash denylist: %s\n", loaded.error().context.c_str());
      usage_error = true;
    } else {
      denylist = std::move(*loaded);
      options.denylist = denylist.get();
    }
  }
  std::vector<std::unique_ptr<scan::SignatureEngine>> engines;
  auto addEngine = [&](const char* what, Result<std::unique_ptr<scan::SignatureEngine>> made) {
    if (!made) {
      std::fprintf(err, "hubgate scan: %s: %s\n", what, made.error().context.c_str());
      usage_error = true;
      return;
    }
    engines.push_back(std::move(*made));
    options.engines.push_back(engines.back().get());
  };
  if (!args.yara.empty()) addEngine("YARA rules", scan::makeYaraEngine(args.yara));
  if (!args.clamav.empty()) addEngine("ClamAV database", scan::makeClamavEngine(args.clamav));
  if (usage_error) return 2;

  bool all_clean = true;
  for (const auto& p : args.paths) {
    std::error_code ec;
    std::vector<std::string> files;
    if (fs::is_directory(p, ec)) {
      bool complete = true;
      files = listTree(p, err, complete);
      all_clean = all_clean && complete;
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(err, "hubgate scan: %s: not a regular file or directory\n", p.c_str());
      all_clean = false;
      continue;
    }
    for (const auto& file : files) {
      Report report;
      auto source = scan::FileSource::open(file);
      if (!source) {
        report.add(Finding{Verdict::Error, "io.open", source.error().context, "", 0});
      } else {
        report = scan::scan(**source, fs::path(file).filename().string(), options);
      }
      if (report.verdict != Verdict::Clean) all_clean = false;
      if (args.json) {
        printJson(out, file, report);
      } else {
        printHuman(out, file, report);
      }
      std::fflush(out);
    }
  }
  return all_clean ? 0 : 1;
}

}  // namespace hubgate::cli
