#include "orchestrator/cli.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "agents/local_agent.h"
#include "agents/ssh_agent.h"
#include "orchestrator/executor.h"
#include "orchestrator/journal.h"
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

// UTC time first, so ids sort by start; a random tail keeps them unique.
std::string run_id() {
  auto now = std::chrono::system_clock::now();
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char tail[16];
  std::snprintf(tail, sizeof tail, ".%03lld-%04x", ms % 1000, rd() & 0xffff);
  return std::string(buf) + tail;
}

std::string iso_time(long long ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string whoami() {
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
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

// The roles the state directory holds, if it exists; creates nothing.
Roles current_roles(const Flags& f, const Runbook& rb) {
  const std::string root = state_root(f.state_dir);
  StateDir dir;
  if (::access((root + "/" + rb.name).c_str(), F_OK) == 0 && StateDir::open(root, rb.name, &dir).empty())
    return dir.load_roles(initial_roles(rb));
  return initial_roles(rb);
}

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
  const Roles roles = current_roles(f, rb);
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

// Opens the runbook's state directory; prints the error.
bool open_state(const Flags& f, const Runbook& rb, StateDir* dir) {
  std::string err = StateDir::open(state_root(f.state_dir), rb.name, dir);
  if (!err.empty()) fail(err);
  return err.empty();
}

// The newest run and what its journal says; false when there is none.
bool last_run(const StateDir& dir, RunSummary* out, std::vector<Json>* records = nullptr) {
  std::vector<std::string> ids = list_runs(dir.path());
  if (ids.empty()) return false;
  JournalRead jr = read_journal(journal_path(dir.path(), ids.back()));
  *out = summarize(ids.back(), jr.records);
  if (records) *records = std::move(jr.records);
  return true;
}

// Runs (or resumes) an operation with the lock held and the journal on.
int execute(const Flags& f, const Runbook& rb, Operation op, StateDir& dir, const std::string& id,
            RunState st, std::optional<MachineEvent> recovery) {
  EventBus bus;
  Journal journal;
  ::mkdir((dir.path() + "/runs").c_str(), 0700);
  journal.open(journal_path(dir.path(), id));
  bus.add(&journal);
  TerminalProgress progress(stdout, ::isatty(STDOUT_FILENO));
  JsonLines json(stdout);
  bus.add(f.json ? static_cast<EventSink*>(&json) : &progress);

  AgentPool agents(agent_factory(rb, f));
  ExecutorOptions opts;
  opts.run_id = id;
  opts.user = whoami();
  opts.machine = hostname();
  opts.yes = f.yes;
  opts.recovery = recovery;
  if (::isatty(STDIN_FILENO)) opts.ask = ask_on_terminal;
  opts.save_roles = [&dir](const Roles& r) { return dir.save_roles(r); };

  Executor ex(rb, op, agents, bus, opts);
  RunResult res = ex.run(std::move(st));
  if (!res.message.empty())
    std::fprintf(stderr, "baton: %s%s\n", res.exit_code ? "error: " : "", res.message.c_str());
  if (!journal.failure().empty()) fail(journal.failure());
  return res.exit_code;
}

std::string holder_info(const std::string& what, const std::string& id) {
  return "pid " + std::to_string(::getpid()) + " on " + hostname() + ", user " + whoami() + ", " +
         what + " started " + iso_time(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            std::chrono::system_clock::now().time_since_epoch())
                                                            .count()) +
         (id.empty() ? "" : " (run " + id + ")");
}

int cmd_run(const Flags& f, Operation op) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  StateDir dir;
  if (!open_state(f, rb, &dir)) return 1;
  const std::string id = run_id();
  RunLock lock;
  bool held = false;
  if (std::string err = lock.acquire(dir, holder_info(std::string(name(op)), id), &held); !err.empty()) {
    fail(err);
    return held ? 5 : 1;
  }
  // An unfinished run comes first: two half-done operations is how split brain starts.
  RunSummary last;
  // Drills too: a drill's run would hide the waiting one from resume.
  if (last_run(dir, &last) && last.resumable()) {
    fail("run " + last.id + " (" + last.operation + ") " +
         (last.finished ? "failed in " + last.failed_phase : "was interrupted in " + last.state) +
         " and waits: `baton resume " + f.runbook + "` finishes it, `baton resume " + f.runbook +
         " --rollback` or `--abort` ends it. Nothing was changed.");
    return 3;
  }
  RunState st;
  st.roles = dir.load_roles(initial_roles(rb));
  return execute(f, rb, op, dir, id, std::move(st), std::nullopt);
}

