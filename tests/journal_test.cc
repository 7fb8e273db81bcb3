// Journals: a journal written by Baton 0.1 (its own JSON writer, which let
// invalid UTF-8 through) still reads back, resumes and reports as valid JSON.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

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

// One sync before each step starts and once roles changed, covering every
// record before it; descriptive records wait for the next one.
TEST(Journal, SyncsBeforeEachActionOnlyAndBatchesTheRest) {
  TempDir d;
  Journal j;
  j.open(d.path + "/run.jsonl");
  EventBus bus;
  bus.add(&j);
  auto emit = [&](EventKind k) {
    RunEvent e{k};
    bus.emit(e);
  };
  for (EventKind k : {EventKind::run_started, EventKind::host_connected, EventKind::transition,
                      EventKind::phase_entered, EventKind::step_skipped})
    emit(k);
  EXPECT_EQ(j.syncs(), 0);
  emit(EventKind::step_started);  // everything so far is durable before the step runs
  EXPECT_EQ(j.syncs(), 1);
  EXPECT_EQ(j.synced_records(), j.records());
  EXPECT_EQ(j.records(), 6);
  for (EventKind k : {EventKind::step_finished, EventKind::transition, EventKind::phase_entered, EventKind::message})
    emit(k);
  EXPECT_EQ(j.syncs(), 1);
  EXPECT_EQ(j.synced_records(), 6);
  emit(EventKind::step_started);
  emit(EventKind::step_finished);
  emit(EventKind::roles_changed);
  EXPECT_EQ(j.synced_records(), j.records());
  emit(EventKind::transition);
  emit(EventKind::run_finished);
  EXPECT_EQ(j.syncs(), 4);
  EXPECT_EQ(j.synced_records(), j.records());
  EXPECT_EQ(read_journal(d.path + "/run.jsonl").records.size(), 15u);
}

// Steps starting on many hosts at once share syncs, and each is durable
// before its emit returns.
TEST(Journal, ParallelStepStartsShareSyncs) {
  TempDir d;
  Journal j;
  j.open(d.path + "/run.jsonl");
  EventBus bus;
  bus.add(&j);
  bus.emit(RunEvent{EventKind::run_started});
  const int n = 32;
  std::vector<std::thread> ts;
  std::vector<long> written(n), durable(n);
  std::mutex mu;
  for (int i = 0; i < n; ++i)
    ts.emplace_back([&, i] {
      bus.emit(RunEvent{EventKind::step_started});
      std::lock_guard<std::mutex> lock(mu);
      durable[i] = j.synced_records();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(j.records(), n + 1);
  EXPECT_EQ(j.synced_records(), n + 1);
  for (int i = 0; i < n; ++i) EXPECT_GE(durable[i], 2) << i;
  std::printf("[ info ] %d parallel step starts, %ld fdatasync calls\n", n, j.syncs());
  EXPECT_LE(j.syncs(), n);
  // Written before any of them syncs: one fdatasync serves them all.
  const long before = j.syncs();
  for (int i = 0; i < n; ++i) j.emit(RunEvent{EventKind::step_started});
  ts.clear();
  for (int i = 0; i < n; ++i) ts.emplace_back([&] { j.settle(RunEvent{EventKind::step_started}); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(j.syncs(), before + 1);
  EXPECT_EQ(j.synced_records(), 2 * n + 1);
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
