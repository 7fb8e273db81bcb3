#include "runbooks/pattern.h"

#include <re2/re2.h>

namespace baton {
namespace {

// Patterns longer than this, or compiling to more, are refused at load
// time: far beyond any real expectation, and bounds RE2's work.
constexpr size_t kMaxPatternBytes = 32 << 10;
constexpr int64_t kMaxProgramBytes = 8 << 20;

std::string why(const re2::RE2& re) {
  switch (re.error_code()) {
    case re2::RE2::ErrorPatternTooLarge:
      return "it is too large (over " + std::to_string(kMaxProgramBytes >> 20) + " MiB compiled)";
    case re2::RE2::ErrorBadPerlOp:
    case re2::RE2::ErrorBadEscape:
      return re.error() + " (RE2 syntax: no backreferences, lookahead or lookbehind)";
    default:
      return re.error();
  }
}

}  // namespace

std::optional<Pattern> Pattern::compile(const std::string& text, std::string* error) {
  if (text.size() > kMaxPatternBytes) {
    if (error)
      *error = "it is too long (" + std::to_string(text.size()) + " bytes; at most " +
               std::to_string(kMaxPatternBytes >> 10) + " KiB)";
    return std::nullopt;
  }
  re2::RE2::Options o;
  o.set_log_errors(false);  // Errors are values: the loader reports them.
  o.set_max_mem(kMaxProgramBytes);
  // (?m): ^ and $ also match at line ends, as grep does on output lines.
  auto re = std::make_shared<const re2::RE2>("(?m)" + text, o);
  if (!re->ok()) {
    if (error) *error = why(*re);
    return std::nullopt;
  }
  Pattern p;
  p.text_ = text;
  p.re_ = std::move(re);
  return p;
}

bool Pattern::found_in(std::string_view s) const {
  return re_ && re2::RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *re_);
}

}  // namespace baton
