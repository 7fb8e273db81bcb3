// An attempt whose command's end Baton did not see (connection lost, kill
// failed) may still run: no retry, rerun on resume or undo starts beside it
// until its host says its shell ended. The fake world plays the host: the
// step's command reports a process group, then the connection is lost; the
// check script answers as the test says.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "agents/local_agent.h"
#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;

bool is_check(const Command& c) {
  for (const auto& kv : c.vars)
    if (kv.first == "BATON_CHECK_PGID") return true;
  return false;
}

// "work" loses its connection on its first try, after its group 4242 started.
struct Lost : Harness {
  std::string check_says = "baton-check: running\n";  // what the host answers the check
  bool check_unreachable = false;
  Lost() {
    world.respond([this](const std::string&, const Command& c, int attempt) {
      if (is_check(c)) {
        if (check_unreachable) {
          CommandResult r;
          r.exit_code = -1;
          r.error = "cannot connect to dr.db: Connection refused";
          return r;
        }
        return exited(0, check_says);
      }
      if (c.script == "work" && attempt == 1) {
        if (c.on_process) c.on_process(4242, 777);
        CommandResult r;
        r.exit_code = -1;
        r.error = "connection lost to dr.db while running the command";
        return r;
      }
      return exited(0);
    });
  }
  size_t ran(const std::string& script) {
    size_t n = 0;
    for (const FakeCall& c : world.calls())
      if (c.cmd.script == script) ++n;
    return n;
  }
  RunResult resume(const Runbook& rb) {
    Executor ex(rb, Operation::switchover, pool, sink, opts);
    return ex.run(resume_state(sink, kInitial));
  }
};

const std::string kRetried = kHeader + R"(
[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
undo = "unwork"
retries = 2
retry_delay = "0s"
)";

TEST(StillRunning, ARetryIsNotStartedBesideAnAttemptThatLostItsConnection) {
  LOAD_RUNBOOK(rb, kRetried);
  Lost h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(h.ran("work"), 1u);  // no second copy
  EXPECT_NE(r.message.find("not started: an earlier attempt of step work on dr.db ended without Baton seeing its "
                           "command end, and it is still running there (process group 4242): not started beside it; "
                           "wait for it to end, or stop it (kill -TERM -4242 on dr.db, as root if it runs as another "
                           "user), then `baton resume rb.toml`"),
            std::string::npos)
      << r.message;
  // The attempt that lost its connection, then the one refused: the step's
  // last word is a failure that may have acted, so a rollback undoes it.
  auto fin = h.sink.finished_of("work");
  ASSERT_EQ(fin.size(), 2u);
  EXPECT_EQ(fin[0].status, "retry");
  EXPECT_TRUE(fin[0].may_still_run);
  EXPECT_NE(fin[0].reason.find("connection lost to dr.db while running the command; it may still be running there "
                               "(process group 4242)"),
            std::string::npos)
      << fin[0].reason;
  EXPECT_EQ(fin[1].status, "failed");
  EXPECT_EQ(fin[1].attempt, 2);
  EXPECT_TRUE(fin[1].uncertain);
  EXPECT_TRUE(fin[1].may_still_run);
  RunState st = resume_state(h.sink, kInitial);
  EXPECT_EQ(st.failed, std::set<std::string>{"work"});
  EXPECT_EQ(st.uncertain, std::set<std::string>{"work"});
  ASSERT_EQ(st.unsettled.size(), 1u);
  EXPECT_EQ(st.unsettled[0].pgid, 4242);
}

// A retry refused after a lost connection, and on_failure = "rollback": the
// undo of the step before it must not run while the step may (the undo of
// the step itself waits for it too); the run is not called rolled back.
TEST(StillRunning, ARefusedRetryStopsTheRollbackBeforeItsUndo) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "before"
phase = "quiesce"
on = "source"
run = "before"
undo = "unbefore"

