// The command line: global flags, and every verb dispatched from one table.
#include "orchestrator/cli.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "baton_version.h"
#include "orchestrator/commands/commands.h"
#include "orchestrator/suggest.h"
#include "runbooks/names.h"

namespace baton {
namespace {

// What a verb takes besides the global flags.
enum class Args { runbook, runbook_optional, runbook_operation, runbook_run };

// "0.3.0 (git c8af6d4)", or "0.3.0" when not built from a git checkout.
std::string version_text() {
  std::string v = std::string("baton ") + BATON_VERSION;
  if (*BATON_GIT_REVISION) v += std::string(" (git ") + BATON_GIT_REVISION + ")";
  return v;
}

struct Verb {
  const char* name;
  const char* help;
  Args args;
  int (*run)(const Options&);
  void (*extra)(CLI::App&, Options&);  // verb-only flags, or nullptr
};

void resume_flags(CLI::App& c, Options& o) {
  c.add_option("--run", o.run, "Run id (default: the last run)");
  c.add_flag("--force", o.force, "Resume even though the runbook changed");
  auto* rbk = c.add_flag("--rollback", o.rollback, "Undo the completed steps, newest first");
  c.add_flag("--abort", o.abort, "End the run for good")->excludes(rbk);
}

void report_flags(CLI::App& c, Options& o) { c.add_flag("--html", o.html, "HTML instead of text"); }

void status_flags(CLI::App& c, Options& o) {
  c.add_flag("--offline", o.offline, "Do not probe the hosts: show only what the state directory says");
}

void adopt_flags(CLI::App& c, Options& o) {
  c.add_option("--source", o.source, "The site that is the primary now")->required();
}

// The verbs, in the order `baton --help` lists them.
const Verb kVerbs[] = {
    {"validate", "Check a runbook; errors as FILE:LINE:COL: message", Args::runbook, cmd_validate, nullptr},
    {"plan", "What would run, in order, where; connects to nothing", Args::runbook_operation, cmd_plan, nullptr},
    {"graph", "Graphviz DOT of the state machine; with OPERATION, that operation's path and steps",
     Args::runbook_optional, cmd_graph, nullptr},
    {"check", "Preflight only: reachability, host keys, preflight steps", Args::runbook, cmd_check, nullptr},
    {"switchover", "Planned role swap", Args::runbook, cmd_switchover, nullptr},
    {"failover", "Unplanned: the source is lost", Args::runbook, cmd_failover, nullptr},
    {"drill", "Test mode: production untouched", Args::runbook, cmd_drill, nullptr},
    {"reverse-sync", "After a failover: rebuild the old source as a replica of the new one", Args::runbook, cmd_reverse_sync, nullptr},
    {"resume", "Continue an interrupted or failed run", Args::runbook, cmd_resume, resume_flags},
    {"status", "Roles (stored and probed), stale sides, the last or running run", Args::runbook, cmd_status,
     status_flags},
    {"history", "Past runs", Args::runbook, cmd_history, nullptr},
    {"report", "A run's report (text; --json; --html)", Args::runbook_run, cmd_report, report_flags},
    {"adopt", "Record the roles the hosts have now, after a repair by hand", Args::runbook, cmd_adopt, adopt_flags},
};

// Global flags, on the app and on every verb (so each verb's --help lists them).
void global_flags(CLI::App& c, Options& o) {
  c.add_flag("-y,--yes", o.yes, "Answer yes to every confirmation");
  c.add_flag("--json", o.json, "Print events or results as JSON");
  c.add_option("--color", o.color, "Colour on a terminal: auto (not under NO_COLOR), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  c.add_option("--state-dir", o.state_dir,
               "State directory (default $BATON_STATE_DIR, $XDG_STATE_HOME/baton, ~/.local/state/baton)");
  c.add_option("--known-hosts", o.known_hosts, "known_hosts file for SSH host keys");
  c.add_flag("--accept-new-host-keys", o.accept_new_host_keys, "Trust and record host keys seen for the first time");
  c.add_flag("--accept-data-loss", o.accept_data_loss,
             "Promote even when the measured data loss exceeds the RPO (failover)");
  c.add_flag("--accept-split-brain", o.accept_split_brain,
             "Fail over even though two hosts say they are primary (fences the source)");
  c.add_option("--connection-attempts", o.connection_attempts,
               "Tries when an SSH connect is refused or reset (default: [ssh] connection_attempts, "
               "ssh_config's ConnectionAttempts, else 4)")
      ->check(CLI::Range(1, 100));
}

void positionals(CLI::App& c, Args a, Options& o) {
  const char* rb = "Runbook file (TOML)";
  switch (a) {
    case Args::runbook: c.add_option("RUNBOOK", o.runbook, rb)->required(); break;
    case Args::runbook_optional:
      c.add_option("RUNBOOK", o.runbook, rb);
      c.add_option("OPERATION", o.operation, "Draw only this operation's path (needs RUNBOOK)");
      break;
    case Args::runbook_operation:
      c.add_option("RUNBOOK", o.runbook, rb)->required();
      c.add_option("OPERATION", o.operation, "switchover, failover, drill or reverse-sync")->required();
      break;
    case Args::runbook_run:
      c.add_option("RUNBOOK", o.runbook, rb)->required();
      c.add_option("RUN", o.run, "Run id (default: the last run)");
      break;
  }
}

const char* const kExitCodes =
    "Exit codes: 0 done; 1 the operation failed (resumable); 2 invalid usage or runbook;\n"
    "3 preflight failed, nothing changed (also: split brain or no primary observed, stored roles\n"
    "that contradict the hosts, a stale side, a run waiting to be resumed); 4 confirmation needed\n"
    "or refused (also: a data loss over the RPO); 5 another run holds the lock;\n"
    "130/143 stopped by SIGINT/SIGTERM (the run can be resumed).";

// The first word that is not a flag (or a flag's value): the verb.
std::string verb_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (a[0] != '-') return a;
    if (std::strchr(a, '=')) continue;
    for (const char* takes_value : {"--state-dir", "--known-hosts", "--color", "--connection-attempts"})
      if (std::strcmp(a, takes_value) == 0) ++i;
  }
  return {};
}

