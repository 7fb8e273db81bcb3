// The language additions through the built binary, on local hosts:
// prelude in steps, undo and probe; on = "all"; waits on the host; secrets
// from the environment and from files masked; what a failover measured
// and kept reaches the later reverse-sync; validate's FILE:LINE:COL.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <string>

#include "tests/cli_support.h"

namespace baton {
namespace {

using namespace baton::testing;
using Clock = std::chrono::steady_clock;

const char* kSites = R"toml(
[sites.main.hosts.db]
address = "local"
[sites.main.hosts.app]
address = "local"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
)toml";

class LanguageCli : public ::testing::Test {
 protected:
  std::string runbook(const std::string& head, const std::string& rest) {
    std::string rb = d_.path + "/rb.toml";
    write(rb, "[runbook]\nname = \"lang\"\n" + head + kSites + rest);
    return rb;
  }
  CommandResult baton_cmd(const std::string& verb, const std::string& rb, const std::string& flags = "",
                          Vars env = {}) {
    return baton_at(d_.path + "/state", verb, rb, flags, std::move(env));
  }
  std::string journals() { return sh("cat " + shell_quote(d_.path) + "/state/lang/runs/*.jsonl").out; }
  std::string state_files() { return sh("cat " + shell_quote(d_.path) + "/state/lang/* 2>/dev/null").out; }
  size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
  }
  TempDir d_;
};

TEST_F(LanguageCli, PreludeFunctionsReachStepsUndoAndProbe) {
  const std::string mark = d_.path + "/undone";
  std::string rb = runbook("prelude = '''\nrole_of() { case $BATON_HOST in main.db) echo primary ;; dr.db) echo standby ;; *) echo down ;; esac; }\n"
                           "mark() { echo \"$1\" >>\"$marks\"; }\n'''\n",
                           "[vars]\nmarks = \"" + mark + "\"\n[probe]\nrun = 'role_of'\n" + R"toml(
[[step]]
id = "stop-app"
phase = "quiesce"
on = "source.db"
run = 'mark stopped'
undo = 'mark undone'
[[step]]
id = "breaks"
phase = "stop_replication"
on = "source.db"
run = 'exit 1'
on_failure = "rollback"
)toml");
  CommandResult r = baton_cmd("switchover", rb);
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(read(mark), "stopped\nundone\n");
  const std::string j = journals();
  EXPECT_NE(j.find("\"host\":\"main.db\",\"status\":\"primary\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"host\":\"dr.db\",\"status\":\"standby\""), std::string::npos) << j;
}

TEST_F(LanguageCli, OnAllRunsOnEveryHostOfBothSites) {
  std::string rb = runbook("", R"toml(
[[step]]
id = "symmetric"
phase = "preflight"
on = "all"
run = 'echo "checked $BATON_HOST"'
)toml");
  CommandResult r = baton_cmd("check", rb);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  CommandResult plan = baton_cmd("plan", rb, "switchover");
  EXPECT_NE(plan.out.find("symmetric"), std::string::npos) << plan.out;
  r = baton_cmd("switchover", rb);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string j = journals();
  for (const char* h : {"main.db", "main.app", "dr.db"})
    EXPECT_NE(j.find(std::string("checked ") + h), std::string::npos) << h << "\n" << j;
}

TEST_F(LanguageCli, AWaitPollsOnTheHostInOneCommand) {
  const std::string flag = d_.path + "/ready";
  std::string rb = runbook("", "[vars]\nflag = \"" + flag + "\"\n" + R"toml(
[[step]]
id = "start"
phase = "preflight"
on = "source.db"
run = '(sleep 0.4; echo up >"$flag") >/dev/null 2>&1 &'
wait = { until = 'cat "$flag"', every = "50ms", within = "10s" }
capture = "state_seen"
[[step]]
id = "never"
phase = "quiesce"
on = "source.db"
wait = { until = 'false', every = "100ms", within = "500ms" }
)toml");
  const auto t0 = Clock::now();
  CommandResult r = baton_cmd("switchover", rb);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string j = journals();
  EXPECT_NE(j.find("\"captures\":{\"state_seen\":\"up\"}"), std::string::npos) << j;
  // One command each: one attempt, however many polls.
  EXPECT_EQ(count(j, "\"event\":\"step_started\""), 2u) << j;
  EXPECT_NE(r.out.find("exit code 124"), std::string::npos) << r.out;
  EXPECT_NE((r.out + r.err).find("not true within 500 ms"), std::string::npos) << r.out << r.err;
  EXPECT_LT(ms, 8000);
}

