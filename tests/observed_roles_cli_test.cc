// The built binary on local runbooks whose "databases" are flag files:
// SITE.rw exists while that site is writable, and the probe reports it.
// Rollback never leaves two writable sites; status tells a live run;
// a lossy failover stops at the RPO unless accepted; adopt records reality.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "orchestrator/json.h"
#include "tests/cli_support.h"

namespace baton {
namespace {

using namespace baton::testing;

// Two sites on this machine; the probe says primary for a writable site.
std::string header(const std::string& dir, const std::string& rpo = "0s") {
  return "[runbook]\nname = \"flags\"\nrto = \"1m\"\nrpo = \"" + rpo +
         "\"\n[sites.main.hosts.db]\naddress = \"local\"\n[sites.dr.hosts.db]\naddress = \"local\"\n"
         "[replication]\nsource = \"main\"\ntarget = \"dr\"\n[vars]\nd = \"" + dir + "\"\n" + R"RB(
[probe]
run = 'if [ -e "$d/${BATON_HOST%%.*}.rw" ]; then echo primary; else echo standby; fi'
)RB";
}

const char* kSplitBrainRunbook = R"RB(
[[step]]
id = "make-main-read-only"
phase = "stop_replication"
on = "source"
run = 'rm -f "$d/main.rw"'
undo = 'touch "$d/main.rw"'

[[step]]
id = "promote-dr"
phase = "promote"
on = "target"
run = 'touch "$d/dr.rw"'

[[step]]
id = "verify"
phase = "verify"
on = "source"
run = 'echo "the application does not answer" >&2; exit 1'
)RB";

struct Flags {
  TempDir d;
  std::string rb = d.path + "/rb.toml";
  Flags(const std::string& steps, const std::string& rpo = "0s") {
    write(rb, header(d.path, rpo) + steps);
    write(d.path + "/main.rw", "");
  }
  CommandResult baton_cmd(const std::string& args) {
    const size_t space = args.find(' ');  // "VERB FLAGS..."
    return baton_at(d.path + "/state", args.substr(0, space), rb, space == std::string::npos ? "" : args.substr(space));
  }
  bool writable(const std::string& site) const { return exists(d.path + "/" + site + ".rw"); }
};

// Samples both flags every millisecond while a command runs.
struct Sampler {
  const Flags& f;
  std::atomic<bool> stop{false};
  std::atomic<int> both{0}, samples{0};
  std::thread t;
  explicit Sampler(const Flags& fl) : f(fl), t([this] {
    while (!stop) {
      both += f.writable("main") && f.writable("dr");
      ++samples;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }) {}
  ~Sampler() {
    stop = true;
    t.join();
  }
};

const char* kSwitchover = R"RB(
[[step]]
id = "swap"
phase = "promote"
on = "target"
run = 'rm -f "$d/$BATON_SOURCE_SITE.rw"; touch "$d/$BATON_TARGET_SITE.rw"'
)RB";

TEST(ObservedRolesCli, RollbackNeverLeavesTwoWritableSites) {
  Flags f(kSplitBrainRunbook);
  CommandResult r = f.baton_cmd("switchover --yes");
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_FALSE(f.writable("main"));
  EXPECT_TRUE(f.writable("dr"));
  {
    Sampler s(f);
    r = f.baton_cmd("resume --rollback --yes");
    EXPECT_EQ(s.both.load(), 0) << "main and dr were both writable";
  }
  EXPECT_FALSE(f.writable("main") && f.writable("dr"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("The rollback was refused: a rollback is not possible: promote step promote-dr promoted "
                       "dr.db and has no undo, so undoing the steps before it could leave two primaries"),
            std::string::npos) << r.err;
  // The command to copy acts on the same state directory as this run.
  EXPECT_NE(r.err.find("`baton resume " + f.rb + " --state-dir " + f.d.path + "/state` goes on from the failed step"),
            std::string::npos) << r.err;
  // The way forward stays open: resume goes on (and fails the same verify).
  r = f.baton_cmd("resume --yes");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("FAIL  verify"), std::string::npos) << r.out;
}

