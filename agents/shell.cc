#include "agents/shell.h"

#include <cctype>

namespace baton {

std::string shell_quote(std::string_view value) {
  std::string q = "'";
  for (char c : value) {
    if (c == '\'') q += "'\\''";
    else if (c == '\0') continue;  // No shell value holds NUL; sh drops it from $(...) too.
    else q += c;
  }
  q += '\'';
  return q;
}

std::string compose_script(const Command& cmd) { return var_assignments(cmd.vars) + cmd.script; }

std::string var_assignments(const Vars& vars) {
  std::string s;
  for (const auto& [k, v] : vars) {
    if (!valid_var_name(k)) continue;  // Validated earlier; never paste.
    s += k;
    s += '=';
    s += shell_quote(v);
    s += "; export ";
    s += k;
    s += '\n';
  }
  return s;
}

bool is_secret_name(const std::string& var_name) {
  std::string n;
  for (char c : var_name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"pass", "secret", "token", "credential", "private", "apikey", "api_key"})
    if (n.find(w) != std::string::npos) return true;
  return false;
}

std::string truncation_marker(std::size_t dropped) {
  return "\n[baton: output truncated, " + std::to_string(dropped) + " more bytes dropped]\n";
}

}  // namespace baton
