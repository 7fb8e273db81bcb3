#include "orchestrator/progress.h"

#include <optional>
#include <string>

#include "orchestrator/json.h"

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

std::string visible(const std::string& text) {
  const std::string s = valid_utf8(text);
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    // C1 controls (U+0080..U+009F) are 0xC2 0x80..0x9F in UTF-8.
    const bool c1 = c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xa0 &&
                    static_cast<unsigned char>(s[i + 1]) >= 0x80;
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c1) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c1 ? static_cast<unsigned char>(s[++i]) : c);
      o += buf;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

void TerminalProgress::clear_live() {
  if (!live_width_) return;
  if (color_) std::fprintf(out_, "\r\033[K");
  else std::fprintf(out_, "\r%s\r", std::string(live_width_, ' ').c_str());
  live_width_ = 0;
}

void TerminalProgress::step_line(const RunEvent& e) {
  const bool ok = e.status == "ok";
  const char* red = color_ ? "\033[31m" : "";
  const char* green = color_ ? "\033[32m" : "";
  const char* dim = color_ ? "\033[2m" : "";
  const char* off = color_ ? "\033[0m" : "";
  const char* tag = ok ? "ok  " : e.status == "retry" ? "wait" : "FAIL";
  if (e.status == "retry" && e.attempt > 1 && e.attempt % 10 != 0) return;  // Quiet waits.
  std::string what = e.rollback ? "undo " + e.step : e.step;
  std::string attempt;
  if (e.max_attempts > 1) attempt = " (" + std::to_string(e.attempt) + "/" + std::to_string(e.max_attempts) + ")";
  std::fprintf(out_, "  %s%s%s  %-28s %-16s %8s%s\n", ok ? green : (e.status == "retry" ? dim : red), tag, off,
               visible(what).c_str(), visible(e.host).c_str(), format_duration(e.duration).c_str(), attempt.c_str());
  if (ok || e.status == "retry") return;
  std::fprintf(out_, "%s", indent(visible(e.reason), "        ").c_str());
  if (!e.hint.empty()) std::fprintf(out_, "%s", indent("hint: " + visible(e.hint), "        ").c_str());
}

// The last line: the outcome, the RTO for a completed run, the RPO always.
void TerminalProgress::finished_line(const RunEvent& e) {
  const char* bold = color_ ? "\033[1m" : "";
  const char* red = color_ ? "\033[31m" : "";
  const char* green = color_ ? "\033[32m" : "";
  const char* off = color_ ? "\033[0m" : "";
  std::fprintf(out_, "%s%s %s%s in %s", bold, e.operation.c_str(), e.status.c_str(), off,
               format_duration(e.duration).c_str());
  std::string verdicts;
  auto paint = [&](const std::string& v) {
    const bool good = v.rfind("met", 0) == 0;
    const bool bad = v.rfind("missed", 0) == 0 || v.rfind("unknown", 0) == 0;
    return std::string(good ? green : bad ? red : "") + v + (good || bad ? off : "");
  };
  if (!e.rto_verdict.empty())
    verdicts += "RTO " + format_duration(*parse_duration(e.rto)) + ": " + paint(e.rto_verdict);
  if (!e.rpo_verdict.empty())
    verdicts += (verdicts.empty() ? "" : "; ") + std::string("RPO ") + (e.rpo.empty() ? "" : e.rpo + ": ") +
                paint(e.rpo_verdict);
  if (!verdicts.empty()) std::fprintf(out_, " (%s)", verdicts.c_str());
  std::fprintf(out_, "\n");
}

void TerminalProgress::emit(const RunEvent& e) {
  const char* red = color_ ? "\033[31m" : "";
  const char* yellow = color_ ? "\033[33m" : "";
  const char* dim = color_ ? "\033[2m" : "";
  const char* bold = color_ ? "\033[1m" : "";
  const char* off = color_ ? "\033[0m" : "";
  if (e.kind == EventKind::transition || e.kind == EventKind::step_process) return;
  clear_live();
  switch (e.kind) {
    case EventKind::run_started:
      std::fprintf(out_, "%sbaton %s%s  run %s  (source %s, target %s)\n", bold, e.operation.c_str(), off,
                   e.run_id.c_str(), e.source.c_str(), e.target.c_str());
      break;
    case EventKind::run_resumed:
      std::fprintf(out_, "%sbaton %s%s  resuming run %s: %s\n", bold, e.operation.c_str(), off, e.run_id.c_str(),
                   visible(e.reason).c_str());
      break;
    case EventKind::probed: {
      std::string facts;
      for (const auto& [k, v] : e.facts) facts += (facts.empty() ? "" : ", ") + k + "=" + v;
      if (!e.reason.empty()) facts += (facts.empty() ? "" : "; ") + e.reason;
      std::fprintf(out_, "  %sprobe%s %-16s %-8s %s%s%s\n", dim, off, visible(e.host).c_str(), e.status.c_str(), dim,
                   visible(facts).c_str(), off);
      break;
    }
    case EventKind::phase_entered:
      std::fprintf(out_, "%s== %s%s\n", bold, e.phase.c_str(), off);
      break;
    case EventKind::step_skipped:
      std::fprintf(out_, "  %sskip  %-28s %s%s\n", dim, visible(e.step).c_str(), visible(e.reason).c_str(), off);
      break;
    case EventKind::step_started: {
      if (!live_) break;  // The finished line says it all.
      const int n = std::fprintf(out_, "  %s....  %-28s %-16s running%s", dim,
                                 visible(e.rollback ? "undo " + e.step : e.step).c_str(), visible(e.host).c_str(), off);
      live_width_ = n > 0 ? static_cast<size_t>(n) : 1;
      break;
    }
    case EventKind::step_finished:
      step_line(e);
      break;
    case EventKind::notice:
      std::fprintf(out_, "  %snotice%s %s%s\n", yellow, off, visible(e.reason).c_str(),
                   (" (" + visible(e.step) + " on " + visible(e.host) + ")").c_str());
      break;
    case EventKind::roles_changed:
      std::fprintf(out_, "  roles: source %s, target %s%s%s\n", e.source.c_str(), e.target.c_str(),
                   e.stale.empty() ? "" : ", stale ", e.stale.c_str());
      if (!e.reason.empty()) std::fprintf(out_, "  %swarning: %s%s\n", red, visible(e.reason).c_str(), off);
      break;
    case EventKind::message:
      std::fprintf(out_, "%s", indent(visible(e.reason), "  note: ").c_str());
      break;
    case EventKind::run_finished:
      finished_line(e);
      break;
    case EventKind::transition:
    case EventKind::step_process:
    case EventKind::host_connected:  // a failed one fails the step that needs the host
      break;
  }
  std::fflush(out_);
}

void JsonLines::emit(const RunEvent& e) {
  std::fprintf(out_, "%s\n", to_json(e).c_str());
  std::fflush(out_);
}

}  // namespace baton
