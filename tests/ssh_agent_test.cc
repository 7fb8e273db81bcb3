// SshAgent against a real OpenSSH sshd on 127.0.0.1 (tests/sshd_fixture.h).
#include "agents/ssh_agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/sshd_fixture.h"

namespace baton {
namespace {

using testing::SshdFixture;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

SshOptions options_for(const SshdFixture& sshd) {
  SshOptions o;
  o.host_label = "main.db";
  o.address = sshd.address();
  o.port = sshd.port();
  o.user = sshd.user();
  o.identity = sshd.identity_path();
  o.known_hosts_file = sshd.known_hosts_path();
  o.ssh_config_file = "none";  // the machine's ~/.ssh/config is not ours
  o.connect_timeout = 5s;
  // ctest runs this file twice: with the runner (the default) and, with
  // BATON_TEST_SSH_CHANNELS set, with a channel per command (a host
  // without perl).
  if (std::getenv("BATON_TEST_SSH_CHANNELS")) o.runner_perl.clear();
  o.runner_after = 0;  // the runner from the first command on
  return o;
}

bool channels_only() { return std::getenv("BATON_TEST_SSH_CHANNELS") != nullptr; }

Command command(std::string script, std::chrono::milliseconds timeout = 30s) {
  Command c;
  c.script = std::move(script);
  c.timeout = timeout;
  return c;
}

// Dead: no such process, or a zombie (dead, only waiting for its parent to
// reap it; in some containers PID 1 reaps orphans lazily).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// Pids of live processes whose command line holds `text` (other than this
// test's own).
std::vector<pid_t> processes_with(const std::string& text) {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 1 || pid == ::getpid() || process_gone(pid)) continue;
    if (slurp("/proc/" + std::to_string(pid) + "/cmdline").find(text) != std::string::npos) pids.push_back(pid);
  }
  ::closedir(d);
  return pids;
}

bool waits_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  for (const auto until = Clock::now() + limit; Clock::now() < until; std::this_thread::sleep_for(10ms))
    if (cond()) return true;
  return cond();
}

class SshAgentTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sshd.ok()) << sshd.error(); }
  SshdFixture sshd;
};

TEST_F(SshAgentTest, StdoutStderrAndExitCodeApart) {
  SshAgent agent(options_for(sshd));
  CommandResult r = agent.run(command("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.completed());
  EXPECT_EQ(agent.describe(), sshd.user() + "@127.0.0.1:" + std::to_string(sshd.port()));
}

TEST_F(SshAgentTest, RunsWithPosixShellAndNoStdin) {
  SshAgent agent(options_for(sshd));
  // cat sees EOF at once instead of hanging on the channel's stdin.
  CommandResult r = agent.run(command("cat; test \"$(readlink -f /proc/$$/exe)\" = \"$(readlink -f /bin/sh)\" && echo posix", 5s));
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, "posix\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(SshAgentTest, VariablesArriveAsPlainData) {
  SshAgent agent(options_for(sshd));
  const std::string marker = sshd.scratch_dir() + "/injected";
  const std::string value = "'; touch " + marker + "; echo '$(id)`id`\"$HOME\\\n\tend";
  Command c = command("printf '%s' \"$v\"");
  c.vars = {{"v", value}};
  CommandResult r = agent.run(c);
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, value);
  EXPECT_FALSE(file_exists(marker));
}

TEST_F(SshAgentTest, TenMegabytesOfOutput) {
  SshAgent agent(options_for(sshd));
  Command c = command("head -c 10485760 /dev/zero | tr '\\0' x; echo done >&2");
  c.output_limit = 16u << 20;
  auto t0 = Clock::now();
  CommandResult r = agent.run(c);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.out.size(), 10485760u);
  EXPECT_EQ(r.out.find_first_not_of('x'), std::string::npos);
  EXPECT_EQ(r.err, "done\n");
  std::printf("[ info ] 10 MB over ssh in %lld ms\n", static_cast<long long>(ms));
}

TEST_F(SshAgentTest, OutputCutAtLimitWithMarker) {
  SshAgent agent(options_for(sshd));
  Command c = command("head -c 10485760 /dev/zero | tr '\\0' x; echo small >&2");
  c.output_limit = 1u << 20;
  CommandResult r = agent.run(c);
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.exit_code, 0);  // drained to the end, the command was not killed
  EXPECT_EQ(r.out, std::string(1u << 20, 'x') + truncation_marker(10485760 - (1u << 20)));
  EXPECT_EQ(r.err, "small\n");
}

TEST_F(SshAgentTest, BothStreamsBusyAtOnce) {
  SshAgent agent(options_for(sshd));
  // Neither stream may starve the other (the channel window is shared).
  Command c = command(
      "(head -c 3000000 /dev/zero | tr '\\0' e >&2) & head -c 3000000 /dev/zero | tr '\\0' o; "
      "wait");
  c.output_limit = 4u << 20;
  CommandResult r = agent.run(c);
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, std::string(3000000, 'o'));
  EXPECT_EQ(r.err, std::string(3000000, 'e'));
}

TEST_F(SshAgentTest, TimeoutKillsTheRemoteProcessGroup) {
  SshAgent agent(options_for(sshd));
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  const std::string bgfile = sshd.scratch_dir() + "/bg";
  auto t0 = Clock::now();
  CommandResult r = agent.run(command("sleep 30 & echo $! > " + bgfile + "; echo $$ > " + pidfile +
                                          "; echo started; sleep 30",
                                      1s));
  auto elapsed = Clock::now() - t0;
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.completed());
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "started\n");
  EXPECT_EQ(r.err, "");  // the wrapper's bookkeeping line is not shown
  EXPECT_LT(elapsed, 4s);
  pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  pid_t bg = static_cast<pid_t>(std::atoi(slurp(bgfile).c_str()));
  ASSERT_GT(pid, 1);
  ASSERT_GT(bg, 1);
  EXPECT_TRUE(process_gone(pid)) << "remote command " << pid << " still running";
  EXPECT_TRUE(process_gone(bg)) << "background child " << bg << " still running";

  // The session survives a timeout.
  CommandResult next = agent.run(command("echo again"));
  EXPECT_TRUE(next.completed()) << next.error;
  EXPECT_EQ(next.out, "again\n");
  EXPECT_EQ(agent.connects(), 1);
}

// The sshd processes of this fixture (listener and sessions), not the
// commands they run: what freezes when a host hangs.
std::vector<pid_t> sshd_processes(const SshdFixture& sshd) {
  std::vector<pid_t> out;
  pid_t listener = 0;
  DIR* proc = ::opendir("/proc");
  for (dirent* e; proc && !listener && (e = ::readdir(proc));) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    const std::string cmd = pid > 1 ? slurp("/proc/" + std::to_string(pid) + "/cmdline") : "";
    if (cmd.find("sshd") != std::string::npos && cmd.find(sshd.dir()) != std::string::npos) listener = pid;
  }
  if (proc) ::closedir(proc);
  if (!listener) return out;
  out.push_back(listener);
  for (size_t i = 0; i < out.size(); ++i) {  // Descendants named sshd.
    std::istringstream kids(slurp("/proc/" + std::to_string(out[i]) + "/task/" + std::to_string(out[i]) + "/children"));
    for (pid_t k; kids >> k;)
      if (slurp("/proc/" + std::to_string(k) + "/cmdline").rfind("sshd", 0) == 0) out.push_back(k);
  }
  return out;
}

