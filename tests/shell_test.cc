// Shell quoting: values must reach /bin/sh as data, byte for byte.
#include "agents/shell.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <string>
#include <vector>

namespace baton {
namespace {

// Runs `script` with /bin/sh -c and returns its stdout (exit status in *status).
std::string run_sh(const std::string& script, int* status = nullptr) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (status) *status = st;
  return out;
}

std::string roundtrip(const std::string& value) {
  Command c;
  c.vars = {{"v", value}};
  c.script = "printf %s \"$v\"";
  return run_sh(compose_script(c));
}

TEST(ShellQuote, SimpleValuesAreSingleQuoted) {
  EXPECT_EQ(shell_quote("abc"), "'abc'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

TEST(ShellQuote, QuotedValueIsOneWordThroughShell) {
  // Used directly as a word, not via a variable.
  const std::string v = "a b\t'c' \"d\" $(id) `id` \\ ; | & > <";
  EXPECT_EQ(run_sh("printf %s " + shell_quote(v)), v);
}

TEST(ShellQuote, RoundTripsNastyValues) {
  const std::vector<std::string> values = {
      "",
      "plain",
      "with space",
      "'",
      "''",
      "\"",
      "it's \"quoted\"",
      "line1\nline2\n",
      "\n\n",
      "$(id)",
      "`id`",
      "${HOME}",
      "$HOME",
      "back\\slash\\",
      "\\'",
      "'\\''",
      "'; touch /nonexistent/x; echo '$(id)",
      "a;b&&c||d|e>f<g",
      "*",
      "~",
      "-n",
      "%s%d",
      "tab\there",
      "!event",
      "\r\n\x1b[31m",
  };
  for (const std::string& v : values) EXPECT_EQ(roundtrip(v), v) << "value: " << v;
}

TEST(ShellQuote, RoundTripsEveryNonNulByte) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(roundtrip(all), all);
  // And each byte alone, surrounded by quotes.
  for (int c = 1; c < 256; ++c) {
    std::string v = std::string("'") + static_cast<char>(c) + "'";
    ASSERT_EQ(roundtrip(v), v) << "byte " << c;
  }
}

TEST(ShellQuote, RoundTripsPseudoRandomBytes) {
  unsigned x = 12345;
  for (int i = 0; i < 30; ++i) {
    std::string v;
    for (int j = 0; j < 64; ++j) {
      x = x * 1103515245u + 12345u;
      char c = static_cast<char>((x >> 16) & 0xff);
      if (c == '\0') c = '\'';
      v += c;
    }
    ASSERT_EQ(roundtrip(v), v) << "iteration " << i;
  }
}

TEST(ShellQuote, InjectionDoesNotRun) {
  char tmpl[] = "/tmp/baton-shell-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string marker = std::string(tmpl) + "/pwned";
  const std::string v = "'; touch " + marker + "; echo '$(touch " + marker + ")`touch " + marker + "`";
  EXPECT_EQ(roundtrip(v), v);
  EXPECT_NE(::access(marker.c_str(), F_OK), 0) << "injected command ran";
  ::rmdir(tmpl);
}

TEST(ShellQuote, NulBytesAreDroppedNotTruncating) {
  // No shell variable can hold NUL (sh drops them from $(...) too); a NUL
  // must not cut the script short, leaving a dangling quote and no command.
  const std::string v("a\0b'c", 5);
  EXPECT_EQ(shell_quote(v).find('\0'), std::string::npos);
  Command c;
  c.vars = {{"v", v}, {"w", "after"}};
  c.script = "printf '%s|%s' \"$v\" \"$w\"";
  const std::string s = compose_script(c);
  EXPECT_EQ(s.find('\0'), std::string::npos);
  int st = 0;
  EXPECT_EQ(run_sh(s, &st), "ab'c|after");
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(ValidVarName, Accepts) {
  for (const char* n : {"a", "A", "_", "_x", "pgdata", "PG_DATA2", "x1", "checkpoint_lsn", "__"})
    EXPECT_TRUE(valid_var_name(n)) << n;
}

TEST(ValidVarName, Rejects) {
  for (const char* n : {"", "1a", "9", "a-b", "a b", "a.b", "$a", "a=b", "a;b", "é", "a'", "-", "a\n"})
    EXPECT_FALSE(valid_var_name(n)) << n;
}

TEST(ComposeScript, ExportsVariablesToChildProcesses) {
  Command c;
  c.vars = {{"first", "one"}, {"second", "two words"}, {"third", "it's"}};
  // A child shell only sees exported variables.
  c.script = "sh -c 'printf \"%s|%s|%s\" \"$first\" \"$second\" \"$third\"'";
  EXPECT_EQ(run_sh(compose_script(c)), "one|two words|it's");
}

TEST(ComposeScript, LaterValueWins) {
  Command c;
  c.vars = {{"v", "old"}, {"v", "new"}};
  c.script = "printf %s \"$v\"";
  EXPECT_EQ(run_sh(compose_script(c)), "new");
}

TEST(ComposeScript, InvalidNamesAreNeverPasted) {
  Command c;
  c.vars = {{"ok", "1"}, {"x;echo INJECTED;y", "2"}, {"a b", "3"}};
  c.script = "printf %s \"$ok\"";
  std::string s = compose_script(c);
  EXPECT_EQ(s.find("INJECTED"), std::string::npos);
  EXPECT_EQ(s.find("a b"), std::string::npos);
  EXPECT_EQ(run_sh(s), "1");
}

TEST(ComposeScript, ScriptComesLastAndRunsAsIs) {
  Command c;
  c.script = "echo hi; exit 7";
  std::string s = compose_script(c);
  EXPECT_EQ(s, "echo hi; exit 7");
  int st = 0;
  EXPECT_EQ(run_sh(s, &st), "hi\n");
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 7);
}

TEST(ComposeScript, MultiLineScriptSeesVariables) {
  Command c;
  c.vars = {{"a", "x\ny"}};
  c.script = "if true; then\n  printf '<%s>' \"$a\"\nfi";
  EXPECT_EQ(run_sh(compose_script(c)), "<x\ny>");
}

TEST(ShellVars, ValuesTooLargeForAnEnvironmentAreNotExported) {
  // Exported, a 1 MiB value made every program the command started fail
  // with "Argument list too long".
  Vars vars = {{"small", "s"}, {"big", std::string(kExportMax + 1, 'b')}, {"edge", std::string(kExportMax, 'e')}};
  for (int i = 0; i < 20; ++i) vars.emplace_back("m" + std::to_string(i), std::string(60 << 10, 'm'));
  vars.emplace_back("small", "last wins");
  std::vector<ShellVar> sv = shell_vars(vars);
  ASSERT_EQ(sv.size(), 23u);
  EXPECT_EQ(sv[0].name, "big");
  EXPECT_FALSE(sv[0].exported);
  EXPECT_EQ(sv[1].name, "edge");
  EXPECT_TRUE(sv[1].exported);
  size_t exported = 0;
  for (const ShellVar& v : sv) exported += v.exported ? v.name.size() + v.value.size() + 2 : 0;
  EXPECT_LE(exported, kExportBudget);
  EXPECT_FALSE(sv[21].exported);  // Past the budget.
  EXPECT_EQ(sv[22].name, "small");
  EXPECT_EQ(sv[22].value, "last wins");
  EXPECT_TRUE(sv[22].exported);
}

TEST(ShellVars, UnexportedValueIsTheShellsOnlyEvenIfInheritedExported) {
  Command c;
  c.vars = {{"big", std::string(kExportMax + 1, 'b')}};
  c.script = "printf '%s|' \"${#big}\"; sh -c 'printf %s \"${big:-unset}\"'";
  EXPECT_EQ(run_sh("big=outer; export big\n" + compose_script(c)), std::to_string(kExportMax + 1) + "|unset");
}

TEST(TruncationMarker, NamesDroppedBytes) {
  std::string m = truncation_marker(12345);
  EXPECT_NE(m.find("12345"), std::string::npos);
  EXPECT_NE(m.find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace baton
