// LocalAgent against a real /bin/sh: streams, exit status, signals, quoting,
// timeouts that kill the whole process group, output caps, stray daemons.
#include "agents/local_agent.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
}

// A private scratch directory, removed afterwards.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/baton-local-agent-test-XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Alive and not a zombie. (Orphans may stay zombies a while on this VM.)
bool process_alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return false;
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("State:", 0) == 0) return line.find('Z') == std::string::npos && line.find('X') == std::string::npos;
  return false;
}

// Waits up to `limit` for the process to die.
bool gone_within(pid_t pid, milliseconds limit) {
  auto t0 = Clock::now();
  while (process_alive(pid)) {
    if (Clock::now() - t0 > limit) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

pid_t read_pid(const std::string& path) {
  std::string s = slurp(path);
  return static_cast<pid_t>(std::atoi(s.c_str()));
}

CommandResult run(const std::string& script, milliseconds timeout = std::chrono::seconds(10),
                  Vars vars = {}) {
  LocalAgent a;
  Command c;
  c.script = script;
  c.vars = std::move(vars);
  c.timeout = timeout;
  return a.run(c);
}

TEST(LocalAgent, DescribesItselfAsLocal) { EXPECT_EQ(LocalAgent().describe(), "local"); }

TEST(LocalAgent, StdoutAndStderrKeptApart) {
  CommandResult r = run("echo out1; echo err1 >&2; echo out2; echo err2 >&2");
  EXPECT_TRUE(r.completed());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "out1\nout2\n");
  EXPECT_EQ(r.err, "err1\nerr2\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.error.empty());
}

TEST(LocalAgent, ExitCodeReported) {
  CommandResult r = run("echo bye; exit 42");
  EXPECT_EQ(r.exit_code, 42);
  EXPECT_EQ(r.out, "bye\n");
  EXPECT_TRUE(r.completed());  // It ran to its end; the exit code says how it went.
  EXPECT_EQ(run("false").exit_code, 1);
  EXPECT_EQ(run("true").exit_code, 0);
  EXPECT_EQ(run("exit 255").exit_code, 255);
}

TEST(LocalAgent, MissingCommandIs127) {
  CommandResult r = run("baton-no-such-command-here");
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_FALSE(r.err.empty());
}

TEST(LocalAgent, StdinIsEmpty) {
  // A command reading stdin must not hang or steal the test's stdin.
  auto t0 = Clock::now();
  CommandResult r = run("cat; echo done", std::chrono::seconds(5));
  EXPECT_LT(ms_since(t0), 2000);
  EXPECT_EQ(r.out, "done\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(LocalAgent, KilledBySignalReported) {
  CommandResult r = run("echo before; kill -KILL $$; echo after");
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.completed());
  EXPECT_EQ(r.out, "before\n");

  CommandResult t = run("kill -TERM $$");
  EXPECT_EQ(t.signal, SIGTERM);
  EXPECT_FALSE(t.completed());
}

TEST(LocalAgent, VariablesArePlainData) {
  TempDir d;
  ASSERT_FALSE(d.path().empty());
  const std::string marker = d.file("x");
  const std::string value = "'; touch " + marker + "; echo '$(id)";
  CommandResult r = run("printf '%s' \"$v\"", std::chrono::seconds(10), {{"v", value}});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, value);
  EXPECT_FALSE(exists(marker)) << "the value was run as a command";

  // echo "$v" as a runbook would write it, and unquoted use in a child.
  r = run("echo \"$v\"; sh -c 'echo \"$v\"'", std::chrono::seconds(10), {{"v", value}});
  EXPECT_EQ(r.out, value + "\n" + value + "\n");
  EXPECT_FALSE(exists(marker));
}

TEST(LocalAgent, VariablesWithEveryByte) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  CommandResult r = run("printf '%s' \"$v\"", std::chrono::seconds(10), {{"v", all}});
  EXPECT_EQ(r.out, all);
}

TEST(LocalAgent, TimeoutKillsCommand) {
  auto t0 = Clock::now();
  CommandResult r = run("sleep 30", milliseconds(300));
  const long long took = ms_since(t0);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.completed());
  EXPECT_NE(r.signal, 0);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 2500);
  EXPECT_GE(r.duration.count(), 290);
}