// Hang the host: stop its sshd processes; returns them, for thaw().
std::vector<pid_t> freeze_sshd(const SshdFixture& sshd) {
  std::vector<pid_t> frozen = sshd_processes(sshd);
  for (pid_t p : frozen) ::kill(p, SIGSTOP);
  return frozen;
}

void thaw(const std::vector<pid_t>& frozen) {
  for (pid_t p : frozen) ::kill(p, SIGCONT);
}

// A host that goes quiet between steps: one step on `agent`, `idle` of
// nothing, then its sshd frozen (*frozen, for thaw()).
void quiet_after_one_step(SshAgent& agent, const SshdFixture& sshd, std::chrono::milliseconds idle,
                          std::vector<pid_t>* frozen) {
  ASSERT_TRUE(agent.run(command("true")).completed());
  std::this_thread::sleep_for(idle);
  *frozen = freeze_sshd(sshd);
  ASSERT_GE(frozen->size(), 2u) << "no sshd session found to freeze";
}

// A host that hangs mid-step (its sshd stopped, the network gone quiet):
// the timeout fires, and the step does not claim the command was killed.
TEST_F(SshAgentTest, TimeoutOnAHungHostDoesNotClaimTheKill) {
  SshOptions o = options_for(sshd);
  o.connect_timeout = 2s;
  SshAgent agent(o);
  ASSERT_EQ(agent.probe(), "");
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  std::vector<pid_t> frozen;
  std::thread freezer([&] {
    for (int i = 0; i < 100 && slurp(pidfile).empty(); ++i) std::this_thread::sleep_for(50ms);
    frozen = freeze_sshd(sshd);
  });
  auto t0 = Clock::now();
  CommandResult r = agent.run(command("echo $$ > " + pidfile + "; sleep 30", 2s));
  auto elapsed = Clock::now() - t0;
  freezer.join();
  thaw(frozen);
  ASSERT_GE(frozen.size(), 2u) << "no sshd session found to freeze";
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.completed());
  EXPECT_NE(r.error.find("could not stop the command on main.db"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("it may still be running there"), std::string::npos) << r.error;
  EXPECT_LT(elapsed, 20s);
}

// The next command's channel is asked for ahead (after each command); one
// asked for more than a second ago is not trusted: a host that went quiet
// while idle fails at the channel, before the command is sent, so the
// command never runs there later.
TEST_F(SshAgentTest, AHostThatWentQuietWhileIdleFailsBeforeTheCommandIsSent) {
  SshOptions o = options_for(sshd);
  o.connect_timeout = 1s;
  SshAgent agent(o);
  std::vector<pid_t> frozen;
  ASSERT_NO_FATAL_FAILURE(quiet_after_one_step(agent, sshd, 1200ms, &frozen));
  const std::string marker = sshd.scratch_dir() + "/ran";
  auto t0 = Clock::now();
  CommandResult r = agent.run(command("touch " + marker, 5s));
  auto elapsed = Clock::now() - t0;
  thaw(frozen);
  EXPECT_FALSE(r.completed());
  EXPECT_EQ(r.error.find("while running the command"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.rfind("cannot connect to main.db", 0), 0u) << r.error;
  EXPECT_LT(elapsed, 10s);
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(file_exists(marker)) << "the command ran after the host came back";
}

// Within that second the spare is used as it is: a host that goes quiet
// then may have received the request to start the command, and the result
// says so rather than "could not start".
TEST_F(SshAgentTest, AHostThatGoesQuietRightAfterAStepMayHaveStartedTheNext) {
  // sshd answers the spare within milliseconds; a loaded machine may freeze
  // it first (then the run rightly fails before sending: the test above), so
  // a few tries, each a fresh session given 150 ms, must see the case once.
  bool seen = false;
  for (int attempt = 0; attempt < 4 && !seen; ++attempt) {
    SshOptions o = options_for(sshd);
    o.connect_timeout = 1s;
    SshAgent agent(o);
    std::vector<pid_t> frozen;
    ASSERT_NO_FATAL_FAILURE(quiet_after_one_step(agent, sshd, 150ms, &frozen));
    CommandResult r = agent.run(command("true", 5s));
    thaw(frozen);
    EXPECT_FALSE(r.completed());
    seen = r.error.find("it may have started there") != std::string::npos;
    if (!seen) {  // Only the safe alternative: nothing was sent.
      EXPECT_EQ(r.error.rfind("cannot connect to main.db", 0), 0u) << r.error;
      continue;
    }
    // The session was dropped: the next command connects afresh.
    CommandResult again = agent.run(command("echo back"));
    EXPECT_TRUE(again.completed()) << again.error;
    EXPECT_EQ(agent.connects(), 2);
  }
  EXPECT_TRUE(seen) << "the spare was never answered before the freeze";
}

TEST_F(SshAgentTest, SignalExitIsReported) {
  SshAgent agent(options_for(sshd));
  CommandResult r = agent.run(command("kill -KILL $$"));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.completed());
}

TEST_F(SshAgentTest, UnknownHostKeyRefusedWithFingerprint) {
  const std::string kh = sshd.dir() + "/empty_known_hosts";
  spit(kh, "");
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("host key of main.db (127.0.0.1:" + std::to_string(sshd.port()) +
                     ") is unknown: " + sshd.host_key_fingerprint()),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("ssh-keyscan -p " + std::to_string(sshd.port()) + " 127.0.0.1 >> " + kh),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("--accept-new-host-keys"), std::string::npos) << err;
  EXPECT_EQ(agent.host_key_status(), "unknown");
  CommandResult r = agent.run(command("echo hi"));
  EXPECT_FALSE(r.completed());
  EXPECT_NE(r.error.find("is unknown"), std::string::npos) << r.error;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(slurp(kh), "");
  EXPECT_EQ(agent.connects(), 0);
}

TEST_F(SshAgentTest, ChangedHostKeyRefusedEvenWithAcceptNew) {
  const std::string other = sshd.make_key("other_host_key");
  ASSERT_FALSE(other.empty());
  std::istringstream pub(slurp(other + ".pub"));
  std::string type, key;
  pub >> type >> key;
  const std::string kh = sshd.dir() + "/changed_known_hosts";
  const std::string content = sshd.host_pattern() + " " + type + " " + key + "\n";
  spit(kh, content);
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  o.accept_new_host_keys = true;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("HOST KEY CHANGED"), std::string::npos) << err;
  EXPECT_NE(err.find("man-in-the-middle"), std::string::npos) << err;
  EXPECT_NE(err.find(sshd.host_key_fingerprint()), std::string::npos) << err;
  EXPECT_EQ(agent.host_key_status(), "changed");
  EXPECT_FALSE(agent.run(command("true")).completed());
  EXPECT_EQ(slurp(kh), content);  // never overwritten
}

