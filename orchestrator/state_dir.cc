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

#include <sys/file.h>

namespace baton {

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // Closing releases the flock.
}

std::string RunLock::acquire(const StateDir& dir, const std::string& holder_info, bool* held) {
  if (held) *held = false;
  const std::string path = dir.path() + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = read_file(path);
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    ::close(fd);
    if (held) *held = true;
    return "another run holds the lock on " + path + ": " + (holder.empty() ? "(holder unknown)" : holder);
  }
  if (::ftruncate(fd, 0) == 0) {
    std::string line = holder_info + "\n";
    if (::pwrite(fd, line.data(), line.size(), 0) < 0) { /* Info only. */ }
  }
  fd_ = fd;
  return {};
}

}  // namespace baton
