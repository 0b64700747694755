// Repo globs (gateway keys, repo policy): "meta-llama/*", "*/Llama-3*", "org/exact-name".
//
// `*` matches any run of characters (including '/'), `?` one character; everything else is
// literal and case-sensitive, as repo ids are on the Hub. Pure functions.
#pragma once

#include <string_view>

#include "base/error.h"

namespace hubgate {

bool globMatch(std::string_view pattern, std::string_view text);
// InvalidArgument for an empty glob, one over 200 characters, or one with control characters.
Result<void> validateGlob(std::string_view pattern);

}  // namespace hubgate
