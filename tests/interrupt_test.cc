// SIGINT and SIGTERM stop a run gracefully: the running step is killed with
// everything it started, the journal records the interruption and what was
// killed, a drill runs its cleanup, the exit code is 128 + the signal, and
// the run can be resumed. A second signal exits at once.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/example_sandbox.h"

namespace baton {
namespace {

using namespace baton::testing;
using namespace std::chrono_literals;

// baton in the background: its pid, and its exit code once it ends.
struct Background {
  Sandbox& s;
  std::string dir;
  pid_t pid = 0;
  Background(Sandbox& sb, const std::string& verb, const std::string& env) : s(sb), dir(sb.d.path) {
    sh("( " + env + " " + baton() + " " + verb + " " + shell_quote(s.rb) + " --state-dir " + shell_quote(s.state) +
           " >" + dir + "/out 2>" + dir + "/err </dev/null & echo $! >" + dir + "/pid; wait $!; echo $? >" + dir +
           "/rc ) >/dev/null 2>&1 &",
       s.env);
    for (int i = 0; i < 200 && read(dir + "/pid").empty(); ++i) std::this_thread::sleep_for(10ms);
    pid = std::stoi(read(dir + "/pid"));
  }
  // The process group of `step` once the journal reports it, or 0.
  long pgid_of(const std::string& step) {
    for (int i = 0; i < 400; ++i) {
      for (const Json& j : s.records())
        if (j.str("event") == "step_process" && j.str("step") == step) return static_cast<long>(j.num("pgid"));
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }
  // Waits for the exit code; -1 if baton does not end within `limit`.
  int rc(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      std::string t = read(dir + "/rc");
      if (!t.empty()) return std::stoi(t);
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  std::string out() { return read(dir + "/out") + read(dir + "/err"); }
};

const Json* last_of(const std::vector<Json>& recs, const std::string& event, const std::string& step = "") {
  const Json* found = nullptr;
  for (const Json& j : recs)
    if (j.str("event") == event && (step.empty() || j.str("step") == step)) found = &j;
  return found;
}

TEST(Interrupt, SigtermKillsTheRunningStepRecordsItAndTheRunResumes) {
  Sandbox s;
  Background b(s, "switchover", "LONG_STEP=60");
  long pgid = b.pgid_of("long-step");
  ASSERT_GT(pgid, 1);
  ASSERT_TRUE(group_alive(pgid));
  ASSERT_EQ(::kill(b.pid, SIGTERM), 0);
  EXPECT_EQ(b.rc(10s), 143) << b.out();
  EXPECT_FALSE(group_alive(pgid)) << "the step's processes outlived the run";
  auto recs = s.records();
  const Json* fin = last_of(recs, "step_finished", "long-step");
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->str("status"), "interrupted");
  EXPECT_TRUE(fin->flag("uncertain"));
  const Json* end = last_of(recs, "run_finished");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->num("exit_code"), 143);
  EXPECT_NE(end->str("reason").find("stopped by signal 15 in verify_sync: killed long-step on dr.app"),
            std::string::npos) << end->str("reason");
  EXPECT_NE(b.out().find("baton resume"), std::string::npos) << b.out();
  CommandResult r = s.baton_cmd("resume");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(summarize("x", s.records()).state, "completed");
}

TEST(Interrupt, SigintInADrillRunsItsCleanup) {
  Sandbox s;
  std::ofstream(s.rb, std::ios::app) << R"(
[[step]]
id = "drill-wait"
phase = "verify"
on = "target"
operations = ["drill"]
run = 'sleep 60'
)";
  Background b(s, "drill", "");
  long pgid = b.pgid_of("drill-wait");
  ASSERT_GT(pgid, 1);
  ASSERT_EQ(::kill(b.pid, SIGINT), 0);
  EXPECT_EQ(b.rc(10s), 130) << b.out();
  EXPECT_FALSE(group_alive(pgid));
  auto recs = s.records();
  const Json* cleanup = last_of(recs, "step_finished", "drill-remove-clone");
  ASSERT_TRUE(cleanup) << b.out();
  EXPECT_EQ(cleanup->str("status"), "ok");
  EXPECT_FALSE(exists(s.root + "/drill"));
  EXPECT_NE(b.out().find("cleanup ran"), std::string::npos) << b.out();
}

TEST(Interrupt, ASecondSignalExitsAtOnce) {
  Sandbox s;
  // A step that ignores SIGTERM: a graceful stop would wait for the kill.
  std::ofstream(s.rb, std::ios::app) << R"(
[[step]]
id = "stubborn"
phase = "preflight"
on = "source"
run = "trap '' TERM; touch )" << s.d.path << R"(/trapped; sleep 60"
)";
  Background b(s, "switchover", "");
  long pgid = b.pgid_of("stubborn");
  ASSERT_GT(pgid, 1);
  // Only once the trap is set: a TERM before it would end the step at once.
  for (int i = 0; i < 500 && !std::ifstream(s.d.path + "/trapped"); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(::kill(b.pid, SIGINT), 0);
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(::kill(b.pid, SIGINT), 0);
  EXPECT_EQ(b.rc(10s), 130) << b.out();
  // A graceful stop would have waited out the grace and killed the step;
  // exiting at once leaves it (resume then waits for it, see resume_test).
  EXPECT_TRUE(group_alive(pgid)) << "baton waited instead of exiting at once";
  ::kill(-static_cast<pid_t>(pgid), SIGKILL);
}

}  // namespace
}  // namespace baton
