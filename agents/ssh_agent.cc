#include "agents/ssh_agent.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <pwd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "agents/kill_group.h"
#include "agents/shell.h"
#include "agents/ssh_config.h"

namespace baton {

namespace {

using Clock = std::chrono::steady_clock;
// A spare channel older than this is not used: see open_channel_locked().
constexpr auto kSpareFresh = std::chrono::seconds(1);
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// First line the remote wrapper writes to stderr: its pid, which is also its
// process group (OpenSSH runs each session command under setsid()), so a
// timed-out command can be killed with everything it started. Stripped from
// the output the caller sees.
constexpr char kPgidTag[] = "\036baton-pgid:";

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return {};
}

std::string current_user() {
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_name) return pw->pw_name;
  if (const char* u = std::getenv("USER"); u && *u) return u;
  return {};
}

std::string expand_tilde(const std::string& p) {
  if (p == "~") return home_dir();
  if (p.rfind("~/", 0) == 0) return home_dir() + p.substr(1);
  return p;
}

void mkdirs(const std::string& dir) {
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0700);
  }
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// libssh returns strings we must free with ssh_string_free_char.
std::string take_libssh_string(char* s) {
  if (!s) return {};
  std::string r = s;
  ssh_string_free_char(s);
  return r;
}

std::string option_string(ssh_session s, ssh_options_e opt) {
  char* v = nullptr;
  if (ssh_options_get(s, opt, &v) != SSH_OK) return {};
  return take_libssh_string(v);
}

std::string strip_padding(std::string fp) {
  while (!fp.empty() && fp.back() == '=') fp.pop_back();
  return fp;
}

int signal_number(const char* name) {
  static const struct {
    const char* name;
    int number;
  } table[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
               {"ABRT", SIGABRT}, {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"SEGV", SIGSEGV},
               {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
               {"USR2", SIGUSR2}, {"BUS", SIGBUS},   {"TRAP", SIGTRAP}, {"XCPU", SIGXCPU},
               {"XFSZ", SIGXFSZ}, {"SYS", SIGSYS}};
  if (!name) return 0;
  for (const auto& e : table)
    if (std::strcmp(name, e.name) == 0) return e.number;
  return SIGTERM;  // An unnamed signal still means "did not exit normally".
}

// Stderr until the pgid line has been seen and removed. Login shells may
// print before it (a noisy ~/.bashrc), so search rather than expect it first.
struct StderrFilter {
  explicit StderrFilter(CappedOutput* s) : sink(s) {}
  CappedOutput* sink;
  std::string pending;
  bool done = false;
  long pgid = 0;
  long long start_ticks = 0;
  bool tagged = false;    // the wrapper's line was seen
  bool login_sh = false;  // it said the login shell is /bin/sh
  void add(const char* p, std::size_t n) {
    if (done) {
      sink->add(p, n);
      return;
    }
    pending.append(p, n);
    auto tag = pending.find(kPgidTag);
    if (tag != std::string::npos) {
      auto nl = pending.find('\n', tag);
      if (nl == std::string::npos) return;  // wait for the rest of the line
      char* end = nullptr;
      pgid = std::strtol(pending.c_str() + tag + sizeof(kPgidTag) - 1, &end, 10);
      if (end) start_ticks = std::strtoll(end, &end, 10);
      tagged = true;
      login_sh = end && std::strncmp(end, " sh\n", 4) == 0;
      sink->add(pending.data(), tag);
      sink->add(pending.data() + nl + 1, pending.size() - nl - 1);
      pending.clear();
      done = true;
    } else if (pending.size() > 65536) {
      flush();  // no wrapper line after this much: give up looking
    }
  }
  void flush() {
    sink->add(pending.data(), pending.size());
    pending.clear();
    done = true;
  }
};

struct ExitSignal {
  int signal = 0;
  bool exited = false;  // exit-status or exit-signal arrived
  // Data came in, during whichever call: a read of stderr can take in
  // stdout's next packet, which it does not return and a poll() of the
  // socket then does not see (a 50 ms stall; with the CLOSE taken in too,
  // an end with output still buffered). Cleared before each read.
  bool data = false;
};

// Leaves the data in the channel's buffer (0 bytes taken): only notes it.
int on_data(ssh_session, ssh_channel, void*, uint32_t, int, void* userdata) {
  static_cast<ExitSignal*>(userdata)->data = true;
  return 0;
}

void on_exit_status(ssh_session, ssh_channel, int, void* userdata) {
  static_cast<ExitSignal*>(userdata)->exited = true;
}

void on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*,
                    const char*, void* userdata) {
  static_cast<ExitSignal*>(userdata)->signal = signal_number(signal);
  static_cast<ExitSignal*>(userdata)->exited = true;
}

// Run `script` with /bin/sh whatever the login shell is; report the pgid.
// When the login shell already is /bin/sh, skip the second exec (0.6 ms).
// Not known yet (the session's first command): /bin/sh also says whether
// the login shell ($SHELL, which sshd sets) is /bin/sh itself, in the pgid
// line, so no command of its own is spent finding out.
std::string wrap_for_remote(const std::string& script, std::optional<bool> login_shell_is_sh) {
  // The pgid and, where /proc exists, the leader's start time (field 22 of
  // /proc/PID/stat), read with builtins only: no fork per step. The fields
  // follow the last ")" (the command name may hold one); cut there with a
  // shortest-suffix match and a literal prefix: dash's longest-prefix match
  // (##*') ') cost 0.3 ms a step.
  const std::string sh_check =
      login_shell_is_sh ? "" : "if [ \"${SHELL:-}\" -ef /bin/sh ]; then baton_s=' sh'; fi; ";
  std::string inner =
      "baton_t=0 baton_s=; if read -r baton_l </proc/$$/stat 2>/dev/null; then baton_h=${baton_l%')'*}; "
      "set -- ${baton_l#\"$baton_h) \"}; baton_t=${20}; fi; " + sh_check +
      "printf '\\036baton-pgid:%s %s%s\\n' \"$$\" \"$baton_t\" \"$baton_s\" >&2; unset baton_l baton_h baton_t baton_s; set --\n" +
      script;
  return login_shell_is_sh.value_or(false) ? inner : "exec /bin/sh -c " + shell_quote(inner);
}

// sshd runs the command as one argument of `sh -c`: one argv string, which
// the kernel caps at 128 KiB.
constexpr std::size_t kMaxCommandLine = 96 << 10;

// What goes in the command line and what on stdin (read by `eval "$(cat)"`),
// after the go line.
struct RemoteCommand {
  std::string command;
  std::string stdin_text;
};

