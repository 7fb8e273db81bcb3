// baton check RUNBOOK: connects to every host, asks each what it is, and
// runs the preflight steps of a switchover. Changes nothing. Exit 3 when
// anything would make an operation refuse.
#include <cstdio>
#include <thread>

#include "agents/ssh_agent.h"
#include "orchestrator/commands/commands.h"
#include "orchestrator/plan.h"
#include "orchestrator/probe.h"

namespace baton {
namespace {

// Connects to every host in parallel; prints each. False if one failed.
bool check_hosts(const Runbook& rb, AgentPool& agents) {
  bool ok = true;
  std::printf("hosts\n");
  // Every host of every site at once.
  std::vector<const Host*> hosts;
  for (const Site& site : rb.sites)
    for (const Host& h : site.hosts) hosts.push_back(&h);
  std::vector<std::thread> ts;
  std::vector<std::string> errs(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) ts.emplace_back([&, i] { errs[i] = agents.agent(*hosts[i]).probe(); });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < hosts.size(); ++i) {
    const Host& h = *hosts[i];
    Agent& a = agents.agent(h);
    std::string key;
    if (auto* ssh = dynamic_cast<SshAgent*>(&a)) key = "host key " + ssh->host_key_status();
    std::printf("  %s  %-16s %-28s %s\n", errs[i].empty() ? "ok  " : "FAIL", h.label().c_str(),
                a.describe().c_str(), key.c_str());
    if (!errs[i].empty()) std::printf("        %s\n", errs[i].c_str());
    ok = ok && errs[i].empty();
  }
  return ok;
}

}  // namespace

int cmd_check(const Options& o) {
  Runbook rb;
  if (!load_runbook(o.runbook, &rb)) return 2;
  Roles roles;
  if (!current_roles(o, rb, &roles)) return 1;
  AgentPool agents(agent_factory(rb, o));
  bool ok = check_hosts(rb, agents);
  EventBus quiet;
  Executor ex(rb, Operation::switchover, agents, quiet, ExecutorOptions{});
  if (rb.has_probe()) {
    Observation obs = ex.observe_with(roles, "check");
    RoleCheck rc = check_roles(roles, has_stored_roles(o, rb), obs, o.runbook);
    std::printf("roles (stored: source %s, target %s; from %s)\n%s", roles.source.c_str(), roles.target.c_str(),
                roles_origin(o, rb).c_str(), obs.table("  ").c_str());
    using K = RoleCheck::Kind;
    if (rc.kind == K::agree) std::printf("  ok    the hosts agree with the stored roles\n");
    else if (rc.kind == K::from_probe) std::printf("  ok    %s\n", rc.message.c_str());
    else std::printf("  FAIL  %s\n", rc.message.substr(0, rc.message.find('\n')).c_str());
    if (rc.kind == K::contradicts)
      std::printf("        record what the hosts say with `baton adopt %s --source %s`\n", o.runbook.c_str(),
                  obs.primary_site()->c_str());
    ok = ok && (rc.kind == K::agree || rc.kind == K::from_probe);
    roles = rc.roles;
  } else {
    std::printf("roles (source %s, target %s; not probed: the runbook has no [probe])\n", roles.source.c_str(),
                roles.target.c_str());
  }
  std::printf("preflight (source %s, target %s)\n", roles.source.c_str(), roles.target.c_str());
  for (const Step& s : rb.steps) {
    if (s.phase != Phase::preflight || !skip_reason(s, Operation::switchover).empty()) continue;
    std::string err = ex.run_one(s, roles);
    std::printf("  %s  %s\n", err.empty() ? "ok  " : "FAIL", s.id.c_str());
    if (!err.empty()) std::printf("%s", ("        " + err + "\n").c_str());
    ok = ok && err.empty();
  }
  std::printf("%s\n", ok ? "check passed" : "check failed");
  return ok ? 0 : 3;
}

}  // namespace baton
