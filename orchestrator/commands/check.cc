// baton check RUNBOOK: connects to every host, asks each what it is, and
// runs the preflight steps of a switchover. Changes nothing. Exit 3 when
// anything would make an operation refuse. --json: one object (fields in
// docs/baton.1.md).
#include <cstdio>
#include <thread>

#include "agents/ssh_agent.h"
#include "orchestrator/commands/commands.h"
#include "orchestrator/commands/summary_view.h"
#include "orchestrator/plan.h"
#include "orchestrator/probe.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

struct HostCheck {
  std::string host, address, host_key, error;
};
struct StepCheck {
  std::string step, error;
};

// What check found, before it is shown as text or JSON.
struct CheckResult {
  std::vector<HostCheck> hosts;
  bool probed = false;
  Observation obs;
  RoleCheck rc;
  Roles stored, roles;  // as stored; as the preflight ran
  std::vector<StepCheck> preflight;
  bool ok = true;
};

// Connects to every host of every site at once.
void check_hosts(const Runbook& rb, AgentPool& agents, CheckResult* r) {
  std::vector<const Host*> hosts;
  for (const Site& site : rb.sites)
    for (const Host& h : site.hosts) hosts.push_back(&h);
  std::vector<std::thread> ts;
  std::vector<std::string> errs(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) ts.emplace_back([&, i] { errs[i] = agents.agent(*hosts[i]).probe(); });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < hosts.size(); ++i) {
    Agent& a = agents.agent(*hosts[i]);
    std::string key;
    if (auto* ssh = dynamic_cast<SshAgent*>(&a)) key = ssh->host_key_status();
    r->hosts.push_back({hosts[i]->label(), a.describe(), key, errs[i]});
    r->ok = r->ok && errs[i].empty();
  }
}

// False when the stored roles cannot be read (said on stderr).
bool run_check(const Options& o, const Runbook& rb, CheckResult* out) {
  CheckResult& r = *out;
  if (!current_roles(o, rb, &r.stored)) return false;
  r.roles = r.stored;
  AgentPool agents(agent_factory(rb, o));
  check_hosts(rb, agents, &r);
  EventBus quiet;
  Executor ex(rb, Operation::switchover, agents, quiet, ExecutorOptions{});
  if (rb.has_probe()) {
    r.probed = true;
    r.obs = ex.observe_with(r.roles, "check");
    r.rc = check_roles(r.roles, has_stored_roles(o, rb), r.obs, o.runbook);
    using K = RoleCheck::Kind;
    r.ok = r.ok && (r.rc.kind == K::agree || r.rc.kind == K::from_probe);
    r.roles = r.rc.roles;
  }
  for (const Step& s : rb.steps) {
    if (s.phase != Phase::preflight || !skip_reason(s, Operation::switchover).empty()) continue;
    r.preflight.push_back({s.id, ex.run_one(s, r.roles)});
    r.ok = r.ok && r.preflight.back().error.empty();
  }
  return true;
}

void print_json(const Options& o, const Runbook& rb, const CheckResult& r) {
  JsonValue j = JsonValue::object();
  j["runbook"] = rb.name;
  j["passed"] = r.ok;
  j["hosts"] = JsonValue::array();
  for (const HostCheck& h : r.hosts) {
    JsonValue hj = {{"host", h.host}, {"address", h.address}, {"ok", h.error.empty()}};
    if (!h.host_key.empty()) hj["host_key"] = h.host_key;
    if (!h.error.empty()) hj["error"] = h.error;
    j["hosts"].push_back(hj);
  }
  j["roles"] = {{"source", r.stored.source}, {"target", r.stored.target}, {"from", roles_origin(o, rb)}};
  j["probe"] = r.probed ? probe_json(r.obs, r.rc) : JsonValue();
  j["preflight"] = JsonValue::array();
  for (const StepCheck& s : r.preflight) {
    JsonValue sj = {{"step", s.step}, {"ok", s.error.empty()}};
    if (!s.error.empty()) sj["error"] = s.error;
    j["preflight"].push_back(sj);
  }
  std::printf("%s\n", dump_json(j).c_str());
}

void print_text(const Options& o, const Runbook& rb, const CheckResult& r) {
  text_out("hosts\n");
  for (const HostCheck& h : r.hosts) {
    text_out("  %s  %-16s %-28s %s\n", h.error.empty() ? "ok  " : "FAIL", h.host.c_str(), h.address.c_str(),
                h.host_key.empty() ? "" : ("host key " + h.host_key).c_str());
    if (!h.error.empty()) text_out("        %s\n", h.error.c_str());
  }
  if (r.probed) {
    text_out("roles (stored: source %s, target %s; from %s)\n%s", r.stored.source.c_str(),
                r.stored.target.c_str(), roles_origin(o, rb).c_str(), r.obs.table("  ").c_str());
    using K = RoleCheck::Kind;
    if (r.rc.kind == K::agree) text_out("  ok    the hosts agree with the stored roles\n");
    else if (r.rc.kind == K::from_probe) text_out("  ok    %s\n", r.rc.message.c_str());
    else text_out("  FAIL  %s\n", r.rc.message.substr(0, r.rc.message.find('\n')).c_str());
    if (r.rc.kind == K::contradicts)
      text_out("        record what the hosts say with `baton adopt %s --source %s`\n", runbook_words(o.runbook).c_str(),
                  r.obs.primary_site()->c_str());
  } else {
    text_out("roles (source %s, target %s; not probed: the runbook has no [probe])\n", r.roles.source.c_str(),
                r.roles.target.c_str());
  }
  text_out("preflight (source %s, target %s)\n", r.roles.source.c_str(), r.roles.target.c_str());
  for (const StepCheck& s : r.preflight) {
    text_out("  %s  %s\n", s.error.empty() ? "ok  " : "FAIL", s.step.c_str());
    if (!s.error.empty()) text_out("%s", ("        " + s.error + "\n").c_str());
  }
  text_out("%s\n", r.ok ? "check passed" : "check failed");
}

}  // namespace

int cmd_check(const Options& o) {
  Runbook rb;
  if (!load_runbook(o, &rb)) return 2;
  CheckResult r;
  if (!run_check(o, rb, &r)) return 1;
  if (o.json) print_json(o, rb, r);
  else print_text(o, rb, r);
  return r.ok ? 0 : 3;
}

}  // namespace baton
