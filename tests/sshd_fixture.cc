#include "tests/sshd_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <shadow.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

namespace baton::testing {

namespace {

constexpr char kTestUser[] = "batontest";

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool write_all(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f << text;
    if (!f) return false;
  }
  return ::chmod(path.c_str(), mode) == 0;
}

// Runs a shell command; returns its stdout, sets *rc to the exit status.
std::string capture(const std::string& command, int* rc) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string keygen(const std::string& path) {
  int rc = 0;
  std::string out = capture("ssh-keygen -q -t ed25519 -N '' -C baton-test -f " + quote(path) +
                                " </dev/null 2>&1",
                            &rc);
  return rc == 0 ? "" : "ssh-keygen failed for " + path + ": " + out;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Listening on 127.0.0.1:port? Read from /proc rather than by connecting,
// so that sshd's log counts only the connections tests make.
bool port_accepts(int port) {
  std::istringstream in(read_all("/proc/net/tcp"));
  std::string line;
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state;
    f >> sl >> local >> remote >> state;
    if (local == want && state == "0A") return true;  // 0A: LISTEN
  }
  return false;
}

// pid -> parent pid, from /proc.
std::map<pid_t, pid_t> parent_map() {
  std::map<pid_t, pid_t> m;
  DIR* d = ::opendir("/proc");
  if (!d) return m;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    std::string stat = read_all(std::string("/proc/") + e->d_name + "/stat");
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(close_paren + 1));
    char state;
    long ppid = 0;
    rest >> state >> ppid;
    m[static_cast<pid_t>(pid)] = static_cast<pid_t>(ppid);
  }
  ::closedir(d);
  return m;
}

std::vector<pid_t> descendants(pid_t root) {
  auto parents = parent_map();
  std::vector<pid_t> out{root};
  for (std::size_t i = 0; i < out.size(); ++i)
    for (const auto& [pid, ppid] : parents)
      if (ppid == out[i]) out.push_back(pid);
  return out;
}

}  // namespace

SshdFixture::SshdFixture(const std::string& max_startups) {
  error_ = setup(max_startups);
  if (error_.empty()) error_ = start();
}

SshdFixture::~SshdFixture() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string SshdFixture::ensure_user() {
  if (::geteuid() != 0) {
    const passwd* pw = ::getpwuid(::getuid());
    if (!pw) return "cannot find the current user";
    user_ = pw->pw_name;
    return {};
  }
  user_ = kTestUser;
  int rc = 0;
  if (!::getpwnam(kTestUser)) {
    // "*" rather than useradd's default "!": with UsePAM no, sshd refuses
    // locked accounts even for key logins. Tests in parallel may race here.
    std::string out = capture(std::string("useradd -m -s /bin/sh -p '*' ") + kTestUser + " 2>&1",
                              &rc);
    if (rc != 0 && !::getpwnam(kTestUser)) return "useradd " + std::string(kTestUser) + ": " + out;
  }
  const passwd* pw = ::getpwnam(kTestUser);
  if (!pw) return "user " + std::string(kTestUser) + " missing";
  std::string home = pw->pw_dir ? pw->pw_dir : "";
  std::string shell = pw->pw_shell ? pw->pw_shell : "";
  const spwd* sp = ::getspnam(kTestUser);
  bool locked = sp && sp->sp_pwdp && sp->sp_pwdp[0] == '!';
  if (locked || shell != "/bin/sh") {
    std::string out = capture(std::string("usermod -s /bin/sh -p '*' ") + kTestUser + " 2>&1", &rc);
    if (rc != 0) return "usermod " + std::string(kTestUser) + ": " + out;
  }
  // sshd complains on stderr of every session if the home dir is missing.
  struct stat st{};
  if (!home.empty() && ::stat(home.c_str(), &st) != 0) {
    std::filesystem::create_directories(home);
    if (::chown(home.c_str(), pw->pw_uid, pw->pw_gid) != 0) return "chown " + home;
  }
  return {};
}