TEST(LocalAgent, TimeoutKillsWholeProcessGroup) {
  TempDir d;
  const std::string pidfile = d.file("bg.pid");
  const std::string after = d.file("after");
  auto t0 = Clock::now();
  CommandResult r = run("sleep 60 & echo $! > '" + pidfile + "'; wait; touch '" + after + "'",
                        milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(ms_since(t0), 2500);
  pid_t bg = read_pid(pidfile);
  ASSERT_GT(bg, 1) << "background pid not recorded";
  EXPECT_TRUE(gone_within(bg, milliseconds(1000))) << "background sleep " << bg << " survived the timeout";
  if (process_alive(bg)) ::kill(bg, SIGKILL);
  EXPECT_FALSE(exists(after));
}

TEST(LocalAgent, IgnoredTermGetsKillAfterGrace) {
  // Both the foreground sleep and a background one ignore SIGTERM; the
  // SIGKILL after the grace period must reach the whole group.
  TempDir d;
  const std::string pidfile = d.file("sleep.pid");
  auto t0 = Clock::now();
  CommandResult r = run("trap '' TERM; sleep 30 & echo $! > '" + pidfile + "'; sleep 30",
                        milliseconds(300));
  const long long took = ms_since(t0);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_GE(took, 2000);  // 300 ms timeout, then the grace period.
  EXPECT_LT(took, 3000);
  pid_t bg = read_pid(pidfile);
  ASSERT_GT(bg, 1);
  EXPECT_TRUE(gone_within(bg, milliseconds(1000))) << "background sleep " << bg << " survived SIGKILL";
  if (process_alive(bg)) ::kill(bg, SIGKILL);
}

TEST(LocalAgent, OutputCappedWithMarker) {
  LocalAgent a;
  Command c;
  c.script = "head -c 5242880 /dev/zero | tr '\\000' a; echo tail >&2";
  c.output_limit = 1 << 20;
  c.timeout = std::chrono::seconds(20);
  CommandResult r = a.run(c);
  EXPECT_EQ(r.exit_code, 0);
  const std::size_t dropped = 5242880 - (1 << 20);
  ASSERT_EQ(r.out.size(), (1u << 20) + truncation_marker(dropped).size());
  EXPECT_EQ(r.out.substr(0, 1 << 20), std::string(1 << 20, 'a'));
  EXPECT_EQ(r.out.substr(1 << 20), truncation_marker(dropped));
  EXPECT_NE(r.out.find(std::to_string(dropped)), std::string::npos);
  EXPECT_EQ(r.err, "tail\n");  // The other stream has its own cap.
}

TEST(LocalAgent, StderrCappedToo) {
  LocalAgent a;
  Command c;
  c.script = "head -c 3000 /dev/zero | tr '\\000' e >&2";
  c.output_limit = 1000;
  CommandResult r = a.run(c);
  EXPECT_EQ(r.err, std::string(1000, 'e') + truncation_marker(2000));
  EXPECT_EQ(r.out, "");
}

TEST(LocalAgent, OutputAtLimitNotTruncated) {
  LocalAgent a;
  Command c;
  c.script = "head -c 1000 /dev/zero | tr '\\000' z";
  c.output_limit = 1000;
  CommandResult r = a.run(c);
  EXPECT_EQ(r.out, std::string(1000, 'z'));
}

TEST(LocalAgent, BothStreamsLargeDoNotDeadlock) {
  CommandResult r = run(
      "i=0; while [ $i -lt 2000 ]; do echo out-line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
      "echo err-line-$i-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy >&2; i=$((i+1)); done",
      std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.out.find("out-line-1999-"), std::string::npos);
  EXPECT_NE(r.err.find("err-line-1999-"), std::string::npos);
  EXPECT_EQ(r.out.find("err-line"), std::string::npos);
  EXPECT_EQ(r.err.find("out-line"), std::string::npos);
}

TEST(LocalAgent, BackgroundDaemonHoldingStdoutDoesNotBlock) {
  TempDir d;
  const std::string pidfile = d.file("daemon.pid");
  auto t0 = Clock::now();
  CommandResult r = run("sleep 5 & echo $! > '" + pidfile + "'; echo started; exit 3");
  const long long took = ms_since(t0);
  EXPECT_LT(took, 1000);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "started\n");
  pid_t bg = read_pid(pidfile);
  if (bg > 1) ::kill(bg, SIGKILL);
}

TEST(LocalAgent, DurationMeasured) {
  CommandResult r = run("sleep 0.2");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_GE(r.duration.count(), 195);
  EXPECT_LT(r.duration.count(), 1500);
  CommandResult q = run("true");
  EXPECT_LT(q.duration.count(), 200);
}

TEST(LocalAgent, RunsConcurrentlyFromThreads) {
  // The executor runs one agent per host in parallel threads.
  auto t0 = Clock::now();
  CommandResult r1, r2;
  std::thread a([&] { r1 = run("sleep 0.5; echo a"); });
  std::thread b([&] { r2 = run("sleep 0.5; echo b"); });
  a.join();
  b.join();
  EXPECT_EQ(r1.out, "a\n");
  EXPECT_EQ(r2.out, "b\n");
  EXPECT_LT(ms_since(t0), 990);  // Sequential would take >= 1000 ms.
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(LocalAgentSecrets, ValuesAreNotInTheCommandLine) {
  LocalAgent a;
  Command c;
  c.script = "tr '\\0\\n' '  ' < /proc/$$/cmdline; echo; printf '%s' \"$db_password\"";
  c.vars = {{"db_password", "s3cret-value-42"}};
  CommandResult r = a.run(c);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string cmdline = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(cmdline.find("s3cret-value-42"), std::string::npos) << cmdline;
  EXPECT_NE(cmdline.find("sh -c"), std::string::npos) << cmdline;
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1), "s3cret-value-42");
}

}  // namespace
}  // namespace baton

