#include "orchestrator/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <pwd.h>
#include <unistd.h>

#include "agents/ssh_config.h"

#include "orchestrator/plan.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

// Absolute directory of the runbook: scripts beside it are found from there.
std::string runbook_dir(const std::string& path) {
  char buf[4096];
  std::string abs = path;
  if (::realpath(path.c_str(), buf)) abs = buf;
  size_t slash = abs.rfind('/');
  return slash == std::string::npos ? "." : abs.substr(0, slash == 0 ? 1 : slash);
}

// Forwards machine transitions to the executor.
struct Listener : MachineObserver {
  std::function<void(const std::string&, MachineEvent, const std::string&)> fn;
  void on_transition(const std::string& from, MachineEvent e, const std::string& to) override { fn(from, e, to); }
};

// Stops the progress ticker however run() returns.
struct TickerGuard {
  std::mutex& mu;
  bool& stop;
  std::condition_variable& cv;
  std::thread& t;
  ~TickerGuard() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    t.join();
  }
};

}  // namespace

Executor::Executor(const Runbook& rb, Operation op, AgentPool& agents, EventSink& events, ExecutorOptions opts)
    : rb_(rb), op_(op), agents_(agents), events_(events), opts_(std::move(opts)), runbook_dir_(runbook_dir(rb.path)) {
  redactor_.learn(rb_.vars, rb_.secret_names);
  for (const Site& s : rb_.sites)
    for (const Host& h : s.hosts) redactor_.learn(h.vars, rb_.secret_names);
}

void Executor::connect_early() {
  // The probe's hosts first (it asks them all at once), then the steps' in
  // the order the run needs them; going forward, the steps not done yet,
  // undoing, the done ones.
  std::vector<const Host*> hosts;
  for (const Site& site : rb_.sites)
    for (const Host& h : site.hosts)
      if (rb_.probe_for(h)) hosts.push_back(&h);
  const bool undoing = opts_.recovery == MachineEvent::rollback;
  auto leave_out = [this, undoing](const Step& s) { return is_done(s.id) != undoing; };
  const Roles roles = state_.roles_at_start.source.empty() ? state_.roles : state_.roles_at_start;
  for (const Host* h : hosts_in_use(rb_, op_, roles, leave_out))
    if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
  agents_.connect_early(hosts, [this](const AgentPool::Connected& c) {
    RunEvent e{EventKind::host_connected};
    e.host = c.host->label();
    e.status = c.error.empty() ? "ok" : "failed";
    e.reason = c.error;
    e.attempt = c.attempts;
    e.max_attempts = c.max_attempts;
    e.started_ms = std::chrono::duration_cast<Millis>(c.start.time_since_epoch()).count();
    e.duration = std::chrono::duration_cast<Millis>(c.end - c.start);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!announced_) {
        held_events_.push_back(std::move(e));
        return;
      }
    }
    emit(e);
  });
}

void Executor::emit(RunEvent e) { events_.settle(record(std::move(e))); }

RunEvent Executor::record(RunEvent e) {
  // Nothing about connects after the run's last record.
  if (e.kind == EventKind::run_finished) agents_.stop_early();
  e.run_id = opts_.run_id;
  if (e.operation.empty()) e.operation = std::string(name(op_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!redactor_.empty()) {
      for (std::string* t : {&e.out_tail, &e.err_tail, &e.reason, &e.hint, &e.data_loss_text}) *t = redactor_.apply(*t);
      for (auto& kv : e.captures) {
        std::string shown = is_secret_name(kv.first) || rb_.declared_secret(kv.first) ? "***" : redactor_.apply(kv.second);
        if (shown != kv.second) e.masked_captures.push_back(kv.first);
        kv.second = shown;
      }
      for (auto& kv : e.facts) kv.second = redactor_.apply(kv.second);
    }
  }
  events_.record(e);
  if (e.kind == EventKind::run_started || e.kind == EventKind::run_resumed) {
    std::vector<RunEvent> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      announced_ = true;
      held.swap(held_events_);
    }
    for (RunEvent& h : held) emit(std::move(h));
  }
  return e;
}

