// The facts of a run's report, read from its journal.
#include "orchestrator/report.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "orchestrator/commands/context.h"
#include "orchestrator/commands/summary_view.h"
#include "runbooks/quantity.h"

namespace baton {
namespace {

std::string tail_of(const Json& j) {
  std::string out = j.str("stdout_tail");
  const std::string err = j.str("stderr_tail");
  if (!err.empty()) out += (out.empty() || out.back() == '\n' ? "" : "\n") + err;
  return out;
}

// Steps: one entry per (step, host, undo) until it ends, attempts folded.
void read_steps(const std::vector<Json>& records, RunReport* r) {
  std::map<std::tuple<std::string, std::string, bool>, size_t> open;  // -> index in r->steps
  for (const Json& j : records) {
    const std::string ev = j.str("event");
    const auto key = std::make_tuple(j.str("step"), j.str("host"), j.flag("rollback"));
    if (ev == "step_started") {
      if (!open.count(key)) {
        ReportStep s;
        s.phase = j.str("phase");
        s.step = j.str("step");
        s.host = j.str("host");
        s.rollback = j.flag("rollback");
        s.status = "running";
        s.started_ms = j.num("time_ms");
        open[key] = r->steps.size();
        r->steps.push_back(s);
      }
      continue;
    }
    if (ev == "notice") {
      for (auto it = r->steps.rbegin(); it != r->steps.rend(); ++it)
        if (it->step == j.str("step") && it->host == j.str("host")) {
          it->notices.push_back(j.str("reason"));
          break;
        }
      continue;
    }
    if (ev != "step_finished") continue;
    auto it = open.find(key);
    if (it == open.end()) {  // Refused before it started anywhere.
      ReportStep s;
      s.phase = j.str("phase");
      s.step = j.str("step");
      s.host = j.str("host");
      s.started_ms = j.num("time_ms");
      it = open.emplace(key, r->steps.size()).first;
      r->steps.push_back(s);
    }
    ReportStep& s = r->steps[it->second];
    s.attempts = std::max(s.attempts, static_cast<int>(j.num("attempt", 1)));
    s.duration_ms = j.num("duration_ms");
    s.finished_ms = j.num("time_ms");
    if (j.str("status") == "retry") continue;
    s.status = j.str("status");
    if (s.status != "ok") {
      s.reason = j.str("reason");
      s.hint = j.str("hint");
      s.output_tail = tail_of(j);
    }
    open.erase(it);
  }
}

void read_phases_and_resumes(const std::vector<Json>& records, RunReport* r) {
  std::string hash, stopped_by;  // what ended the attempt a resume continues
  for (const Json& j : records) {
    const std::string ev = j.str("event");
    const long long t = j.num("time_ms");
    if (ev == "run_started") hash = j.str("runbook_hash");
    if (ev == "run_finished") stopped_by = j.str("reason").substr(0, j.str("reason").find('\n'));
    if (ev == "phase_entered") {
      if (!r->phases.empty() && !r->phases.back().end_ms) r->phases.back().end_ms = t;
      r->phases.push_back({j.str("phase"), t, 0});
    } else if (ev == "run_finished" || ev == "run_resumed" || ev == "transition") {
      // A phase ends when the machine leaves it (to failed, completed, ...).
      if (!r->phases.empty() && !r->phases.back().end_ms && (ev != "transition" || j.str("from") == r->phases.back().phase))
        r->phases.back().end_ms = t;
    }
    if (ev == "run_resumed") {
      ReportResume res;
      res.at_ms = t;
      res.user = j.str("user");
      res.machine = j.str("machine");
      res.reason = j.str("reason");
      if (!stopped_by.empty()) res.reason += ": " + stopped_by;  // "failed in promote" alone hides a gate
      stopped_by.clear();
      res.hash_before = hash;
      res.hash_after = j.str("runbook_hash");
      hash = res.hash_after;
      r->resumes.push_back(res);
    }
    if (ev == "step_finished" && j.str("status") == "ok")
      if (const JsonValue* c = j.get("captures"); c && c->is_object())
        for (const auto& [k, v] : c->items()) r->captures.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  for (ReportPhase& p : r->phases)
    if (!p.end_ms) p.end_ms = r->end_ms;
}

// Writes are blocked from quiesce or fence (a failover: from its start)
// until start_apps has ended, or the end of the run.
void read_write_block(RunReport* r) {
  const std::string& op = r->summary.operation;
  if (op != "switchover" && op != "failover") return;
  std::optional<RunReport::Window> w;
  if (op == "failover") w = RunReport::Window{r->start_ms, 0, true};
  for (size_t i = 0; i < r->phases.size(); ++i) {
    const ReportPhase& p = r->phases[i];
    if (!w && (p.phase == "quiesce" || p.phase == "fence")) w = RunReport::Window{p.start_ms, 0, true};
    // start_apps succeeded when the machine entered a next phase.
    if (w && p.phase == "start_apps" && i + 1 < r->phases.size()) {
      w->end_ms = r->phases[i + 1].start_ms;
      w->open = false;
    }
  }
  if (!w) return;
  if (w->open) w->end_ms = r->end_ms;
  r->write_block = w;
}

void read_cost(const Runbook& rb, RunReport* r) {
  if (!rb.cost || !r->write_block) return;
  CostLine c;
  c.outage_s = (r->write_block->end_ms - r->write_block->start_ms) / 1000.0;
  c.hourly_revenue = rb.cost->hourly_revenue;
  c.hourly_labor = rb.cost->hourly_labor;
  c.currency = rb.cost->currency;
  const std::string& loss = r->summary.data_loss;
  std::optional<Quantity> q = loss.empty() ? std::nullopt : parse_quantity(loss);
  if (q && q->unit == Quantity::Unit::ms) c.loss_window_s = q->value / 1000.0;
  else if (loss.empty()) c.loss_note = "data loss not measured: Td taken as 0";
  else if (q && q->value == 0) c.loss_note = "no data lost";
  else c.loss_note = "loss of " + loss + " is not a time window: Td taken as 0";
  r->cost = c;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string money(double v) {
  // Whole amounts without decimals, others to the cent.
  return std::fabs(v - std::round(v)) < 0.005 ? fixed(v, 0) : fixed(v, 2);
}

}  // namespace

RunReport build_report(const Runbook& rb, const std::string& id, const std::vector<Json>& records,
                       const std::string& damaged) {
  RunReport r;
  r.runbook_name = rb.name;
  r.runbook_path = rb.path;
  r.summary = summarize(id, records);
  r.summary.damaged = damaged;
  r.start_ms = r.summary.started_ms;
  r.end_ms = std::max(r.summary.last_ms, r.start_ms);
  read_steps(records, &r);
  read_phases_and_resumes(records, &r);
  read_write_block(&r);
  read_cost(rb, &r);
  r.drill = drill_proof(r.summary);
  return r;
}

std::optional<DrillProof> drill_proof(const RunSummary& s) {
  if (s.operation != "drill" || !s.finished || s.state != "completed") return std::nullopt;
  return DrillProof{s.id, s.last_ms, s.duration_ms, s.runbook_hash};
}

std::string proof_sentence(const DrillProof& p) {
  return "recovery proven at " + iso_time(p.proven_ms) + " in " + format_duration(Millis(p.duration_ms)) +
         " with runbook " + p.runbook_hash;
}

std::string ago_text(long long ms) {
  if (ms < 0) ms = 0;
  const long long s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
  if (d >= 2) return std::to_string(d) + " days";
  if (h >= 2) return std::to_string(h) + " hours";
  if (m >= 2) return std::to_string(m) + " minutes";
  return std::to_string(s) + " s";
}

std::string outcome_words(const RunReport& r) {
  const RunSummary& s = r.summary;
  const Roles& a = s.roles_at_start;
  const Roles& b = s.roles_now;
  if (!s.damaged.empty())
    return "unknown: the journal is damaged (" + s.damaged + "); what the run did after that record is not known";
  if (!s.finished) return "interrupted in " + s.state + ": the run can be resumed";
  if (s.state == "completed") {
    if (s.operation == "drill") return "completed: recovery proven on a clone; production (" + a.source + ") untouched";
    if (s.operation == "reverse-sync") return "completed: " + a.target + " follows " + a.source + " again";
    std::string lost;  // Say the loss in the same breath, when there was one.
    if (!s.data_loss.empty() && s.data_loss.rfind("0 ", 0) != 0)
      lost = s.data_loss == "unknown" ? ", losing an unknown amount of data" : ", losing " + s.data_loss;
    return "completed: production moved from " + a.source + " to " + b.source + lost;
  }
  if (s.state == "rolled_back") return "rolled back: production stays on " + b.source;
  if (s.state == "aborted") return "aborted: production is on " + b.source + " (as the probe saw it)";
  return outcome(s) + (s.failure.empty() ? "" : ": " + s.failure.substr(0, s.failure.find('\n')));
}

std::string cost_sentence(const CostLine& c) {
  const std::string cur = c.currency.empty() ? "" : " " + c.currency;
  return "Cost = (To + Td) x (Hr + Lr) = (" + fixed(c.outage_s, 1) + " s + " + fixed(c.loss_window_s, 1) + " s) x (" +
         money(c.hourly_revenue) + " + " + money(c.hourly_labor) + cur + "/h) = " + money(c.cost()) + cur;
}

}  // namespace baton
