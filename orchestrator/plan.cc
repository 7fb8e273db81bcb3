#include "orchestrator/plan.h"

#include <algorithm>
#include <sstream>

namespace baton {

namespace {
bool names_op(const Step& s, Operation op) {
  return std::find(s.operations.begin(), s.operations.end(), op) != s.operations.end();
}
}  // namespace

std::string skip_reason(const Step& s, Operation op) {
  if (!operation_has_phase(op, s.phase))
    return "phase " + std::string(name(s.phase)) + " is not part of " + std::string(name(op));
  if (!s.operations.empty() && !names_op(s, op)) {
    std::string list;
    for (Operation o : s.operations) list += (list.empty() ? "" : ", ") + std::string(name(o));
    return "only for " + list;
  }
  // A drill runs preflight and cleanup; elsewhere only drill-safe steps.
  if (op == Operation::drill && s.phase != Phase::preflight && s.phase != Phase::cleanup &&
      !s.drill_run && !names_op(s, Operation::drill))
    return "not marked drill-safe (drill = \"run\")";
  return {};
}

std::vector<const Host*> resolve_hosts(const Runbook& rb, const Roles& roles, const std::string& on,
                                       std::string* err) {
  std::vector<const Host*> out;
  if (on == "all") {  // Every host of every site: symmetric checks.
    for (const Site& s : rb.sites)
      for (const Host& h : s.hosts) out.push_back(&h);
    return out;
  }
  std::string head = on, host;
  if (size_t dot = on.find('.'); dot != std::string::npos) {
    head = on.substr(0, dot);
    host = on.substr(dot + 1);
  }
  std::string site_name = head;
  if (head == "source") site_name = roles.source;
  else if (head == "target") site_name = roles.target;
  const Site* site = rb.site(site_name);
  if (!site) {
    *err = "\"" + on + "\" names no site (source=" + roles.source + ", target=" + roles.target + ")";
    return out;
  }
  for (const Host& h : site->hosts)
    if (host.empty() || h.name == host) out.push_back(&h);
  if (out.empty()) *err = "site " + site_name + " has no host \"" + host + "\"";
  return out;
}

std::vector<PlannedPhase> make_plan(const Runbook& rb, Operation op) {
  std::vector<PlannedPhase> plan;
  for (Phase p : phase_sequence(op)) {
    PlannedPhase pp{p, {}};
    for (const Step& s : rb.steps)
      if (s.phase == p) pp.steps.push_back({&s, skip_reason(s, op)});
    plan.push_back(pp);
  }
  return plan;
}

std::vector<const Host*> hosts_in_use(const Runbook& rb, Operation op, const Roles& at_start,
                                      const std::function<bool(const Step&)>& leave_out) {
  std::vector<const Host*> out;
  Roles roles = at_start;
  for (const PlannedPhase& pp : make_plan(rb, op)) {
    for (const PlannedStep& ps : pp.steps) {
      if (!ps.skip.empty() || (leave_out && leave_out(*ps.step))) continue;
      std::string err;
      for (const Host* h : resolve_hosts(rb, roles, ps.step->on, &err))
        if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
    }
    if (pp.phase == Phase::promote) roles = roles_after_promote(roles, op);
  }
  return out;
}

Roles roles_after_promote(const Roles& r, Operation op) {
  if (op == Operation::drill || op == Operation::reverse_sync) return r;
  Roles n{r.target, r.source, r.stale};
  if (op == Operation::failover) n.stale = r.source;  // Down, possibly diverged.
  return n;
}

std::string render_plan(const Runbook& rb, Operation op, const Roles& initial) {
  std::ostringstream o;
  o << name(op) << " of \"" << rb.name << "\": source " << initial.source << ", target "
    << initial.target << "\n";
  Roles roles = initial;
  int runs = 0, skipped = 0;
  size_t width = 0;  // Step ids in one column.
  for (const Step& s : rb.steps) width = std::max(width, s.id.size());
  auto padded = [width](const std::string& id) { return id + std::string(width - id.size(), ' '); };
  for (const PlannedPhase& pp : make_plan(rb, op)) {
    o << "\n" << name(pp.phase) << "\n";
    if (pp.steps.empty()) o << "  (no steps)\n";
    for (const PlannedStep& ps : pp.steps) {
      const Step& s = *ps.step;
      std::string err, where;
      for (const Host* h : resolve_hosts(rb, roles, s.on, &err))
        where += (where.empty() ? "" : ", ") + h->label() + (h->is_local() ? " (local)" : " (" + h->address + ")");
      if (!err.empty()) where = err;
      if (ps.skip.empty()) {
        ++runs;
        o << "  run   " << padded(s.id) << "  on " << s.on << " -> " << where;
        if (!s.group.empty()) o << "  [group " << s.group << "]";
        if (s.retries) o << "  [up to " << s.retries + 1 << " attempts]";
        if (!s.confirm.empty()) o << "  [asks: " << s.confirm << "]";
        o << "\n";
      } else {
        ++skipped;
        o << "  skip  " << padded(s.id) << "  (" << ps.skip << ")\n";
      }
    }
    if (pp.phase == Phase::promote && op != Operation::drill && op != Operation::reverse_sync) {
      roles = roles_after_promote(roles, op);
      o << "  -> roles swap: source " << roles.source << ", target " << roles.target;
      if (!roles.stale.empty()) o << ", " << roles.stale << " marked stale";
      o << "\n";
    }
  }
  o << "\n" << runs << " steps run, " << skipped << " skipped\n";
  return o.str();
}

std::vector<std::vector<const Step*>> batches(const std::vector<const Step*>& steps) {
  std::vector<std::vector<const Step*>> out;
  std::vector<std::string> seen_groups;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step* s = steps[i];
    if (s->group.empty()) {
      out.push_back({s});
      continue;
    }
    if (std::find(seen_groups.begin(), seen_groups.end(), s->group) != seen_groups.end()) continue;
    seen_groups.push_back(s->group);
    std::vector<const Step*> b;
    for (size_t j = i; j < steps.size(); ++j)
      if (steps[j]->group == s->group) b.push_back(steps[j]);
    out.push_back(b);
  }
  return out;
}

}  // namespace baton
