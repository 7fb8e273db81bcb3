#include "runbooks/names.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace baton {

bool valid_var_name(std::string_view name) {
  if (name.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

namespace {

struct Reserved {
  const char* name;  // a prefix when it ends in '_'
  const char* reader;
};

// Whatever a runbook exports reaches every command and everything those
// start, local or remote: these names would change which program runs,
// which code a shell or ld.so loads, or how the shell parses.
const Reserved kReserved[] = {
    // POSIX sh, dash and bash (also start-up files of child shells).
    {"PATH", "the shell"}, {"IFS", "the shell"}, {"ENV", "the shell"}, {"BASH_", "bash"},
    {"SHELLOPTS", "bash"}, {"BASHOPTS", "bash"}, {"CDPATH", "the shell"}, {"HOME", "the shell"},
    {"SHELL", "the shell"}, {"PWD", "the shell"}, {"OLDPWD", "the shell"}, {"PS1", "the shell"},
    {"PS2", "the shell"}, {"PS3", "the shell"}, {"PS4", "the shell"},
    {"PROMPT_COMMAND", "bash"}, {"GLOBIGNORE", "bash"}, {"EXECIGNORE", "bash"},
    {"POSIXLY_CORRECT", "the shell"}, {"OPTIND", "the shell"}, {"OPTARG", "the shell"},
    {"PPID", "the shell"}, {"LINENO", "the shell"}, {"FPATH", "the shell"}, {"ZDOTDIR", "zsh"},
    // The dynamic loader, and what glibc ignores for setuid programs.
    {"LD_", "the dynamic loader"}, {"GLIBC_TUNABLES", "libc"}, {"MALLOC_", "libc"},
    {"GCONV_PATH", "libc"}, {"GETCONF_DIR", "libc"}, {"HOSTALIASES", "libc"},
    {"LOCALDOMAIN", "libc"}, {"LOCPATH", "libc"}, {"NIS_PATH", "libc"}, {"NLSPATH", "libc"},
    {"RESOLV_HOST_CONF", "libc"}, {"RES_OPTIONS", "libc"}, {"TMPDIR", "libc"}, {"TZDIR", "libc"},
    // Baton's own: BATON_DRILL, BATON_HOST, BATON_STATE_DIR, ...
    {"BATON_", "Baton"},
};

}  // namespace

std::string reserved_var_name(std::string_view name) {
  for (const Reserved& r : kReserved) {
    std::string_view n = r.name;
    bool prefix = n.back() == '_';
    if (prefix ? name.substr(0, n.size()) == n : name == n) return r.reader;
  }
  return "";
}

const std::vector<std::string>& reserved_var_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Reserved& r : kReserved) v.push_back(std::string(r.name) + (std::string_view(r.name).back() == '_' ? "*" : ""));
    return v;
  }();
  return names;
}

bool is_secret_name(const std::string& var_name) {
  std::string n;
  for (char c : var_name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"pass", "secret", "token", "credential", "private", "apikey", "api_key"})
    if (n.find(w) != std::string::npos) return true;
  return false;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(word, c);
    size_t limit = c.size() <= 4 ? 1 : 2;
    if (d <= limit && d < best_d) {
      best = c;
      best_d = d;
    }
  }
  return best;
}

}  // namespace baton
