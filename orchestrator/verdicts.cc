// How a run ends, told honestly: the outcome in words with what to do
// next, the RPO judged against the loss a step measured, and the RTO only
// for a run that completed.
#include "orchestrator/executor.h"
#include "orchestrator/suggest.h"

namespace baton {

bool Executor::data_loss_gate(std::string* why) {
  if (op_ == Operation::drill || !rb_.rpo || !state_.data_loss) return true;
  const RpoVerdict v = judge_rpo(rb_.rpo, state_.data_loss);
  if (!v.exceeds()) return true;
  const std::string loss = state_.data_loss->amount ? format_quantity(*state_.data_loss->amount) : "an unknown amount";
  const std::string what = "promoting now loses " + loss + " (\"" + state_.data_loss->text + "\"); the RPO is " +
                           rb_.rpo_text + ": " + v.text;
  RunEvent note{EventKind::message};
  note.phase = "promote";
  if (opts_.accept_data_loss) {
    note.reason = what + "; accepted (--accept-data-loss)";
    emit(note);
    return true;
  }
  if (opts_.ask) {
    std::lock_guard<std::mutex> one_question_at_a_time(ask_mu_);
    if (opts_.ask(what + ". Promote anyway?")) {
      note.reason = what + "; accepted by the operator";
      emit(note);
      return true;
    }
    *why = what + "; refused by the operator";
    return false;
  }
  *why = what + "; no terminal to ask on";
  return false;
}

void Executor::add_verdicts(RunEvent& e, const std::string& state) const {
  if (rb_.rto) e.rto = std::to_string(rb_.rto->count()) + "ms";
  // The RTO means something only for a run that got there.
  if (rb_.rto && state == "completed") e.rto_verdict = e.duration <= *rb_.rto ? "met" : "missed";
  e.rpo = rb_.rpo_text;
  if (state_.data_loss) e.data_loss = state_.data_loss->amount ? format_quantity(*state_.data_loss->amount) : "unknown";
  if (rb_.rpo || state_.data_loss) e.rpo_verdict = judge_rpo(rb_.rpo, state_.data_loss).text;
}

// What an abort leaves as it is: steps that ran and have an undo that did
// not run (an application stopped, say), with their hosts.
std::string Executor::not_undone() const {
  std::string out;
  for (const DoneStep& d : state_.done) {
    const Step* s = find_step(d.id);
    if (!s || s->undo.empty() || state_.undone.count(d.id)) continue;
    std::string hosts;
    for (const std::string& h : d.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
    out += "\n  " + d.id + " on " + hosts;
  }
  return out.empty() ? out : ". These steps ran and were not undone; see to them by hand:" + out;
}

RunResult Executor::conclude(Machine& m) {
  const std::string st = m.state();
  const std::string rb = rb_.path;
  const std::string op(name(op_));
  int code = 1;
  std::string msg;
  if (st == "completed") {
    code = 0;
  } else if (int sig = stopping(); sig && st == "failed") {
    std::optional<Phase> fp = m.failed_phase();
    code = 128 + sig;
    msg = op + " stopped by signal " + std::to_string(sig) + (fp ? " in " + std::string(name(*fp)) : "");
    std::string killed, running;
    for (const std::string& k : killed_) killed += (killed.empty() ? "" : ", ") + k;
    for (const std::string& k : not_stopped_) running += (running.empty() ? "" : ", ") + k;
    if (killed.empty() && running.empty()) msg += ": no step was running.";
    if (!killed.empty()) msg += ": killed " + killed + ".";
    if (!running.empty())
      msg += std::string(killed.empty() ? ":" : "") + " could not stop " + running + ": it may still be running there.";
    if (op_ == Operation::drill)
      msg += "\nThe drill's cleanup ran and production was not changed: run the drill again.";
    else if (fp == Phase::preflight)
      msg += "\nNothing was changed: run `baton " + op + " " + runbook_words(rb) + "` again.";
    else if (state_.undo_started)  // resume goes on only with --rollback then
      msg += "\n`baton resume " + runbook_words(rb) + " --rollback` goes on undoing (or `--abort`).";
    else
      msg += "\n`baton resume " + runbook_words(rb) + "` goes on from there (or `--rollback`, `--abort`).";
  } else if (st == "failed") {
    std::optional<Phase> fp = m.failed_phase();
    code = failure_.refused ? 4 : (fp == Phase::preflight ? 3 : 1);
    msg = op + " failed";
    if (fp) msg += " in " + std::string(name(*fp));
    msg += ": " + (!failure_.why.empty()          ? failure_.why
                   : !failure_.rollback_why.empty() ? std::string("its rollback did not finish")
                                                    : std::string("the run was stopped")) +
           ".";
    if (!failure_.hint.empty()) msg += "\nhint: " + failure_.hint;
    if (!failure_.rollback_why.empty())
      msg += "\nThe rollback " + std::string(failure_.rollback_refused ? "was refused" : "stopped") + ": " +
             failure_.rollback_why + ".";
    std::string next;
    if (op_ == Operation::drill) {
      next = "The drill's cleanup ran and production was not changed: fix the cause and run the drill again.";
    } else if (code == 3) {
      next = "Nothing was changed: fix the cause and run `baton " + op + " " + runbook_words(rb) + "` again.";
    } else if (failure_.refused && fp == Phase::promote) {
      next = "`baton resume " + runbook_words(rb) + " --accept-data-loss` promotes anyway; `baton resume " + runbook_words(rb) +
             " --abort` ends the run.";
    } else if (failure_.rollback_refused) {
      next = "Nothing was undone: `baton resume " + runbook_words(rb) + "` goes on from the failed step, `baton resume " + runbook_words(rb) +
             " --abort` ends the run.";
    } else if (state_.undo_started) {
      next = "Fix the cause, then `baton resume " + runbook_words(rb) + " --rollback` goes on undoing (or `--abort`).";
    } else {
      const std::string barrier = rollback_barrier(rollback_candidates());
      next = "Fix the cause, then `baton resume " + runbook_words(rb) + "` retries from the failed step" +
             (barrier.empty() ? " (or `--rollback`, `--abort`)." : " (or `--abort`; " + barrier + ").");
    }
    msg += "\n" + next;
  } else if (st == "rolled_back") {
    msg = op + " was rolled back" + (failure_.why.empty() ? "" : " after: " + failure_.why);
  } else if (st == "aborted" && opts_.recovery == MachineEvent::abort) {
    code = 0;  // The operator's call, carried out: the run is over.
    msg = "run " + opts_.run_id + " aborted; nothing was undone" + not_undone();
  } else {
    msg = op + " ended " + st + (failure_.why.empty() ? "" : ": " + failure_.why);
  }
  if (std::string left = unsettled_note(); !left.empty()) msg += (msg.empty() ? "" : "\n") + left;
  if (const std::string lost = events_.failure(); code == 0 && !lost.empty()) {
    // Done on the hosts, but not on record: after a crash it would read as
    // unfinished. Not "done" then.
    code = 1;
    msg = (st == "aborted" ? "the abort of run " + opts_.run_id + " could not be recorded (" + lost +
                                 "): the run still waits; make room, then `baton resume " + runbook_words(rb) +
                                 " --abort` again"
                           : op + " " + st + " on the hosts, but its journal could not record that (" + lost +
                                 "); `baton status " + runbook_words(rb) +
                                 "` shows what the journal says (if it says the run waits, `baton resume " +
                                 runbook_words(rb) + "` finishes it)") +
          ".";
  }
  RunResult res = finish(m, code, msg);
  RunEvent e{EventKind::run_finished};
  e.status = st;
  e.exit_code = code;
  if (st == "failed" && m.failed_phase()) e.phase = std::string(name(*m.failed_phase()));
  e.duration = res.elapsed;
  e.reason = msg;
  add_verdicts(e, st);
  emit(e);
  return res;
}

}  // namespace baton
