// Journals: a journal written by Baton 0.1 (its own JSON writer, which let
// invalid UTF-8 through) still reads back, resumes and reports as valid JSON.
#include <gtest/gtest.h>

#include "orchestrator/journal.h"
#include "orchestrator/json.h"
#include "tests/cli_support.h"

namespace baton {
namespace {

using namespace baton::testing;

const std::string kLegacy = std::string(BATON_SOURCE_DIR) + "/tests/data/legacy";

TEST(Journal, LegacyJournalReadsBackWithEveryRecord) {
  JournalRead jr = read_journal(kLegacy + "/journal-v0.1.jsonl");
  EXPECT_EQ(jr.error, "");
  EXPECT_EQ(jr.warning, "");
  ASSERT_EQ(jr.records.size(), 26u);
  RunSummary s = summarize("legacy", jr.records);
  EXPECT_EQ(s.operation, "switchover");
  EXPECT_EQ(s.state, "failed");
  EXPECT_EQ(s.failed_phase, "verify");
  EXPECT_TRUE(s.resumable());
  RunState st = rebuild_state(jr.records, Roles{"b", "a", ""});
  ASSERT_EQ(st.done.size(), 2u);  // show, promote; the token step must capture again
  EXPECT_EQ(st.done[0].id, "show");
  EXPECT_EQ(st.done[1].id, "promote");
  EXPECT_EQ(st.recapture, std::set<std::string>{"token"});
  // The Latin-1 byte the old writer let through reads as U+FFFD.
  ASSERT_EQ(st.captures.size(), 1u);
  EXPECT_EQ(st.captures[0].second, "caf\xef\xbf\xbd \x1b[31mred\x1b[0m");
}

TEST(Journal, ValidUtf8ReplacesOnlyWhatIsInvalid) {
  EXPECT_EQ(valid_utf8("plain"), "plain");
  EXPECT_EQ(valid_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(valid_utf8("caf\xe9!"), "caf\xef\xbf\xbd!");
  EXPECT_EQ(valid_utf8("cut \xe2\x82"), "cut \xef\xbf\xbd\xef\xbf\xbd");  // a character cut in half
  EXPECT_EQ(valid_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");          // overlong '/'
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
}

TEST(Journal, LegacyStateResumesAndReportsValidJson) {
  TempDir d;
  sh("mkdir -p " + d.path + "/st/legacy/runs && cp " + shell_quote(kLegacy + "/journal-v0.1.jsonl") + " " + d.path +
     "/st/legacy/runs/20261130-232827.666-d400.jsonl && printf 'source=b\\ntarget=a\\nstale=\\n' > " + d.path +
     "/st/legacy/roles && cp " + shell_quote(kLegacy + "/runbook.toml") + " " + d.path + "/rb.toml");
  const std::string args = " " + d.path + "/rb.toml --state-dir " + d.path + "/st";
  CommandResult rep = sh(baton() + " report --json" + args);
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  Json j;
  ASSERT_TRUE(parse_json(rep.out, &j)) << rep.out;
  EXPECT_EQ(valid_utf8(rep.out), rep.out);
  EXPECT_EQ(j.v["records"].size(), 26u);
  // The run goes on from the journal: the failed verify step runs again
  // (and fails again the same way), the secret is captured again.
  CommandResult res = sh(baton() + " resume --yes" + args);
  EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
  EXPECT_NE(res.out.find("token"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("FAIL  verify"), std::string::npos) << res.out;
}

}  // namespace
}  // namespace baton
