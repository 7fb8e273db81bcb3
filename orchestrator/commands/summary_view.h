// How a run's summary is shown by status, history and report.
#pragma once
#include <string>

#include "orchestrator/journal.h"
#include "orchestrator/json.h"
#include "orchestrator/probe.h"
#include "orchestrator/report.h"
#include "runbooks/model.h"

namespace baton {

// "completed", "failed in verify (resumable)", "interrupted in promote (resumable)".
std::string outcome(const RunSummary& s);
// "met" / "missed" against the runbook's RTO, or "" (not judged).
std::string rto_verdict(const RunSummary& s);
// "met (lost 0 bytes)", "missed by 3 transactions", "not measured", or ""
// when the runbook has no RPO and nothing was measured.
std::string rpo_verdict(const RunSummary& s);
// The summary as a JSON object (status, history, report --json).
JsonValue summary_json(const RunSummary& s);
// The newest completed drill among the runs in `state_dir`, or nullopt.
std::optional<DrillProof> last_drill(const std::string& state_dir);
// "recovery proven 3 days ago (at ... in ... with runbook H); the runbook is
// unchanged since" or "...; not verified: the runbook changed since (now H2)",
// or "never: no drill of this runbook has completed".
std::string drill_status(const std::optional<DrillProof>& d, const Runbook& rb, long long now_ms);
// {run, proven_at, duration_ms, runbook_hash, verified, ago_ms} or null.
JsonValue drill_json(const std::optional<DrillProof>& d, const Runbook& rb, long long now_ms);
long long now_ms();

// What the probe saw and the verdict on it (status, check --json):
// {hosts: [{host, role, facts, detail?}], verdict, message?}.
JsonValue probe_json(const Observation& o, const RoleCheck& rc);

}  // namespace baton
