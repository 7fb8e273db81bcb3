// The state directory of one runbook: roles, the run lock, journals.
#pragma once
#include <string>

namespace baton {

// Which site serves production now, which follows, and which (if any) is
// stale after a failover and must be reverse-synced before switching back.
struct Roles {
  std::string source;
  std::string target;
  std::string stale;  // a site name, or empty
};

// DIR from --state-dir, else $BATON_STATE_DIR, else $XDG_STATE_HOME/baton,
// else ~/.local/state/baton.
std::string state_root(const std::string& flag);

// Another local user must not steer what Baton writes or reads, so, as
// OpenSSH does for ~/.ssh: ROOT and ROOT/NAME must be real directories (not
// symbolic links) owned by the caller, ROOT not writable by group or others;
// the directories above ROOT must belong to root or the caller and, when
// others may write them, carry the sticky bit (as /tmp does). Files inside
// are opened without following symbolic links.
class StateDir {
 public:
  // Opens ROOT/NAME for a run: creates what is missing (mode 0700) and makes
  // ROOT/NAME 0700. Error: message naming the path and what is wrong.
  static std::string open(const std::string& root, const std::string& runbook_name, StateDir* out);
  // The same checks, for verbs that only read: creates and changes nothing.
  // A ROOT/NAME that does not exist is no error: it reads as empty (no
  // roles, no runs).
  static std::string open_to_read(const std::string& root, const std::string& runbook_name, StateDir* out);

  const std::string& path() const { return path_; }
  // Creates PATH/runs (0700) for journals, with the same checks. Error: message.
  std::string make_runs_dir() const;
  bool has_roles() const;
  // Roles from the state, or the runbook's initial ones.
  Roles load_roles(const Roles& initial) const;
  // Atomic: temporary file, fsync, rename, fsync of the directory.
  std::string save_roles(const Roles& r) const;

 private:
  std::string path_;
};

// Writes `content` to `path` atomically and durably (path.tmp, then rename),
// never through a symbolic link. Error: message.
std::string write_file_atomic(const std::string& path, const std::string& content);
// The file's bytes; *ok false when it cannot be read (missing, a symbolic
// link, unreadable).
std::string read_file(const std::string& path, bool* ok = nullptr);

}  // namespace baton

namespace baton {

// Who holds a runbook's lock: the JSON object its holder wrote in it.
struct LockHolder {
  bool held = false;
  long pid = 0;
  std::string machine, user, operation, run;
  long long started_ms = 0;
  // "pid 12 on vm, user root, switchover started 2026-... (run ID)".
  std::string describe() const;
};
// The lock's holder, if a live process holds it; creates nothing.
LockHolder read_lock_holder(const std::string& state_path);
// What a holder writes into the lock file (JSON, one line).
std::string lock_holder_record(const std::string& operation, const std::string& run_id);

// One run per runbook at a time: flock on STATE/lock, released by the
// kernel if Baton dies. The file names the holder.
class RunLock {
 public:
  RunLock() = default;
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  // Empty on success; otherwise who holds it (pid, host, user, operation,
  // start), with *held set; or why the lock file cannot be opened.
  std::string acquire(const StateDir& dir, const std::string& holder_info, bool* held = nullptr);

 private:
  int fd_ = -1;
};

}  // namespace baton
