#include "agents/local_agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "agents/kill_group.h"
#include "agents/shell.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kKillGrace = std::chrono::seconds(2);
// After the shell exits, a background child may hold our pipes open.
constexpr int kDrainAfterExitMs = 50;

// Reads what is there; false at EOF or error.
bool read_some(int fd, CappedOutput& c) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      c.add(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

// Sends what the socket takes now; false when done (all sent) or failed.
bool send_some(int fd, const std::string& data, std::size_t* sent) {
  while (*sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + *sent, data.size() - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      *sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
  return false;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// One argv string may hold at most 128 KiB: a longer script travels on fd 3.
constexpr std::size_t kArgvScriptMax = 64 << 10;

// How a command's values reach it: exported ones in its environment (not
// in the command line that `ps` shows), the others (too large for any
// environment: see shell_vars) as shell assignments on fd 3, which the
// shell reads first and closes.
struct Delivery {
  std::vector<std::string> env;  // Baton's environment, then KEY=value
  std::string script;            // what sh -c runs
  std::string piped;             // for fd 3; empty: no fd 3
};

Delivery plan_delivery(const Command& cmd) {
  Delivery d;
  const std::vector<ShellVar> vars = shell_vars(cmd.vars);
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool overridden = false;
    for (const ShellVar& v : vars) overridden = overridden || kv.compare(0, v.name.size() + 1, v.name + "=") == 0;
    if (!overridden) d.env.push_back(std::move(kv));
  }
  std::vector<ShellVar> piped;
  for (const ShellVar& v : vars) {
    if (v.exported) d.env.push_back(v.name + "=" + v.value);
    else piped.push_back(v);
  }
  const bool big_script = cmd.script.size() > kArgvScriptMax;
  if (piped.empty() && !big_script) {
    d.script = cmd.script;
    return d;
  }
  d.piped = "exec 3<&-\n" + var_assignments(piped) + (big_script ? cmd.script : "");
  d.script = "eval \"$(cat <&3)\"" + (big_script ? "" : "\n" + cmd.script);
  return d;
}

// The whole group; before the child's setsid() there is only the child.
void kill_group(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

// Live (not zombie) members of group `g`; without /proc, whether kill -0
// finds any (EPERM: there is one, another user's).
bool group_has_live_members(pid_t g) {
  DIR* d = ::opendir("/proc");
  if (!d || ::access("/proc/self/stat", R_OK) != 0) {
    if (d) ::closedir(d);
    return ::kill(-g, 0) == 0 || errno == EPERM;
  }
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char path[300];
    std::snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[1024];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')');  // the name may hold ')'
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (p && std::sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && state != 'Z' && pgrp == g) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

// Members a kill from us did not reach (another user's: run_as through
// sudo) are stopped as over SSH; "" when none is left.
std::string stop_survivors(pid_t g) {
  for (int i = 0; i < 10 && group_has_live_members(g); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!group_has_live_members(g)) return {};
  const int st = std::system(("exec /bin/sh -c " + shell_quote(kill_group_script(g)) + " >/dev/null 2>&1").c_str());
  if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == kKillNothing)) return {};
  return kSurvivorsWhy;
}

}  // namespace

long long process_start_ticks(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // The name may hold spaces and ')'.
  if (!p) return 0;
  // Fields after the name start at 3 (state); the start time is field 22.
  for (int field = 2; field < 22 && p; ++field) p = std::strchr(p + 1, ' ');
  return p ? std::strtoll(p + 1, nullptr, 10) : 0;
}

