#include "orchestrator/commands/context.h"

#include <poll.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <random>

#include "agents/local_agent.h"
#include "agents/ssh_agent.h"
#include "orchestrator/interrupt.h"
#include "orchestrator/progress.h"  // visible
#include "runbooks/loader.h"

namespace baton {

void fail(const std::string& msg) { std::fprintf(stderr, "baton: error: %s\n", visible(msg).c_str()); }

void text_out(const char* format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string text(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(text.data(), text.size() + 1, format, again);
  va_end(again);
  std::fputs(visible(text).c_str(), stdout);
}

bool load_runbook(const std::string& path, Runbook* out, bool read_values) {
  LoadResult r = load_runbook_file(path, read_values);
  for (const Diagnostic& d : r.errors) std::fprintf(stderr, "%s\n", d.str().c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "baton: %zu error%s in %s\n", r.errors.size(), r.errors.size() == 1 ? "" : "s",
                 path.c_str());
    return false;
  }
  *out = std::move(r.runbook);
  return true;
}

JsonValue diagnostics_json(const std::string& file, const LoadResult& r) {
  JsonValue j = JsonValue::object();
  j["file"] = file;
  j["ok"] = r.ok();
  j["diagnostics"] = JsonValue::array();
  for (const Diagnostic& d : r.errors)
    j["diagnostics"].push_back({{"file", d.file}, {"line", d.where.line}, {"column", d.where.column},
                                {"message", d.message}});
  return j;
}

bool load_runbook(const Options& o, Runbook* out, bool read_values) {
  if (!o.json) return load_runbook(o.runbook, out, read_values);
  LoadResult r = load_runbook_file(o.runbook, read_values);
  if (!r.ok()) {
    for (const Diagnostic& d : r.errors) std::fprintf(stderr, "%s\n", d.str().c_str());
    std::printf("%s\n", dump_json(diagnostics_json(o.runbook, r)).c_str());
    return false;
  }
  *out = std::move(r.runbook);
  return true;
}

bool open_state(const Options& o, const Runbook& rb, StateDir* dir) {
  std::string err = StateDir::open(state_root(o.state_dir), rb.name, dir);
  if (!err.empty()) fail(err);
  return err.empty();
}

bool read_state(const Options& o, const Runbook& rb, StateDir* dir) {
  std::string err = StateDir::open_to_read(state_root(o.state_dir), rb.name, dir);
  if (!err.empty()) fail(err);
  return err.empty();
}

bool last_run(const StateDir& dir, RunSummary* out, std::vector<Json>* records) {
  std::vector<std::string> ids = list_runs(dir.path());
  if (ids.empty()) return false;
  JournalRead jr = read_journal(journal_path(dir.path(), ids.back()));
  *out = summarize(ids.back(), jr.records);
  out->damaged = jr.error;
  if (records) *records = std::move(jr.records);
  return true;
}

std::string new_run_id() {
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

AgentPool::Factory agent_factory(const Runbook& rb, const Options& o) {
  std::string known_hosts = !o.known_hosts.empty() ? o.known_hosts : rb.known_hosts;
  bool accept_new = o.accept_new_host_keys;
  int attempts = o.connection_attempts ? o.connection_attempts : rb.connection_attempts;
  const bool runner = rb.ssh_runner;
  return [known_hosts, accept_new, attempts, runner](const Host& h) -> std::unique_ptr<Agent> {
    if (h.is_local()) return std::make_unique<LocalAgent>();
    SshOptions s;
    s.host_label = h.label();
    s.address = h.address;
    s.port = h.port;
    s.user = h.user;
    s.identity = h.identity;
    s.host_key_pin = h.host_key;
    s.known_hosts_file = known_hosts;
    s.accept_new_host_keys = accept_new;
    s.connection_attempts = attempts;
    if (!runner) s.runner_perl.clear();
    return std::make_unique<SshAgent>(s);
  };
}

bool ask_on_terminal(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  // Wait for the answer, but not past a request to stop.
  for (;;) {
    if (interrupt_signal()) return false;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) break;
  }
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "y" || line == "Y" || line == "yes";
}

Roles initial_roles(const Runbook& rb) { return Roles{rb.source, rb.target, ""}; }

bool current_roles(const Options& o, const Runbook& rb, Roles* out) {
  StateDir dir;
  if (!read_state(o, rb, &dir)) return false;
  *out = dir.load_roles(initial_roles(rb));
  return true;
}

}  // namespace baton

namespace baton {

bool has_stored_roles(const Options& o, const Runbook& rb) {
  return ::access((state_root(o.state_dir) + "/" + rb.name + "/roles").c_str(), F_OK) == 0;
}

std::string roles_origin(const Options& o, const Runbook& rb) {
  if (has_stored_roles(o, rb)) return state_root(o.state_dir) + "/" + rb.name + "/roles";
  return "the runbook's [replication] (no roles stored yet)";
}

}  // namespace baton
