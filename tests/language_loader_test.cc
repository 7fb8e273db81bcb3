// The language additions of issue 11 as the loader reads them: prelude,
// run_as, values from the environment or a file, secret = true, wait,
// keep, on = "all"; and FILE:LINE:COL for every misuse.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "runbooks/loader.h"

namespace baton {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const char* kHead = R"([runbook]
name = "lang"
[sites.main.hosts.db]
address = "local"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
)";
constexpr int kHeadLines = 9;

LoadResult load(const std::string& rest, const std::string& path = "rb.toml") {
  return load_runbook_text(kHead + rest, path);
}

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += "\n  " + d.str();
  return out.empty() ? " (none)" : out;
}

// Exactly one error, at line (counted after the head) and column, naming `part`.
::testing::AssertionResult OneError(const LoadResult& r, int line, int col, const std::string& part) {
  if (r.errors.size() != 1) return ::testing::AssertionFailure() << "want 1 error, got" << all_errors(r);
  const Diagnostic& d = r.errors[0];
  if (d.where.line != kHeadLines + line || d.where.column != col || d.message.find(part) == std::string::npos)
    return ::testing::AssertionFailure() << "want :" << kHeadLines + line << ":" << col << ": ..." << part
                                         << "..., got" << all_errors(r);
  return ::testing::AssertionSuccess();
}


std::string value_of(const Runbook& rb, const std::string& n) {
  for (const auto& [k, v] : rb.vars)
    if (k == n) return v;
  return "<unset>";
}

struct TempFile {
  std::string dir, path;
  TempFile(const std::string& text, mode_t mode) {
    char tmpl[] = "/tmp/baton-lang-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/secret";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
  }
  ~TempFile() {
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
};

// ---------------------------------------------------------------- prelude

TEST(LanguagePrelude, IsReadFromTheRunbookTable) {
  LoadResult r = load_runbook_text("[runbook]\nname = \"x\"\nprelude = '''\nf() { echo hi; }\n'''\n"
                                   "[sites.a.hosts.h]\naddress = \"local\"\n[sites.b.hosts.h]\naddress = \"local\"\n"
                                   "[replication]\nsource = \"a\"\ntarget = \"b\"\n",
                                   "rb.toml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.runbook.prelude, "f() { echo hi; }\n");
}

TEST(LanguagePrelude, MustBeAString) {
  LoadResult r = load_runbook_text("[runbook]\nname = \"x\"\nprelude = 3\n"
                                   "[sites.a.hosts.h]\naddress = \"local\"\n[sites.b.hosts.h]\naddress = \"local\"\n"
                                   "[replication]\nsource = \"a\"\ntarget = \"b\"\n",
                                   "rb.toml");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].str(), "rb.toml:3:11: \"prelude\" must be a string, not an integer");
}

// ---------------------------------------------------------------- run_as

