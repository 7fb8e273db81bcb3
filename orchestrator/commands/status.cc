// baton status RUNBOOK: the roles as stored and as the hosts say they are,
// a stale side, a run that is running now or waits, and the last run.
// Exit 3 when the hosts contradict the stored roles, or show two primaries
// or none (an operation would refuse).
#include <chrono>
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/commands/summary_view.h"
#include "orchestrator/probe.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

// The step a live run is running now, from its journal: step, host, start.
struct Current {
  std::string step, host;
  long long since_ms = 0;
};

Current current_step(const std::vector<Json>& records) {
  Current c;
  for (const Json& j : records) {
    const std::string ev = j.str("event");
    if (ev == "step_started") c = {j.str("step"), j.str("host"), j.num("time_ms")};
    else if (ev == "step_finished" && j.str("step") == c.step && j.str("host") == c.host) c = {};
  }
  return c;
}

}  // namespace

int cmd_status(const Options& o) {
  Runbook rb;
  if (!load_runbook(o, &rb)) return 2;
  StateDir dir;
  if (!read_state(o, rb, &dir)) return 1;
  const Roles r = dir.load_roles(initial_roles(rb));
  const std::string origin = roles_origin(o, rb);
  RunSummary last;
  std::vector<Json> records;
  const bool has = last_run(dir, &last, &records);
  const LockHolder lock = read_lock_holder(dir.path());
  const Current cur = lock.held ? current_step(records) : Current{};

  Observation obs;
  RoleCheck rc;
  rc.roles = r;
  if (!o.offline && rb.has_probe()) {
    AgentPool agents(agent_factory(rb, o));
    EventBus quiet;
    Executor ex(rb, Operation::switchover, agents, quiet, ExecutorOptions{});
    obs = ex.observe_with(r, "status");
    rc = check_roles(r, dir.has_roles(), obs, o.runbook);
  }
  using K = RoleCheck::Kind;
  const bool damaged = has && !last.damaged.empty();
  const int code =
      rc.kind == K::split_brain || rc.kind == K::no_primary || rc.kind == K::contradicts || damaged ? 3 : 0;

  if (o.json) {
    JsonValue j = JsonValue::object();
    j["runbook"] = rb.name;
    j["source"] = r.source;
    j["target"] = r.target;
    j["stale"] = r.stale;
    j["roles_from"] = origin;
    j["probe"] = o.offline ? JsonValue() : probe_json(obs, rc);
    JsonValue run = JsonValue();
    if (lock.held) {
      run = JsonValue::object();
      run["pid"] = lock.pid;
      run["machine"] = lock.machine;
      run["user"] = lock.user;
      run["operation"] = lock.operation;
      run["run"] = lock.run.empty() ? last.id : lock.run;
      run["started_ms"] = lock.started_ms;
      if (!cur.step.empty()) {
        run["step"] = cur.step;
        run["host"] = cur.host;
        run["step_started_ms"] = cur.since_ms;
      }
    }
    j["running"] = run;
    JsonValue lr = has ? summary_json(last) : JsonValue();
    if (has && lock.held) lr["resumable"] = false;  // Running, not waiting.
    if (damaged) lr["damaged"] = last.damaged;
    j["last_run"] = lr;
    j["last_drill"] = drill_json(last_drill(dir.path()), rb, now_ms());
    std::printf("%s\n", dump_json(j).c_str());
    return code;
  }
  text_out("runbook   %s (%s)\n", rb.name.c_str(), o.runbook.c_str());
  text_out("roles     source %s, target %s  (from %s)\n", r.source.c_str(), r.target.c_str(), origin.c_str());
  if (!r.stale.empty())
    text_out("stale     %s: run `baton reverse-sync %s` before switching back\n", r.stale.c_str(), runbook_words(o.runbook).c_str());
  if (o.offline) {
    text_out("probe     skipped (--offline)\n");
  } else if (!obs.probed) {
    text_out("probe     none: the runbook has no [probe], so the roles above are not checked\n");
  } else {
    std::string table = obs.table("          ");
    text_out("probe%s", table.substr(5).c_str());
    if (rc.kind == K::agree) text_out("          the hosts agree with the stored roles\n");
    else if (!rc.message.empty()) text_out("%s\n", ("          " + rc.message.substr(0, rc.message.find('\n'))).c_str());
    if (rc.kind == K::contradicts)
      text_out("          record what the hosts say with `baton adopt %s --source %s`\n", runbook_words(o.runbook).c_str(),
                  obs.primary_site()->c_str());
  }
  text_out("drill     %s\n", drill_status(last_drill(dir.path()), rb, now_ms()).c_str());
  if (lock.held) {
    text_out("running   %s\n", lock.describe().c_str());
    if (!cur.step.empty())
      text_out("          now: %s on %s, for %s\n", cur.step.c_str(), cur.host.c_str(),
                  format_duration(Millis(now_ms() - cur.since_ms)).c_str());
  }
  if (!has) {
    text_out("last run  none\n");
    return code;
  }
  if (lock.held && !last.finished) return code;  // The running run is the last one.
  if (damaged) {
    text_out("last run  %s  %s: its journal is damaged (%s)\n", last.id.c_str(), last.operation.c_str(),
                last.damaged.c_str());
    text_out("waiting   check the hosts, then `baton resume %s --abort` closes it (the file is kept)\n",
                runbook_words(o.runbook).c_str());
    return code;
  }
  text_out("last run  %s  %s  %s  %s\n", last.id.c_str(), last.operation.c_str(), iso_time(last.started_ms).c_str(),
              outcome(last).c_str());
  if (last.finished && last.state == "failed" && !last.failure.empty())
    text_out("          %s\n", last.failure.substr(0, last.failure.find('\n')).c_str());
  if (last.resumable())
    text_out("waiting   run %s: `baton resume %s` (or --rollback, --abort)\n", last.id.c_str(), runbook_words(o.runbook).c_str());
  return code;
}

}  // namespace baton
