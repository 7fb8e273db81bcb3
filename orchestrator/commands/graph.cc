// baton graph [RUNBOOK]: Graphviz DOT of the state machine, and the plan.
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "states/machine.h"

namespace baton {

int cmd_graph(const Options& o) {
  std::string dot = machine_dot();
  if (!o.runbook.empty()) {
    Runbook rb;
    if (!load_runbook(o.runbook, &rb, false)) return 2;
    // The plan: each phase's steps as a note beside its state.
    std::string notes;
    for (Phase p : all_phases()) {
      std::string ids;
      for (const Step& s : rb.steps)
        if (s.phase == p) ids += s.id + "\\l";
      if (ids.empty()) continue;
      std::string n = "steps_" + std::string(name(p));
      notes += "  " + n + " [shape=note, fontsize=9, label=\"" + ids + "\"];\n";
      notes += "  " + std::string(name(p)) + " -> " + n + " [style=dotted, arrowhead=none];\n";
    }
    dot.insert(dot.rfind('}'), notes);
  }
  std::printf("%s", dot.c_str());
  return 0;
}

}  // namespace baton