struct ResumeFlags {
  std::string run;
  bool force = false;
  bool rollback = false;
  bool abort = false;
};

int cmd_resume(const Flags& f, const ResumeFlags& rf) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  StateDir dir;
  if (!open_state(f, rb, &dir)) return 1;
  // Lock before reading: another run may be writing the journal.
  RunLock lock;
  bool held = false;
  if (std::string err = lock.acquire(dir, holder_info("resume", ""), &held); !err.empty()) {
    fail(err);
    return held ? 5 : 1;
  }
  std::vector<std::string> ids = list_runs(dir.path());
  std::string id = rf.run.empty() ? (ids.empty() ? "" : ids.back()) : rf.run;
  if (id.empty()) {
    fail("no run of \"" + rb.name + "\" to resume in " + dir.path());
    return 2;
  }
  // Roles may have changed since an older run: only the latest goes on.
  if (id != ids.back()) {
    fail("run " + id + " is not the latest run of \"" + rb.name + "\" (" + ids.back() +
         " is); only the latest run can be resumed");
    return 2;
  }
  JournalRead jr = read_journal(journal_path(dir.path(), id));
  if (!jr.error.empty()) {
    fail(jr.error);
    return jr.records.empty() && !rf.run.empty() ? 2 : 1;
  }
  if (!jr.warning.empty()) std::fprintf(stderr, "baton: warning: %s\n", jr.warning.c_str());
  RunSummary sum = summarize(id, jr.records);
  std::optional<Operation> op = parse_operation(sum.operation);
  if (!op) {
    fail("journal of run " + id + " names no operation; it cannot be resumed");
    return 1;
  }
  if (sum.finished && sum.state != "failed") {
    std::printf("nothing to resume: run %s (%s) ended %s\n", id.c_str(), sum.operation.c_str(), sum.state.c_str());
    return 0;
  }
  if (sum.runbook_hash != rb.content_hash && !rf.force) {
    fail("the runbook changed since run " + id + " started (" + f.runbook +
         " differs from the journal's copy); check the change, then resume with --force");
    return 2;
  }
  RunState st = rebuild_state(jr.records, dir.load_roles(initial_roles(rb)));
  st.roles_at_start = sum.roles_at_start;
  std::optional<MachineEvent> recovery;
  if (rf.rollback) recovery = MachineEvent::rollback;
  if (rf.abort) recovery = MachineEvent::abort;
  return execute(f, rb, *op, dir, id, std::move(st), recovery);
}

std::string outcome(const RunSummary& s) {
  if (!s.finished) return "interrupted in " + s.state + " (resumable)";
  if (s.state == "failed")
    return "failed in " + s.failed_phase + (s.resumable() ? " (resumable)" : "");
  return s.state;
}

// "met" / "missed" against the runbook's RTO, or "".
std::string rto_verdict(const RunSummary& s) {
  std::optional<Millis> rto = parse_duration(s.rto);
  if (!rto || !s.finished) return {};
  return s.duration_ms <= rto->count() ? "met" : "missed";
}

