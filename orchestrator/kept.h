// Data between runs: what one run keeps for later ones (captures with
// keep = true; the data loss a failover measured, as BATON_LAST_DATA_LOSS
// and BATON_LAST_DATA_LOSS_TEXT), in STATE/NAME/kept.json next to the
// roles. Never a secret: the loader refuses keep on a secret capture, and
// the executor keeps no value that holds one.
#pragma once
#include <string>
#include <vector>

#include "agents/agent.h"
#include "orchestrator/state_dir.h"

namespace baton {

// The kept values, oldest name first; empty when none or unreadable.
Vars load_kept(const StateDir& dir);
// Sets each name in `values` (from run `run_id`) and removes the names in
// `drop`, keeping the others; one atomic write (and its two syncs) for all
// of them. Not safe against itself: callers in several threads serialize.
// Returns an error message, empty on success.
std::string save_kept(const StateDir& dir, const Vars& values, const std::string& run_id,
                      const std::vector<std::string>& drop = {});

}  // namespace baton