std::function<std::string()> Executor::start_gate(const RunEvent& started) {
  RunEvent e = record(started);
  return [this, e]() -> std::string {
    events_.settle(e);
    // Never act unrecorded, an undo neither: resume would take what it
    // undid for done.
    return events_.failure();
  };
}

Roles Executor::roles_in(Phase p) const {
  bool after_promote = false;
  for (Phase q : phase_sequence(op_)) {
    if (q == p) break;
    after_promote = after_promote || q == Phase::promote;
  }
  return after_promote ? roles_after_promote(state_.roles_at_start, op_) : state_.roles_at_start;
}

Vars Executor::vars_now(std::optional<Phase> phase) {
  Vars v = rb_.vars;
  std::lock_guard<std::mutex> lock(mu_);
  const Roles roles = phase ? roles_in(*phase) : state_.roles;
  v.emplace_back("BATON_OPERATION", std::string(name(op_)));
  v.emplace_back("BATON_RUN_ID", opts_.run_id);
  v.emplace_back("BATON_RUNBOOK", rb_.name);
  v.emplace_back("BATON_RUNBOOK_DIR", runbook_dir_);
  v.emplace_back("BATON_SOURCE_SITE", roles.source);
  v.emplace_back("BATON_TARGET_SITE", roles.target);
  // Where the other side is, for connection strings: its address, and its
  // host variables as source_NAME / target_NAME (first host of the site).
  for (const auto& [role, site] : {std::pair<std::string, std::string>{"source", roles.source}, {"target", roles.target}}) {
    const Site* st = rb_.site(site);
    if (!st || st->hosts.empty()) continue;
    const std::string up = role == "source" ? "BATON_SOURCE_" : "BATON_TARGET_";
    const Endpoint ep = ssh_endpoint(st->hosts[0]);
    v.emplace_back(up + "ADDRESS", st->hosts[0].address);
    v.emplace_back(up + "PORT", ep.port);
    v.emplace_back(up + "USER", ep.user);
    for (const auto& [k, val] : st->hosts[0].vars) v.emplace_back(role + "_" + k, val);
  }
  v.emplace_back("BATON_DRILL", op_ == Operation::drill ? "1" : "0");
  for (const auto& kv : opts_.kept) v.push_back(kv);  // What earlier runs kept.
  for (const auto& kv : state_.captures) v.push_back(kv);
  return v;
}

Endpoint ssh_endpoint(const Host& h) {
  static std::mutex mu;
  static std::map<std::string, Endpoint> known;  // by address, port, user
  const std::string key = h.address + "\n" + std::to_string(h.port) + "\n" + h.user;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = known.find(key); it != known.end()) return it->second;
  Endpoint e;
  const passwd* pw = ::getpwuid(::geteuid());
  const std::string me = pw ? pw->pw_name : "";
  if (h.is_local()) {
    e.user = me;
  } else {
    const std::vector<std::string> files = ssh_config_files("");
    e.port = h.port ? std::to_string(h.port) : ssh_config_value(files, h.address, "Port").value_or("22");
    e.user = !h.user.empty() ? h.user : ssh_config_value(files, h.address, "User").value_or(me);
  }
  return known[key] = e;
}

Vars with_host(Vars v, const Host& h) {
  const Endpoint ep = ssh_endpoint(h);
  v.emplace_back("BATON_HOST", h.label());
  v.emplace_back("BATON_HOST_SITE", h.site);
  v.emplace_back("BATON_HOST_ADDRESS", h.address);
  v.emplace_back("BATON_HOST_PORT", ep.port);
  v.emplace_back("BATON_HOST_USER", ep.user);
  for (const auto& kv : h.vars) v.push_back(kv);
  return v;
}

Vars Executor::vars_on(const Host& h) { return with_host(vars_now(), h); }