std::string summary_json(const RunSummary& s) {
  std::string o = "{\"run\":\"" + json_escape(s.id) + "\",\"operation\":\"" + json_escape(s.operation) +
                  "\",\"started\":\"" + iso_time(s.started_ms) + "\",\"duration_ms\":" +
                  std::to_string(s.duration_ms) + ",\"finished\":" + (s.finished ? "true" : "false") +
                  ",\"state\":\"" + json_escape(s.state) + "\",\"exit_code\":" + std::to_string(s.exit_code) +
                  ",\"resumable\":" + (s.resumable() ? "true" : "false");
  if (!s.failed_phase.empty()) o += ",\"failed_phase\":\"" + json_escape(s.failed_phase) + "\"";
  if (!s.rto.empty()) o += ",\"rto_ms\":" + std::to_string(parse_duration(s.rto).value_or(Millis(0)).count()) +
                           ",\"rto\":\"" + rto_verdict(s) + "\"";
  o += ",\"user\":\"" + json_escape(s.user) + "\",\"machine\":\"" + json_escape(s.machine) + "\"}";
  return o;
}

int cmd_status(const Flags& f) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  StateDir dir;
  if (!open_state(f, rb, &dir)) return 1;
  Roles r = dir.load_roles(initial_roles(rb));
  RunSummary last;
  bool has = last_run(dir, &last);
  if (f.json) {
    std::printf("{\"runbook\":\"%s\",\"source\":\"%s\",\"target\":\"%s\",\"stale\":\"%s\",\"last_run\":%s}\n",
                json_escape(rb.name).c_str(), json_escape(r.source).c_str(), json_escape(r.target).c_str(),
                json_escape(r.stale).c_str(), has ? summary_json(last).c_str() : "null");
    return 0;
  }
  std::printf("runbook   %s (%s)\n", rb.name.c_str(), f.runbook.c_str());
  std::printf("source    %s%s\n", r.source.c_str(), dir.has_roles() ? "" : " (from the runbook; no run yet)");
  std::printf("target    %s%s\n", r.target.c_str(),
              r.stale == r.target ? "  STALE: run `baton reverse-sync` before switching back" : "");
  if (!has) {
    std::printf("last run  none\n");
    return 0;
  }
  std::printf("last run  %s  %s  %s  %s\n", last.id.c_str(), last.operation.c_str(), iso_time(last.started_ms).c_str(),
              outcome(last).c_str());
  if (last.finished && last.state == "failed" && !last.failure.empty())
    std::printf("          %s\n", last.failure.c_str());
  if (last.resumable() || (!last.finished))
    std::printf("waiting   run %s: `baton resume %s` (or --rollback, --abort)\n", last.id.c_str(), f.runbook.c_str());
  return 0;
}

int cmd_history(const Flags& f) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  StateDir dir;
  if (!open_state(f, rb, &dir)) return 1;
  std::vector<std::string> ids = list_runs(dir.path());
  if (f.json) std::printf("[");
  else std::printf("%-26s %-13s %-21s %10s  %-34s %s\n", "RUN", "OPERATION", "STARTED", "DURATION", "OUTCOME", "RTO");
  bool first = true;
  for (const std::string& id : ids) {
    JournalRead jr = read_journal(journal_path(dir.path(), id));
    RunSummary s = summarize(id, jr.records);
    if (s.operation.empty()) continue;
    if (f.json) {
      std::printf("%s%s", first ? "" : ",", summary_json(s).c_str());
    } else {
      std::string rto = rto_verdict(s);
      if (!rto.empty()) rto += " (" + format_duration(*parse_duration(s.rto)) + ")";
      std::printf("%-26s %-13s %-21s %10s  %-34s %s\n", id.c_str(), s.operation.c_str(), iso_time(s.started_ms).c_str(),
                  format_duration(Millis(s.duration_ms)).c_str(), outcome(s).c_str(), rto.c_str());
    }
    first = false;
  }
  if (f.json) std::printf("]\n");
  return 0;
}