[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
undo = "unwork"
retries = 2
retry_delay = "0s"
on_failure = "rollback"
)");
  Lost h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(h.ran("work"), 1u);
  EXPECT_EQ(h.ran("unwork"), 0u);
  EXPECT_EQ(h.ran("unbefore"), 0u);
  EXPECT_NE(r.message.find("The rollback stopped: undo of step work not started on dr.db"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("then `baton resume rb.toml --rollback`"), std::string::npos) << r.message;
}

TEST(StillRunning, ARetryGoesOnOnceTheHostSaysTheAttemptEnded) {
  LOAD_RUNBOOK(rb, kRetried);
  Lost h;
  h.check_says = "baton-check: gone\n";
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.ran("work"), 2u);
  auto fin = h.sink.finished_of("work");
  ASSERT_EQ(fin.size(), 2u);
  EXPECT_TRUE(fin[0].may_still_run);
  EXPECT_FALSE(fin[1].may_still_run);
}

// A login shell may print before the answer (a channel runs it): the
// check reads its own tagged line, wherever it is.
TEST(StillRunning, WhatALoginShellPrintsBeforeTheAnswerIsNotTheAnswer) {
  LOAD_RUNBOOK(rb, kRetried);
  Lost h;
  h.check_says = "Welcome to dr.db\nbaton-check: running, or so says the motd\nWELCOMEbaton-check: gone\n";
  EXPECT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  EXPECT_EQ(h.ran("work"), 2u);
}

// A host without /proc cannot tell a reused pid from the attempt: unknown,
// never "gone".
TEST(StillRunning, AHostWithoutProcCannotSayItEnded) {
  LOAD_RUNBOOK(rb, kRetried);
  Lost h;
  h.check_says = "baton-check: unknown\n";
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(h.ran("work"), 1u);
  EXPECT_NE(r.message.find("cannot tell: the host has no /proc to tell its start time, and a process 4242 runs there"),
            std::string::npos)
      << r.message;
}

TEST(StillRunning, AHostThatCannotSayRefusesTheRetryToo) {
  LOAD_RUNBOOK(rb, kRetried);
  Lost h;
  h.check_unreachable = true;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(h.ran("work"), 1u);
  EXPECT_NE(r.message.find("it may still be running there (cannot tell: cannot connect to dr.db: Connection refused) "
                           "(process group 4242)"),
            std::string::npos)
      << r.message;
}

TEST(StillRunning, AnUndoIsNotStartedBesideTheStepItUndoes) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
undo = "unwork"
on_failure = "rollback"
)");
  Lost h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(h.ran("unwork"), 0u);
  EXPECT_NE(r.message.find("undo of step work not started on dr.db: an earlier attempt of step work on dr.db ended "
                           "without Baton seeing its command end, and it is still running there (process group 4242)"),
            std::string::npos)
      << r.message;
}

TEST(StillRunning, TheJournalKeepsWhatMayStillRunAndAResumeWaitsForIt) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
)");
  Lost h;
  EXPECT_NE(h.run(rb, Operation::switchover).exit_code, 0);
  RunState st = resume_state(h.sink, kInitial);
  ASSERT_EQ(st.unsettled.size(), 1u);
  EXPECT_EQ(st.unsettled[0].step, "work");
  EXPECT_EQ(st.unsettled[0].host, "dr.db");
  EXPECT_EQ(st.unsettled[0].pgid, 4242);
  EXPECT_EQ(st.unsettled[0].start_ticks, 777);
  EXPECT_FALSE(st.unsettled[0].undo);
  EXPECT_TRUE(st.in_flight_processes.empty());
  // Still running: the resume refuses before anything.
  RunResult busy = h.resume(rb);
  EXPECT_EQ(busy.exit_code, 1) << busy.message;
  EXPECT_EQ(busy.message,
            "an attempt of step work ended without Baton seeing its command end, and it still runs on dr.db (process "
            "group 4242): wait for it to end, or stop it (kill -TERM -4242 on dr.db, as root if it runs as another "
            "user), then resume");
  EXPECT_EQ(h.ran("work"), 1u);
  // Ended: the step runs again, and its end is seen this time.
  h.check_says = "baton-check: gone\n";
  RunResult r = h.resume(rb);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.ran("work"), 2u);
  EXPECT_TRUE(resume_state(h.sink, kInitial).unsettled.empty());
}

