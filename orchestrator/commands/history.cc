// baton history RUNBOOK: past runs, with their time against the RTO.
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/commands/summary_view.h"

namespace baton {

int cmd_history(const Options& o) {
  Runbook rb;
  if (!load_runbook(o, &rb, false)) return 2;
  StateDir dir;
  if (!read_state(o, rb, &dir)) return 1;
  JsonValue all = JsonValue::array();
  if (!o.json)
    text_out("%-26s %-13s %-21s %10s  %-34s %-16s %s\n", "RUN", "OPERATION", "STARTED", "DURATION", "OUTCOME",
                "RTO", "RPO");
  for (const std::string& id : list_runs(dir.path())) {
    JournalRead jr = read_journal(journal_path(dir.path(), id));
    RunSummary s = summarize(id, jr.records);
    s.damaged = jr.error;
    if (s.operation.empty()) continue;
    if (o.json) {
      JsonValue j = summary_json(s);
      if (drill_proof(s)) j["verified"] = s.runbook_hash == rb.content_hash;  // same runbook as now
      all.push_back(j);
      continue;
    }
    std::string rto = rto_verdict(s);
    if (!rto.empty()) rto += " (" + format_duration(*parse_duration(s.rto)) + ")";
    text_out("%-26s %-13s %-21s %10s  %-34s %-16s %s\n", id.c_str(), s.operation.c_str(),
                iso_time(s.started_ms).c_str(), format_duration(Millis(s.duration_ms)).c_str(), outcome(s).c_str(),
                rto.c_str(), rpo_verdict(s).c_str());
  }
  if (o.json) std::printf("%s\n", dump_json(all).c_str());
  else text_out("\nlast drill: %s\n", drill_status(last_drill(dir.path()), rb, now_ms()).c_str());
  return 0;
}

}  // namespace baton
