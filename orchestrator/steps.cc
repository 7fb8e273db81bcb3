// How a step runs: on which hosts, with which variables, how many
// attempts, what its output says (notices, captures, measured data loss),
// and what a failure tells the operator.
#include <algorithm>
#include <chrono>
#include <sstream>
#include <thread>

#include "orchestrator/executor.h"
#include "orchestrator/host_command.h"
#include "orchestrator/plan.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

// Lines a step prints for the operator: "baton-notice: TEXT".
constexpr std::string_view kNotice = "baton-notice:";

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string first_line(const std::string& s) {
  std::string t = trim(s);
  return t.substr(0, t.find('\n'));
}

}  // namespace

std::string still_there(const CommandResult& r, const RunState::Process& p, bool may_still_run) {
  if (!may_still_run) return {};
  const std::string group = "process group " + std::to_string(p.pgid);
  if (r.kill_failed) return " (" + group + ")";  // its error says so already
  return "; it may still be running there (" + group + ")";
}

std::string check_expectations(const Step& s, const CommandResult& r) { return check_expectations(s, r, r); }

std::string check_expectations(const Step& s, const CommandResult& r, const CommandResult& shown) {
  if (r.exit_code != s.expect_exit) {
    std::string why = "exit code " + std::to_string(r.exit_code);
    if (s.expect_exit != 0) why += ", expected " + std::to_string(s.expect_exit);
    std::string err = tail_lines(shown.err, 3);
    if (!err.empty()) why += ": " + err;
    return why;
  }
  if (s.expect_stdout && trim(r.out) != *s.expect_stdout)
    return "stdout was \"" + tail_lines(trim(shown.out), 3) + "\", expected \"" + *s.expect_stdout + "\"";
  // Compiled at load time; linear in the output (RE2).
  if (s.expect_match && !s.expect_match->found_in(r.out))
    return "stdout \"" + tail_lines(trim(shown.out), 3) + "\" does not match /" + s.expect_match->text() + "/";
  return {};
}

CommandResult Executor::masked(const CommandResult& r) {
  CommandResult m = r;
  std::lock_guard<std::mutex> lock(mu_);
  m.out = redactor_.apply(r.out);
  m.err = redactor_.apply(r.err);
  m.error = redactor_.apply(r.error);
  return m;
}

std::string Executor::take_notices(const Step& s, const Host& h, const std::string& out) {
  if (out.find(kNotice) == std::string::npos) return out;
  std::string rest;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, kNotice.size(), kNotice) != 0) {
      rest += line + "\n";
      continue;
    }
    RunEvent n{EventKind::notice};
    n.phase = std::string(name(s.phase));
    n.step = s.id;
    n.host = h.label();
    n.reason = trim(line.substr(kNotice.size()));
    emit(n);
  }
  if (!out.empty() && out.back() != '\n' && !rest.empty()) rest.pop_back();
  return rest;
}

