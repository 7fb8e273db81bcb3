// Runs commands on a remote host over SSH (libssh 0.10). One session per
// agent, opened on first use and reused; the orchestrator gives each host its
// own agent, so a session is only ever driven by one thread at a time.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agents/agent.h"
#include "agents/ssh_runner.h"

// libssh's ssh_session is a pointer to this; keeps libssh.h out of users.
struct ssh_session_struct;
struct ssh_key_struct;
struct ssh_channel_struct;

namespace baton {

struct SshOptions {
  std::string host_label;  // "main.db", for messages
  std::string address;
  int port = 0;            // 0: ~/.ssh/config or 22
  std::string user;        // empty: ~/.ssh/config or the current user
  std::string identity;    // empty: ssh-agent, then ~/.ssh/config / defaults
  std::string host_key_pin;      // "SHA256:...", optional
  std::string known_hosts_file;  // empty: ~/.ssh/known_hosts
  bool accept_new_host_keys = false;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};  // per attempt
  std::string ssh_config_file;   // empty: ~/.ssh/config; "none": skip
  // Tries when a connect is refused or reset before the session is up (a
  // busy sshd drops connections beyond MaxStartups). 0: ssh_config's
  // ConnectionAttempts for the host, else kDefaultConnectionAttempts.
  int connection_attempts = 0;
  // The program that runs the runner (agents/ssh_runner.h), which starts
  // each command without a channel of its own. Empty: no runner. A host
  // without it runs each command on its own channel.
  std::string runner_perl = "perl";
  // Commands run on channels of their own before the runner starts: it
  // costs about three commands' time to start (perl), so hosts that run
  // few commands never start it.
  int runner_after = 2;
};

constexpr int kDefaultConnectionAttempts = 4;

// What the host key check found, for `baton check`.
enum class HostKeyStatus {
  not_checked,   // no connection attempted yet (or it failed before the check)
  ok,            // in known_hosts
  pinned,        // matches the runbook's host_key pin
  accepted_new,  // was unknown, recorded in known_hosts (--accept-new-host-keys)
  unknown,       // not in known_hosts: refused
  changed,       // differs from known_hosts: refused
  pin_mismatch,  // differs from the pin: refused
  revoked,       // marked @revoked in a known_hosts file: refused
  error,         // known_hosts unreadable or similar: refused
};
const char* to_string(HostKeyStatus s);

class SshAgent : public Agent {
 public:
  explicit SshAgent(SshOptions opts);
  ~SshAgent() override;
  SshAgent(const SshAgent&) = delete;
  SshAgent& operator=(const SshAgent&) = delete;

  CommandResult run(const Command& cmd) override;
  // cmd.before_start is called once the command's shell waits on the host.
  bool stages_start() const override { return true; }
  // Connect, check the host key, authenticate; "" when all is well.
  std::string probe() override;
  // "user@address:port".
  std::string describe() const override;

  HostKeyStatus host_key_state() const;
  std::string host_key_status() const { return to_string(host_key_state()); }
  // "SHA256:..." of the key the server offered, once connected.
  std::string host_key_fingerprint() const;
  // Sessions opened successfully so far (reuse shows as 1 for many runs).
  int connects() const { return connects_.load(); }
  int connect_attempts() const override { return attempts_.load(); }
  int max_connect_attempts() const override { return max_attempts_.load(); }
  void stop_connecting() override { stop_.store(true); }
  // Close the session; the next run() or probe() opens a new one.
  void disconnect();

