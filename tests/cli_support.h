// Helpers for tests that run the built `baton` binary.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "agents/local_agent.h"
#include "agents/shell.h"

namespace baton::testing {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/baton-cli-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    // Stop the example's application if a test left it running.
    std::system(("for f in " + shell_quote(path) + "/*/*/app.pid " + shell_quote(path) +
                 "/*/app.pid; do [ -f \"$f\" ] && kill $(cat \"$f\") 2>/dev/null; done; rm -rf " + shell_quote(path))
                    .c_str());
  }
};

// Runs a shell command line; stdin is /dev/null (no terminal).
inline CommandResult sh(const std::string& line, Vars env = {}) {
  LocalAgent a;
  Command c;
  c.script = line;
  c.vars = std::move(env);
  c.timeout = std::chrono::seconds(120);
  c.output_limit = 16 << 20;
  return a.run(c);
}

inline std::string baton() { return shell_quote(BATON_BINARY); }

// `baton VERB RUNBOOK --state-dir STATE FLAGS` (flags: shell words as written).
inline CommandResult baton_at(const std::string& state, const std::string& verb, const std::string& rb,
                              const std::string& flags = "", Vars env = {}) {
  return sh(baton() + " " + verb + " " + shell_quote(rb) + " --state-dir " + shell_quote(state) + " " + flags,
            std::move(env));
}
inline std::string example() { return std::string(BATON_SOURCE_DIR) + "/examples/local"; }

inline void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
inline std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Does any live process (not a zombie) belong to process group `pgid`?
inline bool group_alive(long pgid) {
  return sh("for f in /proc/[0-9]*/stat; do read -r l <\"$f\" 2>/dev/null || continue; set -- ${l##*') '}; "
            "[ \"$1\" != Z ] && [ \"$3\" = " + std::to_string(pgid) + " ] && exit 0; done; exit 1")
             .exit_code == 0;
}

// Every file under dir with its bytes: a byte-for-byte picture.
inline std::map<std::string, std::string> snapshot(const std::string& dir) {
  CommandResult r = sh("cd " + shell_quote(dir) + " && find . -type f | LC_ALL=C sort");
  std::map<std::string, std::string> m;
  std::istringstream in(r.out);
  std::string f;
  while (std::getline(in, f)) m[f] = read(dir + "/" + f);
  return m;
}

}  // namespace baton::testing
