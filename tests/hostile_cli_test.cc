// The built `baton` under hostile inputs and faults: standard streams that
// are closed or fail, step output that holds terminal escapes, damaged and
// forged journals, conflicting flags. Nothing lands where it must not,
// nothing is lost in silence, nothing is shown that is not known.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/example_sandbox.h"
#include "tests/executor_harness.h"

namespace baton {
namespace {

using namespace baton::testing;
using nlohmann::json;

void append(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::app) << text; }

// A step of the verify phase that prints terminal escapes (clear screen,
// window title, colour, a C1 CSI), also as a notice, then fails.
const char* kEscapes = R"TOML(
[[step]]
id = "escapes"
phase = "verify"
on = "source"
run = '''printf 'before\033[2J\033]0;owned\007\033[31mred\302\233after\n'; printf 'baton-notice: n\033[31m\n'; exit 1'''
)TOML";

bool raw_controls(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) < 0xa0)
      return true;
  }
  return false;
}

TEST(Hostile, ClosedStdoutDoesNotWriteIntoTheStateDirectory) {
  Sandbox sb;
  Vars e = sb.env;
  CommandResult r = sh(baton() + " drill " + shell_quote(sb.rb) + " --state-dir " + shell_quote(sb.state) + " >&-", e);
  EXPECT_EQ(r.exit_code, 0) << r.err;  // The drill ran; its output is in the journal.
  EXPECT_NE(r.err.find("cannot write to standard output"), std::string::npos) << r.err;
  for (const auto& [file, bytes] : snapshot(sb.state)) {
    EXPECT_EQ(bytes.find("== preflight"), std::string::npos) << file << " holds the terminal output";
    EXPECT_EQ(bytes.find("baton drill"), std::string::npos) << file << " holds the terminal output";
  }
  ASSERT_FALSE(sb.journal().empty());
  EXPECT_TRUE(read_journal(sb.journal()).error.empty()) << read_journal(sb.journal()).error;
  EXPECT_EQ(sb.baton_cmd("status --offline").exit_code, 0);
}

TEST(Hostile, OutputThatCannotBeWrittenIsAnErrorNotASilentSuccess) {
  Sandbox sb;
  ASSERT_EQ(sb.baton_cmd("drill").exit_code, 0);
  for (const char* verb : {"report", "report --json", "report --html", "history", "status --offline"}) {
    CommandResult full = sh(baton() + " " + verb + " " + shell_quote(sb.rb) + " --state-dir " + shell_quote(sb.state) +
                            " > /dev/full", sb.env);
    EXPECT_EQ(full.exit_code, 1) << verb;
    EXPECT_NE(full.err.find("cannot write to standard output: No space left on device"), std::string::npos)
        << verb << ": " << full.err;
    CommandResult closed = sh(baton() + " " + verb + " " + shell_quote(sb.rb) + " --state-dir " +
                              shell_quote(sb.state) + " >&-", sb.env);
    EXPECT_EQ(closed.exit_code, 1) << verb;
    EXPECT_NE(closed.err.find("cannot write to standard output"), std::string::npos) << verb << ": " << closed.err;
  }
  CommandResult v = sh(baton() + " validate " + shell_quote(sb.rb) + " > /dev/full");
  EXPECT_EQ(v.exit_code, 1) << v.err;
}

TEST(Hostile, TerminalEscapesFromStepsAreShownNotSent) {
  Sandbox sb;
  append(sb.rb, kEscapes);
  CommandResult run = sb.baton_cmd("switchover");
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_FALSE(raw_controls(run.out)) << run.out;
  EXPECT_FALSE(raw_controls(run.err)) << run.err;
  const std::string text = sb.baton_cmd("report").out;
  EXPECT_FALSE(raw_controls(text)) << text;
  EXPECT_NE(text.find("before\\x1b[2J\\x1b]0;owned\\x07\\x1b[31mred\\x9bafter"), std::string::npos) << text;
  EXPECT_NE(text.find("notice: n\\x1b[31m"), std::string::npos) << text;
  const std::string html = sb.baton_cmd("report --html").out;
  EXPECT_FALSE(raw_controls(html)) << html;
  EXPECT_NE(html.find("before\\x1b[2J"), std::string::npos);
  for (const char* verb : {"status --offline", "history"}) {
    CommandResult r = sb.baton_cmd(verb);
    EXPECT_FALSE(raw_controls(r.out)) << verb << ": " << r.out;
  }
  // JSON keeps the bytes, escaped as JSON does: a program reads them as they were.
  json j = json::parse(sb.baton_cmd("report --json").out);
  bool found = false;
  for (const json& st : j["steps"])
    if (st["step"] == "escapes") found = st.value("output_tail", "").find("\033[2J") != std::string::npos;
  EXPECT_TRUE(found) << j["steps"].dump();
}

