// A run's report: the facts an auditor signs, read from its journal
// (report.cc), and their renderings as text, JSON (report_text.cc) and a
// self-contained HTML page (report_html.cc). The renderers show the same
// facts; none of them reads the journal itself.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/journal.h"
#include "orchestrator/json.h"
#include "runbooks/model.h"

namespace baton {

// One step on one host (or its undo), over all its attempts.
struct ReportStep {
  std::string phase, step, host;
  bool rollback = false;     // the undo command
  std::string status;        // ok | failed | timed_out | refused | running (no end recorded)
  int attempts = 0;
  long long started_ms = 0, finished_ms = 0;  // wall clock, ms since the epoch
  long long duration_ms = 0;                  // of the last attempt
  std::vector<std::string> notices;
  std::string reason, hint;  // why it failed
  std::string output_tail;   // failures: the last lines of stdout and stderr, masked as journaled
};

struct ReportPhase {
  std::string phase;
  long long start_ms = 0, end_ms = 0;
};

// A resume of the run; forced when the runbook changed since the run's
// previous start or resume (`--force`).
struct ReportResume {
  long long at_ms = 0;
  std::string user, machine, reason;
  std::string hash_before, hash_after;
  bool forced() const { return hash_before != hash_after; }
};

// Cost = (To + Td) x (Hr + Lr), from the runbook's [cost].
struct CostLine {
  double outage_s = 0;       // To: production could not take writes
  double loss_window_s = 0;  // Td: the data lost, as a time window
  std::string loss_note;     // why Td is 0 when the loss was not a duration
  double hourly_revenue = 0, hourly_labor = 0;
  std::string currency;
  double cost() const { return (outage_s + loss_window_s) / 3600.0 * (hourly_revenue + hourly_labor); }
};

// A completed drill: recovery proven at a time, in a duration, with a runbook.
struct DrillProof {
  std::string run;
  long long proven_ms = 0;
  long long duration_ms = 0;
  std::string runbook_hash;
};

struct RunReport {
  std::string runbook_name, runbook_path;
  RunSummary summary;
  long long start_ms = 0, end_ms = 0;
  std::vector<ReportPhase> phases;
  std::vector<ReportStep> steps;
  std::vector<std::pair<std::string, std::string>> captures;  // masked where secret
  std::vector<ReportResume> resumes;
  // Production could not take writes: from the quiesce or fence phase (a
  // failover: from its start, the source was already lost) until the
  // applications ran on the new source, or the end of the run (`open`).
  struct Window {
    long long start_ms = 0, end_ms = 0;
    bool open = false;
  };
  std::optional<Window> write_block;
  std::optional<CostLine> cost;
  std::optional<DrillProof> drill;
  std::string journal_warning;
};

// The report of run `id` from its journal records. `rb` gives the name
// and the [cost]; the journal gives everything else. `damaged`: why the
// journal could not be read to its end (empty if it could); the outcome is
// then unknown, and the verdicts are not judged.
RunReport build_report(const Runbook& rb, const std::string& id, const std::vector<Json>& records,
                       const std::string& damaged = "");

// The proof a completed drill gives, or nullopt.
std::optional<DrillProof> drill_proof(const RunSummary& s);
// "recovery proven at 2026-12-01T03:08:50Z in 1.4 s with runbook 3f2a...".
std::string proof_sentence(const DrillProof& p);
// "1.4 s", "3m 20s", "2 d 4 h": for "how long ago".
std::string ago_text(long long ms);

// The outcome in words: "completed: production moved from main to dr".
std::string outcome_words(const RunReport& r);
// "Cost = (To + Td) x (Hr + Lr) = (42 s + 0 s) x (12000 + 450 EUR/h) = 145.25 EUR".
std::string cost_sentence(const CostLine& c);

std::string report_text(const RunReport& r);
// The same facts as one JSON object, and the journal's records.
JsonValue report_json(const RunReport& r, const std::vector<Json>& records);
// A self-contained page: inline CSS and SVG, no script, no network.
std::string report_html(const RunReport& r);

}  // namespace baton
