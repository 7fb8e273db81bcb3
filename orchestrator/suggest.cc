#include "orchestrator/suggest.h"

#include <cctype>

#include "agents/shell.h"

namespace baton {
namespace {

std::string& state_dir_flag() {
  static std::string dir;  // set before any thread starts
  return dir;
}

// Plain words stay as they are: messages stay readable.
std::string word(const std::string& s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-+,:=@%").find(c) != std::string::npos))
      return shell_quote(s);
  return s.empty() ? "''" : s;
}

}  // namespace

void set_suggested_state_dir(const std::string& dir) { state_dir_flag() = dir; }

std::string runbook_words(const std::string& runbook) {
  std::string w = word(runbook);
  if (!state_dir_flag().empty()) w += " --state-dir " + word(state_dir_flag());
  return w;
}

}  // namespace baton
