// baton plan RUNBOOK OPERATION: what would run, in order, where. Connects
// to nothing.
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/plan.h"

namespace baton {

int cmd_plan(const Options& o) {
  Runbook rb;
  if (!load_runbook(o.runbook, &rb, false)) return 2;
  std::optional<Operation> op = parse_operation(o.operation);
  if (!op) {
    fail("unknown operation \"" + o.operation + "\"; expected switchover, failover, drill or reverse-sync");
    return 2;
  }
  Roles roles;
  if (!current_roles(o, rb, &roles)) return 1;
  std::string text = render_plan(rb, *op, roles);
  // Where the roles shown come from; the plan connects to nothing.
  const std::string origin = "roles from " + roles_origin(o, rb) +
                             (rb.has_probe() ? "; the run probes the hosts first and refuses if they disagree"
                                             : "; not checked: the runbook has no [probe]");
  text.insert(text.find('\n') + 1, origin + "\n");
  std::printf("%s", text.c_str());
  return 0;
}

}  // namespace baton
