// What a step's output tells the operator: notices (kept in every report,
// also for steps that succeed), hints on failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <thread>

#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;

TEST(StepNotices, ReachTheEventsAndLeaveTheOutputClean) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "rewind"
phase = "preflight"
on = "source"
run = "rewind"
expect_stdout = "rewound"
capture = "how"
)");
  Harness h;
  h.world.respond_by_script([](const std::string&, int) {
    return exited(0, "baton-notice: the old data directory is kept at /srv/keep: it holds the lost transactions\n"
                     "rewound\nbaton-notice: 12 MB of WAL diverged after 0/5000000\n");
  });
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  auto notices = h.sink.of(EventKind::notice);
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0].reason, "the old data directory is kept at /srv/keep: it holds the lost transactions");
  EXPECT_EQ(notices[0].step, "rewind");
  EXPECT_EQ(notices[0].host, "main.db");
  EXPECT_EQ(notices[1].reason, "12 MB of WAL diverged after 0/5000000");
  auto fin = h.sink.finished_of("rewind");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].captures[0].second, "rewound");  // The notices are not part of the capture.
  Json j;
  ASSERT_TRUE(parse_json(to_json(notices[0]), &j));
  EXPECT_EQ(j.str("event"), "notice");
}

TEST(StepNotices, ASecretInANoticeIsMasked) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[vars]
db_password = "s3cr3t-value"
[[step]]
id = "s"
phase = "preflight"
on = "source"
run = "s"
)");
  Harness h;
  h.world.respond_by_script([](const std::string&, int) { return exited(0, "baton-notice: used s3cr3t-value\n"); });
  h.run(rb, Operation::switchover);
  EXPECT_EQ(h.sink.of(EventKind::notice).at(0).reason, "used ***");
}

TEST(StepHints, ShownWithTheFailure) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "target-streams"
phase = "preflight"
on = "target"
run = "streams"
expect_stdout = "streaming"
hint = "dr.db is not streaming: check primary_conninfo and the primary's pg_hba.conf"
)");
  Harness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.message.find("\nhint: dr.db is not streaming: check primary_conninfo"), std::string::npos)
      << r.message;
  auto fin = h.sink.finished_of("target-streams");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].hint, "dr.db is not streaming: check primary_conninfo and the primary's pg_hba.conf");
}

TEST(StepHints, NotShownWhenTheStepSucceeds) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "s"
phase = "preflight"
on = "target"
run = "s"
hint = "look here"
)");
  Harness h;
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  EXPECT_EQ(h.sink.finished_of("s").at(0).hint, "");
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(StepSecrets, MaskedBeforeTheTailIsCut) {
  const std::string secret = "Sup3rSecretValue-abcdefghijklmnop";
  LOAD_RUNBOOK(rb, kHeader + "[vars]\ndb_password = \"" + secret + R"("
[[step]]
id = "leaky"
phase = "preflight"
on = "source"
run = "leaky"
)");
  Harness h;
  // The secret straddles the 2000-byte edge of the tail, on one long line.
  const std::string out = std::string(100, 'x') + secret + std::string(1990, 'y');
  h.world.respond_by_script([&](const std::string&, int) { return exited(1, out, out); });
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 3);
  for (const RunEvent& e : h.sink.events())
    for (const std::string* t : {&e.out_tail, &e.err_tail, &e.reason})
      for (size_t i = 0; i + 6 <= secret.size(); ++i)
        ASSERT_EQ(t->find(secret.substr(i, 6)), std::string::npos) << "part of the secret leaked: " << *t;
  EXPECT_EQ(r.message.find("Secret"), std::string::npos);
}

TEST(StepSecrets, ACaptureHoldingASecretIsMaskedAndMarkedForRecapture) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[vars]
db_password = "hunter2-hunter2"
[[step]]
id = "conn"
phase = "preflight"
on = "source"
run = "conn"
capture = "conninfo"
)");
  Harness h;
  h.world.respond_by_script([](const std::string&, int) { return exited(0, "host=db password=hunter2-hunter2\n"); });
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 0);
  RunEvent fin = h.sink.finished_of("conn").at(0);
  EXPECT_EQ(fin.captures.at(0).second, "host=db password=***");
  EXPECT_EQ(fin.masked_captures, (std::vector<std::string>{"conninfo"}));
  RunState st = resume_state(h.sink, kInitial);
  EXPECT_EQ(st.recapture, std::set<std::string>{"conn"});  // Never fed "***" later.
  for (const auto& kv : st.captures) EXPECT_NE(kv.first, "conninfo");
}