TEST_F(SshAgentTest, AcceptNewRecordsKeyForLaterAgents) {
  const std::string kh = sshd.dir() + "/fresh/dir/known_hosts";  // created on demand
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  o.accept_new_host_keys = true;
  {
    SshAgent agent(o);
    EXPECT_EQ(agent.probe(), "");
    EXPECT_EQ(agent.host_key_status(), "accepted-new");
    EXPECT_EQ(agent.host_key_fingerprint(), sshd.host_key_fingerprint());
  }
  EXPECT_NE(slurp(kh).find(sshd.host_pattern() + " ssh-ed25519 "), std::string::npos) << slurp(kh);

  o.accept_new_host_keys = false;
  SshAgent second(o);
  EXPECT_EQ(second.probe(), "");
  EXPECT_EQ(second.host_key_status(), "ok");
  CommandResult r = second.run(command("echo ok"));
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, "ok\n");
}

TEST_F(SshAgentTest, HostKeyPinMatchIsEnoughWithoutKnownHosts) {
  const std::string kh = sshd.dir() + "/empty_known_hosts";
  spit(kh, "");
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  o.host_key_pin = sshd.host_key_fingerprint();
  SshAgent agent(o);
  EXPECT_EQ(agent.probe(), "");
  EXPECT_EQ(agent.host_key_status(), "pinned");
  CommandResult r = agent.run(command("echo pinned"));
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, "pinned\n");
}

TEST_F(SshAgentTest, HostKeyPinMismatchRefused) {
  SshOptions o = options_for(sshd);  // known_hosts would accept it: the pin decides
  o.host_key_pin = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
  EXPECT_NE(err.find(sshd.host_key_fingerprint()), std::string::npos) << err;
  EXPECT_EQ(agent.host_key_status(), "pin-mismatch");
  EXPECT_FALSE(agent.run(command("true")).completed());
}

TEST_F(SshAgentTest, WrongIdentityIsAnAuthenticationError) {
  SshOptions o = options_for(sshd);
  o.identity = sshd.make_key("stranger");
  ASSERT_FALSE(o.identity.empty());
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("authentication failed for " + sshd.user() + "@main.db (127.0.0.1:" +
                     std::to_string(sshd.port()) + ")"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("authorized_keys"), std::string::npos) << err;
  EXPECT_EQ(agent.host_key_status(), "ok");  // the host was fine
  CommandResult r = agent.run(command("true"));
  EXPECT_FALSE(r.completed());
  EXPECT_NE(r.error.find("authentication failed"), std::string::npos) << r.error;
}

TEST_F(SshAgentTest, AuthenticatesThroughSshAgent) {
  const std::string sock = sshd.dir() + "/agent.sock";
  std::string pid_line;
  {
    FILE* p = ::popen(("ssh-agent -a " + sock + " -s").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) pid_line += buf;
    ::pclose(p);
  }
  auto at = pid_line.find("SSH_AGENT_PID=");
  ASSERT_NE(at, std::string::npos) << pid_line;
  pid_t agent_pid = static_cast<pid_t>(std::atoi(pid_line.c_str() + at + 14));
  ASSERT_EQ(std::system(("SSH_AUTH_SOCK=" + sock + " ssh-add -q " + sshd.identity_path() +
                         " 2>/dev/null")
                            .c_str()),
            0);
  const char* old = std::getenv("SSH_AUTH_SOCK");
  std::string saved = old ? old : "";
  ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  SshOptions o = options_for(sshd);
  o.identity.clear();
  SshAgent agent(o);
  CommandResult r = agent.run(command("echo via-agent"));
  if (old) ::setenv("SSH_AUTH_SOCK", saved.c_str(), 1);
  else ::unsetenv("SSH_AUTH_SOCK");
  ::kill(agent_pid, SIGTERM);
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, "via-agent\n");
}

TEST_F(SshAgentTest, MissingIdentityFileIsAnAuthenticationError) {
  SshOptions o = options_for(sshd);
  o.identity = sshd.dir() + "/no_such_key";
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("authentication failed"), std::string::npos) << err;
  EXPECT_NE(err.find("no_such_key"), std::string::npos) << err;
}

TEST_F(SshAgentTest, UnreachableHostIsAConnectError) {
  SshOptions o = options_for(sshd);
  sshd.stop();
  SshAgent agent(o);
  CommandResult r = agent.run(command("true"));
  EXPECT_FALSE(r.completed());
  EXPECT_NE(r.error.find("cannot connect to main.db (127.0.0.1:" + std::to_string(sshd.port())),
            std::string::npos)
      << r.error;
}

TEST_F(SshAgentTest, SshdKilledMidCommandIsConnectionLostThenReconnects) {
  SshAgent agent(options_for(sshd));
  ASSERT_EQ(agent.probe(), "");
  std::thread killer([&] {
    std::this_thread::sleep_for(1s);
    sshd.stop();
  });
  auto t0 = Clock::now();
  CommandResult r = agent.run(command("echo before; sleep 5; echo after"));
  auto elapsed = Clock::now() - t0;
  killer.join();
  EXPECT_FALSE(r.completed());
  EXPECT_NE(r.error.find("connection lost to main.db (127.0.0.1:" + std::to_string(sshd.port()) +
                         ") while running the command"),
            std::string::npos)
      << r.error;
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.out.find("after"), std::string::npos);
  EXPECT_LT(elapsed, 4s);

  ASSERT_EQ(sshd.start(), "");
  CommandResult again = agent.run(command("echo back"));
  EXPECT_TRUE(again.completed()) << again.error;
  EXPECT_EQ(again.out, "back\n");
  EXPECT_EQ(agent.connects(), 2);
}

TEST_F(SshAgentTest, IdleSessionDroppedByServerReconnectsTransparently) {
  SshAgent agent(options_for(sshd));
  ASSERT_TRUE(agent.run(command("true")).completed());
  sshd.stop();
  ASSERT_EQ(sshd.start(), "");
  CommandResult r = agent.run(command("echo fresh"));
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, "fresh\n");
  EXPECT_EQ(agent.connects(), 2);
}

TEST_F(SshAgentTest, SessionIsReused) {
  SshAgent agent(options_for(sshd));
  ASSERT_EQ(agent.probe(), "");
  const int n = 50;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    CommandResult r = agent.run(command("true"));
    ASSERT_TRUE(r.completed()) << r.error;
    ASSERT_EQ(r.exit_code, 0);
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  EXPECT_EQ(agent.connects(), 1);
  // Speed is bench/ssh-steps.sh's business; this only shows the reuse.
  std::printf("[ info ] %.2f ms per exec on an open session\n", us / 1000.0 / n);
}

TEST_F(SshAgentTest, HonoursSshConfigFile) {
  const std::string cfg = sshd.dir() + "/ssh_config";
  spit(cfg, "Host dbalias\n  HostName 127.0.0.1\n  Port " + std::to_string(sshd.port()) +
                "\n  User " + sshd.user() + "\n  IdentityFile " + sshd.identity_path() + "\n");
  SshOptions o;
  o.host_label = "main.db";
  o.address = "dbalias";
  o.known_hosts_file = sshd.known_hosts_path();
  o.ssh_config_file = cfg;
  o.connect_timeout = 5s;
  SshAgent agent(o);
  CommandResult r = agent.run(command("echo via-config"));
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.out, "via-config\n");
  EXPECT_EQ(agent.describe(), sshd.user() + "@127.0.0.1:" + std::to_string(sshd.port()));
}

