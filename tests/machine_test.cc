#include "states/machine.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

struct Recorder : MachineObserver {
  std::vector<std::string> log;
  void on_transition(const std::string& from, MachineEvent e, const std::string& to) override {
    log.push_back(from + " -" + std::string(name(e)) + "-> " + to);
  }
};

// Walks the happy path and returns the phases visited.
std::vector<std::string> walk(Operation op) {
  Machine m(op);
  std::vector<std::string> seen;
  EXPECT_EQ(m.fire(MachineEvent::start), "");
  while (m.phase()) {
    seen.push_back(m.state());
    EXPECT_EQ(m.fire(MachineEvent::phase_done), "") << m.state();
  }
  EXPECT_EQ(m.state(), "completed");
  EXPECT_TRUE(m.finished());
  return seen;
}

std::vector<std::string> names(const std::vector<Phase>& ps) {
  std::vector<std::string> v;
  for (Phase p : ps) v.emplace_back(name(p));
  return v;
}

TEST(Machine, EachOperationWalksItsPhasesInOrder) {
  EXPECT_EQ(walk(Operation::switchover),
            (std::vector<std::string>{"preflight", "quiesce", "stop_replication", "verify_sync",
                                      "promote", "start_apps", "verify", "reverse_sync"}));
  EXPECT_EQ(walk(Operation::failover),
            (std::vector<std::string>{"preflight", "fence", "stop_replication", "verify_sync",
                                      "promote", "start_apps", "verify"}));
  EXPECT_EQ(walk(Operation::drill),
            (std::vector<std::string>{"preflight", "quiesce", "stop_replication", "verify_sync",
                                      "promote", "start_apps", "verify", "cleanup"}));
  EXPECT_EQ(walk(Operation::reverse_sync),
            (std::vector<std::string>{"preflight", "reverse_sync"}));
  for (Operation op : all_operations()) EXPECT_EQ(walk(op), names(phase_sequence(op)));
}

TEST(Machine, FailureThenResumeRetriesTheFailedPhase) {
  Machine m(Operation::switchover);
  m.fire(MachineEvent::start);
  m.fire(MachineEvent::phase_done);
  m.fire(MachineEvent::phase_done);
  ASSERT_EQ(m.state(), "stop_replication");
  EXPECT_EQ(m.fire(MachineEvent::step_failed), "");
  EXPECT_EQ(m.state(), "failed");
  EXPECT_TRUE(m.failed());
  EXPECT_FALSE(m.finished());
  EXPECT_EQ(m.failed_phase(), Phase::stop_replication);
  EXPECT_EQ(m.fire(MachineEvent::resume), "");
  EXPECT_EQ(m.state(), "stop_replication");
  EXPECT_EQ(m.failed_phase(), std::nullopt);
}

TEST(Machine, RollbackPath) {
  Recorder rec;
  Machine m(Operation::failover, &rec);
  m.fire(MachineEvent::start);
  m.fire(MachineEvent::phase_done);  // fence
  m.fire(MachineEvent::step_failed);
  EXPECT_EQ(m.fire(MachineEvent::rollback), "");
  EXPECT_EQ(m.state(), "rolling_back");
  EXPECT_EQ(m.fire(MachineEvent::rollback_done), "");
  EXPECT_EQ(m.state(), "rolled_back");
  EXPECT_TRUE(m.finished());
  EXPECT_EQ(rec.log, (std::vector<std::string>{
                         "idle -start-> preflight", "preflight -phase_done-> fence",
                         "fence -step_failed-> failed", "failed -rollback-> rolling_back",
                         "rolling_back -rollback_done-> rolled_back"}));
}

TEST(Machine, FailedUndoLeavesTheRunFailed) {
  Machine m(Operation::switchover);
  m.fire(MachineEvent::start);
  m.fire(MachineEvent::step_failed);
  m.fire(MachineEvent::rollback);
  EXPECT_EQ(m.fire(MachineEvent::step_failed), "");
  EXPECT_EQ(m.state(), "failed");
}

TEST(Machine, AbortPath) {
  Machine m(Operation::switchover);
  m.fire(MachineEvent::start);
  m.fire(MachineEvent::step_failed);
  EXPECT_EQ(m.fire(MachineEvent::abort), "");
  EXPECT_EQ(m.state(), "aborted");
  EXPECT_TRUE(m.finished());
}

TEST(Machine, DrillFailureRunsCleanupThenEndsFailed) {
  Machine m(Operation::drill);
  m.fire(MachineEvent::start);
  m.fire(MachineEvent::phase_done);  // quiesce
  m.fire(MachineEvent::phase_done);  // stop_replication
  EXPECT_EQ(m.fire(MachineEvent::step_failed), "");
  EXPECT_EQ(m.state(), "cleanup");
  EXPECT_EQ(m.fire(MachineEvent::phase_done), "");
  EXPECT_EQ(m.state(), "failed");
  EXPECT_EQ(m.failed_phase(), Phase::stop_replication);
}

TEST(Machine, UnexpectedEventIsReportedNotDropped) {
  Recorder rec;
  Machine m(Operation::switchover, &rec);
  std::string err = m.fire(MachineEvent::phase_done);
  EXPECT_EQ(err, "no transition from idle on phase_done");
  EXPECT_EQ(m.state(), "idle");
  m.fire(MachineEvent::start);
  EXPECT_EQ(m.fire(MachineEvent::resume), "no transition from preflight on resume");
  EXPECT_EQ(m.fire(MachineEvent::rollback_done), "no transition from preflight on rollback_done");
  EXPECT_EQ(rec.log.size(), 1u);  // Refusals are not transitions.
}

TEST(Machine, ReplayRebuildsStateSilently) {
  Recorder rec;
  Machine m(Operation::switchover, &rec);
  EXPECT_EQ(m.replay({MachineEvent::start, MachineEvent::phase_done, MachineEvent::phase_done,
                      MachineEvent::step_failed}),
            "");
  EXPECT_EQ(m.state(), "failed");
  EXPECT_EQ(m.failed_phase(), Phase::stop_replication);
  EXPECT_TRUE(rec.log.empty());
}

TEST(Machine, DotComesFromTheTable) {
  const std::string dot = machine_dot();
  EXPECT_EQ(dot.rfind("digraph baton {", 0), 0u);
  for (const TransitionRow& r : transition_table())
    EXPECT_NE(dot.find(r.source + " -> " + r.target), std::string::npos);
  EXPECT_EQ(transition_table().size(), 47u);
  EXPECT_EQ(transition_table().front().source, "idle");
  EXPECT_EQ(transition_table().back().target, "aborted");
}

}  // namespace
}  // namespace baton
