// The built `baton` binary driving steps on two real sshd "hosts":
// check, host keys, parallel groups, and a host going away mid-run.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "orchestrator/journal.h"
#include "orchestrator/json.h"
#include "tests/cli_support.h"
#include "tests/ssh_pair.h"

namespace baton {
namespace {

using namespace baton::testing;
using Clock = std::chrono::steady_clock;

// The runbook's name is "ssh".
class SshCli : public SshPair {
 protected:
  SshCli() : SshPair("ssh") {}
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


// Sessions to every host open at once when the run starts, and a throttled
// sshd (MaxStartups) does not fail the run.

// n host entries (h1..hn) in `site`, all served by one sshd.
std::string many_hosts(const std::string& site, const SshdFixture& s, int n, const std::string& identity = "") {
  std::string t;
  for (int i = 1; i <= n; ++i)
    t += "[sites." + site + ".hosts.h" + std::to_string(i) + "]\naddress = \"" + s.address() +
         "\"\nport = " + std::to_string(s.port()) + "\nuser = \"" + s.user() + "\"\nidentity = \"" +
         (identity.empty() ? s.identity_path() : identity) + "\"\n";
  return t;
}

// The --json events of one kind.
std::vector<Json> events_of(const std::string& out, const std::string& kind) {
  std::vector<Json> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    Json j;
    if (parse_json(line, &j) && j.str("event") == kind) v.push_back(j);
  }
  return v;
}

const char* kFanoutSteps = R"(
[[step]]
id = "check-source"
phase = "preflight"
on = "source"
run = "true"

[[step]]
id = "check-target"
phase = "preflight"
on = "target"
run = "true"

[[step]]
id = "promote-all"
phase = "promote"
on = "target"
run = "true"
)";

struct Fanout {
  TempDir d;
  std::string rb, known_hosts;
  std::string write(const std::string& sites, const std::vector<const SshdFixture*>& servers,
                    const std::string& ssh_extra = "") {
    known_hosts = d.path + "/known_hosts";
    std::string kh;
    for (const SshdFixture* s : servers) kh += s->known_hosts_line() + "\n";
    baton::testing::write(known_hosts, kh);
    rb = d.path + "/rb.toml";
    baton::testing::write(rb, "[runbook]\nname = \"fanout\"\n" + sites +
                                  "[replication]\nsource = \"main\"\ntarget = \"dr\"\n[ssh]\nknown_hosts = \"" +
                                  known_hosts + "\"\n" + ssh_extra + kFanoutSteps);
    return rb;
  }
  CommandResult run(const std::string& flags = "") {
    return sh(baton() + " switchover " + shell_quote(rb) + " --json --state-dir " + shell_quote(d.path + "/state") +
              " " + flags);
  }
};

TEST(SshFanout, SessionsToEveryHostOpenAtOnceWhenTheRunStarts) {
  SshdFixture main, dr;
  ASSERT_TRUE(main.ok()) << main.error();
  ASSERT_TRUE(dr.ok()) << dr.error();
  Fanout f;
  f.write(ssh_host_table("main", main) + many_hosts("dr", dr, 6), {&main, &dr});
  CommandResult r = f.run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<Json> c = events_of(r.out, "host_connected");
  ASSERT_EQ(c.size(), 7u) << r.out;  // main.db and dr.h1..h6, each once
  long long last_start = 0, first_end = LLONG_MAX;
  for (const Json& j : c) {
    EXPECT_EQ(j.str("status"), "ok") << j.str("reason");
    EXPECT_EQ(j.num("attempt"), 1);
    last_start = std::max(last_start, j.num("started_ms"));
    first_end = std::min(first_end, j.num("started_ms") + j.num("duration_ms"));
  }
  // Overlapping: every connect began before the first one ended.
  EXPECT_LE(last_start, first_end) << r.out;
  // The steps found the sessions open: sshd saw one connection per host.
  EXPECT_EQ(dr.connections_accepted(), 6) << dr.log();
  EXPECT_EQ(events_of(r.out, "step_finished").size(), 13u);  // 1 + 6 + 6
}

TEST(SshFanout, ThrottledSshdDropsConnectsYetTheRunSucceeds) {
  SshdFixture main, dr("1:100:1");  // drops every unauthenticated connection beyond one
  ASSERT_TRUE(main.ok()) << main.error();
  ASSERT_TRUE(dr.ok()) << dr.error();
  Fanout f;
  f.write(ssh_host_table("main", main) + many_hosts("dr", dr, 8), {&main, &dr}, "connection_attempts = 20\n");
  CommandResult r = f.run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_GT(dr.connections_dropped(), 0) << dr.log();
  int retried = 0;
  for (const Json& j : events_of(r.out, "host_connected")) {
    EXPECT_EQ(j.str("status"), "ok") << j.str("reason");
    EXPECT_EQ(j.num("max_attempts"), 20);
    retried += j.num("attempt") > 1;
  }
  EXPECT_GT(retried, 0) << r.out;
}

TEST(SshFanout, AuthenticationFailureIsNotRetriedAndFailsTheStepThatNeedsTheHost) {
  SshdFixture main, dr;
  ASSERT_TRUE(main.ok()) << main.error();
  ASSERT_TRUE(dr.ok()) << dr.error();
  Fanout f;
  f.write(ssh_host_table("main", main) + many_hosts("dr", dr, 1, dr.make_key("stranger")), {&main, &dr});
  CommandResult r = f.run("--connection-attempts 5");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("step check-target failed on dr.h1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("authentication failed for " + dr.user() + "@dr.h1"), std::string::npos) << r.err;
  std::vector<Json> c = events_of(r.out, "host_connected");
  ASSERT_FALSE(c.empty()) << r.out;
  for (const Json& j : c)
    if (j.str("host") == "dr.h1") {
      EXPECT_EQ(j.str("status"), "failed");
      EXPECT_EQ(j.num("attempt"), 1);
      EXPECT_EQ(j.num("max_attempts"), 5);
    }
  // One connection for the early connect, at most one more if the step
  // came after it had ended; never a retry of the same connect.
  EXPECT_LE(dr.connections_accepted(), 2) << dr.log();
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

// [ssh] runner: by default the runner starts in the background after a
// host's second command and takes over once ready (here during the third,
// which waits); `false` gives each its own channel (sshd starts it).
TEST_F(SshCli, RunnerFalseGivesEachCommandAChannelOfItsOwn) {
  const char* step = R"toml(
[[step]]
id = "first"
phase = "preflight"
on = "target"
run = 'true'

[[step]]
id = "second"
phase = "preflight"
on = "target"
run = 'true'

[[step]]
id = "third"
phase = "preflight"
on = "target"
run = 'sleep 0.5'

[[step]]
id = "parent"
phase = "preflight"
on = "target"
run = 'test "$(cat /proc/$PPID/comm)" = "$expected_parent"'
)toml";
  CommandResult on = baton_cmd("check", runbook(std::string("[vars]\nexpected_parent = \"perl\"\n") + step));
  EXPECT_EQ(on.exit_code, 0) << on.out << on.err;
  EXPECT_NE(on.out.find("ok    parent"), std::string::npos) << on.out;
  CommandResult off = baton_cmd("check", runbook(std::string("runner = false\n[vars]\nexpected_parent = \"sshd\"\n") + step));
  EXPECT_EQ(off.exit_code, 0) << off.out << off.err;
  EXPECT_NE(off.out.find("ok    parent"), std::string::npos) << off.out;
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

// The step cuts its own connection (kills its sshd) and goes on running:
// its end is never seen, so neither the retry nor a resume may start it
// again beside it until dr.db says its shell ended.
TEST_F(SshCli, ACommandWhoseConnectionWasLostIsNotStartedTwice) {
  const std::string mark = d_.path + "/attempts";
  write(mark, "");
  ASSERT_EQ(::chmod(mark.c_str(), 0666), 0);
  ASSERT_EQ(::chmod(d_.path.c_str(), 0755), 0);
  std::string rb = runbook("[vars]\nmark = \"" + mark + "\"\n" + R"toml(
[[step]]
id = "cut"
phase = "stop_replication"
on = "target"
retries = 2
retry_delay = "0s"
run = '''
echo "$$" >>"$mark"
[ "$(wc -l <"$mark")" -gt 1 ] && exit 0
p=$$
while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm)" != sshd ]; do
  read -r l </proc/$p/stat; h=${l%')'*}; set -- ${l#"$h) "}; p=$2
done
[ "$p" -gt 1 ] && kill -9 "$p"
sleep 3
'''
)toml");
  CommandResult r = baton_cmd("switchover", rb);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string first = read(mark);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 1) << "started again beside the first:\n" << first << r.err;
  const long pgid = std::stol(first);
  EXPECT_NE(r.err.find("it is still running there (process group " + std::to_string(pgid) + ")"), std::string::npos)
      << r.out << r.err;
  ASSERT_TRUE(group_alive(pgid));
  CommandResult busy = baton_cmd("resume", rb);
  EXPECT_EQ(busy.exit_code, 1) << busy.out << busy.err;
  EXPECT_NE(busy.err.find("an attempt of step cut ended without Baton seeing its command end, and it still runs on "
                          "dr.db (process group " +
                          std::to_string(pgid) + ")"),
            std::string::npos)
      << busy.err;
  for (int i = 0; i < 100 && group_alive(pgid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CommandResult again = baton_cmd("resume", rb);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  const std::string both = read(mark);
  EXPECT_EQ(std::count(both.begin(), both.end(), '\n'), 2) << both;
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