TEST(SshAgentTwoHosts, ParallelRunsOverlap) {
  SshdFixture a, b;
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  SshAgent agent_a(options_for(a)), agent_b(options_for(b));
  ASSERT_EQ(agent_a.probe(), "");
  ASSERT_EQ(agent_b.probe(), "");
  CommandResult ra, rb;
  auto t0 = Clock::now();
  std::thread ta([&] { ra = agent_a.run(command("sleep 1; echo a")); });
  std::thread tb([&] { rb = agent_b.run(command("sleep 1; echo b")); });
  ta.join();
  tb.join();
  auto elapsed = Clock::now() - t0;
  EXPECT_TRUE(ra.completed()) << ra.error;
  EXPECT_TRUE(rb.completed()) << rb.error;
  EXPECT_EQ(ra.out, "a\n");
  EXPECT_EQ(rb.out, "b\n");
  EXPECT_LT(elapsed, 1800ms);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST_F(SshAgentTest, SecretValuesAreNotInTheRemoteCommandLine) {
  SshAgent agent(options_for(sshd));
  Command c = command("tr '\\0\\n' '  ' < /proc/$$/cmdline; echo; printf '%s' \"$db_password\"");
  c.vars = {{"db_password", "s3cret-value-42"}};
  CommandResult r = agent.run(c);
  ASSERT_TRUE(r.completed()) << r.error << r.err;
  std::string cmdline = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(cmdline.find("s3cret-value-42"), std::string::npos) << cmdline;
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1), "s3cret-value-42");
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST_F(SshAgentTest, BackgroundChildHoldingOutputDoesNotHoldTheStep) {
  SshAgent agent(options_for(sshd));
  auto t0 = Clock::now();
  CommandResult r = agent.run(command("sleep 5 & echo started; exit 3", 10s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_EQ(r.exit_code, 3) << r.error;
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(took.count(), 1500);
  EXPECT_TRUE(agent.run(command("true")).completed());  // The session is still fine.
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST_F(SshAgentTest, SessionHasTcpKeepalive) {
  SshAgent agent(options_for(sshd));
  ASSERT_TRUE(agent.run(command("true")).completed());
  // Our end of the connection to sshd carries a keepalive timer.
  // (Once idle: while data is in flight the socket shows its retransmit timer.)
  std::string out;
  for (int i = 0; i < 40 && out.find("keepalive") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    out.clear();
    FILE* p = ::popen(("ss -tno state established '( dport = :" + std::to_string(sshd.port()) + " )'").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  EXPECT_NE(out.find("keepalive"), std::string::npos) << out;
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST_F(SshAgentTest, OneMebibyteValuesReachTheCommand) {
  // In the command line, a value over 128 KiB broke sshd's `sh -c`; and
  // exported, it broke every program the command started.
  SshAgent agent(options_for(sshd));
  Command c = command("printf %s \"$big\" | wc -c; printf %s \"$big_password\" | wc -c; echo \"$small\"");
  c.vars = {{"big", std::string(1 << 20, 'v')}, {"big_password", std::string(1 << 20, 's')}, {"small", "it's"}};
  CommandResult r = agent.run(c);
  ASSERT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1048576\n1048576\nit's\n");
  // A command that does not use them is not hurt by them.
  Command other = command("ls / >/dev/null && echo fine");
  other.vars = c.vars;
  r = agent.run(other);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "fine\n");
  // Nor is the session: it stays usable.
  EXPECT_EQ(agent.run(command("echo again")).out, "again\n");
}

TEST_F(SshAgentTest, LargeScriptRuns) {
  SshAgent agent(options_for(sshd));
  Command c = command(": '" + std::string(300 << 10, 'x') + "'\necho \"ran $v\"\n");
  c.vars = {{"v", "too"}};
  CommandResult r = agent.run(c);
  ASSERT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ran too\n");
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// "@revoked PATTERN TYPE KEY" for the fixture's own host key.
std::string revoked_line(const SshdFixture& sshd, const std::string& pattern) {
  const std::string line = sshd.known_hosts_line();
  return "@revoked " + pattern + " " + line.substr(line.find(' ') + 1);
}

TEST_F(SshAgentTest, RevokedHostKeyIsRefusedEvenWhenAlsoListed) {
  const std::string kh = sshd.dir() + "/revoked_known_hosts";
  spit(kh, sshd.known_hosts_line() + "\n" + revoked_line(sshd, "*") + "\n");
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("host key of main.db (127.0.0.1:" + std::to_string(sshd.port()) + ") is REVOKED"),
            std::string::npos) << err;
  EXPECT_NE(err.find(sshd.host_key_fingerprint()), std::string::npos) << err;
  EXPECT_NE(err.find(kh + ":2 marks as revoked (@revoked * ssh-ed25519 "), std::string::npos) << err;
  EXPECT_EQ(agent.host_key_status(), "revoked");
  EXPECT_FALSE(agent.run(command("true")).completed());
  EXPECT_EQ(agent.connects(), 0);
}

TEST_F(SshAgentTest, RevokedHostKeyIsNeverAcceptedAsNew) {
  const std::string kh = sshd.dir() + "/only_revoked_known_hosts";
  const std::string content = revoked_line(sshd, sshd.host_pattern()) + "\n";
  spit(kh, content);
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  o.accept_new_host_keys = true;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("is REVOKED"), std::string::npos) << err;
  EXPECT_EQ(slurp(kh), content);  // Not recorded as a new key.
  // Nor does a pin override a revocation.
  o.host_key_pin = sshd.host_key_fingerprint();
  SshAgent pinned(o);
  EXPECT_NE(pinned.probe().find("is REVOKED"), std::string::npos);
}

TEST_F(SshAgentTest, RevocationOfAnotherKeyOrHostDoesNotMatter) {
  const std::string other = sshd.make_key("retired_host_key");
  ASSERT_FALSE(other.empty());
  std::istringstream pub(slurp(other + ".pub"));
  std::string type, key;
  pub >> type >> key;
  const std::string kh = sshd.dir() + "/other_revoked_known_hosts";
  spit(kh, "@revoked * " + type + " " + key + "\n" + revoked_line(sshd, "other.example.com") + "\n" +
               sshd.known_hosts_line() + "\n");
  SshOptions o = options_for(sshd);
  o.known_hosts_file = kh;
  SshAgent agent(o);
  EXPECT_EQ(agent.probe(), "");
  EXPECT_EQ(agent.host_key_status(), "ok");
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST_F(SshAgentTest, EmptySshAgentGivesAReason) {
  const std::string sock = sshd.dir() + "/empty-agent.sock";
  std::string pid_line;
  {
    FILE* p = ::popen(("ssh-agent -a " + sock + " -s").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) pid_line += buf;
    ::pclose(p);
  }
  auto at = pid_line.find("SSH_AGENT_PID=");
  ASSERT_NE(at, std::string::npos) << pid_line;
  pid_t agent_pid = static_cast<pid_t>(std::atoi(pid_line.c_str() + at + 14));
  const char* old_sock = std::getenv("SSH_AUTH_SOCK");
  const char* old_home = std::getenv("HOME");
  std::string saved_sock = old_sock ? old_sock : "", saved_home = old_home ? old_home : "";
  ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  ::setenv("HOME", sshd.scratch_dir().c_str(), 1);  // No default keys either.
  SshOptions o = options_for(sshd);
  o.identity.clear();
  SshAgent agent(o);
  std::string err = agent.probe();
  if (old_sock) ::setenv("SSH_AUTH_SOCK", saved_sock.c_str(), 1);
  else ::unsetenv("SSH_AUTH_SOCK");
  if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
  ::kill(agent_pid, SIGTERM);
  EXPECT_NE(err.find("authentication failed for"), std::string::npos) << err;
  EXPECT_EQ(err.find(": ;"), std::string::npos) << err;
  EXPECT_NE(err.find("the ssh-agent at " + sock + " offered no key the server accepted"), std::string::npos) << err;
}

}  // namespace
}  // namespace baton

// Connects that are refused or reset before the session is up are tried
// again (ConnectionAttempts); host key and authentication failures never.
namespace baton {
namespace {

TEST_F(SshAgentTest, RefusedConnectIsRetriedUntilSshdIsUp) {
  sshd.stop();
  SshOptions o = options_for(sshd);
  o.connection_attempts = 10;  // 50, 100, 200, 400, 800 ms ... apart: seconds in all
  SshAgent agent(o);
  std::string err = "not run";
  std::thread connecting([&] { err = agent.probe(); });
  // From this thread: sshd dies with the thread that started it (PDEATHSIG).
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sshd.start(), "");
  connecting.join();
  EXPECT_EQ(err, "");
  EXPECT_GT(agent.connect_attempts(), 1);
  EXPECT_EQ(agent.max_connect_attempts(), 10);
  EXPECT_TRUE(agent.run(command("true")).completed());
}

TEST_F(SshAgentTest, ConnectionAttemptsComeFromSshConfigUnlessSet) {
  sshd.stop();
  const std::string cfg = sshd.dir() + "/ssh_config";
  spit(cfg, "Host other\n  ConnectionAttempts 7\nHost 127.0.0.*\n  ConnectionAttempts 2\nHost *\n  ConnectionAttempts 9\n");
  SshOptions o = options_for(sshd);
  o.ssh_config_file = cfg;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("cannot connect to main.db (127.0.0.1:" + std::to_string(sshd.port()) + "): "),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("Connection refused (tried 2 times)"), std::string::npos) << err;
  EXPECT_EQ(agent.connect_attempts(), 2);
  o.connection_attempts = 3;  // the runbook or --connection-attempts wins
  SshAgent set(o);
  EXPECT_NE(set.probe().find("(tried 3 times)"), std::string::npos);
  EXPECT_EQ(set.connect_attempts(), 3);
  o.ssh_config_file = "none";
  o.connection_attempts = 0;
  SshAgent by_default(o);
  by_default.probe();
  EXPECT_EQ(by_default.connect_attempts(), kDefaultConnectionAttempts);
}

TEST_F(SshAgentTest, AuthenticationFailureIsNotRetried) {
  SshOptions o = options_for(sshd);
  o.identity = sshd.make_key("stranger");
  o.connection_attempts = 5;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("authentication failed"), std::string::npos) << err;
  EXPECT_EQ(agent.connect_attempts(), 1);
  EXPECT_EQ(sshd.connections_accepted(), 1) << sshd.log();
}

TEST_F(SshAgentTest, HostKeyFailureIsNotRetried) {
  SshOptions o = options_for(sshd);
  o.known_hosts_file = sshd.dir() + "/empty_known_hosts";
  spit(o.known_hosts_file, "");
  o.connection_attempts = 5;
  SshAgent agent(o);
  std::string err = agent.probe();
  EXPECT_NE(err.find("is unknown"), std::string::npos) << err;
  EXPECT_EQ(agent.connect_attempts(), 1);
  EXPECT_EQ(sshd.connections_accepted(), 1) << sshd.log();
}

// MaxStartups 1:100:1: sshd drops every unauthenticated connection beyond
// the first, as a busy sshd drops those beyond ten by default.
TEST(SshAgentThrottled, DroppedConnectsAreRetriedAndAllHostsConnect) {
  SshdFixture sshd("1:100:1");
  ASSERT_TRUE(sshd.ok()) << sshd.error();
  const int n = 8;
  std::vector<std::unique_ptr<SshAgent>> agents;
  for (int i = 0; i < n; ++i) {
    SshOptions o = options_for(sshd);
    o.connection_attempts = 20;
    agents.push_back(std::make_unique<SshAgent>(o));
  }
  std::vector<std::string> errs(n);
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) ts.emplace_back([&, i] { errs[i] = agents[i]->probe(); });
  for (auto& t : ts) t.join();
  int retried = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(errs[i], "") << i;
    retried += agents[i]->connect_attempts() > 1;
  }
  EXPECT_GT(sshd.connections_dropped(), 0) << sshd.log();
  EXPECT_GT(retried, 0);
}

