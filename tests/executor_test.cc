// The executor: phase and step order, retries, timeouts, expectations,
// captures, groups, failure policies, drills, confirmations, roles, events.
// Most tests use a FakeAgent that records what it was asked to run; a few go
// end to end through the real LocalAgent and /bin/sh.
#include "orchestrator/executor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "agents/local_agent.h"
#include "runbooks/loader.h"
#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/baton-executor-test-XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  std::string file(const std::string& n) const { return path_ + "/" + n; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

Strings phase_names(Operation op) {
  Strings v;
  for (Phase p : phase_sequence(op)) v.emplace_back(name(p));
  return v;
}

// ---------------------------------------------------------------- order

// One or two steps in every phase, written out of order. Each step's run
// text is its id, so the fake's log reads as the step sequence.
const std::string kAllPhases = kHeader + R"(
[[step]]
id = "verify-1"
phase = "verify"
on = "source"
run = "verify-1"
drill = "run"

[[step]]
id = "cleanup-1"
phase = "cleanup"
on = "target"
run = "cleanup-1"

[[step]]
id = "promote-1"
phase = "promote"
on = "target"
run = "promote-1"
drill = "run"

[[step]]
id = "reverse-1"
phase = "reverse_sync"
on = "target"
run = "reverse-1"

[[step]]
id = "pre-1"
phase = "preflight"
on = "target"
run = "pre-1"

[[step]]
id = "fence-1"
phase = "fence"
on = "source"
run = "fence-1"

[[step]]
id = "stop-1"
phase = "stop_replication"
on = "target"
run = "stop-1"
drill = "run"

[[step]]
id = "quiesce-1"
phase = "quiesce"
on = "source"
run = "quiesce-1"
drill = "run"

[[step]]
id = "verify-2"
phase = "verify"
on = "source"
run = "verify-2"
drill = "run"

[[step]]
id = "sync-1"
phase = "verify_sync"
on = "target"
run = "sync-1"
drill = "run"

[[step]]
id = "start-1"
phase = "start_apps"
on = "source"
run = "start-1"
drill = "run"

[[step]]
id = "pre-2"
phase = "preflight"
on = "source"
run = "pre-2"
)";

TEST(ExecutorOrder, Switchover) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
  EXPECT_EQ(h.world.scripts(), (Strings{"pre-1", "pre-2", "quiesce-1", "stop-1", "sync-1", "promote-1",
                                        "start-1", "verify-1", "verify-2", "reverse-1"}));
  EXPECT_EQ(h.sink.phases_entered(), phase_names(Operation::switchover));
  EXPECT_EQ(h.sink.phases_entered(),
            (Strings{"preflight", "quiesce", "stop_replication", "verify_sync", "promote", "start_apps",
                     "verify", "reverse_sync"}));
}

TEST(ExecutorOrder, Failover) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  RunResult r = h.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
  EXPECT_EQ(h.world.scripts(), (Strings{"pre-1", "pre-2", "fence-1", "stop-1", "sync-1", "promote-1",
                                        "start-1", "verify-1", "verify-2"}));
  EXPECT_EQ(h.sink.phases_entered(),
            (Strings{"preflight", "fence", "stop_replication", "verify_sync", "promote", "start_apps",
                     "verify"}));
}

TEST(ExecutorOrder, ReverseSync) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  RunResult r = h.run(rb, Operation::reverse_sync);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
  EXPECT_EQ(h.world.scripts(), (Strings{"pre-1", "pre-2", "reverse-1"}));
  EXPECT_EQ(h.sink.phases_entered(), (Strings{"preflight", "reverse_sync"}));
}

TEST(ExecutorOrder, Drill) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  RunResult r = h.run(rb, Operation::drill);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
  EXPECT_EQ(h.world.scripts(), (Strings{"pre-1", "pre-2", "quiesce-1", "stop-1", "sync-1", "promote-1",
                                        "start-1", "verify-1", "verify-2", "cleanup-1"}));
  EXPECT_EQ(h.sink.phases_entered(), phase_names(Operation::drill));
}

TEST(ExecutorOrder, OneAgentPerHostMadeOnFirstUse) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  h.run(rb, Operation::switchover);
  EXPECT_EQ(h.agents_made, 2);  // main.db and dr.db, each reused for every step.
}

// ---------------------------------------------------------------- retries

std::string retry_runbook(int retries) {
  return kHeader + R"(
[[step]]
id = "wait-standby"
phase = "verify_sync"
on = "target"
run = "check-lag"
retries = )" + std::to_string(retries) + R"(
retry_delay = "100ms"

[[step]]
id = "after"
phase = "promote"
on = "target"
run = "after"
)";
}

TEST(ExecutorRetries, FailsTwiceThenSucceeds) {
  LOAD_RUNBOOK(rb, retry_runbook(3));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int attempt) {
    if (s == "check-lag" && attempt < 3) return exited(1, "", "lag 42");
    return exited(0);
  });
  auto t0 = Clock::now();
  RunResult r = h.run(rb, Operation::switchover);
  const long long took = ms_since(t0);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_GE(took, 200);  // Two delays of 100 ms.
  EXPECT_LT(took, 2000);
  ASSERT_EQ(h.world.calls_of("check-lag").size(), 3u);
  EXPECT_EQ(h.world.calls_of("after").size(), 1u);
  auto fin = h.sink.finished_of("wait-standby");
  ASSERT_EQ(fin.size(), 3u);
  EXPECT_EQ(fin[0].status, "retry");
  EXPECT_EQ(fin[1].status, "retry");
  EXPECT_EQ(fin[2].status, "ok");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fin[i].attempt, i + 1);
    EXPECT_EQ(fin[i].max_attempts, 4);
  }
  // The delay is between attempts.
  auto calls = h.world.calls_of("check-lag");
  for (size_t i = 1; i < calls.size(); ++i)
    EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(calls[i].start - calls[i - 1].end).count(),
              95);
}

