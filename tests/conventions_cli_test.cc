// The command-line conventions people expect: --version, colour only where
// wanted (NO_COLOR, --color), --json on every verb that prints a result,
// per-verb help, the unknown-verb message, one operation's graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/example_sandbox.h"

namespace baton {
namespace {

using namespace baton::testing;
using nlohmann::json;

json parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

// Every key in `keys` is present in the object `j`.
void has_fields(const json& j, std::initializer_list<const char*> keys) {
  ASSERT_TRUE(j.is_object()) << j.dump();
  for (const char* k : keys) EXPECT_TRUE(j.contains(k)) << "no \"" << k << "\" in " << j.dump();
}

std::string rb_example() { return shell_quote(example() + "/runbook.toml"); }

TEST(Conventions, VersionNamesTheGitRevisionWhenBuiltFromGit) {
  CommandResult r = sh(baton() + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("baton 0.", 0), 0u) << r.out;
  const bool git = sh("git -C " + shell_quote(BATON_SOURCE_DIR) + " rev-parse --show-toplevel").exit_code == 0;
  if (git) {
    // "(git abc1234)" or "(git abc1234-dirty)": a commit of this repository
    // (the one configured last, so not necessarily HEAD).
    const size_t at = r.out.find(" (git ");
    ASSERT_NE(at, std::string::npos) << r.out;
    std::string rev = r.out.substr(at + 6, r.out.find(')', at) - at - 6);
    if (rev.size() > 6 && rev.compare(rev.size() - 6, 6, "-dirty") == 0) rev.resize(rev.size() - 6);
    EXPECT_GE(rev.size(), 7u) << r.out;
    EXPECT_EQ(sh("git -C " + shell_quote(BATON_SOURCE_DIR) + " cat-file -e " + shell_quote(rev + "^{commit}")).exit_code,
              0)
        << rev << " is not a commit of " << BATON_SOURCE_DIR;
  } else {
    EXPECT_EQ(r.out.find("git"), std::string::npos) << r.out;
  }
}

TEST(Conventions, VersionFallsBackCleanlyOutsideAGitCheckout) {
  TempDir d;
  const std::string script = shell_quote(std::string(BATON_SOURCE_DIR) + "/cmake/BatonVersion.cmake");
  CommandResult plain = sh(shell_quote(CMAKE_COMMAND) + " -DDIR=" + shell_quote(d.path) + " -P " + script + " 2>&1");
  EXPECT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_EQ(plain.out, "revision=\n");
  // A source tree unpacked inside another repository takes no revision.
  sh("cd " + shell_quote(d.path) + " && git init -q . && mkdir src");
  CommandResult nested =
      sh(shell_quote(CMAKE_COMMAND) + " -DDIR=" + shell_quote(d.path + "/src") + " -P " + script + " 2>&1");
  EXPECT_EQ(nested.out, "revision=\n");
}

// A drill of the local example on a pseudo-terminal (script(1)), so
// "auto" sees a terminal.
std::string drill_on_a_terminal(Sandbox& sb, const std::string& flags, Vars env = {}) {
  std::string cmd = baton() + " drill " + shell_quote(sb.rb) + " --state-dir " + shell_quote(sb.state) + " " + flags;
  Vars e = sb.env;
  for (auto& kv : env) e.push_back(kv);
  e.push_back({"TERM", "xterm"});
  CommandResult r = sh("script -qec " + shell_quote(cmd) + " /dev/null", e);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("drill completed"), std::string::npos) << r.out;
  return r.out;
}

TEST(Conventions, ColourOnATerminalUnlessNoColorOrNever) {
  Sandbox sb;
  EXPECT_NE(drill_on_a_terminal(sb, "").find("\033[32mok"), std::string::npos);
  for (const std::string& out : {drill_on_a_terminal(sb, "", {{"NO_COLOR", "1"}}),
                                 drill_on_a_terminal(sb, "--color=never"),
                                 drill_on_a_terminal(sb, "--color never")}) {
    EXPECT_EQ(out.find('\033'), std::string::npos) << out;
    EXPECT_NE(out.find("running\r"), std::string::npos) << out;  // Still live, without escapes.
  }
  // --color=always is the more specific wish: over NO_COLOR, and into a pipe.
  EXPECT_NE(drill_on_a_terminal(sb, "--color=always", {{"NO_COLOR", "1"}}).find("\033[32mok"), std::string::npos);
  CommandResult piped = sb.baton_cmd("drill --color=always");
  EXPECT_NE(piped.out.find("\033[32mok"), std::string::npos) << piped.out;
  EXPECT_EQ(sb.baton_cmd("drill").out.find('\033'), std::string::npos);
  EXPECT_EQ(sb.baton_cmd("drill --color=sometimes").exit_code, 2);
}

TEST(Conventions, EveryVerbsHelpListsTheGlobalFlagsAndEndsWithTheExitCodes) {
  for (const char* verb : {"validate", "plan", "graph", "check", "switchover", "failover", "drill", "reverse-sync",
                           "resume", "status", "history", "report", "adopt"}) {
    CommandResult r = sh(baton() + " " + verb + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb;
    for (const char* flag : {"--yes", "--json", "--color", "--state-dir", "--known-hosts", "--accept-new-host-keys",
                             "--connection-attempts"})
      EXPECT_NE(r.out.find(flag), std::string::npos) << verb << " --help lacks " << flag << "\n" << r.out;
    const size_t codes = r.out.rfind("Exit codes: 0 done");
    ASSERT_NE(codes, std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\n\n", codes), std::string::npos) << "the exit codes are not the end:\n" << r.out;
  }
}

// The help's exit codes give every reason the man page gives, as one would
// read them off a failed run's exit code.
TEST(Conventions, HelpExitCodesNameEveryReasonOfTheManPage) {
  CommandResult r = sh(baton() + " --help");
  std::string out = r.out;
  std::replace(out.begin(), out.end(), '\n', ' ');
  for (const char* reason : {"split brain or no primary observed", "stored roles that contradict the hosts",
                             "a stale side", "a run waiting to be resumed", "confirmation needed or refused",
                             "a data loss over the RPO", "another run holds the lock"})
    EXPECT_NE(out.find(reason), std::string::npos) << "--help lacks \"" << reason << "\"\n" << r.out;
}

TEST(Conventions, AnUnknownVerbIsNamedWithTheNearestOne) {
  CommandResult r = sh(baton() + " swtichover x.toml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'swtichover'; did you mean 'switchover'?"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("A subcommand is required"), std::string::npos) << r.err;
  // No verb at all: the same form of error, with the verbs.
  for (const char* args : {"", " --json", " --state-dir /tmp"}) {
    CommandResult none = sh(baton() + args);
    EXPECT_EQ(none.exit_code, 2) << args;
    EXPECT_EQ(none.err.rfind("baton: error: a command is required (commands: validate, plan,", 0), 0u) << none.err;
  }
  EXPECT_EQ(sh(baton() + " --help").exit_code, 0);
}

// Every verb with --json answers a broken runbook with the same document
// as validate --json (and the text diagnostics on stderr), exit 2.
TEST(Conventions, EveryJsonVerbGivesTheDiagnosticsOfABrokenRunbook) {
  TempDir d;
  const std::string bad = d.path + "/bad.toml";
  write(bad, "[runbook]\nname = \"t\"\nrtoo = \"1m\"\n");
  for (const std::string verb : {"plan", "check", "status", "history", "report", "switchover", "resume", "adopt"}) {
    CommandResult r = sh(baton() + " " + verb + " " + shell_quote(bad) + (verb == "plan" ? " switchover" : "") +
                         " --json --state-dir " + shell_quote(d.path + "/state") + (verb == "adopt" ? " --source dr" : ""));
    EXPECT_EQ(r.exit_code, 2) << verb;
    json j = parse(r.out);
    EXPECT_FALSE(j.value("ok", true)) << verb << ": " << r.out;
    ASSERT_TRUE(j.contains("diagnostics") && !j["diagnostics"].empty()) << verb << ": " << r.out;
    bool misspelt = false;  // the misspelt key, where it is
    for (const json& diag : j["diagnostics"]) misspelt = misspelt || (diag["line"] == 3 && diag["column"] == 1);
    EXPECT_TRUE(misspelt) << verb << ": " << r.out;
    EXPECT_NE(r.err.find(bad + ":3:1:"), std::string::npos) << verb << ": " << r.err;
  }
}

TEST(Conventions, ValidateJsonListsDiagnosticsWithFileLineColumn) {
  json ok = parse(sh(baton() + " validate --json " + rb_example()).out);
  has_fields(ok, {"file", "ok", "diagnostics", "runbook", "sites", "steps"});
  EXPECT_TRUE(ok["ok"].get<bool>());
  EXPECT_EQ(ok["runbook"], "local-example");
  EXPECT_TRUE(ok["diagnostics"].empty());

  TempDir d;
  const std::string bad = d.path + "/bad.toml";
  write(bad, "[runbook]\nname = \"t\"\nrtoo = \"1m\"\n");
  CommandResult r = sh(baton() + " validate " + shell_quote(bad) + " --json");
  EXPECT_EQ(r.exit_code, 2);
  json j = parse(r.out);
  EXPECT_FALSE(j["ok"].get<bool>());
  ASSERT_FALSE(j["diagnostics"].empty()) << r.out;
  for (const json& diag : j["diagnostics"]) {
    has_fields(diag, {"file", "line", "column", "message"});
    EXPECT_EQ(diag["file"], bad);
    EXPECT_GT(diag["line"].get<int>(), 0);
  }
  bool found = false;  // The misspelt key, where it is.
  for (const json& diag : j["diagnostics"])
    found = found || (diag["line"] == 3 && diag["column"] == 1 &&
                      diag["message"].get<std::string>().find("rtoo") != std::string::npos);
  EXPECT_TRUE(found) << r.out;
}

TEST(Conventions, PlanJsonHasPhasesStepsHostsAndTheRoleSwap) {
  json j = parse(sh(baton() + " plan --json " + rb_example() + " switchover").out);
  has_fields(j, {"runbook", "operation", "source", "target", "roles_from", "probed_before_run", "phases", "runs",
                 "skipped"});
  EXPECT_EQ(j["operation"], "switchover");
  std::set<std::string> phases;
  int runs = 0;
  for (const json& p : j["phases"]) {
    has_fields(p, {"phase", "steps"});
    phases.insert(p["phase"].get<std::string>());
    for (const json& s : p["steps"]) {
      has_fields(s, {"id", "on", "runs"});
      if (s["runs"].get<bool>()) {
        ++runs;
        has_fields(s, {"hosts", "attempts"});
      } else {
        has_fields(s, {"skip"});
      }
    }
    if (p["phase"] == "promote") {
      EXPECT_EQ(p["roles_after"]["source"], "dr") << p.dump();
    }
  }
  EXPECT_EQ(runs, j["runs"].get<int>());
  EXPECT_EQ(phases.count("fence"), 0u);
  EXPECT_EQ(phases.count("quiesce"), 1u);
}

TEST(Conventions, CheckStatusHistoryAndReportJsonHaveTheirFields) {
  Sandbox sb;
  CommandResult c = sb.baton_cmd("check --json");
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  json check = parse(c.out);
  has_fields(check, {"runbook", "passed", "hosts", "roles", "probe", "preflight"});
  EXPECT_TRUE(check["passed"].get<bool>());
  for (const json& h : check["hosts"]) has_fields(h, {"host", "address", "ok"});
  has_fields(check["probe"], {"hosts", "verdict"});
  ASSERT_FALSE(check["preflight"].empty());
  for (const json& s : check["preflight"]) has_fields(s, {"step", "ok"});

  ASSERT_EQ(sb.baton_cmd("drill").exit_code, 0);
  json status = parse(sb.baton_cmd("status --json").out);
  has_fields(status, {"runbook", "source", "target", "stale", "roles_from", "probe", "running", "last_run",
                      "last_drill"});
  has_fields(status["last_run"], {"run", "operation", "started", "duration_ms", "finished", "state", "exit_code",
                                  "resumable", "source", "target", "user", "machine", "runbook_hash"});
  has_fields(status["last_drill"], {"run", "proven_at", "duration_ms", "runbook_hash", "verified", "ago_ms"});
  EXPECT_TRUE(status["last_drill"]["verified"].get<bool>());

  json history = parse(sb.baton_cmd("history --json").out);
  ASSERT_TRUE(history.is_array()) << history.dump();
  ASSERT_EQ(history.size(), 1u);
  has_fields(history[0], {"run", "operation", "outcome", "runbook_hash", "proven_at", "verified"});
  EXPECT_EQ(history[0]["operation"], "drill");
  EXPECT_TRUE(history[0]["verified"].get<bool>());

  json report = parse(sb.baton_cmd("report --json").out);
  has_fields(report, {"summary", "steps", "captures", "resumes", "timeline", "records"});
  has_fields(report["summary"], {"run", "operation", "outcome", "roles_before", "roles_after", "runbook_hash"});
}

TEST(Conventions, GraphOfOneOperationDrawsOnlyItsPath) {
  TempDir d;
  const std::string dot = d.path + "/s.dot";
  CommandResult r = sh(baton() + " graph " + rb_example() + " switchover > " + dot + " && dot -Tsvg " + dot +
                       " > " + d.path + "/s.svg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string s = read(dot);
  EXPECT_NE(read(d.path + "/s.svg").find("<svg"), std::string::npos);
  for (const char* on_path : {"idle -> preflight", "preflight -> quiesce", "verify -> reverse_sync", "-> completed",
                              "activate-target"})
    EXPECT_NE(s.find(on_path), std::string::npos) << on_path << "\n" << s;
  // No failover-only or drill-only phase, no drill step, no failure edge:
  // they are folded into one note.
  for (const char* off_path : {"fence", "cleanup", "drill-clone", "color=red]", "-> failed [", "rolling_back ->"})
    EXPECT_EQ(s.find(off_path), std::string::npos) << off_path << "\n" << s;
  EXPECT_NE(s.find("failures [shape=note"), std::string::npos) << s;

  const std::string f = sh(baton() + " graph " + rb_example() + " failover").out;
  EXPECT_NE(f.find("preflight -> fence"), std::string::npos) << f;
  EXPECT_EQ(f.find("quiesce"), std::string::npos) << f;
  // Alone, graph keeps the whole machine.
  const std::string all = sh(baton() + " graph").out;
  EXPECT_NE(all.find("failed -> rolling_back"), std::string::npos);
  EXPECT_NE(all.find("preflight -> fence"), std::string::npos);
  EXPECT_EQ(sh(baton() + " graph " + rb_example() + " sideways").exit_code, 2);
}

}  // namespace
}  // namespace baton