// Secret values travel on stdin, never in the command line that `ps`
// shows; the others in the command line (reading stdin costs a process),
// unless the command line would be too long: then everything, script too,
// goes on stdin.
// `runner`: the runner starts /bin/sh -c itself and reports the process.
RemoteCommand plan_remote(const Command& cmd, std::optional<bool> login_shell_is_sh, bool runner = false) {
  auto wrap = [&](const std::string& script) {
    return runner ? kGoWait + script : wrap_for_remote(kGoWait + script, login_shell_is_sh);
  };
  std::vector<ShellVar> plain, secret;
  for (ShellVar& v : shell_vars(cmd.vars)) (is_secret_name(v.name) || cmd.secret_names.count(v.name) ? secret : plain).push_back(std::move(v));
  const std::string eval = "eval \"$(cat)\"\n";
  RemoteCommand r;
  r.stdin_text = var_assignments(secret);
  r.command = wrap(var_assignments(plain) + (secret.empty() ? "" : eval) + cmd.script);
  if (r.command.size() <= kMaxCommandLine) return r;
  r.stdin_text = var_assignments(plain) + r.stdin_text + cmd.script;
  r.command = wrap(eval);
  return r;
}

// "stopped by signal N" or "timed out after N ms": why a command was killed.
std::string why_stopped(const CommandResult& r, const Command& cmd) {
  return r.stopped_by ? "stopped by signal " + std::to_string(r.stopped_by)
                      : "timed out after " + std::to_string(cmd.timeout.count()) + " ms";
}

// How long a runner has to answer a kill (its own TERM, wait up to 2 s,
// KILL) before the kill goes over a channel of its own.
constexpr std::chrono::milliseconds kRunnerKillAnswer{3000};

// Refused, reset or closed before the session was up: what a restarting
// sshd, or one dropping connections beyond MaxStartups, looks like.
bool transient_connect_error(const std::string& e) {
  return e.find("Connection refused") != std::string::npos ||
         e.find("Connection reset") != std::string::npos ||
         e.find("Socket error: disconnected") != std::string::npos;
}

// A known_hosts line that marks a key revoked.
struct RevokedLine {
  std::string file;
  int number = 0;
  std::string text;
};

// The first "@revoked" line of `file` whose host pattern matches
// `host_port` ("host" or "[host]:port") and whose key is `key`.
std::optional<RevokedLine> find_revoked(const std::string& file, const std::string& host_port, ssh_key key) {
  std::ifstream in(file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    size_t at = line.find_first_not_of(" \t");
    if (at == std::string::npos || line.compare(at, 8, "@revoked") != 0) continue;
    size_t rest = line.find_first_not_of(" \t", at + 8);
    if (rest == std::string::npos || rest == at + 8) continue;
    ssh_knownhosts_entry* e = nullptr;
    // Matches the host pattern (wildcards, hashes) and parses the key.
    if (ssh_known_hosts_parse_line(host_port.c_str(), line.c_str() + rest, &e) != SSH_OK || !e) continue;
    const bool same = e->publickey && ssh_key_cmp(e->publickey, key, SSH_KEY_CMP_PUBLIC) == 0;
    ssh_knownhosts_entry_free(e);
    if (same) return RevokedLine{file, n, line};
  }
  return std::nullopt;
}

// Reads what a channel has now into out and err; true on a stream error.
bool read_streams(ssh_channel ch, std::vector<char>& buf, CappedOutput& out, StderrFilter& err, bool* progress) {
  bool stream_error = false;
  for (int is_stderr = 0; is_stderr < 2; ++is_stderr) {
    // Bounded per turn so one busy stream cannot starve the other.
    for (int i = 0; i < 8; ++i) {
      const int n = ssh_channel_read_nonblocking(ch, buf.data(), static_cast<uint32_t>(buf.size()), is_stderr);
      if (n == SSH_ERROR) stream_error = true;
      if (n <= 0) break;  // 0: nothing now; SSH_EOF: stream finished
      if (is_stderr) err.add(buf.data(), static_cast<std::size_t>(n));
      else out.add(buf.data(), static_cast<std::size_t>(n));
      *progress = true;
    }
  }
  return stream_error;
}

// What the runner's frames say about the running command: its output
// (into out, err), that it started (*started, *pgid, told to on_process),
// its end.
enum class Took { more, ended, not_started };
Took take_frames(RunnerFrames& frames, const Command& cmd, CappedOutput& out, CappedOutput& err, CommandResult* r,
                 bool* started, long* pgid, bool* survived, std::string* bad) {
  while (std::optional<RunnerFrame> f = frames.next(bad)) {
    switch (f->kind) {
      case RunnerFrame::out: out.add(f->data.data(), f->data.size()); break;
      case RunnerFrame::err: err.add(f->data.data(), f->data.size()); break;
      case RunnerFrame::process:
        *started = true;
        *pgid = f->pid;
        if (cmd.on_process && f->pid > 1) cmd.on_process(f->pid, f->start);
        break;
      case RunnerFrame::failed: return Took::not_started;
      case RunnerFrame::exit:
        r->exit_code = f->exit_code;
        r->signal = f->signal;
        return Took::ended;
      case RunnerFrame::here: break;
      case RunnerFrame::survived: *survived = true; break;
    }
  }
  return Took::more;
}

bool session_dead(ssh_session s) {
  return !ssh_is_connected(s) || (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

}  // namespace

const char* to_string(HostKeyStatus s) {
  switch (s) {
    case HostKeyStatus::not_checked: return "not-checked";
    case HostKeyStatus::ok: return "ok";
    case HostKeyStatus::pinned: return "pinned";
    case HostKeyStatus::accepted_new: return "accepted-new";
    case HostKeyStatus::unknown: return "unknown";
    case HostKeyStatus::changed: return "changed";
    case HostKeyStatus::pin_mismatch: return "pin-mismatch";
    case HostKeyStatus::revoked: return "revoked";
    case HostKeyStatus::error: return "error";
  }
  return "error";
}

SshAgent::SshAgent(SshOptions opts) : opts_(std::move(opts)) {
  eff_address_ = opts_.address;
  eff_port_ = opts_.port > 0 ? opts_.port : 22;
  eff_user_ = opts_.user.empty() ? current_user() : opts_.user;
  known_hosts_path_ = opts_.known_hosts_file.empty() ? home_dir() + "/.ssh/known_hosts"
                                                     : expand_tilde(opts_.known_hosts_file);
}

SshAgent::~SshAgent() {
  std::lock_guard<std::mutex> lock(mu_);
  drop_session_locked();
}

void SshAgent::disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  drop_session_locked();
}

void SshAgent::drop_session_locked() {
  spare_ = nullptr;  // ssh_free frees the session's channels
  runner_ = nullptr;
  if (runner_boot_) boot_failed_ = true;  // the next start waits for it
  runner_boot_ = nullptr;
  if (!session_) return;
  ssh_disconnect(session_);
  ssh_free(session_);
  session_ = nullptr;
}

std::string SshAgent::describe() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return eff_user_ + "@" + eff_address_ + ":" + std::to_string(eff_port_);
}

std::string SshAgent::where() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  const std::string& label = opts_.host_label.empty() ? opts_.address : opts_.host_label;
  return label + " (" + eff_address_ + ":" + std::to_string(eff_port_) + ")";
}