// A connect that hangs (the server never answers) gives up soon when told.
TEST_F(SshAgentTest, StopConnectingAbandonsAConnectInProgress) {
  // Listening, never accepting: TCP connects, no SSH banner ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  SshOptions o = options_for(sshd);
  o.port = ntohs(a.sin_port);
  o.connect_timeout = 20s;
  SshAgent agent(o);
  auto t0 = Clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    agent.stop_connecting();
  });
  std::string err = agent.probe();
  stopper.join();
  auto took = Clock::now() - t0;
  ::close(fd);
  EXPECT_NE(err.find("stopped"), std::string::npos) << err;
  EXPECT_LT(took, 1s);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// The first command also finds out whether the login shell is /bin/sh (no
// command of its own); later ones then skip the second /bin/sh.
TEST_F(SshAgentTest, LearnsTheLoginShellFromTheFirstCommand) {
  SshOptions o = options_for(sshd);
  o.runner_perl.clear();  // a channel per command
  SshAgent agent(o);
  CommandResult first = agent.run(command("echo \"$0\""));
  ASSERT_TRUE(first.completed()) << first.error;
  EXPECT_EQ(first.out, "/bin/sh\n");  // exec /bin/sh -c ...
  EXPECT_EQ(first.err, "");           // the wrapper's line is not shown
  CommandResult second = agent.run(command("echo \"$0\""));
  ASSERT_TRUE(second.completed()) << second.error;
  EXPECT_EQ(second.out, "sh\n");  // the login shell itself, as sshd started it
  EXPECT_EQ(agent.connects(), 1);
}

// sshd's MaxSessions (the fixture allows 100): restart it with `n`.
std::string restart_with_max_sessions(SshdFixture& sshd, int n) {
  const std::string config = sshd.dir() + "/sshd_config";
  std::string cfg = slurp(config);
  const auto at = cfg.find("MaxSessions ");
  if (at == std::string::npos) return "no MaxSessions line in " + config;
  cfg.replace(at, cfg.find('\n', at) - at, "MaxSessions " + std::to_string(n));
  sshd.stop();
  spit(config, cfg);
  return sshd.start();
}

// A spare channel asked for ahead and then left unused past its freshness
// (an idle gap between steps) must be closed on the server, not just
// forgotten: else it holds one of the connection's MaxSessions slots, and a
// later step that times out finds no slot left for the channel that kills it.
TEST_F(SshAgentTest, AStaleSpareChannelDoesNotStarveTheKillOfATimedOutStep) {
  ASSERT_EQ(restart_with_max_sessions(sshd, 2), "");
  SshAgent agent(options_for(sshd));
  ASSERT_TRUE(agent.run(command("true")).completed());
  std::this_thread::sleep_for(1200ms);  // the spare goes stale
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  CommandResult r = agent.run(command("echo $$ > " + pidfile + "; sleep 30", 1s));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.error, "");
  pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  ASSERT_GT(pid, 1);
  EXPECT_TRUE(process_gone(pid)) << "remote command " << pid << " still running";
  if (!process_gone(pid)) ::kill(pid, SIGKILL);
}

