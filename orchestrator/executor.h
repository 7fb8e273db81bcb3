// The executor: walks the state machine, runs each phase's steps through
// agents, and reports every outcome as an event.
#pragma once
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agents/agent.h"
#include "orchestrator/events.h"
#include "orchestrator/redact.h"
#include "orchestrator/state_dir.h"
#include "runbooks/model.h"
#include "states/machine.h"

namespace baton {

// One agent per host, made on first use. Steps on different hosts run in
// parallel; steps on one host take turns on its agent.
class AgentPool {
 public:
  using Factory = std::function<std::unique_ptr<Agent>(const Host&)>;
  explicit AgentPool(Factory f) : factory_(std::move(f)) {}
  // Runs on the host's agent, one command at a time per host.
  CommandResult run(const Host& h, const Command& c);
  Agent& agent(const Host& h);

 private:
  struct Slot {
    std::mutex mu;
    std::unique_ptr<Agent> agent;
  };
  Slot& slot(const Host& h);
  Factory factory_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
};

// A completed step: its undo runs on the same hosts, whatever roles say later.
struct DoneStep {
  std::string id;
  std::vector<std::string> hosts;  // labels: site.host
};

// Where a run stands; a fresh run starts empty, a resumed one from the journal.
struct RunState {
  std::vector<MachineEvent> machine_events;  // replayed into the machine
  std::vector<DoneStep> done;                // completion order
  std::set<std::string> undone;              // steps whose undo already ran
  Vars captures;
  Roles roles;
  Roles roles_at_start;  // promote swaps these, so a re-run swaps the same way
  // Steps that may have been in flight when the run stopped.
  std::set<std::string> in_flight;
  // Steps that failed without a known outcome (connection lost, timeout).
  std::set<std::string> uncertain;
  // Steps whose captured secret the journal masked: they run again.
  std::set<std::string> recapture;
};

struct ExecutorOptions {
  std::string run_id;
  std::string user, machine;  // who runs it, where: for the record
  bool yes = false;
  // Asks the operator; nullptr when there is no terminal.
  std::function<bool(const std::string& question)> ask;
  // Persists roles at the moment a promote succeeds. Returns an error.
  std::function<std::string(const Roles&)> save_roles;
  // Set by resume: retry, roll back or abort a failed run.
  std::optional<MachineEvent> recovery;
  // A step running longer than this is reported as still running, again
  // after each further interval: long work is never silent.
  std::chrono::milliseconds progress_every{std::chrono::seconds(15)};
};

struct RunResult {
  int exit_code = 0;  // DESIGN.md's exit codes
  std::string state;  // the machine's final state
  std::string message;
  Millis elapsed{0};
  Roles roles;
};

class Executor {
 public:
  Executor(const Runbook& rb, Operation op, AgentPool& agents, EventSink& events, ExecutorOptions opts);
  RunResult run(RunState state);
  // One step outside any run (`baton check`): empty when it passed.
  std::string run_one(const Step& s, const Roles& roles);

 private:
  struct StepOutcome {
    bool ok = false;
    bool refused = false;  // operator said no
    std::string why;
    std::vector<std::string> hosts;
  };
  bool run_phase(Phase p, bool* refused, std::string* why);
  // Hosts and variables from `roles` when given (re-running an old step).
  StepOutcome run_step(const Step& s, const Roles* roles = nullptr);
  const Step* find_step(const std::string& id) const;
  bool is_done(const std::string& id) const;
  bool rollback_begun() const;
  bool attempt_on_host(const Step& s, const Host& h, const Vars& vars, std::string* why,
                       std::string* captured);
  bool rollback(std::string* why);
  void restore_roles_after_rollback();
  std::string set_roles(const Roles& n);
  // Variables a command sees; roles as they were in `phase` (undo runs
  // in the context of the step it undoes), or the current ones.
  Vars vars_now(std::optional<Phase> phase = std::nullopt);
  Roles roles_in(Phase p) const;
  void emit(RunEvent e);
  void on_machine(MachineEvent e);
  std::vector<std::string> confirmations_needed() const;

  const Runbook& rb_;
  Operation op_;
  AgentPool& agents_;
  EventSink& events_;
  ExecutorOptions opts_;
  const std::string runbook_dir_;
  std::mutex mu_;  // guards state_ while a group runs
  std::mutex ask_mu_;
  // Steps running now ("step@host" -> start), for the progress ticker.
  std::map<std::string, std::chrono::steady_clock::time_point> running_;
  void tick_until(const bool* stop, std::condition_variable* cv);
  RunState state_;
  Redactor redactor_;  // guarded by mu_
  // Fired when the machine lands in failed: rollback (on_failure), or the
  // operator's choice on resume.
  std::optional<MachineEvent> pending_recovery_;
};

// Did the step's result meet its expectations? Empty when it did.
std::string check_expectations(const Step& s, const CommandResult& r);

}  // namespace baton