void Executor::keep_values(const Step& s, const Vars& values) {
  if (!opts_.keep || values.empty()) return;
  auto tell = [&](const std::string& var, const std::string& why) {
    RunEvent e{EventKind::message};
    e.phase = std::string(name(s.phase));
    e.step = s.id;
    e.reason = "not kept for later runs: " + var + " (" + why + ")";
    emit(e);
  };
  Vars keep;
  std::vector<std::string> drop;
  for (const auto& [var, value] : values) {
    bool secret;
    {
      std::lock_guard<std::mutex> lock(mu_);
      secret = redactor_.apply(value) != value;
    }
    if (secret) {
      tell(var, "it holds a secret, and Baton never stores one; a value kept before under this name is removed");
      drop.push_back(var);
    } else {
      keep.emplace_back(var, value);
    }
  }
  // One write: each costs two syncs, and this one may sit before a promote.
  // One at a time: kept.json is read, changed and written whole.
  std::lock_guard<std::mutex> lock(keep_mu_);
  if (std::string err = opts_.keep(keep, drop); !err.empty()) {
    for (const auto& kv : keep) tell(kv.first, err);
    for (const std::string& var : drop) tell(var, "an older value under this name may remain: " + err);
  }
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
    if (int sig = stopping(); sig && s.phase != Phase::cleanup) {
      *why = "not started: Baton was stopped by signal " + std::to_string(sig);
      return false;
    }
    RunEvent st{EventKind::step_started};
    st.phase = std::string(name(s.phase));
    st.step = s.id;
    st.host = h.label();
    st.attempt = a;
    st.max_attempts = max;
    if (std::string busy = clear_to_start(s.id, h.label()); !busy.empty()) {
      // Not started, so the step failed; what still runs of it may have acted.
      RunEvent fin = st;
      fin.kind = EventKind::step_finished;
      fin.status = "failed";
      fin.uncertain = fin.may_still_run = true;
      fin.reason = "not started: " + busy;
      fin.hint = s.hint;
      {
        std::lock_guard<std::mutex> lock(mu_);
        state_.uncertain.insert(s.id);
        state_.failed.insert(s.id);
      }
      emit(fin);
      *why = fin.reason;
      return false;
    }
    Command c = host_command(rb_, h, step_script(s), with_host(vars, h), s.run_as);
    c.before_start = start_gate(st);
    c.timeout = s.timeout;
    // A drill's cleanup runs to its end even when Baton is asked to stop.
    if (s.phase != Phase::cleanup) c.stop = opts_.stop;
    RunState::Process proc{s.id, h.label(), 0, 0, false};
    c.on_process = track_process(st, &proc);
    std::string unrecorded = events_.failure();  // a write failed already
    const std::string key = s.id + " on " + h.label();
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_[key] = Running{Clock::now(), 0};
    }
    CommandResult r = unrecorded.empty() ? agents_.run(h, c) : CommandResult{};
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(key);
    }
    if (unrecorded.empty() && r.not_started) unrecorded = events_.failure();  // the sync failed
    if (!unrecorded.empty()) r.error = unrecorded;
    const bool may_still_run = attempt_ended(proc, r);
    // A secret this step captures is a secret from the moment it is printed.
    if (!s.capture.empty() && (is_secret_name(s.capture) || s.secret)) {
      std::lock_guard<std::mutex> lock(mu_);
      redactor_.learn_value(trim(r.out));
    }
    r.out = take_notices(s, h, r.out);
    const CommandResult shown = masked(r);  // Whole texts, before anything is cut.
    std::string fail;
    if (!r.error.empty()) fail = shown.error + still_there(r, proc, may_still_run);
    else if (r.stopped_by) fail = "stopped by signal " + std::to_string(r.stopped_by) + " (killed)";
    else if (r.timed_out) fail = "timed out after " + format_duration(s.timeout) + " (killed)";
    else if (r.signal) fail = "killed by signal " + std::to_string(r.signal);
    else fail = check_expectations(s, r, shown);
    if (fail.empty() && !s.capture.empty() && r.out_dropped)  // Never capture a cut value.
      fail = "capture " + s.capture + ": stdout was " + std::to_string(c.output_limit + r.out_dropped) +
             " bytes, over the " + std::to_string(c.output_limit >> 20) + " MiB Baton keeps of a stream";

    std::optional<Measured> loss;
    if (fail.empty() && s.measures_data_loss) {
      loss = parse_measured(first_line(r.out));
      if (!loss)
        fail = "measures = \"data_loss\", but its first line \"" + first_line(r.out).substr(0, 120) +
               "\" starts with neither an amount (\"1234 bytes\", \"3 transactions\", \"2s\") nor \"unknown\"";
    }

    RunEvent fin = st;
    fin.kind = EventKind::step_finished;
    fin.may_still_run = may_still_run;
    fin.kill_failed = may_still_run && r.kill_failed;
    fin.exit_code = r.exit_code;
    fin.signal = r.signal;
    fin.duration = r.duration;
    fin.out_tail = tail_lines(shown.out, 5);
    fin.err_tail = tail_lines(shown.err, 5);
    fin.reason = fail;
    if (fail.empty()) {
      fin.status = "ok";
      if (!s.capture.empty()) {
        *captured = trim(r.out);
        fin.captures.emplace_back(s.capture, *captured);
        std::lock_guard<std::mutex> lock(mu_);
        redactor_.learn({{s.capture, *captured}});  // Before it is told anywhere.
      }
      if (loss) {
        fin.data_loss = loss->amount ? format_quantity(*loss->amount) : "unknown";
        fin.data_loss_text = loss->text;
        std::lock_guard<std::mutex> lock(mu_);
        state_.data_loss = loss;
      }
      emit(fin);
      Vars keep;
      if (s.keep) keep.emplace_back(s.capture, *captured);
      if (loss && op_ != Operation::drill) {  // For the reverse-sync that follows a failover.
        keep.emplace_back("BATON_LAST_DATA_LOSS", fin.data_loss);
        keep.emplace_back("BATON_LAST_DATA_LOSS_TEXT", loss->text);
      }
      keep_values(s, keep);
      return true;
    }
    const bool last = a == max || r.stopped_by;
    fin.status = !last ? "retry" : r.stopped_by ? "interrupted" : r.timed_out ? "timed_out" : "failed";
    // Connection lost or killed: it may have done its work.
    fin.uncertain = last && (!r.error.empty() || r.timed_out || r.stopped_by);
    if (r.stopped_by) {  // killed, unless the agent says the kill failed
      std::lock_guard<std::mutex> lock(mu_);
      (r.error.empty() ? killed_ : not_stopped_).push_back(key);
    }
    if (last) {
      fin.hint = s.hint;
      std::lock_guard<std::mutex> lock(mu_);
      if (fin.uncertain) state_.uncertain.insert(s.id);
      if (unrecorded.empty()) state_.failed.insert(s.id);  // It ran: it may have acted.
    }
    emit(fin);
    *why = fail;
    if (last) return false;
    std::this_thread::sleep_for(s.retry_delay);
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
      out.hint = s.hint;
    }
  }
  if (out.ok) {
    std::lock_guard<std::mutex> lock(mu_);
    state_.done.push_back({s.id, out.hosts});
    state_.uncertain.erase(s.id);
    state_.failed.erase(s.id);
    if (!s.capture.empty()) set_var(state_.captures, s.capture, caps[0]);
  }
  return out;
}

bool Executor::run_phase(Phase p) {
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
      for (size_t i = 0; i < batch.size(); ++i) ts.emplace_back([&, i] { outs[i] = run_step(*batch[i]); });
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
      fail("step " + s.id + " failed " + outs[i].why, outs[i].hint, outs[i].refused);
      if (s.on_failure == OnFailure::rollback) pending_recovery_ = MachineEvent::rollback;
    }
    if (!ok) break;
  }
  return ok;
}

std::string Executor::run_one(const Step& s, const Roles& roles) {
  state_ = RunState{};
  state_.roles = state_.roles_at_start = roles;
  StepOutcome o = run_step(s);
  if (o.ok) return {};
  std::lock_guard<std::mutex> lock(mu_);
  return redactor_.apply(o.hint.empty() ? o.why : o.why + "\nhint: " + o.hint);
}

}  // namespace baton
