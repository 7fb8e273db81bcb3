#include "orchestrator/executor.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <regex>
#include <thread>

#include "orchestrator/plan.h"
#include "orchestrator/redact.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

const Host* find_host(const Runbook& rb, const std::string& label) {
  for (const Site& s : rb.sites)
    for (const Host& h : s.hosts)
      if (h.label() == label) return &h;
  return nullptr;
}

// Absolute directory of the runbook: scripts beside it are found from there.
std::string runbook_dir(const std::string& path) {
  char buf[4096];
  std::string abs = path;
  if (::realpath(path.c_str(), buf)) abs = buf;
  size_t slash = abs.rfind('/');
  return slash == std::string::npos ? "." : abs.substr(0, slash == 0 ? 1 : slash);
}

// A command on host h also sees the host's own variables, and its name.
Vars with_host(Vars v, const Host& h) {
  v.emplace_back("BATON_HOST", h.label());
  v.emplace_back("BATON_HOST_ADDRESS", h.address);
  for (const auto& kv : h.vars) v.push_back(kv);
  return v;
}

// Forwards machine transitions to the executor.
struct Listener : MachineObserver {
  std::function<void(const std::string&, MachineEvent, const std::string&)> fn;
  void on_transition(const std::string& from, MachineEvent e, const std::string& to) override {
    fn(from, e, to);
  }
};

}  // namespace

AgentPool::Slot& AgentPool::slot(const Host& h) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& s = slots_[h.label()];
  if (!s) s = std::make_unique<Slot>();
  return *s;
}

Agent& AgentPool::agent(const Host& h) {
  Slot& s = slot(h);
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.agent) s.agent = factory_(h);
  return *s.agent;
}

CommandResult AgentPool::run(const Host& h, const Command& c) {
  Slot& s = slot(h);
  std::lock_guard<std::mutex> lock(s.mu);  // One session per host, one user at a time.
  if (!s.agent) s.agent = factory_(h);
  return s.agent->run(c);
}

std::string check_expectations(const Step& s, const CommandResult& r) {
  if (r.exit_code != s.expect_exit) {
    std::string why = "exit code " + std::to_string(r.exit_code);
    if (s.expect_exit != 0) why += ", expected " + std::to_string(s.expect_exit);
    std::string err = tail_lines(r.err, 3);
    if (!err.empty()) why += ": " + err;
    return why;
  }
  if (s.expect_stdout && trim(r.out) != *s.expect_stdout)
    return "stdout was \"" + tail_lines(trim(r.out), 3) + "\", expected \"" + *s.expect_stdout + "\"";
  if (s.expect_match) {
    try {
      // Like grep: ^ and $ match at line ends, so "^t$" matches "t\n".
      const auto flags = std::regex::ECMAScript | std::regex::multiline;
      if (!std::regex_search(r.out, std::regex(*s.expect_match, flags)))
        return "stdout \"" + tail_lines(trim(r.out), 3) + "\" does not match /" + *s.expect_match + "/";
    } catch (const std::regex_error& e) {
      return std::string("bad expect_match: ") + e.what();
    }
  }
  return {};
}

Executor::Executor(const Runbook& rb, Operation op, AgentPool& agents, EventSink& events,
                   ExecutorOptions opts)
    : rb_(rb), op_(op), agents_(agents), events_(events), opts_(std::move(opts)), runbook_dir_(runbook_dir(rb.path)) {
  redactor_.learn(rb_.vars);
  for (const Site& s : rb_.sites)
    for (const Host& h : s.hosts) redactor_.learn(h.vars);
}

void Executor::emit(RunEvent e) {
  e.run_id = opts_.run_id;
  if (e.operation.empty()) e.operation = std::string(name(op_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!redactor_.empty()) {
      e.out_tail = redactor_.apply(e.out_tail);
      e.err_tail = redactor_.apply(e.err_tail);
      e.reason = redactor_.apply(e.reason);
      for (auto& kv : e.captures) kv.second = is_secret_name(kv.first) ? "***" : redactor_.apply(kv.second);
    }
  }
  events_.emit(e);
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
    v.emplace_back(role == "source" ? "BATON_SOURCE_ADDRESS" : "BATON_TARGET_ADDRESS", st->hosts[0].address);
    for (const auto& [k, val] : st->hosts[0].vars) v.emplace_back(role + "_" + k, val);
  }
  v.emplace_back("BATON_DRILL", op_ == Operation::drill ? "1" : "0");
  for (const auto& kv : state_.captures) v.push_back(kv);
  return v;
}

