// The built `baton` binary driving steps on two real sshd "hosts":
// check, host keys, parallel groups, and a host going away mid-run.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <map>
#include <thread>

#include "orchestrator/journal.h"
#include "orchestrator/json.h"
#include "tests/cli_support.h"
#include "tests/sshd_fixture.h"

namespace baton {
namespace {

using namespace baton::testing;
using Clock = std::chrono::steady_clock;

std::string host_table(const std::string& site, const SshdFixture& s) {
  return "[sites." + site + ".hosts.db]\naddress = \"" + s.address() + "\"\nport = " + std::to_string(s.port()) +
         "\nuser = \"" + s.user() + "\"\nidentity = \"" + s.identity_path() + "\"\n";
}

class SshCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(main_.ok()) << main_.error();
    ASSERT_TRUE(dr_.ok()) << dr_.error();
    known_hosts_ = d_.path + "/known_hosts";
    write(known_hosts_, main_.known_hosts_line() + "\n" + dr_.known_hosts_line() + "\n");
  }

  std::string runbook(const std::string& steps) {
    std::string rb = d_.path + "/rb.toml";
    write(rb, "[runbook]\nname = \"ssh\"\n" + host_table("main", main_) + host_table("dr", dr_) +
                  "[replication]\nsource = \"main\"\ntarget = \"dr\"\n[ssh]\nknown_hosts = \"" + known_hosts_ +
                  "\"\n" + steps);
    return rb;
  }
  CommandResult baton_cmd(const std::string& verb, const std::string& rb, const std::string& flags = "") {
    return sh(baton() + " " + verb + " " + shell_quote(rb) + " --state-dir " + shell_quote(d_.path + "/state") + " " +
              flags);
  }

  TempDir d_;
  SshdFixture main_, dr_;
  std::string known_hosts_;
};

const char* kPreflight = R"toml(
[[step]]
id = "whoami"
phase = "preflight"
on = "target"
run = 'test "$(id -un)" = "$expected_user"'
)toml";

