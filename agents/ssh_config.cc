#include "agents/ssh_config.h"

#include <glob.h>
#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace baton {
namespace {

std::string home() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return {};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Words of a value: split on blanks and commas, quotes removed.
std::vector<std::string> words(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : v) {
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c == ' ' || c == '\t' || c == ',')) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// "*" and "?" wildcards, case-insensitive as host names are.
bool glob_match(const char* p, const char* s) {
  for (; *p; ++p, ++s) {
    if (*p == '*') {
      for (const char* t = s;; ++t) {
        if (glob_match(p + 1, t)) return true;
        if (!*t) return false;
      }
    }
    if (!*s) return false;
    if (*p != '?' && std::tolower(static_cast<unsigned char>(*p)) != std::tolower(static_cast<unsigned char>(*s)))
      return false;
  }
  return !*s;
}

bool patterns_match(const std::vector<std::string>& pats, const std::string& host) {
  bool hit = false;
  for (const std::string& p : pats) {
    if (!p.empty() && p[0] == '!') {
      if (glob_match(p.c_str() + 1, host.c_str())) return false;  // a negation wins
    } else if (glob_match(p.c_str(), host.c_str())) {
      hit = true;
    }
  }
  return hit;
}

// Match criteria we understand; anything else does not match (safe: the
// default applies).
bool match_line(const std::vector<std::string>& args, const std::string& host) {
  if (args.size() == 1 && lower(args[0]) == "all") return true;
  bool any = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string k = lower(args[i]);
    if ((k == "host" || k == "originalhost") && i + 1 < args.size()) {
      // One pattern-list after the keyword (words() split it at commas).
      std::vector<std::string> pats;
      while (i + 1 < args.size() && lower(args[i + 1]) != "host" && lower(args[i + 1]) != "originalhost")
        pats.push_back(args[++i]);
      if (!patterns_match(pats, host)) return false;
      any = true;
    } else {
      return false;
    }
  }
  return any;
}

struct Parser {
  const std::string& host;
  std::string include_base;  // ~/.ssh or /etc/ssh
  std::string want;          // the key looked up, lower case
  std::optional<std::string> found;  // its first value

  void file(const std::string& path, int depth) {
    if (depth > 16 || found) return;
    std::ifstream in(path);
    if (!in) return;
    bool active = true;  // before any Host line: applies to all
    std::string line;
    while (std::getline(in, line) && !found) {
      size_t b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') continue;
      size_t e = line.find_first_of(" \t=", b);
      const std::string key = lower(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
      std::string value = e == std::string::npos ? "" : line.substr(e);
      size_t v = value.find_first_not_of(" \t");
      if (v != std::string::npos && value[v] == '=') v = value.find_first_not_of(" \t", v + 1);
      value = v == std::string::npos ? "" : value.substr(v);
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ' || value.back() == '\t')) value.pop_back();
      const std::vector<std::string> args = words(value);
      if (key == "host") {
        active = patterns_match(args, host);
      } else if (key == "match") {
        active = match_line(args, host);
      } else if (!active) {
        continue;
      } else if (key == "include") {
        for (const std::string& a : args) include(a, depth);
      } else if (key == want && !args.empty()) {
        found = args[0];
      }
    }
  }

  void include(std::string pattern, int depth) {
    if (pattern.rfind("~/", 0) == 0) pattern = home() + pattern.substr(1);
    else if (pattern.empty() || pattern[0] != '/') pattern = include_base + "/" + pattern;
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc && !found; ++i) file(g.gl_pathv[i], depth + 1);
    ::globfree(&g);
  }
};

}  // namespace

std::vector<std::string> ssh_config_files(const std::string& file) {
  if (file == "none") return {};
  if (!file.empty()) return {file.rfind("~/", 0) == 0 ? home() + file.substr(1) : file};
  return {home() + "/.ssh/config", "/etc/ssh/ssh_config"};
}

std::optional<std::string> ssh_config_value(const std::vector<std::string>& files, const std::string& host,
                                            const std::string& key) {
  for (const std::string& f : files) {
    Parser p{host, f.rfind("/etc/ssh/", 0) == 0 ? "/etc/ssh" : home() + "/.ssh", lower(key), std::nullopt};
    p.file(f, 0);
    if (p.found) return p.found;
  }
  return std::nullopt;
}

std::optional<int> ssh_config_connection_attempts(const std::vector<std::string>& files,
                                                  const std::string& host) {
  std::optional<std::string> v = ssh_config_value(files, host, "ConnectionAttempts");
  if (!v) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (end && !*end && n >= 1 && n <= 1000) return static_cast<int>(n);
  return std::nullopt;
}

bool ssh_pattern_list_matches(const std::string& list, const std::string& host) {
  return patterns_match(words(list), host);
}

}  // namespace baton