const Step* Executor::find_step(const std::string& id) const {
  for (const Step& s : rb_.steps)
    if (s.id == id) return &s;
  return nullptr;
}

bool Executor::is_done(const std::string& id) const {
  for (const DoneStep& d : state_.done)
    if (d.id == id) return true;
  return false;
}

void Executor::emit_probes(const Observation& o, const std::string& when) {
  for (const HostProbe& p : o.hosts) {
    RunEvent e{EventKind::probed};
    e.host = p.host;
    e.status = std::string(name(p.role));
    e.facts = p.facts;
    e.reason = p.detail;
    e.duration = p.took;
    e.phase = when;
    emit(e);
  }
}

Observation Executor::observe(const std::string& when) {
  Observation o = probe_hosts(rb_, agents_, [this](const Host& h) { return vars_on(h); });
  mask(o);
  emit_probes(o, when);
  return o;
}

void Executor::mask(Observation& o) {
  std::lock_guard<std::mutex> lock(mu_);
  for (HostProbe& p : o.hosts) {
    p.detail = redactor_.apply(p.detail);
    for (auto& kv : p.facts) kv.second = redactor_.apply(kv.second);
  }
}

Observation Executor::observe_with(const Roles& roles, const std::string& when) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.roles = state_.roles_at_start = roles;
  }
  return observe(when);
}

// Persists new roles first (atomically), then lets the run and the record know.
std::string Executor::set_roles(const Roles& n) {
  RunEvent rc{EventKind::roles_changed};
  rc.reason = opts_.save_roles ? opts_.save_roles(n) : "";
  const std::string err = rc.reason;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.roles = n;
  }
  rc.source = n.source;
  rc.target = n.target;
  rc.stale = n.stale;
  emit(rc);
  return err;
}

// Reports steps that run long: first after progress_every of each step's
// own time, then again after each further interval.
void Executor::tick_until(const bool* stop, std::condition_variable* cv) {
  const auto every = opts_.progress_every;
  const auto tick = std::min<Clock::duration>(every / 4, std::chrono::seconds(1));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv->wait_for(lock, tick, [&] { return *stop; })) {
    std::vector<std::string> notes;
    const auto now = Clock::now();
    for (auto& [key, r] : running_) {
      if (now - r.since < every * (r.notes + 1)) continue;
      ++r.notes;
      notes.push_back("still running: " + key + " (" +
                      format_duration(std::chrono::duration_cast<Millis>(now - r.since)) + ")");
    }
    lock.unlock();
    for (const std::string& n : notes) {
      RunEvent e{EventKind::message};
      e.reason = n;
      emit(e);
    }
    lock.lock();
  }
}

void Executor::fail(std::string why, std::string hint, bool refused) {
  failure_.refused = failure_.refused || refused;
  if (!failure_.why.empty()) return;  // The first failure is the one to tell.
  failure_.why = std::move(why);
  failure_.hint = std::move(hint);
}

void Executor::emit_started() {
  RunEvent e{EventKind::run_started};
  e.runbook = rb_.path;
  e.runbook_hash = rb_.content_hash;
  e.user = opts_.user;
  e.machine = opts_.machine;
  e.source = state_.roles.source;
  e.target = state_.roles.target;
  e.stale = state_.roles.stale;
  // The run began with the command (its first probe came before this
  // record): durations in the report agree with the terminal's.
  e.started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     (std::chrono::system_clock::now() - (Clock::now() - t0_)).time_since_epoch())
                     .count();
  emit(e);
}

RunResult Executor::finish(Machine& m, int code, std::string msg) {
  RunResult res;
  res.exit_code = code;
  res.message = redactor_.apply(std::move(msg));
  res.state = m.state();
  res.elapsed = std::chrono::duration_cast<Millis>(Clock::now() - t0_);
  res.roles = state_.roles;
  return res;
}