TEST_F(SshCli, CheckReportsHostsKeysAndPreflight) {
  std::string rb = runbook("[vars]\nexpected_user = \"" + dr_.user() + "\"\n" + kPreflight);
  CommandResult r = baton_cmd("check", rb);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("main.db"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("host key ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    whoami"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check passed"), std::string::npos) << r.out;
}

TEST_F(SshCli, CheckFailsWhenAPreflightStepFails) {
  std::string rb = runbook("[vars]\nexpected_user = \"nobody-here\"\n" + std::string(kPreflight));
  CommandResult r = baton_cmd("check", rb);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  whoami"), std::string::npos) << r.out;
}

TEST_F(SshCli, UnknownHostKeyIsRefusedThenAcceptedNew) {
  write(known_hosts_, "");
  std::string rb = runbook("");
  CommandResult r = baton_cmd("check", rb);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find(main_.host_key_fingerprint()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ssh-keyscan"), std::string::npos) << r.out;
  CommandResult a = baton_cmd("check", rb, "--accept-new-host-keys");
  EXPECT_EQ(a.exit_code, 0) << a.out << a.err;
  EXPECT_NE(read(known_hosts_).find(main_.host_pattern()), std::string::npos);
  EXPECT_EQ(baton_cmd("check", rb).exit_code, 0);  // Recorded: known from now on.
}

TEST_F(SshCli, ChangedHostKeyIsRefusedEvenWithAcceptNew) {
  // dr's key recorded under main's address and port: a changed key.
  std::string dr_key = dr_.known_hosts_line().substr(dr_.known_hosts_line().find(' '));
  write(known_hosts_, main_.host_pattern() + dr_key + "\n" + dr_.known_hosts_line() + "\n");
  CommandResult r = baton_cmd("check", runbook(""), "--accept-new-host-keys");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("CHANGED"), std::string::npos) << r.out;
}

TEST_F(SshCli, GroupOnTwoHostsRunsInParallel) {
  std::string rb = runbook(R"(
[[step]]
id = "slow-main"
phase = "promote"
on = "main"
group = "both"
run = "sleep 1"

[[step]]
id = "slow-dr"
phase = "promote"
on = "dr"
group = "both"
run = "sleep 1"

[[step]]
id = "where"
phase = "verify"
on = "source"
run = "echo $BATON_HOST"
capture = "host"
)");
  CommandResult r = baton_cmd("switchover", rb);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Side by side: each started before the other finished (the journal's
  // clock, so a slow machine or a sanitizer build cannot fake or hide it).
  const std::string dir = d_.path + "/state/ssh";
  std::map<std::string, long long> started, finished;
  for (const Json& j : read_journal(journal_path(dir, list_runs(dir).back())).records) {
    if (j.str("event") == "step_started") started[j.str("step")] = j.num("time_ms");
    if (j.str("event") == "step_finished") finished[j.str("step")] = j.num("time_ms");
  }
  ASSERT_TRUE(started.count("slow-main") && started.count("slow-dr")) << r.out;
  EXPECT_LT(started["slow-dr"], finished["slow-main"]) << r.out;
  EXPECT_LT(started["slow-main"], finished["slow-dr"]) << r.out;
  EXPECT_GE(finished["slow-main"] - started["slow-main"], 1000);
  // After the promote, "source" is dr.
  EXPECT_NE(baton_cmd("report", rb, "--json").out.find("\"host\":\"dr.db\""), std::string::npos);
}

TEST_F(SshCli, HostDownFailsPreflightNamingHostAndWhatToDo) {
  std::string rb = runbook("[vars]\nexpected_user = \"" + dr_.user() + "\"\n" + kPreflight);
  dr_.stop();
  CommandResult r = baton_cmd("switchover", rb);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("step whoami failed on dr.db"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(dr_.port())), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Nothing was changed"), std::string::npos) << r.err;
  // Back up: resume retries from the failed step and succeeds.
  ASSERT_EQ(dr_.start(), "");
  CommandResult again = baton_cmd("resume", rb);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// The remote step's process group, from the journal's step_process record.
long remote_pgid(const std::string& state, const std::string& step) {
  for (int i = 0; i < 500; ++i) {
    CommandResult r = sh("cat " + shell_quote(state) + "/ssh/runs/*.jsonl 2>/dev/null | grep '\"step_process\"' | grep '\"" +
                         step + "\"' | sed 's/.*\"pgid\":\\([0-9]*\\).*/\\1/' | tail -1");
    if (!r.out.empty() && r.out != "\n") return std::stol(r.out);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

bool group_alive(long pgid) {
  return sh("for f in /proc/[0-9]*/stat; do read -r l <\"$f\" 2>/dev/null || continue; set -- ${l##*') '}; "
            "[ \"$1\" != Z ] && [ \"$3\" = " + std::to_string(pgid) + " ] && exit 0; done; exit 1")
             .exit_code == 0;
}

TEST_F(SshCli, SigtermStopsTheRemoteCommandToo) {
  std::string rb = runbook(R"toml(
[[step]]
id = "remote-wait"
phase = "preflight"
on = "target"
run = 'sleep 60 & wait'
)toml");
  const std::string dir = d_.path;
  sh("( " + baton() + " switchover " + shell_quote(rb) + " --state-dir " + shell_quote(dir + "/state") + " >" + dir +
     "/out 2>&1 </dev/null & echo $! >" + dir + "/pid; wait $!; echo $? >" + dir + "/rc ) >/dev/null 2>&1 &");
  long pgid = remote_pgid(dir + "/state", "remote-wait");
  ASSERT_GT(pgid, 1) << read(dir + "/out");
  ASSERT_TRUE(group_alive(pgid));
  ASSERT_EQ(::kill(std::stoi(read(dir + "/pid")), SIGTERM), 0);
  std::string rc;
  for (int i = 0; i < 1000 && rc.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    rc = read(dir + "/rc");
  }
  EXPECT_EQ(rc, "143\n") << read(dir + "/out");
  EXPECT_FALSE(group_alive(pgid)) << "the remote command outlived the run";
  EXPECT_NE(read(dir + "/out").find("killed remote-wait on dr.db"), std::string::npos) << read(dir + "/out");
}

TEST_F(SshCli, ResumeWaitsForARemoteStepBatonLeftRunning) {
  std::string rb = runbook(R"toml(
[[step]]
id = "remote-wait"
phase = "stop_replication"
on = "target"
run = 'sleep 3 & wait'
)toml");
  const std::string dir = d_.path;
  sh("( " + baton() + " switchover " + shell_quote(rb) + " --state-dir " + shell_quote(dir + "/state") + " >" + dir +
     "/out 2>&1 </dev/null & echo $! >" + dir + "/pid; wait $! ) >/dev/null 2>&1 &");
  long pgid = remote_pgid(dir + "/state", "remote-wait");
  ASSERT_GT(pgid, 1) << read(dir + "/out");
  ASSERT_EQ(::kill(std::stoi(read(dir + "/pid")), SIGKILL), 0);  // Baton dies; the remote step does not.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(group_alive(pgid));
  CommandResult r = baton_cmd("resume", rb);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("step remote-wait of the stopped run is still running on dr.db (process group " +
                       std::to_string(pgid) + ")"), std::string::npos) << r.err;
  for (int i = 0; i < 100 && group_alive(pgid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  r = baton_cmd("resume", rb);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(SshCli, RevokedHostKeyFailsCheckAndIsNotAcceptedNew) {
  const std::string line = main_.known_hosts_line();
  const std::string revoked = "@revoked * " + line.substr(line.find(' ') + 1) + "\n";
  write(known_hosts_, revoked + dr_.known_hosts_line() + "\n");
  CommandResult r = baton_cmd("check", runbook(""), "--accept-new-host-keys");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("host key revoked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("main.db (127.0.0.1:" + std::to_string(main_.port()) + ") is REVOKED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(main_.host_key_fingerprint()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(known_hosts_ + ":1"), std::string::npos) << r.out;
  EXPECT_EQ(read(known_hosts_), revoked + dr_.known_hosts_line() + "\n");  // Nothing recorded.
}

}  // namespace
}  // namespace baton
