// A run's report as one self-contained HTML page for an auditor: inline
// CSS and SVG, no script, no network; prints to PDF (A4, no cut rows).
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "orchestrator/commands/context.h"
#include "orchestrator/commands/summary_view.h"
#include "orchestrator/progress.h"  // visible
#include "orchestrator/report.h"

namespace baton {
namespace {

std::string esc(const std::string& t) {
  std::string out;
  for (char c : visible(t)) {  // No raw control characters in the page.
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

const char* const kStyle = R"(
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin: 0 0 .2em; } h2 { font-size: 1.15em; margin: 1.6em 0 .5em; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3em .6em; vertical-align: top;
       border-bottom: 1px solid var(--line); } th { background: #f6f8fa; }
table.facts th { width: 12em; background: none; color: var(--muted); font-weight: normal; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); } .muted { color: var(--muted); }
.verdict { font-size: 1.1em; font-weight: 600; }
.proof { border: 2px solid var(--ok); padding: .6em 1em; border-radius: 6px; }
.cost { border: 1px solid var(--line); padding: .6em 1em; border-radius: 6px; background: #f6f8fa; }
pre { background: #f6f8fa; padding: .5em; margin: .3em 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
svg text { font: 11px system-ui, Helvetica, Arial, sans-serif; }
footer { margin-top: 2em; color: var(--muted); font-size: .9em; }
@media print { body { margin: 0; max-width: none; font-size: 11px; } tr, pre, svg, .proof, .cost { break-inside: avoid; }
       h2 { break-after: avoid; } }
@page { size: A4; margin: 15mm; }
)";

std::string status_class(const std::string& st) {
  if (st == "ok") return "ok";
  if (st == "running") return "warn";
  return "bad";
}

std::string verdict_class(const std::string& v) {
  if (v.rfind("met", 0) == 0) return "ok";
  if (v.empty() || v.rfind("not measured", 0) == 0) return "warn";
  return "bad";
}

std::string roles_cell(const Roles& r) {
  return "source <b>" + esc(r.source) + "</b>, target <b>" + esc(r.target) + "</b>" +
         (r.stale.empty() ? "" : ", stale <b>" + esc(r.stale) + "</b>");
}

// Phases on top, then one row per host with its steps as bars; the
// write-blocking window shaded across all rows.
std::string timeline_svg(const RunReport& r) {
  std::vector<std::string> hosts;
  for (const ReportStep& s : r.steps)
    if (!s.host.empty() && std::find(hosts.begin(), hosts.end(), s.host) == hosts.end()) hosts.push_back(s.host);
  const double left = 120, width = 900, row = 26, top = 22;
  const double span = std::max<long long>(r.end_ms - r.start_ms, 1);
  auto x = [&](long long t) { return left + width * std::clamp((t - r.start_ms) / span, 0.0, 1.0); };
  const double height = top + row * (1 + hosts.size()) + 24;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"timeline\" viewBox=\"0 0 "
    << left + width + 20 << " " << height << "\" width=\"100%\">\n";
  if (r.write_block) {
    const double a = x(r.write_block->start_ms), b = x(r.write_block->end_ms);
    o << "<rect x=\"" << num(a) << "\" y=\"" << top - 16 << "\" width=\"" << num(std::max(b - a, 1.0))
      << "\" height=\"" << row * (1 + hosts.size()) + 16 << "\" fill=\"#cf222e\" fill-opacity=\"0.10\" "
      << "stroke=\"#cf222e\" stroke-dasharray=\"4 3\"/>\n";
    o << "<text x=\"" << num(a + 3) << "\" y=\"" << top - 5 << "\" fill=\"#cf222e\">writes blocked "
      << esc(format_duration(Millis(r.write_block->end_ms - r.write_block->start_ms)))
      << (r.write_block->open ? " (still blocked at the end)" : "") << "</text>\n";
  }
  o << "<text x=\"4\" y=\"" << top + 17 << "\">phases</text>\n";
  bool shade = false;
  for (const ReportPhase& p : r.phases) {
    const double a = x(p.start_ms), b = x(p.end_ms);
    o << "<rect x=\"" << num(a) << "\" y=\"" << top + 2 << "\" width=\"" << num(std::max(b - a, 1.5))
      << "\" height=\"" << row - 6 << "\" fill=\"" << (shade ? "#8c959f" : "#afb8c1") << "\"><title>"
      << esc(p.phase) << " " << esc(format_duration(Millis(p.end_ms - p.start_ms))) << "</title></rect>\n";
    if (b - a > 40)
      o << "<text x=\"" << num(a + 2) << "\" y=\"" << top + 16 << "\">" << esc(p.phase) << "</text>\n";
    shade = !shade;
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    const double y = top + row * (i + 1);
    o << "<text x=\"4\" y=\"" << y + 17 << "\">" << esc(hosts[i]) << "</text>\n";
    o << "<line x1=\"" << left << "\" x2=\"" << left + width << "\" y1=\"" << y + row - 2 << "\" y2=\"" << y + row - 2
      << "\" stroke=\"#d0d7de\"/>\n";
    for (const ReportStep& s : r.steps) {
      if (s.host != hosts[i]) continue;
      const long long end = s.finished_ms ? s.finished_ms : r.end_ms;
      const double a = x(s.started_ms), b = x(end);
      const char* fill = s.status == "ok" ? (s.rollback ? "#bf8700" : "#2da44e") : s.status == "running" ? "#bf8700" : "#cf222e";
      o << "<rect x=\"" << num(a) << "\" y=\"" << y + 4 << "\" width=\"" << num(std::max(b - a, 2.0))
        << "\" height=\"" << row - 10 << "\" fill=\"" << fill << "\"><title>" << esc(s.rollback ? "undo " + s.step : s.step)
        << " " << esc(s.status) << " " << esc(format_duration(Millis(s.duration_ms))) << "</title></rect>\n";
    }
  }
  const double axis = top + row * (1 + hosts.size()) + 14;
  for (int k = 0; k <= 4; ++k) {
    const long long t = r.start_ms + static_cast<long long>(span * k / 4);
    o << "<text x=\"" << num(x(t) - (k == 4 ? 30 : k ? 12 : 0)) << "\" y=\"" << axis << "\" fill=\"#57606a\">+"
      << esc(format_duration(Millis(t - r.start_ms))) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string verdicts(const RunReport& r) {
  const RunSummary& s = r.summary;
  std::ostringstream o;
  o << "<table class=\"facts\">\n<tr><th>outcome</th><td class=\"verdict " << (s.state == "completed" ? "ok" : "bad")
    << "\">" << esc(outcome_words(r)) << "</td></tr>\n";
  const std::string rto = rto_verdict(s);
  o << "<tr><th>RTO</th><td>";
  if (!rto.empty())
    o << "<span class=\"verdict " << verdict_class(rto) << "\">" << esc(rto) << "</span>: "
      << esc(format_duration(Millis(s.duration_ms))) << " against an objective of "
      << esc(format_duration(*parse_duration(s.rto)));
  else if (s.rto.empty()) o << "<span class=\"muted\">no objective in the runbook</span>";
  else o << "<span class=\"muted\">not judged: the run did not complete</span>";
  o << "</td></tr>\n<tr><th>RPO</th><td>";
  const std::string rpo = rpo_verdict(s);
  if (!rpo.empty())
    o << "<span class=\"verdict " << verdict_class(rpo) << "\">" << esc(rpo) << "</span>"
      << (s.rpo.empty() ? "" : " against an objective of " + esc(s.rpo))
      << (s.data_loss.empty() ? "" : "; measured loss: " + esc(s.data_loss));
  else o << "<span class=\"muted\">no objective and nothing measured</span>";
  o << "</td></tr>\n";
  if (r.write_block)
    o << "<tr><th>writes blocked</th><td>" << esc(format_duration(Millis(r.write_block->end_ms - r.write_block->start_ms)))
      << ", " << esc(iso_time(r.write_block->start_ms)) << " to " << esc(iso_time(r.write_block->end_ms))
      << (r.write_block->open ? " (still blocked when the run stopped)" : "") << "</td></tr>\n";
  o << "</table>\n";
  return o.str();
}

std::string steps_table(const RunReport& r) {
  std::ostringstream o;
  o << "<table>\n<tr><th>phase</th><th>step</th><th>host</th><th>attempts</th><th>duration</th><th>status</th></tr>\n";
  for (const ReportStep& s : r.steps) {
    o << "<tr><td>" << esc(s.phase) << "</td><td class=\"mono\">" << esc(s.rollback ? "undo " + s.step : s.step)
      << "</td><td>" << esc(s.host) << "</td><td>" << s.attempts << "</td><td>"
      << esc(format_duration(Millis(s.duration_ms))) << "</td><td class=\"" << status_class(s.status) << "\">"
      << esc(s.status);
    for (const std::string& n : s.notices) o << "<div class=\"warn\">notice: " << esc(n) << "</div>";
    if (!s.reason.empty()) o << "<div>" << esc(s.reason) << "</div>";
    if (!s.hint.empty()) o << "<div class=\"muted\">hint: " << esc(s.hint) << "</div>";
    if (!s.output_tail.empty()) o << "<pre>" << esc(s.output_tail) << "</pre>";
    o << "</td></tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

}  // namespace

std::string report_html(const RunReport& r) {
  const RunSummary& s = r.summary;
  std::ostringstream o;
  o << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>baton " << esc(s.operation) << " of " << esc(r.runbook_name) << " " << esc(s.id) << "</title>\n"
    << "<style>" << kStyle << "</style></head><body>\n";
  o << "<h1>" << esc(s.operation) << " of " << esc(r.runbook_name) << "</h1>\n<p class=\"muted\">run <span class=\"mono\">"
    << esc(s.id) << "</span></p>\n";
  if (r.drill) o << "<p class=\"proof\"><b>" << esc(proof_sentence(*r.drill)) << "</b></p>\n";
  o << "<h2>What ran</h2>\n<table class=\"facts\">\n"
    << "<tr><th>operation</th><td>" << esc(s.operation) << "</td></tr>\n"
    << "<tr><th>started</th><td>" << esc(iso_time(s.started_ms)) << "</td></tr>\n"
    << "<tr><th>ended</th><td>" << esc(iso_time(r.end_ms)) << " (" << esc(format_duration(Millis(s.duration_ms)))
    << ")</td></tr>\n"
    << "<tr><th>by</th><td>" << esc(s.user) << " on " << esc(s.machine) << "</td></tr>\n"
    << "<tr><th>runbook</th><td class=\"mono\">" << esc(s.runbook) << "<br>hash " << esc(s.runbook_hash)
    << "</td></tr>\n"
    << "<tr><th>roles before</th><td>" << roles_cell(s.roles_at_start) << "</td></tr>\n"
    << "<tr><th>roles after</th><td>" << roles_cell(s.roles_now) << "</td></tr>\n</table>\n";
  o << "<h2>Verdicts</h2>\n" << verdicts(r);
  if (r.cost)
    o << "<p class=\"cost\">" << esc(cost_sentence(*r.cost))
      << (r.cost->loss_note.empty() ? "" : " <span class=\"muted\">(" + esc(r.cost->loss_note) + ")</span>")
      << "<br><span class=\"muted\">To: the time writes were blocked; Td: the data lost, as time; Hr, Lr: the "
         "runbook's hourly revenue and labour</span></p>\n";
  o << "<h2>Timeline</h2>\n" << timeline_svg(r);
  o << "<h2>Steps</h2>\n" << steps_table(r);
  if (!r.captures.empty()) {
    o << "<h2>Captured values</h2>\n<table>\n<tr><th>name</th><th>value (secrets masked)</th></tr>\n";
    for (const auto& [k, v] : r.captures)
      o << "<tr><td class=\"mono\">" << esc(k) << "</td><td class=\"mono\">" << esc(v) << "</td></tr>\n";
    o << "</table>\n";
  }
  if (!r.resumes.empty()) {
    o << "<h2>Resumes</h2>\n<table>\n<tr><th>at</th><th>by</th><th>why</th><th>runbook</th></tr>\n";
    for (const ReportResume& res : r.resumes)
      o << "<tr><td>" << esc(iso_time(res.at_ms)) << "</td><td>" << esc(res.user) << "</td><td>" << esc(res.reason)
        << "</td><td class=\"mono\">"
        << (res.forced() ? "<span class=\"bad\">forced</span>: " + esc(res.hash_before) + " &rarr; " + esc(res.hash_after)
                         : "unchanged " + esc(res.hash_after))
        << "</td></tr>\n";
    o << "</table>\n";
  }
  if (!r.journal_warning.empty()) o << "<p class=\"warn\">warning: " << esc(r.journal_warning) << "</p>\n";
  o << "<footer>Written by baton report from the run's journal. Secrets are masked as ***.</footer>\n"
    << "</body></html>\n";
  return o.str();
}

}  // namespace baton