std::string SshAgent::user_at() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  const std::string& label = opts_.host_label.empty() ? opts_.address : opts_.host_label;
  return eff_user_ + "@" + label + " (" + eff_address_ + ":" + std::to_string(eff_port_) + ")";
}

HostKeyStatus SshAgent::host_key_state() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return key_state_;
}

std::string SshAgent::host_key_fingerprint() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return fingerprint_;
}

void SshAgent::set_key_state(HostKeyStatus st, const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(info_mu_);
  key_state_ = st;
  fingerprint_ = fingerprint;
}

std::string SshAgent::probe() {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ && !session_dead(session_)) return {};
  drop_session_locked();
  return connect_locked();
}

std::string SshAgent::connect_locked() {
  if (opts_.address.empty()) return "no address given for " + where();
  const int max = opts_.connection_attempts > 0
                      ? opts_.connection_attempts
                      : ssh_config_connection_attempts(ssh_config_files(opts_.ssh_config_file), opts_.address)
                            .value_or(kDefaultConnectionAttempts);
  max_attempts_ = max;
  ssh_session s = nullptr;
  auto fail = [&](const std::string& msg) {
    if (s) {
      ssh_disconnect(s);
      ssh_free(s);
    }
    return msg;
  };
  // Refused or reset before the session is up: sshd may be restarting or
  // throttling (MaxStartups), so try again after a short, jittered pause.
  // Host key and authentication failures below are never retried.
  for (int attempt = 1;; ++attempt) {
    attempts_ = attempt;
    if (stop_) return "cannot connect to " + where() + ": stopped";
    s = ssh_new();
    if (!s) return "cannot connect to " + where() + ": out of memory";
    bool retry = false;
    std::string err = connect_once(s, &retry);
    if (err.empty()) break;
    ssh_disconnect(s);
    ssh_free(s);
    s = nullptr;
    if (!retry || attempt >= max || stop_)
      return "cannot connect to " + where() + ": " + err +
             (attempt > 1 ? " (tried " + std::to_string(attempt) + " times)" : "");
    backoff(attempt < 6 ? 50 << (attempt - 1) : 1000);  // 50, 100, 200 ... 1000 ms
  }

  std::string err = check_host_key_locked(s);
  if (!err.empty()) return fail(err);
  err = authenticate_locked(s);
  if (!err.empty()) return fail(err);

  session_ = s;
  // Keepalive without a second thread on the session: the kernel probes an
  // idle connection (after 30 s, every 10 s, 3 tries), so a host that
  // vanishes mid-command shows as a lost connection within about a minute.
  if (int fd = ssh_get_fd(s); fd >= 0) {
    int on = 1, idle = 30, intvl = 10, cnt = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  }
  ++connects_;
  // sshd's first answer after login takes longest (it sets up the user's
  // side): ask now, while the caller is busy elsewhere.
  open_spare_locked();
  return {};
}

void SshAgent::open_spare_locked() {
  if (spare_ || !session_ || session_dead(session_)) return;
  ssh_channel ch = ssh_channel_new(session_);
  if (!ch) return;
  ssh_set_blocking(session_, 0);
  const int rc = ssh_channel_open_session(ch);  // sends the request; SSH_AGAIN until answered
  ssh_set_blocking(session_, 1);
  if (rc == SSH_OK || rc == SSH_AGAIN) {
    spare_ = ch;
    spare_at_ = Clock::now();
  } else {
    ssh_channel_free(ch);
  }
}

ssh_channel SshAgent::open_channel_locked() {
  if (ssh_channel spare = spare_) {
    spare_ = nullptr;
    const bool stale = Clock::now() - spare_at_ > kSpareFresh;
    // Blocking: waits (up to the session timeout) for an answer still due.
    const int rc = ssh_channel_open_session(spare);
    if (rc == SSH_OK && !stale) {
      // Take in what came meanwhile: a server that closed the connection
      // shows now, while retrying is still safe.
      ssh_channel_poll(spare, 0);
      if (!session_dead(session_)) return spare;
      ssh_channel_free(spare);
      return nullptr;
    }
    // An answer from long ago says nothing of the host now: close that
    // channel (freed unclosed, sshd would keep it, holding one of the
    // connection's MaxSessions) and ask afresh, so a host gone quiet fails
    // here, before anything is sent to run.
    if (rc == SSH_OK) ssh_channel_close(spare);
    ssh_channel_free(spare);
    // No answer at all: the host is quiet now.
    if (rc == SSH_AGAIN || session_dead(session_)) return nullptr;
    // Refused (e.g. MaxSessions 1, asked before sshd let the last command's
    // session go): a fresh request may well be granted.
  }
  ssh_channel ch = ssh_channel_new(session_);
  if (!ch) return nullptr;
  if (ssh_channel_open_session(ch) == SSH_OK) {
    ssh_channel_poll(ch, 0);
    if (!session_dead(session_)) return ch;
  }
  ssh_channel_free(ch);
  return nullptr;
}

std::string SshAgent::connect_once(ssh_session s, bool* retry) {
  ssh_options_set(s, SSH_OPTIONS_HOST, opts_.address.c_str());
  // ~/.ssh/config first (HostName, Port, User, IdentityFile), then the
  // runbook's explicit values on top: the runbook wins.
  if (opts_.ssh_config_file == "none") {
    bool process = false;
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process);
  } else {
    std::string file = expand_tilde(opts_.ssh_config_file);
    ssh_options_parse_config(s, file.empty() ? nullptr : file.c_str());
  }
  if (opts_.port > 0) {
    unsigned int port = static_cast<unsigned int>(opts_.port);
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  }
  if (!opts_.user.empty()) ssh_options_set(s, SSH_OPTIONS_USER, opts_.user.c_str());
  if (!opts_.known_hosts_file.empty())
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, expand_tilde(opts_.known_hosts_file).c_str());
  // libssh 0.10 takes the timeout as a long, in seconds.
  long secs = static_cast<long>((opts_.connect_timeout.count() + 999) / 1000);
  if (secs < 1) secs = 1;
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &secs);
  // Without TCP_NODELAY every exec pays Nagle + delayed ACK: 46 ms vs 3.3 ms.
  int nodelay = 1;
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);

  {
    // Effective values (after config) for messages and describe().
    std::lock_guard<std::mutex> lock(info_mu_);
    std::string host = option_string(s, SSH_OPTIONS_HOST);
    if (!host.empty()) eff_address_ = host;
    unsigned int port = 0;
    if (ssh_options_get_port(s, &port) == SSH_OK && port > 0) eff_port_ = static_cast<int>(port);
    std::string user = option_string(s, SSH_OPTIONS_USER);
    if (!user.empty()) eff_user_ = user;
  }

  // Without blocking, so that stop_connecting() is seen within 50 ms; the
  // deadline is the connect timeout, as libssh's blocking connect has.
  const auto deadline = Clock::now() + opts_.connect_timeout;
  ssh_set_blocking(s, 0);
  int rc;
  while ((rc = ssh_connect(s)) == SSH_AGAIN) {
    const auto now = Clock::now();
    if (stop_) {
      ssh_set_blocking(s, 1);
      return "stopped";
    }
    if (now >= deadline) {
      ssh_set_blocking(s, 1);
      return "Timeout connecting to " + eff_address();
    }
    const int flags = ssh_get_poll_flags(s);
    short events = (flags & SSH_WRITE_PENDING ? POLLOUT : 0) | (flags & SSH_READ_PENDING ? POLLIN : 0);
    pollfd pfd{ssh_get_fd(s), events ? events : static_cast<short>(POLLIN), 0};
    const auto left = duration_cast<milliseconds>(deadline - now).count() + 1;
    if (pfd.fd >= 0) ::poll(&pfd, 1, static_cast<int>(std::min<long long>(50, left)));
    else std::this_thread::sleep_for(milliseconds(1));
  }
  ssh_set_blocking(s, 1);
  if (rc != SSH_OK) {
    std::string err = ssh_get_error(s);
    *retry = transient_connect_error(err);
    return err;
  }
  std::string kh = option_string(s, SSH_OPTIONS_KNOWNHOSTS);
  std::lock_guard<std::mutex> lock(info_mu_);
  if (!kh.empty()) known_hosts_path_ = kh;
  return {};
}

