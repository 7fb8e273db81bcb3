#include "runbooks/secret_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace baton {
namespace {

constexpr off_t kMaxSecretFile = 1 << 20;  // a secret, not a data file

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "") + path.substr(1);
  }
  if (!path.empty() && path[0] == '/') return path;
  return (base_dir.empty() ? "." : base_dir) + "/" + path;
}

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

std::optional<std::string> value_from_env(const std::string& name, std::string* why) {
  const char* v = std::getenv(name.c_str());
  if (v) return std::string(v);
  *why = "environment variable " + name + " is not set; export it before running baton";
  return std::nullopt;
}

std::optional<std::string> value_from_file(const std::string& path, const std::string& base_dir,
                                           std::string* why) {
  const std::string p = resolve(path, base_dir);
  // O_NOFOLLOW: a link could point anywhere another user chooses.
  int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *why = "cannot read " + p + ": " + (errno == ELOOP ? "it is a symbolic link" : std::strerror(errno));
    return std::nullopt;
  }
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) != 0) *why = "cannot read " + p + ": " + std::strerror(errno);
  else if (!S_ISREG(st.st_mode)) *why = p + " is not a regular file";
  else if (st.st_uid != ::geteuid())
    *why = p + " belongs to uid " + std::to_string(st.st_uid) + ", not to the operator (uid " +
           std::to_string(::geteuid()) + "): a secret file must be the operator's own";
  else if (st.st_mode & 077)
    *why = p + " has mode " + octal(st.st_mode) + ": others may read or change it; chmod 600 " + p;
  else if (st.st_size > kMaxSecretFile)
    *why = p + " is " + std::to_string(st.st_size) + " bytes: too large for a secret (at most 1 MiB)";
  else {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    if (n < 0) *why = "cannot read " + p + ": " + std::strerror(errno);
  }
  ::close(fd);
  if (!why->empty()) return std::nullopt;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return out;
}

}  // namespace baton