 private:
  std::string connect_locked();
  // One try: TCP, banner, key exchange; "" or libssh's error. *retry when
  // another try may succeed (refused, reset).
  std::string connect_once(ssh_session_struct* s, bool* retry);
  // Sleeps about `ms`, less if stop_connecting() is called.
  void backoff(int ms);
  std::string check_host_key_locked(ssh_session_struct* s);
  // "" unless a known_hosts file marks `key` @revoked for this host.
  std::string revoked_locked(ssh_session_struct* s, ssh_key_struct* key, const std::string& fp);
  std::string authenticate_locked(ssh_session_struct* s);
  void drop_session_locked();
  // Asks for the next command's channel now, without waiting for the answer:
  // the round trip then overlaps the caller's own work (the journal's sync).
  void open_spare_locked();
  // An open channel: the spare once its answer is in, else a new one;
  // nullptr (ssh_get_error says why) when the session cannot give one.
  ssh_channel_struct* open_channel_locked();
  // Stops group `pgid` over a channel of its own (kill_group.h): "" or
  // why not; *had_ended when nothing of it was left to stop.
  std::string kill_remote_locked(long pgid, bool* had_ended = nullptr);
  // Lets go of the spare channel and the runner, started or starting (a
  // kill needs the slot under MaxSessions); true when there was one. Only
  // while the runner runs nothing.
  bool free_extra_channels_locked();
  // The runner: started on the session's first command (or probe), kept
  // for the session. Leaves runner_ null when the host cannot run it.
  void start_runner_locked();
  // The same without waiting (after a host's runner_after-th command, while
  // the caller records it): its channel is asked for now, its exec sent and
  // its ready line read by advance_runner_locked at the next commands, which
  // take channels meanwhile. Once one such start failed (refused, late, a
  // session lost), starts are the waiting kind again.
  void begin_runner_locked();
  // Moves a background start on without waiting; true once the runner is
  // ready (runner_ set). A runner that ends before ready means no perl.
  // `idle`: no command runs, so a dead session may be dropped here.
  bool advance_runner_locked(bool idle = true);
  void drop_runner_locked();
  // A runner idle for a while is asked whether it is there before a
  // command is sent: false (runner dropped) when it is gone or the host
  // does not answer within the connect timeout.
  bool runner_answers_locked();
  // nullopt: the runner could not start the command (it said so, and
  // nothing ran): it is given up, and the command takes a channel.
  std::optional<CommandResult> run_on_runner_locked(const Command& cmd, std::chrono::steady_clock::time_point start);
  // The runner's turn, when it is due and there (started here if not):
  // nullopt when the command is to take a channel of its own.
  std::optional<CommandResult> run_with_runner_locked(const Command& cmd, std::chrono::steady_clock::time_point start);
  // A command on a channel of its own (no runner).
  CommandResult run_on_channel_locked(const Command& cmd, std::chrono::steady_clock::time_point start);
  // An open channel for a command, reconnecting once when a reused session
  // died while idle; nullptr and *error when there is none.
  ssh_channel_struct* command_channel_locked(std::string* error);
  // Why the exec request failed (rc from ssh_channel_request_exec); *dead
  // when the session is gone or may have started the command unanswered.
  std::string exec_refused_why_locked(int rc, bool* dead);
  // Writes all of a request to the runner; false when the connection failed.
  bool send_to_runner_locked(const std::string& request);
  // The error of a command whose runner exited under it: what the runner
  // said on stderr, and whether the command was stopped (kill_err "").
  std::string runner_ended_why(std::string runner_err, bool started, const std::string& kill_err) const;
  // A timed-out or stopped command whose kill failed (`cause`): says it may
  // still be running there, and sets kill_failed.
  void mark_not_stopped(CommandResult* r, const Command& cmd, const std::string& cause) const;
  // With the command waiting on the host for its go: records its start
  // (cmd.before_start), then says why it must not go on ("": go), also
  // when Baton was asked to stop meanwhile.
  std::string gate(const Command& cmd) const;
  // Reads what the runner sent into frames_ (its stderr into *err, capped),
  // waiting up to `wait_ms` for the socket when nothing is there. 0, or
  // kRunnerLost (connection gone) or kRunnerEnded (the runner exited).
  int pump_runner_locked(int wait_ms, std::string* err);
  int pump_locked(ssh_channel_struct* runner, int wait_ms, std::string* err);
  static constexpr int kRunnerLost = 1, kRunnerEnded = 2;
  void set_key_state(HostKeyStatus st, const std::string& fingerprint);
  // "main.db (10.0.0.5:22)"
  std::string where() const;
  std::string eff_address() const;
  std::string user_at() const;

  const SshOptions opts_;
  std::mutex mu_;  // serialises run()/probe(); guards session_
  ssh_session_struct* session_ = nullptr;
  ssh_channel_struct* spare_ = nullptr;  // asked for, maybe not answered yet; freed with session_
  std::chrono::steady_clock::time_point spare_at_;  // when spare_ was asked for
  ssh_channel_struct* runner_ = nullptr;  // freed with session_
  ssh_channel_struct* runner_boot_ = nullptr;  // starting in the background; freed with session_
  int boot_stage_ = 0;                         // 0 open asked, 1 exec asked, 2 exec granted
  std::chrono::steady_clock::time_point boot_at_;
  bool boot_failed_ = false;                   // then runner starts wait, as at first
  bool runner_missing_ = false;           // it would not start: use channels
  int runner_late_ = 0;                   // starts that were not ready in time
  int commands_ = 0;                      // run() calls so far
  std::chrono::steady_clock::time_point runner_heard_;  // its last frame
  RunnerFrames frames_;
  // Tells pump_locked that libssh took in data for the runner's channel
  // (runner_ or runner_boot_), whichever read took it in.
  struct DataWatch;
  std::unique_ptr<DataWatch> runner_watch_;
  void watch_runner_locked(ssh_channel_struct* ch);
  void unwatch_runner_locked(ssh_channel_struct* ch);
  std::vector<char> read_buf_;
  // Then scripts skip a second /bin/sh; learnt from the first command.
  std::optional<bool> login_shell_is_sh_;
  std::atomic<int> connects_{0};
  std::atomic<int> attempts_{0}, max_attempts_{0};
  std::atomic<bool> stop_{false};

  // Effective values after ~/.ssh/config, for messages and describe().
  mutable std::mutex info_mu_;
  std::string eff_address_;
  int eff_port_ = 0;
  std::string eff_user_;
  std::string known_hosts_path_;
  HostKeyStatus key_state_ = HostKeyStatus::not_checked;
  std::string fingerprint_;
};

}  // namespace baton
