// The YARA signature engine (libyara 4.2): rules compiled once, scanned with yr_rules_scan_mem.
#include "scan/signatures.h"

#ifdef HUBGATE_HAVE_YARA

#include <yara.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <vector>

#include "base/hash.h"

namespace hubgate::scan {
namespace {

// yr_initialize / yr_finalize are reference-counted by libyara but not thread-safe.
std::mutex& yaraInitMutex() {
  static std::mutex mu;
  return mu;
}

// Holds one reference on the library for the lifetime of an engine.
class YaraLibrary {
 public:
  YaraLibrary() {
    std::lock_guard lock(yaraInitMutex());
    ok_ = yr_initialize() == ERROR_SUCCESS;
  }
  ~YaraLibrary() {
    if (!ok_) return;
    std::lock_guard lock(yaraInitMutex());
    yr_finalize();
  }
  YaraLibrary(const YaraLibrary&) = delete;
  YaraLibrary& operator=(const YaraLibrary&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

struct CompileErrors {
  std::vector<std::string> messages;
};

void onCompileMessage(int level, const char* file, int line, const YR_RULE* /*rule*/,
                      const char* message, void* user_data) {
  if (level != YARA_ERROR_LEVEL_ERROR) return;  // warnings (slow rules...) do not fail the load
  auto* errors = static_cast<CompileErrors*>(user_data);
  std::string where = file ? std::filesystem::path(file).filename().string() : std::string("rules");
  errors->messages.push_back(where + ":" + std::to_string(line) + ": " +
                             (message ? message : "error"));
}

struct Match {
  std::string identifier;
  Verdict severity = Verdict::Malicious;
  std::string description;
  std::uint64_t offset = 0;
};

// libyara keeps its match lists in a packed arena: the YR_MATCH records its iteration macros walk
// are not 8-byte aligned (harmless on x86-64, reported by UBSan's alignment check, which is
// therefore off for this function only).
__attribute__((no_sanitize("alignment")))
int onScanMessage(YR_SCAN_CONTEXT* context, int message, void* message_data, void* user_data) {
  if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
  auto* matches = static_cast<std::vector<Match>*>(user_data);
  const auto* rule = static_cast<const YR_RULE*>(message_data);
  Match m;
  m.identifier = rule->identifier ? rule->identifier : "?";
  const YR_META* meta = nullptr;
  yr_rule_metas_foreach(rule, meta) {
    if (meta->type != META_TYPE_STRING || !meta->identifier || !meta->string) continue;
    if (std::strcmp(meta->identifier, "severity") == 0) {
      // Anything but "suspicious" is malicious: an unknown value must not weaken a match.
      m.severity =
          std::strcmp(meta->string, "suspicious") == 0 ? Verdict::Suspicious : Verdict::Malicious;
    } else if (std::strcmp(meta->identifier, "description") == 0) {
      m.description = meta->string;
    }
  }
  bool have_offset = false;
  const YR_STRING* string = nullptr;
  yr_rule_strings_foreach(rule, string) {
    const YR_MATCH* match = nullptr;
    yr_string_matches_foreach(context, string, match) {
      auto at = static_cast<std::uint64_t>(match->base + match->offset);
      if (!have_offset || at < m.offset) m.offset = at;
      have_offset = true;
    }
  }
  matches->push_back(std::move(m));
  return CALLBACK_CONTINUE;
}

class YaraEngine final : public SignatureEngine {
 public:
  YaraEngine(std::unique_ptr<YaraLibrary> library, YR_RULES* rules, int timeout_seconds,
             std::string version)
      : library_(std::move(library)),
        rules_(rules),
        timeout_seconds_(timeout_seconds),
        version_(std::move(version)) {}
  ~YaraEngine() override {
    if (rules_) yr_rules_destroy(rules_);
  }
  YaraEngine(const YaraEngine&) = delete;
  YaraEngine& operator=(const YaraEngine&) = delete;

  std::string_view name() const override { return "yara"; }
  std::string version() const override { return version_; }

  void scanBytes(std::string_view bytes, const std::string& location,
                 Report& report) const override {
    std::vector<Match> matches;
    int rc =
        yr_rules_scan_mem(rules_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                          SCAN_FLAGS_FAST_MODE, onScanMessage, &matches, timeout_seconds_);
    for (auto& m : matches) {
      std::string message = "YARA rule " + m.identifier + " matched";
      if (!m.description.empty()) message += ": " + m.description;
      report.add(
          Finding{m.severity, "yara." + m.identifier, std::move(message), location, m.offset});
    }
    if (rc == ERROR_SUCCESS) return;
    if (rc == ERROR_SCAN_TIMEOUT) {
      report.add(Finding{Verdict::Error, "yara.timeout",
                         "YARA scan timed out after " + std::to_string(timeout_seconds_) +
                             " s (not fully scanned)",
                         location, 0});
    } else {
      report.add(Finding{Verdict::Error, "yara.error",
                         "YARA scan failed (libyara error " + std::to_string(rc) + ")", location,
                         0});
    }
  }

 private:
  std::unique_ptr<YaraLibrary>
      library_;  // outlives rules_ (members are destroyed in reverse order)
  YR_RULES* rules_;
  int timeout_seconds_;
  std::string version_;
};

}  // namespace

Result<std::unique_ptr<SignatureEngine>> makeYaraEngine(const std::string& rules_path,
                                                        std::chrono::seconds timeout) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  auto status = fs::status(rules_path, ec);
  if (ec || !fs::exists(status))
    return fail(ErrorCode::NotFound, "YARA rules " + rules_path + ": not found");
  if (fs::is_directory(status)) {
    for (fs::directory_iterator it(rules_path, ec), end; !ec && it != end; it.increment(ec)) {
      auto ext = it->path().extension().string();
      if ((ext == ".yar" || ext == ".yara") && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return fail(ErrorCode::Unavailable, "YARA rules " + rules_path + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty())
      return fail(ErrorCode::NotFound, "YARA rules " + rules_path + ": no *.yar or *.yara files");
  } else {
    files.emplace_back(rules_path);
  }

  auto library = std::make_unique<YaraLibrary>();
  if (!library->ok()) return fail(ErrorCode::Internal, "yr_initialize failed");
  YR_COMPILER* compiler = nullptr;
  if (yr_compiler_create(&compiler) != ERROR_SUCCESS)
    return fail(ErrorCode::Internal, "yr_compiler_create failed");
  CompileErrors errors;
  yr_compiler_set_callback(compiler, onCompileMessage, &errors);
  auto hasher = Hasher::sha256();
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    if (!in) {
      yr_compiler_destroy(compiler);
      return fail(ErrorCode::Unavailable, "YARA rules " + file.string() + ": cannot read");
    }
    hasher->update(file.filename().string());
    hasher->update(std::string_view("\0", 1));
    hasher->update(content.str());
    FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) {
      yr_compiler_destroy(compiler);
      return fail(ErrorCode::Unavailable,
                  "YARA rules " + file.string() + ": " + std::strerror(errno));
    }
    // One namespace for all files, so that rules may reference each other.
    int n = yr_compiler_add_file(compiler, f, nullptr, file.c_str());
    std::fclose(f);
    if (n > 0) {  // the compiler cannot be used after errors
      if (errors.messages.empty())
        errors.messages.push_back(file.filename().string() + ": compile error");
      break;
    }
  }
  if (!errors.messages.empty()) {
    yr_compiler_destroy(compiler);
    std::string all;
    for (const auto& m : errors.messages) all += (all.empty() ? "" : "; ") + m;
    return fail(ErrorCode::InvalidArgument, "YARA rules do not compile: " + all);
  }
  YR_RULES* rules = nullptr;
  int rc = yr_compiler_get_rules(compiler, &rules);
  yr_compiler_destroy(compiler);
  if (rc != ERROR_SUCCESS || !rules)
    return fail(ErrorCode::Internal, "yr_compiler_get_rules failed");
  auto seconds =
      std::clamp<std::chrono::seconds::rep>(timeout.count(), 1, std::numeric_limits<int>::max());
  return std::unique_ptr<SignatureEngine>(new YaraEngine(
      std::move(library), rules, static_cast<int>(seconds), hasher->finish().substr(0, 16)));
}

}  // namespace hubgate::scan

#else  // !HUBGATE_HAVE_YARA

namespace hubgate::scan {

Result<std::unique_ptr<SignatureEngine>> makeYaraEngine(const std::string& /*rules_path*/,
                                                        std::chrono::seconds /*timeout*/) {
  return fail(ErrorCode::Unavailable, "built without YARA (configure with -DHUBGATE_YARA=ON)");
}

}  // namespace hubgate::scan

#endif