TEST(ExecutorRetries, RunsOutOfAttempts) {
  LOAD_RUNBOOK(rb, retry_runbook(1));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int attempt) {
    if (s == "check-lag" && attempt < 3) return exited(1, "", "lag 42");
    return exited(0);
  });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_TRUE(contains(r.message, "wait-standby")) << r.message;
  EXPECT_TRUE(contains(r.message, "lag 42")) << r.message;  // stderr tail explains it
  EXPECT_EQ(h.world.calls_of("check-lag").size(), 2u);
  EXPECT_TRUE(h.world.calls_of("after").empty());
  auto fin = h.sink.finished_of("wait-standby");
  ASSERT_EQ(fin.size(), 2u);
  EXPECT_EQ(fin[0].status, "retry");
  EXPECT_EQ(fin[1].status, "failed");
}

// ---------------------------------------------------------------- timeouts

TEST(ExecutorTimeout, LocalSleepIsKilled) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "slow"
phase = "quiesce"
on = "source"
run = "sleep 5"
timeout = "300ms"

[[step]]
id = "never"
phase = "stop_replication"
on = "source"
run = "echo never"
)");
  LocalHarness h;
  auto t0 = Clock::now();
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_LT(ms_since(t0), 2500);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_TRUE(contains(r.message, "timed out")) << r.message;
  auto fin = h.sink.finished_of("slow");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].status, "timed_out");
  EXPECT_TRUE(contains(fin[0].reason, "timed out")) << fin[0].reason;
  EXPECT_TRUE(h.sink.finished_of("never").empty());
}

// ---------------------------------------------------------------- expectations

// A one-step runbook whose step has `keys`, run against a fake answering `res`.
RunResult run_expectation(const std::string& keys, CommandResult res, std::string* reason) {
  LoadResult lr = load_runbook_text(kHeader + R"(
[[step]]
id = "check"
phase = "quiesce"
on = "source"
run = "check"
)" + keys,
                                    "rb.toml");
  EXPECT_TRUE(lr.ok()) << diagnostics(lr);
  Harness h;
  h.world.respond([res](const std::string&, const Command&, int) { return res; });
  RunResult r = h.run(lr.runbook, Operation::switchover);
  auto fin = h.sink.finished_of("check");
  if (!fin.empty()) *reason = fin.back().reason;
  return r;
}

TEST(ExecutorExpectations, ExpectExit) {
  std::string why;
  EXPECT_EQ(run_expectation("expect_exit = 3\n", exited(3), &why).exit_code, 0) << why;
  RunResult r = run_expectation("expect_exit = 3\n", exited(0), &why);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(why, "exit code 0, expected 3")) << why;
  // Default: 0 expected; anything else fails.
  r = run_expectation("", exited(2, "", "disk full"), &why);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(why, "exit code 2")) << why;
  EXPECT_TRUE(contains(why, "disk full")) << why;
}

TEST(ExecutorExpectations, ExpectStdoutIsTrimmed) {
  std::string why;
  EXPECT_EQ(run_expectation("expect_stdout = \"t\"\n", exited(0, "  t \n"), &why).exit_code, 0) << why;
  RunResult r = run_expectation("expect_stdout = \"t\"\n", exited(0, "f\n"), &why);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(why, "expected \"t\"")) << why;
  EXPECT_TRUE(contains(why, "\"f\"")) << why;
  // Not a substring match.
  EXPECT_EQ(run_expectation("expect_stdout = \"t\"\n", exited(0, "tt\n"), &why).exit_code, 1);
}

TEST(ExecutorExpectations, ExpectMatchRegex) {
  std::string why;
  EXPECT_EQ(run_expectation("expect_match = 'lag=[0-9]+ ms'\n", exited(0, "state: streaming\nlag=42 ms\n"), &why)
                .exit_code,
            0)
      << why;
  RunResult r = run_expectation("expect_match = 'lag=[0-9]+ ms'\n", exited(0, "lag=unknown\n"), &why);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(why, "does not match")) << why;
  // Anchors work on command output, which ends in a newline.
  EXPECT_EQ(run_expectation("expect_match = \"^t$\"\n", exited(0, "t\n"), &why).exit_code, 0) << why;
  EXPECT_EQ(run_expectation("expect_match = \"^t$\"\n", exited(0, "f\n"), &why).exit_code, 1);
  // Exit code still matters with a regex.
  EXPECT_EQ(run_expectation("expect_match = 'ok'\n", exited(1, "ok\n"), &why).exit_code, 1);
}

TEST(ExecutorExpectations, CheckExpectationsDirectly) {
  Step s;
  CommandResult r = exited(0, "\n  streaming \n");
  EXPECT_EQ(check_expectations(s, r), "");
  s.expect_stdout = "streaming";
  EXPECT_EQ(check_expectations(s, r), "");
  s.expect_stdout = "stream";
  EXPECT_NE(check_expectations(s, r), "");
  s.expect_stdout.reset();
  s.expect_match = Pattern::compile("stream");
  EXPECT_EQ(check_expectations(s, r), "");
  // ^ and $ work per line, like grep: psql -At prints "t\n".
  s.expect_match = Pattern::compile("^t$");
  EXPECT_EQ(check_expectations(s, exited(0, "t\n")), "");
  EXPECT_NE(check_expectations(s, exited(0, "tt\n")), "");
  EXPECT_NE(check_expectations(s, exited(0, "f\n")), "");
  s.expect_match = Pattern::compile("^lag=0$");
  EXPECT_EQ(check_expectations(s, exited(0, "state=streaming\nlag=0\n")), "");
  s.expect_match = Pattern::compile("[0-9]");
  EXPECT_NE(check_expectations(s, r), "");
  s.expect_match.reset();
  s.expect_exit = 1;
  EXPECT_NE(check_expectations(s, r), "");
  EXPECT_EQ(check_expectations(s, exited(1)), "");
}

