// Shell quoting: values reach commands as data, never as code.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "agents/agent.h"
#include "runbooks/names.h"  // valid_var_name, is_secret_name

namespace baton {

// 'it'\''s' style single quoting; safe for any byte. NUL bytes, which no
// shell variable can hold, are dropped (as sh does for $(...)).
std::string shell_quote(std::string_view value);
// The kernel takes at most 128 KiB per environment string, and ARG_MAX
// (2 MiB with the default 8 MiB stack) for the environment and arguments
// together: a larger environment makes every exec fail ("Argument list too
// long", exit 126 or 127). So a value is exported (seen by the programs a
// command starts) only when at most kExportMax bytes and within
// kExportBudget with the exported values before it; any other value is a
// variable of the command's own shell only.
constexpr std::size_t kExportMax = 64 << 10;
constexpr std::size_t kExportBudget = 1 << 20;

struct ShellVar {
  std::string name;
  std::string value;  // without NUL bytes
  bool exported = true;
};
// The last value of each valid name (as in sh, a later one wins), in the
// order of the names' last appearance, each with its export decision.
std::vector<ShellVar> shell_vars(const Vars& vars);
// "name='value'; export name" lines; "unset name; name='value'" for a
// value not exported (unset also drops an export inherited from outside).
std::string var_assignments(const std::vector<ShellVar>& vars);

// The script /bin/sh runs: variable assignments, then the command.
std::string compose_script(const Command& cmd);
// var_assignments(shell_vars(vars)).
std::string var_assignments(const Vars& vars);

}  // namespace baton