void SshAgent::backoff(int ms) {
  // Jitter (0.5 to 1.5 times) keeps many agents throttled together from
  // coming back together.
  std::minstd_rand rng(std::random_device{}());
  const auto until = Clock::now() + milliseconds(ms / 2 + static_cast<int>(rng() % static_cast<unsigned>(ms + 1)));
  while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(milliseconds(5));
}

std::string SshAgent::eff_address() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return eff_address_;
}

std::string SshAgent::check_host_key_locked(ssh_session s) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s, &key) != SSH_OK || !key) {
    set_key_state(HostKeyStatus::error, {});
    return "cannot read the host key of " + where() + ": " + ssh_get_error(s);
  }
  unsigned char* hash = nullptr;
  std::size_t hlen = 0;
  std::string fp;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == SSH_OK) {
    fp = take_libssh_string(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen));
    ssh_clean_pubkey_hash(&hash);
  }
  if (fp.empty()) {
    ssh_key_free(key);
    set_key_state(HostKeyStatus::error, {});
    return "cannot compute the host key fingerprint of " + where();
  }
  // Before anything that could trust it, as OpenSSH does: a revoked key is
  // refused whatever a pin or another line says.
  std::string revoked = revoked_locked(s, key, fp);
  ssh_key_free(key);
  if (!revoked.empty()) return revoked;

  std::string kh;
  {
    std::lock_guard<std::mutex> lock(info_mu_);
    kh = known_hosts_path_;
  }
  int port = 22;
  std::string address;
  {
    std::lock_guard<std::mutex> lock(info_mu_);
    port = eff_port_;
    address = eff_address_;
  }

  // An explicit pin is the operator's own statement of trust: it decides
  // alone, whatever known_hosts says.
  if (!opts_.host_key_pin.empty()) {
    std::string want = strip_padding(opts_.host_key_pin);
    if (want.rfind("SHA256:", 0) != 0) want = "SHA256:" + want;
    if (want == fp) {
      set_key_state(HostKeyStatus::pinned, fp);
      return {};
    }
    set_key_state(HostKeyStatus::pin_mismatch, fp);
    return "host key of " + where() + " does not match the runbook's host_key pin: expected " +
           want + ", the server offers " + fp +
           "; possible man-in-the-middle attack, or the host was reinstalled";
  }

  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      set_key_state(HostKeyStatus::ok, fp);
      return {};
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      if (opts_.accept_new_host_keys) {
        mkdirs(parent_dir(kh));
        if (ssh_session_update_known_hosts(s) != SSH_OK) {
          set_key_state(HostKeyStatus::error, fp);
          return "cannot record the host key of " + where() + " in " + kh + ": " +
                 ssh_get_error(s);
        }
        set_key_state(HostKeyStatus::accepted_new, fp);
        return {};
      }
      set_key_state(HostKeyStatus::unknown, fp);
      return "host key of " + where() + " is unknown: " + fp +
             ". To trust it, check the fingerprint and run: ssh-keyscan -p " +
             std::to_string(port) + " " + address + " >> " + kh +
             ", or pass --accept-new-host-keys";
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      set_key_state(HostKeyStatus::changed, fp);
      return "HOST KEY CHANGED for " + where() + ": the server offers " + fp +
             ", which does not match " + kh +
             "; possible man-in-the-middle attack. If the host was reinstalled, check the new "
             "fingerprint, remove the old entry (ssh-keygen -R " +
             (port == 22 ? address : "'[" + address + "]:" + std::to_string(port) + "'") +
             " -f " + kh + ") and connect again";
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      set_key_state(HostKeyStatus::error, fp);
      return "cannot check the host key of " + where() + " against " + kh + ": " +
             ssh_get_error(s);
  }
}

std::string SshAgent::revoked_locked(ssh_session s, ssh_key key, const std::string& fp) {
  std::string host, user_file;
  int port = 22;
  {
    std::lock_guard<std::mutex> lock(info_mu_);
    host = eff_address_;
    port = eff_port_;
    user_file = known_hosts_path_;
  }
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  // libssh 0.10 reads "@revoked" lines as host patterns that never match.
  const std::string host_port = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::string global = option_string(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS);
  if (global.empty()) global = "/etc/ssh/ssh_known_hosts";
  for (const std::string& file : {user_file, global}) {
    std::optional<RevokedLine> r = find_revoked(file, host_port, key);
    if (!r) continue;
    set_key_state(HostKeyStatus::revoked, fp);
    std::string text = r->text.size() > 120 ? r->text.substr(0, 117) + "..." : r->text;
    return "host key of " + where() + " is REVOKED: the server offers " + fp + ", which " + r->file + ":" +
           std::to_string(r->number) + " marks as revoked (" + text +
           "); refusing to connect. Someone may be impersonating the host, or its key was retired: "
           "get the host's current key from its administrator";
  }
  return {};
}

