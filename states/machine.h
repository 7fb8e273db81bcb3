// The fixed, audited state machine of a run. Boost.MSM lives in machine.cc
// alone; this header is the plain interface the orchestrator uses.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runbooks/phase.h"

namespace baton {

enum class MachineEvent {
  start,          // the run begins
  phase_done,     // every step of the current phase succeeded (or was skipped)
  step_failed,    // a step failed with on_failure = abort or rollback
  resume,         // retry from the phase that failed
  rollback,       // undo completed steps, newest first
  rollback_done,  // every undo ran
  abort,          // give up: the run ends failed for good
};

std::string_view name(MachineEvent e);

// One row of the transition table, for printing and tests.
struct TransitionRow {
  std::string source;
  std::string event;
  std::string guard;  // empty: none
  std::string target;
};

// Someone who hears every state change: the journal, the progress display.
class MachineObserver {
 public:
  virtual ~MachineObserver() = default;
  virtual void on_transition(const std::string& from, MachineEvent e, const std::string& to) = 0;
};

class Machine {
 public:
  Machine(Operation op, MachineObserver* observer = nullptr);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Empty on success; otherwise why the event was refused
  // ("no transition from completed on phase_done"). Never silently dropped.
  std::string fire(MachineEvent e);

  std::string state() const;            // "preflight", "failed", "completed", ...
  std::optional<Phase> phase() const;   // the phase being run, if any
  bool finished() const;                // completed, rolled back or aborted
  bool failed() const;                  // in "failed", waiting for resume/rollback/abort
  // The phase in which the run failed (for resume), if it did.
  std::optional<Phase> failed_phase() const;
  // Rebuild a run's state (resume from a journal) by firing the events it
  // recorded, without telling the observer. Empty on success.
  std::string replay(const std::vector<MachineEvent>& events);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

const std::vector<TransitionRow>& transition_table();
// Graphviz DOT of the transition table itself.
std::string machine_dot();

}  // namespace baton