bool Executor::rollback_begun() const {
  const auto& ev = state_.machine_events;
  return std::find(ev.begin(), ev.end(), MachineEvent::rollback) != ev.end();
}

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

std::vector<std::string> Executor::confirmations_needed() const {
  std::vector<std::string> q;
  for (const Step& s : rb_.steps) {
    if (s.confirm.empty() || !skip_reason(s, op_).empty()) continue;
    if (!is_done(s.id)) q.push_back(s.id + ": " + s.confirm);
  }
  return q;
}

bool Executor::attempt_on_host(const Step& s, const Host& h, const Vars& vars, std::string* why,
                               std::string* captured) {
  const int max = s.retries + 1;
  for (int a = 1; a <= max; ++a) {
    RunEvent st{EventKind::step_started};
    st.phase = std::string(name(s.phase));
    st.step = s.id;
    st.host = h.label();
    st.attempt = a;
    st.max_attempts = max;
    emit(st);

    Command c;
    c.script = s.run;
    c.vars = with_host(vars, h);
    c.timeout = s.timeout;
    // Never act unrecorded: a crash would leave no trace of it.
    std::string unrecorded = events_.failure();
    const std::string key = s.id + " on " + h.label();
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_[key] = Clock::now();
    }
    CommandResult r = unrecorded.empty() ? agents_.run(h, c) : CommandResult{};
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(key);
    }
    if (!unrecorded.empty()) r.error = unrecorded;
    std::string fail;
    if (!r.error.empty()) fail = r.error;
    else if (r.timed_out) fail = "timed out after " + format_duration(s.timeout) + " (killed)";
    else if (r.signal) fail = "killed by signal " + std::to_string(r.signal);
    else fail = check_expectations(s, r);

    RunEvent fin = st;
    fin.kind = EventKind::step_finished;
    fin.exit_code = r.exit_code;
    fin.signal = r.signal;
    fin.duration = r.duration;
    fin.out_tail = tail_lines(r.out, 5);
    fin.err_tail = tail_lines(r.err, 5);
    fin.reason = fail;
    if (fail.empty()) {
      fin.status = "ok";
      if (!s.capture.empty()) {
        *captured = trim(r.out);
        fin.captures.emplace_back(s.capture, *captured);
        std::lock_guard<std::mutex> lock(mu_);
        redactor_.learn({{s.capture, *captured}});  // Before it is told anywhere.
      }
      emit(fin);
      return true;
    }
    fin.status = a < max ? "retry" : (r.timed_out ? "timed_out" : "failed");
    // Connection lost or killed at its timeout: it may have done its work.
    fin.uncertain = a == max && (!r.error.empty() || r.timed_out);
    if (fin.uncertain) {
      std::lock_guard<std::mutex> lock(mu_);
      state_.uncertain.insert(s.id);
    }
    emit(fin);
    *why = fail;
    if (a < max) std::this_thread::sleep_for(s.retry_delay);
  }
  return false;
}