// What a failover measured, and a kept capture, reach later runs in one
// write of kept.json (each write syncs twice, before the promote).
const std::string kKeepRunbook = kHeader + R"(
[[step]]
id = "fork"
phase = "preflight"
on = "source"
run = "fork"
capture = "fork_gtid"
keep = true
[[step]]
id = "measure"
phase = "verify_sync"
on = "target"
measures = "data_loss"
capture = "loss_line"
keep = true
run = "measure"
)";

CommandResult keep_world(const std::string& script, int) {
  if (script == "fork") return exited(0, "0-1-97\n");
  if (script == "measure") return exited(0, "3 transactions lost (the replica executed up to 0-1-94)\n");
  return exited(0);
}

TEST(StepKeep, AMeasuredLossIsStoredWithItsStepsCaptureInOneWrite) {
  LOAD_RUNBOOK(rb, kKeepRunbook);
  Harness h;
  h.world.respond_by_script(keep_world);
  std::vector<Vars> writes;
  h.opts.keep = [&](const Vars& v, const std::vector<std::string>& drop) {
    EXPECT_TRUE(drop.empty());
    writes.push_back(v);
    return std::string();
  };
  RunResult r = h.run(rb, Operation::failover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  ASSERT_EQ(writes.size(), 2u);  // The preflight capture, then the measuring step's three values.
  EXPECT_EQ(writes[0], (Vars{{"fork_gtid", "0-1-97"}}));
  EXPECT_EQ(writes[1], (Vars{{"loss_line", "3 transactions lost (the replica executed up to 0-1-94)"},
                             {"BATON_LAST_DATA_LOSS", "3 transactions"},
                             {"BATON_LAST_DATA_LOSS_TEXT", "3 transactions lost (the replica executed up to 0-1-94)"}}));
}

TEST(StepKeep, AStoreThatFailsNamesEveryValueItDidNotKeep) {
  LOAD_RUNBOOK(rb, kKeepRunbook);
  Harness h;
  h.world.respond_by_script(keep_world);
  h.opts.keep = [](const Vars&, const std::vector<std::string>&) {
    return std::string("kept.json: No space left on device");
  };
  RunResult r = h.run(rb, Operation::failover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  std::vector<std::string> told;
  for (const RunEvent& e : h.sink.of(EventKind::message))
    if (e.reason.rfind("not kept for later runs: ", 0) == 0) told.push_back(e.reason);
  EXPECT_EQ(told, (std::vector<std::string>{
                      "not kept for later runs: fork_gtid (kept.json: No space left on device)",
                      "not kept for later runs: loss_line (kept.json: No space left on device)",
                      "not kept for later runs: BATON_LAST_DATA_LOSS (kept.json: No space left on device)",
                      "not kept for later runs: BATON_LAST_DATA_LOSS_TEXT (kept.json: No space left on device)"}));
}

TEST(StepKeep, ASecretAmongTheValuesIsRefusedAloneAndItsOlderValueForgotten) {
  LOAD_RUNBOOK(rb, kKeepRunbook + R"(
[vars]
replica_password = "hunter2-pw"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& script, int attempt) {
    if (script == "measure") return exited(0, "3 transactions lost (seen with hunter2-pw)\n");
    return keep_world(script, attempt);
  });
  std::vector<std::pair<Vars, std::vector<std::string>>> writes;
  h.opts.keep = [&](const Vars& v, const std::vector<std::string>& drop) {
    writes.emplace_back(v, drop);
    return std::string();
  };
  RunResult r = h.run(rb, Operation::failover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  ASSERT_EQ(writes.size(), 2u);
  // The amount is kept; the capture and the text, which hold the secret, are
  // not, and last run's under their names must not pass for this run's.
  EXPECT_EQ(writes[1].first, (Vars{{"BATON_LAST_DATA_LOSS", "3 transactions"}}));
  EXPECT_EQ(writes[1].second, (std::vector<std::string>{"loss_line", "BATON_LAST_DATA_LOSS_TEXT"}));
  std::vector<std::string> told;
  for (const RunEvent& e : h.sink.of(EventKind::message))
    if (e.reason.rfind("not kept for later runs: ", 0) == 0) told.push_back(e.reason.substr(0, e.reason.find(' ', 25)));
  EXPECT_EQ(told, (std::vector<std::string>{"not kept for later runs: loss_line",
                                            "not kept for later runs: BATON_LAST_DATA_LOSS_TEXT"}));
}

// kept.json is read, changed and written whole: two steps of a group (their
// own threads) must not write it at once, or one's values are lost.
TEST(StepKeep, StepsOfAGroupKeepValuesOneAtATime) {
  std::string text = kHeader;
  for (int i = 0; i < 4; ++i)
    text += "[[step]]\nid = \"c" + std::to_string(i) + "\"\nphase = \"preflight\"\non = \"" +
            (i % 2 ? "source" : "target") + "\"\ngroup = \"g\"\nrun = \"c\"\ncapture = \"v" +
            std::to_string(i) + "\"\nkeep = true\n";
  LOAD_RUNBOOK(rb, text);
  Harness h;
  h.world.respond_by_script([](const std::string&, int) { return exited(0, "x\n"); });
  std::atomic<int> inside{0}, most{0}, calls{0};
  h.opts.keep = [&](const Vars&, const std::vector<std::string>&) {
    int now = ++inside;
    most = std::max(most.load(), now);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // a write and its syncs
    --inside;
    ++calls;
    return std::string();
  };
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(calls.load(), 4);
  EXPECT_EQ(most.load(), 1);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// Stopped by a signal, but the agent could not kill the command: the
// closing message says so, and does not call it killed.
TEST(StepStop, AKillThatFailedIsNotCalledKilled) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "long"
phase = "promote"
on = "target"
run = "long"
)");
  Harness h;
  std::atomic<int> stop{0};
  h.opts.stop = &stop;
  h.world.respond_by_script([&](const std::string&, int) {
    stop = SIGTERM;
    CommandResult r;
    r.stopped_by = SIGTERM;
    r.error = "stopped by signal 15 and could not stop the command on dr.db (no answer); it may still be running there";
    return r;
  });
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.message;
  EXPECT_NE(r.message.find("could not stop long on dr.db: it may still be running there"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("killed long"), std::string::npos) << r.message;
}

// A journal whose sync of one step's start fails (a full disk, say), and
// that notes which steps' starts were settled before their command ran.
class SyncingSink : public RecordingSink {
 public:
  explicit SyncingSink(std::string fail_at) : fail_at_(std::move(fail_at)) {}
  void settle(const RunEvent& e) override {
    if (e.kind != EventKind::step_started) return;
    std::lock_guard<std::mutex> lock(mu_);
    settled_.push_back(e.step);
    if (e.step == fail_at_) failure_ = "cannot sync journal /state/run.jsonl: No space left on device";
  }
  std::string failure() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
  }
  Strings settled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return settled_;
  }

 private:
  std::string fail_at_;
  mutable std::mutex mu_;
  std::string failure_;
  Strings settled_;
};

