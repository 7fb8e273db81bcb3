// What a step may have left running on a host, and the checks that keep
// anything from starting beside it: a resume after Baton was killed mid-step
// (in flight), and a retry, rerun or undo after an attempt whose command's
// end Baton did not see (connection lost, kill failed: "unsettled").
#include <algorithm>

#include "orchestrator/executor.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

// The step is its group's leader, the shell Baton started: while it lives
// (same start time, so not a reused pid) the step runs. Members left after
// it ended are daemons the step started (an application), not the step.
const char* const kCheck = R"(P=$BATON_CHECK_PGID T=$BATON_CHECK_TICKS G=$BATON_CHECK_GROUP
say() { printf '\nbaton-check: %s\n' "$1"; exit 0; }  # on a line of its own, whatever came before
if [ ! -r /proc/self/stat ]; then
  # No /proc (another system, hidepid): a live pid may be a reused one.
  if kill -0 "$P" 2>/dev/null; then say unknown; else say gone; fi
fi
if read -r l 2>/dev/null </proc/$P/stat; then
  h=${l%')'*}
  set -- ${l#"$h) "}
  if [ "$1" != Z ] && { [ "$T" = 0 ] || [ "${20}" = "$T" ]; }; then say running; fi
fi
# A kill of it failed: what outlived it (another user's) is the step too.
if [ "$G" = 1 ]; then
  for f in /proc/[0-9]*/stat; do
    read -r l 2>/dev/null <"$f" || continue
    h=${l%')'*}
    set -- ${l#"$h) "}
    [ "$1" != Z ] && [ "$3" = "$P" ] && say running
  done
fi
say gone)";

}  // namespace

const char* process_check_script() { return kCheck; }

namespace {

// The check's answer: its last tagged line (a login shell may print first).
std::string check_answer(const std::string& out) {
  constexpr std::string_view tag = "baton-check: ";
  const size_t at = out.rfind(tag);
  if (at == std::string::npos) return {};
  const size_t from = at + tag.size();
  return out.substr(from, out.find('\n', from) - from);
}

std::string what(const RunState::Process& p) { return (p.undo ? "the undo of step " : "step ") + p.step; }

// `then`: what the operator runs once it ended.
std::string how_to_stop(const RunState::Process& p, const std::string& then) {
  const std::string g = std::to_string(p.pgid);
  return "wait for it to end, or stop it (kill -TERM -" + g + " on " + p.host +
         ", as root if it runs as another user), then " + then;
}

}  // namespace

const Host* Executor::host_named(const std::string& label) const {
  for (const Site& site : rb_.sites)
    for (const Host& h : site.hosts)
      if (h.label() == label) return &h;
  return nullptr;
}

Executor::Ended Executor::process_ended(const RunState::Process& p, std::string* detail) {
  const Host* h = host_named(p.host);
  if (!h || p.pgid <= 1) return Ended::yes;  // Nowhere to look: the runbook no longer has it.
  Command c;
  c.script = kCheck;
  c.vars = {{"BATON_CHECK_PGID", std::to_string(p.pgid)},
            {"BATON_CHECK_TICKS", std::to_string(p.start_ticks)},
            {"BATON_CHECK_GROUP", p.whole_group ? "1" : "0"}};
  c.timeout = std::chrono::seconds(10);
  CommandResult r = agents_.run(*h, c);
  const std::string said = check_answer(r.out);
  if (said == "gone") return Ended::yes;
  if (said == "running") return Ended::no;
  const CommandResult shown = masked(r);
  *detail = said == "unknown" ? "the host has no /proc to tell its start time, and a process " +
                                    std::to_string(p.pgid) + " runs there"
            : !shown.error.empty() ? shown.error
            : !shown.err.empty()   ? tail_lines(shown.err, 1)
                                   : "the check printed no answer";
  return Ended::unknown;
}

std::string Executor::still_running() {
  for (const RunState::Process& p : state_.in_flight_processes) {
    std::string detail;
    const Ended e = process_ended(p, &detail);
    if (e == Ended::yes) continue;
    const std::string why = e == Ended::no ? "is still running" : "may still be running (cannot tell: " + detail + ")";
    return what(p) + " of the stopped run " + why + " on " + p.host + " (process group " + std::to_string(p.pgid) +
           "): " + how_to_stop(p, "resume");
  }
  // Unsettled ones: a rerun checks again on its own host before it starts,
  // so only what is known to run stops the resume here (a host that cannot
  // be reached would otherwise hold the run forever).
  return unsettled_running("", "resume");
}

