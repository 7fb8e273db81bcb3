// baton report RUNBOOK [RUN]: a run's report as text, JSON or HTML.
#include <algorithm>
#include <array>
#include <cstdio>

#include "orchestrator/commands/commands.h"
#include "orchestrator/commands/summary_view.h"

namespace baton {

int cmd_report(const Options& o) {
  Runbook rb;
  if (!load_runbook(o.runbook, &rb, false)) return 2;
  StateDir dir;
  if (!read_state(o, rb, &dir)) return 1;
  std::vector<std::string> ids = list_runs(dir.path());
  std::string id = o.run.empty() ? (ids.empty() ? "" : ids.back()) : o.run;
  if (id.empty() || std::find(ids.begin(), ids.end(), id) == ids.end()) {
    fail(id.empty() ? "no runs of \"" + rb.name + "\" yet" : "no run " + id + " in " + dir.path());
    return 2;
  }
  JournalRead jr = read_journal(journal_path(dir.path(), id));
  if (!jr.error.empty()) fail(jr.error);
  RunSummary s = summarize(id, jr.records);
  if (o.json) {
    JsonValue j = JsonValue::object();
    j["summary"] = summary_json(s);
    j["records"] = JsonValue::array();
    for (const Json& r : jr.records) j["records"].push_back(r.v);
    std::printf("%s\n", dump_json(j).c_str());
    return 0;
  }
  std::vector<std::array<std::string, 5>> rows;               // phase, step, host, status, duration
  std::vector<std::pair<std::string, std::string>> captures;  // masked where secret
  for (const Json& j : jr.records) {
    if (j.str("event") == "step_finished" && j.str("status") == "ok")
      if (const JsonValue* c = j.get("captures"); c && c->is_object())
        for (const auto& [k, v] : c->items()) captures.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    if (j.str("event") != "step_finished" || j.str("status") == "retry") continue;
    std::string step = j.flag("rollback") ? "undo " + j.str("step") : j.str("step");
    std::string st = j.str("status");
    if (j.num("max_attempts") > 1)
      st += " (attempt " + std::to_string(j.num("attempt")) + "/" + std::to_string(j.num("max_attempts")) + ")";
    rows.push_back({j.str("phase"), step, j.str("host"), st, format_duration(Millis(j.num("duration_ms")))});
  }
  std::string rto = rto_verdict(s);
  if (o.html) {
    auto esc = [](const std::string& t) {
      std::string out;
      for (char c : t) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
      return out;
    };
    std::printf("<!doctype html><html><head><meta charset=\"utf-8\"><title>baton %s %s</title></head><body>\n",
                esc(s.operation).c_str(), esc(id).c_str());
    std::printf("<h1>%s of %s</h1><p>run %s, started %s by %s on %s: <b>%s</b> in %s%s</p>\n",
                esc(s.operation).c_str(), esc(rb.name).c_str(), esc(id).c_str(), iso_time(s.started_ms).c_str(),
                esc(s.user).c_str(), esc(s.machine).c_str(), esc(outcome(s)).c_str(),
                format_duration(Millis(s.duration_ms)).c_str(), rto.empty() ? "" : (", RTO " + rto).c_str());
    std::printf("<table border=\"1\"><tr><th>phase</th><th>step</th><th>host</th><th>status</th><th>duration</th></tr>\n");
    for (const auto& r : rows)
      std::printf("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(r[0]).c_str(),
                  esc(r[1]).c_str(), esc(r[2]).c_str(), esc(r[3]).c_str(), esc(r[4]).c_str());
    std::printf("</table></body></html>\n");
    return 0;
  }
  std::printf("%s of \"%s\"  run %s\n", s.operation.c_str(), rb.name.c_str(), id.c_str());
  std::printf("started   %s by %s on %s\n", iso_time(s.started_ms).c_str(), s.user.c_str(), s.machine.c_str());
  std::printf("roles     source %s, target %s at the start\n", s.roles_at_start.source.c_str(),
              s.roles_at_start.target.c_str());
  std::printf("outcome   %s in %s", outcome(s).c_str(), format_duration(Millis(s.duration_ms)).c_str());
  if (!rto.empty()) std::printf(" (RTO %s: %s)", format_duration(*parse_duration(s.rto)).c_str(), rto.c_str());
  std::printf("\n");
  if (!s.failure.empty()) std::printf("          %s\n", s.failure.c_str());
  std::printf("\n%-18s %-28s %-14s %-22s %s\n", "PHASE", "STEP", "HOST", "STATUS", "DURATION");
  for (const auto& r : rows)
    std::printf("%-18s %-28s %-14s %-22s %s\n", r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].c_str());
  if (!captures.empty()) std::printf("\ncaptured\n");
  for (const auto& [k, v] : captures) std::printf("  %s = %s\n", k.c_str(), v.c_str());
  if (!jr.warning.empty()) std::printf("\nwarning: %s\n", jr.warning.c_str());
  return 0;
}

}  // namespace baton
