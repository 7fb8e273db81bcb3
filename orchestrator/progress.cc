#include "orchestrator/progress.h"

#include <optional>
#include <string>

namespace baton {
namespace {

std::string indent(const std::string& text, const char* pad) {
  std::string o;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    o += pad + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return o;
}

}  // namespace

void TerminalProgress::emit(const RunEvent& e) {
  const char* red = color_ ? "\033[31m" : "";
  const char* green = color_ ? "\033[32m" : "";
  const char* dim = color_ ? "\033[2m" : "";
  const char* bold = color_ ? "\033[1m" : "";
  const char* off = color_ ? "\033[0m" : "";
  switch (e.kind) {
    case EventKind::run_started:
      std::fprintf(out_, "%sbaton %s%s  run %s  (source %s, target %s)\n", bold, e.operation.c_str(), off,
                   e.run_id.c_str(), e.source.c_str(), e.target.c_str());
      break;
    case EventKind::run_resumed:
      std::fprintf(out_, "%sbaton %s%s  resuming run %s: %s\n", bold, e.operation.c_str(), off, e.run_id.c_str(),
                   e.reason.c_str());
      break;
    case EventKind::phase_entered:
      std::fprintf(out_, "%s== %s%s\n", bold, e.phase.c_str(), off);
      break;
    case EventKind::step_skipped:
      std::fprintf(out_, "  %sskip  %-28s %s%s\n", dim, e.step.c_str(), e.reason.c_str(), off);
      break;
    case EventKind::step_started:
      break;  // The finished line says it all.
    case EventKind::step_finished: {
      const bool ok = e.status == "ok";
      const char* tag = ok ? "ok  " : e.status == "retry" ? "wait" : "FAIL";
      if (e.status == "retry" && e.attempt > 1 && e.attempt % 10 != 0) break;  // Quiet waits.
      std::string what = e.rollback ? "undo " + e.step : e.step;
      std::string attempt;
      if (e.max_attempts > 1) attempt = " (" + std::to_string(e.attempt) + "/" + std::to_string(e.max_attempts) + ")";
      std::fprintf(out_, "  %s%s%s  %-28s %-16s %8s%s\n", ok ? green : (e.status == "retry" ? dim : red), tag,
                   off, what.c_str(), e.host.c_str(), format_duration(e.duration).c_str(), attempt.c_str());
      if (!ok && e.status != "retry") {
        std::fprintf(out_, "%s", indent(e.reason, "        ").c_str());
      }
      break;
    }
    case EventKind::roles_changed:
      std::fprintf(out_, "  roles: source %s, target %s%s%s\n", e.source.c_str(), e.target.c_str(),
                   e.stale.empty() ? "" : ", stale ", e.stale.c_str());
      if (!e.reason.empty()) std::fprintf(out_, "  %swarning: %s%s\n", red, e.reason.c_str(), off);
      break;
    case EventKind::message:
      std::fprintf(out_, "  note: %s\n", e.reason.c_str());
      break;
    case EventKind::transition:
      break;
    case EventKind::run_finished: {
      const bool ok = e.status == "completed";
      std::fprintf(out_, "%s%s %s%s in %s", bold, e.operation.c_str(), ok ? "completed" : e.status.c_str(), off,
                   format_duration(e.duration).c_str());
      if (!e.rto.empty()) {
        std::optional<Millis> rto = parse_duration(e.rto);
        bool met = rto && e.duration <= *rto;
        std::fprintf(out_, " (RTO %s: %s%s%s)", rto ? format_duration(*rto).c_str() : e.rto.c_str(), met ? green : red, met ? "met" : "missed", off);
      }
      std::fprintf(out_, "\n");
      break;
    }
  }
  std::fflush(out_);
}

void JsonLines::emit(const RunEvent& e) {
  std::fprintf(out_, "%s\n", to_json(e).c_str());
  std::fflush(out_);
}

}  // namespace baton