std::string Executor::unsettled_running(const std::string& whose, const std::string& then) {
  std::string busy;
  for (const RunState::Process& p : unsettled_copy()) {
    std::string detail;
    const Ended e = process_ended(p, &detail);
    if (e == Ended::yes) settle(p);
    // Cannot tell now: kept, and the step checks again before it starts there.
    if (e != Ended::no || !busy.empty()) continue;
    busy = "an attempt of " + what(p) + whose + " ended without Baton seeing its command end, and it still runs on " +
           p.host + " (process group " + std::to_string(p.pgid) + "): " + how_to_stop(p, then);
  }
  return busy;
}

void Executor::carry_unsettled() {
  for (const RunState::Process& p : unsettled_copy()) {
    RunEvent carried{EventKind::step_process};
    if (const Step* s = find_step(p.step)) carried.phase = std::string(name(s->phase));
    carried.step = p.step;
    carried.host = p.host;
    carried.pgid = p.pgid;
    carried.start_ticks = p.start_ticks;
    carried.rollback = p.undo;
    carried.kill_failed = p.whole_group;
    carried.reason = "left by an earlier run: its end was not seen";
    emit(carried);
  }
}

void Executor::settle(const RunState::Process& p) {
  note_attempt_end(p, false);
  RunEvent ended{EventKind::step_process};
  ended.step = p.step;
  ended.host = p.host;
  ended.rollback = p.undo;
  ended.status = "ended";
  ended.reason = "its host says it ended";
  emit(ended);
}

std::string Executor::left_running() { return unsettled_running(" in an earlier run", "run this again"); }

std::string Executor::unsettled_note() {
  std::string list;
  for (const RunState::Process& p : unsettled_copy())
    list += std::string(list.empty() ? "" : "; ") + what(p) + " on " + p.host + " (process group " +
            std::to_string(p.pgid) + ")";
  if (list.empty()) return {};
  return "May still be running, its end not seen: " + list +
         ". Nothing starts beside it: Baton checks on its host before it runs there again.";
}

std::vector<RunState::Process> Executor::unsettled_copy() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.unsettled;
}

std::string Executor::clear_to_start(const std::string& step, const std::string& host, bool undo) {
  for (const RunState::Process& p : unsettled_copy()) {
    if (p.step != step || p.host != host) continue;
    std::string detail;
    const Ended e = process_ended(p, &detail);
    if (e == Ended::yes) {
      settle(p);
      continue;
    }
    const std::string state =
        e == Ended::no ? "it is still running there" : "it may still be running there (cannot tell: " + detail + ")";
    return "an earlier attempt of " + what(p) + " on " + host + " ended without Baton seeing its command end, and " +
           state + " (process group " + std::to_string(p.pgid) + "): not started beside it; " +
           how_to_stop(p, "`baton resume " + runbook_words(rb_.path) + (undo ? " --rollback`" : "`"));
  }
  return {};
}

std::function<void(long, long long)> Executor::track_process(const RunEvent& started, RunState::Process* proc) {
  return [this, started, proc](long pgid, long long ticks) {
    proc->pgid = pgid;
    proc->start_ticks = ticks;
    RunEvent p = started;
    p.kind = EventKind::step_process;
    p.pgid = pgid;
    p.start_ticks = ticks;
    emit(p);
  };
}

bool Executor::attempt_ended(RunState::Process& proc, const CommandResult& r) {
  // It started and its end was not seen: nothing starts beside it.
  const bool may_still_run = proc.pgid > 0 && !r.error.empty();
  proc.whole_group = r.kill_failed;
  note_attempt_end(proc, may_still_run);
  return may_still_run;
}

void Executor::note_attempt_end(const RunState::Process& p, bool may_still_run) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& v = state_.unsettled;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const RunState::Process& q) {
                           return q.step == p.step && q.host == p.host && q.undo == p.undo;
                         }),
          v.end());
  if (may_still_run) v.push_back(p);
}

}  // namespace baton
