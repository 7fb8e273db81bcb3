#include "orchestrator/events.h"

#include <chrono>
#include <cstdio>

namespace baton {

std::string_view name(EventKind k) {
  switch (k) {
    case EventKind::run_started: return "run_started";
    case EventKind::run_resumed: return "run_resumed";
    case EventKind::transition: return "transition";
    case EventKind::phase_entered: return "phase_entered";
    case EventKind::step_skipped: return "step_skipped";
    case EventKind::step_started: return "step_started";
    case EventKind::step_finished: return "step_finished";
    case EventKind::roles_changed: return "roles_changed";
    case EventKind::message: return "message";
    case EventKind::run_finished: return "run_finished";
  }
  return "?";
}

std::string json_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

namespace {
void field(std::string& o, const char* k, const std::string& v) {
  if (v.empty()) return;
  o += ",\"";
  o += k;
  o += "\":\"";
  o += json_escape(v);
  o += '"';
}
void field(std::string& o, const char* k, long long v) {
  o += ",\"";
  o += k;
  o += "\":";
  o += std::to_string(v);
}
}  // namespace

std::string to_json(const RunEvent& e) {
  std::string o = "{\"event\":\"" + std::string(name(e.kind)) + "\"";
  field(o, "time_ms", e.time_ms);
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
    field(o, "attempt", e.attempt);
    field(o, "max_attempts", e.max_attempts);
  }
  field(o, "status", e.status);
  if (e.kind == EventKind::step_finished || e.kind == EventKind::run_finished) {
    field(o, "exit_code", e.exit_code);
    field(o, "duration_ms", e.duration.count());
  }
  if (e.signal) field(o, "signal", e.signal);
  field(o, "reason", e.reason);
  field(o, "from", e.from);
  field(o, "on", e.event);
  field(o, "to", e.to);
  if (!e.captures.empty()) {
    o += ",\"captures\":{";
    bool first = true;
    for (const auto& [k, v] : e.captures) {
      if (!first) o += ',';
      first = false;
      o += '"' + json_escape(k) + "\":\"" + json_escape(v) + '"';
    }
    o += '}';
  }
  field(o, "stdout_tail", e.out_tail);
  field(o, "stderr_tail", e.err_tail);
  field(o, "source", e.source);
  field(o, "target", e.target);
  field(o, "stale", e.stale);
  field(o, "rto", e.rto);
  if (e.rollback) o += ",\"rollback\":true";
  if (e.uncertain) o += ",\"uncertain\":true";
  o += '}';
  return o;
}

void EventBus::emit(const RunEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  RunEvent stamped = e;
  stamped.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  for (EventSink* s : sinks_) s->emit(stamped);
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