std::string SshAgent::authenticate_locked(ssh_session s) {
  auto failed = [&](const std::string& why) {
    return "authentication failed for " + user_at() + ": " + why +
           "; check the identity key and the remote authorized_keys";
  };
  if (!opts_.identity.empty()) {
    std::string path = expand_tilde(opts_.identity);
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK ||
        !key)
      return failed("cannot read identity " + path +
                    " (missing, unreadable or passphrase-protected)");
    int rc = ssh_userauth_publickey(s, nullptr, key);
    ssh_key_free(key);
    if (rc == SSH_AUTH_SUCCESS) return {};
    return failed(ssh_get_error(s));
  }
  // libssh often leaves no error text when no key fits: say what was tried.
  std::string tried;
  if (const char* sock = std::getenv("SSH_AUTH_SOCK"); sock && *sock) {
    if (ssh_userauth_agent(s, nullptr) == SSH_AUTH_SUCCESS) return {};
    if (session_dead(s)) return failed(ssh_get_error(s));
    tried = std::string("the ssh-agent at ") + sock + " offered no key the server accepted (ssh-add -l lists them); ";
  }
  // Default keys and IdentityFile from ~/.ssh/config.
  if (ssh_userauth_publickey_auto(s, nullptr, nullptr) == SSH_AUTH_SUCCESS) return {};
  std::string why = ssh_get_error(s);
  return failed(tried + "no default key (" + home_dir() +
                "/.ssh/id_*, or IdentityFile in ~/.ssh/config) was accepted" + (tried.empty() ? "" : " either") +
                (why.empty() ? "" : " (" + why + ")") + "; or set \"identity\" for the host");
}

std::string SshAgent::kill_remote_locked(long pgid, bool* had_ended) {
  if (!session_ || session_dead(session_)) return "the connection is gone";
  if (pgid <= 1) return "its process id is unknown";
  const std::string script = kill_group_script(pgid);
  std::string remote = "exec /bin/sh -c " + shell_quote(script);
  ssh_channel k = ssh_channel_new(session_);
  if (!k) return ssh_get_error(session_);
  std::string err;
  int opened = ssh_channel_open_session(k);
  if (opened != SSH_OK && !session_dead(session_) && free_extra_channels_locked()) {
    // Refused (MaxSessions): the next command's channel or a runner still
    // starting held the slots. They are let go; sshd frees a slot once the
    // process behind it is gone, so ask again for up to a second.
    for (int i = 0; i < 20 && opened != SSH_OK && !session_dead(session_); ++i) {
      ssh_channel_free(k);
      std::this_thread::sleep_for(milliseconds(50));
      k = ssh_channel_new(session_);
      if (!k) return ssh_get_error(session_);
      opened = ssh_channel_open_session(k);
    }
  }
  if (opened != SSH_OK || ssh_channel_request_exec(k, remote.c_str()) != SSH_OK) {
    err = ssh_get_error(session_);
    // A host that went quiet times out (SSH_AGAIN) with no error text: the
    // kill was not delivered all the same.
    if (err.empty()) err = "no answer within " + std::to_string(opts_.connect_timeout.count()) + " ms";
  } else {
    ssh_channel_send_eof(k);
    // Waits (bounded by the session timeout) until the kill script is done.
    const int st = ssh_channel_get_exit_status(k);
    if (st == kKillSurvivors) err = kSurvivorsWhy;
    else if (st == kKillNothing && had_ended) *had_ended = true;
    else if (st != 0 && st != kKillNothing) err = "the kill command did not finish";
  }
  if (ssh_channel_is_open(k)) ssh_channel_close(k);  // a refused one has no remote id to close
  ssh_channel_free(k);
  return err;
}

bool SshAgent::free_extra_channels_locked() {
  const bool freed = spare_ || runner_boot_ || runner_;
  drop_runner_locked();  // idle here (the command is on a channel, or ended): started again when due
  if (runner_boot_) {
    frames_.clear();      // the boot's (no runner_ while it starts)
    boot_failed_ = true;  // the next start waits, as at first
  }
  unwatch_runner_locked(runner_boot_);
  for (ssh_channel* c : {&spare_, &runner_boot_}) {
    if (!*c) continue;
    if (ssh_channel_is_open(*c)) ssh_channel_close(*c);
    ssh_channel_free(*c);
    *c = nullptr;
  }
  return freed;
}

std::string SshAgent::gate(const Command& cmd) const {
  if (std::string why = cmd.before_start ? cmd.before_start() : ""; !why.empty()) return why;
  // Asked to stop while the start was recorded: it does not start now.
  if (const int stop = cmd.stop ? cmd.stop->load() : 0)
    return not_started_by_stop(where(), stop);
  return {};
}

CommandResult SshAgent::run(const Command& cmd) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto start = Clock::now();
  // Queued behind another command of this host while Baton was asked to
  // stop: it never starts.
  if (const int stop = cmd.stop ? cmd.stop->load() : 0) {
    CommandResult r;
    r.error = not_started_by_stop(where(), stop);
    return r;
  }
  if (std::optional<CommandResult> r = run_with_runner_locked(cmd, start)) return *r;
  return run_on_channel_locked(cmd, start);
}

std::optional<CommandResult> SshAgent::run_with_runner_locked(const Command& cmd, Clock::time_point start) {
  // A host that runs one or two commands is not worth the runner's start.
  const bool runner_due = runner_ || commands_++ >= opts_.runner_after;
  // One started in the background: taken once ready; till then, channels.
  if (runner_boot_ && !advance_runner_locked()) return std::nullopt;
  if (!opts_.runner_perl.empty() && !runner_missing_ && runner_due) {
    // Nothing has run yet: a runner or session that went away while idle
    // is replaced (a host gone quiet fails here, before the command is sent).
    if (runner_) {
      // What came meanwhile: a closed connection or a runner gone shows now.
      const int st = pump_runner_locked(0, nullptr);
      if (st == kRunnerLost) drop_session_locked();
      else if (st == kRunnerEnded || ssh_channel_is_eof(runner_) || ssh_channel_is_closed(runner_)) drop_runner_locked();
      else if (Clock::now() - runner_heard_ > kSpareFresh) runner_answers_locked();
    }
    if (!runner_) {
      if (session_ && session_dead(session_)) drop_session_locked();
      if (!session_) {
        if (std::string err = connect_locked(); !err.empty()) {
          CommandResult r;
          r.error = err;
          r.duration = duration_cast<milliseconds>(Clock::now() - start);
          return r;
        }
      }
      start_runner_locked();
    }
    if (runner_) return run_on_runner_locked(cmd, start);
  }
  return std::nullopt;
}

ssh_channel SshAgent::command_channel_locked(std::string* error) {
  // A reused session may have died while idle (server restart, firewall):
  // then reconnect once. Nothing has run yet, so retrying is safe.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = session_ != nullptr;
    if (!session_) {
      if (std::string err = connect_locked(); !err.empty()) {
        *error = err;
        return nullptr;
      }
    }
    if (ssh_channel ch = open_channel_locked()) return ch;
    std::string err = ssh_get_error(session_);
    drop_session_locked();
    if (!reused) {
      *error = "cannot open a channel to " + where() + ": " + err;
      return nullptr;
    }
  }
  *error = "cannot open a channel to " + where();
  return nullptr;
}

std::string SshAgent::exec_refused_why_locked(int rc, bool* dead) {
  *dead = session_dead(session_);
  const std::string why = ssh_get_error(session_);
  if (!*dead && rc == SSH_AGAIN) {
    // No answer within the session timeout: the request may have reached
    // the host, and the command with it.
    *dead = true;
    return "no answer from " + where() + " within " + std::to_string(opts_.connect_timeout.count()) +
           " ms to the request to start the command: it may have started there";
  }
  return (*dead ? "connection lost to " : "cannot start the command on ") + where() + ": " + why;
}

