// expect_match patterns: RE2, compiled once when the runbook loads, and
// matched in time linear in the output (no backtracking, no recursion).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace baton {

class Pattern {
 public:
  // Compiles `text` as RE2 syntax, ^ and $ matching at line ends like grep.
  // nullopt when RE2 cannot take it (a syntax error, a backreference or
  // lookaround, over 32 KiB of text or 8 MiB compiled); then *error says
  // why, if error is given.
  static std::optional<Pattern> compile(const std::string& text, std::string* error = nullptr);

  // The pattern as the runbook wrote it.
  const std::string& text() const { return text_; }
  // Does it match anywhere in `s`?
  bool found_in(std::string_view s) const;

 private:
  std::string text_;
  std::shared_ptr<const re2::RE2> re_;  // immutable, so copies share it
};

}  // namespace baton