// Idle gaps between steps, each longer than a spare stays fresh: the one
// connection serves them all (no slot leaks until sshd refuses channels).
TEST_F(SshAgentTest, IdleGapsBetweenStepsLeakNoSessions) {
  ASSERT_EQ(restart_with_max_sessions(sshd, 3), "");
  SshAgent agent(options_for(sshd));
  for (int i = 0; i < 5; ++i) {
    if (i) std::this_thread::sleep_for(1100ms);
    CommandResult r = agent.run(command("echo " + std::to_string(i)));
    ASSERT_TRUE(r.completed()) << i << ": " << r.error;
  }
  EXPECT_EQ(agent.connects(), 1);
}

// One session at a time (MaxSessions 1): steps back to back still share the
// connection.
TEST_F(SshAgentTest, StepsBackToBackUnderMaxSessionsOne) {
  ASSERT_EQ(restart_with_max_sessions(sshd, 1), "");
  SshAgent agent(options_for(sshd));
  for (int i = 0; i < 5; ++i) {
    CommandResult r = agent.run(command("echo " + std::to_string(i)));
    ASSERT_TRUE(r.completed()) << i << ": " << r.error;
  }
  EXPECT_EQ(agent.connects(), 1);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// What /proc says of the command's process: "PID PGID SID START PPID".
constexpr char kWhoAmI[] =
    "set -- $(sed 's/.*) //' /proc/$$/stat); echo \"$$ $3 $4 ${20} $2\"";

// The process group and start time the agent reports are the command's own.
TEST_F(SshAgentTest, ToldTheCommandsProcessGroupAndItsStartTime) {
  SshAgent agent(options_for(sshd));
  long pgid = 0;
  long long start = 0;
  Command c = command(kWhoAmI);
  c.on_process = [&](long p, long long s) {
    pgid = p;
    start = s;
  };
  CommandResult r = agent.run(c);
  ASSERT_TRUE(r.completed()) << r.error;
  std::istringstream who(r.out);
  long pid = 0, group = 0, session = 0;
  long long started = 0;
  who >> pid >> group >> session >> started;
  EXPECT_EQ(pgid, pid) << r.out;
  EXPECT_EQ(group, pid) << "not its own process group: " << r.out;
  EXPECT_GT(session, 1) << r.out;
  EXPECT_EQ(start, started) << r.out;
}

// The runner: commands start from one process per session, each in a
// session of its own, without a channel each.
TEST_F(SshAgentTest, TheRunnerStartsEachCommandWithoutAChannelOfItsOwn) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  SshAgent agent(options_for(sshd));
  std::set<std::string> parents, pids;
  for (int i = 0; i < 3; ++i) {
    CommandResult r = agent.run(command(std::string(kWhoAmI) + "; cat /proc/$PPID/comm"));
    ASSERT_TRUE(r.completed()) << r.error;
    std::istringstream who(r.out);
    std::string pid, group, session, started, ppid, comm;
    who >> pid >> group >> session >> started >> ppid >> comm;
    EXPECT_EQ(group, pid) << r.out;
    EXPECT_EQ(comm, "perl") << r.out;
    parents.insert(ppid);
    pids.insert(pid);
  }
  EXPECT_EQ(parents.size(), 1u) << "one runner serves the session";
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(agent.connects(), 1);
}

// A host without perl: each command on its own channel, started by sshd.
TEST_F(SshAgentTest, AHostWithoutPerlRunsEachCommandOnAChannelOfItsOwn) {
  SshOptions o = options_for(sshd);
  o.runner_perl = "/nonexistent/perl";
  SshAgent agent(o);
  ASSERT_EQ(agent.probe(), "");
  for (int i = 0; i < 2; ++i) {
    CommandResult r = agent.run(command("echo " + std::to_string(i) + "; cat /proc/$PPID/comm"));
    ASSERT_TRUE(r.completed()) << r.error;
    EXPECT_EQ(r.out, std::to_string(i) + "\nsshd\n");
    EXPECT_EQ(r.err, "");
  }
  EXPECT_EQ(agent.connects(), 1);
}

// The runner killed under a running command: the outcome is unknown (never
// a success), and the next command gets a new runner on the same session.
TEST_F(SshAgentTest, ARunnerKilledMidCommandIsAnUnknownOutcomeThenReplaced) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  SshAgent agent(options_for(sshd));
  const std::string ppidfile = sshd.scratch_dir() + "/ppid";
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  std::thread killer([&] {
    for (int i = 0; i < 100 && slurp(ppidfile).empty(); ++i) std::this_thread::sleep_for(50ms);
    ::kill(static_cast<pid_t>(std::atoi(slurp(ppidfile).c_str())), SIGKILL);
  });
  CommandResult r = agent.run(command("echo $$ > " + pidfile + "; echo $PPID > " + ppidfile + "; sleep 30", 60s));
  killer.join();
  EXPECT_FALSE(r.completed());
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.error.find("the runner on main.db (127.0.0.1:"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("ended while running the command; the command was stopped"), std::string::npos) << r.error;
  // Nobody watched it any more: it does not run on beside a retry.
  const pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  ASSERT_GT(pid, 1);
  EXPECT_TRUE(process_gone(pid)) << "the command still runs";
  CommandResult next = agent.run(command("echo again"));
  EXPECT_TRUE(next.completed()) << next.error;
  EXPECT_EQ(next.out, "again\n");
  EXPECT_EQ(agent.connects(), 1);
}

