// baton check RUNBOOK: connects to every host, then runs the preflight
// steps of a switchover. Changes nothing.
#include <cstdio>
#include <thread>

#include "agents/ssh_agent.h"
#include "orchestrator/commands/commands.h"
#include "orchestrator/plan.h"

namespace baton {

int cmd_check(const Options& o) {
  Runbook rb;
  if (!load_runbook(o.runbook, &rb)) return 2;
  const Roles roles = current_roles(o, rb);
  AgentPool agents(agent_factory(rb, o));
  bool ok = true;
  std::printf("hosts\n");
  for (const Site& site : rb.sites) {
    std::vector<std::thread> ts;
    std::vector<std::string> errs(site.hosts.size());
    for (size_t i = 0; i < site.hosts.size(); ++i)
      ts.emplace_back([&, i] { errs[i] = agents.agent(site.hosts[i]).probe(); });
    for (auto& t : ts) t.join();
    for (size_t i = 0; i < site.hosts.size(); ++i) {
      const Host& h = site.hosts[i];
      Agent& a = agents.agent(h);
      std::string key;
      if (auto* ssh = dynamic_cast<SshAgent*>(&a)) key = "host key " + ssh->host_key_status();
      std::printf("  %s  %-16s %-28s %s\n", errs[i].empty() ? "ok  " : "FAIL", h.label().c_str(),
                  a.describe().c_str(), key.c_str());
      if (!errs[i].empty()) std::printf("        %s\n", errs[i].c_str());
      ok = ok && errs[i].empty();
    }
  }
  EventBus bus;
  Executor ex(rb, Operation::switchover, agents, bus, ExecutorOptions{});
  std::printf("preflight (source %s, target %s)\n", roles.source.c_str(), roles.target.c_str());
  for (const Step& s : rb.steps) {
    if (s.phase != Phase::preflight || !skip_reason(s, Operation::switchover).empty()) continue;
    std::string err = ok ? ex.run_one(s, roles) : "not run: a host is unreachable";
    std::printf("  %s  %s\n", err.empty() ? "ok  " : "FAIL", s.id.c_str());
    if (!err.empty()) std::printf("        %s\n", err.c_str());
    ok = ok && err.empty();
  }
  std::printf("%s\n", ok ? "check passed" : "check failed");
  return ok ? 0 : 3;
}

}  // namespace baton