CommandResult SshAgent::run_on_channel_locked(const Command& cmd, Clock::time_point start) {
  CommandResult r;
  auto done = [&]() -> CommandResult {
    r.duration = duration_cast<milliseconds>(Clock::now() - start);
    return r;
  };
  auto lost = [&]() {
    r.exit_code = -1;
    r.error = "connection lost to " + where() + " while running the command";
  };
  ssh_channel ch = command_channel_locked(&r.error);
  if (!ch) return done();

  ExitSignal exit_signal;
  ssh_channel_callbacks_struct callbacks{};
  callbacks.userdata = &exit_signal;
  callbacks.channel_exit_signal_function = on_exit_signal;
  callbacks.channel_exit_status_function = on_exit_status;
  callbacks.channel_data_function = on_data;
  ssh_callbacks_init(&callbacks);
  ssh_set_channel_callbacks(ch, &callbacks);
  // libssh keeps a freed channel until the server's CLOSE arrives and would
  // still call our (stack) callbacks: unhook them before letting go.
  auto release = [&](bool close) {
    ssh_remove_channel_callbacks(ch, &callbacks);
    if (close) ssh_channel_close(ch);
    ssh_channel_free(ch);
  };

  const RemoteCommand remote = plan_remote(cmd, login_shell_is_sh_);
  if (const int rc = ssh_channel_request_exec(ch, remote.command.c_str()); rc != SSH_OK) {
    bool dead = false;
    r.error = exec_refused_why_locked(rc, &dead);
    release(false);
    if (dead) drop_session_locked();
    return done();
  }
  // Started, waiting for its go line: now its start is recorded.
  if (std::string why = gate(cmd); !why.empty()) {
    ssh_channel_send_eof(ch);  // EOF, no go: it ends, nothing ran
    release(true);
    r.error = why;
    r.not_started = true;
    return done();
  }
  const std::string values = "\n" + remote.stdin_text;
  for (size_t sent = 0; sent < values.size();) {
    int n = ssh_channel_write(ch, values.data() + sent, static_cast<uint32_t>(values.size() - sent));
    if (n <= 0) break;  // The read loop below reports a lost connection.
    sent += static_cast<size_t>(n);
  }
  ssh_channel_send_eof(ch);  // then EOF: commands that read stdin see it

  CappedOutput out{&r.out, cmd.output_limit};
  CappedOutput err{&r.err, cmd.output_limit};
  StderrFilter err_filter(&err);
  auto close_streams = [&] {
    err_filter.flush();
    out.finish();
    r.out_dropped = out.dropped;
    err.finish();
  };
  const auto deadline = Clock::now() + cmd.timeout;
  bool connection_lost = false;
  std::vector<char> buf(64 * 1024);
  // After the command exits, a background child may hold its output open
  // (sshd then sends no EOF): drain briefly, then stop, as LocalAgent does.
  Clock::time_point drain_until{};
  Clock::time_point stop_waits_from{};
  bool told_process = false;

  for (;;) {
    bool progress = false;
    exit_signal.data = false;
    const bool stream_error = read_streams(ch, buf, out, err_filter, &progress);
    if (exit_signal.data) progress = true;  // taken in, maybe not read yet: read again
    if (stream_error || session_dead(session_)) {
      connection_lost = true;
      break;
    }
    if (runner_boot_) advance_runner_locked(false);  // it starts while this command runs
    if (!told_process && err_filter.done && err_filter.pgid > 1) {
      told_process = true;
      if (cmd.on_process) cmd.on_process(err_filter.pgid, err_filter.start_ticks);
    }
    // Only once the buffers are drained: data precedes EOF and CLOSE.
    if (!progress && (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))) break;
    const auto now = Clock::now();
    if (exit_signal.exited && drain_until == Clock::time_point{}) drain_until = now + milliseconds(50);
    if (!progress && exit_signal.exited && now >= drain_until) break;
    const int stop = cmd.stop ? cmd.stop->load() : 0;
    if (now >= deadline || stop) {
      // The kill needs the command's process group: a stop that comes
      // before the wrapper's line waits for it (a while, at most).
      if (stop_waits_from == Clock::time_point{}) stop_waits_from = now;
      if ((err_filter.done && err_filter.pgid > 1) || exit_signal.exited ||
          now - stop_waits_from >= opts_.connect_timeout) {
        if (now >= deadline) r.timed_out = true;
        else r.stopped_by = stop;
        break;
      }
    }
    if (progress) continue;
    // Wait for the socket rather than one stream: ssh_channel_read_timeout
    // watches only stdout or stderr and returns 0 both on timeout and at EOF.
    // libssh processes every complete packet it reads, so nothing is left
    // pending in its buffers when the socket is quiet. CappedOutput at 50 ms so
    // libssh also gets regular turns to flush window adjustments.
    auto wait = std::clamp<Clock::duration>(deadline - now, Clock::duration::zero(), std::chrono::milliseconds(50));
    pollfd pfd{ssh_get_fd(session_), POLLIN, 0};
    int wait_ms = static_cast<int>(duration_cast<milliseconds>(wait).count()) + 1;
    if (pfd.fd >= 0) ::poll(&pfd, 1, wait_ms);
  }

  if (connection_lost) {
    close_streams();
    lost();
    release(false);
    drop_session_locked();
    return done();
  }

  if (r.timed_out || r.stopped_by) {
    std::string kill_err = kill_remote_locked(err_filter.pgid);
    close_streams();
    r.exit_code = -1;
    if (!kill_err.empty()) mark_not_stopped(&r, cmd, kill_err);
    release(true);
    if (session_dead(session_)) drop_session_locked();
    return done();
  }

  close_streams();
  if (!login_shell_is_sh_ && err_filter.tagged) login_shell_is_sh_ = err_filter.login_sh;
  int status = ssh_channel_get_exit_status(ch);
  if (status >= 0) {
    r.exit_code = status;
  } else if (exit_signal.signal) {
    r.exit_code = -1;
    r.signal = exit_signal.signal;
  } else {
    // Closed without an exit status: the outcome is unknown.
    lost();
    release(false);
    drop_session_locked();
    return done();
  }
  release(true);
  // Asked for while the caller records this one: the runner, when the next
  // command is due one, and the next command's channel.
  if (runner_boot_) advance_runner_locked(true);
  else if (!runner_ && commands_ >= opts_.runner_after) begin_runner_locked();
  open_spare_locked();
  return done();
}

struct SshAgent::DataWatch {
  ExitSignal news;  // only .data
  ssh_channel_callbacks_struct cb{};
};

void SshAgent::watch_runner_locked(ssh_channel ch) {
  if (!runner_watch_) {
    runner_watch_ = std::make_unique<DataWatch>();
    runner_watch_->cb.userdata = &runner_watch_->news;
    runner_watch_->cb.channel_data_function = on_data;
    ssh_callbacks_init(&runner_watch_->cb);
  }
  ssh_set_channel_callbacks(ch, &runner_watch_->cb);
}

