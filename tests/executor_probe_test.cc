// The executor believes the hosts, not its files: it probes every host at
// the start of each operation, after the promote and after a rollback;
// names split brain and no primary; refuses when the stored roles
// contradict the hosts; and --abort records what the hosts are.
#include <gtest/gtest.h>

#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;

const std::string kPairRunbook = kProbed + R"(
[[step]]
id = "pre"
phase = "preflight"
on = "source"
run = "pre"

[[step]]
id = "fence"
phase = "fence"
on = "source"
run = "fence"

[[step]]
id = "stop-old"
phase = "stop_replication"
on = "source"
operations = ["switchover"]
run = "stop-old"

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

struct ProbeHarness : Harness {
  FakePair pair;
  ProbeHarness() {
    pair.effects["stop-old"] = {"main", "down"};
    pair.effects["fence"] = {"main", "down"};
    pair.effects["promote"] = {"dr", "primary"};
    pair.effects["follow"] = {"main", "standby"};
    pair.attach(world);
  }
  Strings steps_run() {
    Strings v;
    for (const std::string& s : world.scripts())
      if (s != "probe") v.push_back(s);
    return v;
  }
};

TEST(ExecutorProbe, EveryHostIsProbedBeforePreflightAndAfterThePromote) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.world.scripts(), (Strings{"probe", "probe", "pre", "stop-old", "promote", "probe", "probe",
                                        "start-app", "follow"}));
  auto probed = h.sink.of(EventKind::probed);
  ASSERT_EQ(probed.size(), 4u);
  EXPECT_EQ(probed[0].phase, "at the start");
  EXPECT_EQ(probed[0].status, "primary");
  ASSERT_EQ(probed[0].facts.size(), 1u);
  EXPECT_EQ(probed[0].facts[0].second, "0/1");
  EXPECT_EQ(probed[2].phase, "after the promote");
  // The start's probe is on record right after the run starts.
  auto ev = h.sink.events();
  EXPECT_EQ(ev[0].kind, EventKind::run_started);
  EXPECT_EQ(ev[1].kind, EventKind::probed);
}

TEST(ExecutorProbe, SplitBrainRefusesEveryOperationButAFlaggedFailover) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  for (Operation op : {Operation::switchover, Operation::drill, Operation::reverse_sync, Operation::failover}) {
    ProbeHarness h;
    h.pair.set("dr", "primary");
    RunResult r = h.run(rb, op, op == Operation::reverse_sync ? Roles{"main", "dr", "dr"} : kInitial);
    EXPECT_EQ(r.exit_code, 3) << name(op) << ": " << r.message;
    EXPECT_NE(r.message.find("split brain: main.db and dr.db are both primary"), std::string::npos) << r.message;
    EXPECT_TRUE(h.steps_run().empty()) << name(op);
    if (op == Operation::failover) {
      EXPECT_NE(r.message.find("--accept-split-brain"), std::string::npos) << r.message;
    }
  }
  ProbeHarness h;
  h.pair.set("dr", "primary");
  h.opts.accept_split_brain = true;
  RunResult r = h.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.steps_run(), (Strings{"pre", "fence", "promote", "start-app"}));
}

TEST(ExecutorProbe, NoPrimaryRefusesASwitchoverButNotAFailover) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  h.pair.set("main", "down");
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 3) << r.message;
  EXPECT_NE(r.message.find("no primary"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("main.db  down"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("baton failover rb.toml"), std::string::npos) << r.message;
  ProbeHarness f;
  f.pair.set("main", "down");
  r = f.run(rb, Operation::failover);
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.roles.source, "dr");
}

TEST(ExecutorProbe, StoredRolesThatContradictTheHostsAreRefusedWithAdopt) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  h.pair.set("main", "standby");
  h.pair.set("dr", "primary");
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.message.find("the stored roles say main is the source, but the probe sees dr.db primary"),
            std::string::npos) << r.message;
  EXPECT_NE(r.message.find("baton adopt rb.toml --source dr"), std::string::npos) << r.message;
  EXPECT_TRUE(h.steps_run().empty());
  EXPECT_TRUE(h.saved.empty());
}

