#include "orchestrator/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "agents/local_agent.h"
#include "agents/ssh_agent.h"
#include "orchestrator/executor.h"
#include "orchestrator/plan.h"
#include "orchestrator/progress.h"
#include "runbooks/loader.h"
#include "states/machine.h"

namespace baton {
namespace {

struct Flags {
  bool yes = false;
  bool json = false;
  std::string state_dir;
  std::string known_hosts;
  bool accept_new = false;
  std::string runbook;
  std::string operation;
};

void fail(const std::string& msg) { std::fprintf(stderr, "baton: error: %s\n", msg.c_str()); }

// Loads and validates; prints every mistake. False: exit 2.
bool load(const std::string& path, Runbook* out) {
  LoadResult r = load_runbook_file(path);
  for (const Diagnostic& d : r.errors) std::fprintf(stderr, "%s\n", d.str().c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "baton: %zu error%s in %s\n", r.errors.size(), r.errors.size() == 1 ? "" : "s",
                 path.c_str());
    return false;
  }
  *out = std::move(r.runbook);
  return true;
}

std::string run_id() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", rd() & 0xffff);
  return std::string(buf) + suffix;
}

std::string whoami() {
  const char* u = std::getenv("USER");
  return u && *u ? u : std::to_string(::getuid());
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

AgentPool::Factory agent_factory(const Runbook& rb, const Flags& f) {
  std::string known_hosts = !f.known_hosts.empty() ? f.known_hosts : rb.known_hosts;
  bool accept_new = f.accept_new;
  return [known_hosts, accept_new](const Host& h) -> std::unique_ptr<Agent> {
    if (h.is_local()) return std::make_unique<LocalAgent>();
    SshOptions o;
    o.host_label = h.label();
    o.address = h.address;
    o.port = h.port;
    o.user = h.user;
    o.identity = h.identity;
    o.host_key_pin = h.host_key;
    o.known_hosts_file = known_hosts;
    o.accept_new_host_keys = accept_new;
    return std::make_unique<SshAgent>(o);
  };
}

bool ask_on_terminal(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "y" || line == "Y" || line == "yes";
}

Roles initial_roles(const Runbook& rb) { return Roles{rb.source, rb.target, ""}; }

int cmd_validate(const Flags& f) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  std::printf("%s: ok: runbook \"%s\", %zu sites, %zu steps\n", f.runbook.c_str(), rb.name.c_str(),
              rb.sites.size(), rb.steps.size());
  return 0;
}

int cmd_plan(const Flags& f) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  std::optional<Operation> op = parse_operation(f.operation);
  if (!op) {
    fail("unknown operation \"" + f.operation + "\"; expected switchover, failover, drill or reverse-sync");
    return 2;
  }
  StateDir dir;
  Roles roles = initial_roles(rb);
  // Read the roles if there is state; create nothing.
  std::string root = state_root(f.state_dir);
  if (::access((root + "/" + rb.name).c_str(), F_OK) == 0 && StateDir::open(root, rb.name, &dir).empty())
    roles = dir.load_roles(roles);
  std::printf("%s", render_plan(rb, *op, roles).c_str());
  return 0;
}

int cmd_graph(const Flags& f) {
  std::string dot = machine_dot();
  if (!f.runbook.empty()) {
    Runbook rb;
    if (!load(f.runbook, &rb)) return 2;
    // The plan: each phase's steps as a note beside its state.
    std::string notes;
    for (Phase p : all_phases()) {
      std::string ids;
      for (const Step& s : rb.steps)
        if (s.phase == p) ids += s.id + "\\l";
      if (ids.empty()) continue;
      std::string n = "steps_" + std::string(name(p));
      notes += "  " + n + " [shape=note, fontsize=9, label=\"" + ids + "\"];\n";
      notes += "  " + std::string(name(p)) + " -> " + n + " [style=dotted, arrowhead=none];\n";
    }
    dot.insert(dot.rfind('}'), notes);
  }
  std::printf("%s", dot.c_str());
  return 0;
}