// A new run refused before it acts: on record, for the audit and for
// --json readers, as a run that started and was refused.
RunResult Executor::refuse(Machine& m, int code, std::string msg) {
  RunEvent e{EventKind::run_finished};
  e.status = "refused";
  e.exit_code = code;
  e.reason = msg;
  emit(e);
  return finish(m, code, std::move(msg));
}

std::optional<RunResult> Executor::begin_fresh(Machine& m) {
  connect_early();
  // Believe the databases, not our own files: probe before anything.
  Observation o = probe_hosts(rb_, agents_, [this](const Host& h) { return vars_on(h); });
  mask(o);
  RoleCheck rc = check_roles(state_.roles, opts_.stored_roles, o, rb_.path);
  state_.roles = state_.roles_at_start = rc.roles;
  emit_started();
  carry_unsettled();
  emit_probes(o, "at the start");
  if (int sig = stopping())
    return refuse(m, 128 + sig, "stopped by signal " + std::to_string(sig) + " before anything ran. Nothing was changed.");
  const std::string rb = rb_.path;
  using K = RoleCheck::Kind;
  if (rc.kind == K::from_probe) {
    RunEvent note{EventKind::message};
    note.reason = rc.message;
    emit(note);
    if (std::string err = set_roles(rc.roles); !err.empty()) return refuse(m, 1, "cannot record the roles: " + err);
  }
  if (rc.kind == K::split_brain) {
    if (op_ != Operation::failover)
      return refuse(m, 3, rc.message + "Nothing was changed. Stop or fence the host that must not be primary; "
                                       "if the source is lost for good, `baton failover " + runbook_words(rb) +
                              " --accept-split-brain` fences it and promotes the target.");
    if (!opts_.accept_split_brain)
      return refuse(m, 3, rc.message + "Nothing was changed. `baton failover " + runbook_words(rb) +
                              " --accept-split-brain` fences the source and promotes the target anyway.");
    RunEvent note{EventKind::message};
    note.reason = o.split_brain_text() + ": going on (--accept-split-brain)";
    emit(note);
  }
  if (rc.kind == K::no_primary && op_ != Operation::failover)
    return refuse(m, 3, rc.message + "Nothing was changed. A " + std::string(name(op_)) +
                            " needs a primary; if the source is lost, run `baton failover " + runbook_words(rb) + "`.");
  if (rc.kind == K::contradicts) return refuse(m, 3, rc.message + ". Nothing was changed.");
  // Never act on a stale side: it may hold writes the new source lacks.
  if (op_ != Operation::reverse_sync && !state_.roles.stale.empty())
    return refuse(m, 3, "site " + state_.roles.stale + " is stale after a failover; run `baton reverse-sync " + runbook_words(rb) +
                            "` first to make it a replica again. Nothing was changed.");
  if (std::string busy = left_running(); !busy.empty()) return refuse(m, 3, busy + ". Nothing was changed.");
  if (!opts_.yes && !opts_.ask) {
    auto qs = confirmations_needed();
    if (!qs.empty()) {
      std::string msg = "confirmation needed and no terminal to ask on; rerun with --yes to answer:";
      for (const auto& q : qs) msg += "\n  " + q;
      return refuse(m, 4, msg);
    }
  }
  m.fire(MachineEvent::start);
  return std::nullopt;
}

