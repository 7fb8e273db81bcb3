// Rollback: undo commands of the steps that ran, newest first -- and only
// where undoing cannot make things worse than the failure it undoes.
//
// Rules (README, "Rollback"):
// - A completed promote is a point of no return: undoing the steps before
//   it (making the old primary writable again, say) while the new primary
//   is writable leaves two primaries. So a rollback past a promote step
//   runs only if that step has an undo, which runs first (newest first);
//   otherwise the rollback refuses before undoing anything.
// - A step that started and failed, timed out or lost its connection may
//   have acted: its undo runs too (an undo must be safe when its step did
//   nothing).
// - The run is rolled back only when the probe then finds the original
//   source primary and the target not primary.
#include <algorithm>

#include "orchestrator/executor.h"
#include "orchestrator/host_command.h"
#include "orchestrator/plan.h"
#include "orchestrator/suggest.h"

namespace baton {

// Completed steps in completion order, then those that may have acted
// (failed, uncertain, in flight): the newest of all.
std::vector<DoneStep> Executor::rollback_candidates() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DoneStep> out = state_.done;
  std::set<std::string> maybe = state_.uncertain;
  maybe.insert(state_.in_flight.begin(), state_.in_flight.end());
  maybe.insert(state_.failed.begin(), state_.failed.end());
  for (const std::string& id : maybe) {
    const Step* s = find_step(id);
    if (!s || is_done(id)) continue;
    std::string err;
    std::vector<std::string> labels;
    for (const Host* h : resolve_hosts(rb_, roles_in(s->phase), s->on, &err)) labels.push_back(h->label());
    out.push_back({id, labels});
  }
  return out;
}

// Why the rollback must not start, or "".
std::string Executor::rollback_barrier(const std::vector<DoneStep>& candidates) const {
  if (op_ == Operation::drill) return {};  // A drill's promote is a clone's.
  for (const DoneStep& d : candidates) {
    const Step* s = find_step(d.id);
    if (!s || s->phase != Phase::promote || !s->undo.empty() || state_.undone.count(s->id)) continue;
    std::string hosts;
    for (const std::string& h : d.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
    const std::string did = is_done(s->id) ? "promoted " + hosts : "may have promoted " + hosts;
    return "a rollback is not possible: promote step " + s->id + " " + did +
           " and has no undo, so undoing the steps before it could leave two primaries";
  }
  return {};
}

bool Executor::undo_step(const Step& s, const DoneStep& d, std::string* why) {
  Step undo = s;
  undo.run = s.undo;
  undo.expect_exit = 0;
  undo.expect_stdout.reset();
  undo.expect_match.reset();
  const Vars vars = vars_now(s.phase);
  for (const std::string& label : d.hosts) {
    const Host* h = host_named(label);
    if (!h) continue;
    // Never beside the step it undoes, or an earlier try of this undo.
    if (std::string busy = clear_to_start(s.id, label, true); !busy.empty()) {
      *why = "undo of step " + s.id + " not started on " + label + ": " + busy;
      return false;
    }
    RunEvent st{EventKind::step_started};
    st.phase = "rollback";
    st.step = s.id;
    st.host = label;
    st.attempt = st.max_attempts = 1;
    st.rollback = true;
    Command c = host_command(rb_, *h, s.undo, with_host(vars, *h), s.run_as);
    c.before_start = start_gate(st);
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_.undo_started = true;
    }
    c.timeout = undo.timeout;
    c.stop = opts_.stop;
    RunState::Process proc{s.id, label, 0, 0, true};
    c.on_process = track_process(st, &proc);
    const CommandResult r = agents_.run(*h, c);
    const bool may_still_run = attempt_ended(proc, r);
    const CommandResult shown = masked(r);
    std::string fail = !r.error.empty() ? shown.error + still_there(r, proc, may_still_run)
                       : r.stopped_by    ? "stopped by signal " + std::to_string(r.stopped_by) + " (killed)"
                       : r.timed_out     ? "timed out after " + format_duration(undo.timeout)
                                         : check_expectations(undo, r, shown);
    RunEvent fin = st;
    fin.kind = EventKind::step_finished;
    fin.status = fail.empty() ? "ok" : "failed";
    fin.may_still_run = may_still_run;
    fin.kill_failed = may_still_run && r.kill_failed;
    fin.exit_code = r.exit_code;
    fin.duration = r.duration;
    fin.reason = fail;
    fin.out_tail = tail_lines(shown.out, 5);
    fin.err_tail = tail_lines(shown.err, 5);
    emit(fin);
    if (!fail.empty()) {
      *why = "undo of step " + s.id + " failed on " + label + ": " + fail;
      return false;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  state_.undone.insert(s.id);
  return true;
}

bool Executor::rollback(std::string* why) {
  const std::vector<DoneStep> todo = rollback_candidates();
  if (std::string barrier = rollback_barrier(todo); !barrier.empty()) {
    *why = barrier;
    failure_.rollback_refused = true;
    return false;
  }
  for (auto it = todo.rbegin(); it != todo.rend(); ++it) {
    const Step* s = find_step(it->id);
    if (!s || s->undo.empty() || state_.undone.count(s->id)) continue;
    if (!undo_step(*s, *it, why)) return false;
  }
  return true;
}

// Production is back on the old source only if every completed promote
// step was undone; otherwise the roles stay as the promote left them.
void Executor::restore_roles_after_rollback() {
  if (state_.roles.source == state_.roles_at_start.source && state_.roles.stale == state_.roles_at_start.stale) return;
  std::string kept;
  for (const DoneStep& d : state_.done)
    if (const Step* s = find_step(d.id); s && s->phase == Phase::promote && !state_.undone.count(s->id))
      kept += " " + s->id;
  if (!kept.empty()) {
    RunEvent note{EventKind::message};
    note.reason = "roles stay swapped: promote step(s)" + kept + " have no undo";
    emit(note);
    return;
  }
  set_roles(state_.roles_at_start);
}

// Rolled back means production is where it was: ask the hosts. Empty: so.
std::string Executor::confirm_rolled_back() {
  Observation o = observe("after the rollback");
  if (!o.probed) return {};
  const Roles& r = state_.roles_at_start;
  if (o.site_has(r.source, DbRole::primary) && !o.site_has(r.target, DbRole::primary)) return {};
  return "every undo ran, but the probe does not see " + r.source + " primary and " + r.target +
         " not primary:\n" + o.table("  ") + "The run is not rolled back";
}

// --abort: the next operation starts from what the hosts are, not from
// what this run last stored.
void Executor::record_observed_roles(const Observation& o) {
  RunEvent note{EventKind::message};
  const Roles now = state_.roles;
  std::optional<std::string> site = o.primary_site();
  if (!o.probed) return;
  if (!site) {
    note.reason = (o.split_brain() ? o.split_brain_text() : "no primary") + ": the stored roles stay (source " +
                  now.source + ", target " + now.target + "); repair by hand, then `baton adopt " + runbook_words(rb_.path) +
                  " --source SITE`";
    emit(note);
    return;
  }
  if (*site == now.source) return;
  const std::string other = *site == now.target ? now.source : now.target;
  // A side that stopped being the source is not a verified replica yet.
  Roles n{*site, other, other};
  set_roles(n);
  note.reason = "roles recorded as the probe sees them: source " + n.source + ", target " + n.target + " (stale until `baton reverse-sync " + runbook_words(rb_.path) + "`)";
  emit(note);
}

}  // namespace baton
