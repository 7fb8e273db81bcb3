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

std::vector<ShellVar> shell_vars(const Vars& vars) {
  std::vector<ShellVar> out;
  std::size_t exported = 0;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    const auto& [k, v] = vars[i];
    if (!valid_var_name(k)) continue;  // Validated earlier; never paste.
    bool later = false;
    for (std::size_t j = i + 1; j < vars.size() && !later; ++j) later = vars[j].first == k;
    if (later) continue;
    ShellVar sv{k, {}, true};
    sv.value.reserve(v.size());
    for (char c : v)
      if (c != '\0') sv.value += c;  // No shell variable holds NUL.
    const std::size_t size = k.size() + 1 + sv.value.size() + 1;  // "k=v\0"
    sv.exported = sv.value.size() <= kExportMax && exported + size <= kExportBudget;
    if (sv.exported) exported += size;
    out.push_back(std::move(sv));
  }
  return out;
}

std::string var_assignments(const std::vector<ShellVar>& vars) {
  std::string s;
  for (const ShellVar& v : vars) {
    if (!v.exported) s += "unset " + v.name + "; ";
    s += v.name;
    s += '=';
    s += shell_quote(v.value);
    if (v.exported) s += "; export " + v.name;
    s += '\n';
  }
  return s;
}

std::string var_assignments(const Vars& vars) { return var_assignments(shell_vars(vars)); }

std::string truncation_marker(std::size_t dropped) {
  return "\n[baton: output truncated, " + std::to_string(dropped) + " more bytes dropped]\n";
}

}  // namespace baton
