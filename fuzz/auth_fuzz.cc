// libFuzzer target: credential syntax (auth::bearerToken, auth::gatewayKeyId) and repo globs
// (hubgate::globMatch) on arbitrary bytes.
//
// Input layout: "<pattern>\n<text>" (no newline: the whole input is both).
// Invariants (a violation aborts, which libFuzzer reports as a crash):
// - bearerToken returns a view into its input, without leading/trailing spaces, and is empty
//   unless the input starts with "bearer " in any case;
// - gatewayKeyId accepts exactly "hgk_" + 12 lowercase hex + "_" + 48 lowercase hex and returns
//   the 12 hex;
// - globMatch agrees with a direct recursive definition (inputs bounded so it stays fast),
//   "*" matches everything, and a pattern without wildcards matches only itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/glob.h"
#include "auth/token_syntax.h"

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

bool reference(std::string_view p, std::string_view t) {
  if (p.empty()) return t.empty();
  if (p[0] == '*') return reference(p.substr(1), t) || (!t.empty() && reference(p, t.substr(1)));
  if (t.empty()) return false;
  return (p[0] == '?' || p[0] == t[0]) && reference(p.substr(1), t.substr(1));
}

bool isLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  using namespace hubgate;
  using namespace hubgate::auth;

  std::string_view tok = bearerToken(in);
  if (!tok.empty()) {
    if (tok.data() < in.data() || tok.data() + tok.size() > in.data() + in.size()) {
      violated("bearerToken returned a view outside its input");
    }
    if (tok.front() == ' ' || tok.back() == ' ') violated("bearerToken kept surrounding spaces");
    std::string head(in.substr(0, 7));
    for (auto& c : head) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (head != "bearer ") violated("bearerToken accepted another scheme");
  }

  auto id = gatewayKeyId(in);
  const bool shaped = in.size() == 65 && in.starts_with("hgk_") && in[16] == '_' &&
                      isLowerHex(in.substr(4, 12)) && isLowerHex(in.substr(17));
  if (id.has_value() != shaped) violated("gatewayKeyId disagrees with the key grammar");
  if (id && *id != in.substr(4, 12)) violated("gatewayKeyId returned the wrong id");

  auto nl = in.find('\n');
  std::string_view pattern = nl == std::string_view::npos ? in : in.substr(0, nl);
  std::string_view text = nl == std::string_view::npos ? in : in.substr(nl + 1);
  const bool got = globMatch(pattern, text);
  std::size_t stars = 0;
  for (char c : pattern) stars += c == '*';
  if (pattern.size() <= 16 && text.size() <= 16 && stars <= 4 && got != reference(pattern, text)) {
    violated("globMatch disagrees with the reference definition");
  }
  if (!globMatch("*", text)) violated("'*' must match everything");
  if (pattern.find_first_of("*?") == std::string_view::npos && got != (pattern == text)) {
    violated("a literal pattern must match only itself");
  }
  return 0;
}
