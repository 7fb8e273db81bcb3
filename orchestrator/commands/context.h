// What every verb shares: the parsed command line, loading the runbook,
// opening the state directory, making agents, asking the operator.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/executor.h"
#include "orchestrator/journal.h"
#include "orchestrator/json.h"
#include "orchestrator/state_dir.h"
#include "runbooks/loader.h"
#include "runbooks/model.h"

namespace baton {

// Everything the command line can say; each verb reads what it uses.
struct Options {
  // Global flags.
  bool yes = false;
  bool json = false;
  std::string color = "auto";  // auto | always | never
  std::string state_dir;
  std::string known_hosts;
  bool accept_new_host_keys = false;
  bool accept_data_loss = false;    // failover past the RPO
  bool accept_split_brain = false;  // failover while two hosts are primary
  int connection_attempts = 0;  // 0: the runbook's, else ssh_config's, else the default
  // Positional arguments.
  std::string runbook;
  std::string operation;  // plan, graph
  std::string run;        // report, resume --run
  // resume
  bool force = false;
  bool rollback = false;
  bool abort = false;
  // report
  bool html = false;
  // status
  bool offline = false;  // no probe
  // adopt
  std::string source;
};

// "baton: error: MSG" on stderr, control characters shown visibly.
void fail(const std::string& msg);
// printf for text views: what hosts and steps printed may hold terminal
// escapes (clear the screen, set the title, write the clipboard); they are
// shown as \x1b and the like, never sent to the terminal as they are.
void text_out(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Loads and validates; prints every mistake as FILE:LINE:COL. False: exit 2.
// read_values false: { env } and { file } values are not read (verbs that run nothing).
bool load_runbook(const std::string& path, Runbook* out, bool read_values = true);
// The same for a verb's RUNBOOK; with --json the mistakes are also one JSON
// document on stdout, as `validate --json` prints them: {file, ok: false,
// diagnostics: [{file, line, column, message}]}.
bool load_runbook(const Options& o, Runbook* out, bool read_values = true);
// That document for a load's result (`validate --json` adds more when ok).
JsonValue diagnostics_json(const std::string& file, const LoadResult& r);

// Opens (creating) the runbook's state directory; prints the error.
bool open_state(const Options& o, const Runbook& rb, StateDir* dir);
// Opens it to read only, creating nothing (status, history, report);
// prints the error.
bool read_state(const Options& o, const Runbook& rb, StateDir* dir);

// The newest run and its journal; false when there is none. A damaged
// journal sets out->damaged.
bool last_run(const StateDir& dir, RunSummary* out, std::vector<Json>* records = nullptr);

// A new run id: UTC start time first, so ids sort by start.
std::string new_run_id();
// "2026-11-30T23:15:40Z" from ms since the epoch.
std::string iso_time(long long ms);
std::string whoami();
std::string hostname();

// One agent per host: local, or SSH with the host key policy of `o`.
AgentPool::Factory agent_factory(const Runbook& rb, const Options& o);

// Asks on the terminal (stderr), reads stdin: true only for y/yes.
bool ask_on_terminal(const std::string& question);

// The runbook's [replication] roles, for a runbook with no state yet.
Roles initial_roles(const Runbook& rb);
// The roles the state directory holds, or the runbook's; creates nothing.
// False (error printed) when the state directory is unsafe.
bool current_roles(const Options& o, const Runbook& rb, Roles* out);
// Where current_roles came from: "STATE/roles" or "the runbook's [replication] (no run yet)".
std::string roles_origin(const Options& o, const Runbook& rb);
// Does the state directory hold roles?
bool has_stored_roles(const Options& o, const Runbook& rb);

}  // namespace baton