TEST(ObservedRolesCli, StatusOfALiveRunSaysRunning) {
  Flags f(R"RB(
[[step]]
id = "slow-step"
phase = "preflight"
on = "source"
run = 'touch "$d/started"; sleep 3'
)RB" + std::string(kSwitchover));
  std::thread run([&] { f.baton_cmd("switchover --yes"); });
  for (int i = 0; i < 300 && !exists(f.d.path + "/started"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CommandResult st = f.baton_cmd("status");
  CommandResult js = f.baton_cmd("status --json --offline");
  run.join();
  EXPECT_NE(st.out.find("running   pid "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("now: slow-step on main.db"), std::string::npos) << st.out;
  EXPECT_EQ(st.out.find("resumable"), std::string::npos) << st.out;
  EXPECT_EQ(st.out.find("interrupted"), std::string::npos) << st.out;
  Json j;
  ASSERT_TRUE(parse_json(js.out, &j)) << js.out;
  ASSERT_TRUE(j.v["running"].is_object()) << js.out;
  EXPECT_GT(j.v["running"]["pid"].get<long>(), 0);
  EXPECT_EQ(j.v["running"]["step"], "slow-step");
  EXPECT_EQ(j.v["running"]["operation"], "switchover");
  CommandResult after = f.baton_cmd("status --json");
  ASSERT_TRUE(parse_json(after.out, &j)) << after.out;
  EXPECT_TRUE(j.v["running"].is_null());
  EXPECT_EQ(j.v["last_run"]["state"], "completed");
}

const char* kLossyFailover = R"RB(
[[step]]
id = "measure-loss"
phase = "verify_sync"
on = "target"
measures = "data_loss"
run = 'echo "5 transactions lost (the replica executed up to 0-1-95, the primary wrote 0-1-100)"'

[[step]]
id = "promote-dr"
phase = "promote"
on = "target"
run = 'rm -f "$d/main.rw"; touch "$d/dr.rw"'
)RB";

TEST(ObservedRolesCli, LossyFailoverStopsAtTheRpoUnlessAccepted) {
  Flags f(kLossyFailover, "0 transactions");
  CommandResult r = f.baton_cmd("failover --yes");
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_FALSE(f.writable("dr"));
  EXPECT_NE(r.err.find("promoting now loses 5 transactions"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--accept-data-loss"), std::string::npos) << r.err;
  r = f.baton_cmd("resume --yes --accept-data-loss");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(f.writable("dr"));
  std::string last = r.out.substr(r.out.rfind("failover "));
  EXPECT_NE(last.find("RPO 0 transactions: missed by 5 transactions"), std::string::npos) << r.out;
  Json j;
  CommandResult rep = f.baton_cmd("report --json");
  ASSERT_TRUE(parse_json(rep.out, &j)) << rep.out;
  EXPECT_EQ(j.v["summary"]["rpo_verdict"], "missed by 5 transactions");
  EXPECT_EQ(j.v["summary"]["data_loss"], "5 transactions");
  CommandResult hist = f.baton_cmd("history");
  EXPECT_NE(hist.out.find("missed by 5 transactions"), std::string::npos) << hist.out;
}

TEST(ObservedRolesCli, AcceptedUpFrontTheFailoverCompletesInOneGo) {
  Flags f(kLossyFailover, "0 transactions");
  CommandResult r = f.baton_cmd("failover --yes --accept-data-loss");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("RPO 0 transactions: missed by 5 transactions"), std::string::npos) << r.out;
}


TEST(ObservedRolesCli, NoStateDirectoryTakesTheRolesFromTheProbe) {
  Flags f(kSwitchover);
  sh("rm -f " + f.d.path + "/main.rw && touch " + f.d.path + "/dr.rw");
  CommandResult r = f.baton_cmd("switchover --yes");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("no roles stored yet: the probe sees dr.db primary"), std::string::npos) << r.out;
  EXPECT_TRUE(f.writable("main"));
  EXPECT_FALSE(f.writable("dr"));
}

TEST(ObservedRolesCli, ContradictionIsRefusedUntilAdopted) {
  Flags f(kSwitchover);
  ASSERT_EQ(f.baton_cmd("switchover --yes").exit_code, 0);  // Stored: source dr.
  sh("rm -f " + f.d.path + "/dr.rw && touch " + f.d.path + "/main.rw");  // Swapped back by hand.
  CommandResult r = f.baton_cmd("switchover --yes");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("baton adopt " + f.rb + " --state-dir " + f.d.path + "/state --source main"), std::string::npos)
      << r.err;
  CommandResult st = f.baton_cmd("status");
  EXPECT_EQ(st.exit_code, 3);
  EXPECT_NE(st.out.find("baton adopt " + f.rb + " --state-dir " + f.d.path + "/state --source main"), std::string::npos)
      << st.out;
  EXPECT_EQ(f.baton_cmd("adopt --source dr --yes").exit_code, 3);  // The probe contradicts it.
  EXPECT_EQ(f.baton_cmd("adopt --source main").exit_code, 4);      // No terminal, no --yes.
  r = f.baton_cmd("adopt --source main --yes");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  st = f.baton_cmd("status");
  EXPECT_EQ(st.exit_code, 0) << st.out;
  EXPECT_NE(st.out.find("roles     source main, target dr"), std::string::npos) << st.out;
  EXPECT_NE(f.baton_cmd("history").out.find("adopt"), std::string::npos);
  EXPECT_EQ(f.baton_cmd("switchover --yes").exit_code, 0);
  EXPECT_TRUE(f.writable("dr"));
}

TEST(ObservedRolesCli, SplitBrainInStatusAndCheck) {
  Flags f(kSwitchover);
  write(f.d.path + "/dr.rw", "");
  for (const char* verb : {"status", "check"}) {
    CommandResult r = f.baton_cmd(verb);
    EXPECT_EQ(r.exit_code, 3) << verb << r.out;
    EXPECT_NE(r.out.find("split brain: main.db and dr.db are both primary"), std::string::npos) << verb << r.out;
  }
  CommandResult r = f.baton_cmd("switchover --yes");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("split brain"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace baton
