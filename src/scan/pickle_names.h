// Names of pickle globals: normalisation and policy (scanning.md §3.4).
//
// A pickle imports (module, name) pairs. This header turns the raw pair into the pair the loader
// really imports (CPython's Python 2 tables when the protocol is below 3), then into a canonical
// pair for policy and reports (aliases such as posix/nt -> os), and judges the result against
// exact-pair allowlist profiles and a denylist (severity and explanation only).
//
// The tables are constant data compiled into the binary and versioned by
// kPickleProfilesVersion; bump it whenever an entry changes (a verdict can change).
//
// Thread-safety: pure functions over constant tables; re-entrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hubgate::scan {

inline constexpr std::string_view kPickleProfilesVersion = "2025.1";

// Allowlist profiles, as a bit mask. core, torch and numpy are always on; the others are opt-in
// by name ("hf-training", "sklearn").
enum PickleProfile : unsigned {
  kPickleProfileCore = 1u << 0,
  kPickleProfileTorch = 1u << 1,
  kPickleProfileNumpy = 1u << 2,
  kPickleProfileHfTraining = 1u << 3,
  kPickleProfileSklearn = 1u << 4,
};
inline constexpr unsigned kPickleDefaultProfiles =
    kPickleProfileCore | kPickleProfileTorch | kPickleProfileNumpy;

// Default profiles plus the named extras. Unknown names are ignored (they add nothing).
unsigned pickleProfileMask(const std::vector<std::string>& extra_profiles);

struct PickleGlobalName {
  std::string module;
  std::string name;  // may be a dotted attribute path ("os.system")
  std::string dotted() const { return module + "." + name; }
  bool operator==(const PickleGlobalName&) const = default;
};

// What Unpickler.find_class imports when fix_imports is on and the protocol is below 3:
// _compat_pickle.NAME_MAPPING for the pair first, else IMPORT_MAPPING for the module.
// Unmapped names come back unchanged.
PickleGlobalName applyPython2Mapping(std::string_view module, std::string_view name);

// Canonical module for policy and reports: posix/nt -> os, _operator -> operator,
// _pickle/cPickle -> pickle, _io -> io, __builtin__ -> builtins (and a few more C-accelerator
// twins of denylisted modules). Other modules come back unchanged.
std::string canonicalPickleModule(std::string_view module);

// Full normalisation: Python 2 mapping when `protocol` < 3, then canonical module.
PickleGlobalName normalizePickleGlobal(std::string_view module, std::string_view name,
                                       int protocol);

// Extra checks the walker applies when an allowlisted callable is called.
enum class PickleCallRule : std::uint8_t {
  None,
  CodecsEncode,   // _codecs.encode: arguments (str, "latin1") only
  LoadFromBytes,  // torch.storage._load_from_bytes: its bytes argument is scanned recursively
};

enum class PickleGlobalPolicy {
  Allowed,     // exact pair on an active profile
  NotAllowed,  // plain name, not on any active profile: suspicious
  Dotted,      // attribute path, not allowlisted, nothing worse found: suspicious
  Dunder,      // a component of the name is a dunder (__self__, __builtins__...): malicious
  Denied,      // on the denylist (directly or through an attribute path): malicious
};

struct PickleGlobalJudgement {
  PickleGlobalPolicy policy = PickleGlobalPolicy::NotAllowed;
  // Denied: the denylist entry that matched ("os", "builtins.eval", "logging.FileHandler") and
  // why it is there. Dunder: the offending component.
  std::string matched;
  std::string reason;
  // Allowed only:
  PickleCallRule call_rule = PickleCallRule::None;
  // Bit i set: argument i of a call to this global is itself called or instantiated by it
  // (copyreg._reconstructor's class, _rebuild_from_type_v2's function), so it must be an
  // imported global, never a value computed at run time.
  std::uint8_t forwarded_args = 0;
};

// Judges a normalised pair against the active `profiles` (a PickleProfile mask).
PickleGlobalJudgement judgePickleGlobal(const PickleGlobalName& normalized, unsigned profiles);

// The denylist entry covering (module, name), if any: a whole module (and its submodules, so
// asyncio covers asyncio.unix_events), or an exact name (and attributes below it). Returns
// nullptr when nothing matches. `module` must already be canonical.
struct PickleDenyEntry {
  std::string_view module;
  std::string_view name;  // "" = the whole module
  std::string_view reason;
};
const PickleDenyEntry* findPickleDenied(std::string_view module, std::string_view name);

// True for "__x__" (at least one character between the double underscores).
bool isDunder(std::string_view component);

}  // namespace hubgate::scan
