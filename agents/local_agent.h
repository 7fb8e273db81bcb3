// Runs commands on the orchestrator's own machine: /bin/sh -c in its own
// session (no controlling terminal, stdin from /dev/null) and so its own
// process group, the whole group killed on timeout. Values of any size
// reach the command: small ones in its environment, large ones on fd 3.
#pragma once
#include "agents/agent.h"

namespace baton {

class LocalAgent : public Agent {
 public:
  CommandResult run(const Command& cmd) override;
  std::string describe() const override { return "local"; }
};

}  // namespace baton