TEST_F(LanguageCli, SecretsFromTheEnvironmentAndFilesAreMaskedWhenAFailingCommandPrintsThem) {
  const std::string pw = d_.path + "/db.pw";
  write(pw, "file-secret-7f3a\n");
  ::chmod(pw.c_str(), 0600);
  std::string rb = runbook("", "[vars]\nconn = { env = \"LANG_TEST_CONN\" }\ndbpw = { file = \"db.pw\" }\n"
                               "pin = { value = \"pin-4417\", secret = true }\n" + std::string(R"toml(
[[step]]
id = "read-key"
phase = "preflight"
on = "source.db"
run = 'echo "key-from-the-host-91c2"'
capture = "key"
secret = true
[[step]]
id = "leaky"
phase = "preflight"
on = "source.db"
run = 'echo "conn=$conn pw=$dbpw pin=$pin key=$key"; echo "conn=$conn pw=$dbpw pin=$pin key=$key" >&2; exit 1'
)toml"));
  CommandResult r = baton_cmd("switchover", rb, "", {{"LANG_TEST_CONN", "env-secret-c0ffee"}});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  const std::string everything = r.out + r.err + journals() + baton_cmd("report", rb).out;
  for (const char* s : {"env-secret-c0ffee", "file-secret-7f3a", "pin-4417", "key-from-the-host-91c2"})
    EXPECT_EQ(everything.find(s), std::string::npos) << s << " leaked:\n" << everything;
  EXPECT_NE(everything.find("conn=*** pw=*** pin=*** key=***"), std::string::npos) << everything;
}

TEST_F(LanguageCli, ASecretFileOthersMayReadIsRefusedByValidate) {
  const std::string pw = d_.path + "/db.pw";
  write(pw, "x\n");
  ::chmod(pw.c_str(), 0644);
  std::string rb = runbook("", "[vars]\ndbpw = { file = \"db.pw\" }\n");
  CommandResult r = baton_cmd("validate", rb);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(rb + ":14:17: variable \"dbpw\": " + pw + " has mode 0644"), std::string::npos) << r.err;
}

// A failover measures the loss and keeps where the old primary ended; the
// reverse-sync run later sees both as variables. The stored file holds no
// secret.
TEST_F(LanguageCli, WhatAFailoverMeasuredReachesTheLaterReverseSync) {
  std::string rb = runbook("rpo = \"5 transactions\"\n", std::string("[vars]\napi_token = \"tok-9d9d-secret\"\n") +
                                                             R"toml(
[[step]]
id = "fence"
phase = "fence"
on = "source.db"
run = 'echo 0-1-97'
capture = "fork_gtid"
keep = true
[[step]]
id = "measure"
phase = "verify_sync"
on = "target.db"
measures = "data_loss"
run = 'echo "3 transactions lost (the replica executed up to 0-1-94)"'
[[step]]
id = "promote"
phase = "promote"
on = "target.db"
run = 'true'
[[step]]
id = "rebuild"
phase = "reverse_sync"
on = "target.db"
run = 'echo "rebuild from fork $fork_gtid after losing $BATON_LAST_DATA_LOSS: $BATON_LAST_DATA_LOSS_TEXT"'
)toml");
  CommandResult r = baton_cmd("failover", rb, "--yes");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string kept = read(d_.path + "/state/lang/kept.json");
  EXPECT_NE(kept.find("\"fork_gtid\""), std::string::npos) << kept;
  EXPECT_NE(kept.find("\"3 transactions\""), std::string::npos) << kept;
  EXPECT_EQ(kept.find("tok-9d9d"), std::string::npos) << kept;
  r = baton_cmd("reverse-sync", rb, "--yes");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(journals().find("rebuild from fork 0-1-97 after losing 3 transactions: 3 transactions lost (the replica "
                            "executed up to 0-1-94)"),
            std::string::npos)
      << journals();
}

TEST_F(LanguageCli, MisusedKeysAreReportedWithTheirPlace) {
  std::string rb = runbook("", R"toml(
[[step]]
id = "bad"
phase = "preflight"
on = "all.db"
run_as = "two words"
wait = { until = "true", within = "1h" }
timeout = "10s"
keep = true
)toml");
  CommandResult r = baton_cmd("validate", rb);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(rb + ":17:6: \"on\" = \"all.db\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(rb + ":18:10: \"run_as\" = \"two words\" is not a user name"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(rb + ":19:8: \"within\" = 1h of \"wait\" is not shorter"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(rb + ":21:8: keep = true stores the step's capture"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace baton
