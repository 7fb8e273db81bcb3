// The executor: walks the state machine, runs each phase's steps through
// agents, probes the hosts where the truth matters, and reports every
// outcome as an event. executor.cc has the run's flow, steps.cc how a step
// runs, rollback.cc what a rollback may undo, verdicts.cc the RPO gate.
#pragma once
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agents/agent.h"
#include "orchestrator/agent_pool.h"
#include "orchestrator/events.h"
#include "orchestrator/probe.h"
#include "orchestrator/redact.h"
#include "orchestrator/state_dir.h"
#include "runbooks/model.h"
#include "states/machine.h"

namespace baton {

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
  // Steps that started and then failed: they may have acted, so a
  // rollback runs their undo too.
  std::set<std::string> failed;
  // Steps whose captured secret the journal masked: they run again.
  std::set<std::string> recapture;
  // An undo command has run: the rollback has begun for real, and going
  // forward would redo half-undone work.
  bool undo_started = false;
  // The latest data loss a `measures = "data_loss"` step reported.
  std::optional<Measured> data_loss;
  // Process groups of steps (and undos) that may have been in flight: a
  // resume must not start a step while a copy of it may still run.
  struct Process {
    std::string step, host;
    long pgid = 0;
    long long start_ticks = 0;
    bool undo = false;  // the step's undo command, not the step
    // A kill of it failed: any live member of the group counts, not only
    // its first process (which the kill may have ended).
    bool whole_group = false;
  };
  std::vector<Process> in_flight_processes;
  // Attempts that ended without their command's end seen (connection lost,
  // kill failed): before the step or its undo starts again on that host,
  // Baton checks that these ended. Latest per step, host and undo.
  std::vector<Process> unsettled;
};

struct ExecutorOptions {
  std::string run_id;
  std::string user, machine;  // who runs it, where: for the record
  bool yes = false;
  // Asks the operator; nullptr when there is no terminal.
  std::function<bool(const std::string& question)> ask;
  // Persists roles at the moment a promote succeeds. Returns an error.
  std::function<std::string(const Roles&)> save_roles;
  // Values earlier runs kept (kept.h): every command sees them.
  Vars kept;
  // Stores values for later runs (keep = true, the measured data loss) and
  // forgets the names in `drop`, all in one write; never called by two
  // threads at once. Returns an error. nullptr: nothing is kept.
  std::function<std::string(const Vars& values, const std::vector<std::string>& drop)> keep;
  // Set by resume: retry, roll back or abort a failed run.
  std::optional<MachineEvent> recovery;
  // The roles came from the state directory (not the runbook's defaults).
  bool stored_roles = true;
  // --accept-data-loss: promote even when the measured loss exceeds the RPO.
  bool accept_data_loss = false;
  // --accept-split-brain: a failover may start while two hosts are primary.
  bool accept_split_brain = false;
  // Set when Baton is asked to stop (SIGINT, SIGTERM): the signal number.
  // Running commands are killed, no new step starts, a drill cleans up.
  const std::atomic<int>* stop = nullptr;
  // A step running longer than this is reported as still running, again
  // after each further interval, timed from the step's own start.
  std::chrono::milliseconds progress_every{std::chrono::seconds(15)};
};

struct RunResult {
  int exit_code = 0;  // README's exit codes
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
  // Probes every host (nothing if the runbook has no probe); each answer
  // is an event, so the journal keeps what was seen and when.
  Observation observe(const std::string& when);
  // Outside any run (status, check, adopt): probes with these roles in the
  // commands' variables.
  Observation observe_with(const Roles& roles, const std::string& when);
  // --abort, and closing a damaged run: store the roles the probe saw when
  // they are unambiguous (a side that stopped being the source is stale).
  void record_observed_roles(const Observation& o);

