#include "policy/policy.h"

#include "base/glob.h"
#include "base/hash.h"

namespace hubgate::policy {
namespace {

int rank(std::string_view verdict) {
  if (verdict == "clean") return 0;
  if (verdict == "suspicious") return 1;
  if (verdict == "invalid") return 2;
  if (verdict == "error") return 3;
  if (verdict == "malicious") return 4;
  return 3;  // an unknown verdict name fails closed like an error
}

bool listed(const std::vector<std::string>& allow, const std::vector<std::string>& deny,
            std::string_view repo) {
  for (const auto& g : deny) {
    if (globMatch(g, repo)) return false;
  }
  if (allow.empty()) return true;
  for (const auto& g : allow) {
    if (globMatch(g, repo)) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

}  // namespace

std::string_view actionName(Action a) {
  switch (a) {
    case Action::Allow: return "allow";
    case Action::Warn: return "warn";
    case Action::Block: return "block";
  }
  return "block";
}

Result<Mode> parseMode(std::string_view s) {
  if (s == "enforce") return Mode::Enforce;
  if (s == "audit") return Mode::Audit;
  if (s == "off") return Mode::Off;
  return fail(ErrorCode::InvalidArgument, "expected enforce, audit or off, got '" + std::string(s) + "'");
}

Result<Action> parseAction(std::string_view s) {
  if (s == "allow") return Action::Allow;
  if (s == "warn") return Action::Warn;
  if (s == "block") return Action::Block;
  return fail(ErrorCode::InvalidArgument, "expected block, warn or allow, got '" + std::string(s) + "'");
}

Result<Override> parseOverride(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return fail(ErrorCode::InvalidArgument,
                "override: expected repo_glob=rule (e.g. org/*=pickle.global.unknown), got '" +
                    std::string(text) + "'");
  }
  Override o{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (auto v = validateGlob(o.repo_glob); !v) return std::unexpected(v.error());
  return o;
}

std::string ScanPolicy::version() const {
  std::string text = std::to_string(static_cast<int>(mode)) + "|" +
                     std::string(actionName(on_suspicious)) + std::string(actionName(on_invalid)) +
                     std::string(actionName(on_error)) + std::string(actionName(on_malicious)) +
                     std::string(actionName(on_unscanned)) + "|";
  for (const auto& o : overrides) text += o.repo_glob + "=" + o.rule + "\n";
  text += "|" + join(proxy_allow) + "|" + join(proxy_deny) + "|" + join(cache_allow) + "|" +
          join(cache_deny) + "|" + join(license_allow);
  return sha256Hex(text).substr(0, 12);
}

bool mayProxy(const ScanPolicy& p, std::string_view repo) {
  return listed(p.proxy_allow, p.proxy_deny, repo);
}

bool mayCache(const ScanPolicy& p, std::string_view repo) {
  return listed(p.cache_allow, p.cache_deny, repo);
}

bool licenseAllowed(const ScanPolicy& p, const std::vector<std::string>& licenses) {
  if (p.license_allow.empty()) return true;
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& l : licenses) {
    for (const auto& a : p.license_allow) {
      if (lower(l) == lower(a)) return true;
    }
  }
  return false;
}

Decision decide(const ScanPolicy& p, std::string_view verdict,
                const std::vector<FindingRef>& findings, std::string_view repo) {
  Decision d;
  if (p.mode == Mode::Off || verdict.empty()) {
    d.effective_verdict = verdict.empty() ? "unscanned" : std::string(verdict);
    return d;
  }
  int worst = findings.empty() ? rank(verdict) : 0;
  std::string effective = findings.empty() ? std::string(verdict) : "clean";
  for (const auto& f : findings) {
    bool set_aside = false;
    for (const auto& o : p.overrides) {
      if ((o.rule == "*" || o.rule == f.rule) && globMatch(o.repo_glob, repo)) set_aside = true;
    }
    if (set_aside) {
      d.overridden.push_back(f.rule);
      continue;
    }
    if (rank(f.severity) > worst) {
      worst = rank(f.severity);
      effective = f.severity;
    }
  }
  // Findings cannot be less severe than... the stored verdict is their maximum by construction;
  // a verdict of "error" with no findings stays an error.
  d.effective_verdict = effective;
  Action a = Action::Allow;
  switch (worst) {
    case 0: a = Action::Allow; break;
    case 1: a = p.on_suspicious; break;
    case 2: a = p.on_invalid; break;
    case 3: a = p.on_error; break;
    default: a = p.on_malicious; break;
  }
  if (p.mode == Mode::Audit && a == Action::Block) {
    d.would_block = true;
    a = Action::Warn;
  }
  d.action = a;
  return d;
}

Decision decideUnscanned(const ScanPolicy& p) {
  Decision d;
  d.effective_verdict = "unscanned";
  if (p.mode == Mode::Off) return d;
  d.action = p.on_unscanned;
  if (p.mode == Mode::Audit && d.action == Action::Block) {
    d.would_block = true;
    d.action = Action::Warn;
  }
  return d;
}

}  // namespace hubgate::policy
