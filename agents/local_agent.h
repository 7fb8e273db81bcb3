// Runs commands on the orchestrator's own machine: /bin/sh -c in its own
// process group, the whole group killed on timeout.
#pragma once
#include "agents/agent.h"

namespace baton {

class LocalAgent : public Agent {
 public:
  CommandResult run(const Command& cmd) override;
  std::string describe() const override { return "local"; }
};

}  // namespace baton
