#include "orchestrator/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace baton {

std::string state_root(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* d = std::getenv("BATON_STATE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/baton";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/state/baton";
}

namespace {

std::string mkdirs(const std::string& path, mode_t mode) {
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return "cannot create " + cur + ": " + std::strerror(errno);
    cur += '/';
  }
  return {};
}

std::string fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return "cannot open " + dir + ": " + std::strerror(errno);
  ::fsync(fd);
  ::close(fd);
  return {};
}

}  // namespace

std::string read_file(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  if (ok) *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot write " + tmp + ": " + std::strerror(errno);
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      return err;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return "cannot fsync " + tmp + ": " + std::strerror(errno);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return "cannot rename " + tmp + ": " + std::strerror(errno);
  size_t slash = path.rfind('/');
  return fsync_dir(slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash));
}

std::string StateDir::open(const std::string& root, const std::string& name, StateDir* out) {
  std::string err = mkdirs(root, 0700);
  if (!err.empty()) return err;
  out->path_ = root + "/" + name;
  if (::mkdir(out->path_.c_str(), 0700) != 0 && errno != EEXIST)
    return "cannot create state directory " + out->path_ + ": " + std::strerror(errno);
  ::chmod(out->path_.c_str(), 0700);  // Journals may hold captured values.
  return {};
}

bool StateDir::has_roles() const { return ::access((path_ + "/roles").c_str(), F_OK) == 0; }

Roles StateDir::load_roles(const Roles& initial) const {
  bool ok = false;
  std::string text = read_file(path_ + "/roles", &ok);
  if (!ok) return initial;
  Roles r = initial;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "source") r.source = v;
    else if (k == "target") r.target = v;
    else if (k == "stale") r.stale = v;
  }
  return r;
}

std::string StateDir::save_roles(const Roles& r) const {
  return write_file_atomic(path_ + "/roles",
                           "source=" + r.source + "\ntarget=" + r.target + "\nstale=" + r.stale + "\n");
}

}  // namespace baton

#include <pwd.h>
#include <sys/file.h>

#include <chrono>
#include <ctime>

#include "orchestrator/json.h"

namespace baton {

namespace {
std::string iso(long long ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

std::string LockHolder::describe() const {
  if (!pid) return "(holder unknown)";
  return "pid " + std::to_string(pid) + " on " + machine + ", user " + user + ", " + operation + " started " +
         iso(started_ms) + (run.empty() ? "" : " (run " + run + ")");
}

std::string lock_holder_record(const std::string& operation, const std::string& run_id) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const passwd* pw = ::getpwuid(::getuid());
  JsonValue j = JsonValue::object();
  j["pid"] = static_cast<long>(::getpid());
  j["machine"] = std::string(host);
  j["user"] = pw ? std::string(pw->pw_name) : std::to_string(::getuid());
  j["operation"] = operation;
  j["run"] = run_id;
  j["started_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  return dump_json(j);
}

namespace {
LockHolder parse_holder(const std::string& text) {
  LockHolder h;
  Json j;
  if (!parse_json(text, &j)) return h;
  h.pid = static_cast<long>(j.num("pid"));
  h.machine = j.str("machine");
  h.user = j.str("user");
  h.operation = j.str("operation");
  h.run = j.str("run");
  h.started_ms = j.num("started_ms");
  return h;
}
}  // namespace

LockHolder read_lock_holder(const std::string& state_path) {
  LockHolder h;
  int fd = ::open((state_path + "/lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return h;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {  // Nobody holds it.
    ::close(fd);
    return h;
  }
  ::close(fd);
  h = parse_holder(read_file(state_path + "/lock"));
  h.held = true;
  return h;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // Closing releases the flock.
}

std::string RunLock::acquire(const StateDir& dir, const std::string& holder_info, bool* held) {
  if (held) *held = false;
  const std::string path = dir.path() + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    LockHolder holder = parse_holder(read_file(path));
    ::close(fd);
    if (held) *held = true;
    return "another run holds the lock on " + path + ": " + holder.describe();
  }
  if (::ftruncate(fd, 0) == 0) {
    std::string line = holder_info + "\n";
    if (::pwrite(fd, line.data(), line.size(), 0) < 0) { /* Info only. */ }
  }
  fd_ = fd;
  return {};
}

}  // namespace baton
