// baton status RUNBOOK: roles, stale sides, the last run.
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/commands/summary_view.h"

namespace baton {

int cmd_status(const Options& o) {
  Runbook rb;
  if (!load_runbook(o.runbook, &rb)) return 2;
  StateDir dir;
  if (!open_state(o, rb, &dir)) return 1;
  Roles r = dir.load_roles(initial_roles(rb));
  RunSummary last;
  bool has = last_run(dir, &last);
  if (o.json) {
    JsonValue j = JsonValue::object();
    j["runbook"] = rb.name;
    j["source"] = r.source;
    j["target"] = r.target;
    j["stale"] = r.stale;
    j["last_run"] = has ? summary_json(last) : JsonValue();
    std::printf("%s\n", dump_json(j).c_str());
    return 0;
  }
  std::printf("runbook   %s (%s)\n", rb.name.c_str(), o.runbook.c_str());
  std::printf("source    %s%s\n", r.source.c_str(), dir.has_roles() ? "" : " (from the runbook; no run yet)");
  std::printf("target    %s%s\n", r.target.c_str(),
              r.stale == r.target ? "  STALE: run `baton reverse-sync` before switching back" : "");
  if (!has) {
    std::printf("last run  none\n");
    return 0;
  }
  std::printf("last run  %s  %s  %s  %s\n", last.id.c_str(), last.operation.c_str(), iso_time(last.started_ms).c_str(),
              outcome(last).c_str());
  if (last.finished && last.state == "failed" && !last.failure.empty())
    std::printf("          %s\n", last.failure.c_str());
  if (last.resumable() || !last.finished)
    std::printf("waiting   run %s: `baton resume %s` (or --rollback, --abort)\n", last.id.c_str(), o.runbook.c_str());
  return 0;
}

}  // namespace baton
