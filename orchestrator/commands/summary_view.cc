#include "orchestrator/commands/summary_view.h"

#include "orchestrator/commands/context.h"

namespace baton {

std::string outcome(const RunSummary& s) {
  if (!s.finished) return "interrupted in " + s.state + " (resumable)";
  if (s.state == "failed") return "failed in " + s.failed_phase + (s.resumable() ? " (resumable)" : "");
  return s.state;
}

std::string rto_verdict(const RunSummary& s) {
  if (!s.finished || s.state != "completed") return {};  // Judged only when it got there.
  if (!s.rto_verdict.empty()) return s.rto_verdict;
  std::optional<Millis> rto = parse_duration(s.rto);  // Journals of 0.1 record no verdict.
  if (!rto) return {};
  return s.duration_ms <= rto->count() ? "met" : "missed";
}

std::string rpo_verdict(const RunSummary& s) {
  if (!s.rpo_verdict.empty()) return s.rpo_verdict;
  return s.rpo.empty() || !s.finished ? "" : "not measured";
}

JsonValue summary_json(const RunSummary& s) {
  JsonValue o = JsonValue::object();
  o["run"] = s.id;
  o["operation"] = s.operation;
  o["started"] = iso_time(s.started_ms);
  o["duration_ms"] = s.duration_ms;
  o["finished"] = s.finished;
  o["state"] = s.state;
  o["exit_code"] = s.exit_code;
  o["resumable"] = s.resumable();
  if (!s.failed_phase.empty()) o["failed_phase"] = s.failed_phase;
  if (!s.rto.empty()) {
    o["rto_ms"] = parse_duration(s.rto).value_or(Millis(0)).count();
    o["rto"] = rto_verdict(s);
  }
  if (!s.rpo.empty()) o["rpo"] = s.rpo;
  if (std::string v = rpo_verdict(s); !v.empty()) o["rpo_verdict"] = v;
  if (!s.data_loss.empty()) o["data_loss"] = s.data_loss;
  if (!s.notices.empty()) o["notices"] = s.notices;
  o["source"] = s.roles_now.source;
  o["target"] = s.roles_now.target;
  o["user"] = s.user;
  o["machine"] = s.machine;
  return o;
}

JsonValue probe_json(const Observation& o, const RoleCheck& rc) {
  JsonValue hosts = JsonValue::array();
  for (const HostProbe& p : o.hosts) {
    JsonValue h = JsonValue::object();
    h["host"] = p.host;
    h["role"] = std::string(name(p.role));
    JsonValue facts = JsonValue::object();
    for (const auto& [k, v] : p.facts) facts[k] = v;
    h["facts"] = facts;
    if (!p.detail.empty()) h["detail"] = p.detail;
    hosts.push_back(h);
  }
  static const char* kinds[] = {"unprobed", "agree", "from_probe", "split_brain", "no_primary", "contradicts"};
  JsonValue j = JsonValue::object();
  j["hosts"] = hosts;
  j["verdict"] = kinds[static_cast<int>(rc.kind)];
  if (!rc.message.empty()) j["message"] = rc.message;
  return j;
}

}  // namespace baton
