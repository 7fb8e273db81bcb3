// Which steps an operation runs, where, and which it skips and why.
// Used by `baton plan` and by the executor, so both always agree.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/state_dir.h"
#include "runbooks/model.h"

namespace baton {

// Empty when the step runs in this operation; otherwise why not.
std::string skip_reason(const Step& s, Operation op);

// The hosts `on` names, given the current roles. Error in *err.
std::vector<const Host*> resolve_hosts(const Runbook& rb, const Roles& roles, const std::string& on,
                                       std::string* err);

struct PlannedStep {
  const Step* step = nullptr;
  std::string skip;  // empty: runs
};

struct PlannedPhase {
  Phase phase;
  std::vector<PlannedStep> steps;
};

std::vector<PlannedPhase> make_plan(const Runbook& rb, Operation op);
// Human-readable plan. Roles are those before the run; promote swaps them
// for the phases after it (except in a drill).
std::string render_plan(const Runbook& rb, Operation op, const Roles& roles);

// Every host the operation's steps run on, in the order the run first
// needs them (roles swap after promote, as in a run); steps for which
// `leave_out` says true (done already) do not count.
std::vector<const Host*> hosts_in_use(const Runbook& rb, Operation op, const Roles& at_start,
                                      const std::function<bool(const Step&)>& leave_out = nullptr);

// The roles after a successful promote of this operation.
Roles roles_after_promote(const Roles& r, Operation op);

// A run's steps in execution batches: a lone step, or every step of the
// phase sharing a group (run in parallel), placed at its first member.
std::vector<std::vector<const Step*>> batches(const std::vector<const Step*>& steps);

}  // namespace baton
