// The local example (examples/local) copied beside its state, plus a step
// that must never run twice and a step whose length the test controls:
// what the crash, resume and signal tests drive.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/journal.h"
#include "tests/cli_support.h"

namespace baton::testing {

// The local example copied beside its state, plus a step that must never
// run twice, and a step whose length the test controls.
struct Sandbox {
  TempDir d;
  std::string rb, root, state;
  Vars env;

  Sandbox() {
    sh("cp -r " + shell_quote(example()) + " " + shell_quote(d.path + "/rb"));
    rb = d.path + "/rb/runbook.toml";
    root = d.path + "/sites";
    state = d.path + "/state";
    env = {{"BATON_EXAMPLE_ROOT", root}};
    std::ofstream(rb, std::ios::app) << R"(
[[step]]
id = "count-handover"
phase = "promote"
on = "target"
idempotent = false
run = 'echo "$BATON_RUN_ID" >> "$BATON_EXAMPLE_ROOT/handovers"'
undo = '''sed -i '$d' "$BATON_EXAMPLE_ROOT/handovers"'''

[[step]]
id = "long-step"
phase = "verify_sync"
on = "target"
run = 'sleep "${LONG_STEP:-0}"'
)";
    EXPECT_EQ(sh(shell_quote(d.path + "/rb/site.sh") + " init", env).exit_code, 0);
  }
  ~Sandbox() { sh(shell_quote(d.path + "/rb/site.sh") + " teardown", env); }

  CommandResult baton_cmd(const std::string& args, Vars extra = {}) {
    Vars e = env;
    for (auto& kv : extra) e.push_back(kv);
    return sh(baton() + " " + args + " " + shell_quote(rb) + " --state-dir " + shell_quote(state), e);
  }
  // baton_cmd, again while it refuses because a step a killed Baton left is
  // still running (that step ends on its own; at most ~10 s).
  CommandResult baton_once_idle(const std::string& args) {
    CommandResult r = baton_cmd(args);
    for (int i = 0; i < 100 && r.err.find("still running") != std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      r = baton_cmd(args);
    }
    return r;
  }
  std::string journal() {
    std::vector<std::string> ids = list_runs(state + "/local-example");
    return ids.empty() ? "" : journal_path(state + "/local-example", ids.back());
  }
  std::vector<Json> records() { return read_journal(journal()).records; }
  int handovers() {
    std::string t = read(root + "/handovers");
    return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
  }
};

}  // namespace baton::testing