int cmd_report(const Flags& f, const std::string& run, bool html) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  StateDir dir;
  if (!open_state(f, rb, &dir)) return 1;
  std::vector<std::string> ids = list_runs(dir.path());
  std::string id = run.empty() ? (ids.empty() ? "" : ids.back()) : run;
  if (id.empty() || std::find(ids.begin(), ids.end(), id) == ids.end()) {
    fail(id.empty() ? "no runs of \"" + rb.name + "\" yet" : "no run " + id + " in " + dir.path());
    return 2;
  }
  JournalRead jr = read_journal(journal_path(dir.path(), id));
  if (!jr.error.empty()) fail(jr.error);
  RunSummary s = summarize(id, jr.records);
  if (f.json) {
    std::printf("{\"summary\":%s,\"records\":[", summary_json(s).c_str());
    bool first = true;
    std::string text = read_file(journal_path(dir.path(), id));
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      Json j;
      if (!parse_json(line, &j)) continue;
      std::printf("%s%s", first ? "" : ",", line.c_str());
      first = false;
    }
    std::printf("]}\n");
    return 0;
  }
  std::vector<std::array<std::string, 5>> rows;  // phase, step, host, status, duration
  std::vector<std::pair<std::string, std::string>> captures;  // masked where secret
  for (const Json& j : jr.records) {
    if (j.str("event") == "step_finished" && j.str("status") == "ok")
      if (const Json* c = j.get("captures"))
        for (const auto& [k, v] : c->obj) captures.emplace_back(k, v.s);
    if (j.str("event") != "step_finished" || j.str("status") == "retry") continue;
    std::string step = j.flag("rollback") ? "undo " + j.str("step") : j.str("step");
    std::string st = j.str("status");
    if (j.num("max_attempts") > 1) st += " (attempt " + std::to_string(j.num("attempt")) + "/" + std::to_string(j.num("max_attempts")) + ")";
    rows.push_back({j.str("phase"), step, j.str("host"), st, format_duration(Millis(j.num("duration_ms")))});
  }
  std::string rto = rto_verdict(s);
  if (html) {
    auto esc = [](const std::string& t) {
      std::string o;
      for (char c : t) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
      return o;
    };
    std::printf("<!doctype html><html><head><meta charset=\"utf-8\"><title>baton %s %s</title></head><body>\n",
                esc(s.operation).c_str(), esc(id).c_str());
    std::printf("<h1>%s of %s</h1><p>run %s, started %s by %s on %s: <b>%s</b> in %s%s</p>\n",
                esc(s.operation).c_str(), esc(rb.name).c_str(), esc(id).c_str(), iso_time(s.started_ms).c_str(),
                esc(s.user).c_str(), esc(s.machine).c_str(), esc(outcome(s)).c_str(),
                format_duration(Millis(s.duration_ms)).c_str(), rto.empty() ? "" : (", RTO " + rto).c_str());
    std::printf("<table border=\"1\"><tr><th>phase</th><th>step</th><th>host</th><th>status</th><th>duration</th></tr>\n");
    for (const auto& r : rows)
      std::printf("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(r[0]).c_str(),
                  esc(r[1]).c_str(), esc(r[2]).c_str(), esc(r[3]).c_str(), esc(r[4]).c_str());
    std::printf("</table></body></html>\n");
    return 0;
  }
  std::printf("%s of \"%s\"  run %s\n", s.operation.c_str(), rb.name.c_str(), id.c_str());
  std::printf("started   %s by %s on %s\n", iso_time(s.started_ms).c_str(), s.user.c_str(), s.machine.c_str());
  std::printf("roles     source %s, target %s at the start\n", s.roles_at_start.source.c_str(),
              s.roles_at_start.target.c_str());
  std::printf("outcome   %s in %s", outcome(s).c_str(), format_duration(Millis(s.duration_ms)).c_str());
  if (!rto.empty()) std::printf(" (RTO %s: %s)", format_duration(*parse_duration(s.rto)).c_str(), rto.c_str());
  std::printf("\n");
  if (!s.failure.empty()) std::printf("          %s\n", s.failure.c_str());
  std::printf("\n%-18s %-28s %-14s %-22s %s\n", "PHASE", "STEP", "HOST", "STATUS", "DURATION");
  for (const auto& r : rows)
    std::printf("%-18s %-28s %-14s %-22s %s\n", r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].c_str());
  if (!captures.empty()) std::printf("\ncaptured\n");
  for (const auto& [k, v] : captures) std::printf("  %s = %s\n", k.c_str(), v.c_str());
  if (!jr.warning.empty()) std::printf("\nwarning: %s\n", jr.warning.c_str());
  return 0;
}

