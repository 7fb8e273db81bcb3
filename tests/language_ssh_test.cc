// Language additions that need a real SSH host: run_as through sudo on
// the host (and its clear failure when sudo would ask for a password), the
// SSH port and user of each side as variables, declared secrets over SSH.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>

#include "tests/cli_support.h"
#include "tests/ssh_pair.h"

namespace baton {
namespace {

using namespace baton::testing;
using Clock = std::chrono::steady_clock;

class LanguageSsh : public SshPair {
 protected:
  LanguageSsh() : SshPair("lang-ssh") {}
};

TEST_F(LanguageSsh, EachSidesPortAndUserAreVariables) {
  std::string rb = runbook(R"toml(
[[step]]
id = "endpoints"
phase = "preflight"
on = "all"
run = 'echo "$BATON_HOST $BATON_HOST_USER@$BATON_HOST_ADDRESS:$BATON_HOST_PORT src=$BATON_SOURCE_USER@$BATON_SOURCE_ADDRESS:$BATON_SOURCE_PORT dst=$BATON_TARGET_USER@$BATON_TARGET_ADDRESS:$BATON_TARGET_PORT"'
)toml");
  CommandResult r = baton_cmd("switchover", rb);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string j = journal();
  const std::string m = main_.user() + "@127.0.0.1:" + std::to_string(main_.port());
  const std::string d = dr_.user() + "@127.0.0.1:" + std::to_string(dr_.port());
  EXPECT_NE(j.find("main.db " + m + " src=" + m + " dst=" + d), std::string::npos) << j;
  EXPECT_NE(j.find("dr.db " + d + " src=" + m + " dst=" + d), std::string::npos) << j;
}

TEST_F(LanguageSsh, RunAsTheLoginUserRunsDirectly) {
  std::string rb = runbook(R"toml(
[vars]
v = "it's \"quoted\" $HOME `x`"
[[step]]
id = "who"
phase = "preflight"
on = "source"
run = 'echo "i am $(id -un): $v"'
)toml",
                           "run_as = \"" + main_.user() + "\"\n");
  CommandResult r = baton_cmd("switchover", rb);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(journal().find("i am " + main_.user() + ": it's \\\"quoted\\\" $HOME `x`"), std::string::npos)
      << journal();
}

// The SSH user may not become root without a password: the step fails at
// once, saying which user, which host and what to change; nothing hangs
// waiting for a password prompt nobody sees.
TEST_F(LanguageSsh, RunAsFailsAtOnceWhenSudoWouldAskForAPassword) {
  if (main_.user() == "root") GTEST_SKIP() << "the fixture logs in as root: sudo never asks";
  if (sh("command -v sudo").exit_code != 0) GTEST_SKIP() << "sudo is not installed";
  std::string rb = runbook(R"toml(
[[step]]
id = "as-root"
phase = "preflight"
on = "source"
run_as = "root"
run = 'echo ran'
hint = "allow the SSH user to become root without a password"
)toml");
  const auto t0 = Clock::now();
  CommandResult r = baton_cmd("check", rb);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find("exit code 126"), std::string::npos) << all;
  EXPECT_NE(all.find("run_as = \"root\": sudo -n -u root would ask " + main_.user() + " for a password"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("ran"), std::string::npos) << all;
  EXPECT_LT(took.count(), 10000);
}

// As root the fixture's user is an ordinary one: root becomes it through
// sudo without a password, with every value, secret ones too, intact.
TEST_F(LanguageSsh, RunAsAnotherUserThroughSudoKeepsValuesAndMasksSecrets) {
  if (main_.user() != "batontest" || ::geteuid() != 0) GTEST_SKIP() << "needs root and the batontest login";
  if (sh("command -v sudo").exit_code != 0) GTEST_SKIP() << "sudo is not installed";
  // Log in as root over SSH? The fixture logs in batontest; a local host
  // runs as root and becomes batontest with sudo.
  std::string rb = d_.path + "/local.toml";
  write(rb, R"toml([runbook]
name = "lang-ssh"
prelude = 'say() { echo "$(id -un) says: $*"; }'
[sites.main.hosts.db]
address = "local"
run_as = "batontest"
[sites.dr.hosts.db]
address = "local"
[replication]
source = "main"
target = "dr"
[vars]
v = "a 'b' \"c\" $d"
token = { value = "tok-en-value-123", secret = true }
[[step]]
id = "as-batontest"
phase = "preflight"
on = "source"
run = 'say "$v" "$token" >&2; test -z "${BATON_RUN_AS_SCRIPT:-}" || echo leaked >&2; exit 7'
)toml");
  CommandResult r = baton_cmd("check", rb);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  const std::string j = r.out + r.err;
  EXPECT_NE(j.find("batontest says: a 'b' \"c\" $d ***"), std::string::npos) << j;
  EXPECT_EQ(j.find("tok-en-value-123"), std::string::npos) << j;
  EXPECT_EQ(j.find("leaked"), std::string::npos) << j;
}

}  // namespace
}  // namespace baton