// One session slot (MaxSessions 1): the runner holds it, and a timed-out
// command is still stopped, through the runner (a channel of its own for
// the kill would be refused).
TEST_F(SshAgentTest, UnderMaxSessionsOneATimedOutCommandIsStillStopped) {
  if (channels_only()) GTEST_SKIP() << "without the runner the kill needs a second session";
  ASSERT_EQ(restart_with_max_sessions(sshd, 1), "");
  SshAgent agent(options_for(sshd));
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  const std::string bgfile = sshd.scratch_dir() + "/bg";
  CommandResult r = agent.run(command("sleep 30 & echo $! > " + bgfile + "; echo $$ > " + pidfile + "; sleep 30", 1s));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.error, "");
  const pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  const pid_t bg = static_cast<pid_t>(std::atoi(slurp(bgfile).c_str()));
  ASSERT_GT(pid, 1);
  ASSERT_GT(bg, 1);
  for (int i = 0; i < 50 && !(process_gone(pid) && process_gone(bg)); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(process_gone(pid)) << "remote command " << pid << " still running";
  EXPECT_TRUE(process_gone(bg)) << "background child " << bg << " still running";
  CommandResult next = agent.run(command("echo after"));
  EXPECT_TRUE(next.completed()) << next.error;
  EXPECT_EQ(agent.connects(), 1);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// Baton asked to stop before a command's turn: it never starts (a step of
// a group queued behind another on the host). Asked just after it was sent
// (before its first output): it is stopped, not run to its end.
TEST_F(SshAgentTest, AStopAsTheCommandStartsStopsIt) {
  SshAgent agent(options_for(sshd));
  ASSERT_EQ(agent.probe(), "");
  const std::string marker = sshd.scratch_dir() + "/finished";
  std::atomic<int> stop{SIGINT};
  Command c = command("sleep 3; touch " + marker, 30s);
  c.stop = &stop;
  const auto t0 = Clock::now();
  CommandResult r = agent.run(c);
  // Set before the command's turn (queued behind another of the host's, say):
  // it never starts.
  EXPECT_FALSE(r.completed());
  EXPECT_EQ(r.error, "not started on main.db (" + sshd.address() + ":" + std::to_string(sshd.port()) +
                         "): Baton was stopped by signal 2");
  EXPECT_LT(Clock::now() - t0, 2500ms);
  // Set once it runs (before its first output): stopped, not run to its end.
  // (Set while its start was recorded, it would not start: see
  // AStopWhileTheStartIsRecordedKeepsTheCommandFromActing.)
  const std::string began = sshd.scratch_dir() + "/began";
  c.script = "touch " + began + "; " + c.script;
  std::atomic<int> later{0};
  c.stop = &later;
  std::thread stopper([&] {
    waits_for([&] { return file_exists(began); }, 2s);
    later = SIGINT;
  });
  r = agent.run(c);
  stopper.join();
  EXPECT_EQ(r.stopped_by, SIGINT);
  EXPECT_EQ(r.error, "");
  EXPECT_LT(Clock::now() - t0, 2500ms);
  std::this_thread::sleep_for(3500ms - (Clock::now() - t0));
  EXPECT_FALSE(file_exists(marker)) << "the command ran to its end";
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// The runner starts in the background after a host's second command: the
// commands meanwhile take channels, and once it is ready every command
// runs in it, on the one connection.
TEST_F(SshAgentTest, TheRunnerStartsInTheBackgroundAfterAHostsSecondCommand) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  SshOptions o = options_for(sshd);
  o.runner_after = SshOptions{}.runner_after;
  SshAgent agent(o);
  std::vector<std::string> parents;
  const auto until = Clock::now() + 10s;
  int after = 0;  // commands since the runner's first, up to 3
  while (Clock::now() < until && after < 3) {
    CommandResult r = agent.run(command("cat /proc/$PPID/comm"));
    ASSERT_TRUE(r.completed()) << r.error;
    parents.push_back(r.out);
    if (after || r.out == "perl\n") ++after;
  }
  ASSERT_GE(parents.size(), 3u);
  EXPECT_EQ(parents[0], "sshd\n");
  EXPECT_EQ(parents[1], "sshd\n");
  const auto first = std::find(parents.begin(), parents.end(), "perl\n");
  ASSERT_NE(first, parents.end()) << "the runner never took over";
  EXPECT_EQ(std::count(first, parents.end(), "sshd\n"), 0) << "a channel after the runner was ready";
  EXPECT_EQ(agent.connects(), 1);
}

// Under MaxSessions 1 the background start is refused (the next command's
// channel holds the one session, or the other way round): every command
// still runs, and the runner then starts the waiting way.
TEST_F(SshAgentTest, UnderMaxSessionsOneTheRunnerStillStarts) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  ASSERT_EQ(restart_with_max_sessions(sshd, 1), "");
  SshOptions o = options_for(sshd);
  o.runner_after = SshOptions{}.runner_after;
  SshAgent agent(o);
  std::string parents;
  for (int i = 0; i < 6; ++i) {
    CommandResult r = agent.run(command("cat /proc/$PPID/comm"));
    ASSERT_TRUE(r.completed()) << i << ": " << r.error;
    parents += r.out;
  }
  EXPECT_EQ(parents.substr(0, 10), "sshd\nsshd\n");
  EXPECT_NE(parents.find("perl\n"), std::string::npos) << parents;
  EXPECT_EQ(parents.substr(parents.size() - 5), "perl\n") << parents;
  EXPECT_LE(agent.connects(), 2);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// A runner that hangs (stopped) while its command times out: the kill goes
// over a channel of its own, and the command is stopped.
TEST_F(SshAgentTest, AHungRunnerStillLetsATimedOutCommandBeStopped) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  SshAgent agent(options_for(sshd));
  const std::string ppidfile = sshd.scratch_dir() + "/ppid";
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  pid_t runner = 0;
  std::thread freezer([&] {
    for (int i = 0; i < 100 && slurp(ppidfile).empty(); ++i) std::this_thread::sleep_for(50ms);
    runner = static_cast<pid_t>(std::atoi(slurp(ppidfile).c_str()));
    if (runner > 1) ::kill(runner, SIGSTOP);
  });
  const auto t0 = Clock::now();
  CommandResult r = agent.run(command("echo $$ > " + pidfile + "; echo $PPID > " + ppidfile + "; sleep 30", 1s));
  const auto took = Clock::now() - t0;
  freezer.join();
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.error, "");
  EXPECT_LT(took, 10s);
  const pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  ASSERT_GT(pid, 1);
  EXPECT_TRUE(process_gone(pid)) << "the command still runs";
  if (runner > 1) ::kill(runner, SIGKILL);
  CommandResult next = agent.run(command("echo again"));
  EXPECT_TRUE(next.completed()) << next.error;
}