std::optional<RunResult> Executor::begin_resume(Machine& m) {
  const bool aborting = opts_.recovery == MachineEvent::abort;
  // Never two copies of one step: one left running by a Baton that died
  // must end first. An abort waits too: the next operation would otherwise
  // start beside it, and the roles it records could change under it.
  if (std::string busy = still_running(); !busy.empty()) return finish(m, 1, busy);
  if (!opts_.yes && !opts_.ask && !opts_.recovery) {
    auto qs = confirmations_needed();
    if (!qs.empty()) {
      std::string msg = "confirmation needed and no terminal to ask on; rerun with --yes to answer:";
      for (const auto& q : qs) msg += "\n  " + q;
      return finish(m, 4, msg);
    }
  }
  // A step that may have been running when Baton stopped runs again only if
  // it is idempotent, or the operator says so.
  std::set<std::string> rerun = state_.in_flight;
  rerun.insert(state_.recapture.begin(), state_.recapture.end());
  for (const std::string& id : aborting ? std::set<std::string>{} : rerun) {
    const Step* s = find_step(id);
    if (!s || s->idempotent || opts_.yes) continue;
    const std::string q = "step " + id +
                          (state_.in_flight.count(id) ? " may have been running when Baton stopped"
                                                      : " captured a secret, which the journal does not keep") +
                          ", and it is not idempotent. Run it again?";
    if (!opts_.ask) return finish(m, 4, "confirmation needed and no terminal to ask on; rerun with --yes to answer:\n  " + q);
    if (!opts_.ask(q)) return finish(m, 4, "refused by the operator: " + q);
  }
  RunEvent e{EventKind::run_resumed};
  e.runbook = rb_.path;
  e.runbook_hash = rb_.content_hash;
  e.user = opts_.user;
  e.machine = opts_.machine;
  e.reason = m.failed() ? "failed in " + std::string(m.failed_phase() ? name(*m.failed_phase()) : "?")
                        : "stopped in " + m.state();
  emit(e);
  if (!aborting) connect_early();
  const Observation o = observe("at the resume");
  // Once undoing has begun, going forward would redo half-undone work.
  if (m.failed() && state_.undo_started && !opts_.recovery)
    return finish(m, 2, "a rollback of run " + opts_.run_id + " has begun; continue it with `baton resume " + runbook_words(rb_.path) +
                            " --rollback`, or end the run with `--abort`");
  const bool forward = !opts_.recovery;
  if (forward && o.split_brain() && !(op_ == Operation::failover && opts_.accept_split_brain))
    return finish(m, 3, o.split_brain_text() + "\n" + o.table("  ") +
                            "Nothing was changed. Stop or fence the host that must not be primary, then resume.");
  if (m.failed()) {
    std::string err = m.fire(opts_.recovery.value_or(MachineEvent::resume));
    if (!err.empty()) return finish(m, 2, err);
  } else if (opts_.recovery && (m.phase() || (m.state() == "rolling_back" && aborting))) {
    // Ending a run that stopped mid-phase: fail it there first.
    pending_recovery_ = opts_.recovery;
    m.fire(MachineEvent::step_failed);
  }
  if (aborting) record_observed_roles(o);
  return std::nullopt;
}

// Secrets were never journaled: capture them again, by running the steps
// of phases already passed that captured them.
std::optional<RunResult> Executor::recapture_secrets(Machine& m) {
  if (opts_.recovery == MachineEvent::abort) return std::nullopt;
  for (const std::string& id : state_.recapture) {
    const Step* s = find_step(id);
    if (!s || s->phase == m.phase()) continue;
    const Roles then = roles_in(s->phase);  // On the hosts it captured from.
    StepOutcome o = run_step(*s, &then);
    if (!o.ok) return finish(m, 1, "cannot capture the secret " + s->capture + " again: step " + id + " failed " + o.why);
  }
  return std::nullopt;
}

// What must hold after a phase before the run goes on; empty when it does.
std::string Executor::after_phase(Phase p) {
  if (p == Phase::promote && op_ == Operation::drill) {
    // A drill promotes a clone: production's roles must not have moved.
    Observation o = observe("after the drill's promote");
    if (o.site_has(state_.roles.target, DbRole::primary))
      return "the drill changed production: the probe sees " + state_.roles.target + " primary:\n" + o.table("  ") +
             "Demote or stop it by hand before anything writes to it";
    return {};
  }
  if (p == Phase::promote) {
    const Roles n = roles_after_promote(state_.roles_at_start, op_);
    Observation o = observe("after the promote");
    if (o.probed && !o.site_has(n.source, DbRole::primary))
      return "the promote steps succeeded, but the probe does not see " + n.source + " primary:\n" + o.table("  ") +
             "Nothing was started on it";
    // The promote is done: the new roles are a fact, whatever comes next.
    if (std::string err = set_roles(n); !err.empty()) return "cannot record the new roles: " + err;
    if (o.split_brain())
      return o.split_brain_text() + " after the promote:\n" + o.table("  ") + "Stop or fence " + n.target +
             " before anything writes to it; nothing was started on " + n.source;
    return {};
  }
  if (p == Phase::reverse_sync && op_ == Operation::reverse_sync && !state_.roles.stale.empty()) {
    Observation o = observe("after the reverse-sync");
    if (o.probed && !o.site_has(state_.roles.target, DbRole::standby))
      return "the reverse-sync steps succeeded, but the probe does not see " + state_.roles.target +
             " as a standby:\n" + o.table("  ") + "It stays stale";
    if (std::string err = set_roles(Roles{state_.roles.source, state_.roles.target, ""}); !err.empty())
      return "cannot record the new roles: " + err;
  }
  return {};
}

