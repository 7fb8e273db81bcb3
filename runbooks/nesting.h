// Bounds how deep a TOML text nests before a parser sees it: toml++
// recurses once per level, so 30 000 dotted keys overflow the stack.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "runbooks/model.h"  // Location

namespace baton {

struct NestingError {
  Location where;  // the key, header or bracket that goes too deep
  std::string message;
};

// Scans `text` (strings and comments understood, nothing built) and returns
// the first place where table headers, dotted keys, inline tables and
// arrays together nest deeper than max_depth; nullopt when none does.
// Each part of a header or key counts one level; toml++ adds one more per
// header part that is an array of tables, so what passes nests at most
// twice max_depth in toml++ (tests/fuzz checks this). Malformed text is left
// to the parser, which stops at its first error.
std::optional<NestingError> check_nesting(std::string_view text, int max_depth);

}  // namespace baton