 private:
  struct StepOutcome {
    bool ok = false;
    bool refused = false;  // operator said no
    std::string why;
    std::string hint;
    std::vector<std::string> hosts;
  };
  struct Failure {  // the first failure of the run, told at its end
    std::string why;
    std::string hint;
    bool refused = false;
    bool rollback_refused = false;  // refused before undoing anything
    std::string rollback_why;       // why the rollback stopped or was refused
  };

  // -- the run's flow (executor.cc)
  std::optional<RunResult> begin_fresh(Machine& m);
  std::optional<RunResult> begin_resume(Machine& m);
  std::optional<RunResult> recapture_secrets(Machine& m);
  void drive(Machine& m);
  std::string after_phase(Phase p);
  RunResult conclude(Machine& m);
  RunResult finish(Machine& m, int code, std::string msg);
  RunResult refuse(Machine& m, int code, std::string msg);
  void emit_started();
  void fail(std::string why, std::string hint = {}, bool refused = false);
  int stopping() const { return opts_.stop ? opts_.stop->load() : 0; }

  // -- what a step may have left running (still_running.cc)
  enum class Ended { yes, no, unknown };
  // Has the shell of `p` (its group's leader, same start time) ended on
  // its host? unknown when the host does not say (*detail: why).
  Ended process_ended(const RunState::Process& p, std::string* detail);
  // At a resume: a step (or undo) of the stopped run still running, or "".
  std::string still_running();
  // Before `step` or its undo starts on `host`: "" when no earlier attempt
  // of it may still run there; else why not and what to do.
  // `undo`: for the step's undo (the advice is then to resume --rollback).
  std::string clear_to_start(const std::string& step, const std::string& host, bool undo = false);
  // An attempt ended: unsettled when its command's end was not seen.
  void note_attempt_end(const RunState::Process& p, bool may_still_run);
  // Command::on_process for the attempt `started` announced: keeps its
  // process group in *proc and journals it (step_process).
  std::function<void(long, long long)> track_process(const RunEvent& started, RunState::Process* proc);
  // After the attempt: whether it may still run (it started and its end was
  // not seen), noted in the run's state; proc learns whether a kill failed.
  bool attempt_ended(RunState::Process& proc, const CommandResult& r);
  std::vector<RunState::Process> unsettled_copy();
  // Checks every unsettled attempt (forgetting those that ended): why not
  // to go on while one is known to run ("" when none is), in words for
  // `whose` attempts and what to do `then`.
  std::string unsettled_running(const std::string& whose, const std::string& then);
  // At a fresh start, what earlier runs may have left running (carried in
  // RunState::unsettled): why not to start ("" when none is known to run);
  // those the host cannot tell about are journaled again and kept.
  std::string left_running();
  // Journals what earlier runs may have left running, so that a run that
  // stops or is refused early keeps it for the next one.
  void carry_unsettled();
  // The host said `p` ended: forgotten here and in the journal.
  void settle(const RunState::Process& p);
  // For the closing message: what may still run, or "".
  std::string unsettled_note();
  const Host* host_named(const std::string& label) const;

  // -- steps (steps.cc)
  bool run_phase(Phase p);
  // Hosts and variables from `roles` when given (re-running an old step).
  StepOutcome run_step(const Step& s, const Roles* roles = nullptr);
  bool attempt_on_host(const Step& s, const Host& h, const Vars& vars, std::string* why, std::string* captured);
  // `r` with its output masked in full (before any tail is cut from it).
  CommandResult masked(const CommandResult& r);
  // Reports `baton-notice:` lines; returns the output without them.
  std::string take_notices(const Step& s, const Host& h, const std::string& out);
  std::vector<std::string> confirmations_needed() const;
  // Stores values for later runs, except those holding a secret (an older
  // value under such a name is forgotten, not left to pass for this run's);
  // tells why not.
  void keep_values(const Step& s, const Vars& values);

  // -- rollback (rollback.cc)
  bool rollback(std::string* why);
  std::vector<DoneStep> rollback_candidates();
  std::string rollback_barrier(const std::vector<DoneStep>& candidates) const;
  bool undo_step(const Step& s, const DoneStep& d, std::string* why);
  std::string confirm_rolled_back();
  void restore_roles_after_rollback();

