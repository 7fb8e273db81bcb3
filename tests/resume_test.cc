// Crash-safe runs: SIGKILL of baton at every journal boundary of a
// switchover of the local example, and in the middle of a long step; then
// `baton resume`. Also the lock, stale sides, changed runbooks, torn lines
// and the state directory's permissions. Runs the built binary.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "orchestrator/journal.h"
#include "tests/cli_support.h"
#include "tests/example_sandbox.h"

namespace baton {
namespace {

using namespace baton::testing;

bool killed(const CommandResult& r) { return r.signal == SIGKILL || r.exit_code == 128 + SIGKILL; }

// What an operator would check after a switchover of the example.
struct EndState {
  std::string roles, active, follows_main;
  bool app_on_dr = false, app_on_main = false;
  int handovers = 0;
  bool nothing_lost = false;
  bool operator==(const EndState& o) const {
    return roles == o.roles && active == o.active && follows_main == o.follows_main && app_on_dr == o.app_on_dr &&
           app_on_main == o.app_on_main && handovers == o.handovers && nothing_lost == o.nothing_lost;
  }
};

bool app_running(const std::string& root, const std::string& site) {
  std::string pid = read(root + "/" + site + "/app.pid");
  if (pid.empty()) return false;
  return sh("kill -0 " + pid.substr(0, pid.find('\n')) + " && ! grep -q '^State:.*Z' /proc/" +
            pid.substr(0, pid.find('\n')) + "/status").exit_code == 0;
}

EndState end_state(Sandbox& s) {
  EndState e;
  e.roles = read(s.state + "/local-example/roles");
  e.active = read(s.root + "/active");
  e.follows_main = read(s.root + "/main/follows");
  e.app_on_dr = app_running(s.root, "dr");
  e.app_on_main = app_running(s.root, "main");
  e.handovers = s.handovers();
  // Every order main took is on dr.
  std::string old_log = read(s.root + "/main/data/orders.log");
  std::string new_log = read(s.root + "/dr/data/orders.log");
  e.nothing_lost = !old_log.empty() && new_log.compare(0, old_log.size(), old_log) == 0;
  return e;
}

// The story a journal tells: machine transitions and steps completed, in order.
std::vector<std::string> story(const std::vector<Json>& records) {
  std::vector<std::string> v;
  for (const Json& j : records) {
    std::string ev = j.str("event");
    if (ev == "transition") v.push_back(j.str("from") + "->" + j.str("to"));
    if (ev == "step_finished" && j.str("status") == "ok") {
      std::string k = "done " + j.str("step") + "@" + j.str("host");
      if (std::find(v.begin(), v.end(), k) == v.end()) v.push_back(k);
    }
    if (ev == "run_finished") v.push_back("finished " + j.str("status"));
  }
  return v;
}

TEST(Resume, KillAtEveryJournalBoundaryThenResume) {
  EndState reference;
  std::vector<std::string> reference_story;
  size_t n = 0;
  {
    Sandbox s;
    CommandResult r = s.baton_cmd("switchover");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    reference = end_state(s);
    reference_story = story(s.records());
    n = s.records().size();
    ASSERT_EQ(reference.handovers, 1);
    ASSERT_TRUE(reference.nothing_lost);
    ASSERT_TRUE(reference.app_on_dr);
    ASSERT_FALSE(reference.app_on_main);
  }
  ASSERT_GT(n, 40u);
  for (size_t k = 1; k < n; ++k) {
    SCOPED_TRACE("crash after journal record " + std::to_string(k));
    Sandbox s;
    CommandResult crash = s.baton_cmd("switchover", {{"BATON_CRASH_AFTER_RECORD", std::to_string(k)}});
    ASSERT_TRUE(killed(crash)) << crash.exit_code << crash.err;
    ASSERT_EQ(s.records().size(), k);
    std::vector<Json> at_crash = s.records();
    const std::string last_event = at_crash.back().str("event");
    const bool handover_in_flight = (last_event == "step_started" || last_event == "step_process") &&
                                    at_crash.back().str("step") == "count-handover";
    // A step Baton was killed in may still run (its own process group):
    // resume waits for it, it never starts a second copy.
    CommandResult r = s.baton_once_idle("resume");  // waits for the step Baton left
    // Killed after the step's process was seen: that copy ran on alone and
    // counted the handover; resume only asks once it has ended.
    const bool orphan_ran = handover_in_flight && last_event == "step_process";
    if (handover_in_flight) {
      // Not idempotent: the operator must say so, and nothing runs until then.
      EXPECT_EQ(r.exit_code, 4) << r.err;
      EXPECT_NE(r.err.find("count-handover"), std::string::npos) << r.err;
      EXPECT_EQ(s.handovers(), orphan_ran ? 1 : 0);
      r = s.baton_cmd("resume --yes");
    }
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EndState e = end_state(s);
    if (orphan_ran) e.handovers -= 1;  // The operator chose to run it again.
    EXPECT_TRUE(e == reference) << "roles " << e.roles << " handovers " << e.handovers;
    EXPECT_EQ(story(s.records()), reference_story);
  }
}

TEST(Resume, KillInTheMiddleOfALongStep) {
  Sandbox s;
  std::string cmd = "LONG_STEP=3 " + baton() + " switchover " + shell_quote(s.rb) + " --state-dir " +
                    shell_quote(s.state) + " >/dev/null 2>&1 & echo $!";
  CommandResult bg = sh(cmd, s.env);
  pid_t pid = std::stoi(bg.out);
  // Wait until the long step is announced in the journal, then kill.
  bool started = false;
  for (int i = 0; i < 200 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    for (const Json& j : s.records())
      started = started || (j.str("event") == "step_started" && j.str("step") == "long-step");
  }
  ASSERT_TRUE(started);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0 && !sh("grep -q '^State:.*Z' /proc/" + std::to_string(pid) + "/status").exit_code; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The journal knows what was in flight.
  RunState st = rebuild_state(s.records(), Roles{"main", "dr", ""});
  EXPECT_EQ(st.in_flight, std::set<std::string>{"long-step"});
  CommandResult status = s.baton_cmd("status");
  EXPECT_NE(status.out.find("interrupted in verify_sync"), std::string::npos) << status.out;
  // The step Baton left behind still runs in its own process group: no
  // second copy may start until it ends.
  CommandResult busy = s.baton_cmd("resume");
  EXPECT_EQ(busy.exit_code, 1) << busy.out << busy.err;
  EXPECT_NE(busy.err.find("step long-step of the stopped run is still running on dr.app (process group "),
            std::string::npos) << busy.err;
  CommandResult r = s.baton_once_idle("resume");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EndState e = end_state(s);
  EXPECT_EQ(e.handovers, 1);
  EXPECT_TRUE(e.nothing_lost);
  EXPECT_TRUE(e.app_on_dr);
  EXPECT_NE(e.roles.find("source=dr"), std::string::npos);
}

TEST(Resume, AnAbortWaitsForAStepBatonLeftRunning) {
  Sandbox s;
  std::string cmd = "LONG_STEP=3 " + baton() + " switchover " + shell_quote(s.rb) + " --state-dir " +
                    shell_quote(s.state) + " >/dev/null 2>&1 & echo $!";
  pid_t pid = std::stoi(sh(cmd, s.env).out);
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    for (const Json& j : s.records()) seen = seen || (j.str("event") == "step_process" && j.str("step") == "long-step");
  }
  ASSERT_TRUE(seen);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The roles an abort records could change under a step still running.
  CommandResult busy = s.baton_cmd("resume --abort --yes");
  EXPECT_EQ(busy.exit_code, 1) << busy.out << busy.err;
  EXPECT_NE(busy.err.find("step long-step of the stopped run is still running"), std::string::npos) << busy.err;
  CommandResult r = s.baton_once_idle("resume --abort --yes");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(summarize("x", s.records()).state, "aborted");
}

TEST(Resume, TornLastJournalLineIsToleratedWithAWarning) {
  Sandbox s;
  CommandResult crash = s.baton_cmd("switchover", {{"BATON_CRASH_AFTER_RECORD", "20"}});
  ASSERT_TRUE(killed(crash));
  std::ofstream(s.journal(), std::ios::app) << "{\"event\":\"step_sta";  // Torn mid-write.
  JournalRead jr = read_journal(s.journal());
  EXPECT_EQ(jr.records.size(), 20u);
  EXPECT_NE(jr.warning.find("torn record"), std::string::npos);
  EXPECT_TRUE(jr.error.empty());
  CommandResult r = s.baton_once_idle("resume");  // waits for the step Baton left
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(end_state(s).handovers, 1);
  // The torn line stays where it was; later records still read.
  jr = read_journal(s.journal());
  EXPECT_TRUE(jr.error.empty()) << jr.error;
  EXPECT_EQ(story(jr.records).back(), "finished completed");
}

TEST(Resume, DamagedRecordInTheMiddleIsAnError) {
  TempDir d;
  std::string p = d.path + "/j.jsonl";
  write(p, "{\"event\":\"run_started\"}\n{garbage\n{\"event\":\"phase_entered\"}\n");
  JournalRead jr = read_journal(p);
  EXPECT_NE(jr.error.find(":2: damaged"), std::string::npos) << jr.error;
}

TEST(Resume, ConcurrentRunIsRefusedWithExitFiveNamingTheHolder) {
  Sandbox s;
  std::string cmd = "LONG_STEP=3 " + baton() + " switchover " + shell_quote(s.rb) + " --state-dir " +
                    shell_quote(s.state) + " >/dev/null 2>&1 & echo $!";
  pid_t pid = std::stoi(sh(cmd, s.env).out);
  bool started = false;
  for (int i = 0; i < 200 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    for (const Json& j : s.records()) started = started || j.str("step") == "long-step";
  }
  ASSERT_TRUE(started);
  CommandResult second = s.baton_cmd("drill");
  EXPECT_EQ(second.exit_code, 5);
  EXPECT_NE(second.err.find("pid " + std::to_string(pid)), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("switchover started"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("user "), std::string::npos) << second.err;
  EXPECT_EQ(s.baton_cmd("resume").exit_code, 5);
  // The first one finishes undisturbed.
  for (int i = 0; i < 400 && ::kill(pid, 0) == 0; ++i) {
    if (sh("grep -q '^State:.*Z' /proc/" + std::to_string(pid) + "/status").exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(summarize("x", s.records()).state, "completed");
}

TEST(Resume, SwitchoverRefusedWhileASideIsStale) {
  Sandbox s;
  CommandResult f = s.baton_cmd("failover --yes");
  ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
  EXPECT_NE(read(s.state + "/local-example/roles").find("stale=main"), std::string::npos);
  CommandResult sw = s.baton_cmd("switchover");
  EXPECT_EQ(sw.exit_code, 3);
  EXPECT_NE(sw.err.find("reverse-sync"), std::string::npos) << sw.err;
  CommandResult dj = s.baton_cmd("drill --json");
  EXPECT_EQ(dj.exit_code, 3);
  EXPECT_NE(dj.out.find("\"event\":\"run_finished\""), std::string::npos) << dj.out;  // JSON readers see it.
  EXPECT_NE(dj.out.find("\"status\":\"refused\""), std::string::npos) << dj.out;
  EXPECT_NE(s.baton_cmd("history").out.find("refused"), std::string::npos);  // On record for the audit.
  EXPECT_NE(s.baton_cmd("status").out.find("stale     "), std::string::npos);
  CommandResult rs = s.baton_cmd("reverse-sync");
  ASSERT_EQ(rs.exit_code, 0) << rs.out << rs.err;
  EXPECT_NE(read(s.state + "/local-example/roles").find("stale=\n"), std::string::npos);
  CommandResult back = s.baton_cmd("switchover");
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_NE(read(s.state + "/local-example/roles").find("source=main"), std::string::npos);
}

TEST(Resume, ChangedRunbookIsRefusedUnlessForced) {
  Sandbox s;
  ASSERT_TRUE(killed(s.baton_cmd("switchover", {{"BATON_CRASH_AFTER_RECORD", "15"}})));
  std::ofstream(s.rb, std::ios::app) << "\n# edited after the crash\n";
  CommandResult r = s.baton_cmd("resume");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("runbook changed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  CommandResult forced = s.baton_cmd("resume --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_EQ(end_state(s).handovers, 1);
}

TEST(Resume, FailedRunRetriesFromTheFailedStepOrRollsBack) {
  Sandbox s;
  // Fail verify_sync once: the checksum no longer matches.
  std::string rb = read(s.rb);
  std::ofstream(s.rb, std::ios::app) << R"(
[[step]]
id = "gate"
phase = "verify_sync"
on = "target"
run = 'test -f "$BATON_EXAMPLE_ROOT/gate-open"'
)";
  CommandResult r = s.baton_cmd("switchover");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("step gate failed on dr.app"), std::string::npos) << r.err;
  EXPECT_EQ(s.baton_cmd("switchover").exit_code, 3);  // The failed run waits.
  write(s.root + "/gate-open", "");
  CommandResult resumed = s.baton_cmd("resume");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  // Finished steps of the failed phase don't run again.
  EXPECT_NE(resumed.out.find("target-has-everything        already done"), std::string::npos) << resumed.out;
  EXPECT_EQ(end_state(s).handovers, 1);
  // Stop-app ran exactly once in the whole journal.
  int stops = 0;
  for (const Json& j : s.records()) stops += j.str("event") == "step_started" && j.str("step") == "stop-app";
  EXPECT_EQ(stops, 1);
}

TEST(Resume, RollbackOfAFailedRunUndoesNewestFirst) {
  Sandbox s;
  std::ofstream(s.rb, std::ios::app) << R"(
[[step]]
id = "gate"
phase = "verify"
on = "source"
run = 'false'
)";
  ASSERT_EQ(s.baton_cmd("switchover").exit_code, 1);
  CommandResult r = s.baton_cmd("resume --rollback");
  EXPECT_EQ(r.exit_code, 1);  // Rolled back: the operation did not happen.
  std::vector<std::string> undos;
  for (const Json& j : s.records())
    if (j.flag("rollback") && j.str("event") == "step_finished") undos.push_back(j.str("step"));
  EXPECT_EQ(undos, (std::vector<std::string>{"start-app", "count-handover", "activate-target", "stop-app"}));
  EXPECT_EQ(s.handovers(), 0);
  EXPECT_EQ(summarize("x", s.records()).state, "rolled_back");
  EXPECT_EQ(read(s.root + "/active"), "main\n");
  EXPECT_NE(read(s.state + "/local-example/roles").find("source=main"), std::string::npos) << r.out;
  EXPECT_TRUE(app_running(s.root, "main"));
  EXPECT_FALSE(app_running(s.root, "dr"));
}

TEST(Resume, StateDirectoryIsPrivate) {
  Sandbox s;
  ASSERT_EQ(s.baton_cmd("drill").exit_code, 0);
  struct stat st {};
  ASSERT_EQ(::stat((s.state + "/local-example").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((s.state + "/local-example/runs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(s.journal().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Resume, HistoryAndReportTellTheRuns) {
  Sandbox s;
  ASSERT_EQ(s.baton_cmd("drill").exit_code, 0);
  ASSERT_EQ(s.baton_cmd("switchover").exit_code, 0);
  CommandResult h = s.baton_cmd("history");
  EXPECT_NE(h.out.find("drill"), std::string::npos);
  EXPECT_NE(h.out.find("switchover"), std::string::npos);
  EXPECT_NE(h.out.find("met (1m 00s)"), std::string::npos) << h.out;
  CommandResult hj = s.baton_cmd("history --json");
  EXPECT_EQ(hj.out.front(), '[');
  EXPECT_NE(hj.out.find("\"operation\":\"switchover\""), std::string::npos);
  CommandResult rep = s.baton_cmd("report");
  EXPECT_NE(rep.out.find("activate-target"), std::string::npos) << rep.out;
  CommandResult sj = s.baton_cmd("status --json");
  EXPECT_NE(sj.out.find("\"source\":\"dr\""), std::string::npos) << sj.out;
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(Resume, WaitingRunBlocksEvenADrillAndAbortEndsIt) {
  Sandbox s;
  ASSERT_TRUE(killed(s.baton_cmd("switchover", {{"BATON_CRASH_AFTER_RECORD", "25"}})));
  CommandResult d = s.baton_cmd("drill");
  EXPECT_EQ(d.exit_code, 3) << d.err;
  EXPECT_NE(d.err.find("waits"), std::string::npos) << d.err;
  CommandResult a = s.baton_once_idle("resume --abort");  // waits for the step Baton left
  EXPECT_EQ(a.exit_code, 0) << a.out << a.err;
  EXPECT_NE(a.err.find("aborted"), std::string::npos) << a.err;
  EXPECT_EQ(a.err.find("error"), std::string::npos) << a.err;
  // What the abort leaves as it is, by step and host: the application is stopped.
  EXPECT_NE(a.err.find("were not undone; see to them by hand:\n  stop-app on main."), std::string::npos) << a.err;
  EXPECT_EQ(summarize("x", s.records()).state, "aborted");
  EXPECT_EQ(s.baton_cmd("drill").exit_code, 0);  // No longer waiting.
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(Resume, AfterAFailedUndoOnlyRollbackOrAbortMayGoOn) {
  Sandbox s;
  std::ofstream(s.rb, std::ios::app) << R"(
[[step]]
id = "guarded"
phase = "verify_sync"
on = "target"
run = "true"
undo = 'test ! -e "$BATON_EXAMPLE_ROOT/block-undo"'

[[step]]
id = "gate"
phase = "verify"
on = "source"
run = 'false'
)";
  ASSERT_EQ(s.baton_cmd("switchover").exit_code, 1);
  write(s.root + "/block-undo", "");
  CommandResult rb1 = s.baton_cmd("resume --rollback");
  EXPECT_EQ(rb1.exit_code, 1);
  EXPECT_NE(rb1.err.find("undo of step guarded failed"), std::string::npos) << rb1.err;
  EXPECT_NE(rb1.err.find("--rollback` goes on undoing"), std::string::npos) << rb1.err;
  // Going forward now would redo work half undone.
  CommandResult fwd = s.baton_cmd("resume");
  EXPECT_EQ(fwd.exit_code, 2);
  EXPECT_NE(fwd.err.find("rollback"), std::string::npos) << fwd.err;
  ::unlink((s.root + "/block-undo").c_str());
  CommandResult rb2 = s.baton_cmd("resume --rollback");
  EXPECT_EQ(rb2.exit_code, 1) << rb2.err;  // Rolled back: the switchover did not happen.
  EXPECT_EQ(summarize("x", s.records()).state, "rolled_back");
  EXPECT_EQ(read(s.root + "/active"), "main\n");
}

TEST(Resume, OnlyTheLatestRunCanBeResumed) {
  Sandbox s;
  ASSERT_EQ(s.baton_cmd("drill").exit_code, 0);
  std::string first = list_runs(s.state + "/local-example").back();
  ASSERT_EQ(s.baton_cmd("switchover").exit_code, 0);
  CommandResult r = s.baton_cmd("resume --run " + first);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not the latest run"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(Resume, ADamagedJournalIsNamedAndOnlyAnAbortClosesIt) {
  Sandbox s;
  CommandResult crash = s.baton_cmd("switchover", {{"BATON_CRASH_AFTER_RECORD", "30"}});
  ASSERT_TRUE(killed(crash));
  // A record in the middle is damaged (a disk error, a bad edit).
  std::string text = read(s.journal());
  size_t at = text.find("\"event\":\"phase_entered\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 8, "\x01garbage");
  write(s.journal(), text);
  const std::string path = s.journal();
  CommandResult st = s.baton_cmd("status");
  EXPECT_EQ(st.exit_code, 3) << st.out;
  EXPECT_NE(st.out.find("its journal is damaged"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(": damaged journal record"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("--abort"), std::string::npos) << st.out;
  CommandResult op = s.baton_cmd("drill");
  EXPECT_EQ(op.exit_code, 3) << op.err;
  EXPECT_NE(op.err.find("--abort"), std::string::npos) << op.err;
  CommandResult fwd = s.baton_cmd("resume");
  EXPECT_EQ(fwd.exit_code, 1) << fwd.err;
  EXPECT_NE(fwd.err.find("damaged"), std::string::npos) << fwd.err;
  EXPECT_EQ(s.baton_cmd("resume --abort").exit_code, 4);  // Asks first.
  CommandResult ab = s.baton_cmd("resume --abort --yes");
  EXPECT_EQ(ab.exit_code, 0) << ab.out << ab.err;
  EXPECT_TRUE(exists(path + ".damaged"));
  EXPECT_EQ(read(path + ".damaged"), text);  // Kept as it was, for inspection.
  st = s.baton_cmd("status");
  EXPECT_NE(st.out.find("aborted"), std::string::npos) << st.out;
  CommandResult next = s.baton_cmd("drill");  // No longer blocked by the damaged run.
  EXPECT_EQ(next.err.find("damaged"), std::string::npos) << next.err;
  EXPECT_EQ(next.err.find("waits"), std::string::npos) << next.err;
}

}  // namespace
}  // namespace baton
