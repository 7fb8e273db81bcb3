// Runs commands on the orchestrator's own machine: /bin/sh -c in its own
// session (no controlling terminal, stdin from /dev/null) and so its own
// process group, the whole group killed on timeout. Values of any size
// reach the command: small ones in its environment, large ones on fd 3.
#pragma once
#include "agents/agent.h"

namespace baton {

// The start time of process `pid` (clock ticks since boot, field 22 of
// /proc/PID/stat), or 0 when it does not exist. With the pid it names one
// process for good: a pid can be reused, a (pid, start) pair cannot.
long long process_start_ticks(long pid);

class LocalAgent : public Agent {
 public:
  CommandResult run(const Command& cmd) override;
  std::string describe() const override { return "local"; }
};

}  // namespace baton