TEST(ExecutorProbe, WithNoStoredRolesTheProbeDecidesAndSaysSo) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  h.pair.set("main", "standby");
  h.pair.set("dr", "primary");
  h.pair.effects["stop-old"] = {"dr", "down"};
  h.pair.effects["promote"] = {"main", "primary"};
  h.pair.effects["follow"] = {"dr", "standby"};
  h.opts.stored_roles = false;
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(h.world.calls_of("pre")[0].host, "dr.db");
  ASSERT_GE(h.saved.size(), 2u);
  EXPECT_EQ(h.saved[0].source, "dr");  // What the probe saw, recorded first.
  EXPECT_EQ(r.roles.source, "main");
  bool said = false;
  for (const RunEvent& e : h.sink.of(EventKind::message))
    said = said || e.reason.find("no roles stored yet: the probe sees dr.db primary") != std::string::npos;
  EXPECT_TRUE(said);
  EXPECT_EQ(h.sink.of(EventKind::run_started)[0].source, "dr");
}

TEST(ExecutorProbe, APromoteThatDidNotTakeStopsTheRun) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  h.pair.effects.erase("promote");
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.state, "failed");
  EXPECT_NE(r.message.find("does not see dr primary"), std::string::npos) << r.message;
  EXPECT_TRUE(h.world.calls_of("start-app").empty());
  EXPECT_TRUE(h.saved.empty());
}

TEST(ExecutorProbe, SplitBrainAfterThePromoteStopsTheRunWithTheNewRoles) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  h.pair.effects.erase("stop-old");  // The old primary stays writable.
  RunResult r = h.run(rb, Operation::switchover);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.message.find("split brain: main.db and dr.db are both primary after the promote"), std::string::npos)
      << r.message;
  EXPECT_TRUE(h.world.calls_of("start-app").empty());
  ASSERT_EQ(h.saved.size(), 1u);  // The promote happened: that is on record.
  EXPECT_EQ(h.saved[0].source, "dr");
}

TEST(ExecutorProbe, ADrillThatPromotedProductionFailsLoudly) {
  LOAD_RUNBOOK(rb, kProbed + R"(
[[step]]
id = "clone-promote"
phase = "promote"
on = "target"
operations = ["drill"]
run = "oops"
)");
  ProbeHarness h;
  h.pair.effects["oops"] = {"dr", "primary"};
  RunResult r = h.run(rb, Operation::drill);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.message.find("the drill changed production: the probe sees dr primary"), std::string::npos)
      << r.message;
}

TEST(ExecutorProbe, AbortRecordsTheRolesTheHostsHave) {
  LOAD_RUNBOOK(rb, kPairRunbook);
  ProbeHarness h;
  // The promote acts, then its step fails: the stored roles are not swapped.
  h.pair.fail["promote"] = exited(1, "", "lost track");
  RunResult r = h.run(rb, Operation::switchover);
  ASSERT_EQ(r.exit_code, 1) << r.message;
  EXPECT_TRUE(h.saved.empty());
  EXPECT_EQ(h.pair.get("dr"), "primary");
  ExecutorOptions o = h.opts;
  o.recovery = MachineEvent::abort;
  Executor ex(rb, Operation::switchover, h.pool, h.sink, o);
  RunResult a = ex.run(resume_state(h.sink, kInitial));
  EXPECT_EQ(a.exit_code, 0) << a.message;
  ASSERT_EQ(h.saved.size(), 1u);
  EXPECT_EQ(h.saved[0].source, "dr");
  EXPECT_EQ(h.saved[0].target, "main");
  EXPECT_EQ(h.saved[0].stale, "main");  // Not a verified replica until a reverse-sync.
}

}  // namespace
}  // namespace baton