// Connects to every host, then runs the preflight steps. Changes nothing.
int cmd_check(const Flags& f) {
  Runbook rb;
  if (!load(f.runbook, &rb)) return 2;
  const Roles roles = current_roles(f, rb);
  AgentPool agents(agent_factory(rb, f));
  bool ok = true;
  std::printf("hosts\n");
  for (const Site& site : rb.sites) {
    std::vector<std::thread> ts;
    std::vector<std::string> errs(site.hosts.size());
    for (size_t i = 0; i < site.hosts.size(); ++i)
      ts.emplace_back([&, i] { errs[i] = agents.agent(site.hosts[i]).probe(); });
    for (auto& t : ts) t.join();
    for (size_t i = 0; i < site.hosts.size(); ++i) {
      const Host& h = site.hosts[i];
      Agent& a = agents.agent(h);
      std::string key;
      if (auto* ssh = dynamic_cast<SshAgent*>(&a)) key = "host key " + ssh->host_key_status();
      std::printf("  %s  %-16s %-28s %s\n", errs[i].empty() ? "ok  " : "FAIL", h.label().c_str(), a.describe().c_str(),
                  key.c_str());
      if (!errs[i].empty()) std::printf("        %s\n", errs[i].c_str());
      ok = ok && errs[i].empty();
    }
  }
  EventBus bus;
  Executor ex(rb, Operation::switchover, agents, bus, ExecutorOptions{});
  std::printf("preflight (source %s, target %s)\n", roles.source.c_str(), roles.target.c_str());
  for (const Step& s : rb.steps) {
    if (s.phase != Phase::preflight || !skip_reason(s, Operation::switchover).empty()) continue;
    std::string err = ok ? ex.run_one(s, roles) : "not run: a host is unreachable";
    std::printf("  %s  %s\n", err.empty() ? "ok  " : "FAIL", s.id.c_str());
    if (!err.empty()) std::printf("        %s\n", err.c_str());
    ok = ok && err.empty();
  }
  std::printf("%s\n", ok ? "check passed" : "check failed");
  return ok ? 0 : 3;
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
  CLI::App* check = runbook_cmd("check", "Preflight only: reachability, host keys, preflight steps");
  ResumeFlags rf;
  CLI::App* resume = runbook_cmd("resume", "Continue an interrupted or failed run");
  resume->add_option("--run", rf.run, "Run id (default: the last run)");
  resume->add_flag("--force", rf.force, "Resume even though the runbook changed");
  auto* rbk = resume->add_flag("--rollback", rf.rollback, "Undo the completed steps, newest first");
  resume->add_flag("--abort", rf.abort, "End the run for good")->excludes(rbk);
  CLI::App* status = runbook_cmd("status", "Roles, stale sides, the last run");
  CLI::App* history = runbook_cmd("history", "Past runs");
  std::string report_run;
  bool html = false;
  CLI::App* report = runbook_cmd("report", "A run's report (text; --json; --html)");
  report->add_option("RUN", report_run, "Run id (default: the last run)");
  report->add_flag("--html", html, "HTML instead of text");
  // Global flags also after the verb.
  for (CLI::App* c : {validate, plan, graph, switchover, failover, drill, reverse, check, resume, status, history, report})
    c->fallthrough();

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
  if (*check) return cmd_check(f);
  if (*resume) return cmd_resume(f, rf);
  if (*status) return cmd_status(f);
  if (*history) return cmd_history(f);
  if (*report) return cmd_report(f, report_run, html);
  return 2;
}

}  // namespace baton