void Executor::drive(Machine& m) {
  bool tried_recovery = false;
  for (;;) {
    if (std::optional<Phase> p = m.phase()) {
      if (int sig = stopping(); sig && *p != Phase::cleanup) {
        fail("stopped by signal " + std::to_string(sig) + " before " + std::string(name(*p)));
        m.fire(MachineEvent::step_failed);
        continue;
      }
      RunEvent e{EventKind::phase_entered};
      e.phase = std::string(name(*p));
      emit(e);
      std::string why;
      if (*p == Phase::promote && !data_loss_gate(&why)) {
        fail(why, {}, true);
        m.fire(MachineEvent::step_failed);
        continue;
      }
      if (!run_phase(*p)) {
        m.fire(MachineEvent::step_failed);
        continue;
      }
      if (std::string err = after_phase(*p); !err.empty()) {
        fail(err);
        m.fire(MachineEvent::step_failed);
        continue;
      }
      m.fire(MachineEvent::phase_done);
    } else if (m.state() == "rolling_back") {
      std::string why;
      if (!rollback(&why)) {
        failure_.rollback_why = why;
        m.fire(MachineEvent::step_failed);
        continue;
      }
      restore_roles_after_rollback();
      if (std::string err = confirm_rolled_back(); !err.empty()) {
        failure_.rollback_why = err;
        m.fire(MachineEvent::step_failed);
        continue;
      }
      m.fire(MachineEvent::rollback_done);
    } else if (m.failed() && pending_recovery_ && !tried_recovery && !stopping()) {
      tried_recovery = true;
      m.fire(*pending_recovery_);
    } else {
      break;
    }
  }
}

RunResult Executor::run(RunState initial) {
  t0_ = Clock::now();
  // Long steps are never silent: a ticker reports them while the run lasts.
  bool stop_ticker = false;
  std::condition_variable ticker_cv;
  std::thread ticker([&] { tick_until(&stop_ticker, &ticker_cv); });
  TickerGuard guard{mu_, stop_ticker, ticker_cv, ticker};
  // Early connects report while the run lasts, and never after it.
  struct StopEarly {
    AgentPool& agents;
    ~StopEarly() { agents.stop_early(); }
  } stop_early{agents_};

  state_ = std::move(initial);
  Listener listener;
  listener.fn = [this](const std::string& from, MachineEvent e, const std::string& to) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_.machine_events.push_back(e);
    }
    RunEvent ev{EventKind::transition};
    ev.from = from;
    ev.event = std::string(name(e));
    ev.to = to;
    emit(ev);
  };
  Machine m(op_, &listener);
  const bool fresh = state_.machine_events.empty();
  if (!fresh) {
    if (std::string err = m.replay(state_.machine_events); !err.empty())
      return finish(m, 1, "cannot rebuild the run's state from its journal: " + err);
  }
  if (auto stop = fresh ? begin_fresh(m) : begin_resume(m)) return *stop;
  if (auto stop = recapture_secrets(m)) return *stop;
  drive(m);
  return conclude(m);
}

}  // namespace baton