Executor::StepOutcome Executor::run_step(const Step& s, const Roles* roles) {
  StepOutcome out;
  if (!s.confirm.empty() && !opts_.yes) {
    bool yes = false;
    if (opts_.ask) {
      std::lock_guard<std::mutex> one_question_at_a_time(ask_mu_);  // Grouped steps ask in turn.
      yes = opts_.ask(s.confirm);
    }
    if (!yes) {
      out.refused = true;
      out.why = opts_.ask ? "refused by the operator" : "needs confirmation: " + s.confirm + " (use --yes)";
      RunEvent e{EventKind::step_finished};
      e.phase = std::string(name(s.phase));
      e.step = s.id;
      e.status = "refused";
      e.reason = out.why;
      emit(e);
      return out;
    }
  }
  std::string err;
  std::vector<const Host*> hosts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hosts = resolve_hosts(rb_, roles ? *roles : state_.roles, s.on, &err);
  }
  if (!err.empty()) {
    out.why = err;
    return out;
  }
  const Vars vars = vars_now(roles ? std::optional<Phase>(s.phase) : std::nullopt);
  std::vector<std::string> whys(hosts.size()), caps(hosts.size());
  std::vector<char> oks(hosts.size(), 0);
  auto one = [&](size_t i) { oks[i] = attempt_on_host(s, *hosts[i], vars, &whys[i], &caps[i]); };
  if (hosts.size() == 1) {
    one(0);
  } else {
    std::vector<std::thread> ts;
    for (size_t i = 0; i < hosts.size(); ++i) ts.emplace_back(one, i);
    for (auto& t : ts) t.join();
  }
  out.ok = true;
  for (size_t i = 0; i < hosts.size(); ++i) {
    out.hosts.push_back(hosts[i]->label());
    if (!oks[i]) {
      out.ok = false;
      out.why = "on " + hosts[i]->label() + " (" + agents_.agent(*hosts[i]).describe() + "): " + whys[i];
    }
  }
  if (out.ok) {
    std::lock_guard<std::mutex> lock(mu_);
    state_.done.push_back({s.id, out.hosts});
    state_.uncertain.erase(s.id);
    if (!s.capture.empty()) set_var(state_.captures, s.capture, caps[0]);
  }
  return out;
}

bool Executor::run_phase(Phase p, bool* refused, std::string* why) {
  std::vector<const Step*> todo;
  for (const Step& s : rb_.steps) {
    if (s.phase != p) continue;
    std::string skip = skip_reason(s, op_);
    const bool done = is_done(s.id);
    if (!skip.empty() || done) {
      RunEvent e{EventKind::step_skipped};
      e.phase = std::string(name(p));
      e.step = s.id;
      e.reason = done ? "already done" : skip;
      emit(e);
      continue;
    }
    todo.push_back(&s);
  }
  bool ok = true;
  for (const auto& batch : batches(todo)) {
    std::vector<StepOutcome> outs(batch.size());
    if (batch.size() == 1) {
      outs[0] = run_step(*batch[0]);
    } else {
      std::vector<std::thread> ts;
      for (size_t i = 0; i < batch.size(); ++i)
        ts.emplace_back([&, i] { outs[i] = run_step(*batch[i]); });
      for (auto& t : ts) t.join();
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const Step& s = *batch[i];
      if (outs[i].ok) continue;
      if (s.on_failure == OnFailure::continue_ && !outs[i].refused) {
        RunEvent e{EventKind::message};
        e.phase = std::string(name(p));
        e.step = s.id;
        e.reason = "step " + s.id + " failed, continuing (on_failure = \"continue\"): " + outs[i].why;
        emit(e);
        continue;
      }
      ok = false;
      *refused = *refused || outs[i].refused;
      if (why->empty()) *why = "step " + s.id + " failed " + outs[i].why;
      if (s.on_failure == OnFailure::rollback) pending_recovery_ = MachineEvent::rollback;
    }
    if (!ok) break;
  }
  return ok;
}

