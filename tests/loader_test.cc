#include "runbooks/loader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "runbooks/names.h"
#include "runbooks/nesting.h"

namespace baton {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

LoadResult load(const std::string& text) { return load_runbook_text(text, "rb.toml"); }

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += "\n  " + d.str();
  return out.empty() ? " (none)" : out;
}

// Exactly one diagnostic, at line:col, whose message contains `part`.
::testing::AssertionResult OneError(const LoadResult& r, int line, int col,
                                    const std::string& part) {
  if (r.errors.size() != 1)
    return ::testing::AssertionFailure() << "want 1 error, got" << all_errors(r);
  const Diagnostic& d = r.errors[0];
  if (d.file != "rb.toml" || d.where.line != line || d.where.column != col ||
      d.message.find(part) == std::string::npos)
    return ::testing::AssertionFailure() << "want rb.toml:" << line << ":" << col << ": ..." << part
                                         << "..., got" << all_errors(r);
  return ::testing::AssertionSuccess();
}

// Twelve lines of a valid runbook without steps; tests append from line 13.
const std::string kBase = R"([runbook]
name = "orders"

[sites.main.hosts.db]
address = "local"

[sites.dr.hosts.db]
address = "local"

[replication]
source = "main"
target = "dr"
)";

// A step from its required keys, one per line: [[step]], id, phase, on, run.
std::string step_of(const std::string& id, const std::string& phase, const std::string& on,
                    const std::string& run) {
  return "[[step]]\nid = \"" + id + "\"\nphase = \"" + phase + "\"\non = \"" + on + "\"\nrun = \"" +
         run + "\"\n";
}

// A minimal valid step (lines 13-17 after kBase) for tests that break something else.
std::string step(const std::string& extra) {
  return step_of("s", "verify", "source", "true") + extra;
}

// ---------------------------------------------------------------- valid runbooks

const std::string kFull = R"(# The orders database.
[runbook]
name = "orders"
description = "Orders database"
rto = "15m"
rpo = "0s"

[sites.main.hosts.db]
address = "db1.example.com"
port = 2222
user = "postgres"
identity = "~/.ssh/baton"
host_key = "SHA256:abc"

[sites.main.hosts.app]
address = "local"

[sites.dr.hosts.db]
address = "db2.example.com"

[sites.dr.hosts.app]
address = "app2.example.com"

[replication]
source = "main"
target = "dr"

[ssh]
known_hosts = "/etc/baton/known_hosts"

[vars]
zeta = "/var/lib/postgresql"
alpha = 5432
mid = true
ratio = 1.5

[[step]]
id = "stop-primary"
phase = "stop_replication"
on = "source.db"
run = "pg_ctl stop"
operations = ["switchover", "drill"]
drill = "run"
timeout = "2m"
retries = 3
retry_delay = "250ms"
expect_exit = 0
expect_stdout = "stopped"
capture = "checkpoint_lsn"
on_failure = "rollback"
undo = "pg_ctl start"
confirm = "Stop the primary?"
group = "stop"
idempotent = false

[[step]]
id = "check"
phase = "verify_sync"
on = "dr"
run = "psql -c 'select 1'"
expect_match = "^t$"

[[step]]
id = "catch-up"
phase = "reverse_sync"
on = "target"
run = "pg_basebackup"
operations = ["reverse_sync"]
on_failure = "continue"
)";

TEST(LoadRunbook, LoadsAFullRunbookWithAllValues) {
  LoadResult r = load(kFull);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Runbook& rb = r.runbook;
  EXPECT_EQ(rb.path, "rb.toml");
  EXPECT_EQ(rb.name, "orders");
  EXPECT_EQ(rb.description, "Orders database");
  EXPECT_EQ(rb.rto, minutes(15));
  EXPECT_EQ(rb.rpo, (Quantity{Quantity::Unit::ms, 0}));
  EXPECT_EQ(rb.known_hosts, "/etc/baton/known_hosts");
  EXPECT_EQ(rb.source, "main");
  EXPECT_EQ(rb.target, "dr");

  ASSERT_EQ(rb.sites.size(), 2u);
  EXPECT_EQ(rb.sites[0].name, "main");  // File order, not key order.
  EXPECT_EQ(rb.sites[1].name, "dr");
  ASSERT_EQ(rb.sites[0].hosts.size(), 2u);
  const Host& db = rb.sites[0].hosts[0];
  EXPECT_EQ(db.site, "main");
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.label(), "main.db");
  EXPECT_EQ(db.address, "db1.example.com");
  EXPECT_EQ(db.port, 2222);
  EXPECT_EQ(db.user, "postgres");
  EXPECT_EQ(db.identity, "~/.ssh/baton");
  EXPECT_EQ(db.host_key, "SHA256:abc");
  EXPECT_EQ(db.where.line, 8);
  EXPECT_FALSE(db.is_local());
  const Host& app = rb.sites[0].hosts[1];
  EXPECT_EQ(app.name, "app");
  EXPECT_TRUE(app.is_local());
  EXPECT_EQ(app.port, 0);
  EXPECT_EQ(app.user, "");

  using Var = std::pair<std::string, std::string>;
  std::vector<Var> want_vars = {
      {"zeta", "/var/lib/postgresql"}, {"alpha", "5432"}, {"mid", "true"}, {"ratio", "1.5"}};
  EXPECT_EQ(rb.vars, want_vars);

  ASSERT_EQ(rb.steps.size(), 3u);
  const Step& s0 = rb.steps[0];
  EXPECT_EQ(s0.id, "stop-primary");
  EXPECT_EQ(s0.phase, Phase::stop_replication);
  EXPECT_EQ(s0.on, "source.db");
  EXPECT_EQ(s0.run, "pg_ctl stop");
  EXPECT_EQ(s0.operations, (std::vector<Operation>{Operation::switchover, Operation::drill}));
  EXPECT_TRUE(s0.drill_run);
  EXPECT_EQ(s0.timeout, minutes(2));
  EXPECT_EQ(s0.retries, 3);
  EXPECT_EQ(s0.retry_delay, milliseconds(250));
  EXPECT_EQ(s0.expect_exit, 0);
  EXPECT_EQ(s0.expect_stdout, "stopped");
  EXPECT_FALSE(s0.expect_match);
  EXPECT_EQ(s0.capture, "checkpoint_lsn");
  EXPECT_EQ(s0.on_failure, OnFailure::rollback);
  EXPECT_EQ(s0.undo, "pg_ctl start");
  EXPECT_EQ(s0.confirm, "Stop the primary?");
  EXPECT_EQ(s0.group, "stop");
  EXPECT_FALSE(s0.idempotent);
  EXPECT_EQ(s0.where.line, 37);
  EXPECT_EQ(s0.where.column, 1);

  const Step& s2 = rb.steps[2];
  EXPECT_EQ(s2.operations, std::vector<Operation>{Operation::reverse_sync});
  EXPECT_EQ(s2.on_failure, OnFailure::continue_);
}