TEST(ExecutorExpectations, ExpectMatchIsLinearOnHugeOutput) {
  // std::regex recursed per character (a 30 KB line crashed Baton) and
  // backtracked exponentially; RE2 does neither.
  Step s;
  s.expect_match = Pattern::compile("^([a-z]|[0-9])+$");
  ASSERT_TRUE(s.expect_match);
  const auto t0 = Clock::now();
  EXPECT_EQ(check_expectations(s, exited(0, std::string(1 << 20, 'a') + "\n")), "");
  s.expect_match = Pattern::compile("^(a*)*b$");
  EXPECT_NE(check_expectations(s, exited(0, std::string(30000, 'a'))), "");
  EXPECT_LT(ms_since(t0), 2000);
}

// ---------------------------------------------------------------- capture

TEST(ExecutorCapture, ValueReachesLaterStepsAsVariable) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "before"
phase = "quiesce"
on = "source"
run = "before"

[[step]]
id = "stop-primary"
phase = "stop_replication"
on = "source"
run = "stop-primary"
capture = "checkpoint_lsn"

[[step]]
id = "standby-has-checkpoint"
phase = "verify_sync"
on = "target"
run = "standby-has-checkpoint"

[[step]]
id = "much-later"
phase = "verify"
on = "source"
run = "much-later"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) {
    if (s == "stop-primary") return exited(0, "  0/3000060 \n");
    return exited(0);
  });
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  ASSERT_EQ(h.world.calls_of("standby-has-checkpoint").size(), 1u);
  EXPECT_EQ(h.world.calls_of("standby-has-checkpoint")[0].var("checkpoint_lsn"), "0/3000060");
  EXPECT_EQ(h.world.calls_of("much-later")[0].var("checkpoint_lsn"), "0/3000060");
  EXPECT_FALSE(h.world.calls_of("before")[0].var("checkpoint_lsn").has_value());
  EXPECT_FALSE(h.world.calls_of("stop-primary")[0].var("checkpoint_lsn").has_value());
  auto fin = h.sink.finished_of("stop-primary");
  ASSERT_EQ(fin.size(), 1u);
  ASSERT_EQ(fin[0].captures.size(), 1u);
  EXPECT_EQ(fin[0].captures[0], (std::pair<std::string, std::string>("checkpoint_lsn", "0/3000060")));
}

TEST(ExecutorCapture, LaterCaptureReplacesEarlier) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "one"
phase = "quiesce"
on = "source"
run = "one"
capture = "x"

[[step]]
id = "two"
phase = "stop_replication"
on = "source"
run = "two"
capture = "x"

[[step]]
id = "three"
phase = "verify_sync"
on = "source"
run = "three"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(0, s == "one" ? "first" : "second"); });
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  auto c = h.world.calls_of("three");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].var("x"), "second");
  int n = 0;
  for (const auto& kv : c[0].cmd.vars) n += kv.first == "x";
  EXPECT_EQ(n, 1) << "one variable, not two assignments";
}

TEST(ExecutorCapture, FailedStepCapturesNothing) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "one"
phase = "quiesce"
on = "source"
run = "one"
capture = "x"
on_failure = "continue"

[[step]]
id = "two"
phase = "stop_replication"
on = "source"
run = "two"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "one" ? 1 : 0, "partial"); });
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  EXPECT_FALSE(h.world.calls_of("two")[0].var("x").has_value());
}

TEST(ExecutorCapture, NulInCapturedOutputDoesNotBreakLaterSteps) {
  // find -print0 style output: shells drop NUL bytes, and so must Baton,
  // rather than cut every later step's script at the NUL.
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "produce"
phase = "quiesce"
on = "source"
run = '''printf 'one\000two' '''
capture = "files"

[[step]]
id = "consume"
phase = "stop_replication"
on = "target"
run = '''printf '[%s]' "$files"'''
expect_stdout = "[onetwo]"
)");
  LocalHarness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

TEST(ExecutorCapture, LocalEndToEnd) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "produce"
phase = "quiesce"
on = "source"
run = '''echo '  0/ABC;$(id) `id`  ' '''
capture = "lsn"

[[step]]
id = "consume"
phase = "stop_replication"
on = "target"
run = '''printf '[%s]' "$lsn"'''
expect_stdout = '[0/ABC;$(id) `id`]'
)");
  LocalHarness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  auto fin = h.sink.finished_of("consume");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].status, "ok") << fin[0].reason;
  EXPECT_EQ(fin[0].out_tail, "[0/ABC;$(id) `id`]");
}

TEST(ExecutorVars, BuiltinVariables) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[vars]
pgdata = "/var/lib/pg"
port = 5432

[[step]]
id = "s"
phase = "quiesce"
on = "source"
run = "s"
)");
  Harness h;
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  FakeCall c = h.world.calls_of("s").at(0);
  EXPECT_EQ(c.var("pgdata"), "/var/lib/pg");
  EXPECT_EQ(c.var("port"), "5432");
  EXPECT_EQ(c.var("BATON_OPERATION"), "switchover");
  EXPECT_EQ(c.var("BATON_RUN_ID"), "run-1");
  EXPECT_EQ(c.var("BATON_RUNBOOK"), "rb");
  EXPECT_EQ(c.var("BATON_SOURCE_SITE"), "main");
  EXPECT_EQ(c.var("BATON_TARGET_SITE"), "dr");
  EXPECT_EQ(c.var("BATON_DRILL"), "0");
}

