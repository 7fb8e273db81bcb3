// baton validate RUNBOOK: every mistake as FILE:LINE:COL, exit 2; with
// --json one object: {file, ok, diagnostics: [{file, line, column,
// message}], and when ok runbook, sites, steps}.
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/json.h"
#include "runbooks/loader.h"

namespace baton {
namespace {

int validate_json(const Options& o) {
  LoadResult r = load_runbook_file(o.runbook);
  JsonValue j = diagnostics_json(o.runbook, r);
  if (r.ok()) {
    j["runbook"] = r.runbook.name;
    j["sites"] = r.runbook.sites.size();
    j["steps"] = r.runbook.steps.size();
  }
  std::printf("%s\n", dump_json(j).c_str());
  return r.ok() ? 0 : 2;
}

}  // namespace

int cmd_validate(const Options& o) {
  if (o.json) return validate_json(o);
  Runbook rb;
  if (!load_runbook(o.runbook, &rb)) return 2;
  std::printf("%s: ok: runbook \"%s\", %zu sites, %zu steps\n", o.runbook.c_str(), rb.name.c_str(),
              rb.sites.size(), rb.steps.size());
  return 0;
}

}  // namespace baton
