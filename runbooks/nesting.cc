#include "runbooks/nesting.h"

#include <cstring>

namespace baton {
namespace {

class Scanner {
 public:
  Scanner(std::string_view text, int max) : t_(text), max_(max) {}

  std::optional<NestingError> run() {
    int base = 0;  // depth of the current [table] or [[array]]
    for (;;) {
      skip_blank(true);
      if (eof()) return std::nullopt;
      if (peek() == '[') {  // [a.b.c] or [[a.b.c]]
        const Location at = here();
        adv();
        if (peek() == '[') adv();
        base = key_parts();
        if (base > max_) return too_deep(at, base);
        skip_line();
        continue;
      }
      const Location at = here();
      const int k = key_parts();
      if (base + k > max_) return too_deep(at, base + k);
      skip_blank(false);
      if (peek() == '=') {
        adv();
        if (auto e = value(base + k)) return e;
      }
      skip_line();
    }
  }

 private:
  bool eof() const { return i_ >= t_.size(); }
  char peek(size_t k = 0) const { return i_ + k < t_.size() ? t_[i_ + k] : '\0'; }
  Location here() const { return {line_, col_}; }
  void adv() {
    const auto c = static_cast<unsigned char>(t_[i_++]);
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else if ((c & 0xC0) != 0x80) {  // Columns count characters, not UTF-8 bytes.
      ++col_;
    }
  }

  std::optional<NestingError> too_deep(Location at, int depth) const {
    return NestingError{at, "nesting " + std::to_string(depth) + " levels deep (table headers, dotted keys, "
                            "inline tables and arrays together); at most " + std::to_string(max_) +
                            " are allowed, and a runbook needs 6"};
  }

  // Spaces and tabs; also newlines and comments when `lines`.
  void skip_blank(bool lines) {
    while (!eof()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r') adv();
      else if (lines && c == '\n') adv();
      else if (lines && c == '#') skip_line();
      else break;
    }
  }
  void skip_line() {
    while (!eof() && peek() != '\n') adv();
  }

  // One string, from its opening quote; stops at the line end if unclosed.
  void skip_string() {
    const char q = peek();
    const bool multi = peek(1) == q && peek(2) == q;
    const bool escapes = q == '"';
    for (int n = 0; n < (multi ? 3 : 1); ++n) adv();
    while (!eof()) {
      char c = peek();
      if (!multi && c == '\n') return;
      if (escapes && c == '\\') {
        adv();
        if (!eof()) adv();
        continue;
      }
      if (c == q && (!multi || (peek(1) == q && peek(2) == q))) {
        for (int n = 0; n < (multi ? 3 : 1); ++n) adv();
        // """a"""" ends with the last three quotes: a closing run of up to 5.
        for (int n = 0; multi && n < 2 && peek() == q; ++n) adv();
        return;
      }
      adv();
    }
  }

  // Parts of a (dotted) key: "a.b.c" is 3. Anything that is not a separator
  // counts as a bare key character, so odd text is counted, never skipped.
  int key_parts() {
    int parts = 0;
    for (;;) {
      skip_blank(false);
      char c = peek();
      if (eof() || std::strchr(".=#\n[]{},", c)) return parts;
      if (c == '"' || c == '\'') {
        skip_string();
      } else {
        while (!eof() && !std::strchr(" \t\r.=#\n[]{},\"'", peek())) adv();
      }
      ++parts;
      skip_blank(false);
      if (peek() != '.') return parts;
      adv();
    }
  }

  // A value at `depth`: a string, a scalar, an array or an inline table.
  std::optional<NestingError> value(int depth) {
    skip_blank(false);
    const Location at = here();
    if (depth > max_) return too_deep(at, depth);
    char c = peek();
    if (c == '"' || c == '\'') {
      skip_string();
    } else if (c == '[') {
      adv();
      for (;;) {
        skip_blank(true);
        if (eof()) return std::nullopt;
        if (peek() == ']') {
          adv();
          return std::nullopt;
        }
        if (auto e = value(depth + 1)) return e;
        skip_blank(true);
        if (peek() == ',') adv();
        else if (peek() != ']') return std::nullopt;  // Malformed: the parser says so.
      }
    } else if (c == '{') {
      adv();
      for (;;) {
        skip_blank(true);
        if (eof()) return std::nullopt;
        if (peek() == '}') {
          adv();
          return std::nullopt;
        }
        const Location key_at = here();
        const int k = key_parts();
        if (depth + k > max_) return too_deep(key_at, depth + k);
        skip_blank(false);
        if (peek() != '=') return std::nullopt;
        adv();
        if (auto e = value(depth + k)) return e;
        skip_blank(true);
        if (peek() == ',') adv();
        else if (peek() != '}') return std::nullopt;
      }
    } else {
      // Numbers, booleans, dates (which may hold a space).
      while (!eof() && !std::strchr(",]}#\n", peek())) adv();
    }
    return std::nullopt;
  }

  std::string_view t_;
  const int max_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
};

}  // namespace

std::optional<NestingError> check_nesting(std::string_view text, int max_depth) {
  return Scanner(text, max_depth).run();
}

}  // namespace baton
