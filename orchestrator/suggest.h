// How the commands Baton suggests ("run `baton resume RB`") name the
// runbook: as the operator gave it, followed by --state-dir when one was
// given on the command line, so that a command copied from a message acts
// on the same state as the run that printed it.
#pragma once
#include <string>

namespace baton {

// Set once by the CLI: the --state-dir flag's value ("" when not given;
// $BATON_STATE_DIR and the default need no flag: the same shell has them).
void set_suggested_state_dir(const std::string& dir);

// "RUNBOOK" or "RUNBOOK --state-dir DIR", each shell-quoted when needed.
std::string runbook_words(const std::string& runbook);

}  // namespace baton