const std::string kThreeSteps = kHeader + R"(
[[step]]
id = "a"
phase = "promote"
on = "target"
run = "a"
[[step]]
id = "b"
phase = "promote"
on = "target"
run = "b"
[[step]]
id = "c"
phase = "promote"
on = "target"
run = "c"
)";

// Every command starts only after its step's start was settled (synced):
// an agent that does not stage the start gets the gate from the pool.
TEST(StepStart, IsSettledBeforeItsCommandRuns) {
  LOAD_RUNBOOK(rb, kThreeSteps);
  Harness h;
  SyncingSink sink("");
  std::mutex mu;
  Strings seen_settled;  // what was settled when each command ran
  h.world.respond_by_script([&](const std::string& script, int) {
    Strings now = sink.settled();
    std::lock_guard<std::mutex> lock(mu);
    seen_settled.push_back(script + ":" + (std::find(now.begin(), now.end(), script) != now.end() ? "settled" : "not"));
    return exited(0);
  });
  Executor ex(rb, Operation::switchover, h.pool, sink, h.opts);
  RunResult r = ex.run(fresh(kInitial));
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(seen_settled, (Strings{"a:settled", "b:settled", "c:settled"}));
}

// The sync of b's start fails: b never runs, the run stops there and says
// why; a ran, c did not.
TEST(StepStart, ACommandWhoseStartCouldNotBeSyncedNeverRuns) {
  LOAD_RUNBOOK(rb, kThreeSteps);
  Harness h;
  SyncingSink sink("b");
  Executor ex(rb, Operation::switchover, h.pool, sink, h.opts);
  RunResult r = ex.run(fresh(kInitial));
  EXPECT_NE(r.exit_code, 0);
  Strings ran;
  for (const FakeCall& c : h.world.calls()) ran.push_back(c.cmd.script);
  EXPECT_EQ(ran, (Strings{"a"}));
  auto fin = sink.finished_of("b");
  ASSERT_FALSE(fin.empty());
  EXPECT_EQ(fin[0].status, "failed");
  EXPECT_NE(fin[0].reason.find("No space left on device"), std::string::npos) << fin[0].reason;
  EXPECT_TRUE(sink.finished_of("c").empty());
}