TEST(StillRunning, AResumeGoesOnWhenTheHostCannotSayButTheRerunStillWaits) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
)");
  Lost h;
  EXPECT_NE(h.run(rb, Operation::switchover).exit_code, 0);
  h.check_unreachable = true;
  RunResult r = h.resume(rb);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(h.ran("work"), 1u);
  EXPECT_NE(r.message.find("step work failed on dr.db (fake:dr.db): not started: an earlier attempt of step work on dr.db"),
            std::string::npos)
      << r.message;
}

// A run that went on (on_failure = "continue") says what may still run.
TEST(StillRunning, ARunThatWentOnSaysWhatMayStillRun) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
on_failure = "continue"
)");
  Lost h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_NE(r.message.find("May still be running, its end not seen: step work on dr.db (process group 4242)"),
            std::string::npos)
      << r.message;
}

// The next operation inherits what the last run may have left running: it
// refuses while that is known to run, carries it (in its own journal, also
// when refused) while the host cannot tell, and forgets it once ended.
TEST(StillRunning, TheNextRunChecksWhatTheLastOneLeft) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "work"
phase = "stop_replication"
on = "target"
run = "work"
on_failure = "continue"
)");
  Lost h;
  EXPECT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  std::vector<std::unique_ptr<RecordingSink>> runs;  // each run's own journal
  const RecordingSink* last = &h.sink;
  auto next = [&] {
    RunState st = fresh(kInitial);
    st.unsettled = resume_state(*last, kInitial).unsettled;
    runs.push_back(std::make_unique<RecordingSink>());
    Executor ex(rb, Operation::switchover, h.pool, *runs.back(), h.opts);
    last = runs.back().get();
    return ex.run(st);
  };
  RunResult busy = next();
  EXPECT_EQ(busy.exit_code, 3);  // nothing changed
  EXPECT_EQ(busy.message,
            "an attempt of step work in an earlier run ended without Baton seeing its command end, and it still runs "
            "on dr.db (process group 4242): wait for it to end, or stop it (kill -TERM -4242 on dr.db, as root if it "
            "runs as another user), then run this again. Nothing was changed.");
  EXPECT_EQ(h.ran("work"), 1u);
  // The refused run kept it: the one after refuses too.
  EXPECT_EQ(next().exit_code, 3);
  EXPECT_EQ(h.ran("work"), 1u);
  h.check_unreachable = true;
  RunResult carried = next();
  EXPECT_EQ(h.ran("work"), 1u);  // refused where it would have run
  EXPECT_NE(carried.message.find("May still be running, its end not seen: step work on dr.db"), std::string::npos)
      << carried.message;
  EXPECT_EQ(carried.message.rfind("May still be running", 0), 0u) << "no empty line before it: " << carried.message;
  EXPECT_EQ(resume_state(*last, kInitial).unsettled.size(), 1u);
  h.check_unreachable = false;
  h.check_says = "baton-check: gone\n";
  RunResult r = next();
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.ran("work"), 2u);
  EXPECT_EQ(r.message.find("May still be running"), std::string::npos) << r.message;
  EXPECT_TRUE(resume_state(*last, kInitial).unsettled.empty());
}