// Before a runner channel is freed: libssh may keep it till the CLOSE.
void SshAgent::unwatch_runner_locked(ssh_channel ch) {
  if (ch && runner_watch_) ssh_remove_channel_callbacks(ch, &runner_watch_->cb);
}

void SshAgent::drop_runner_locked() {
  frames_.clear();
  if (!runner_) return;
  unwatch_runner_locked(runner_);
  ssh_channel_close(runner_);  // EOF: the runner exits
  ssh_channel_free(runner_);
  runner_ = nullptr;
}

int SshAgent::pump_runner_locked(int wait_ms, std::string* err) { return pump_locked(runner_, wait_ms, err); }

int SshAgent::pump_locked(ssh_channel runner, int wait_ms, std::string* err) {
  if (read_buf_.empty()) read_buf_.resize(64 * 1024);
  bool got = false;
  if (runner_watch_) runner_watch_->news.data = false;
  for (int is_stderr = 0; is_stderr < 2; ++is_stderr) {
    for (int i = 0; i < 8; ++i) {  // bounded, so stderr gets its turn
      const int n = ssh_channel_read_nonblocking(runner, read_buf_.data(), static_cast<uint32_t>(read_buf_.size()),
                                                 is_stderr);
      if (n == SSH_ERROR) return kRunnerLost;
      if (n <= 0) break;
      got = true;
      if (!is_stderr) frames_.add(read_buf_.data(), static_cast<std::size_t>(n));
      else if (err && err->size() < 4096) err->append(read_buf_.data(), std::min<std::size_t>(n, 4096 - err->size()));
    }
  }
  if (session_dead(session_)) return kRunnerLost;
  if (got || (runner_watch_ && runner_watch_->news.data)) return 0;  // taken in, not read yet: the caller reads again
  if (ssh_channel_is_eof(runner) || ssh_channel_is_closed(runner)) return kRunnerEnded;
  pollfd pfd{ssh_get_fd(session_), POLLIN, 0};
  if (wait_ms > 0 && pfd.fd >= 0) ::poll(&pfd, 1, wait_ms);
  return 0;
}

void SshAgent::begin_runner_locked() {
  if (runner_ || runner_boot_ || runner_missing_ || boot_failed_ || opts_.runner_perl.empty() || !session_ ||
      session_dead(session_))
    return;
  ssh_channel ch = ssh_channel_new(session_);
  if (!ch) return;
  ssh_set_blocking(session_, 0);
  const int rc = ssh_channel_open_session(ch);  // sends the request; SSH_AGAIN until answered
  ssh_set_blocking(session_, 1);
  if (rc != SSH_OK && rc != SSH_AGAIN) {
    ssh_channel_free(ch);
    boot_failed_ = true;
    return;
  }
  runner_boot_ = ch;
  watch_runner_locked(ch);
  boot_stage_ = 0;
  boot_at_ = Clock::now();
  frames_.clear();
}

bool SshAgent::advance_runner_locked(bool idle) {
  auto give_up = [&](bool missing) {
    // Never waited for: the next start is the ordinary one, which waits.
    // A channel never opened has no remote id: closing it would send a
    // CLOSE for the host's channel 0, which may be the running command's.
    unwatch_runner_locked(runner_boot_);
    if (ssh_channel_is_open(runner_boot_)) ssh_channel_close(runner_boot_);
    ssh_channel_free(runner_boot_);
    runner_boot_ = nullptr;
    frames_.clear();
    boot_failed_ = true;
    runner_missing_ = runner_missing_ || missing;
    return false;
  };
  if (session_dead(session_)) {
    if (idle) drop_session_locked();  // mid-command, the command's loop tells
    return false;
  }
  ssh_set_blocking(session_, 0);
  int rc = SSH_OK;
  if (boot_stage_ == 0 && (rc = ssh_channel_open_session(runner_boot_)) == SSH_OK) {
    boot_stage_ = 1;  // open: ask for the runner (the answer comes later)
    rc = ssh_channel_request_exec(runner_boot_, runner_command(opts_.runner_perl).c_str());
  } else if (boot_stage_ == 1) {
    rc = ssh_channel_request_exec(runner_boot_, "");  // the answer, if in (the request was sent)
  }
  if (boot_stage_ == 1 && rc == SSH_OK) boot_stage_ = 2;
  ssh_set_blocking(session_, 1);
  if (rc == SSH_ERROR) return give_up(false);  // refused (MaxSessions, say): the ordinary start decides
  if (boot_stage_ == 2) {
    const int st = pump_locked(runner_boot_, 0, nullptr);
    if (st == kRunnerLost) {
      if (idle) drop_session_locked();
      return false;
    }
    if (frames_.ready()) {
      runner_ = runner_boot_;
      runner_boot_ = nullptr;
      runner_heard_ = Clock::now();
      return true;
    }
    if (st == kRunnerEnded) return give_up(true);  // no perl there
  }
  if (Clock::now() - boot_at_ >= opts_.connect_timeout) {
    // Not ready in a connect timeout, in the background: a waiting start
    // would stall a step as long, so channels from now on.
    return give_up(true);
  }
  return false;
}

void SshAgent::start_runner_locked() {
  ssh_channel ch = open_channel_locked();
  if (!ch) return;  // a channel of its own will say why
  if (ssh_channel_request_exec(ch, runner_command(opts_.runner_perl).c_str()) != SSH_OK) {
    ssh_channel_free(ch);
    return;
  }
  runner_ = ch;
  watch_runner_locked(ch);
  frames_.clear();
  const auto until = Clock::now() + opts_.connect_timeout;
  for (;;) {
    if (frames_.ready()) {
      runner_heard_ = Clock::now();
      return;
    }
    const auto left = duration_cast<milliseconds>(until - Clock::now()).count();
    if (left <= 0) break;
    const int st = pump_runner_locked(static_cast<int>(std::min<long long>(50, left)), nullptr);
    if (st == kRunnerLost) {
      drop_session_locked();
      return;
    }
    if (st == kRunnerEnded) {
      // No perl there (or it failed): every command takes a channel of its
      // own, as without a runner.
      drop_runner_locked();
      runner_missing_ = true;
      return;
    }
  }
  // Not ready in time (a slow or quiet host): channels this time; twice, for good.
  drop_runner_locked();
  runner_missing_ = ++runner_late_ >= 2;
}

bool SshAgent::runner_answers_locked() {
  if (ssh_channel_write(runner_, kRunnerPing, 2) != 2) {
    drop_session_locked();
    return false;
  }
  const auto until = Clock::now() + opts_.connect_timeout;
  for (;;) {
    std::string bad;
    while (auto f = frames_.next(&bad)) {
      if (f->kind == RunnerFrame::here) {
        runner_heard_ = Clock::now();
        return true;
      }
    }
    const auto left = duration_cast<milliseconds>(until - Clock::now()).count();
    if (left <= 0) {  // the host is quiet
      drop_session_locked();
      return false;
    }
    const int st = bad.empty() ? pump_runner_locked(static_cast<int>(std::min<long long>(50, left)), nullptr) : kRunnerEnded;
    if (st == kRunnerLost) {
      drop_session_locked();
      return false;
    }
    if (st == kRunnerEnded) {
      drop_runner_locked();
      return false;
    }
  }
}