// Output that did not reach stdout (a full disk, a closed pipe) is said, not
// lost in silence. A verb whose product is its output fails (exit 1); a run
// keeps its own exit code: its journal has everything.
int checked_output(int rc, const std::string& verb) {
  int err = errno;  // A write that failed earlier left its cause here, most likely.
  if (err != ENOSPC && err != EPIPE && err != EBADF && err != EIO && err != EFBIG && err != EDQUOT) err = 0;
  errno = 0;
  if (std::fflush(stdout) != 0) err = errno;
  else if (!std::ferror(stdout)) return rc;
  const std::string why = err ? std::string(": ") + std::strerror(err) : "";
  const bool run = verb == "switchover" || verb == "failover" || verb == "drill" || verb == "reverse-sync" ||
                   verb == "resume" || verb == "adopt";
  std::fprintf(stderr, "baton: error: cannot write to standard output%s; the output is incomplete%s\n", why.c_str(),
               run ? " (the run's journal is complete: `baton report`)" : "");
  return rc == 0 && !run ? 1 : rc;
}

// A missing or unknown verb, said with the verbs (and the one probably
// meant); false when the verb is fine or help or the version is asked for.
bool verb_missing_or_unknown(int argc, char** argv) {
  std::vector<std::string> names;
  std::string list;
  for (const Verb& v : kVerbs) {
    names.push_back(v.name);
    list += (list.empty() ? "" : ", ") + std::string(v.name);
  }
  const std::string w = verb_word(argc, argv);
  if (w.empty()) {
    for (int i = 1; i < argc; ++i)
      for (const char* f : {"-h", "--help", "--help-all", "--version"})
        if (std::strcmp(argv[i], f) == 0) return false;
    std::fprintf(stderr, "baton: error: a command is required (commands: %s); `baton --help` explains them\n",
                 list.c_str());
    return true;
  }
  if (std::find(names.begin(), names.end(), w) != names.end()) return false;
  const std::string n = nearest(w, names);
  std::fprintf(stderr, "baton: error: unknown command '%s'%s (commands: %s)\n", w.c_str(),
               n.empty() ? "" : ("; did you mean '" + n + "'?").c_str(), list.c_str());
  return true;
}

}  // namespace

int run_cli(int argc, char** argv) {
  if (verb_missing_or_unknown(argc, argv)) return 2;
  CLI::App app{"Baton: hands production from one site to the other and back."};
  app.require_subcommand(1);
  app.footer(kExitCodes);
  Options o;
  global_flags(app, o);
  app.set_help_all_flag("--help-all", "Print the help of every verb");
  app.set_version_flag("--version", version_text());
  std::vector<std::pair<CLI::App*, const Verb*>> subs;
  for (const Verb& v : kVerbs) {
    CLI::App* c = app.add_subcommand(v.name, v.help);
    positionals(*c, v.args, o);
    if (v.extra) v.extra(*c, o);
    global_flags(*c, o);
    c->footer(kExitCodes);
    subs.emplace_back(c, &v);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    app.exit(e);
    return 2;
  }
  set_suggested_state_dir(o.state_dir);  // suggested commands act on this state too
  for (const auto& [c, v] : subs)
    if (*c) return checked_output(v->run(o), v->name);
  return 2;
}

}  // namespace baton
