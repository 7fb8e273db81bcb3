// The runner: one small Perl program per SSH session that starts each
// command of that session itself, so a step costs a fork and an exec of
// /bin/sh on the host instead of a new SSH channel (sshd forks, sets up a
// session and starts the login shell for every channel: about 6 ms of a
// 10 ms step on a 2-core machine; see bench/ssh-steps.sh).
//
// Each command still gets what a channel gave it: a process group of its
// own (setpgrp; sshd's setsid also made a session, which no step needs:
// there is no terminal), /bin/sh -c, stdin with the request's bytes then
// EOF, separate stdout and stderr, its exit status or signal, and a kill of
// its whole group on request (TERM, up to 2 s, then KILL). Perl with no
// module but Errno (Debian's Essential perl-base has both); a host without perl runs
// each command on its own channel, as before.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

namespace baton {

// The line the runner writes once it is ready for requests.
constexpr char kRunnerReady[] = "baton-runner 1\n";

// What the login shell runs to start the runner with `perl` (a program
// name found in PATH, or a path).
std::string runner_command(const std::string& perl);

// One request: start `command` with /bin/sh -c; at kRunnerGo, feed
// `stdin_text` to its stdin, then EOF (SshAgent's commands wait for the
// first line of it before they act: kGoWait in ssh_agent.cc).
std::string runner_request(const std::string& command, const std::string& stdin_text);
// Lets the command of the last request go on.
constexpr char kRunnerGo[] = "g\n";
// The first line of every command SshAgent starts (on the runner or on a
// channel): it acts only after a newline on its stdin, which SshAgent sends
// once the step's start is on record (Command::before_start), so the
// journal's sync and the shell's start overlap. Without that line (Baton
// gone, the sync failed: EOF instead) it ends, and nothing of it ran.
// `read` takes stdin a byte at a time: what follows stays for the command.
constexpr char kGoWait[] = "IFS= read -r baton_go || exit 125; unset baton_go\n";
// Asks the runner to stop the command running now (its whole group).
constexpr char kRunnerKill[] = "k\n";
// Asks whether the runner is still there: it answers with a `here` frame.
constexpr char kRunnerPing[] = "n\n";

// One frame the runner writes on its stdout.
struct RunnerFrame {
  // survived: after a stop, live members of its group outlived the KILL
  enum Kind { out, err, process, exit, failed, here, survived } kind = out;
  std::string data;        // out, err: the bytes; failed: why
  long pid = 0;            // process: the command's pid = its pgid
  long long start = 0;     // process: its start, ticks since boot (0: unknown)
  int exit_code = -1;      // exit: -1 when ended by a signal
  int signal = 0;          // exit: the signal that ended it
};

// Cuts the runner's stdout into frames.
class RunnerFrames {
 public:
  void add(const char* p, std::size_t n);
  // The next whole frame, if one has arrived. Sets *bad (and returns
  // nullopt) when the bytes are not the runner's frames.
  std::optional<RunnerFrame> next(std::string* bad);
  void clear() { buf_.clear(); at_ = 0; }
  // Skips what comes before the runner's ready line (a login shell's
  // chatter) and the line itself; false while it has not arrived.
  bool ready();

 private:
  std::string buf_;
  std::size_t at_ = 0;  // start of what is not read yet
};

}  // namespace baton
