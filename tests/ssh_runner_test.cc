// The runner (agents/ssh_runner.h): its frames, and its Perl program run
// here, on this machine, through pipes (what sshd would give it).
#include "agents/ssh_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace baton {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<RunnerFrame> all_frames(RunnerFrames& f, std::string* bad) {
  std::vector<RunnerFrame> out;
  while (auto x = f.next(bad)) out.push_back(*x);
  return out;
}

TEST(RunnerFrames, FramesSplitAnywhereComeOutWhole) {
  const std::string wire = std::string("chatter\n") + kRunnerReady + "p4242 1234\no5\nhel\nle2\n!!o0\nx3 0\n";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    RunnerFrames f;
    std::string bad;
    f.add(wire.data(), cut);
    bool ready = f.ready();
    std::vector<RunnerFrame> got = ready ? all_frames(f, &bad) : std::vector<RunnerFrame>{};
    f.add(wire.data() + cut, wire.size() - cut);
    if (!ready) {
      ASSERT_TRUE(f.ready()) << cut;
    }
    for (auto& x : all_frames(f, &bad)) got.push_back(x);
    ASSERT_EQ(bad, "") << cut;
    ASSERT_EQ(got.size(), 5u) << cut;
    EXPECT_EQ(got[0].kind, RunnerFrame::process);
    EXPECT_EQ(got[0].pid, 4242);
    EXPECT_EQ(got[0].start, 1234);
    EXPECT_EQ(got[1].kind, RunnerFrame::out);
    EXPECT_EQ(got[1].data, "hel\nl");
    EXPECT_EQ(got[2].kind, RunnerFrame::err);
    EXPECT_EQ(got[2].data, "!!");
    EXPECT_EQ(got[3].data, "");
    EXPECT_EQ(got[4].kind, RunnerFrame::exit);
    EXPECT_EQ(got[4].exit_code, 3);
  }
}

TEST(RunnerFrames, WhatIsNotAFrameIsRefused) {
  for (const std::string& wire : std::vector<std::string>{"z1\nq", "o-1\n", "ox\n", "x1\n", "p12 ab\n", std::string(80, 'o')}) {
    RunnerFrames f;
    std::string bad;
    f.add(wire.data(), wire.size());
    EXPECT_FALSE(f.next(&bad)) << wire;
    EXPECT_NE(bad, "") << wire;
  }
}

TEST(RunnerFrames, SignalAndFailure) {
  const std::string wire = "x-1 9\nf9\nno pipes!";
  RunnerFrames f;
  std::string bad;
  f.add(wire.data(), wire.size());
  auto got = all_frames(f, &bad);
  ASSERT_EQ(got.size(), 2u) << bad;
  EXPECT_EQ(got[0].exit_code, -1);
  EXPECT_EQ(got[0].signal, 9);
  EXPECT_EQ(got[1].kind, RunnerFrame::failed);
  EXPECT_EQ(got[1].data, "no pipes!");
}

