// Runs the built `baton` binary as an operator would, and checks exit
// codes and output.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "tests/cli_support.h"

namespace baton {
namespace {

using namespace baton::testing;

const char* kHeader = R"([runbook]
name = "t"
rto = "1m"
[sites.a.hosts.h]
address = "local"
[sites.b.hosts.h]
address = "local"
[replication]
source = "a"
target = "b"
)";

TEST(Cli, ValidateOkExitsZero) {
  CommandResult r = sh(baton() + " validate " + shell_quote(example() + "/runbook.toml"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
}

TEST(Cli, ValidateErrorsAreFileLineColAndExitTwo) {
  TempDir d;
  std::string rb = d.path + "/bad.toml";
  write(rb, std::string(kHeader) + "[[step]]\nid = \"x\"\nphase = \"promotee\"\non = \"source\"\nrun = \"true\"\nretires = 3\n");
  CommandResult r = sh(baton() + " validate " + shell_quote(rb));
  EXPECT_EQ(r.exit_code, 2);
  std::regex line(R"(^/tmp/baton-cli-\w+/bad\.toml:\d+:\d+: .+$)");
  std::istringstream in(r.err);
  std::string l;
  int matched = 0;
  while (std::getline(in, l)) matched += std::regex_match(l, line);
  EXPECT_EQ(matched, 2) << r.err;  // Both mistakes, one pass.
  EXPECT_NE(r.err.find("bad.toml:13:9:"), std::string::npos) << r.err;  // phase value
  EXPECT_NE(r.err.find("did you mean \"retries\""), std::string::npos) << r.err;
}

TEST(Cli, UsageErrorExitsTwo) {
  EXPECT_EQ(sh(baton() + " frobnicate x").exit_code, 2);
  EXPECT_EQ(sh(baton() + " plan " + shell_quote(example() + "/runbook.toml") + " sideways").exit_code, 2);
  EXPECT_EQ(sh(baton()).exit_code, 2);
}

TEST(Cli, GraphIsAcceptedByDot) {
  TempDir d;
  CommandResult r = sh(baton() + " graph > " + d.path + "/m.dot && dot -Tsvg " + d.path + "/m.dot > " + d.path + "/m.svg");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  CommandResult r2 = sh(baton() + " graph " + shell_quote(example() + "/runbook.toml") + " | dot -Tsvg >/dev/null");
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  CommandResult r3 = sh(baton() + " graph");
  EXPECT_NE(r3.out.find("failed -> rolling_back"), std::string::npos);
}

TEST(Cli, PlanShowsWhatRunsWhereAndWhySkipped) {
  CommandResult r = sh(baton() + " plan " + shell_quote(example() + "/runbook.toml") + " drill");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(skip  stop-app +\(not marked drill-safe)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(run   drill-clone +on target -> dr\.app)"))) << r.out;
}

TEST(Cli, PlanSaysWhereItsRolesComeFrom) {
  TempDir d;
  const std::string rb = shell_quote(example() + "/runbook.toml");
  const std::string state = " --state-dir " + shell_quote(d.path + "/state");
  CommandResult r = sh(baton() + " plan " + rb + " switchover" + state);
  EXPECT_NE(r.out.find("roles from the runbook's [replication] (no roles stored yet); the run probes the hosts"),
            std::string::npos) << r.out;
  sh("mkdir -p " + d.path + "/state/local-example && printf 'source=dr\\ntarget=main\\nstale=\\n' > " + d.path +
     "/state/local-example/roles");
  r = sh(baton() + " plan " + rb + " switchover" + state);
  EXPECT_NE(r.out.find("source dr, target main\nroles from " + d.path + "/state/local-example/roles"),
            std::string::npos) << r.out;
}

CommandResult run_book(const TempDir& d, const std::string& verb, const std::string& steps,
                       const std::string& flags = "") {
  std::string rb = d.path + "/rb.toml";
  write(rb, std::string(kHeader) + steps);
  return sh(baton() + " " + verb + " " + shell_quote(rb) + " --state-dir " + shell_quote(d.path + "/state") + " " + flags);
}

TEST(Cli, ExitCodes) {
  {
    TempDir d;
    CommandResult r = run_book(d, "switchover", "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"true\"\n");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  {
    TempDir d;
    CommandResult r = run_book(d, "switchover", "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"echo boom >&2; exit 7\"\n");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("step s failed on b.h"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("boom"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("baton resume"), std::string::npos) << r.err;  // What to do next.
  }
  {
    TempDir d;
    CommandResult r = run_book(d, "switchover",
                               "[[step]]\nid = \"p\"\nphase = \"preflight\"\non = \"source\"\nrun = \"false\"\n"
                               "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"touch " + d.path + "/promoted\"\n");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find("Nothing was changed"), std::string::npos) << r.err;
    EXPECT_NE(::access((d.path + "/promoted").c_str(), F_OK), 0);
  }
  {
    TempDir d;
    CommandResult r = run_book(d, "failover",
                               "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"touch " + d.path +
                                   "/promoted\"\nconfirm = \"Is site a really down?\"\n");
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_NE(r.err.find("Is site a really down?"), std::string::npos) << r.err;
    EXPECT_NE(::access((d.path + "/promoted").c_str(), F_OK), 0);
    CommandResult y = run_book(d, "failover",
                               "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"touch " + d.path +
                                   "/promoted\"\nconfirm = \"Is site a really down?\"\n", "--yes");
    EXPECT_EQ(y.exit_code, 0) << y.err;
    EXPECT_EQ(::access((d.path + "/promoted").c_str(), F_OK), 0);
  }
}

TEST(Cli, SecondRunWhileLockedExitsFive) {
  TempDir d;
  std::string steps = "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"true\"\n";
  ASSERT_EQ(run_book(d, "drill", steps).exit_code, 0);
  int fd = ::open((d.path + "/state/t/lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  CommandResult r = run_book(d, "switchover", steps);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("another run holds the lock"), std::string::npos) << r.err;
}

TEST(Cli, SecretsNeverReachOutputJournalOrReport) {
  TempDir d;
  std::string steps =
      "[vars]\ndb_password = \"hunter2-very-secret\"\n"
      "[[step]]\nid = \"mint\"\nphase = \"promote\"\non = \"target\"\nrun = \"echo tok-123456789\"\ncapture = \"api_token\"\n"
      "[[step]]\nid = \"leak\"\nphase = \"verify\"\non = \"source\"\n"
      "run = 'echo \"pw=$db_password token=$api_token\"; echo \"pw=$db_password\" >&2; "
      "test -f \"$gate\" && test ${#api_token} -eq 13'\n";
  steps = "[vars]\ngate = \"" + d.path + "/gate\"\n" + steps.substr(7);
  CommandResult r = run_book(d, "switchover", steps);
  EXPECT_EQ(r.exit_code, 1);
  CommandResult json = run_book(d, "report", steps, "--json");
  CommandResult text = run_book(d, "report", steps);
  std::string journal = sh("cat " + shell_quote(d.path) + "/state/t/runs/*.jsonl").out;
  for (const std::string& where : {r.out + r.err, json.out, text.out, journal}) {
    EXPECT_EQ(where.find("hunter2-very-secret"), std::string::npos) << where;
    EXPECT_EQ(where.find("tok-123456789"), std::string::npos) << where;
  }
  EXPECT_NE(journal.find("pw=***"), std::string::npos) << journal;
  // The masked capture was never recorded, so resume mints it again, and
  // the failed step then sees the real 13-byte token, not the mask.
  write(d.path + "/gate", "");
  CommandResult again = run_book(d, "resume", steps);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("ok    mint"), std::string::npos) << again.out;
}

TEST(Cli, ACaptureThatHoldsASecretReachesLaterStepsWhole) {
  TempDir d;
  std::string steps = "[vars]\ndb_password = \"hunter2-very-secret\"\nd = \"" + d.path + R"RB("
[[step]]
id = "conn"
phase = "promote"
on = "target"
run = 'echo "host=db password=$db_password"'
capture = "conninfo"
[[step]]
id = "use"
phase = "verify"
on = "source"
run = 'printf "%s" "$conninfo" > "$d/used"; test -f "$d/gate"'
)RB";
  ASSERT_EQ(run_book(d, "switchover", steps).exit_code, 1);
  EXPECT_EQ(sh("cat " + d.path + "/state/t/runs/*.jsonl").out.find("hunter2"), std::string::npos);
  write(d.path + "/gate", "");
  CommandResult r = run_book(d, "resume", steps);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(read(d.path + "/used"), "host=db password=hunter2-very-secret");  // Never "***".
}

TEST(Cli, CheckMasksAFailingStepsOutput) {
  TempDir d;
  std::string steps = R"RB([vars]
db_password = "hunter2-very-secret"
[[step]]
id = "pre"
phase = "preflight"
on = "source"
run = 'echo "connecting with $db_password" >&2; exit 1'
)RB";
  CommandResult r = run_book(d, "check", steps);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ((r.out + r.err).find("hunter2"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("connecting with ***"), std::string::npos) << r.out;
}

TEST(Cli, JsonPrintsOneEventPerLine) {
  TempDir d;
  CommandResult r = run_book(d, "switchover", "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"echo hi\"\n", "--json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string l;
  int n = 0;
  bool finished = false;
  while (std::getline(in, l)) {
    ++n;
    EXPECT_EQ(l.front(), '{');
    EXPECT_EQ(l.back(), '}');
    finished = finished || l.find("\"event\":\"run_finished\"") != std::string::npos;
  }
  EXPECT_GT(n, 5);
  EXPECT_TRUE(finished);
}

TEST(Cli, DrillOfTheExampleLeavesProductionUnchanged) {
  TempDir d;
  Vars env = {{"BATON_EXAMPLE_ROOT", d.path + "/sites"}};
  ASSERT_EQ(sh(shell_quote(example() + "/site.sh") + " init --no-app", env).exit_code, 0);
  auto before = snapshot(d.path + "/sites/main");
  std::string active_before = snapshot(d.path + "/sites").at("./active");
  ASSERT_FALSE(before.empty());
  CommandResult r = sh(baton() + " drill " + shell_quote(example() + "/runbook.toml") + " --state-dir " +
                           shell_quote(d.path + "/state"), env);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("drill-app-takes-orders"), std::string::npos);
  EXPECT_EQ(snapshot(d.path + "/sites/main"), before);
  EXPECT_EQ(snapshot(d.path + "/sites").at("./active"), active_before);
  EXPECT_NE(::access((d.path + "/sites/drill").c_str(), F_OK), 0);  // Cleanup ran.
  sh(shell_quote(example() + "/site.sh") + " teardown", env);
}

TEST(Cli, SwitchoverOfTheExampleAndBack) {
  TempDir d;
  Vars env = {{"BATON_EXAMPLE_ROOT", d.path + "/sites"}};
  const std::string site = shell_quote(example() + "/site.sh");
  const std::string run = baton() + " switchover " + shell_quote(example() + "/runbook.toml") + " --state-dir " +
                          shell_quote(d.path + "/state");
  ASSERT_EQ(sh(site + " init", env).exit_code, 0);
  CommandResult r = sh(run, env);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(sh(site + " serve", env).out.rfind("dr serves", 0), 0u);
  EXPECT_NE(snapshot(d.path + "/state").at("./local-example/roles").find("source=dr"), std::string::npos);
  // Nothing the old source took is missing on the new one.
  std::string old_log = snapshot(d.path + "/sites/main").at("./data/orders.log");
  std::string new_log = snapshot(d.path + "/sites/dr").at("./data/orders.log");
  EXPECT_EQ(new_log.compare(0, old_log.size(), old_log), 0);
  CommandResult back = sh(run, env);
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(sh(site + " serve", env).out.rfind("main serves", 0), 0u);
  sh(site + " teardown", env);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

const char* kPromote = "[[step]]\nid = \"s\"\nphase = \"promote\"\non = \"target\"\nrun = \"true\"\n";

std::string mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  char buf[8];
  std::snprintf(buf, sizeof buf, "%o", st.st_mode & 07777);
  return buf;
}

TEST(CliState, ResumeOfANamedRunWithNoRunsIsAnErrorNotACrash) {
  TempDir d;
  CommandResult r = run_book(d, "resume", kPromote, "--run 20260101-000000.000-abcd");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no run 20260101-000000.000-abcd of \"t\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no runs yet"), std::string::npos) << r.err;
}

TEST(CliState, ReadOnlyVerbsCreateNothing) {
  TempDir d;
  for (const std::string verb : {"status", "history", "report", "plan", "check"}) {
    CommandResult r = run_book(d, verb, kPromote, verb == "plan" ? "switchover" : "");
    EXPECT_EQ(r.exit_code, verb == "report" ? 2 : 0) << verb << r.out << r.err;
    EXPECT_FALSE(exists(d.path + "/state")) << verb << " created the state directory";
  }
  CommandResult st = run_book(d, "status", kPromote);
  EXPECT_NE(st.out.find("last run  none"), std::string::npos) << st.out;
}

TEST(CliState, SymbolicLinkAsStateRootIsRefused) {
  TempDir d;
  ASSERT_EQ(::mkdir((d.path + "/elsewhere").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((d.path + "/elsewhere").c_str(), (d.path + "/state").c_str()), 0);
  CommandResult r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(d.path + "/state is a symbolic link"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(d.path + "/elsewhere/t"));
  EXPECT_EQ(run_book(d, "status", kPromote).exit_code, 1);  // Nor read through it.
}

TEST(CliState, SymbolicLinkAsRunbookDirectoryIsNeitherFollowedNorChmodded) {
  TempDir d;
  ASSERT_EQ(::mkdir((d.path + "/state").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((d.path + "/victim").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((d.path + "/victim").c_str(), (d.path + "/state/t").c_str()), 0);
  CommandResult r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(d.path + "/state/t is a symbolic link"), std::string::npos) << r.err;
  EXPECT_EQ(mode_of(d.path + "/victim"), "755");
  EXPECT_FALSE(exists(d.path + "/victim/lock"));
}

TEST(CliState, StateRootWritableByOthersIsRefused) {
  TempDir d;
  ASSERT_EQ(::mkdir((d.path + "/state").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((d.path + "/state").c_str(), 0777), 0);
  CommandResult r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("writable by group or others; make it private: chmod go-w"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(d.path + "/state/t"));
}

TEST(CliState, DirectoryOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory away";
  TempDir d;
  ASSERT_EQ(::mkdir((d.path + "/state").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((d.path + "/state/t").c_str(), 0700), 0);
  ASSERT_EQ(::chown((d.path + "/state/t").c_str(), 65534, 65534), 0);
  CommandResult r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(d.path + "/state/t belongs to "), std::string::npos) << r.err;
  EXPECT_FALSE(exists(d.path + "/state/t/lock"));
  // The root too.
  ASSERT_EQ(::chown((d.path + "/state").c_str(), 65534, 65534), 0);
  r = run_book(d, "status", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(d.path + "/state belongs to "), std::string::npos) << r.err;
}

TEST(CliState, FilesInsideAreNotWrittenThroughSymbolicLinks) {
  TempDir d;
  ASSERT_EQ(run_book(d, "drill", kPromote).exit_code, 0);
  const std::string st = d.path + "/state/t";
  write(d.path + "/victim", "precious\n");
  // The lock.
  ASSERT_EQ(::unlink((st + "/lock").c_str()), 0);
  ASSERT_EQ(::symlink((d.path + "/victim").c_str(), (st + "/lock").c_str()), 0);
  CommandResult r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("lock: it is a symbolic link"), std::string::npos) << r.err;
  ASSERT_EQ(::unlink((st + "/lock").c_str()), 0);
  // The roles' temporary file: the promote cannot record roles, so it fails.
  ASSERT_EQ(::symlink((d.path + "/victim").c_str(), (st + "/roles.tmp").c_str()), 0);
  r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot record the new roles"), std::string::npos) << r.err;
  ASSERT_EQ(sh("rm -f " + shell_quote(st + "/roles.tmp") + " && " + baton() + " resume " + shell_quote(d.path + "/rb.toml") +
               " --abort --state-dir " + shell_quote(d.path + "/state")).exit_code, 0);
  // The journals' directory.
  ASSERT_EQ(sh("rm -rf " + shell_quote(st + "/runs")).exit_code, 0);
  ASSERT_EQ(::mkdir((d.path + "/elsewhere").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((d.path + "/elsewhere").c_str(), (st + "/runs").c_str()), 0);
  r = run_book(d, "switchover", kPromote);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(st + "/runs is a symbolic link"), std::string::npos) << r.err;
  EXPECT_EQ(sh("ls -A " + shell_quote(d.path + "/elsewhere")).out, "");
  EXPECT_EQ(read(d.path + "/victim"), "precious\n");
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(CliLargeValues, OneMebibyteCaptureReachesLaterStepsAndSurvivesResume) {
  // Over 128 KiB in the environment, every later local step failed with a
  // bare "exit code 127", and so did every resume.
  TempDir d;
  const std::string steps =
      "[[step]]\nid = \"mint\"\nphase = \"promote\"\non = \"target\"\n"
      "run = \"head -c 1048576 /dev/zero | tr '\\\\0' x\"\ncapture = \"big\"\n"
      "[[step]]\nid = \"unrelated\"\nphase = \"verify\"\non = \"source\"\nrun = \"ls / >/dev/null\"\n"
      "[[step]]\nid = \"use\"\nphase = \"verify\"\non = \"source\"\n"
      "run = 'test -f \"$gate\" && test ${#big} -eq 1048576 && printf %s \"$big\" | tr -d x | wc -c | grep -qx 0'\n";
  const std::string all = "[vars]\ngate = \"" + d.path + "/gate\"\n" + steps;
  CommandResult r = run_book(d, "switchover", all);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("ok    unrelated"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("step use failed"), std::string::npos) << r.err;
  write(d.path + "/gate", "");
  CommandResult again = run_book(d, "resume", all);  // The value comes back from the journal.
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.out.find("mint"), std::string::npos) << again.out;  // Not run again.
}

TEST(CliLargeValues, CaptureLargerThanBatonKeepsFailsTheStep) {
  TempDir d;
  CommandResult r = run_book(d, "switchover",
                             "[[step]]\nid = \"mint\"\nphase = \"promote\"\non = \"target\"\n"
                             "run = \"head -c 1048577 /dev/zero | tr '\\\\0' x\"\ncapture = \"big\"\n");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("capture big: stdout was 1048577 bytes, over the 1 MiB Baton keeps"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace baton
