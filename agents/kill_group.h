// Stopping a command's process group for good, on any host with /bin/sh:
// the script both agents run when a command must be killed and members of
// its group may belong to another user (run_as through sudo), which a kill
// from the login user cannot reach.
#pragma once
#include <string>

namespace baton {

// A /bin/sh script that stops process group `pgid` (> 1): TERM to the
// group, also through `sudo -n -u '#UID'` for each other (non-root) user
// whose processes are in it; up to 2 s for it to end, then KILL the same
// ways; then up to 1 s for it to be gone. Exits 0 when no live member is
// left (zombies do not count; without /proc, when kill -0 finds no
// process), kKillSurvivors when some are, so the caller must say the
// command may still be running. Builtins only in the loops (no fork per
// process).
// Exits kKillNothing when no live member was there to stop at all (the
// command had ended by itself).
std::string kill_group_script(long pgid);
constexpr int kKillSurvivors = 3;
constexpr int kKillNothing = 4;

// Why a kill left the command running, for messages.
constexpr const char* kSurvivorsWhy =
    "processes of its group outlived the kill (another user's, as with run_as, which sudo -n could not stop)";

}  // namespace baton