TEST(ExecutorVars, HostVarsAndTheOtherSidesVars) {
  LOAD_RUNBOOK(rb, R"(
[runbook]
name = "rb"
[sites.main.hosts.db]
address = "10.0.0.1"
[sites.main.hosts.db.vars]
pgport = "5433"
[sites.dr.hosts.db]
address = "10.0.0.2"
[sites.dr.hosts.db.vars]
pgport = "5434"
[replication]
source = "main"
target = "dr"

[[step]]
id = "before"
phase = "quiesce"
on = "target"
run = "before"

[[step]]
id = "after"
phase = "reverse_sync"
on = "target"
run = "after"
)");
  Harness h;
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  FakeCall before = h.world.calls_of("before").at(0);
  EXPECT_EQ(before.var("pgport"), "5434");  // dr's own
  EXPECT_EQ(before.var("BATON_HOST"), "dr.db");
  EXPECT_EQ(before.var("BATON_SOURCE_ADDRESS"), "10.0.0.1");
  EXPECT_EQ(before.var("source_pgport"), "5433");
  EXPECT_EQ(before.var("target_pgport"), "5434");
  // After the promote, the old source (main) is the target, and follows dr.
  FakeCall after = h.world.calls_of("after").at(0);
  EXPECT_EQ(after.var("BATON_HOST"), "main.db");
  EXPECT_EQ(after.var("pgport"), "5433");
  EXPECT_EQ(after.var("BATON_SOURCE_ADDRESS"), "10.0.0.2");
  EXPECT_EQ(after.var("source_pgport"), "5434");
}

TEST(ExecutorVars, HostileValueIsPlainDataEndToEnd) {
  TempDir d;
  ASSERT_FALSE(d.path().empty());
  const std::string marker = d.file("x");
  const std::string value = "'; touch " + marker + "; echo '$(id)";
  LOAD_RUNBOOK(rb, kHeader + "\n[vars]\nv = \"" + value + "\"\n" + R"(
[[step]]
id = "echo"
phase = "quiesce"
on = "source"
run = 'echo "$v"'

[[step]]
id = "child"
phase = "stop_replication"
on = "source"
run = '''sh -c 'printf "%s" "$v"' '''
)");
  ASSERT_EQ(rb.vars.size(), 1u);
  ASSERT_EQ(rb.vars[0].second, value);
  LocalHarness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  auto fin = h.sink.finished_of("echo");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].out_tail, value);
  fin = h.sink.finished_of("child");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].out_tail, value);
  EXPECT_FALSE(exists(marker)) << "a value in [vars] ran as a command";
}

// ---------------------------------------------------------------- groups

const std::string kTwoHostSites = R"(
[runbook]
name = "rb"

[sites.main.hosts.db]
address = "local"

[sites.main.hosts.app]
address = "local"

[sites.dr.hosts.db]
address = "local"

[sites.dr.hosts.app]
address = "local"

[replication]
source = "main"
target = "dr"
)";

std::string sleeper_pair(const std::string& group_line) {
  return kHeader + R"(
[[step]]
id = "a"
phase = "quiesce"
on = "main"
run = "sleep 1"
)" + group_line + R"(
[[step]]
id = "b"
phase = "quiesce"
on = "dr"
run = "sleep 1"
)" + group_line;
}

TEST(ExecutorGroups, SameGroupRunsInParallel) {
  LOAD_RUNBOOK(rb, sleeper_pair("group = \"stop\"\n"));
  LocalHarness h;
  auto t0 = Clock::now();
  RunResult r = h.run(rb, Operation::switchover);
  const long long took = ms_since(t0);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_GE(took, 1000);
  EXPECT_LT(took, 1700);
  EXPECT_EQ(h.sink.finished_of("a").size(), 1u);
  EXPECT_EQ(h.sink.finished_of("b").size(), 1u);
}

TEST(ExecutorGroups, WithoutGroupSequential) {
  LOAD_RUNBOOK(rb, sleeper_pair(""));
  LocalHarness h;
  auto t0 = Clock::now();
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_GE(ms_since(t0), 2000);
}

TEST(ExecutorGroups, GroupRunsAtFirstMemberThenTheRest) {
  LOAD_RUNBOOK(rb, kTwoHostSites + R"(
[[step]]
id = "g1"
phase = "quiesce"
on = "main.db"
run = "g1"
group = "g"

[[step]]
id = "lone"
phase = "quiesce"
on = "main.db"
run = "lone"

[[step]]
id = "g2"
phase = "quiesce"
on = "main.app"
run = "g2"
group = "g"
)");
  Harness h;
  h.world.respond_by_script([](const std::string&, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    return exited(0);
  });
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  FakeCall g1 = h.world.calls_of("g1").at(0), g2 = h.world.calls_of("g2").at(0),
           lone = h.world.calls_of("lone").at(0);
  // g1 and g2 overlap; lone starts after both.
  EXPECT_LT(g1.start, g2.end);
  EXPECT_LT(g2.start, g1.end);
  EXPECT_GE(lone.start, g1.end);
  EXPECT_GE(lone.start, g2.end);
}