bool Executor::rollback(std::string* why) {
  std::vector<DoneStep> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done = state_.done;
    // Steps whose outcome is unknown (connection lost, timed out, running
    // when Baton stopped) may have done their work: newest of all.
    std::set<std::string> maybe = state_.uncertain;
    maybe.insert(state_.in_flight.begin(), state_.in_flight.end());
    for (const std::string& id : maybe) {
      const Step* s = find_step(id);
      if (!s || is_done(id)) continue;
      std::string err;
      std::vector<std::string> labels;
      for (const Host* h : resolve_hosts(rb_, roles_in(s->phase), s->on, &err)) labels.push_back(h->label());
      done.push_back({id, labels});
    }
  }
  for (auto it = done.rbegin(); it != done.rend(); ++it) {
    const Step* s = find_step(it->id);
    if (!s || state_.undone.count(s->id)) continue;
    if (s->undo.empty()) {
      const bool maybe = !is_done(s->id);
      bool past_promote = false;
      for (Phase q : phase_sequence(op_)) {
        past_promote = past_promote || q == Phase::promote;
        if (q == s->phase) break;
      }
      // Undoing the rest around a promotion that may have happened could
      // leave two primaries: stop, and let a person look.
      if (maybe && past_promote) {
        *why = "step " + s->id + " may have taken effect (its outcome is unknown) and has no undo; check " +
               s->on + " by hand, then `baton resume " + rb_.path + " --abort`";
        return false;
      }
      continue;
    }
    Step undo = *s;
    undo.run = s->undo;
    undo.retries = 0;
    undo.expect_exit = 0;
    undo.expect_stdout.reset();
    undo.expect_match.reset();
    undo.capture.clear();
    const Vars vars = vars_now(s->phase);
    for (const std::string& label : it->hosts) {
      const Host* h = find_host(rb_, label);
      if (!h) continue;
      RunEvent st{EventKind::step_started};
      st.phase = "rollback";
      st.step = s->id;
      st.host = label;
      st.attempt = st.max_attempts = 1;
      st.rollback = true;
      emit(st);
      Command c{undo.run, with_host(vars, *h), undo.timeout};
      CommandResult r = agents_.run(*h, c);
      std::string fail = !r.error.empty() ? r.error
                         : r.timed_out     ? "timed out after " + format_duration(undo.timeout)
                                           : check_expectations(undo, r);
      RunEvent fin = st;
      fin.kind = EventKind::step_finished;
      fin.status = fail.empty() ? "ok" : "failed";
      fin.exit_code = r.exit_code;
      fin.duration = r.duration;
      fin.reason = fail;
      fin.out_tail = tail_lines(r.out, 5);
      fin.err_tail = tail_lines(r.err, 5);
      emit(fin);
      if (!fail.empty()) {
        *why = "undo of step " + s->id + " failed on " + label + ": " + fail;
        return false;
      }
    }
    state_.undone.insert(s->id);
  }
  return true;
}

std::string Executor::run_one(const Step& s, const Roles& roles) {
  state_ = RunState{};
  state_.roles = state_.roles_at_start = roles;
  StepOutcome o = run_step(s);
  return o.ok ? std::string() : o.why;
}

// Production is back on the old source only if every completed promote
// step was undone; otherwise the roles stay as the promote left them.
void Executor::restore_roles_after_rollback() {
  if (state_.roles.source == state_.roles_at_start.source && state_.roles.stale == state_.roles_at_start.stale) return;
  std::string kept;
  for (const DoneStep& d : state_.done)
    if (const Step* s = find_step(d.id); s && s->phase == Phase::promote && !state_.undone.count(s->id))
      kept += " " + s->id;
  if (!kept.empty()) {
    RunEvent note{EventKind::message};
    note.reason = "roles stay swapped: promote step(s)" + kept + " have no undo";
    emit(note);
    return;
  }
  set_roles(state_.roles_at_start);
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

// Reports steps that run long, every progress_every, until *stop.
void Executor::tick_until(const bool* stop, std::condition_variable* cv) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv->wait_for(lock, opts_.progress_every, [&] { return *stop; })) {
    std::vector<std::string> notes;
    const auto now = Clock::now();
    for (const auto& [key, since] : running_)
      if (now - since >= opts_.progress_every)
        notes.push_back("still running: " + key + " (" +
                        format_duration(std::chrono::duration_cast<Millis>(now - since)) + ")");
    lock.unlock();
    for (const std::string& n : notes) {
      RunEvent e{EventKind::message};
      e.reason = n;
      emit(e);
    }
    lock.lock();
  }
}