TEST(LoadRunbook, AppliesDefaultsForOmittedStepKeys) {
  LoadResult r = load(kFull);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Step& s = r.runbook.steps[1];
  EXPECT_EQ(s.id, "check");
  EXPECT_EQ(s.phase, Phase::verify_sync);
  EXPECT_TRUE(s.operations.empty());
  EXPECT_FALSE(s.drill_run);
  EXPECT_EQ(s.timeout, minutes(5));
  EXPECT_EQ(s.retries, 0);
  EXPECT_EQ(s.retry_delay, seconds(1));
  EXPECT_EQ(s.expect_exit, 0);
  EXPECT_FALSE(s.expect_stdout);
  ASSERT_TRUE(s.expect_match);
  EXPECT_EQ(s.expect_match->text(), "^t$");
  EXPECT_TRUE(s.expect_match->found_in("f\nt\n"));  // Compiled at load: ^ and $ per line.
  EXPECT_EQ(s.capture, "");
  EXPECT_EQ(s.on_failure, OnFailure::abort);
  EXPECT_TRUE(s.idempotent);
}

TEST(LoadRunbook, LeavesOptionalRunbookFieldsEmpty) {
  LoadResult r = load(kBase);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_FALSE(r.runbook.rto);
  EXPECT_FALSE(r.runbook.rpo);
  EXPECT_EQ(r.runbook.known_hosts, "");
  EXPECT_TRUE(r.runbook.vars.empty());
}

