#include "orchestrator/state_dir.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

namespace baton {

std::string state_root(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* d = std::getenv("BATON_STATE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/baton";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/state/baton";
}

namespace {

std::string user_name(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
  return "uid " + std::to_string(uid);
}

std::string owner_problem(const std::string& path, const struct stat& st) {
  return path + " belongs to " + user_name(st.st_uid) + ", not to " + user_name(::geteuid()) +
         " who runs Baton: another user could change what Baton reads and writes there";
}

// A directory above the state root: root's or ours, and others may write
// it only when the sticky bit keeps them from replacing what is ours.
std::string ancestor_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot check " + path + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) return owner_problem(path, st);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
    return path + " is writable by other users (and not sticky, as /tmp is): they could replace the state directory";
  return {};
}

// A directory Baton keeps state in; `st` from lstat.
std::string own_dir_problem(const std::string& path, const struct stat& st) {
  if (S_ISLNK(st.st_mode))
    return path + " is a symbolic link; Baton keeps its state only in a real directory (give the target's path)";
  if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
  if (st.st_uid != ::geteuid()) return owner_problem(path, st);
  return {};
}

std::vector<std::string> prefixes(const std::string& path) {
  std::vector<std::string> out;
  std::string cur = !path.empty() && path[0] == '/' ? "/" : "";
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty() || part == ".") continue;
    cur += part;
    out.push_back(cur);
    cur += '/';
  }
  return out;
}

// Checks (and when `create`, makes) ROOT and the directories above it.
// *absent: ROOT does not exist (only when !create).
std::string prepare_root(const std::string& root, bool create, bool* absent) {
  *absent = false;
  const std::vector<std::string> parts = prefixes(root);
  if (parts.empty()) return "the state directory path is empty";
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const bool last = i + 1 == parts.size();
    struct stat st {};
    bool made = false;
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno != ENOENT) return "cannot check " + p + ": " + std::strerror(errno);
      if (!create) {
        *absent = true;
        return {};
      }
      if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return "cannot create " + p + ": " + std::strerror(errno);
      made = true;
      if (::lstat(p.c_str(), &st) != 0) return "cannot check " + p + ": " + std::strerror(errno);
    }
    if (last || made) {
      // Ours: a real directory (what we made must still be what we made).
      if (std::string bad = own_dir_problem(p, st); !bad.empty()) return bad;
      if (last && (st.st_mode & (S_IWGRP | S_IWOTH)))
        return p + " is writable by group or others; make it private: chmod go-w " + p;
      continue;
    }
    // Above ROOT and not ours to make: a symbolic link only if root's or
    // ours (/var/run -> /run), then judged by where it leads.
    if (S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != ::geteuid())
      return p + " is a symbolic link of " + user_name(st.st_uid) + ", who could point it elsewhere";
    if (std::string bad = ancestor_problem(p); !bad.empty()) return bad;
  }
  return {};
}

// Opens (creating when `create`) a directory of Baton's own inside a
// checked one, never through a symbolic link. -1 and *err on failure;
// -1 and no error when it is absent and !create.
int open_own_dir(const std::string& path, bool create, std::string* err) {
  if (create && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    *err = "cannot create " + path + ": " + std::strerror(errno);
    return -1;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd < 0) {
    if (errno == ENOENT && !create) return -1;
    if (::lstat(path.c_str(), &st) == 0 && (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)))
      *err = own_dir_problem(path, st);
    else
      *err = "cannot open " + path + ": " + std::strerror(errno);
    return -1;
  }
  if (::fstat(fd, &st) != 0 || !(*err = own_dir_problem(path, st)).empty()) {
    if (err->empty()) *err = "cannot check " + path + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + dir + ": " + std::strerror(errno);
  ::fsync(fd);
  ::close(fd);
  return {};
}

}  // namespace

std::string read_file(const std::string& path, bool* ok) {
  if (ok) *ok = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return text;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (ok) *ok = true;
  return text;
}

std::string write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
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
  bool absent = false;
  if (std::string err = prepare_root(root, true, &absent); !err.empty()) return err;
  out->path_ = root + "/" + name;
  std::string err;
  int fd = open_own_dir(out->path_, true, &err);
  if (fd < 0) return err;
  // Journals may hold captured values. Through the fd: the checked directory itself.
  if (::fchmod(fd, 0700) != 0) err = "cannot make " + out->path_ + " private: " + std::strerror(errno);
  ::close(fd);
  return err;
}

std::string StateDir::open_to_read(const std::string& root, const std::string& name, StateDir* out) {
  out->path_ = root + "/" + name;
  bool absent = false;
  if (std::string err = prepare_root(root, false, &absent); !err.empty() || absent) return err;
  std::string err;
  int fd = open_own_dir(out->path_, false, &err);
  if (fd >= 0) ::close(fd);
  return err;
}

std::string StateDir::make_runs_dir() const {
  std::string err;
  int fd = open_own_dir(path_ + "/runs", true, &err);
  if (fd >= 0) ::close(fd);
  return err;
}

bool StateDir::has_roles() const {
  struct stat st {};
  return ::lstat((path_ + "/roles").c_str(), &st) == 0;
}

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
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot open " + path + ": " + (errno == ELOOP ? "it is a symbolic link" : std::strerror(errno));
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
