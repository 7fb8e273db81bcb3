// libFuzzer target for the runbook loader: any bytes become a runbook or
// FILE:LINE:COL diagnostics, without a crash, a hang or a sanitizer report.
// Seeds: examples/*/runbook.toml and tests/fuzz/corpus/ (scripts/fuzz.sh).
#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "runbooks/loader.h"
#include "runbooks/nesting.h"

namespace {

// Edges from the root to the deepest node, as toml++ built it.
int depth(const toml::node& n) {
  int d = 0;
  if (const toml::table* t = n.as_table())
    for (auto&& [k, v] : *t) d = std::max(d, 1 + depth(v));
  if (const toml::array* a = n.as_array())
    for (const toml::node& v : *a) d = std::max(d, 1 + depth(v));
  return d;
}

// The nesting scan must bound what toml++ builds: a header part of an array
// of tables may add one level, so at most twice the bound.
void check_nesting_bound(const std::string& text) {
  constexpr int kBound = 4;
  if (baton::check_nesting(text, kBound)) return;
  try {
    toml::table t = toml::parse(text);
    if (depth(t) > 2 * kBound) __builtin_trap();
  } catch (const toml::parse_error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  baton::LoadResult r = baton::load_runbook_text(text, "fuzz.toml");
  for (const baton::Diagnostic& d : r.errors)
    if (d.where.line < 1 || d.where.column < 1 || d.message.empty()) __builtin_trap();
  if (r.ok()) {
    for (const baton::Step& s : r.runbook.steps) {
      if (!baton::check_target(r.runbook, s.on).empty()) __builtin_trap();  // Validated already.
      if (s.expect_match) s.expect_match->found_in(text);
    }
  }
  check_nesting_bound(text);
  return 0;
}