RunResult Executor::run(RunState initial) {
  const auto t0 = Clock::now();
  // Long steps are never silent: a ticker reports them while the run lasts.
  bool stop_ticker = false;
  std::condition_variable ticker_cv;
  std::thread ticker([&] { tick_until(&stop_ticker, &ticker_cv); });
  struct StopTicker {
    std::mutex& mu;
    bool& stop;
    std::condition_variable& cv;
    std::thread& t;
    ~StopTicker() {
      {
        std::lock_guard<std::mutex> lock(mu);
        stop = true;
      }
      cv.notify_all();
      t.join();
    }
  } stop_on_return{mu_, stop_ticker, ticker_cv, ticker};
  state_ = std::move(initial);
  RunResult res;
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
    std::string err = m.replay(state_.machine_events);
    if (!err.empty()) {
      res.exit_code = 1;
      res.message = "cannot rebuild the run's state from its journal: " + err;
      return res;
    }
  }
  auto finish = [&](int code, std::string msg) {
    res.exit_code = code;
    res.message = redactor_.apply(std::move(msg));
    res.state = m.state();
    res.elapsed = std::chrono::duration_cast<Millis>(Clock::now() - t0);
    res.roles = state_.roles;
    return res;
  };

  auto started = [&] {
    RunEvent e{EventKind::run_started};
    e.runbook = rb_.path;
    e.runbook_hash = rb_.content_hash;
    e.user = opts_.user;
    e.machine = opts_.machine;
    e.source = state_.roles.source;
    e.target = state_.roles.target;
    e.stale = state_.roles.stale;
    emit(e);
  };
  // A new run refused before it acts: on record, for the audit and for
  // --json readers, as a run that started and was refused.
  auto refuse = [&](int code, std::string msg) {
    started();
    RunEvent e{EventKind::run_finished};
    e.status = "refused";
    e.exit_code = code;
    e.reason = msg;
    emit(e);
    return finish(code, std::move(msg));
  };

  // Never act on a stale side: it may hold writes the new source lacks.
  if (fresh && op_ != Operation::reverse_sync && !state_.roles.stale.empty())
    return refuse(3, "site " + state_.roles.stale + " is stale after a failover; run `baton reverse-sync " +
                         rb_.path + "` first to make it a replica again");
  if (!opts_.yes && !opts_.ask) {
    auto qs = confirmations_needed();
    if (!qs.empty()) {
      std::string msg = "confirmation needed and no terminal to ask on; rerun with --yes to answer:";
      for (const auto& q : qs) msg += "\n  " + q;
      return fresh ? refuse(4, msg) : finish(4, msg);
    }
  }

  // A step that may have been running when Baton stopped runs again only if
  // it is idempotent, or the operator says so.
  const bool aborting = opts_.recovery == MachineEvent::abort;
  std::set<std::string> rerun = state_.in_flight;
  rerun.insert(state_.recapture.begin(), state_.recapture.end());
  for (const std::string& id : aborting ? std::set<std::string>{} : rerun) {
    const Step* s = find_step(id);
    if (!s || s->idempotent || opts_.yes) continue;
    const std::string q = "step " + id +
                          (state_.in_flight.count(id) ? " may have been running when Baton stopped"
                                                      : " captured a secret, which the journal does not keep") +
                          ", and it is not idempotent. Run it again?";
    if (!opts_.ask) return finish(4, "confirmation needed and no terminal to ask on; rerun with --yes to answer:\n  " + q);
    if (!opts_.ask(q)) return finish(4, "refused by the operator: " + q);
  }

  if (fresh) {
    state_.roles_at_start = state_.roles;
    started();
    m.fire(MachineEvent::start);
  } else {
    RunEvent e{EventKind::run_resumed};
    e.runbook = rb_.path;
    e.runbook_hash = rb_.content_hash;
    e.user = opts_.user;
    e.machine = opts_.machine;
    e.reason = m.failed() ? "failed in " + std::string(m.failed_phase() ? name(*m.failed_phase()) : "?")
                          : "stopped in " + m.state();
    emit(e);
    // Once undoing has begun, going forward would redo half-undone work.
    if (m.failed() && rollback_begun() && !opts_.recovery)
      return finish(2, "a rollback of run " + opts_.run_id + " has begun; continue it with `baton resume " + rb_.path +
                           " --rollback`, or end the run with `--abort`");
    if (m.failed()) {
      std::string err = m.fire(opts_.recovery.value_or(MachineEvent::resume));
      if (!err.empty()) return finish(2, err);
    } else if (opts_.recovery && (m.phase() || (m.state() == "rolling_back" && aborting))) {
      // Ending a run that stopped mid-phase: fail it there first.
      pending_recovery_ = opts_.recovery;
      m.fire(MachineEvent::step_failed);
    }
  }

  // Secrets were never journaled: capture them again, by running the steps
  // of phases already passed that captured them.
  for (const std::string& id : aborting ? std::set<std::string>{} : state_.recapture) {
    for (const Step& s : rb_.steps) {
      if (s.id != id || s.phase == m.phase()) continue;
      const Roles then = roles_in(s.phase);  // On the hosts it captured from.
      StepOutcome o = run_step(s, &then);
      if (!o.ok) return finish(1, "cannot capture the secret " + s.capture + " again: step " + id + " failed " + o.why);
    }
  }

  bool refused = false;
  std::string failure;
  bool tried_rollback = false;
  for (;;) {
    if (std::optional<Phase> p = m.phase()) {
      RunEvent e{EventKind::phase_entered};
      e.phase = std::string(name(*p));
      emit(e);
      std::string why;
      bool r = false;
      if (run_phase(*p, &r, &why)) {
        std::string err;
        if (*p == Phase::promote && op_ != Operation::drill) err = set_roles(roles_after_promote(state_.roles_at_start, op_));
        if (*p == Phase::reverse_sync && op_ == Operation::reverse_sync && !state_.roles.stale.empty())
          err = set_roles(Roles{state_.roles.source, state_.roles.target, ""});
        if (!err.empty()) {
          // Unrecorded roles would let the next run act on the wrong side.
          if (failure.empty()) failure = "cannot record the new roles: " + err;
          m.fire(MachineEvent::step_failed);
          continue;
        }
        m.fire(MachineEvent::phase_done);
      } else {
        refused = refused || r;
        if (failure.empty()) failure = why;
        m.fire(MachineEvent::step_failed);
      }
    } else if (m.state() == "rolling_back") {
      std::string why;
      if (rollback(&why)) {
        restore_roles_after_rollback();
        m.fire(MachineEvent::rollback_done);
      } else {
        failure = why;
        m.fire(MachineEvent::step_failed);
      }
    } else if (m.failed() && pending_recovery_ && !tried_rollback) {
      tried_rollback = true;
      m.fire(*pending_recovery_);
    } else {
      break;
    }
  }

  int code = 0;
  std::string msg;
  const std::string st = m.state();
  if (st == "completed") {
    code = 0;
  } else if (st == "failed") {
    std::optional<Phase> fp = m.failed_phase();
    code = refused ? 4 : (fp == Phase::preflight ? 3 : 1);
    msg = std::string(name(op_)) + " failed";
    if (fp) msg += " in " + std::string(name(*fp));
    msg += ": " + failure + ".";
    if (code == 3) msg += " Nothing was changed.";
    if (rollback_begun())
      msg += " The rollback stopped: fix the cause, then `baton resume " + rb_.path +
             " --rollback` goes on undoing (or `--abort`).";
    else
      msg += " Fix the cause, then `baton resume " + rb_.path +
             "` retries from the failed step (or `--rollback`, `--abort`).";
  } else if (st == "rolled_back") {
    code = 1;
    msg = std::string(name(op_)) + " was rolled back" + (failure.empty() ? "" : " after: " + failure);
  } else if (st == "aborted" && opts_.recovery == MachineEvent::abort) {
    code = 0;  // The operator's call, carried out: the run is over.
    msg = "run " + opts_.run_id + " aborted; nothing was undone";
  } else {
    code = 1;
    msg = std::string(name(op_)) + " ended " + st + (failure.empty() ? "" : ": " + failure);
  }
  finish(code, msg);
  RunEvent e{EventKind::run_finished};
  e.status = st;
  e.exit_code = code;
  if (st == "failed" && m.failed_phase()) e.phase = std::string(name(*m.failed_phase()));
  e.duration = res.elapsed;
  e.reason = msg;
  if (rb_.rto) e.rto = std::to_string(rb_.rto->count()) + "ms";
  emit(e);
  return res;
}

}  // namespace baton
