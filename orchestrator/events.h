// Everything a run does passes through here as a RunEvent: state changes
// and step outcomes. Sinks render them (terminal, JSON lines) or record
// them (the journal) -- one place, so nothing is told one way and not another.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agents/agent.h"  // Vars
#include "runbooks/duration.h"

namespace baton {

enum class EventKind {
  run_started,     // operation, runbook (path, hash), run id, user, machine
  run_resumed,     // resume of an interrupted or failed run
  transition,      // state machine: from --event--> to
  phase_entered,   // phase
  step_skipped,    // step, reason
  step_started,    // step, host, attempt
  step_process,    // step, host: the process group running it (pgid, start_ticks)
  step_finished,   // step, host, attempt, status, exit, duration, tails
  roles_changed,   // new source/target, stale side
  probed,          // what one host said it is: host, status (role), facts
  notice,          // a step's `baton-notice:` line, for the operator and the report
  host_connected,  // host, status, attempts, started_ms + duration: a session opened early
  message,         // a note for the operator
  run_finished,    // state, exit code, elapsed
};

std::string_view name(EventKind k);

struct RunEvent {
  explicit RunEvent(EventKind k = EventKind::message) : kind(k) {}
  EventKind kind;
  std::string run_id;
  std::string operation;
  std::string runbook;
  std::string runbook_hash;
  std::string user;
  std::string machine;  // the orchestrator's host name
  std::string phase;
  std::string step;
  std::string host;
  int attempt = 0;
  int max_attempts = 0;
  std::string status;  // ok | failed | retry | timed_out | skipped | refused
  int exit_code = -1;
  int signal = 0;
  Millis duration{0};
  std::string reason;  // why skipped or failed, or the message text
  std::string from, event, to;
  std::vector<std::pair<std::string, std::string>> captures;
  // Captures whose value the journal holds masked (a secret, or a value
  // that contains one): a resume must capture them again.
  std::vector<std::string> masked_captures;
  std::string out_tail, err_tail;
  std::string source, target, stale;
  std::string rto;  // for run_finished
  Vars facts;       // probed: key=value the probe printed
  std::string hint;       // step_finished (failed): the step's hint
  std::string data_loss;  // step_finished of a measuring step, run_finished: "1234 bytes", "unknown"
  std::string data_loss_text;  // the line the step printed
  std::string rpo, rpo_verdict, rto_verdict;  // run_finished
  bool rollback = false;  // an undo command, not the step itself
  bool uncertain = false; // failed without a known outcome: may have acted
  // step_finished: the command's end was not seen (connection lost, kill
  // failed) after it started (pgid known): it may still run there.
  bool may_still_run = false;
  // step_finished, step_process: a kill of it failed, so any live member
  // of its group may be it. step_process with status "ended": the host
  // said it ended.
  bool kill_failed = false;
  long pgid = 0;            // step_process
  long long start_ticks = 0;
  long long time_ms = 0;  // wall clock, ms since the epoch (set by emit)
  // host_connected: when the connect began; run_started: when the command
  // began (before its first probe); ms since the epoch
  long long started_ms = 0;
};

// One JSON object, no newline; always valid UTF-8.
std::string to_json(const RunEvent& e);

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void emit(const RunEvent& e) = 0;
  // Writes `e` without settling it: the caller settles it before the
  // event's action begins. A plain sink settles only when told anyway.
  virtual void record(const RunEvent& e) { emit(e); }
  // After emit, outside the bus's lock, so that sinks in several threads
  // may wait here at once (the journal syncs here, one sync for them all).
  // The event's action begins only after this returns.
  virtual void settle(const RunEvent&) {}
  // Why this sink can no longer record (disk full, say); empty when fine.
  virtual std::string failure() const { return {}; }
};

// Fans events out to every sink, one event at a time (steps run in threads).
class EventBus : public EventSink {
 public:
  void add(EventSink* sink) { sinks_.push_back(sink); }
  // record() then settle().
  void emit(const RunEvent& e) override;
  void record(const RunEvent& e) override;
  void settle(const RunEvent& e) override;
  std::string failure() const override;

 private:
  mutable std::mutex mu_;
  std::vector<EventSink*> sinks_;
};

// Last n lines of text, for reports.
std::string tail_lines(const std::string& text, int n);

}  // namespace baton
