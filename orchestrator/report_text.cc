// A run's report as text and as JSON: the same facts as the HTML page.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "orchestrator/commands/context.h"
#include "orchestrator/commands/summary_view.h"
#include "orchestrator/progress.h"  // visible
#include "orchestrator/report.h"

namespace baton {
namespace {

std::string step_name(const ReportStep& s) { return s.rollback ? "undo " + s.step : s.step; }

std::string roles_text(const Roles& r) {
  return "source " + r.source + ", target " + r.target + (r.stale.empty() ? "" : ", stale " + r.stale);
}

std::string indent(const std::string& text, const std::string& pad) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) out += pad + line + "\n";
  return out;
}

}  // namespace

std::string report_text(const RunReport& r) {
  const RunSummary& s = r.summary;
  std::ostringstream o;
  char line[512];
  o << s.operation << " of \"" << r.runbook_name << "\"  run " << s.id << "\n";
  o << "started   " << iso_time(s.started_ms) << " by " << s.user << " on " << s.machine << "\n";
  o << "runbook   " << s.runbook << " (hash " << s.runbook_hash << ")\n";
  o << "roles     before: " << roles_text(s.roles_at_start) << "\n";
  o << "          after:  " << roles_text(s.roles_now) << "\n";
  o << "outcome   " << outcome(s) << " in " << format_duration(Millis(s.duration_ms));
  const std::string rto = rto_verdict(s);
  if (!rto.empty()) o << " (RTO " << format_duration(*parse_duration(s.rto)) << ": " << rto << ")";
  o << "\n          " << outcome_words(r) << "\n";
  if (const std::string rpo = rpo_verdict(s); !rpo.empty())
    o << "RPO       " << (s.rpo.empty() ? "" : s.rpo + ": ") << rpo << "\n";
  if (r.write_block)
    o << "writes    blocked for " << format_duration(Millis(r.write_block->end_ms - r.write_block->start_ms))
      << (r.write_block->open ? " (still blocked when the run stopped)" : "") << "\n";
  if (r.cost) o << "cost      " << cost_sentence(*r.cost) << (r.cost->loss_note.empty() ? "" : " (" + r.cost->loss_note + ")") << "\n";
  if (r.drill) o << "drill     " << proof_sentence(*r.drill) << "\n";
  int w = 28;  // the STEP column: as wide as the longest step's name
  for (const ReportStep& st : r.steps) w = std::max(w, static_cast<int>(std::min<size_t>(step_name(st).size(), 200)));
  std::snprintf(line, sizeof line, "\n%-18s %-*s %-14s %-10s %8s  %s\n", "PHASE", w, "STEP", "HOST", "STATUS",
                "ATTEMPTS", "DURATION");
  o << line;
  for (const ReportStep& st : r.steps) {
    std::snprintf(line, sizeof line, "%-18s %-*s %-14s %-10s %8d  %s\n", st.phase.c_str(), w, step_name(st).c_str(),
                  st.host.c_str(), st.status.c_str(), st.attempts, format_duration(Millis(st.duration_ms)).c_str());
    o << line;
    for (const std::string& n : st.notices) o << "    notice: " << n << "\n";
    if (!st.reason.empty()) o << indent(st.reason, "    ");
    if (!st.output_tail.empty()) o << "    output (last lines):\n" << indent(st.output_tail, "      ");
  }
  if (!r.captures.empty()) o << "\ncaptured\n";
  // A multi-line value stays under its name, not at the margin.
  for (const auto& [k, v] : r.captures) {
    const size_t nl = v.find('\n');
    o << "  " << k << " = " << v.substr(0, nl) << "\n";
    if (nl != std::string::npos) o << indent(v.substr(nl + 1), std::string(k.size() + 5, ' '));
  }
  if (!r.resumes.empty()) o << "\nresumed\n";
  for (const ReportResume& res : r.resumes)
    o << "  " << iso_time(res.at_ms) << " by " << res.user << ": " << res.reason
      << (res.forced() ? "; forced, runbook " + res.hash_before + " -> " + res.hash_after : "") << "\n";
  if (!r.journal_warning.empty()) o << "\nwarning: " << r.journal_warning << "\n";
  return visible(o.str());  // Step output may hold terminal escapes.
}

JsonValue report_json(const RunReport& r, const std::vector<Json>& records) {
  const RunSummary& s = r.summary;
  JsonValue j = JsonValue::object();
  JsonValue sum = summary_json(s);
  sum["outcome_words"] = outcome_words(r);
  j["summary"] = sum;
  j["steps"] = JsonValue::array();
  for (const ReportStep& st : r.steps) {
    JsonValue sj = {{"phase", st.phase},        {"step", st.step},
                    {"host", st.host},          {"rollback", st.rollback},
                    {"status", st.status},      {"attempts", st.attempts},
                    {"started", iso_time(st.started_ms)}, {"started_ms", st.started_ms},
                    {"duration_ms", st.duration_ms},      {"notices", st.notices}};
    if (!st.reason.empty()) sj["reason"] = st.reason;
    if (!st.output_tail.empty()) sj["output_tail"] = st.output_tail;
    j["steps"].push_back(sj);
  }
  j["captures"] = JsonValue::object();
  for (const auto& [k, v] : r.captures) j["captures"][k] = v;
  j["resumes"] = JsonValue::array();
  for (const ReportResume& res : r.resumes)
    j["resumes"].push_back({{"at", iso_time(res.at_ms)},
                            {"user", res.user},
                            {"reason", res.reason},
                            {"forced", res.forced()},
                            {"runbook_hash_before", res.hash_before},
                            {"runbook_hash_after", res.hash_after}});
  JsonValue tl = {{"start_ms", r.start_ms}, {"end_ms", r.end_ms}, {"phases", JsonValue::array()}};
  for (const ReportPhase& p : r.phases)
    tl["phases"].push_back({{"phase", p.phase}, {"start_ms", p.start_ms}, {"end_ms", p.end_ms}});
  if (r.write_block)
    tl["write_block"] = {{"start_ms", r.write_block->start_ms},
                         {"end_ms", r.write_block->end_ms},
                         {"open", r.write_block->open}};
  j["timeline"] = tl;
  if (r.cost)
    j["cost"] = {{"outage_s", r.cost->outage_s},         {"loss_window_s", r.cost->loss_window_s},
                 {"hourly_revenue", r.cost->hourly_revenue}, {"hourly_labor", r.cost->hourly_labor},
                 {"cost", r.cost->cost()},                   {"currency", r.cost->currency},
                 {"text", cost_sentence(*r.cost)}};
  if (!r.journal_warning.empty()) j["journal_warning"] = r.journal_warning;
  if (r.drill) j["drill"] = {{"proven_at", iso_time(r.drill->proven_ms)}, {"text", proof_sentence(*r.drill)}};
  j["records"] = JsonValue::array();
  for (const Json& rec : records) j["records"].push_back(rec.v);
  return j;
}

}  // namespace baton