TEST(ExecutorGroups, FailureInGroupStopsTheRun) {
  LOAD_RUNBOOK(rb, kTwoHostSites + R"(
[[step]]
id = "g1"
phase = "quiesce"
on = "main.db"
run = "g1"
group = "g"

[[step]]
id = "g2"
phase = "quiesce"
on = "main.app"
run = "g2"
group = "g"

[[step]]
id = "next"
phase = "stop_replication"
on = "source.db"
run = "next"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "g2" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(h.world.calls_of("g1").size(), 1u);  // Its group-mate still ran.
  EXPECT_TRUE(h.world.calls_of("next").empty());
  EXPECT_TRUE(contains(r.message, "g2")) << r.message;
}

TEST(ExecutorGroups, SiteWithTwoHostsRunsOnBothInParallel) {
  LOAD_RUNBOOK(rb, kTwoHostSites + R"(
[[step]]
id = "everywhere"
phase = "quiesce"
on = "source"
run = "everywhere"
)");
  Harness h;
  h.world.respond_by_script([](const std::string&, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    return exited(0);
  });
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  auto c = h.world.calls_of("everywhere");
  ASSERT_EQ(c.size(), 2u);
  Strings hosts{c[0].host, c[1].host};
  std::sort(hosts.begin(), hosts.end());
  EXPECT_EQ(hosts, (Strings{"main.app", "main.db"}));
  EXPECT_LT(c[0].start, c[1].end);
  EXPECT_LT(c[1].start, c[0].end);
}

// ---------------------------------------------------------------- on_failure

std::string failure_runbook(const std::string& policy) {
  return kHeader + R"(
[[step]]
id = "s1"
phase = "quiesce"
on = "source"
run = "s1"

[[step]]
id = "s2"
phase = "quiesce"
on = "source"
run = "s2"
on_failure = ")" + policy + R"("

[[step]]
id = "s3"
phase = "quiesce"
on = "source"
run = "s3"

[[step]]
id = "s4"
phase = "stop_replication"
on = "source"
run = "s4"
)";
}

TEST(ExecutorOnFailure, ContinueGoesOn) {
  LOAD_RUNBOOK(rb, failure_runbook("continue"));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "s2" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
  EXPECT_EQ(h.world.scripts(), (Strings{"s1", "s2", "s3", "s4"}));
  bool noted = false;
  for (const RunEvent& e : h.sink.of(EventKind::message))
    noted = noted || (e.step == "s2" && contains(e.reason, "continu"));
  EXPECT_TRUE(noted) << "the failure is told to the operator";
}

TEST(ExecutorOnFailure, AbortStops) {
  LOAD_RUNBOOK(rb, failure_runbook("abort"));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "s2" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_EQ(h.world.scripts(), (Strings{"s1", "s2"}));
  EXPECT_TRUE(contains(r.message, "s2")) << r.message;
  EXPECT_TRUE(contains(r.message, "quiesce")) << r.message;
}

TEST(ExecutorOnFailure, DefaultIsAbort) {
  LOAD_RUNBOOK(rb, failure_runbook("continue"));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "s3" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(h.world.scripts(), (Strings{"s1", "s2", "s3"}));
}

TEST(ExecutorOnFailure, RollbackUndoesNewestFirstOnOriginalHosts) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "stop-app"
phase = "quiesce"
on = "source"
run = "stop-app"
undo = "undo-stop-app"

[[step]]
id = "stop-repl"
phase = "stop_replication"
on = "source"
run = "stop-repl"
undo = "undo-stop-repl"

[[step]]
id = "check"
phase = "verify_sync"
on = "target"
run = "check"

[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"
undo = "undo-promote"

[[step]]
id = "start"
phase = "start_apps"
on = "source"
run = "start"
on_failure = "rollback"

[[step]]
id = "verify"
phase = "verify"
on = "source"
run = "verify"
undo = "undo-verify"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "start" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "rolled_back");
  // After promote, "source" is dr; undo runs where the step ran.
  EXPECT_EQ(h.world.where(),
            (Strings{"stop-app@main.db", "stop-repl@main.db", "check@dr.db", "promote@dr.db", "start@dr.db",
                     "undo-promote@dr.db", "undo-stop-repl@main.db", "undo-stop-app@main.db"}));
  int undo_events = 0;
  for (const RunEvent& e : h.sink.of(EventKind::step_finished))
    if (e.rollback) {
      ++undo_events;
      EXPECT_EQ(e.phase, "rollback");
      EXPECT_EQ(e.status, "ok");
    }
  EXPECT_EQ(undo_events, 3);
}

TEST(ExecutorOnFailure, FailedUndoLeavesRunFailed) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "one"
phase = "quiesce"
on = "source"
run = "one"
undo = "undo-one"

[[step]]
id = "two"
phase = "quiesce"
on = "source"
run = "two"
undo = "undo-two"

[[step]]
id = "three"
phase = "stop_replication"
on = "source"
run = "three"
on_failure = "rollback"
)");
  Harness h;
  h.world.respond_by_script(
      [](const std::string& s, int) { return exited(s == "three" || s == "undo-two" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_EQ(h.world.scripts(), (Strings{"one", "two", "three", "undo-two"}));
  EXPECT_TRUE(contains(r.message, "undo")) << r.message;
}

// ---------------------------------------------------------------- drills

const std::string kDrillRunbook = kHeader + R"(
[[step]]
id = "pre"
phase = "preflight"
on = "target"
run = "pre"

[[step]]
id = "stop-app-prod"
phase = "quiesce"
on = "source"
run = "stop-app-prod"

[[step]]
id = "stop-app-safe"
phase = "quiesce"
on = "source"
run = "stop-app-safe"
drill = "run"

[[step]]
id = "snapshot"
phase = "stop_replication"
on = "target"
run = "snapshot"
operations = ["drill"]

[[step]]
id = "promote-real"
phase = "promote"
on = "target"
run = "promote-real"

[[step]]
id = "promote-clone"
phase = "promote"
on = "target"
run = "promote-clone"
drill = "run"

[[step]]
id = "after-promote"
phase = "start_apps"
on = "source"
run = "after-promote"
drill = "run"

[[step]]
id = "drop-clone"
phase = "cleanup"
on = "target"
run = "drop-clone"
)";

TEST(ExecutorDrill, RunsOnlyDrillSafeSteps) {
  LOAD_RUNBOOK(rb, kDrillRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::drill);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
  EXPECT_EQ(h.world.scripts(),
            (Strings{"pre", "stop-app-safe", "snapshot", "promote-clone", "after-promote", "drop-clone"}));
  Strings skipped = h.sink.skipped();
  std::sort(skipped.begin(), skipped.end());
  EXPECT_EQ(skipped, (Strings{"promote-real", "stop-app-prod"}));
  for (const RunEvent& e : h.sink.of(EventKind::step_skipped))
    EXPECT_TRUE(contains(e.reason, "drill")) << e.reason;
  for (const FakeCall& c : h.world.calls()) EXPECT_EQ(c.var("BATON_DRILL"), "1");
}

TEST(ExecutorDrill, DrillOnlyStepSkippedOutsideDrills) {
  LOAD_RUNBOOK(rb, kDrillRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.world.scripts(), (Strings{"pre", "stop-app-prod", "stop-app-safe", "promote-real",
                                        "promote-clone", "after-promote"}));
  EXPECT_EQ(h.sink.skipped(), (Strings{"snapshot"}));
}

TEST(ExecutorDrill, CleanupRunsAfterFailure) {
  LOAD_RUNBOOK(rb, kDrillRunbook);
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "snapshot" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::drill);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_EQ(h.world.scripts(), (Strings{"pre", "stop-app-safe", "snapshot", "drop-clone"}));
  EXPECT_TRUE(contains(r.message, "snapshot")) << r.message;
}

