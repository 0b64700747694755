// UTF-8 validation for text that arrives from clients and upstream (paths, revisions).
#pragma once

#include <string_view>

namespace hubgate {

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view s);

}  // namespace hubgate