bool SshAgent::send_to_runner_locked(const std::string& request) {
  // The runner starts the command only once all of the request is in.
  for (size_t sent = 0; sent < request.size();) {
    const int n = ssh_channel_write(runner_, request.data() + sent, static_cast<uint32_t>(request.size() - sent));
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

void SshAgent::mark_not_stopped(CommandResult* r, const Command& cmd, const std::string& cause) const {
  r->kill_failed = true;
  r->error = why_stopped(*r, cmd) + " and could not stop the command on " + where() + " (" + cause +
             "); it may still be running there";
}

std::string SshAgent::runner_ended_why(std::string runner_err, bool started, const std::string& kill_err) const {
  while (!runner_err.empty() && runner_err.back() == '\n') runner_err.pop_back();
  return "the runner on " + where() + " ended while running the command" +
         (runner_err.empty() ? "" : " (" + runner_err + ")") +
         (!started ? "; it may have started there"
          : kill_err.empty() ? "; the command was stopped, its outcome is unknown"
                             : "; could not stop the command (" + kill_err + "): it may still be running there");
}

std::optional<CommandResult> SshAgent::run_on_runner_locked(const Command& cmd, Clock::time_point start) {
  CommandResult r;
  CappedOutput out{&r.out, cmd.output_limit};
  CappedOutput err{&r.err, cmd.output_limit};
  auto done = [&]() -> CommandResult {
    out.finish();
    r.out_dropped = out.dropped;
    err.finish();
    r.duration = duration_cast<milliseconds>(Clock::now() - start);
    return r;
  };
  const RemoteCommand remote = plan_remote(cmd, true, /*runner=*/true);
  if (!send_to_runner_locked(runner_request(remote.command, "\n" + remote.stdin_text))) {
    r.error = "connection lost to " + where() + " before the command started: " + ssh_get_error(session_);
    drop_session_locked();
    return done();
  }
  // While the runner starts its shell: the start goes on record.
  if (std::string why = gate(cmd); !why.empty()) {
    drop_runner_locked();  // the runner ends; its shell reads EOF, no go: nothing ran
    r.error = why;
    r.not_started = true;
    return done();
  }
  if (!send_to_runner_locked(kRunnerGo)) {
    r.error = "connection lost to " + where() + " before the command started: " + ssh_get_error(session_);
    drop_session_locked();
    return done();
  }
  const auto sent_at = Clock::now();
  const auto deadline = sent_at + cmd.timeout;
  const auto answer_within = opts_.connect_timeout;
  bool started = false, survived = false;
  long pgid = 0;
  Clock::time_point kill_sent{};
  // The runner gone or silent with the command started: stop the group over
  // a channel of its own, as without a runner; "" when that worked.
  auto kill_over_channel = [&](bool* had_ended = nullptr) -> std::string {
    if (pgid <= 1) return "its process id is unknown";
    return kill_remote_locked(pgid, had_ended);
  };
  std::string runner_err;
  for (;;) {
    std::string bad;
    const Took took = take_frames(frames_, cmd, out, err, &r, &started, &pgid, &survived, &bad);
    if (took == Took::not_started) {  // nothing ran
      drop_runner_locked();
      runner_missing_ = true;
      return std::nullopt;
    }
    const bool ended = took == Took::ended;
    const auto now = Clock::now();
    if (ended) {
      runner_heard_ = now;
      if (r.timed_out || r.stopped_by) {
        r.exit_code = -1;
        r.signal = 0;
        // Members the runner could not stop (another user's): through sudo.
        if (const std::string kill_err = survived ? kill_over_channel() : ""; !kill_err.empty())
          mark_not_stopped(&r, cmd, kill_err);
      }
      return done();
    }
    if (!bad.empty()) {
      r.exit_code = -1;
      r.error = "the runner on " + where() + " sent " + bad + "; the command's outcome is unknown";
      ssh_channel_write(runner_, kRunnerKill, 2);  // best effort: stop what it started
      drop_runner_locked();
      return done();
    }
    if (!started && now - sent_at >= answer_within) {
      r.error = "no answer from " + where() + " within " + std::to_string(answer_within.count()) +
                " ms to the request to start the command: it may have started there";
      drop_session_locked();
      return done();
    }
    if (kill_sent == Clock::time_point{}) {
      const int stop = cmd.stop ? cmd.stop->load() : 0;
      if (now >= deadline) r.timed_out = true;
      else if (stop) r.stopped_by = stop;
      if (r.timed_out || r.stopped_by) {
        ssh_channel_write(runner_, kRunnerKill, 2);  // TERM, up to 2 s, KILL
        kill_sent = now;
      }
    } else if (now - kill_sent >= kRunnerKillAnswer) {
      // The runner does not answer (hung, or the host): the kill goes over
      // a channel of its own instead.
      drop_runner_locked();
      bool had_ended = false;
      const std::string kill_err = kill_over_channel(&had_ended);
      r.exit_code = -1;
      const std::string why = why_stopped(r, cmd);
      if (kill_err.empty() && had_ended) {
        // Nothing was left to stop: it ended by itself, how is not known.
        r.error = why + ", but the runner on " + where() + " gave no answer within " +
                  std::to_string(kRunnerKillAnswer.count()) +
                  " ms, and the command had already ended there: its outcome is unknown";
        return done();
      }
      if (kill_err.empty()) return done();
      mark_not_stopped(&r, cmd, "the runner gave no answer within " + std::to_string(kRunnerKillAnswer.count()) +
                                    " ms, then " + kill_err);
      drop_session_locked();
      return done();
    }
    auto wait = milliseconds(50);
    if (kill_sent == Clock::time_point{}) wait = std::min(wait, duration_cast<milliseconds>(deadline - now) + milliseconds(1));
    const int st = pump_runner_locked(static_cast<int>(std::max<long long>(wait.count(), 0)), &runner_err);
    if (st == kRunnerLost) {
      r.exit_code = -1;
      r.error = "connection lost to " + where() + " while running the command";
      drop_session_locked();
      return done();
    }
    if (st == kRunnerEnded) {
      // Nobody watches the command now: stop it, so nothing runs beside a
      // retry or an undo.
      r.exit_code = -1;
      drop_runner_locked();
      const std::string kill_err = started ? kill_over_channel() : "";
      r.kill_failed = !kill_err.empty();
      r.error = runner_ended_why(runner_err, started, kill_err);
      if (session_ && session_dead(session_)) drop_session_locked();
      return done();
    }
  }
}

}  // namespace baton
