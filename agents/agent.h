// Where commands run. One interface for the orchestrator's own machine
// (LocalAgent) and for remote hosts (SshAgent).
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace baton {

using Vars = std::vector<std::pair<std::string, std::string>>;

struct Command {
  std::string script;  // run by /bin/sh -c
  Vars vars;           // become shell variables, quoted by Baton
  // Variables that are secret although their names do not say so
  // (is_secret_name): over SSH they travel on stdin, as those do.
  std::set<std::string> secret_names;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  std::size_t output_limit = 1 << 20;  // per stream, bytes
  // When it becomes non-zero (a signal number: Baton was asked to stop),
  // the command is stopped as on a timeout. nullptr: never.
  const std::atomic<int>* stop = nullptr;
  // Told once the command's process group is known: its id and the start
  // time of its leader (clock ticks since boot, /proc/PID/stat field 22),
  // so a later run can tell whether it still runs.
  std::function<void(long pgid, long long start_ticks)> on_process{};
  // Called once before the command may act, after it is ready to start on
  // its host (SshAgent: sent, its shell started and waiting for a go; the
  // others: before anything starts), so the journal's sync overlaps that
  // start. Idempotent. Returns why it must not run (then nothing of it
  // acts, the result has not_started and the reason in error), or "".
  // Unset: nothing to wait for.
  std::function<std::string()> before_start{};
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or not run
  int signal = 0;      // signal number that ended it, if any
  std::string out;
  std::string err;
  std::chrono::milliseconds duration{0};
  bool timed_out = false;
  int stopped_by = 0;  // the signal Baton was stopped with, if that stopped it
  std::size_t out_dropped = 0;  // stdout bytes past output_limit, not kept
  // Set when the command could not be run or its outcome is unknown
  // ("connection lost", "authentication failed ..."): never a success.
  std::string error;
  // A kill was tried and failed (members of the group may live on, even
  // with the group's first process gone): anything of the group counts.
  // Then `error` says the command may still be running.
  bool kill_failed = false;
  // before_start said no: nothing of the command ran.
  bool not_started = false;

  bool completed() const { return error.empty() && !timed_out && !stopped_by && signal == 0; }
};

class Agent {
 public:
  virtual ~Agent() = default;
  virtual CommandResult run(const Command& cmd) = 0;
  // Whether run() calls cmd.before_start itself, once the command is ready
  // on the host; if not, AgentPool calls it before run().
  virtual bool stages_start() const { return false; }
  // Connect (if remote) and report; empty string when reachable.
  virtual std::string probe() { return {}; }
  // Tries the last connect made (0: nothing to connect), and the most it
  // could have made.
  virtual int connect_attempts() const { return 0; }
  virtual int max_connect_attempts() const { return 0; }
  // From another thread: a connect in progress gives up within about 50 ms,
  // and every later one fails at once. For shutting down.
  virtual void stop_connecting() {}
  // "local" or "user@host:port".
  virtual std::string describe() const = 0;
};

// Why a command did not start: Baton was asked to stop (signal `sig`)
// before it could. `where`: the host, as messages name it.
inline std::string not_started_by_stop(const std::string& where, int sig) {
  return "not started on " + where + ": Baton was stopped by signal " + std::to_string(sig);
}

// Sets a variable, replacing an earlier value of the same name.
inline void set_var(Vars& vars, const std::string& k, const std::string& v) {
  for (auto& kv : vars)
    if (kv.first == k) {
      kv.second = v;
      return;
    }
  vars.emplace_back(k, v);
}

// Marker appended when output is cut at output_limit.
std::string truncation_marker(std::size_t dropped);

// One output stream with the cap applied: keeps the head, counts the rest,
// and marks the cut visibly at the end.
struct CappedOutput {
  std::string* text;
  std::size_t limit;
  std::size_t dropped = 0;

  void add(const char* data, std::size_t n) {
    std::size_t room = text->size() < limit ? limit - text->size() : 0;
    std::size_t take = n < room ? n : room;
    text->append(data, take);
    dropped += n - take;
  }
  void finish() {
    if (dropped) text->append(truncation_marker(dropped));
  }
};

}  // namespace baton