TEST(ExecutorDrill, RolesNeverChange) {
  LOAD_RUNBOOK(rb, kDrillRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::drill);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_TRUE(h.saved.empty());
  EXPECT_TRUE(h.sink.of(EventKind::roles_changed).empty());
  EXPECT_EQ(r.roles.source, "main");
  EXPECT_EQ(r.roles.target, "dr");
  EXPECT_EQ(r.roles.stale, "");
  // "source" after the promote phase is still main.
  ASSERT_EQ(h.world.calls_of("after-promote").size(), 1u);
  EXPECT_EQ(h.world.calls_of("after-promote")[0].host, "main.db");
  EXPECT_EQ(h.world.calls_of("after-promote")[0].var("BATON_SOURCE_SITE"), "main");
}

// ---------------------------------------------------------------- preflight, confirm

TEST(ExecutorPreflight, FailureExits3AndChangesNothing) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "pre-2" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.state, "failed");
  EXPECT_EQ(h.world.scripts(), (Strings{"pre-1", "pre-2"}));
  EXPECT_TRUE(h.saved.empty());
  EXPECT_TRUE(contains(r.message, "Nothing was changed")) << r.message;
}

const std::string kConfirmRunbook = kHeader + R"(
[[step]]
id = "pre"
phase = "preflight"
on = "target"
run = "pre"

[[step]]
id = "quiesce"
phase = "quiesce"
on = "source"
run = "quiesce"

[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"
confirm = "Promote dr to primary?"

[[step]]
id = "start"
phase = "start_apps"
on = "source"
run = "start"
)";

TEST(ExecutorConfirm, NoTerminalNoYesExits4BeforeAnything) {
  LOAD_RUNBOOK(rb, kConfirmRunbook);
  Harness h;
  h.opts.yes = false;
  h.opts.ask = nullptr;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_TRUE(h.world.calls().empty()) << "nothing may run before the answer";
  EXPECT_TRUE(h.sink.of(EventKind::step_started).empty());
  EXPECT_TRUE(contains(r.message, "Promote dr to primary?")) << r.message;
  EXPECT_TRUE(contains(r.message, "--yes")) << r.message;
  EXPECT_TRUE(h.saved.empty());
}

TEST(ExecutorConfirm, YesRunsWithoutAsking) {
  LOAD_RUNBOOK(rb, kConfirmRunbook);
  Harness h;
  int asked = 0;
  h.opts.yes = true;
  h.opts.ask = [&](const std::string&) {
    ++asked;
    return false;
  };
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(h.world.scripts(), (Strings{"pre", "quiesce", "promote", "start"}));
}

TEST(ExecutorConfirm, OperatorSaysNo) {
  LOAD_RUNBOOK(rb, kConfirmRunbook);
  Harness h;
  Strings questions;
  h.opts.ask = [&](const std::string& q) {
    questions.push_back(q);
    return false;
  };
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(questions, (Strings{"Promote dr to primary?"}));
  EXPECT_TRUE(h.world.calls_of("promote").empty());
  EXPECT_TRUE(h.world.calls_of("start").empty());
  EXPECT_TRUE(h.saved.empty()) << "roles must not swap when the promote was refused";
  auto fin = h.sink.finished_of("promote");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].status, "refused");
}

TEST(ExecutorConfirm, OperatorSaysYes) {
  LOAD_RUNBOOK(rb, kConfirmRunbook);
  Harness h;
  int asked = 0;
  h.opts.ask = [&](const std::string&) {
    ++asked;
    return true;
  };
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(h.world.calls_of("promote").size(), 1u);
}

TEST(ExecutorConfirm, SkippedConfirmStepNeedsNoAnswer) {
  // In a drill the promote step is skipped, so there is nothing to confirm.
  LOAD_RUNBOOK(rb, kConfirmRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::drill);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.world.scripts(), (Strings{"pre"}));
}

// ---------------------------------------------------------------- roles

const std::string kRolesRunbook = kHeader + R"(
[[step]]
id = "pre"
phase = "preflight"
on = "target"
run = "pre"

[[step]]
id = "stop-app"
phase = "quiesce"
on = "source"
run = "stop-app"

[[step]]
id = "fence"
phase = "fence"
on = "source"
run = "fence"

[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"

[[step]]
id = "start-app"
phase = "start_apps"
on = "source"
run = "start-app"

[[step]]
id = "follow"
phase = "reverse_sync"
on = "target"
run = "follow"
)";