std::string SshdFixture::setup(const std::string& max_startups) {
  if (std::string e = ensure_user(); !e.empty()) return e;

  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/baton-sshd-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) return "mkdtemp failed";
  dir_ = buf.data();
  // The login user must read authorized_keys through this dir.
  if (::chmod(dir_.c_str(), 0755) != 0) return "chmod " + dir_;
  scratch_ = dir_ + "/scratch";
  if (::mkdir(scratch_.c_str(), 0755) != 0 || ::chmod(scratch_.c_str(), 01777) != 0)
    return "mkdir " + scratch_;

  const std::string host_key = dir_ + "/ssh_host_ed25519_key";
  host_key_pub_ = host_key + ".pub";
  identity_ = dir_ + "/id_ed25519";
  known_hosts_ = dir_ + "/known_hosts";
  config_ = dir_ + "/sshd_config";
  log_ = dir_ + "/sshd.log";
  if (std::string e = keygen(host_key); !e.empty()) return e;
  if (std::string e = keygen(identity_); !e.empty()) return e;
  if (!write_all(dir_ + "/authorized_keys", read_all(identity_ + ".pub"), 0644))
    return "cannot write authorized_keys";

  int rc = 0;
  std::string fp = capture("ssh-keygen -l -E sha256 -f " + quote(host_key_pub_), &rc);
  // "256 SHA256:xxxx comment (ED25519)"
  std::istringstream fps(fp);
  std::string bits;
  fps >> bits >> fingerprint_;
  if (rc != 0 || fingerprint_.rfind("SHA256:", 0) != 0) return "ssh-keygen -l failed: " + fp;

  port_ = free_port();
  if (port_ <= 0) return "no free port";
  if (!write_all(known_hosts_, known_hosts_line() + "\n", 0644)) return "cannot write known_hosts";

  std::string cfg;
  cfg += "ListenAddress " + address_ + "\n";
  cfg += "Port " + std::to_string(port_) + "\n";
  cfg += "HostKey " + host_key + "\n";
  cfg += "AuthorizedKeysFile " + dir_ + "/authorized_keys\n";
  cfg += "PidFile " + dir_ + "/sshd.pid\n";
  cfg += "StrictModes no\n";
  cfg += "UsePAM no\n";
  cfg += "PasswordAuthentication no\n";
  cfg += "KbdInteractiveAuthentication no\n";
  cfg += "PubkeyAuthentication yes\n";
  cfg += "PermitRootLogin no\n";
  cfg += "AllowUsers " + user_ + "\n";
  cfg += "UseDNS no\n";
  cfg += "PrintMotd no\n";
  cfg += "MaxStartups " + max_startups + "\n";
  cfg += "MaxSessions 100\n";
  cfg += "LogLevel VERBOSE\n";
  if (!write_all(config_, cfg, 0644)) return "cannot write sshd_config";

  // sshd (as root) checks its privilege separation dir exists.
  if (::geteuid() == 0) ::mkdir("/run/sshd", 0755);
  return {};
}

std::string SshdFixture::known_hosts_line() const {
  std::string pub = read_all(host_key_pub_);
  // "ssh-ed25519 AAAA... comment": drop the comment.
  std::istringstream in(pub);
  std::string type, key;
  in >> type >> key;
  return host_pattern() + " " + type + " " + key;
}

std::string SshdFixture::host_pattern() const {
  return "[" + address_ + "]:" + std::to_string(port_);
}

std::string SshdFixture::make_key(const std::string& name) const {
  std::string path = dir_ + "/" + name;
  return keygen(path).empty() ? path : "";
}

std::string SshdFixture::log() const { return read_all(log_); }

namespace {
int count_lines_with(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

int SshdFixture::connections_accepted() const { return count_lines_with(log(), "Connection from "); }
int SshdFixture::connections_dropped() const { return count_lines_with(log(), "past MaxStartups"); }

std::string SshdFixture::start() {
  if (pid_ > 0) return {};
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    // Do not outlive the test process.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int logfd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int nullfd = ::open("/dev/null", O_RDONLY);
    if (logfd >= 0) {
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
    }
    if (nullfd >= 0) ::dup2(nullfd, 0);
    // sshd re-execs itself and wants an absolute argv[0].
    ::execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", config_.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return "sshd exited at start-up; log:\n" + log();
    }
    if (port_accepts(port_)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop();
  return "sshd did not accept connections on port " + std::to_string(port_) + "; log:\n" + log();
}

void SshdFixture::stop() {
  if (pid_ <= 0) return;
  // Session processes are not in sshd's process group (sshd calls setsid
  // per connection), so collect the whole tree first.
  for (pid_t p : descendants(pid_)) ::kill(p, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

}  // namespace baton::testing
