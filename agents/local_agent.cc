#include "agents/local_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

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

namespace {

}  // namespace

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
  // Values go in the environment, not in the command line that `ps` shows.
  // Built before fork: the child of a threaded parent must not allocate.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool overridden = false;
    for (const auto& [k, v] : cmd.vars) overridden = overridden || kv.compare(0, k.size() + 1, k + "=") == 0;
    if (!overridden) env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : cmd.vars) {
    if (!valid_var_name(k)) continue;
    std::string clean;
    for (char c : v)
      if (c != '\0') clean += c;  // As the shell would: no NUL in a variable.
    env_strings.push_back(k + "=" + clean);
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string& script = cmd.script;
  pid_t pid = ::fork();
  if (pid < 0) {
    r.error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return r;
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // Own group: a timeout kills all of it.
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // dup2 keeps fd 0 open.
    ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::signal(SIGPIPE, SIG_DFL);  // Baton ignores these; its commands must not.
    ::signal(SIGHUP, SIG_DFL);
    const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
    ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // Also from here: no race with the kill below.
  if (cmd.on_process) cmd.on_process(pid, process_start_ticks(pid));
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  set_nonblocking(out_pipe[0]);
  set_nonblocking(err_pipe[0]);
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
    pollfd fds[3];
    int n = 0, out_i = -1, err_i = -1;
    if (out_open) { out_i = n; fds[n++] = {out_pipe[0], POLLIN, 0}; }
    if (err_open) { err_i = n; fds[n++] = {err_pipe[0], POLLIN, 0}; }
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
    reap();
    now = Clock::now();
    const int stop = cmd.stop ? cmd.stop->load() : 0;
    if (!exited && !killed && (now >= deadline || stop)) {
      if (stop) r.stopped_by = stop;
      else r.timed_out = true;
      killed = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + kKillGrace;
    } else if (!exited && killed && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = now + std::chrono::hours(1);
    }
    if (exited && !out_open && !err_open) break;
  }
  if (!exited) ::waitpid(pid, &status, 0);
  if (killed) ::kill(-pid, SIGKILL);  // Stragglers of the group, if any.
  if (pfd >= 0) ::close(pfd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  out.finish();
  err.finish();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return r;
}

}  // namespace baton
