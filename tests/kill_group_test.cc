// kill_group_script against real process groups: one of the login user's
// own, one of another user that sudo lets the login user reach (run_as),
// and one that nothing the login user may do can stop. Needs root (to make
// the other user's processes and a sudoers entry) and the user batontest.
#include "agents/kill_group.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "agents/local_agent.h"
#include "agents/shell.h"
#include "tests/cli_support.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using namespace baton::testing;

// Each test has a user of its own and a sudoers file of its own, so that
// tests running at once (ctest -j) cannot grant each other anything.
std::string sudoers(const std::string& user) { return "/etc/sudoers.d/baton-kill-group-test-" + user; }
void allow(const std::string& user, const std::string& commands) {
  std::ofstream(sudoers(user)) << "batontest ALL=(" << user << ") NOPASSWD: " << commands << "\n";
  ::chmod(sudoers(user).c_str(), 0440);
}

class KillGroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* u : {"batontest", "nobody", "games", "man"})
      if (!::getpwnam(u)) GTEST_SKIP() << "needs the user " << u;
    if (sh("command -v sudo && command -v runuser").exit_code != 0) GTEST_SKIP() << "needs sudo and runuser";
  }
  void TearDown() override {
    if (group_ > 1) ::kill(-group_, SIGKILL);
    if (leader_ > 0) ::waitpid(leader_, nullptr, 0);
    for (const char* u : {"games", "man"}) std::remove(sudoers(u).c_str());
  }
  // A group of `user` (its leader and a child), led by a process of ours.
  void start_group(const char* user) {
    leader_ = ::fork();
    if (leader_ == 0) {
      ::setpgid(0, 0);
      const passwd* pw = ::getpwnam(user);
      if (!pw || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) ::_exit(126);
      ::execl("/bin/sh", "sh", "-c", "sleep 60 & sleep 60", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    group_ = leader_;
    for (int i = 0; i < 100 && !group_alive(group_); ++i) std::this_thread::sleep_for(10ms);
  }
  // The script as batontest (the SSH user), as an agent runs it.
  int kill_as_login_user() {
    return sh("runuser -u batontest -- /bin/sh -c " + shell_quote(kill_group_script(group_))).exit_code;
  }
  pid_t leader_ = 0;
  long group_ = 0;
};

TEST_F(KillGroup, TheLoginUsersOwnGroupIsStopped) {
  start_group("batontest");
  ASSERT_TRUE(group_alive(group_));
  EXPECT_EQ(kill_as_login_user(), 0);
  EXPECT_FALSE(group_alive(group_));
}

// A group with nothing left in it: the script says there was nothing to
// stop, so the agent does not claim a kill.
TEST_F(KillGroup, AGroupAlreadyGoneIsNothingToStop) {
  start_group("batontest");
  ::kill(-group_, SIGKILL);
  for (int i = 0; i < 100 && group_alive(group_); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_FALSE(group_alive(group_));
  EXPECT_EQ(kill_as_login_user(), kKillNothing);
}

// run_as = "games": the login user reaches games' processes through the
// same sudo rule run_as needs.
TEST_F(KillGroup, AnotherUsersGroupIsStoppedThroughSudo) {
  allow("games", "/bin/sh");
  start_group("games");
  ASSERT_TRUE(group_alive(group_));
  EXPECT_EQ(kill_as_login_user(), 0);
  EXPECT_FALSE(group_alive(group_));
}

// Without a sudo rule the group outlives the kill: the script says so, and
// the agent then reports the command as possibly still running.
TEST_F(KillGroup, AGroupNothingCanReachIsReportedAlive) {
  start_group("nobody");
  ASSERT_TRUE(group_alive(group_));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(kill_as_login_user(), kKillSurvivors);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_TRUE(group_alive(group_));
}

// The same for a local host: LocalAgent, as batontest, times out a command
// whose child runs as man (sudo passes the TERM on to the shell only).
// Without a rule that reaches man's processes it says so; with one, the
// child is stopped.
TEST_F(KillGroup, LocalAgentSaysWhenATimedOutCommandOutlivedItsKill) {
  auto run_as_batontest = [](const char* rule) {
    allow("man", rule);
    int fds[2];
    if (::pipe(fds) != 0) return std::string("pipe");
    const pid_t child = ::fork();
    if (child == 0) {
      const passwd* pw = ::getpwnam("batontest");
      if (::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) ::_exit(1);
      LocalAgent agent;
      Command c;
      c.script = "cd /; sudo -n -u man /usr/bin/env sh -c 'sleep 31; true'";
      c.timeout = std::chrono::seconds(1);
      const CommandResult r = agent.run(c);
      const std::string said = (r.timed_out ? "timed out|" : "|") + r.error;
      if (::write(fds[1], said.data(), said.size()) < 0) ::_exit(1);
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string said;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    ::waitpid(child, nullptr, 0);
    return said;
  };
  auto sleeping = [] { return sh("pgrep -u man -f 'sleep 31'").exit_code == 0; };
  const std::string refused = run_as_batontest("/usr/bin/env");
  EXPECT_EQ(refused.rfind("timed out|timed out after 1000 ms and could not stop the command (", 0), 0u) << refused;
  EXPECT_NE(refused.find("outlived the kill"), std::string::npos) << refused;
  EXPECT_TRUE(sleeping());
  sh("pkill -KILL -u man -f 'sleep 31'");
  const std::string stopped = run_as_batontest("/usr/bin/env, /bin/sh");
  EXPECT_EQ(stopped, "timed out|");
  for (int i = 0; i < 50 && sleeping(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(sleeping());
  sh("pkill -KILL -u man -f 'sleep 31'");
}

}  // namespace
}  // namespace baton