#include <fcntl.h>
#include <sys/wait.h>

namespace baton {
namespace {

// Runs `script` through a LocalAgent from a child process whose controlling
// terminal is a fresh pseudo-terminal, as when an operator runs Baton.
// Returns "EXIT TIMED_OUT MS\nSTDERR".
std::string run_with_a_terminal(const std::string& script) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return "no pty";
  const std::string slave = ::ptsname(master);
  int report[2];
  if (::pipe(report) != 0) return "no pipe";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    int tty = ::open(slave.c_str(), O_RDWR);  // Becomes the controlling terminal.
    if (tty < 0 || ::ioctl(tty, TIOCSCTTY, 0) != 0) ::_exit(90);
    auto t0 = Clock::now();
    CommandResult r = run(script, std::chrono::seconds(5));
    std::string out = std::to_string(r.exit_code) + " " + std::to_string(r.timed_out) + " " +
                      std::to_string(ms_since(t0)) + "\n" + r.err;
    if (::write(report[1], out.data(), out.size()) < 0) ::_exit(91);
    ::_exit(0);
  }
  ::close(report[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(report[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  return out;
}

TEST(LocalAgentTerminal, CommandThatOpensTheTerminalFailsAtOnce) {
  // Before: the step shared Baton's terminal from a background process
  // group, the kernel stopped it (SIGTTIN), and it hung until its timeout.
  std::string r = run_with_a_terminal("exec </dev/tty; read x; echo \"got $x\"");
  int code = -1, timed_out = -1;
  long long ms = -1;
  std::sscanf(r.c_str(), "%d %d %lld", &code, &timed_out, &ms);
  EXPECT_EQ(timed_out, 0) << r;
  EXPECT_EQ(code, 2) << r;
  EXPECT_LT(ms, 2000) << r;
  EXPECT_NE(r.find("/dev/tty"), std::string::npos) << r;  // The command's own message.
}

TEST(LocalAgentTerminal, OwnSessionStillKilledWholeOnTimeout) {
  TempDir t;
  const std::string pids = t.file("pids");
  CommandResult r = run("sleep 30 & echo $! > " + pids + "; (sleep 30 & echo $! >> " + pids + "; wait) & wait",
                        milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  std::ifstream in(pids);
  pid_t p;
  int n = 0;
  while (in >> p) {
    ++n;
    EXPECT_TRUE(gone_within(p, std::chrono::seconds(5))) << p;
  }
  EXPECT_EQ(n, 2);
  // And in a session of its own: not Baton's.
  CommandResult s = run("ps -o sid= -p $$; ps -o sid= -p " + std::to_string(::getpid()));
  std::istringstream sids(s.out);
  long mine = 0, baton = 0;
  sids >> mine >> baton;
  EXPECT_NE(mine, baton) << s.out;
}

// ---------------------------------------------------------------- large values

TEST(LocalAgentLargeValues, OneMebibyteValueReachesTheCommand) {
  // Over 128 KiB an environment string broke exec: "exit code 127".
  const std::string big(1 << 20, 'v');
  CommandResult r = run("printf %s \"$big\" | wc -c; printf %s \"$small\"", std::chrono::seconds(10),
                        {{"big", big}, {"small", "s'mall"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1048576\ns'mall");
  // A command that does not use it runs too, and fd 3 is closed for it.
  r = run("test ! -e /proc/self/fd/3 && echo fine", std::chrono::seconds(10), {{"big", big}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "fine\n");
}

TEST(LocalAgentLargeValues, ManyValuesPastArgMaxAndTheLastOfANameWins) {
  Vars vars;
  for (int i = 0; i < 40; ++i) vars.emplace_back("v" + std::to_string(i), std::string(100 << 10, 'a' + i % 26));
  vars.emplace_back("v0", "replaced");  // Later wins, as in sh.
  vars.emplace_back("v1", std::string(200 << 10, 'z'));
  CommandResult r = run("echo \"$v0\"; printf %s \"$v1\" | tr -d z | wc -c; printf %s \"$v39\" | wc -c",
                        std::chrono::seconds(10), vars);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "replaced\n0\n102400\n");
}

TEST(LocalAgentLargeValues, LargeScriptRuns) {
  const std::string script = ": '" + std::string(300 << 10, 'x') + "'\necho \"ran $v\"\n";
  CommandResult r = run(script, std::chrono::seconds(10), {{"v", "too"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ran too\n");
}

TEST(LocalAgentLargeValues, CommandThatExitsBeforeReadingDoesNotHurtBaton) {
  // The socket is closed early: no SIGPIPE for the test process (or Baton).
  CommandResult r = run("exit 4", std::chrono::seconds(10), {{"big", std::string(8 << 20, 'b')}});
  EXPECT_EQ(r.exit_code, 4) << r.err;
}

}  // namespace
}  // namespace baton
