#include "orchestrator/events.h"

#include <chrono>
#include <cstdio>

#include "orchestrator/json.h"

namespace baton {

std::string_view name(EventKind k) {
  switch (k) {
    case EventKind::run_started: return "run_started";
    case EventKind::run_resumed: return "run_resumed";
    case EventKind::transition: return "transition";
    case EventKind::phase_entered: return "phase_entered";
    case EventKind::step_skipped: return "step_skipped";
    case EventKind::step_started: return "step_started";
    case EventKind::step_process: return "step_process";
    case EventKind::step_finished: return "step_finished";
    case EventKind::roles_changed: return "roles_changed";
    case EventKind::probed: return "probed";
    case EventKind::notice: return "notice";
    case EventKind::host_connected: return "host_connected";
    case EventKind::message: return "message";
    case EventKind::run_finished: return "run_finished";
  }
  return "?";
}

namespace {
void field(JsonValue& o, const char* k, const std::string& v) {
  if (!v.empty()) o[k] = v;
}

JsonValue to_json_value(const RunEvent& e) {
  JsonValue o = JsonValue::object();
  o["event"] = std::string(name(e.kind));
  o["time_ms"] = e.time_ms;
  field(o, "run", e.run_id);
  field(o, "operation", e.operation);
  field(o, "runbook", e.runbook);
  field(o, "runbook_hash", e.runbook_hash);
  field(o, "user", e.user);
  field(o, "machine", e.machine);
  field(o, "phase", e.phase);
  field(o, "step", e.step);
  field(o, "host", e.host);
  if (e.attempt) {
    o["attempt"] = e.attempt;
    o["max_attempts"] = e.max_attempts;
  }
  field(o, "status", e.status);
  if (e.started_ms) o["started_ms"] = e.started_ms;
  if (e.kind == EventKind::step_finished || e.kind == EventKind::run_finished ||
      e.kind == EventKind::host_connected) {
    o["exit_code"] = e.exit_code;
    o["duration_ms"] = static_cast<long long>(e.duration.count());
  }
  if (e.signal) o["signal"] = e.signal;
  if (e.pgid) {
    o["pgid"] = e.pgid;
    o["start_ticks"] = e.start_ticks;
  }
  field(o, "reason", e.reason);
  field(o, "from", e.from);
  field(o, "on", e.event);
  field(o, "to", e.to);
  if (!e.captures.empty()) {
    JsonValue c = JsonValue::object();
    for (const auto& [k, v] : e.captures) c[k] = v;
    o["captures"] = c;
  }
  if (!e.masked_captures.empty()) o["masked_captures"] = e.masked_captures;
  field(o, "stdout_tail", e.out_tail);
  field(o, "stderr_tail", e.err_tail);
  field(o, "source", e.source);
  field(o, "target", e.target);
  field(o, "stale", e.stale);
  field(o, "rto", e.rto);
  if (!e.facts.empty()) {
    JsonValue f = JsonValue::object();
    for (const auto& [k, v] : e.facts) f[k] = v;
    o["facts"] = f;
  }
  field(o, "hint", e.hint);
  field(o, "data_loss", e.data_loss);
  field(o, "data_loss_text", e.data_loss_text);
  field(o, "rpo", e.rpo);
  field(o, "rpo_verdict", e.rpo_verdict);
  field(o, "rto_verdict", e.rto_verdict);
  if (e.rollback) o["rollback"] = true;
  if (e.uncertain) o["uncertain"] = true;
  if (e.may_still_run) o["may_still_run"] = true;
  if (e.kill_failed) o["kill_failed"] = true;
  return o;
}
}  // namespace

std::string to_json(const RunEvent& e) { return dump_json(to_json_value(e)); }

void EventBus::emit(const RunEvent& e) {
  record(e);
  settle(e);
}

void EventBus::record(const RunEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  RunEvent stamped = e;
  stamped.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  for (EventSink* s : sinks_) s->emit(stamped);
}

// Outside the lock: threads wait here together (the journal's one sync).
void EventBus::settle(const RunEvent& e) {
  std::vector<EventSink*> sinks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sinks = sinks_;
  }
  for (EventSink* s : sinks) s->settle(e);
}

std::string EventBus::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (EventSink* s : sinks_)
    if (std::string f = s->failure(); !f.empty()) return f;
  return {};
}

std::string tail_lines(const std::string& text, int n) {
  if (text.empty()) return {};
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  size_t pos = end;
  int lines = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++lines == n) break;
    --pos;
  }
  std::string t = text.substr(pos, end - pos);
  if (t.size() > 2000) t = "..." + t.substr(t.size() - 2000);
  return t;
}

}  // namespace baton
