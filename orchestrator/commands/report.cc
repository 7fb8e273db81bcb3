// baton report RUNBOOK [RUN]: a run's report as text, JSON or HTML
// (orchestrator/report.h: the facts, and how each shows them).
#include <algorithm>
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/report.h"

namespace baton {

int cmd_report(const Options& o) {
  if (o.json && o.html) {
    fail("--json and --html exclude each other: one report at a time");
    return 2;
  }
  Runbook rb;
  if (!load_runbook(o, &rb, false)) return 2;
  StateDir dir;
  if (!read_state(o, rb, &dir)) return 1;
  std::vector<std::string> ids = list_runs(dir.path());
  std::string id = o.run.empty() ? (ids.empty() ? "" : ids.back()) : o.run;
  if (id.empty() || std::find(ids.begin(), ids.end(), id) == ids.end()) {
    fail(id.empty() ? "no runs of \"" + rb.name + "\" yet" : "no run " + id + " in " + dir.path());
    return 2;
  }
  JournalRead jr = read_journal(journal_path(dir.path(), id));
  if (!jr.error.empty()) fail(jr.error);
  RunReport r = build_report(rb, id, jr.records, jr.error);
  r.journal_warning = jr.error.empty() ? jr.warning
                                       : jr.error + ": this report shows only the records before it, and the run's "
                                                    "outcome is unknown";
  if (o.json) std::printf("%s\n", dump_json(report_json(r, jr.records)).c_str());
  else if (o.html) std::printf("%s", report_html(r).c_str());
  else std::printf("%s", report_text(r).c_str());
  return 0;
}

}  // namespace baton
