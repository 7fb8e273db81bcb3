// The built `baton` under hostile inputs and faults: standard streams that
// are closed or fail, step output that holds terminal escapes, damaged and
// forged journals, conflicting flags. Nothing lands where it must not,
// nothing is lost in silence, nothing is shown that is not known.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/example_sandbox.h"

namespace baton {
namespace {

using namespace baton::testing;
using nlohmann::json;

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

}  // namespace
}  // namespace baton