// A runner that cannot start commands (here perl in taint mode, as
// PERL5OPT=-T in the login environment makes it) is given up: the command
// runs on a channel, and so do the next ones.
TEST_F(SshAgentTest, ARunnerThatCannotStartCommandsIsGivenUpForChannels) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  const std::string perl = sshd.scratch_dir() + "/tainted-perl";
  spit(perl, "#!/bin/sh\nPERL5OPT=-T exec perl \"$@\"\n");
  ASSERT_EQ(::chmod(perl.c_str(), 0755), 0);
  SshOptions o = options_for(sshd);
  o.runner_perl = perl;
  SshAgent agent(o);
  for (int i = 0; i < 3; ++i) {
    CommandResult r = agent.run(command("cat /proc/$PPID/comm"));
    ASSERT_TRUE(r.completed()) << i << ": " << r.error;
    EXPECT_EQ(r.out, "sshd\n") << i;
  }
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// A timed-out command whose processes run as another user (run_as through
// sudo): the login user's kill cannot reach them. Baton stops them through
// sudo when the rule allows /bin/sh (as run_as needs), and otherwise says
// it could not stop the command, never "killed". Root only (sudoers).
TEST_F(SshAgentTest, ATimedOutCommandOfAnotherUserIsStoppedThroughSudoOrNotCalledStopped) {
  if (::geteuid() != 0 || sshd.user() != "batontest") GTEST_SKIP() << "needs root and the user batontest";
  // Its own user in each mode: the two modes run at once under ctest -j.
  const std::string user = channels_only() ? "sys" : "daemon";
  const std::string rule = "/etc/sudoers.d/baton-ssh-agent-test-" + user;
  struct Cleanup {
    std::string rule, user;
    ~Cleanup() {
      std::remove(rule.c_str());
      std::system(("pkill -KILL -u " + user + " -f 'sleep 3[01]' 2>/dev/null").c_str());
    }
  } cleanup{rule, user};
  auto allow = [&](const std::string& commands) {
    std::ofstream(rule) << "batontest ALL=(" << user << ") NOPASSWD: " << commands << "\n";
    ASSERT_EQ(::chmod(rule.c_str(), 0440), 0);
  };
  auto sleeping = [&] { return std::system(("pgrep -u " + user + " -f 'sleep 3[01]' >/dev/null").c_str()) == 0; };
  // sudo passes the TERM on to the shell it started, not to the shell's
  // child: the sleep is left, the other user's, in the command's group.
  allow("/usr/bin/env");  // it may start the command, not stop it
  SshAgent agent(options_for(sshd));
  CommandResult r = agent.run(command("sudo -n -u " + user + " /usr/bin/env sh -c 'sleep 31; true'", 1s));
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.error.find("timed out after 1000 ms and could not stop the command on main.db"), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("outlived the kill"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("it may still be running there"), std::string::npos) << r.error;
  EXPECT_TRUE(sleeping());
  std::system(("pkill -KILL -u " + user + " -f 'sleep 3[01]'").c_str());
  allow("/usr/bin/env, /bin/sh");
  r = agent.run(command("sudo -n -u " + user + " /usr/bin/env sh -c 'sleep 30; true'", 1s));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.error, "");
  for (int i = 0; i < 50 && sleeping(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(sleeping()) << "the command of another user outlived the kill";
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// Under MaxSessions 2 the spare channel and the runner still starting in the
// background hold both slots: a timed-out command's kill lets them go and
// still gets its channel.
TEST_F(SshAgentTest, UnderMaxSessionsTwoATimedOutCommandWhileTheRunnerStartsIsStopped) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  ASSERT_EQ(restart_with_max_sessions(sshd, 2), "");
  SshOptions o = options_for(sshd);
  o.runner_after = SshOptions{}.runner_after;
  SshAgent agent(o);
  ASSERT_TRUE(agent.run(command("true")).completed());
  ASSERT_TRUE(agent.run(command("true")).completed());
  const std::string pidfile = sshd.scratch_dir() + "/pid";
  CommandResult r = agent.run(command("echo $$ > " + pidfile + "; exec sleep 20", 1s));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.error, "");
  const pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
  ASSERT_GT(pid, 1);
  for (int i = 0; i < 50 && !process_gone(pid); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(process_gone(pid)) << "the timed-out command " << pid << " still runs";
  EXPECT_TRUE(agent.run(command("true")).completed());
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// The runner hangs (stopped) and its command then ends by itself: the
// timeout's kill finds nothing left, so the outcome is unknown, not "killed".
TEST_F(SshAgentTest, AHungRunnerWhoseCommandEndedIsNotCalledKilled) {
  if (channels_only()) GTEST_SKIP() << "runner only";
  SshAgent agent(options_for(sshd));
  const std::string ppidfile = sshd.scratch_dir() + "/runner";
  CommandResult r = agent.run(command("echo $PPID > " + ppidfile + "; kill -STOP $PPID; exit 0", 1s));
  const pid_t runner = static_cast<pid_t>(std::atoi(slurp(ppidfile).c_str()));
  if (runner > 1) ::kill(runner, SIGKILL);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.completed());
  EXPECT_FALSE(r.kill_failed);
  EXPECT_NE(r.error.find("the command had already ended there: its outcome is unknown"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {


// The journal's sync overlaps the command's start: before_start is called
// once its shell runs on the host, and it acts only after that returns. A
// secret, which travels on stdin after the go line, still arrives whole.
TEST_F(SshAgentTest, TheCommandStartsWhileItsStartIsRecordedAndActsOnlyAfter) {
  SshAgent agent(options_for(sshd));
  const std::string mark = sshd.scratch_dir() + "/acted-after-gate";
  Command c = command("printf '%s' \"$db_password\" > " + mark);
  c.vars = {{"db_password", "s3cret-gate"}};
  bool shell_was_there = false, acted_early = false;
  int calls = 0;
  c.before_start = [&]() -> std::string {
    ++calls;
    shell_was_there = waits_for([&] { return !processes_with(mark).empty(); }, 3s);
    std::this_thread::sleep_for(200ms);  // a slow disk
    acted_early = file_exists(mark);
    return {};
  };
  CommandResult r = agent.run(c);
  EXPECT_TRUE(r.completed()) << r.error;
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(shell_was_there) << "its shell did not start before the gate";
  EXPECT_FALSE(acted_early) << "it acted before its start was recorded";
  EXPECT_EQ(slurp(mark), "s3cret-gate");
}

// The sync failed: the command never acts, nothing of it is left on the
// host, and the next command runs as usual.
TEST_F(SshAgentTest, ACommandWhoseStartCouldNotBeRecordedNeverActs) {
  SshAgent agent(options_for(sshd));
  ASSERT_TRUE(agent.run(command("true")).completed());  // the runner is up (or a channel's turn)
  const std::string mark = sshd.scratch_dir() + "/acted-unrecorded";
  Command c = command("touch " + mark);
  c.before_start = [] { return std::string("cannot sync journal /state/run.jsonl: No space left on device"); };
  CommandResult r = agent.run(c);
  EXPECT_TRUE(r.not_started);
  EXPECT_FALSE(r.completed());
  EXPECT_EQ(r.error, "cannot sync journal /state/run.jsonl: No space left on device");
  EXPECT_TRUE(waits_for([&] { return processes_with(mark).empty(); }, 3s)) << "its shell still waits";
  EXPECT_FALSE(file_exists(mark)) << "it acted";
  EXPECT_TRUE(agent.run(command("true")).completed());
}

// Baton killed (-9) while it records the start: the connection goes, the
// waiting shell reads EOF instead of its go and ends without acting.
TEST_F(SshAgentTest, BatonKilledWhileRecordingTheStartLeavesNothingThatActs) {
  const std::string mark = sshd.scratch_dir() + "/acted-after-kill";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SshAgent agent(options_for(sshd));
    Command c = command("touch " + mark);
    c.before_start = []() -> std::string {
      ::raise(SIGKILL);
      return {};
    };
    agent.run(c);
    ::_exit(3);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
  EXPECT_TRUE(waits_for([&] { return processes_with(mark).empty(); }, 5s)) << "its shell still waits";
  EXPECT_FALSE(file_exists(mark)) << "it acted without its go";
}

// Ctrl-C or SIGTERM while the start is recorded: the command does not go.
TEST_F(SshAgentTest, AStopWhileTheStartIsRecordedKeepsTheCommandFromActing) {
  SshAgent agent(options_for(sshd));
  ASSERT_TRUE(agent.run(command("true")).completed());
  const std::string mark = sshd.scratch_dir() + "/acted-after-stop";
  std::atomic<int> stop{0};
  Command c = command("touch " + mark);
  c.stop = &stop;
  c.before_start = [&] {
    stop = 2;
    return std::string();
  };
  CommandResult r = agent.run(c);
  EXPECT_TRUE(r.not_started);
  EXPECT_NE(r.error.find("Baton was stopped by signal 2"), std::string::npos) << r.error;
  EXPECT_TRUE(waits_for([&] { return processes_with(mark).empty(); }, 3s)) << "its shell still waits";
  EXPECT_FALSE(file_exists(mark)) << "it acted";
  stop = 0;
  EXPECT_TRUE(agent.run(command("true")).completed());
}

}  // namespace
}  // namespace baton