CommandResult LocalAgent::run(const Command& cmd) {
  CommandResult r;
  const auto start = Clock::now();
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return r;
  }
  // Built before fork: the child of a threaded parent must not allocate.
  Delivery d = plan_delivery(cmd);
  // A socket, not a pipe: send() can refuse SIGPIPE if the command exits early.
  int vars_sock[2] = {-1, -1};
  if (!d.piped.empty() && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vars_sock) != 0) {
    r.error = std::string("socketpair: ") + std::strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return r;
  }
  std::vector<char*> envp;
  for (std::string& s : d.env) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string& script = d.script;
  pid_t pid = ::fork();
  if (pid < 0) {
    r.error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], vars_sock[0], vars_sock[1]})
      if (fd >= 0) ::close(fd);
    return r;
  }
  if (pid == 0) {
    // Own session: no controlling terminal, so a command that asks for a
    // password (sudo) fails at once instead of being stopped by the kernel;
    // and its own process group, so a timeout kills all of it.
    ::setsid();
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // dup2 keeps fd 0 open.
    ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (vars_sock[1] >= 0) {
      ::dup2(vars_sock[1], 3);
      ::fcntl(3, F_SETFD, 0);  // Also when it already was fd 3.
    }
    ::signal(SIGPIPE, SIG_DFL);  // Baton ignores these; its commands must not.
    ::signal(SIGHUP, SIG_DFL);
    const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
    ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    ::_exit(127);
  }
  // Its own session (setsid in the child): the group's id is its pid.
  if (cmd.on_process) cmd.on_process(pid, process_start_ticks(pid));
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  set_nonblocking(out_pipe[0]);
  set_nonblocking(err_pipe[0]);
  int vars_fd = vars_sock[0];
  if (vars_sock[1] >= 0) ::close(vars_sock[1]);
  std::size_t vars_sent = 0;
  int pfd = pidfd_open(pid);

  CappedOutput out{&r.out, cmd.output_limit}, err{&r.err, cmd.output_limit};
  bool out_open = true, err_open = true, exited = false, killed = false;
  int status = 0;
  auto deadline = start + cmd.timeout;
  Clock::time_point kill_at{}, drain_until{};

  auto reap = [&]() {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      drain_until = Clock::now() + std::chrono::milliseconds(kDrainAfterExitMs);
    }
  };

  while (!exited || ((out_open || err_open) && Clock::now() < drain_until)) {
    pollfd fds[4];
    int n = 0, out_i = -1, err_i = -1, vars_i = -1;
    if (out_open) { out_i = n; fds[n++] = {out_pipe[0], POLLIN, 0}; }
    if (err_open) { err_i = n; fds[n++] = {err_pipe[0], POLLIN, 0}; }
    if (vars_fd >= 0) { vars_i = n; fds[n++] = {vars_fd, POLLOUT, 0}; }
    if (pfd >= 0 && !exited) fds[n++] = {pfd, POLLIN, 0};
    auto now = Clock::now();
    int wait_ms = 20;  // Fallback polling when pidfd is unavailable.
    if (pfd >= 0) wait_ms = cmd.stop ? 100 : 1000;  // A stop request is seen within 100 ms.
    if (!killed && now < deadline)
      wait_ms = std::min<long long>(wait_ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
    if (exited) wait_ms = std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(drain_until - now).count());
    int rc = ::poll(fds, n, wait_ms);
    if (rc < 0 && errno != EINTR) break;
    if (out_i >= 0 && (fds[out_i].revents & (POLLIN | POLLHUP | POLLERR)))
      out_open = read_some(out_pipe[0], out);
    if (err_i >= 0 && (fds[err_i].revents & (POLLIN | POLLHUP | POLLERR)))
      err_open = read_some(err_pipe[0], err);
    if (vars_i >= 0 && fds[vars_i].revents && !send_some(vars_fd, d.piped, &vars_sent)) {
      ::close(vars_fd);  // All sent (EOF for the shell), or it is gone.
      vars_fd = -1;
    }
    reap();
    now = Clock::now();
    const int stop = cmd.stop ? cmd.stop->load() : 0;
    if (!exited && !killed && (now >= deadline || stop)) {
      if (stop) r.stopped_by = stop;
      else r.timed_out = true;
      killed = true;
      kill_group(pid, SIGTERM);
      kill_at = now + kKillGrace;
    } else if (!exited && killed && now >= kill_at) {
      kill_group(pid, SIGKILL);
      kill_at = now + std::chrono::hours(1);
    }
    if (exited && !out_open && !err_open) break;
  }
  if (!exited) ::waitpid(pid, &status, 0);
  if (killed) ::kill(-pid, SIGKILL);  // Stragglers of the group, if any.
  if (killed) {
    if (const std::string left = stop_survivors(pid); !left.empty()) {
      r.kill_failed = true;
      r.error = std::string(r.stopped_by ? "stopped by signal " + std::to_string(r.stopped_by)
                                         : "timed out after " + std::to_string(cmd.timeout.count()) + " ms") +
                " and could not stop the command (" + left + "); it may still be running";
    }
  }
  if (pfd >= 0) ::close(pfd);
  if (vars_fd >= 0) ::close(vars_fd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  out.finish();
  r.out_dropped = out.dropped;
  err.finish();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return r;
}

}  // namespace baton
