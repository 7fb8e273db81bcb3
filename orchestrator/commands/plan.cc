// baton plan RUNBOOK OPERATION: what would run, in order, where. Connects
// to nothing.
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/json.h"
#include "orchestrator/plan.h"

namespace baton {
namespace {

JsonValue step_json(const Runbook& rb, const PlannedStep& ps, const Roles& roles) {
  const Step& s = *ps.step;
  JsonValue j = JsonValue::object();
  j["id"] = s.id;
  j["on"] = s.on;
  j["runs"] = ps.skip.empty();
  if (!ps.skip.empty()) {
    j["skip"] = ps.skip;
    return j;
  }
  std::string err;
  JsonValue hosts = JsonValue::array();
  for (const Host* h : resolve_hosts(rb, roles, s.on, &err)) hosts.push_back(h->label());
  j["hosts"] = hosts;
  if (!err.empty()) j["error"] = err;
  if (!s.group.empty()) j["group"] = s.group;
  j["attempts"] = s.retries + 1;
  if (!s.confirm.empty()) j["confirm"] = s.confirm;
  return j;
}

// The plan as one object (docs/baton.1.md lists the fields).
JsonValue plan_json(const Options& o, const Runbook& rb, Operation op, Roles roles) {
  JsonValue j = JsonValue::object();
  j["runbook"] = rb.name;
  j["operation"] = std::string(name(op));
  j["source"] = roles.source;
  j["target"] = roles.target;
  j["roles_from"] = roles_origin(o, rb);
  j["probed_before_run"] = rb.has_probe();
  j["phases"] = JsonValue::array();
  int runs = 0, skipped = 0;
  for (const PlannedPhase& pp : make_plan(rb, op)) {
    JsonValue p = JsonValue::object();
    p["phase"] = std::string(name(pp.phase));
    p["steps"] = JsonValue::array();
    for (const PlannedStep& ps : pp.steps) {
      p["steps"].push_back(step_json(rb, ps, roles));
      ++(ps.skip.empty() ? runs : skipped);
    }
    if (pp.phase == Phase::promote && op != Operation::drill && op != Operation::reverse_sync) {
      roles = roles_after_promote(roles, op);
      p["roles_after"] = {{"source", roles.source}, {"target", roles.target}, {"stale", roles.stale}};
    }
    j["phases"].push_back(p);
  }
  j["runs"] = runs;
  j["skipped"] = skipped;
  return j;
}

}  // namespace

int cmd_plan(const Options& o) {
  Runbook rb;
  if (!load_runbook(o, &rb, false)) return 2;
  std::optional<Operation> op = parse_operation(o.operation);
  if (!op) {
    fail("unknown operation \"" + o.operation + "\"; expected switchover, failover, drill or reverse-sync");
    return 2;
  }
  Roles roles;
  if (!current_roles(o, rb, &roles)) return 1;
  if (o.json) {
    std::printf("%s\n", dump_json(plan_json(o, rb, *op, roles)).c_str());
    return 0;
  }
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
