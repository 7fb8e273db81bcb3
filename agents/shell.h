// Shell quoting: values reach commands as data, never as code.
#pragma once
#include <string>
#include <string_view>

#include "agents/agent.h"
#include "runbooks/names.h"  // valid_var_name

namespace baton {

// 'it'\''s' style single quoting; safe for any byte. NUL bytes, which no
// shell variable can hold, are dropped (as sh does for $(...)).
std::string shell_quote(std::string_view value);
// The script /bin/sh runs: exported variable assignments, then the command.
std::string compose_script(const Command& cmd);
// Just the assignments: "name='value'; export name" lines.
std::string var_assignments(const Vars& vars);
// Does the name say the value is a secret (password, token, ...)?
bool is_secret_name(const std::string& var_name);

}  // namespace baton