// A kill that failed (another user's members outlived it): the check counts
// the whole group, not only its first process, here and in later runs.
TEST(StillRunning, AfterAFailedKillTheWholeGroupIsChecked) {
  LOAD_RUNBOOK(rb, kRetried);
  Lost h;
  h.world.respond([&h](const std::string&, const Command& c, int attempt) {
    if (is_check(c)) {
      bool group = false;
      for (const auto& kv : c.vars) group = group || (kv.first == "BATON_CHECK_GROUP" && kv.second == "1");
      return exited(0, group ? "baton-check: running\n" : "baton-check: gone\n");
    }
    if (c.script == "work" && attempt == 1) {
      c.on_process(4242, 777);
      CommandResult r;
      r.timed_out = true;
      r.kill_failed = true;
      r.error = "timed out after 1000 ms and could not stop the command on dr.db (processes of its group outlived "
                "the kill); it may still be running there";
      return r;
    }
    return exited(0);
  });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(h.ran("work"), 1u);
  RunState st = resume_state(h.sink, kInitial);
  ASSERT_EQ(st.unsettled.size(), 1u);
  EXPECT_TRUE(st.unsettled[0].whole_group);
}

// The check script itself, on this machine: a group whose first process
// ended while another member lives is gone for the first-process rule
// (daemons a step leaves), running when the whole group counts.
TEST(StillRunning, TheCheckScriptCountsTheWholeGroupOnlyWhenAsked) {
  const pid_t leader = ::fork();
  if (leader == 0) {
    ::setpgid(0, 0);
    if (::fork() == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::_exit(0);  // the group's first process ends; its child lives on
  }
  ::waitpid(leader, nullptr, 0);
  auto check = [&](const char* group) {
    LocalAgent a;
    Command c;
    c.script = process_check_script();
    c.vars = {{"BATON_CHECK_PGID", std::to_string(leader)}, {"BATON_CHECK_TICKS", "0"}, {"BATON_CHECK_GROUP", group}};
    return a.run(c).out;
  };
  EXPECT_EQ(check("0"), "\nbaton-check: gone\n");
  EXPECT_EQ(check("1"), "\nbaton-check: running\n");
  ::kill(-leader, SIGKILL);
  for (int i = 0; i < 100 && check("1") != "\nbaton-check: gone\n"; ++i) ::usleep(10000);
  EXPECT_EQ(check("1"), "\nbaton-check: gone\n");
}

TEST(StillRunning, AnEndSeenClearsTheProcessAndAnUndoInFlightIsKept) {
  auto rec = [](const std::string& text) {
    Json j;
    EXPECT_TRUE(parse_json(text, &j)) << text;
    return j;
  };
  const std::vector<Json> records = {
      rec(R"({"event":"step_started","step":"a","host":"dr.db","attempt":1})"),
      rec(R"({"event":"step_process","step":"a","host":"dr.db","pgid":10,"start_ticks":1})"),
      rec(R"({"event":"step_finished","step":"a","host":"dr.db","status":"failed","may_still_run":true})"),
      rec(R"({"event":"step_started","step":"b","host":"dr.db","attempt":1})"),
      rec(R"({"event":"step_process","step":"b","host":"dr.db","pgid":20,"start_ticks":2})"),
      rec(R"({"event":"step_finished","step":"b","host":"dr.db","status":"failed","uncertain":true})"),
      rec(R"({"event":"step_started","step":"a","host":"dr.db","rollback":true})"),
      rec(R"({"event":"step_process","step":"a","host":"dr.db","pgid":30,"start_ticks":3,"rollback":true})"),
  };
  RunState st = rebuild_state(records, kInitial);
  ASSERT_EQ(st.unsettled.size(), 1u);  // b's end was seen (a kill that worked)
  EXPECT_EQ(st.unsettled[0].pgid, 10);
  ASSERT_EQ(st.in_flight_processes.size(), 1u);  // a's undo, when Baton stopped
  EXPECT_EQ(st.in_flight_processes[0].pgid, 30);
  EXPECT_TRUE(st.in_flight_processes[0].undo);
  EXPECT_TRUE(st.in_flight.empty());  // no step itself was in flight
}

}  // namespace
}  // namespace baton