// a has an undo; b fails and rolls back.
const std::string kUndoThenFail = kHeader + R"(
[[step]]
id = "a"
phase = "quiesce"
on = "target"
run = "a"
undo = "undo-a"
[[step]]
id = "b"
phase = "quiesce"
on = "target"
run = "b"
on_failure = "rollback"
)";

// An undo is never run unrecorded either: resume would take the step it
// undid for done. The rollback stops there and says why.
TEST(StepStart, AnUndoWhoseStartCouldNotBeSyncedNeverRuns) {
  LOAD_RUNBOOK(rb, kUndoThenFail);
  Harness h;
  h.world.respond_by_script([](const std::string& script, int) { return exited(script == "b" ? 1 : 0); });
  class FailsAtTheUndo : public SyncingSink {
   public:
    FailsAtTheUndo() : SyncingSink("") {}
    void settle(const RunEvent& e) override {
      if (e.kind == EventKind::step_started && e.rollback) {
        std::lock_guard<std::mutex> lock(mu);
        failed = "cannot write journal /state/run.jsonl: No space left on device";
      }
    }
    std::string failure() const override {
      std::lock_guard<std::mutex> lock(mu);
      return failed;
    }
    mutable std::mutex mu;
    std::string failed;
  } sink;
  Executor ex(rb, Operation::switchover, h.pool, sink, h.opts);
  RunResult r = ex.run(fresh(kInitial));
  EXPECT_NE(r.exit_code, 0);
  Strings ran;
  for (const FakeCall& c : h.world.calls()) ran.push_back(c.cmd.script);
  EXPECT_EQ(ran, (Strings{"a", "b"})) << "the undo ran unrecorded";
  std::string told = r.message;
  for (const RunEvent& e : sink.events()) told += "\n" + e.reason;
  EXPECT_NE(told.find("No space left on device"), std::string::npos) << told;
}

// A signal while an undo's start is synced: the undo does not start, and
// the closing words send the operator on with --rollback (a plain resume
// refuses once a rollback has begun).
TEST(StepStart, ASignalDuringAnUndosStartSaysResumeWithRollback) {
  LOAD_RUNBOOK(rb, kUndoThenFail);
  Harness h;
  h.world.respond_by_script([](const std::string& script, int) { return exited(script == "b" ? 1 : 0); });
  std::atomic<int> stop{0};
  h.opts.stop = &stop;
  class SignalAtTheUndo : public RecordingSink {
   public:
    explicit SignalAtTheUndo(std::atomic<int>* s) : stop_(s) {}
    void settle(const RunEvent& e) override {
      if (e.kind == EventKind::step_started && e.rollback) *stop_ = 15;
    }
    std::atomic<int>* stop_;
  } sink(&stop);
  Executor ex(rb, Operation::switchover, h.pool, sink, h.opts);
  RunResult r = ex.run(fresh(kInitial));
  EXPECT_EQ(r.exit_code, 128 + 15) << r.message;
  Strings ran;
  for (const FakeCall& c : h.world.calls()) ran.push_back(c.cmd.script);
  EXPECT_EQ(ran, (Strings{"a", "b"}));
  EXPECT_NE(r.message.find("--rollback` goes on undoing"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace baton