TEST(LoadRunbook, ConnectionAttemptsUnderSsh) {
  LoadResult r = load(kBase + "[ssh]\nconnection_attempts = 6\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.runbook.connection_attempts, 6);
  EXPECT_EQ(load(kBase).runbook.connection_attempts, 0);  // ssh_config's, else the default
  EXPECT_TRUE(OneError(load(kBase + "[ssh]\nconnection_attempts = 0\n"), 14, 23, "between 1 and 100"));
}

TEST(LoadRunbook, RunnerUnderSsh) {
  EXPECT_TRUE(load(kBase).runbook.ssh_runner);
  LoadResult off = load(kBase + "[ssh]\nrunner = false\n");
  ASSERT_TRUE(off.ok()) << all_errors(off);
  EXPECT_FALSE(off.runbook.ssh_runner);
  EXPECT_TRUE(OneError(load(kBase + "[ssh]\nrunner = \"no\"\n"), 14, 10, "\"runner\" must be a boolean, not a string"));
}

TEST(LoadRunbook, AcceptsARunbookWithoutSteps) {
  LoadResult r = load(kBase);
  EXPECT_TRUE(r.ok()) << all_errors(r);
  EXPECT_TRUE(r.runbook.steps.empty());
}

TEST(LoadRunbook, AcceptsRollbackWithoutUndo) {
  EXPECT_TRUE(load(kBase + step("on_failure = \"rollback\"\n")).ok());
}

TEST(LoadRunbook, AcceptsReverseSyncSpelledWithAHyphen) {
  LoadResult r = load(kBase + R"([[step]]
id = "rs"
phase = "reverse_sync"
on = "target"
run = "x"
operations = ["reverse-sync"]
)");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.runbook.steps[0].operations, std::vector<Operation>{Operation::reverse_sync});
}

TEST(LoadRunbook, HashesTheFileBytesWithFnv1a) {
  EXPECT_EQ(load("").runbook.content_hash, "cbf29ce484222325");
  EXPECT_EQ(load("a").runbook.content_hash, "af63dc4c8601ec8c");
  std::string h = load(kFull).runbook.content_hash;
  EXPECT_EQ(h.size(), 16u);
  EXPECT_NE(h, load(kFull + "\n").runbook.content_hash);
}

TEST(Diagnostic, FormatsAsFileLineColumnMessage) {
  Diagnostic d{"rb.toml", {3, 7}, "oops"};
  EXPECT_EQ(d.str(), "rb.toml:3:7: oops");
}

// ---------------------------------------------------------------- empty or unreadable

TEST(LoadRunbookErrors, EmptyFileIsOneErrorAtTheStart) {
  EXPECT_TRUE(OneError(load(""), 1, 1, "empty runbook"));
}

TEST(LoadRunbookErrors, CommentsOnlyFileIsOneErrorAtTheStart) {
  EXPECT_TRUE(OneError(load("# nothing yet\n\n   # really\n"), 1, 1, "empty runbook"));
}

TEST(LoadRunbookErrors, MissingRunbookTableIsReportedAtTheStart) {
  std::string text = kBase.substr(kBase.find("[sites"));
  EXPECT_TRUE(OneError(load(text), 1, 1, "missing [runbook] table"));
}

TEST(LoadRunbookErrors, MissingFileCannotBeRead) {
  LoadResult r = load_runbook_file("/nonexistent/baton/rb.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "/nonexistent/baton/rb.toml");
  EXPECT_EQ(r.errors[0].where.line, 1);
  EXPECT_EQ(r.errors[0].where.column, 1);
  EXPECT_NE(r.errors[0].message.find("cannot read"), std::string::npos);
}

TEST(LoadRunbookErrors, DirectoryCannotBeRead) {
  LoadResult r = load_runbook_file("/");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_NE(r.errors[0].message.find("cannot read"), std::string::npos);
}

TEST(LoadRunbookFile, LoadsFromDisk) {
  std::string path = ::testing::TempDir() + "loader_test_rb.toml";
  std::ofstream(path) << kFull;
  LoadResult r = load_runbook_file(path);
  std::remove(path.c_str());
  EXPECT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.runbook.path, path);
  EXPECT_EQ(r.runbook.content_hash, load(kFull).runbook.content_hash);
}

// ---------------------------------------------------------------- syntax

TEST(LoadRunbookErrors, TomlSyntaxErrorHasItsPosition) {
  EXPECT_TRUE(OneError(load("[runbook]\nname = \n"), 2, 8, "TOML syntax error"));
}

TEST(LoadRunbookErrors, DuplicateTomlKeyIsASyntaxError) {
  EXPECT_TRUE(OneError(load("[runbook]\nname = \"a\"\nname = \"b\"\n"), 3, 8,
                       "cannot redefine existing string 'name'"));
}

// ---------------------------------------------------------------- keys

TEST(LoadRunbookErrors, UnknownStepKeySuggestsTheNearestKnownKey) {
  LoadResult r = load(kBase + step("retires = 3\n"));
  EXPECT_TRUE(
      OneError(r, 18, 1, "unknown key \"retires\" in [[step]] \"s\"; did you mean \"retries\"?"));
}

TEST(LoadRunbookErrors, UnknownKeyFarFromAnyKnownKeyHasNoSuggestion) {
  LoadResult r = load(kBase + step("colour = \"red\"\n"));
  ASSERT_TRUE(OneError(r, 18, 1, "unknown key \"colour\""));
  EXPECT_EQ(r.errors[0].message.find("did you mean"), std::string::npos);
}

TEST(LoadRunbookErrors, UnknownTopLevelTableSuggestsTheNearestKnownKey) {
  LoadResult r = load(kBase + "[[steps]]\nid = \"x\"\n");
  EXPECT_TRUE(OneError(r, 13, 3, "unknown key \"steps\" at the top level; did you mean \"step\"?"));
}

TEST(LoadRunbookErrors, UnknownHostKeyIsReportedWithItsTable) {
  LoadResult r = load(kBase + "[sites.dr.hosts.app]\naddress = \"x\"\nusr = \"pg\"\n");
  EXPECT_TRUE(OneError(r, 15, 1, "in [sites.dr.hosts.app]; did you mean \"user\"?"));
}

TEST(LoadRunbookErrors, SiteTableMayOnlyContainHosts) {
  LoadResult r = load(kBase + "[sites.dr]\nregion = \"eu\"\n");
  EXPECT_TRUE(OneError(r, 14, 1, "unknown key \"region\" in [sites.dr]"));
}

TEST(LoadRunbookErrors, MissingStepKeyPointsAtTheStepHeader) {
  LoadResult r = load(kBase + "\n[[step]]\nid = \"s\"\nphase = \"verify\"\non = \"source\"\n");
  EXPECT_TRUE(OneError(r, 14, 1, "missing required key \"run\" (or \"wait\") in [[step]] \"s\""));
}

TEST(LoadRunbookErrors, MissingHostAddressPointsAtTheHostTable) {
  LoadResult r = load(kBase + "[sites.dr.hosts.app]\nuser = \"pg\"\n");
  EXPECT_TRUE(OneError(r, 13, 1, "missing required key \"address\" in [sites.dr.hosts.app]"));
}

TEST(LoadRunbookErrors, MissingReplicationKeyPointsAtTheTable) {
  std::string text = kBase.substr(0, kBase.find("target ="));
  EXPECT_TRUE(OneError(load(text), 10, 1, "missing required key \"target\" in [replication]"));
}

TEST(LoadRunbookErrors, MissingRunbookNamePointsAtTheTable) {
  std::string text = "[runbook]\ndescription = \"x\"\n" + kBase.substr(kBase.find("[sites"));
  EXPECT_TRUE(OneError(load(text), 1, 1, "missing required key \"name\" in [runbook]"));
}

// ---------------------------------------------------------------- types and values

TEST(LoadRunbookErrors, WrongValueTypeNamesBothTypes) {
  LoadResult r = load(kBase + step("retries = \"3\"\n"));
  EXPECT_TRUE(OneError(r, 18, 11, "\"retries\" must be an integer, not a string"));
}

TEST(LoadRunbookErrors, WrongTypeForBooleanKey) {
  LoadResult r = load(kBase + step("idempotent = \"yes\"\n"));
  EXPECT_TRUE(OneError(r, 18, 14, "\"idempotent\" must be a boolean, not a string"));
}

TEST(LoadRunbookErrors, NegativeRetriesAreRejected) {
  LoadResult r = load(kBase + step("retries = -1\n"));
  EXPECT_TRUE(OneError(r, 18, 11, "\"retries\" must be between 0 and 1000000, not -1"));
}

TEST(LoadRunbookErrors, ExpectExitMustBeAnExitStatus) {
  LoadResult r = load(kBase + step("expect_exit = 256\n"));
  EXPECT_TRUE(OneError(r, 18, 15, "\"expect_exit\" must be between 0 and 255, not 256"));
}

TEST(LoadRunbookErrors, PortMustBeInRange) {
  LoadResult r = load(kBase + "[sites.dr.hosts.app]\naddress = \"x\"\nport = 70000\n");
  EXPECT_TRUE(OneError(r, 15, 8, "\"port\" must be between 1 and 65535, not 70000"));
}

TEST(LoadRunbookErrors, HostKeyMustBeASha256Fingerprint) {
  LoadResult r = load(kBase + "[sites.dr.hosts.app]\naddress = \"x\"\nhost_key = \"MD5:ab\"\n");
  EXPECT_TRUE(OneError(r, 15, 12, "\"host_key\" must start with \"SHA256:\""));
}

TEST(LoadRunbookErrors, BadDurationShowsTheValueAndAnExample) {
  LoadResult r = load(kBase + step("timeout = \"5x\"\n"));
  ASSERT_TRUE(OneError(r, 18, 11, "\"timeout\" = \"5x\" is not a duration"));
  EXPECT_NE(r.errors[0].message.find("\"30s\""), std::string::npos);
}

TEST(LoadRunbookErrors, DurationGivenAsANumberIsAWrongType) {
  LoadResult r = load(kBase + step("retry_delay = 5\n"));
  EXPECT_TRUE(OneError(r, 18, 15, "\"retry_delay\" must be a duration string"));
}

TEST(LoadRunbookErrors, BadRunbookObjectiveDuration) {
  std::string text =
      "[runbook]\nname = \"x\"\nrto = \"15 minutes\"\n" + kBase.substr(kBase.find("[sites"));
  EXPECT_TRUE(OneError(load(text), 3, 7, "\"rto\" = \"15 minutes\" is not a duration"));
}

TEST(LoadRunbookErrors, EmptyRunIsRejected) {
  LoadResult r = load(kBase + step_of("s", "verify", "dr", "  "));
  EXPECT_TRUE(OneError(r, 17, 7, "\"run\" must not be empty"));
}

TEST(LoadRunbookErrors, InvalidRegexReportsTheRegexError) {
  LoadResult r = load(kBase + step("expect_match = \"(unclosed\"\n"));
  EXPECT_TRUE(OneError(r, 18, 16, "\"expect_match\" is not a regular expression Baton can use: missing )"));
}

TEST(LoadRunbookErrors, RegexFeaturesRe2LacksAreRejectedAtLoadTime) {
  EXPECT_TRUE(OneError(load(kBase + step("expect_match = '(a)\\1'\n")), 18, 16, "no backreferences"));
  EXPECT_TRUE(OneError(load(kBase + step("expect_match = 'a(?=b)'\n")), 18, 16, "no backreferences, lookahead"));
}

TEST(LoadRunbookErrors, HugeRegexIsAnErrorNotACrash) {
  // Deep nesting: std::regex recursed once per level and crashed validate.
  const std::string deep = std::string(20000, '(') + "a" + std::string(20000, ')');
  EXPECT_TRUE(OneError(load(kBase + step("expect_match = '" + deep + "'\n")), 18, 16, "too long"));
  // Short, but compiles to a huge program.
  EXPECT_TRUE(OneError(load(kBase + step("expect_match = '((((a{100}){100}){100}){100})'\n")), 18, 16,
                       "is not a regular expression Baton can use"));
}

TEST(LoadRunbookErrors, OnFailureMustBeKnown) {
  LoadResult r = load(kBase + step("on_failure = \"retry\"\n"));
  EXPECT_TRUE(
      OneError(r, 18, 14, "\"on_failure\" must be \"abort\", \"continue\" or \"rollback\""));
}

TEST(LoadRunbookErrors, DrillMustBeRunOrSkip) {
  LoadResult r = load(kBase + step("drill = \"yes\"\n"));
  EXPECT_TRUE(OneError(r, 18, 9, "\"drill\" must be \"run\" or \"skip\""));
}

TEST(LoadRunbookErrors, CaptureMustBeAShellVariableName) {
  LoadResult r = load(kBase + step("capture = \"lsn-1\"\n"));
  EXPECT_TRUE(OneError(r, 18, 11, "\"capture\" = \"lsn-1\" is not a shell variable name"));
}

// ---------------------------------------------------------------- names

TEST(LoadRunbookErrors, RunbookNameMustBeLowercase) {
  std::string text = "[runbook]\nname = \"Orders DB\"\n" + kBase.substr(kBase.find("[sites"));
  EXPECT_TRUE(OneError(load(text), 2, 8, "runbook name \"Orders DB\" must use only"));
}

TEST(LoadRunbookErrors, StepIdMustUseLettersDigitsAndHyphens) {
  LoadResult r = load(kBase + step_of("stop_db", "verify", "dr", "x"));
  EXPECT_TRUE(OneError(r, 14, 6, "step id \"stop_db\" must use only a-z, 0-9 and -"));
}

TEST(LoadRunbookErrors, HostNameMustBeLowercase) {
  LoadResult r = load(kBase + "[sites.dr.hosts.DB2]\naddress = \"x\"\n");
  EXPECT_TRUE(OneError(r, 13, 17, "host name \"DB2\" must use only"));
}

TEST(LoadRunbookErrors, SiteNameMustBeLowercase) {
  LoadResult r = load(kBase + "[sites.Spare.hosts.db]\naddress = \"x\"\n");
  EXPECT_TRUE(OneError(r, 13, 8, "site name \"Spare\" must use only"));
}

TEST(LoadRunbookErrors, SiteWithoutHostsIsRejected) {
  LoadResult r = load(kBase + "\n[sites.spare]\n");
  EXPECT_TRUE(OneError(r, 14, 1, "site \"spare\" has no hosts"));
}

// ---------------------------------------------------------------- vars

TEST(LoadRunbookErrors, VarNameMustBeAShellVariableName) {
  LoadResult r = load(kBase + "[vars]\nok = \"1\"\n2bad = \"x\"\n");
  EXPECT_TRUE(OneError(r, 15, 1, "variable name \"2bad\" is not a shell variable name"));
}

TEST(LoadRunbookErrors, VarValueMustNotHoldANulByte) {
  LoadResult r = load(kBase + "[vars]\nv = \"a\\u0000b\"\n");
  EXPECT_TRUE(OneError(r, 14, 5, "variable \"v\" contains a NUL byte"));
}

TEST(LoadRunbookErrors, VarValueMustBeAScalar) {
  LoadResult r = load(kBase + "[vars]\nv = [1, 2]\n");
  EXPECT_TRUE(
      OneError(r, 14, 5, "variable \"v\" must be a string, number, boolean or a table such as { env = \"NAME\" }, not an array"));
}

// ---------------------------------------------------------------- phases and operations

TEST(LoadRunbookErrors, UnknownPhaseListsTheValidPhases) {
  LoadResult r = load(kBase + step_of("s", "promot", "dr", "x"));
  ASSERT_TRUE(OneError(r, 15, 9, "unknown phase \"promot\"; did you mean \"promote\"?"));
  EXPECT_NE(r.errors[0].message.find("preflight, quiesce, fence, stop_replication, verify_sync, "
                                     "promote, start_apps, verify, reverse_sync, cleanup"),
            std::string::npos);
}

TEST(LoadRunbookErrors, UnknownOperationListsTheValidOperations) {
  LoadResult r = load(kBase + step("operations = [\"drill\", \"switch\"]\n"));
  EXPECT_TRUE(OneError(r, 18, 24, "unknown operation \"switch\""));
}

TEST(LoadRunbookErrors, OperationWithoutTheStepsPhaseIsRejected) {
  LoadResult r = load(kBase +
                      "[[step]]\nid = \"f\"\nphase = \"fence\"\non = \"source\"\n"
                      "run = \"x\"\noperations = [\"failover\", \"switchover\"]\n");
  EXPECT_TRUE(OneError(r, 18, 27, "phase \"fence\" is not part of operation \"switchover\""));
}

TEST(LoadRunbookErrors, DrillRunInAPhaseTheDrillLacksIsRejected) {
  LoadResult r = load(kBase +
                      "[[step]]\nid = \"f\"\nphase = \"fence\"\non = \"source\"\n"
                      "run = \"x\"\ndrill = \"run\"\n");
  EXPECT_TRUE(OneError(r, 18, 9, "drill = \"run\" but phase \"fence\" is not part of a drill"));
}

TEST(LoadRunbookErrors, DrillSkipInAnyPhaseIsFine) {
  LoadResult r = load(kBase +
                      "[[step]]\nid = \"f\"\nphase = \"fence\"\non = \"source\"\n"
                      "run = \"x\"\ndrill = \"skip\"\n");
  EXPECT_TRUE(r.ok()) << all_errors(r);
}

// ---------------------------------------------------------------- targets

TEST(LoadRunbookErrors, UnknownSiteInOnListsRolesAndSites) {
  LoadResult r = load(kBase + step_of("s", "verify", "mian", "x"));
  ASSERT_TRUE(
      OneError(r, 16, 6, "unknown role or site \"mian\" in \"on\"; did you mean \"main\"?"));
  EXPECT_NE(r.errors[0].message.find("sites: main, dr"), std::string::npos);
}

TEST(LoadRunbookErrors, UnknownHostInSiteIsRejected) {
  LoadResult r = load(kBase + step_of("s", "verify", "dr.web", "x"));
  EXPECT_TRUE(OneError(r, 16, 6, "unknown host \"web\" in site \"dr\""));
}

TEST(LoadRunbookErrors, RoleHostMustExistInBothSites) {
  LoadResult r = load(kBase + "[sites.main.hosts.app]\naddress = \"x\"\n" +
                      step_of("s", "verify", "source.app", "x"));
  EXPECT_TRUE(OneError(
      r, 18, 6, "unknown host \"app\" in site \"dr\"; \"source.app\" needs it in both sites"));
}

TEST(CheckTarget, AcceptsRolesSitesAndTheirHosts) {
  LoadResult r = load(kBase);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  for (const char* on :
       {"source", "target", "source.db", "target.db", "main", "dr", "main.db", "dr.db"})
    EXPECT_EQ(check_target(r.runbook, on), "") << on;
}

TEST(CheckTarget, RejectsMalformedTargets) {
  LoadResult r = load(kBase);
  for (const char* on : {"", "main.", "main.db.x", "source.", "nowhere", "nowhere.db"})
    EXPECT_NE(check_target(r.runbook, on), "") << on;
}

// ---------------------------------------------------------------- cross-step checks

TEST(LoadRunbookErrors, DuplicateStepIdPointsAtTheSecondAndNamesTheFirstLine) {
  LoadResult r = load(kBase + step("") + step(""));
  EXPECT_TRUE(OneError(r, 19, 6, "duplicate step id \"s\"; first defined on line 14"));
}

TEST(LoadRunbookErrors, ReplicationSourceEqualToTargetIsRejected) {
  std::string text = kBase.substr(0, kBase.find("target =")) + "target = \"main\"\n";
  EXPECT_TRUE(OneError(load(text), 12, 10, "replication source and target are both \"main\""));
}

TEST(LoadRunbookErrors, ReplicationNamingAnUnknownSiteIsRejected) {
  std::string text = kBase.substr(0, kBase.find("target =")) + "target = \"dr2\"\n";
  EXPECT_TRUE(OneError(load(text), 12, 10,
                       "replication target names unknown site \"dr2\"; did you mean \"dr\"?"));
}

TEST(LoadRunbookErrors, StepGivenAsAPlainTableIsAWrongType) {
  LoadResult r = load(kBase + "[step]\nid = \"s\"\n");
  EXPECT_TRUE(OneError(r, 13, 1, "\"step\" must be an array of tables ([[step]]), not a table"));
}

// ---------------------------------------------------------------- one pass

TEST(LoadRunbookErrors, ReportsEveryMistakeInOnePassInFileOrder) {
  const std::string text = R"([runbook]
name = "orders"
rto = "soon"

[sites.main.hosts.db]
address = "local"
prot = 22

[sites.dr.hosts.db]
address = "local"

[replication]
source = "main"
target = "dr"

[[step]]
id = "a"
phase = "verfy"
on = "source"
run = "x"
retries = "many"

[[step]]
id = "a"
phase = "verify"
on = "nowhere"
timeout = "1x"
)";
  LoadResult r = load(text);
  std::vector<std::string> want = {
      "rb.toml:3:7: \"rto\" = \"soon\" is not a duration",
      "rb.toml:7:1: unknown key \"prot\" in [sites.main.hosts.db]; did you mean \"port\"?",
      "rb.toml:18:9: unknown phase \"verfy\"; did you mean \"verify\"?",
      "rb.toml:21:11: \"retries\" must be an integer, not a string",
      "rb.toml:23:1: missing required key \"run\" (or \"wait\") in [[step]] \"a\"",
      "rb.toml:24:6: duplicate step id \"a\"; first defined on line 17",
      "rb.toml:26:6: unknown role or site \"nowhere\"",
      "rb.toml:27:11: \"timeout\" = \"1x\" is not a duration",
  };
  ASSERT_EQ(r.errors.size(), want.size()) << all_errors(r);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(r.errors[i].str().rfind(want[i], 0), 0u) << "got " << r.errors[i].str();
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(LoadRunbook, HostVarsBelongToTheirHost) {
  LoadResult r = load(R"([runbook]
name = "orders"
[sites.main.hosts.db]
address = "10.0.0.1"
[sites.main.hosts.db.vars]
pgdata = "/srv/main"
pgport = 5433
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
)");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Host& h = r.runbook.sites[0].hosts[0];
  EXPECT_EQ(h.vars, (std::vector<std::pair<std::string, std::string>>{{"pgdata", "/srv/main"}, {"pgport", "5433"}}));
  EXPECT_TRUE(r.runbook.sites[1].hosts[0].vars.empty());
}

TEST(LoadRunbookErrors, BadHostVarNameIsReportedWhereItStands) {
  LoadResult r = load(R"([runbook]
name = "orders"
[sites.main.hosts.db]
address = "10.0.0.1"
[sites.main.hosts.db.vars]
2bad = "x"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
)");
  EXPECT_TRUE(OneError(r, 6, 1, "not a shell variable name"));
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(LoadRunbook, ProbeForEveryHostWithOverrides) {
  LoadResult r = load(R"([runbook]
name = "orders"
rpo = "0 transactions"
[sites.main.hosts.db]
address = "local"
[sites.main.hosts.app]
address = "local"
[sites.main.hosts.app.probe]
skip = true
[sites.dr]
probe = { run = "dr-probe", timeout = "2s" }
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
[probe]
run = "probe"
)");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Runbook& rb = r.runbook;
  EXPECT_EQ(rb.rpo, (Quantity{Quantity::Unit::transactions, 0}));
  EXPECT_EQ(rb.rpo_text, "0 transactions");
  const Host& main_db = rb.sites[0].hosts[0];
  const Host& main_app = rb.sites[0].hosts[1];
  const Host& dr_db = rb.sites[1].hosts[0];
  ASSERT_TRUE(rb.probe_for(main_db));
  EXPECT_EQ(rb.probe_for(main_db)->run, "probe");
  EXPECT_EQ(rb.probe_for(main_db)->timeout, seconds(5));  // The default: short.
  EXPECT_FALSE(rb.probe_for(main_app));
  EXPECT_EQ(rb.probe_for(dr_db)->run, "dr-probe");
  EXPECT_EQ(rb.probe_for(dr_db)->timeout, seconds(2));
  EXPECT_TRUE(rb.has_probe());
}

TEST(LoadRunbook, MeasuresAndHint) {
  LoadResult r = load(kBase + step("measures = \"data_loss\"\nhint = \"check the network\""));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_TRUE(r.runbook.steps[0].measures_data_loss);
  EXPECT_EQ(r.runbook.steps[0].hint, "check the network");
}

TEST(LoadRunbookErrors, RpoMustBeAnAmountInAKnownUnit) {
  LoadResult r = load("[runbook]\nname = \"x\"\nrpo = \"a little\"\n" + kBase.substr(kBase.find("\n[sites")));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(OneError(r, 3, 7, "\"rpo\" = \"a little\" is not a data-loss objective")) << all_errors(r);
}

TEST(LoadRunbookErrors, ProbeMistakes) {
  EXPECT_TRUE(OneError(load(kBase + "[probe]\ntimeout = \"1s\"\n"), 13, 1, "missing required key \"run\" in [probe]"));
  EXPECT_TRUE(OneError(load(kBase + "[probe]\nrun = \"p\"\ntimout = \"1s\"\n"), 15, 1, "did you mean \"timeout\""));
  EXPECT_TRUE(OneError(load(kBase + "[probe]\nrun = \"p\"\ntimeout = \"0s\"\n"), 15, 11, "more than 0s"));
  EXPECT_TRUE(OneError(load(kBase + "[probe]\nrun = \"  \"\n"), 14, 7, "must not be empty"));
  EXPECT_TRUE(OneError(load(kBase + "[sites.dr.hosts.db.probe]\nrun = 5\n"), 14, 7, "\"run\" must be a string"));
}

TEST(LoadRunbookErrors, MeasuresOnlyKnowsDataLoss) {
  EXPECT_TRUE(OneError(load(kBase + step("measures = \"data-loss\"")), 18, 12, "did you mean \"data_loss\""));
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// ---------------------------------------------------------------- reserved names

TEST(LoadRunbookErrors, ReservedVariableNamesAreRejectedWhereTheyStand) {
  LoadResult r = load(kBase + "[vars]\nPATH = \"/tmp/evil\"\nLD_PRELOAD = \"/tmp/x.so\"\nBATON_DRILL = \"0\"\npath = \"fine\"\n");
  ASSERT_EQ(r.errors.size(), 3u) << all_errors(r);
  EXPECT_EQ(r.errors[0].str().rfind("rb.toml:14:1: variable name \"PATH\" is reserved: the shell reads it", 0), 0u)
      << all_errors(r);
  EXPECT_EQ(r.errors[1].str().rfind("rb.toml:15:1: variable name \"LD_PRELOAD\" is reserved: the dynamic loader", 0), 0u)
      << all_errors(r);
  EXPECT_EQ(r.errors[2].str().rfind("rb.toml:16:1: variable name \"BATON_DRILL\" is reserved: Baton sets", 0), 0u)
      << all_errors(r);
}

TEST(LoadRunbookErrors, HostVariableCannotTurnADrillIntoProduction) {
  LoadResult r = load(R"([runbook]
name = "orders"
[sites.main.hosts.db]
address = "local"
[sites.main.hosts.db.vars]
BATON_DRILL = "0"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
)");
  EXPECT_TRUE(OneError(r, 6, 1, "variable name \"BATON_DRILL\" is reserved"));
}

TEST(LoadRunbookErrors, CaptureCannotNameAReservedVariable) {
  // A host's stdout captured as PATH chose the binary of later local steps.
  LoadResult r = load(kBase + step("capture = \"PATH\"\n"));
  EXPECT_TRUE(OneError(r, 18, 11, "\"capture\" = \"PATH\" is reserved: the shell reads it"));
}

TEST(ReservedNames, EveryListedNameIsRejectedAndDocumented) {
  std::ifstream in(std::string(BATON_SOURCE_DIR) + "/docs/runbook.md");
  std::stringstream readme;
  readme << in.rdbuf();
  for (std::string n : reserved_var_names()) {
    EXPECT_NE(readme.str().find("`" + n + "`"), std::string::npos) << n << " is not in docs/runbook.md";
    if (n.back() == '*') n.back() = 'X';
    EXPECT_NE(reserved_var_name(n), "") << n;
    EXPECT_FALSE(load(kBase + "[vars]\n" + n + " = \"v\"\n").ok()) << n;
  }
  for (const char* free : {"path", "PGDATA", "LANG", "LC_ALL", "TZ", "source_sum", "XPATH", "LD"})
    EXPECT_EQ(reserved_var_name(free), "") << free;
}

// ---------------------------------------------------------------- edges

TEST(LoadRunbookErrors, NulInAnyStringIsRejected) {
  // The command would silently stop at the NUL.
  EXPECT_TRUE(OneError(load(kBase + step("undo = \"rm -rf /tmp/x\\u0000/y\"\n")), 18, 8, "\"undo\" contains a NUL byte"));
  EXPECT_TRUE(OneError(load(kBase + step("expect_stdout = \"a\\u0000\"\n")), 18, 17, "\"expect_stdout\" contains a NUL"));
  EXPECT_TRUE(OneError(load(kBase + "[ssh]\nknown_hosts = \"/k\\u0000h\"\n"), 14, 15, "\"known_hosts\" contains a NUL"));
  LoadResult run = load(kBase + step_of("s", "verify", "source", "true\\u0000; rm -rf /"));
  EXPECT_TRUE(OneError(run, 17, 7, "\"run\" contains a NUL byte"));
  LoadResult addr = load(R"([runbook]
name = "orders"
[sites.main.hosts.db]
address = "10.0.0.1\u0000"
identity = "~/.ssh/k\u0000"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
)");
  ASSERT_EQ(addr.errors.size(), 2u) << all_errors(addr);
  EXPECT_EQ(addr.errors[0].str().rfind("rb.toml:4:11: \"address\" contains a NUL", 0), 0u) << all_errors(addr);
  EXPECT_EQ(addr.errors[1].str().rfind("rb.toml:5:12: \"identity\" contains a NUL", 0), 0u) << all_errors(addr);
}

TEST(LoadRunbookErrors, ZeroTimeoutIsRejected) {
  EXPECT_TRUE(OneError(load(kBase + step("timeout = \"0s\"\n")), 18, 11,
                       "\"timeout\" = \"0s\" is out of range: it must be more than 0s and at most 168h"));
  EXPECT_TRUE(OneError(load(kBase + step("timeout = \"169h\"\n")), 18, 11, "at most 168h"));
  EXPECT_TRUE(load(kBase + step("timeout = \"1ms\"\n")).ok());
}

TEST(LoadRunbookErrors, RetryDelayMayBeZeroButNotHours) {
  LoadResult r = load(kBase + step("retry_delay = \"0s\"\n"));
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.runbook.steps[0].retry_delay, milliseconds(0));
  EXPECT_TRUE(OneError(load(kBase + step("retry_delay = \"2h\"\n")), 18, 15,
                       "\"retry_delay\" = \"2h\" is out of range: it must be 0 (retry at once) or more and at most 1h"));
}

TEST(LoadRunbookErrors, HugeDurationIsNotAnOverflow) {
  std::string many;
  for (int i = 0; i < 3000; ++i) many += "1000000000h";
  EXPECT_TRUE(OneError(load(kBase + step("timeout = \"" + many + "\"\n")), 18, 11, "is not a duration"));
}

TEST(LoadRunbookErrors, RunbookNameLongerThan64IsRejected) {
  LoadResult r = load("[runbook]\nname = \"" + std::string(300, 'a') + "\"" + kBase.substr(kBase.find('\n', 10)));
  EXPECT_TRUE(OneError(r, 2, 8, "runbook name is 300 characters long; at most 64"));
  EXPECT_TRUE(load("[runbook]\nname = \"" + std::string(64, 'a') + "\"" + kBase.substr(kBase.find('\n', 10))).ok());
}

// ---------------------------------------------------------------- nesting

TEST(LoadRunbookErrors, DeepDottedKeysAreAnErrorNotAStackOverflow) {
  // 31 000 levels in 64 KB overflowed the stack inside toml++.
  std::string key = "a";
  for (int i = 0; i < 31000; ++i) key += ".a";
  // Under [replication]: one level more.
  EXPECT_TRUE(OneError(load(kBase + key + " = 1\n"), 13, 1, "nesting 31002 levels deep"));
}

TEST(LoadRunbookErrors, DeepTableHeadersInlineTablesAndArraysAreErrors) {
  std::string header = "[x";
  for (int i = 0; i < 40; ++i) header += ".\"q.\"";
  EXPECT_TRUE(OneError(load(kBase + header + "]\n"), 13, 1, "nesting 41 levels deep"));
  std::string inl = "x = ", close;
  for (int i = 0; i < 40; ++i) inl += "{ a = ", close += "}";
  // x is at depth 2 (under [replication]); the 31st inner key reaches 33.
  EXPECT_TRUE(OneError(load(kBase + inl + "1" + close + "\n"), 13, 5 + 6 * 30 + 2, "nesting 33 levels deep"));
  std::string arr = "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  EXPECT_TRUE(OneError(load(kBase + arr), 13, 5 + 31, "nesting 33 levels deep"));
  std::string tables = "[[a.b.c.d.e.f.g.h]]\ni.j.k.l.m.n.o.p = [[[{q.r.s.t = [[[[{ u.v.w.x.y.z = 1 }]]]]}]]]\n";
  // 8 + 8 + 3 arrays + 1 table + 4 + 4 arrays + 1 table + 6 = 35: u goes past 32.
  EXPECT_TRUE(OneError(load(kBase + tables), 14, 39, "nesting 33 levels deep"));
}

TEST(Nesting, StringsAndCommentsDoNotCount) {
  const std::string text = "a = \"[[[{{{.\\\"...\"\nb = '[[[.'\nc = \"\"\"\n[[[[ ]]]]\n\\\"\"\" {{{{\n\"\"\"\"\n"
                           "d = '''\n[a.b.c.d]\n''''\n# [[[[[[[[[[[[ x.y.z.w\n\"e.f\".'g.h' = [1.5, 2.5, \"]\", '}']\n";
  // The deepest real thing: the array's elements, at 3.
  EXPECT_FALSE(check_nesting(text, 3)) << check_nesting(text, 3)->message;
  std::optional<NestingError> e = check_nesting(text + "[x.y.z.w]\n", 3);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->where.line, 12);
  EXPECT_EQ(e->where.column, 1);
}

TEST(Nesting, TheExamplesPass) {
  for (const char* ex : {"local", "postgresql", "mariadb"}) {
    LoadResult r = load_runbook_file(std::string(BATON_SOURCE_DIR) + "/examples/" + ex + "/runbook.toml");
    EXPECT_TRUE(r.ok()) << ex << all_errors(r);
  }
}

TEST(LoadRunbook, ReadsTheCostTable) {
  LoadResult r = load(kBase + "[cost]\nhourly_revenue = 12000\nhourly_labor = 450.5\ncurrency = \"EUR\"\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_TRUE(r.runbook.cost);
  EXPECT_EQ(r.runbook.cost->hourly_revenue, 12000);
  EXPECT_EQ(r.runbook.cost->hourly_labor, 450.5);
  EXPECT_EQ(r.runbook.cost->currency, "EUR");
  EXPECT_FALSE(load(kBase).runbook.cost);
}

TEST(LoadRunbook, CostMistakesAreFileLineCol) {
  EXPECT_TRUE(OneError(load(kBase + "[cost]\nhourly_revenu = 1\nhourly_labor = 2\n"), 14, 1,
                       "unknown key \"hourly_revenu\" in [cost]; did you mean \"hourly_revenue\"?"));
  EXPECT_TRUE(OneError(load(kBase + "[cost]\nhourly_revenue = \"lots\"\n"), 14, 18, "must be a number"));
  EXPECT_TRUE(OneError(load(kBase + "[cost]\nhourly_labor = -5\n"), 14, 16, "between 0 and"));
  EXPECT_TRUE(OneError(load(kBase + "[cost]\ncurrency = \"EUR\"\n"), 13, 1, "needs \"hourly_revenue\""));
}

}  // namespace
}  // namespace baton
