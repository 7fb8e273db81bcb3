// baton graph [RUNBOOK [OPERATION]]: Graphviz DOT of the state machine and
// the runbook's steps; with OPERATION, only the path that operation walks,
// its failure edges folded into one note. Both drawn from the transition
// table, so the picture cannot drift from the machine.
#include <cstdio>
#include <map>
#include <set>

#include "orchestrator/commands/commands.h"
#include "orchestrator/plan.h"
#include "states/machine.h"

namespace baton {
namespace {

// Does a guard of the table admit `op`? Guards naming operations
// ("op == switchover || op == drill", "op != drill") are decided here;
// others are facts of the run ("no step failed") and admit.
bool admits(const std::string& guard, Operation op) {
  const std::string me(name(op));
  if (guard.find("op == ") != std::string::npos) return guard.find("op == " + me) != std::string::npos;
  if (guard.find("op != ") != std::string::npos) return guard.find("op != " + me) == std::string::npos;
  return true;
}
bool names_operation(const std::string& guard) { return guard.find("op ") != std::string::npos; }

// Each phase's steps (those `op` runs, when given) as a note beside its state.
std::string step_notes(const Runbook& rb, const std::optional<Operation>& op, const std::set<std::string>& states) {
  std::string notes;
  for (Phase p : all_phases()) {
    std::string ids;
    for (const Step& s : rb.steps)
      if (s.phase == p && (!op || skip_reason(s, *op).empty())) ids += s.id + "\\l";
    if (ids.empty() || !states.count(std::string(name(p)))) continue;
    std::string n = "steps_" + std::string(name(p));
    notes += "  " + n + " [shape=note, fontsize=9, label=\"" + ids + "\"];\n";
    notes += "  " + std::string(name(p)) + " -> " + n + " [style=dotted, arrowhead=none];\n";
  }
  return notes;
}

std::set<std::string> all_states() {
  std::set<std::string> s;
  for (const TransitionRow& r : transition_table()) s.insert({r.source, r.target});
  return s;
}

// The path of one operation: start and phase_done edges its guards admit.
std::string operation_dot(Operation op, std::set<std::string>* states) {
  std::string edges, failed_from;
  std::map<std::string, std::set<std::string>> failure_targets;  // target -> phases
  std::vector<std::string> todo{"idle"};
  states->insert("idle");
  while (!todo.empty()) {
    const std::string at = todo.back();
    todo.pop_back();
    for (const TransitionRow& r : transition_table()) {
      if (r.source != at || !admits(r.guard, op)) continue;
      if (r.event == "step_failed") {
        failure_targets[r.target].insert(r.source);
        continue;
      }
      if ((r.event != "start" && r.event != "phase_done") || r.target == "failed") continue;
      std::string label = r.event;
      if (!r.guard.empty() && !names_operation(r.guard)) label += "\\n[" + r.guard + "]";
      edges += "  " + r.source + " -> " + r.target + " [label=\"" + label + "\"];\n";
      if (states->insert(r.target).second) todo.push_back(r.target);
    }
  }
  // The failure edges, folded: where a failed step leads, and what then.
  std::string note;
  for (const auto& [target, from] : failure_targets)
    note += "a failed step in " + std::to_string(from.size()) + " phase" + (from.size() == 1 ? "" : "s") +
            " -> " + target + "\\l";
  note += "failed: resume (the phase that failed),\\l  rollback -> rolled_back, or abort -> aborted\\l";
  std::string id(name(op));
  for (char& c : id) c = c == '-' ? '_' : c;  // DOT ids: no dashes.
  std::string dot = "digraph baton_" + id + " {\n  rankdir=TB;\n  label=\"baton " + std::string(name(op)) +
                    "\";\n  labelloc=t;\n"
                    "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=10];\n  idle [shape=circle];\n";
  for (const char* end : {"completed", "rolled_back", "aborted"})
    if (states->count(end)) dot += "  " + std::string(end) + " [shape=doublecircle];\n";
  dot += edges;
  dot += "  failures [shape=note, color=red, fontcolor=red, fontsize=9, label=\"" + note + "\"];\n";
  return dot;
}

}  // namespace

int cmd_graph(const Options& o) {
  if (!o.operation.empty() && o.runbook.empty()) {
    fail("graph OPERATION needs a RUNBOOK");
    return 2;
  }
  Runbook rb;
  if (!o.runbook.empty() && !load_runbook(o.runbook, &rb, false)) return 2;
  std::optional<Operation> op;
  if (!o.operation.empty() && !(op = parse_operation(o.operation))) {
    fail("unknown operation \"" + o.operation + "\"; expected switchover, failover, drill or reverse-sync");
    return 2;
  }
  std::set<std::string> states;
  std::string dot = op ? operation_dot(*op, &states) + "}\n" : machine_dot();
  if (!op) states = all_states();
  if (!o.runbook.empty()) dot.insert(dot.rfind('}'), step_notes(rb, op, states));
  std::printf("%s", dot.c_str());
  return 0;
}

}  // namespace baton
