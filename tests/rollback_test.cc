// Rollback cannot make things worse: a completed promote without an undo
// is a point of no return; a failed step's undo runs too; a run is rolled
// back only when the probe finds the old source primary again; a refused
// rollback leaves the way forward open.
#include <gtest/gtest.h>

#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;

// "main" is made read-only (undo: writable again), "dr" promoted, and the
// verify step fails: the shape of the split-brain rollback users hit.
std::string runbook(const std::string& promote_undo, const std::string& extra = "") {
  return kProbed + R"(
[[step]]
id = "stop-app"
phase = "quiesce"
on = "source"
run = "stop-app"
undo = "start-app-again"

[[step]]
id = "make-ro"
phase = "stop_replication"
on = "source"
run = "make-ro"
undo = "make-rw"

[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"
)" + promote_undo + R"(

[[step]]
id = "verify"
phase = "verify"
on = "source"
run = "verify"
)" + extra;
}

struct RollbackHarness : Harness {
  FakePair pair;
  RollbackHarness() {
    pair.effects["make-ro"] = {"main", "standby"};
    pair.effects["make-rw"] = {"main", "primary"};
    pair.effects["promote"] = {"dr", "primary"};
    pair.effects["demote"] = {"dr", "standby"};
    pair.fail["verify"] = exited(1, "", "the application does not answer");
    pair.attach(world);
  }
  RunResult resume(const Runbook& rb, std::optional<MachineEvent> recovery) {
    ExecutorOptions o = opts;
    o.recovery = recovery;
    Executor ex(rb, Operation::switchover, pool, sink, o);
    return ex.run(resume_state(sink, saved.empty() ? kInitial : saved.back()));
  }
  Strings undos() {
    Strings v;
    for (const RunEvent& e : sink.of(EventKind::step_started))
      if (e.rollback) v.push_back(e.step);
    return v;
  }
};

TEST(Rollback, RefusedAtACompletedPromoteWithoutUndo) {
  LOAD_RUNBOOK(rb, runbook(""));
  RollbackHarness h;
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 1);
  RunResult r = h.resume(rb, MachineEvent::rollback);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_TRUE(h.undos().empty()) << "nothing may be undone";
  EXPECT_TRUE(h.world.calls_of("make-rw").empty());
  EXPECT_NE(h.pair.get("main"), "primary") << "two primaries";
  EXPECT_NE(r.message.find("a rollback is not possible: promote step promote promoted dr.db and has no undo"),
            std::string::npos) << r.message;
  EXPECT_NE(r.message.find("`baton resume rb.toml` goes on from the failed step"), std::string::npos) << r.message;
}

TEST(Rollback, ARefusedRollbackLeavesTheWayForwardOpen) {
  LOAD_RUNBOOK(rb, runbook(""));
  RollbackHarness h;
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 1);
  ASSERT_EQ(h.resume(rb, MachineEvent::rollback).exit_code, 1);
  h.pair.fail.erase("verify");  // The application answers now.
  RunResult r = h.resume(rb, std::nullopt);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.state, "completed");
}

TEST(Rollback, APromoteWithAnUndoIsUndoneFirstAndTheProbeConfirms) {
  LOAD_RUNBOOK(rb, runbook("undo = \"demote\""));
  RollbackHarness h;
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 1);
  RunResult r = h.resume(rb, MachineEvent::rollback);
  EXPECT_EQ(r.state, "rolled_back") << r.message;
  EXPECT_EQ(h.undos(), (Strings{"promote", "make-ro", "stop-app"}));
  EXPECT_EQ(h.pair.get("main"), "primary");
  EXPECT_EQ(h.pair.get("dr"), "standby");
  auto probes = h.sink.of(EventKind::probed);
  ASSERT_GE(probes.size(), 2u);
  EXPECT_EQ(probes.back().phase, "after the rollback");
  EXPECT_EQ(h.saved.back().source, "main");
}

TEST(Rollback, NotRolledBackUntilTheProbeAgrees) {
  LOAD_RUNBOOK(rb, runbook("undo = \"demote\""));
  RollbackHarness h;
  h.pair.effects.erase("make-rw");  // The undo "works" but main stays read-only.
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 1);
  RunResult r = h.resume(rb, MachineEvent::rollback);
  EXPECT_EQ(r.state, "failed");
  EXPECT_NE(r.message.find("every undo ran, but the probe does not see main primary"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("main.db  standby"), std::string::npos) << r.message;
}

TEST(Rollback, AFailedStepMayHaveActedSoItsUndoRunsToo) {
  LOAD_RUNBOOK(rb, runbook("undo = \"demote\""));
  RollbackHarness h;
  h.pair.fail["make-ro"] = exited(1, "", "half done");  // It acted, then failed.
  ASSERT_EQ(h.run(rb, Operation::switchover).exit_code, 1);
  EXPECT_EQ(h.pair.get("main"), "standby");
  RunResult r = h.resume(rb, MachineEvent::rollback);
  EXPECT_EQ(r.state, "rolled_back") << r.message;
  EXPECT_EQ(h.undos(), (Strings{"make-ro", "stop-app"}));
  EXPECT_EQ(h.pair.get("main"), "primary");
}

TEST(Rollback, OnFailureRollbackObeysTheSameBoundary) {
  LOAD_RUNBOOK(rb, runbook("", "on_failure = \"rollback\"\n"));
  RollbackHarness h;
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.state, "failed");
  EXPECT_TRUE(h.undos().empty());
  EXPECT_NE(h.pair.get("main"), "primary");
}

}  // namespace
}  // namespace baton