int cmd_run(const Flags& f, Operation op) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  StateDir dir;
  std::string err = StateDir::open(state_root(f.state_dir), rb.name, &dir);
  if (!err.empty()) {
    fail(err);
    return 1;
  }
  const std::string id = run_id();
  RunLock lock;
  std::time_t now = std::time(nullptr);
  char started[64];
  std::strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  err = lock.acquire(dir, "pid " + std::to_string(::getpid()) + " on " + hostname() + ", user " + whoami() +
                              ", " + std::string(name(op)) + " started " + started + " (run " + id + ")");
  if (!err.empty()) {
    fail(err);
    return 5;
  }

  EventBus bus;
  TerminalProgress progress(stdout, ::isatty(STDOUT_FILENO));
  JsonLines json(stdout);
  bus.add(f.json ? static_cast<EventSink*>(&json) : &progress);

  AgentPool agents(agent_factory(rb, f));
  ExecutorOptions opts;
  opts.run_id = id;
  opts.yes = f.yes;
  if (::isatty(STDIN_FILENO)) opts.ask = ask_on_terminal;
  opts.save_roles = [&dir](const Roles& r) { return dir.save_roles(r); };

  RunState st;
  st.roles = dir.load_roles(initial_roles(rb));
  Executor ex(rb, op, agents, bus, opts);
  RunResult res = ex.run(std::move(st));
  if (!res.message.empty()) std::fprintf(stderr, "baton: %s%s\n", res.exit_code ? "error: " : "", res.message.c_str());
  return res.exit_code;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"Baton: hands production from one site to the other and back."};
  app.require_subcommand(1);
  Flags f;
  app.add_flag("-y,--yes", f.yes, "Answer yes to every confirmation");
  app.add_flag("--json", f.json, "Print events as JSON lines");
  app.add_option("--state-dir", f.state_dir, "State directory (default $BATON_STATE_DIR, "
                                             "$XDG_STATE_HOME/baton, ~/.local/state/baton)");
  app.add_option("--known-hosts", f.known_hosts, "known_hosts file for SSH host keys");
  app.add_flag("--accept-new-host-keys", f.accept_new, "Trust and record host keys seen for the first time");
  app.set_help_all_flag("--help-all");

  auto runbook_cmd = [&](const char* verb, const char* help) {
    CLI::App* c = app.add_subcommand(verb, help);
    c->add_option("RUNBOOK", f.runbook, "Runbook file (TOML)")->required();
    return c;
  };
  CLI::App* validate = runbook_cmd("validate", "Check a runbook; errors as FILE:LINE:COL: message");
  CLI::App* plan = runbook_cmd("plan", "What would run, in order, where; connects to nothing");
  plan->add_option("OPERATION", f.operation, "switchover, failover, drill or reverse-sync")->required();
  CLI::App* graph = app.add_subcommand("graph", "Graphviz DOT of the state machine (and the plan)");
  graph->add_option("RUNBOOK", f.runbook, "Runbook file (TOML)");
  CLI::App* switchover = runbook_cmd("switchover", "Planned role swap");
  CLI::App* failover = runbook_cmd("failover", "Unplanned: the source is lost");
  CLI::App* drill = runbook_cmd("drill", "Test mode: production untouched");
  CLI::App* reverse = runbook_cmd("reverse-sync", "Make the rebuilt old source a replica again");
  // Global flags also after the verb.
  for (CLI::App* c : {validate, plan, graph, switchover, failover, drill, reverse}) c->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    app.exit(e);
    return 2;
  }
  if (*validate) return cmd_validate(f);
  if (*plan) return cmd_plan(f);
  if (*graph) return cmd_graph(f);
  if (*switchover) return cmd_run(f, Operation::switchover);
  if (*failover) return cmd_run(f, Operation::failover);
  if (*drill) return cmd_run(f, Operation::drill);
  if (*reverse) return cmd_run(f, Operation::reverse_sync);
  return 2;
}

}  // namespace baton