TEST(ExecutorRoles, SwitchoverSwapsAtPromote) {
  LOAD_RUNBOOK(rb, kRolesRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.world.where(),
            (Strings{"pre@dr.db", "stop-app@main.db", "promote@dr.db", "start-app@dr.db", "follow@main.db"}));
  ASSERT_EQ(h.saved.size(), 1u);
  EXPECT_EQ(h.saved[0].source, "dr");
  EXPECT_EQ(h.saved[0].target, "main");
  EXPECT_EQ(h.saved[0].stale, "");
  EXPECT_EQ(r.roles.source, "dr");
  EXPECT_EQ(r.roles.target, "main");
  auto rc = h.sink.of(EventKind::roles_changed);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].source, "dr");
  EXPECT_EQ(h.world.calls_of("stop-app")[0].var("BATON_SOURCE_SITE"), "main");
  EXPECT_EQ(h.world.calls_of("start-app")[0].var("BATON_SOURCE_SITE"), "dr");
  EXPECT_EQ(h.world.calls_of("start-app")[0].var("BATON_TARGET_SITE"), "main");
}

TEST(ExecutorRoles, RolesSavedOnlyAfterPromoteSucceeds) {
  LOAD_RUNBOOK(rb, kRolesRunbook);
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "promote" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(h.saved.empty());
  EXPECT_EQ(r.roles.source, "main");
}

TEST(ExecutorRoles, FailoverMarksOldSourceStale) {
  LOAD_RUNBOOK(rb, kRolesRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::failover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.world.where(), (Strings{"pre@dr.db", "fence@main.db", "promote@dr.db", "start-app@dr.db"}));
  ASSERT_EQ(h.saved.size(), 1u);
  EXPECT_EQ(h.saved[0].source, "dr");
  EXPECT_EQ(h.saved[0].target, "main");
  EXPECT_EQ(h.saved[0].stale, "main");
  EXPECT_EQ(r.roles.stale, "main");
}

TEST(ExecutorRoles, SwitchoverWithStaleSideRefused) {
  LOAD_RUNBOOK(rb, kRolesRunbook);
  Harness h;
  h.opts.yes = true;
  RunResult r = h.run(rb, Operation::switchover, Roles{"dr", "main", "main"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(h.world.calls().empty());
  EXPECT_TRUE(h.sink.of(EventKind::step_started).empty());
  EXPECT_TRUE(h.saved.empty());
  EXPECT_TRUE(contains(r.message, "stale")) << r.message;
  EXPECT_TRUE(contains(r.message, "reverse-sync")) << r.message;
}

TEST(ExecutorRoles, ReverseSyncClearsStale) {
  LOAD_RUNBOOK(rb, kRolesRunbook);
  Harness h;
  RunResult r = h.run(rb, Operation::reverse_sync, Roles{"dr", "main", "main"});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  // "target" is the old source, now following.
  EXPECT_EQ(h.world.where(), (Strings{"pre@main.db", "follow@main.db"}));
  ASSERT_EQ(h.saved.size(), 1u);
  EXPECT_EQ(h.saved[0].source, "dr");
  EXPECT_EQ(h.saved[0].target, "main");
  EXPECT_EQ(h.saved[0].stale, "");
  EXPECT_EQ(r.roles.stale, "");
}

// ---------------------------------------------------------------- events

// Every step_started has exactly one later step_finished for the same
// step, host, attempt and kind (step or undo); and every finish with a host
// has a start.
void expect_paired(const std::vector<RunEvent>& events) {
  using Key = std::tuple<std::string, std::string, int, bool>;
  std::map<Key, int> open;
  int started = 0;
  for (const RunEvent& e : events) {
    Key k{e.step, e.host, e.attempt, e.rollback};
    if (e.kind == EventKind::step_started) {
      ++started;
      EXPECT_EQ(open[k], 0) << "started twice: " << e.step << "@" << e.host << " #" << e.attempt;
      open[k] = 1;
    } else if (e.kind == EventKind::step_finished && e.status != "refused") {
      EXPECT_EQ(open[k], 1) << "finished without start: " << e.step << "@" << e.host << " #" << e.attempt;
      open[k] = 0;
    }
  }
  EXPECT_GT(started, 0);
  for (const auto& [k, v] : open) EXPECT_EQ(v, 0) << "never finished: " << std::get<0>(k) << "@" << std::get<1>(k);
}

void expect_bracketed(const std::vector<RunEvent>& events, const RunResult& r, const std::string& run_id) {
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().kind, EventKind::run_started);
  EXPECT_EQ(events.back().kind, EventKind::run_finished);
  EXPECT_EQ(events.back().exit_code, r.exit_code);
  EXPECT_EQ(events.back().status, r.state);
  int finished = 0;
  for (const RunEvent& e : events) {
    EXPECT_EQ(e.run_id, run_id);
    finished += e.kind == EventKind::run_finished;
  }
  EXPECT_EQ(finished, 1);
}

TEST(ExecutorEvents, PairedAndBracketedOnSuccess) {
  LOAD_RUNBOOK(rb, kTwoHostSites + R"(
[[step]]
id = "pre"
phase = "preflight"
on = "source"
run = "pre"

[[step]]
id = "flaky"
phase = "quiesce"
on = "source.db"
run = "flaky"
retries = 2
retry_delay = "10ms"

[[step]]
id = "ga"
phase = "stop_replication"
on = "main"
run = "ga"
group = "g"

[[step]]
id = "gb"
phase = "stop_replication"
on = "dr"
run = "gb"
group = "g"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int attempt) { return exited(s == "flaky" && attempt == 1); });
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  auto events = h.sink.events();
  expect_paired(events);
  expect_bracketed(events, r, "run-1");
  // 2 (pre) + 2 (flaky) + 2 (ga) + 2 (gb) starts.
  EXPECT_EQ(h.sink.of(EventKind::step_started).size(), 8u);
  for (const RunEvent& e : events) EXPECT_EQ(e.operation, "switchover");
  // The step_finished for a started attempt carries its outcome.
  for (const RunEvent& e : h.sink.finished_of("pre")) {
    EXPECT_EQ(e.exit_code, 0);
    EXPECT_EQ(e.status, "ok");
  }
}