// The runner's program started by /bin/sh, as a login shell would, with
// pipes for its stdin, stdout and stderr.
class Runner {
 public:
  // `env`: "NAME=VALUE" set for the runner (and what it starts).
  explicit Runner(std::vector<std::string> env = {}) {
    int in[2], out[2], err[2];
    if (::pipe(in) || ::pipe(out) || ::pipe(err)) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
      for (std::string& e : env) ::putenv(e.data());
      const std::string cmd = runner_command("perl");
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    to_ = in[1];
    from_ = out[0];
    errs_ = err[0];
  }
  ~Runner() {
    close_stdin();
    if (from_ >= 0) ::close(from_);
    if (errs_ >= 0) ::close(errs_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void send(const std::string& s) { ASSERT_EQ(::write(to_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void close_stdin() {
    if (to_ >= 0) ::close(to_);
    to_ = -1;
  }
  // Frames until (and with) the end of one command, or nothing after `limit`.
  std::vector<RunnerFrame> until_end(std::chrono::milliseconds limit = 10s) {
    std::vector<RunnerFrame> got;
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      std::string bad;
      while (auto f = frames_.next(&bad)) {
        got.push_back(*f);
        if (f->kind == RunnerFrame::exit || f->kind == RunnerFrame::failed || f->kind == RunnerFrame::here) return got;
      }
      EXPECT_EQ(bad, "");
      if (!bad.empty() || !read_some(until)) break;
    }
    return got;
  }
  // Reads at most 16 KiB at a time, `pause` apart: a slow link.
  void slow_reads(std::chrono::milliseconds pause) { pause_ = pause; }
  bool ready(std::chrono::milliseconds limit = 10s) {
    const auto until = Clock::now() + limit;
    while (!frames_.ready())
      if (!read_some(until)) return false;
    return true;
  }
  // Whether the runner process has exited within `limit`.
  bool exits_within(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  bool read_some(Clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{from_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[65536];
    if (pause_.count()) std::this_thread::sleep_for(pause_);
    const ssize_t n = ::read(from_, buf, pause_.count() ? 16384 : sizeof buf);
    if (n <= 0) return false;
    frames_.add(buf, static_cast<std::size_t>(n));
    return true;
  }
  std::chrono::milliseconds pause_{0};
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1, errs_ = -1;
  RunnerFrames frames_;
};

std::string out_of(const std::vector<RunnerFrame>& frames, RunnerFrame::Kind kind) {
  std::string s;
  for (const auto& f : frames)
    if (f.kind == kind) s += f.data;
  return s;
}

const RunnerFrame* find(const std::vector<RunnerFrame>& frames, RunnerFrame::Kind kind) {
  for (const auto& f : frames)
    if (f.kind == kind) return &f;
  return nullptr;
}

// The command's first stdout, waiting up to 5 s for it (it runs on).
std::string first_output(Runner& r) {
  std::vector<RunnerFrame> got;
  for (auto t0 = Clock::now(); out_of(got, RunnerFrame::out).empty() && Clock::now() - t0 < 5s;)
    for (auto& f : r.until_end(100ms)) got.push_back(f);
  return out_of(got, RunnerFrame::out);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(RunnerProgram, RunsEachCommandInItsOwnProcessGroupWithItsStdinAndStatus) {
  Runner r;
  ASSERT_TRUE(r.ready());
  // Field 5 and 6 of /proc/self/stat: the process group and the session.
  const std::string script = "read -r a; read -r b; echo \"$a $b\"; echo warn >&2; "
                             "set -- $(cut -d' ' -f5,6 /proc/$$/stat); echo \"$$ $1 $2\" >&2; exit 7";
  r.send(runner_request(script, "one\ntwo\n") + kRunnerGo);
  auto got = r.until_end();
  const RunnerFrame* p = find(got, RunnerFrame::process);
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(p && x);
  EXPECT_EQ(out_of(got, RunnerFrame::out), "one two\n");
  const std::string pid = std::to_string(p->pid);
  const std::string err = out_of(got, RunnerFrame::err);
  EXPECT_EQ(err.substr(0, err.rfind(' ')), "warn\n" + pid + " " + pid) << "not its own process group";
  EXPECT_GT(p->start, 0);
  EXPECT_EQ(x->exit_code, 7);
  EXPECT_EQ(x->signal, 0);

  // The next command: stdin at EOF at once when the request carries none.
  r.send(runner_request("cat; echo \"[$?]\"", "") + kRunnerGo);
  got = r.until_end();
  EXPECT_EQ(out_of(got, RunnerFrame::out), "[0]\n");
}

TEST(RunnerProgram, ASignalIsReportedAsSuch) {
  Runner r;
  ASSERT_TRUE(r.ready());
  r.send(runner_request("kill -9 $$", "") + kRunnerGo);
  auto got = r.until_end();
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->exit_code, -1);
  EXPECT_EQ(x->signal, 9);
}

TEST(RunnerProgram, KillStopsTheWholeGroupThenServesTheNext) {
  Runner r;
  ASSERT_TRUE(r.ready());
  char dir[] = "/tmp/baton-runner-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  const std::string bg = std::string(dir) + "/bg";
  // The background child ignores TERM: the KILL after 2 s ends it.
  r.send(runner_request("(trap '' TERM; exec sleep 60) & echo $! > " + bg + "; echo up; sleep 60", "") + kRunnerGo);
  ASSERT_EQ(first_output(r), "up\n");
  std::vector<RunnerFrame> got;
  const pid_t child = static_cast<pid_t>(std::atol(slurp(bg).c_str()));
  ASSERT_GT(child, 1);
  const auto t0 = Clock::now();
  r.send(kRunnerKill);
  got = r.until_end();
  const auto took = Clock::now() - t0;
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->signal, SIGTERM);
  EXPECT_GE(took, 1900ms);  // waited for the TERM-deaf child
  EXPECT_LT(took, 5s);
  for (int i = 0; i < 50 && ::kill(child, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  const std::string stat = slurp("/proc/" + std::to_string(child) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << "the background child still runs";

  r.send(runner_request("echo next", "") + kRunnerGo);
  EXPECT_EQ(out_of(r.until_end(), RunnerFrame::out), "next\n");
  ::unlink(bg.c_str());
  ::rmdir(dir);
}

// A group that obeys TERM is not kept waiting for the 2 s of the KILL
// (its members' zombies do not count as alive).
TEST(RunnerProgram, KillEndsAsSoonAsTheGroupHasGone) {
  Runner r;
  ASSERT_TRUE(r.ready());
  r.send(runner_request("sleep 60 & sleep 60 & echo up; sleep 60", "") + kRunnerGo);
  ASSERT_EQ(first_output(r), "up\n");
  std::vector<RunnerFrame> got;
  const auto t0 = Clock::now();
  r.send(kRunnerKill);
  got = r.until_end();
  ASSERT_TRUE(find(got, RunnerFrame::exit));
  EXPECT_LT(Clock::now() - t0, 1s);
}

TEST(RunnerProgram, ABackgroundChildHoldingTheOutputDoesNotHoldTheCommand) {
  Runner r;
  ASSERT_TRUE(r.ready());
  const auto t0 = Clock::now();
  r.send(runner_request("sleep 5 & echo started; exit 3", "") + kRunnerGo);
  auto got = r.until_end();
  EXPECT_LT(Clock::now() - t0, 1500ms);
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->exit_code, 3);
  EXPECT_EQ(out_of(got, RunnerFrame::out), "started\n");
  r.send(kRunnerPing);
  got = r.until_end();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, RunnerFrame::here);
}

TEST(RunnerProgram, LargeInputAndOutputBothWays) {
  Runner r;
  ASSERT_TRUE(r.ready());
  const std::string input(3 << 20, 'i');  // more than a pipe holds
  r.send(runner_request("wc -c; head -c 2000000 /dev/zero | tr '\\0' e >&2", input) + kRunnerGo);
  auto got = r.until_end();
  EXPECT_EQ(out_of(got, RunnerFrame::out), std::to_string(input.size()) + "\n");
  EXPECT_EQ(out_of(got, RunnerFrame::err), std::string(2000000, 'e'));
}

// A stop sent right behind the request (Ctrl-C as the step starts) arrives
// in the same read as the request: it still stops the command.
TEST(RunnerProgram, AStopSentWithTheRequestIsNotLost) {
  Runner r;
  ASSERT_TRUE(r.ready());
  const auto t0 = Clock::now();
  r.send(runner_request("sleep 5; echo finished", "") + kRunnerGo + kRunnerKill);
  auto got = r.until_end();
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->signal, SIGTERM);
  EXPECT_EQ(out_of(got, RunnerFrame::out), "");
  EXPECT_LT(Clock::now() - t0, 3s);
}

// The client goes while a stop is under way: the stop still ends with KILL
// for a member that ignores TERM.
TEST(RunnerProgram, AStopUnderWayFinishesWhenTheClientGoes) {
  Runner r;
  ASSERT_TRUE(r.ready());
  char dir[] = "/tmp/baton-runner-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  const std::string bg = std::string(dir) + "/bg";
  r.send(runner_request("(trap '' TERM; exec sleep 60) & echo $! > " + bg + "; echo up; sleep 60", "") + kRunnerGo);
  ASSERT_EQ(first_output(r), "up\n");
  std::vector<RunnerFrame> got;
  const pid_t child = static_cast<pid_t>(std::atol(slurp(bg).c_str()));
  ASSERT_GT(child, 1);
  r.send(kRunnerKill);
  r.close_stdin();
  EXPECT_TRUE(r.exits_within(5s));
  for (int i = 0; i < 50 && ::kill(child, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  const std::string stat = slurp("/proc/" + std::to_string(child) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << "the TERM-deaf child still runs";
  ::unlink(bg.c_str());
  ::rmdir(dir);
}

// A command that exits with much output still in its pipe (a pipe made
// large, as 64 KiB-page hosts have them), read by a slow client: all of it
// arrives before the end.
TEST(RunnerProgram, OutputStillInThePipeWhenTheCommandEndsIsAllSent) {
  Runner r;
  ASSERT_TRUE(r.ready());
  r.slow_reads(20ms);
  // F_SETPIPE_SZ is 1031.
  r.send(runner_request("perl -e 'fcntl(STDOUT, 1031, 1 << 20) or die \"F_SETPIPE_SZ: $!\"; print \"a\" x 900000'", "") + kRunnerGo);
  auto got = r.until_end(60s);
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x) << out_of(got, RunnerFrame::err);
  EXPECT_EQ(x->exit_code, 0) << out_of(got, RunnerFrame::err);
  EXPECT_EQ(out_of(got, RunnerFrame::out).size(), 900000u);
}

// PERL_UNICODE or PERL5OPT=-C in the SSH user's environment: the frames
// stay bytes (lengths in bytes, output as it was).
TEST(RunnerProgram, PerlUnicodeSettingsDoNotChangeTheBytes) {
  Runner r({"PERL_UNICODE=SDA", "PERL5OPT=-CSDA"});
  ASSERT_TRUE(r.ready());
  r.send(runner_request("echo 'd\xc3\xa9j\xc3\xa0'; read -r v; echo \"$v\"; printf '\\377\\376\\n'", "\xc3\xbc\xff\n") + kRunnerGo);
  auto got = r.until_end();
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->exit_code, 0) << out_of(got, RunnerFrame::err);
  EXPECT_EQ(out_of(got, RunnerFrame::out), "d\xc3\xa9j\xc3\xa0\n\xc3\xbc\xff\n\xff\xfe\n");
}

// A daemon the command started that keeps writing to the output: the
// command's end is reported soon all the same.
TEST(RunnerProgram, ADaemonThatKeepsWritingDoesNotHoldTheCommand) {
  Runner r;
  ASSERT_TRUE(r.ready());
  const auto t0 = Clock::now();
  r.send(runner_request("(while :; do echo tick; sleep 0.01; done) & echo $! >&2; echo started", "") + kRunnerGo);
  auto got = r.until_end();
  EXPECT_LT(Clock::now() - t0, 2s);
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  const RunnerFrame* p = find(got, RunnerFrame::process);
  ASSERT_TRUE(x && p);
  EXPECT_EQ(x->exit_code, 0);
  ::kill(-static_cast<pid_t>(p->pid), SIGKILL);
}

// Perl in taint mode (PERL5OPT=-T) cannot exec: the runner says the command
// could not start, rather than reporting an exit status of its own.
TEST(RunnerProgram, ACommandItCannotStartIsAFailureFrame) {
  Runner r({"PERL5OPT=-T"});
  ASSERT_TRUE(r.ready());
  r.send(runner_request("echo ran", "") + kRunnerGo);
  auto got = r.until_end();
  const RunnerFrame* f = find(got, RunnerFrame::failed);
  ASSERT_TRUE(f);
  EXPECT_NE(f->data.find("cannot run /bin/sh"), std::string::npos) << f->data;
  EXPECT_EQ(out_of(got, RunnerFrame::out), "");
}

// EOF on its stdin (the client went): the runner goes at once and leaves a
// running command alone, as sshd leaves a channel's command.
TEST(RunnerProgram, GoesWhenItsClientGoesAndLeavesTheCommand) {
  Runner r;
  ASSERT_TRUE(r.ready());
  r.send(runner_request("sleep 3", "") + kRunnerGo);
  auto got = r.until_end(300ms);
  const RunnerFrame* p = find(got, RunnerFrame::process);
  ASSERT_TRUE(p);
  r.close_stdin();
  EXPECT_TRUE(r.exits_within(2s));
  EXPECT_EQ(::kill(static_cast<pid_t>(p->pid), 0), 0) << "the command was stopped";
  ::kill(-static_cast<pid_t>(p->pid), SIGKILL);
}

// A file a command may create, in a directory of its own; both go at the end.
struct MarkFile {
  std::string dir, path;
  MarkFile() {
    char tmpl[] = "/tmp/baton-runner-XXXXXX";
    if (::mkdtemp(tmpl)) dir = tmpl;
    path = dir + "/ran";
  }
  ~MarkFile() {
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
};

// The command starts at once (its shell waits in kGoWait's read) but acts
// only at the go, which feeds its stdin; its input follows the go line.
TEST(RunnerProgram, ACommandActsOnlyAfterTheGo) {
  MarkFile m;
  const std::string& mark = m.path;
  Runner r;
  ASSERT_TRUE(r.ready());
  r.send(runner_request(std::string(kGoWait) + "cat > " + mark, "\nvalues\n"));
  auto got = r.until_end(500ms);
  ASSERT_TRUE(find(got, RunnerFrame::process)) << "its shell should start before the go";
  EXPECT_FALSE(find(got, RunnerFrame::exit));
  EXPECT_NE(::access(mark.c_str(), F_OK), 0) << "it acted before the go";
  r.send(kRunnerGo);
  got = r.until_end();
  const RunnerFrame* x = find(got, RunnerFrame::exit);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->exit_code, 0);
  EXPECT_EQ(slurp(mark), "values\n");
}

// The client gone before the go (Baton killed during the journal's sync):
// the runner goes, the waiting shell reads EOF and ends; nothing of it ran.
TEST(RunnerProgram, ACommandWhoseGoNeverCameEndsWithoutActing) {
  MarkFile m;
  const std::string& mark = m.path;
  Runner r;
  ASSERT_TRUE(r.ready());
  r.send(runner_request(std::string(kGoWait) + "touch " + mark, "\n"));
  auto got = r.until_end(500ms);
  const RunnerFrame* p = find(got, RunnerFrame::process);
  ASSERT_TRUE(p);
  const pid_t pid = static_cast<pid_t>(p->pid);
  r.close_stdin();
  EXPECT_TRUE(r.exits_within(2s));
  // Gone, or a zombie (an init may reap orphans late).
  auto ended = [&] {
    if (::kill(pid, 0) != 0) return true;
    const std::string st = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = st.rfind(')');
    return paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'Z';
  };
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ended();
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the shell still waits";
  EXPECT_NE(::access(mark.c_str(), F_OK), 0) << "it acted without a go";
}

}  // namespace
}  // namespace baton