TEST(LanguageRunAs, HostAndStepKeys) {
  LoadResult r = load_runbook_text(std::string(kHead).replace(std::string(kHead).find("[sites.dr"), 0,
                                                              "run_as = \"postgres\"\n") +
                                       "[[step]]\nid = \"a\"\nphase = \"preflight\"\non = \"source\"\nrun = \"true\"\n"
                                       "run_as = \"\"\n"
                                       "[[step]]\nid = \"b\"\nphase = \"preflight\"\non = \"source\"\nrun = \"true\"\n",
                                   "rb.toml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.runbook.sites[0].hosts[0].run_as, "postgres");
  EXPECT_EQ(r.runbook.steps[0].run_as, std::optional<std::string>(""));
  EXPECT_EQ(r.runbook.steps[1].run_as, std::nullopt);
}

TEST(LanguageRunAs, ABadUserNameIsRefusedWhereItIs) {
  EXPECT_TRUE(OneError(load("[[step]]\nid = \"a\"\nphase = \"preflight\"\non = \"source\"\nrun = \"true\"\n"
                            "run_as = \"root; rm -rf /\"\n"),
                       6, 10, "is not a user name"));
  EXPECT_TRUE(OneError(load("[[step]]\nid = \"a\"\nphase = \"preflight\"\non = \"source\"\nrun = \"true\"\n"
                            "run_as = \"-u\"\n"),
                       6, 10, "is not a user name"));
}

// ---------------------------------------------------------------- values

TEST(LanguageValues, FromTheEnvironmentAreSecretUnlessSaidOtherwise) {
  ::setenv("BATON_LANG_TEST_TOKEN", "from-the-env", 1);
  ::setenv("BATON_LANG_TEST_PLAIN", "plain-env", 1);
  LoadResult r = load("[vars]\napi = { env = \"BATON_LANG_TEST_TOKEN\" }\n"
                      "region = { env = \"BATON_LANG_TEST_PLAIN\", secret = false }\n"
                      "pin = { value = \"1234\", secret = true }\nport = { value = 5432 }\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(value_of(r.runbook, "api"), "from-the-env");
  EXPECT_EQ(value_of(r.runbook, "region"), "plain-env");
  EXPECT_EQ(value_of(r.runbook, "pin"), "1234");
  EXPECT_EQ(value_of(r.runbook, "port"), "5432");
  EXPECT_TRUE(r.runbook.declared_secret("api"));
  EXPECT_FALSE(r.runbook.declared_secret("region"));
  EXPECT_TRUE(r.runbook.declared_secret("pin"));
  EXPECT_FALSE(r.runbook.declared_secret("port"));
}

TEST(LanguageValues, AnUnsetEnvironmentVariableIsAnErrorAtItsPlace) {
  ::unsetenv("BATON_LANG_TEST_UNSET");
  EXPECT_TRUE(OneError(load("[vars]\napi = { env = \"BATON_LANG_TEST_UNSET\" }\n"), 2, 15,
                       "variable \"api\": environment variable BATON_LANG_TEST_UNSET is not set"));
}

TEST(LanguageValues, VerbsThatRunNothingDoNotNeedTheValues) {
  ::unsetenv("BATON_LANG_TEST_UNSET");
  LoadResult r = load_runbook_text(std::string(kHead) + "[vars]\napi = { env = \"BATON_LANG_TEST_UNSET\" }\n",
                                   "rb.toml", false);
  EXPECT_TRUE(r.ok()) << all_errors(r);
  EXPECT_TRUE(r.runbook.declared_secret("api"));
}

TEST(LanguageValues, FromAFileOnlyTheOperatorMayRead) {
  TempFile f("s3cret-in-a-file\n", 0600);
  LoadResult r = load("[vars]\ndb_password_file = { file = \"" + f.path + "\" }\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(value_of(r.runbook, "db_password_file"), "s3cret-in-a-file");  // one newline dropped
  EXPECT_TRUE(r.runbook.declared_secret("db_password_file"));
}

TEST(LanguageValues, ARelativeFileIsBesideTheRunbook) {
  TempFile f("beside", 0600);
  LoadResult r = load("[vars]\nk = { file = \"secret\" }\n", f.dir + "/rb.toml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(value_of(r.runbook, "k"), "beside");
}

TEST(LanguageValues, AFileOthersMayReadIsRefused) {
  TempFile f("x", 0640);
  LoadResult r = load("[vars]\nk = { file = \"" + f.path + "\" }\n");
  EXPECT_TRUE(OneError(r, 2, 14, "has mode 0640: others may read or change it; chmod 600"));
  TempFile g("x", 0604);
  EXPECT_TRUE(OneError(load("[vars]\nk = { file = \"" + g.path + "\" }\n"), 2, 14, "has mode 0604"));
}

TEST(LanguageValues, AMissingFileIsNamed) {
  EXPECT_TRUE(OneError(load("[vars]\nk = { file = \"/nonexistent/baton/secret\" }\n"), 2, 14,
                       "cannot read /nonexistent/baton/secret: No such file or directory"));
}

TEST(LanguageValues, ExactlyOneSource) {
  EXPECT_TRUE(OneError(load("[vars]\nk = { value = \"a\", env = \"HOME\" }\n"), 2, 5, "needs exactly one of"));
  EXPECT_TRUE(OneError(load("[vars]\nk = { secret = true }\n"), 2, 5, "needs exactly one of"));
  EXPECT_TRUE(OneError(load("[vars]\nk = { value = \"a\", secrt = true }\n"), 2, 20,
                       "unknown key \"secrt\" in variable \"k\"; did you mean \"secret\"?"));
}

TEST(LanguageValues, HostValuesDeclaredSecretAreSecretUnderTheOtherSidesNamesToo) {
  std::string text = kHead;
  text.replace(text.find("[sites.dr"), 0, "[sites.main.hosts.db.vars]\nkey = { value = \"abcd\", secret = true }\n");
  LoadResult r = load_runbook_text(text, "rb.toml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_TRUE(r.runbook.declared_secret("key"));
  EXPECT_TRUE(r.runbook.declared_secret("source_key"));
  EXPECT_TRUE(r.runbook.declared_secret("target_key"));
}

// ---------------------------------------------------------------- captures

const char* kStep = "[[step]]\nid = \"s\"\nphase = \"preflight\"\non = \"source\"\nrun = \"echo x\"\n";

TEST(LanguageCaptures, SecretAndKeep) {
  LoadResult r = load(std::string(kStep) + "capture = \"otp\"\nsecret = true\n" +
                      "[[step]]\nid = \"t\"\nphase = \"preflight\"\non = \"source\"\nrun = \"echo 0-1-5\"\n"
                      "capture = \"fork_gtid\"\nkeep = true\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_TRUE(r.runbook.steps[0].secret);
  EXPECT_TRUE(r.runbook.declared_secret("otp"));
  EXPECT_TRUE(r.runbook.steps[1].keep);
  EXPECT_FALSE(r.runbook.declared_secret("fork_gtid"));
}

TEST(LanguageCaptures, KeepNeverStoresASecret) {
  EXPECT_TRUE(OneError(load(std::string(kStep) + "capture = \"otp\"\nsecret = true\nkeep = true\n"), 8, 8,
                       "keep = true on the secret capture \"otp\": Baton never stores a secret"));
  EXPECT_TRUE(OneError(load(std::string(kStep) + "capture = \"db_password\"\nkeep = true\n"), 7, 8,
                       "Baton never stores a secret"));
}

TEST(LanguageCaptures, SecretAndKeepNeedACapture) {
  EXPECT_TRUE(OneError(load(std::string(kStep) + "keep = true\n"), 6, 8, "the step has no \"capture\""));
  EXPECT_TRUE(OneError(load(std::string(kStep) + "secret = true\n"), 6, 10, "the step has no \"capture\""));
}

// ---------------------------------------------------------------- wait

TEST(LanguageWait, DefaultsAndATimeoutThatLeavesRoomForIt) {
  LoadResult r = load("[[step]]\nid = \"w\"\nphase = \"preflight\"\non = \"source\"\n"
                      "wait = { until = \"pg_isready\", every = \"200ms\", within = \"10m\" }\n"
                      "[[step]]\nid = \"v\"\nphase = \"preflight\"\non = \"source\"\nwait = { until = \"true\" }\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Step& w = r.runbook.steps[0];
  ASSERT_TRUE(w.wait);
  EXPECT_EQ(w.run, "");
  EXPECT_EQ(w.wait->until, "pg_isready");
  EXPECT_EQ(w.wait->every, milliseconds(200));
  EXPECT_EQ(w.wait->within, minutes(10));
  EXPECT_EQ(w.timeout, minutes(11));  // within and a minute, as no timeout was given
  const Step& v = r.runbook.steps[1];
  EXPECT_EQ(v.wait->every, seconds(1));
  EXPECT_EQ(v.wait->within, minutes(1));
  EXPECT_EQ(v.timeout, minutes(5));
}

TEST(LanguageWait, Misuse) {
  const std::string s = "[[step]]\nid = \"w\"\nphase = \"preflight\"\non = \"source\"\n";
  EXPECT_TRUE(OneError(load(s + "wait = { every = \"1s\" }\n"), 5, 8, "missing required key \"until\""));
  EXPECT_TRUE(OneError(load(s + "wait = { until = \"true\", within = \"soon\" }\n"), 5, 35,
                       "\"within\" = \"soon\" is not a duration"));
  EXPECT_TRUE(OneError(load(s + "wait = { until = \"true\", every = \"2m\" }\n"), 5, 34,
                       "\"every\" = 2m is longer than \"within\" = 1m"));
  EXPECT_TRUE(OneError(load(s + "timeout = \"30s\"\nwait = { until = \"true\", within = \"30s\" }\n"), 6, 8,
                       "is not shorter than the step's \"timeout\" = 30s"));
  EXPECT_TRUE(OneError(load(s + "wait = { until = \"true\", untill = \"x\" }\n"), 5, 26,
                       "unknown key \"untill\""));
  EXPECT_TRUE(OneError(load(s), 1, 1, "missing required key \"run\" (or \"wait\")"));
}

// ---------------------------------------------------------------- on = "all"

TEST(LanguageOnAll, IsAValidTarget) {
  LoadResult r = load("[[step]]\nid = \"a\"\nphase = \"preflight\"\non = \"all\"\nrun = \"true\"\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(check_target(r.runbook, "all"), "");
}

TEST(LanguageOnAll, TakesNoHostAndNoSiteMayBeCalledAll) {
  EXPECT_TRUE(OneError(load("[[step]]\nid = \"a\"\nphase = \"preflight\"\non = \"all.db\"\nrun = \"true\"\n"), 4, 6,
                       "\"all\" is every host of both sites and takes no host"));
  LoadResult r = load_runbook_text("[runbook]\nname = \"x\"\n[sites.all.hosts.h]\naddress = \"local\"\n"
                                   "[sites.b.hosts.h]\naddress = \"local\"\n[replication]\nsource = \"all\"\n"
                                   "target = \"b\"\n",
                                   "rb.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].str(), "rb.toml:3:8: site name \"all\" is reserved: on = \"all\" means every host of both sites");
}

}  // namespace
}  // namespace baton
