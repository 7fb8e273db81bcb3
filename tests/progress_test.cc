// What the operator sees: notices, hints, the verdicts of the last line,
// the step running now on a terminal, and command output that cannot
// drive the terminal.
#include "orchestrator/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace baton {
namespace {

// Renders events through a TerminalProgress into a string.
std::string render(const std::vector<RunEvent>& events, bool live = false, bool color = false) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  {
    TerminalProgress p(f, color, live);
    for (const RunEvent& e : events) p.emit(e);
  }
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

RunEvent ev(EventKind k, std::string step = "", std::string status = "") {
  RunEvent e(k);
  e.operation = "failover";
  e.step = std::move(step);
  e.host = "dr.db";
  e.status = std::move(status);
  return e;
}

TEST(Progress, NoticesStandOut) {
  RunEvent n = ev(EventKind::notice, "rewind");
  n.reason = "the old data directory is kept at /srv/keep";
  EXPECT_EQ(render({n}), "  notice the old data directory is kept at /srv/keep (rewind on dr.db)\n");
}

TEST(Progress, AFailureShowsItsReasonAndHint) {
  RunEvent f = ev(EventKind::step_finished, "target-streams", "failed");
  f.reason = "stdout was \"\", expected \"streaming\"";
  f.hint = "dr.db is not streaming: check primary_conninfo";
  std::string out = render({f});
  EXPECT_NE(out.find("FAIL  target-streams"), std::string::npos) << out;
  EXPECT_NE(out.find("        stdout was \"\", expected \"streaming\"\n"), std::string::npos) << out;
  EXPECT_NE(out.find("        hint: dr.db is not streaming: check primary_conninfo\n"), std::string::npos) << out;
}

TEST(Progress, LastLineJudgesRtoOnlyWhenCompletedAndRpoAlways) {
  RunEvent done = ev(EventKind::run_finished, "", "completed");
  done.duration = Millis(2100);
  done.rto = "300000ms";
  done.rto_verdict = "met";
  done.rpo = "0s";
  done.rpo_verdict = "missed by 1234 bytes";
  EXPECT_EQ(render({done}), "failover completed in 2.1 s (RTO 5m 00s: met; RPO 0s: missed by 1234 bytes)\n");
  RunEvent failed = ev(EventKind::run_finished, "", "failed");
  failed.duration = Millis(900);
  failed.rto = "300000ms";
  failed.rpo = "0s";
  failed.rpo_verdict = "not measured";
  EXPECT_EQ(render({failed}), "failover failed in 900 ms (RPO 0s: not measured)\n");
}

TEST(Progress, OnATerminalTheRunningStepIsShownThenReplaced) {
  RunEvent st = ev(EventKind::step_started, "promote-standby");
  RunEvent fin = ev(EventKind::step_finished, "promote-standby", "ok");
  std::string out = render({st, fin}, true);
  EXPECT_NE(out.find("....  promote-standby"), std::string::npos) << out;
  // Without colour (NO_COLOR, --color=never) no escape at all: spaces
  // overwrite the running line.
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;
  const size_t cr = out.find('\r');
  ASSERT_NE(cr, std::string::npos) << out;
  EXPECT_EQ(out.substr(cr, out.find("  ok    promote-standby") - cr), "\r" + std::string(cr, ' ') + "\r") << out;
  EXPECT_NE(render({st, fin}, true, true).find("running\033[0m\r\033[K  \033[32mok"), std::string::npos)
      << render({st, fin}, true, true);
  EXPECT_EQ(render({st, fin}, false).find("...."), std::string::npos);
}

TEST(Progress, CommandOutputCannotDriveTheTerminal) {
  RunEvent f = ev(EventKind::step_finished, "s", "failed");
  f.reason = "boom \x1b]52;c;ZXZpbA==\x07 \x1b[2K\rok \xc2\x9b ok \xff";
  std::string out = render({f});
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_EQ(out.find('\x07'), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_NE(out.find("\\x1b]52;c;ZXZpbA==\\x07"), std::string::npos) << out;
  EXPECT_NE(out.find("\\x9b"), std::string::npos) << out;
  EXPECT_NE(out.find("\xef\xbf\xbd"), std::string::npos) << out;  // invalid UTF-8 shown as U+FFFD
}

}  // namespace
}  // namespace baton