// The stored report of a run whose journal is damaged in the middle: it says
// so, in text, HTML and JSON, and claims no outcome, roles or verdicts.
TEST(Hostile, AReportOfADamagedJournalSaysWhatItDoesNotKnow) {
  Sandbox sb;
  ASSERT_EQ(sb.baton_cmd("switchover").exit_code, 0);
  const std::string path = sb.journal();
  std::string text = read(path);
  size_t third = 0;
  for (int k = 0; k < 3; ++k) third = text.find('\n', third) + 1;
  text.insert(third, "garbage{{{\n");
  write(path, text);
  CommandResult r = sb.baton_cmd("report");
  EXPECT_NE(r.err.find("damaged journal record"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("unknown: the journal is damaged"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("this report shows only the records before it"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("interrupted in"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("can be resumed"), std::string::npos) << r.out;
  const std::string html = sb.baton_cmd("report --html").out;
  EXPECT_NE(html.find("unknown: the journal is damaged"), std::string::npos);
  EXPECT_NE(html.find("this report shows only the records before it"), std::string::npos);
  json j = json::parse(sb.baton_cmd("report --json").out);
  EXPECT_TRUE(j["summary"].contains("damaged")) << j["summary"].dump();
  EXPECT_EQ(j["summary"]["outcome"], "unknown: damaged journal");
  EXPECT_TRUE(j.contains("journal_warning"));
  const std::string history = sb.baton_cmd("history").out;
  EXPECT_NE(history.find("unknown: damaged journal"), std::string::npos) << history;
  json h = json::parse(sb.baton_cmd("history --json").out);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_TRUE(h[0].contains("damaged")) << h.dump();
}

// A journal edited by hand: a verdict with no objective it can be shown
// against is not shown (it used to read an empty optional).
TEST(Hostile, AVerdictWithoutItsObjectiveIsNotShown) {
  Sandbox sb;
  ASSERT_EQ(sb.baton_cmd("drill").exit_code, 0);
  const std::string path = sb.journal();
  std::string journal = read(path);
  const std::string key = "\"rto\":\"";  // The objective, made unreadable.
  for (size_t at = 0; (at = journal.find(key, at)) != std::string::npos; at += key.size()) journal.insert(at + key.size(), "x");
  write(path, journal);
  const std::string text = sb.baton_cmd("report").out, html = sb.baton_cmd("report --html").out,
                    history = sb.baton_cmd("history").out;
  EXPECT_NE(text.find("outcome   completed"), std::string::npos) << text;
  EXPECT_EQ(text.find("(RTO "), std::string::npos) << text;
  EXPECT_EQ(html.find("<span class=\"verdict ok\">met</span>"), std::string::npos) << html;
  EXPECT_EQ(history.find("met ("), std::string::npos) << history;
  EXPECT_EQ(sb.baton_cmd("history --json").exit_code, 0);
}

TEST(Hostile, ConflictingReportFormatsAreAUsageError) {
  Sandbox sb;
  ASSERT_EQ(sb.baton_cmd("drill").exit_code, 0);
  CommandResult r = sb.baton_cmd("report --json --html");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--json and --html exclude each other"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// The journal cannot record the run's end (its disk filled in the last
// step): the hosts are done, but the run is not called done, and Baton
// says what to do.
TEST(Hostile, ARunWhoseEndTheJournalCannotRecordIsNotCalledDone) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a small tmpfs)";
  TempDir d;
  const std::string state = d.path + "/state";
  ASSERT_EQ(sh("mkdir -p " + shell_quote(state) + " && mount -t tmpfs -o size=128k,mode=0700 tmpfs " + shell_quote(state)).exit_code, 0);
  struct Unmount {
    std::string dir;
    ~Unmount() { sh("umount " + shell_quote(dir)); }
  } unmount{state};
  const std::string rb = d.path + "/rb.toml";
  std::ofstream(rb) << kHeader + R"TOML(
[[step]]
id = "fill-the-disk"
phase = "verify"
on = "source"
# then a record too big for what is left of the journal's last page
run = "cat /dev/zero > )TOML" + state + R"TOML(/filler 2>/dev/null; for i in 1 2 3 4 5; do head -c 3000 /dev/zero | tr '\\0' x; echo; done"
)TOML";
  CommandResult r = sh(baton() + " switchover " + shell_quote(rb) + " --state-dir " + shell_quote(state) + " --yes --json");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("but its journal could not record that"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("baton status"), std::string::npos) << r.err;
  // The JSON stream agrees with the exit status.
  const size_t fin = r.out.find("\"event\":\"run_finished\"");
  ASSERT_NE(fin, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"exit_code\":1", fin), std::string::npos) << r.out.substr(fin);
  // An abort that cannot be recorded is not called done either.
  CommandResult a = sh(baton() + " resume " + shell_quote(rb) + " --state-dir " + shell_quote(state) + " --abort --yes");
  EXPECT_EQ(a.exit_code, 1) << a.out << a.err;
  EXPECT_NE(a.err.find("could not be recorded"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("--abort` again"), std::string::npos) << a.err;
}

}  // namespace
}  // namespace baton
