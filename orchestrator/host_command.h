// What a host runs for a runbook's command: the runbook's prelude first,
// then the command (a step's run and its wait, an undo, the probe), as
// another OS user when run_as says so.
#pragma once
#include <optional>
#include <string>

#include "agents/agent.h"
#include "runbooks/model.h"

namespace baton {

// The exit code of a command that could not become its run_as user (no
// sudo, or sudo wants a password): "cannot execute".
constexpr int kRunAsFailed = 126;

// A step's script: its run, then its wait (see wait_script).
std::string step_script(const Step& s);

// The shell that polls w.until every w.every until it exits 0 (its output
// then is the command's stdout), for at most w.within: then exit 124 and
// the last output and a reason on stderr. One command on the host.
std::string wait_script(const Wait& w);

// The command for `script` on host h with these variables: the prelude,
// then the script, as the user `run_as` (else the host's run_as; "" is the
// SSH user). Secret names are the runbook's declared ones.
Command host_command(const Runbook& rb, const Host& h, const std::string& script, Vars vars,
                     const std::optional<std::string>& run_as = std::nullopt);

}  // namespace baton