  // -- verdicts (verdicts.cc)
  // Before the promote: may the run lose what was measured? Empty: yes.
  bool data_loss_gate(std::string* why);
  // For --abort: "" or the completed steps whose undo did not run, by host.
  std::string not_undone() const;
  void add_verdicts(RunEvent& finished, const std::string& state) const;

  // -- shared state
  const Step* find_step(const std::string& id) const;
  bool is_done(const std::string& id) const;
  std::string set_roles(const Roles& n);
  // Variables a command sees; roles as they were in `phase` (undo runs
  // in the context of the step it undoes), or the current ones.
  Vars vars_now(std::optional<Phase> phase = std::nullopt);
  Vars vars_on(const Host& h);
  Roles roles_in(Phase p) const;
  void emit(RunEvent e);  // record(), then settled: durable where it must be
  // Written to every sink, masked, not yet settled; returns it as written.
  RunEvent record(RunEvent e);
  // A step's start, recorded: settled by the agent once the command is ready
  // on its host, before it may act (its shell starts during the journal's
  // sync). The gate says why the command must not run, if it must not.
  std::function<std::string()> start_gate(const RunEvent& started);
  void emit_probes(const Observation& o, const std::string& when);
  void mask(Observation& o);
  void tick_until(const bool* stop, std::condition_variable* cv);
  // Opens the sessions the run needs (probe, steps) in the background;
  // their events wait for run_started.
  void connect_early();

  const Runbook& rb_;
  Operation op_;
  AgentPool& agents_;
  EventSink& events_;
  ExecutorOptions opts_;
  const std::string runbook_dir_;
  std::mutex mu_;  // guards state_, redactor_, running_ while steps run in threads
  std::mutex ask_mu_;
  std::mutex keep_mu_;  // steps of a group, and hosts of a step, keep values from their own threads
  struct Running {
    std::chrono::steady_clock::time_point since;
    int notes = 0;  // "still running" notes told so far
  };
  std::map<std::string, Running> running_;  // "step on host"
  RunState state_;
  Redactor redactor_;
  Failure failure_;
  std::vector<std::string> killed_;  // "step on host" stopped by a signal
  std::vector<std::string> not_stopped_;  // ... whose kill failed: may still run
  // Fired when the machine lands in failed: rollback (on_failure), or the
  // operator's choice on resume.
  std::optional<MachineEvent> pending_recovery_;
  std::chrono::steady_clock::time_point t0_;
  bool announced_ = false;             // run_started or run_resumed is out; guarded by mu_
  std::vector<RunEvent> held_events_;  // host_connected before that; guarded by mu_
};

// How a host is reached over SSH: the runbook's port and user, else
// ~/.ssh/config's (Port, User), else 22 and the operator's login. A local
// host: no port, the operator's login.
struct Endpoint {
  std::string port;
  std::string user;
};
Endpoint ssh_endpoint(const Host& h);

// The variables a command on host h sees: `v`, then the host's name
// (BATON_HOST, BATON_HOST_SITE, BATON_HOST_ADDRESS) and its own [vars].
Vars with_host(Vars v, const Host& h);

// Did the step's result meet its expectations? Empty when it did. The
// verdict comes from `r`; the words quote `shown` (the masked output).
std::string check_expectations(const Step& s, const CommandResult& r, const CommandResult& shown);
std::string check_expectations(const Step& s, const CommandResult& r);

// The /bin/sh script that asks a host whether a step's process still runs:
// BATON_CHECK_PGID (its group), BATON_CHECK_TICKS (its start, 0: unknown),
// BATON_CHECK_GROUP (1: any live member of the group counts). Prints
// "baton-check: running|gone|unknown" on a line of its own.
const char* process_check_script();

// What a failure's words add when the command may still run (its process
// group), or "" when its end was seen.
std::string still_there(const CommandResult& r, const RunState::Process& p, bool may_still_run);

}  // namespace baton
