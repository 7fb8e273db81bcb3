// One function per verb; cli.cc dispatches to them from one table.
// Each returns the process exit code (README: exit codes).
#pragma once
#include "orchestrator/commands/context.h"

namespace baton {

int cmd_validate(const Options& o);
int cmd_plan(const Options& o);
int cmd_graph(const Options& o);
int cmd_check(const Options& o);
int cmd_switchover(const Options& o);
int cmd_failover(const Options& o);
int cmd_drill(const Options& o);
int cmd_reverse_sync(const Options& o);
int cmd_resume(const Options& o);
int cmd_status(const Options& o);
int cmd_history(const Options& o);
int cmd_report(const Options& o);
int cmd_adopt(const Options& o);

}  // namespace baton
