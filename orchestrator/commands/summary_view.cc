#include "orchestrator/commands/summary_view.h"

#include "orchestrator/commands/context.h"

#include <chrono>

namespace baton {

std::string outcome(const RunSummary& s) {
  if (!s.damaged.empty()) return "unknown: damaged journal";  // What follows the damage is not read.
  if (!s.finished) return "interrupted in " + s.state + " (resumable)";
  if (s.state == "failed") return "failed in " + s.failed_phase + (s.resumable() ? " (resumable)" : "");
  return s.state;
}

std::string rto_verdict(const RunSummary& s) {
  if (!s.finished || s.state != "completed" || !s.damaged.empty()) return {};  // Judged only when it got there.
  // Callers show the objective beside the verdict: none without one.
  std::optional<Millis> rto = parse_duration(s.rto);
  if (!rto) return {};
  if (!s.rto_verdict.empty()) return s.rto_verdict;  // Journals of 0.1 record no verdict.
  return s.duration_ms <= rto->count() ? "met" : "missed";
}

std::string rpo_verdict(const RunSummary& s) {
  if (!s.damaged.empty()) return {};
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
  o["outcome"] = outcome(s);
  o["exit_code"] = s.exit_code;
  o["resumable"] = s.resumable();
  if (!s.damaged.empty()) o["damaged"] = s.damaged;
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
  auto roles = [](const Roles& r) { return JsonValue{{"source", r.source}, {"target", r.target}, {"stale", r.stale}}; };
  o["roles_before"] = roles(s.roles_at_start);
  o["roles_after"] = roles(s.roles_now);
  o["runbook_hash"] = s.runbook_hash;
  if (s.operation == "drill" && s.finished && s.state == "completed") o["proven_at"] = iso_time(s.last_ms);
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

std::optional<DrillProof> last_drill(const std::string& state_dir) {
  std::vector<std::string> ids = list_runs(state_dir);
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    JournalRead jr = read_journal(journal_path(state_dir, *it));
    if (auto p = drill_proof(summarize(*it, jr.records))) return p;
  }
  return std::nullopt;
}

std::string drill_status(const std::optional<DrillProof>& d, const Runbook& rb, long long now) {
  if (!d) return "never: no drill of this runbook has completed";
  std::string t = "recovery proven " + ago_text(now - d->proven_ms) + " ago, at " + iso_time(d->proven_ms) + " in " +
                  format_duration(Millis(d->duration_ms)) + " with runbook " + d->runbook_hash + " (run " + d->run + ")";
  if (d->runbook_hash == rb.content_hash) return t + "; the runbook is unchanged since";
  return t + "; not verified: the runbook changed since (now " + rb.content_hash + ")";
}

JsonValue drill_json(const std::optional<DrillProof>& d, const Runbook& rb, long long now) {
  if (!d) return JsonValue();
  return {{"run", d->run},
          {"proven_at", iso_time(d->proven_ms)},
          {"duration_ms", d->duration_ms},
          {"runbook_hash", d->runbook_hash},
          {"verified", d->runbook_hash == rb.content_hash},
          {"ago_ms", now - d->proven_ms}};
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace baton
