// baton validate RUNBOOK: every mistake as FILE:LINE:COL, exit 2.
#include <cstdio>

#include "orchestrator/commands/commands.h"

namespace baton {

int cmd_validate(const Options& o) {
  Runbook rb;
  if (!load_runbook(o.runbook, &rb)) return 2;
  std::printf("%s: ok: runbook \"%s\", %zu sites, %zu steps\n", o.runbook.c_str(), rb.name.c_str(),
              rb.sites.size(), rb.steps.size());
  return 0;
}

}  // namespace baton
