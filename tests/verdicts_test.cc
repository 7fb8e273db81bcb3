// Honest verdicts: the RPO judged against the measured loss (and a gate
// before the promote), the RTO only for completed runs, and a last word
// that fits the case.
#include <gtest/gtest.h>

#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;

std::string failover_runbook(const std::string& rpo, const std::string& measured) {
  return R"(
[runbook]
name = "rb"
rto = "1h"
rpo = ")" + rpo + R"("
[sites.main.hosts.db]
address = "local"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"

[[step]]
id = "measure"
phase = "verify_sync"
on = "target"
measures = "data_loss"
run = "measure"

[[step]]
id = "promote"
phase = "promote"
on = "target"
run = "promote"
)" + std::string(measured.empty() ? "" : "");
}

struct LossHarness : Harness {
  explicit LossHarness(const std::string& loss) {
    world.respond_by_script([loss](const std::string& s, int) {
      return s == "measure" ? exited(0, loss + "\n") : exited(0);
    });
  }
  RunEvent finished() { return sink.of(EventKind::run_finished).back(); }
};

TEST(RpoGate, LossOverTheRpoStopsBeforeThePromoteWithoutATerminal) {
  LOAD_RUNBOOK(rb, failover_runbook("0s", ""));
  LossHarness h("1234 bytes of WAL lost (standby received up to 0/3000060)");
  RunResult r = h.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 4) << r.message;
  EXPECT_TRUE(h.world.calls_of("promote").empty());
  EXPECT_NE(r.message.find("promoting now loses 1234 bytes"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("the RPO is 0s: missed by 1234 bytes"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("`baton resume rb.toml --accept-data-loss`"), std::string::npos) << r.message;
  EXPECT_EQ(h.finished().rpo_verdict, "missed by 1234 bytes");
  EXPECT_EQ(h.finished().rto_verdict, "");  // Not completed: no RTO verdict.
  // The operator accepts: resume promotes, and the verdict stays on record.
  ExecutorOptions o = h.opts;
  o.accept_data_loss = true;
  Executor ex(rb, Operation::failover, h.pool, h.sink, o);
  RunResult done = ex.run(resume_state(h.sink, kInitial));
  EXPECT_EQ(done.exit_code, 0) << done.message;
  EXPECT_EQ(h.world.calls_of("promote").size(), 1u);
  EXPECT_EQ(h.finished().rpo_verdict, "missed by 1234 bytes");
  EXPECT_EQ(h.finished().data_loss, "1234 bytes");
  EXPECT_EQ(h.finished().rto_verdict, "met");
}

TEST(RpoGate, FlagGivenUpFrontCompletesWithRpoMissed) {
  LOAD_RUNBOOK(rb, failover_runbook("0 transactions", ""));
  LossHarness h("3 transactions");
  h.opts.accept_data_loss = true;
  RunResult r = h.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.finished().rpo_verdict, "missed by 3 transactions");
  EXPECT_EQ(h.finished().rpo, "0 transactions");
}

TEST(RpoGate, OperatorIsAskedOnATerminal) {
  LOAD_RUNBOOK(rb, failover_runbook("0s", ""));
  for (bool answer : {false, true}) {
    LossHarness h("unknown (the old primary is unreachable)");
    std::string asked;
    h.opts.ask = [&](const std::string& q) {
      asked = q;
      return answer;
    };
    RunResult r = h.run(rb, Operation::failover);
    EXPECT_NE(asked.find("promoting now loses an unknown amount"), std::string::npos) << asked;
    EXPECT_EQ(r.exit_code, answer ? 0 : 4) << r.message;
    EXPECT_EQ(h.world.calls_of("promote").size(), answer ? 1u : 0u);
  }
}

TEST(RpoGate, WithinTheObjectiveNothingIsAsked) {
  LOAD_RUNBOOK(rb, failover_runbook("16MB", ""));
  LossHarness h("8 kB of WAL");
  RunResult r = h.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.finished().rpo_verdict, "met (lost 8 kB)");
}

TEST(RpoGate, AMeasureThatSaysNothingUsableFailsTheStep) {
  LOAD_RUNBOOK(rb, failover_runbook("0s", ""));
  LossHarness h("all good");
  RunResult r = h.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.message.find("starts with neither an amount"), std::string::npos) << r.message;
}

TEST(Verdicts, NothingMeasuredSaysSo) {
  LOAD_RUNBOOK(rb, R"(
[runbook]
name = "rb"
rto = "1h"
rpo = "0s"
[sites.main.hosts.db]
address = "local"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
[[step]]
id = "pre"
phase = "preflight"
on = "source"
run = "pre"
)");
  Harness h;
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0);
  RunEvent f = h.sink.of(EventKind::run_finished).back();
  EXPECT_EQ(f.rpo_verdict, "not measured");
  EXPECT_EQ(f.rto_verdict, "met");
  // A failed run: no RTO verdict, and the advice fits a preflight failure.
  Harness g;
  g.world.respond_by_script([](const std::string& s, int) { return exited(s == "pre" ? 1 : 0); });
  r = g.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 3);
  f = g.sink.of(EventKind::run_finished).back();
  EXPECT_EQ(f.rto_verdict, "");
  EXPECT_EQ(f.rpo_verdict, "not measured");
  EXPECT_NE(r.message.find("Nothing was changed: fix the cause and run `baton switchover rb.toml` again"),
            std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("resume"), std::string::npos) << r.message;
}

TEST(Verdicts, AFailedDrillSaysItsCleanupRan) {
  LOAD_RUNBOOK(rb, kHeader + R"(
[[step]]
id = "clone"
phase = "verify_sync"
on = "target"
operations = ["drill"]
run = "clone"
[[step]]
id = "remove-clone"
phase = "cleanup"
on = "target"
run = "remove"
)");
  Harness h;
  h.world.respond_by_script([](const std::string& s, int) { return exited(s == "clone" ? 1 : 0); });
  RunResult r = h.run(rb, Operation::drill);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(h.world.calls_of("remove").size(), 1u);
  EXPECT_NE(r.message.find("The drill's cleanup ran and production was not changed"), std::string::npos)
      << r.message;
  EXPECT_EQ(r.message.find("resume"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace baton