TEST(ExecutorEvents, PairedAndBracketedOnRollback) {
  LOAD_RUNBOOK(rb, failure_runbook("rollback") + R"(
[[step]]
id = "s0"
phase = "preflight"
on = "target"
run = "s0"
undo = "undo-s0"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "s2" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "rolled_back");
  auto events = h.sink.events();
  expect_paired(events);
  expect_bracketed(events, r, "run-1");
  EXPECT_EQ(h.world.scripts(), (Strings{"s0", "s1", "s2", "undo-s0"}));
}

TEST(ExecutorEvents, RunFinishedCarriesFailureExitCode) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "pre-1" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 3);
  auto fin = h.sink.of(EventKind::run_finished);
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].exit_code, 3);
  EXPECT_EQ(fin[0].status, "failed");
  expect_paired(h.sink.events());
}

TEST(ExecutorEvents, TransitionsEndInFinalState) {
  LOAD_RUNBOOK(rb, kAllPhases);
  Harness h;
  RunResult r = h.run(rb, Operation::failover);
  ASSERT_EQ(r.exit_code, 0);
  auto tr = h.sink.of(EventKind::transition);
  ASSERT_FALSE(tr.empty());
  EXPECT_EQ(tr.front().event, "start");
  EXPECT_EQ(tr.back().to, "completed");
  for (size_t i = 1; i < tr.size(); ++i) EXPECT_EQ(tr[i].from, tr[i - 1].to);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// A promote whose connection drops may have promoted: rollback must not
// undo the rest around it (that could leave two primaries).
std::string uncertain_promote_runbook(const std::string& promote_undo) {
  return kHeader + R"(
[[step]]
id = "stop-old"
phase = "stop_replication"
on = "source"
run = "stop-old"
undo = "start-old"

[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"
on_failure = "rollback"
)" + promote_undo;
}

CommandResult connection_lost() {
  CommandResult r;
  r.error = "connection lost to dr.db while running the command";
  return r;
}

TEST(ExecutorRollback, UnknownOutcomeWithoutUndoStopsTheRollback) {
  LOAD_RUNBOOK(rb, uncertain_promote_runbook(""));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return s == "promote" ? connection_lost() : exited(0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_TRUE(h.world.calls_of("start-old").empty()) << "the old primary must not be restarted";
  // The rollback is refused before undoing anything, and says why and
  // what is possible: going forward, or ending the run.
  EXPECT_NE(r.message.find("may have promoted dr.db and has no undo"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("`baton resume rb.toml` goes on"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("--rollback"), std::string::npos) << r.message;
}

TEST(ExecutorRollback, UnknownOutcomeWithUndoIsUndoneFirst) {
  LOAD_RUNBOOK(rb, uncertain_promote_runbook("undo = \"demote\"\n"));
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return s == "promote" ? connection_lost() : exited(0); });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.state, "rolled_back");
  EXPECT_EQ(h.world.scripts(), (Strings{"stop-old", "promote", "demote", "start-old"}));
}

TEST(ExecutorRoles, UnsavedRolesFailThePromote) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"

[[step]]
id = "after"
phase = "start_apps"
on = "source"
run = "after"
)");
  Harness h;
  h.opts.save_roles = [](const Roles&) { return std::string("cannot rename roles.tmp: read-only file system"); };
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.message.find("cannot record the new roles"), std::string::npos) << r.message;
  EXPECT_TRUE(h.world.calls_of("after").empty());
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(ExecutorProgress, LongStepsAreReportedWhileTheyRun) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "slow"
phase = "promote"
on = "target"
run = "sleep 0.7"

[[step]]
id = "quick"
phase = "verify"
on = "source"
run = "true"
)");
  LocalHarness h;
  h.opts.progress_every = std::chrono::milliseconds(200);
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  int notes = 0;
  for (const RunEvent& e : h.sink.of(EventKind::message)) {
    // On a loaded machine "quick" may pass 200 ms and be reported too.
    EXPECT_EQ(e.reason.rfind("still running: ", 0), 0u) << e.reason;
    if (e.reason.find("still running: slow on dr.db") != std::string::npos) ++notes;
  }
  long long slow_ms = 0;
  for (const RunEvent& e : h.sink.of(EventKind::step_finished))
    if (e.step == "slow") slow_ms = e.duration.count();
  EXPECT_GE(notes, 2);  // At 200, 400, 600 ms.
  EXPECT_LE(notes, slow_ms / 200 + 1) << slow_ms;  // One per period, no more.
}

TEST(ExecutorProgress, TheFirstNoteComesAfterTheIntervalOfTheStepsOwnTime) {
  // "first" takes 0.6 s; "second" starts then and runs 0.5 s. With notes
  // every 0.4 s of a step's own time, "second" is noted once, at 0.4 s of
  // its time: not at 0.8 s of the run (which would be 0.2 s into it).
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "first"
phase = "preflight"
on = "source"
run = "sleep 0.6"

[[step]]
id = "second"
phase = "preflight"
on = "source"
run = "sleep 0.5"
)");
  LocalHarness h;
  h.opts.progress_every = std::chrono::milliseconds(400);
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  Strings notes;
  for (const RunEvent& e : h.sink.of(EventKind::message)) notes.push_back(e.reason.substr(0, 26));
  EXPECT_EQ(notes, (Strings{"still running: first on ma", "still running: second on m"}));
  for (const RunEvent& e : h.sink.of(EventKind::message))
    if (e.reason.find("second") != std::string::npos) {
      // "(457 ms)" or, on a loaded machine, "(1.2 s)": never before 400 ms.
      const std::string t = e.reason.substr(e.reason.rfind('(') + 1);
      const double ms = std::stod(t) * (t.find(" ms") != std::string::npos ? 1 : 1000);
      EXPECT_GE(ms, 400) << e.reason;
    }
}

}  // namespace
}  // namespace baton
