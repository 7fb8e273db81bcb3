// ConnectionAttempts from ssh_config files, found as ssh(1) finds it.
#include "agents/ssh_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <string>

namespace baton {
namespace {

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/baton-sshcfg-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name, const std::string& text) const {
    std::ofstream(path + "/" + name) << text;
    return path + "/" + name;
  }
};

TEST(SshConfig, PatternLists) {
  EXPECT_TRUE(ssh_pattern_list_matches("db*", "db1.example.com"));
  EXPECT_TRUE(ssh_pattern_list_matches("web?,db?", "db2"));
  EXPECT_FALSE(ssh_pattern_list_matches("db?", "db12"));
  EXPECT_TRUE(ssh_pattern_list_matches("*", "anything"));
  EXPECT_FALSE(ssh_pattern_list_matches("*,!db1", "db1"));  // a negation wins
  EXPECT_TRUE(ssh_pattern_list_matches("*,!db1", "db2"));
  EXPECT_FALSE(ssh_pattern_list_matches("!db1", "db2"));    // nothing positive matched
  EXPECT_TRUE(ssh_pattern_list_matches("DB1", "db1"));      // host names ignore case
}

// BATON_*_PORT and BATON_*_USER of a host whose runbook leaves them out.
TEST(SshConfig, AnyKeyAsSshReadsIt) {
  Dir d;
  std::string f = d.file("config",
                         "Host db1\n  port 2222\n  User postgres\n"
                         "Host *\n  Port 22\n  User fallback\n");
  EXPECT_EQ(ssh_config_value({f}, "db1", "Port"), std::optional<std::string>("2222"));
  EXPECT_EQ(ssh_config_value({f}, "db1", "USER"), std::optional<std::string>("postgres"));
  EXPECT_EQ(ssh_config_value({f}, "db2", "User"), std::optional<std::string>("fallback"));
  EXPECT_EQ(ssh_config_value({f}, "db2", "IdentityFile"), std::nullopt);
}

TEST(SshConfig, FirstValueForTheHostWins) {
  Dir d;
  std::string f = d.file("config",
                         "# comment\n"
                         "Host web*\n  ConnectionAttempts 5\n"
                         "Host db1 db2\n  connectionattempts=3\n"
                         "Host *\n  ConnectionAttempts 8\n");
  EXPECT_EQ(ssh_config_connection_attempts({f}, "db2"), 3);
  EXPECT_EQ(ssh_config_connection_attempts({f}, "web7"), 5);
  EXPECT_EQ(ssh_config_connection_attempts({f}, "other"), 8);
  std::string none = d.file("none", "Host db1\n  Port 2222\n");
  EXPECT_EQ(ssh_config_connection_attempts({none}, "db1"), std::nullopt);
  // Files in order: the first that says wins.
  EXPECT_EQ(ssh_config_connection_attempts({none, f, d.path + "/missing"}, "db1"), 3);
}

TEST(SshConfig, IncludeAndMatch) {
  Dir d;
  d.file("extra.conf", "Host db*\n  ConnectionAttempts 6\n");
  std::string f = d.file("config", "Include " + d.path + "/*.conf\nMatch host web*,!web9\n  ConnectionAttempts 2\n"
                                   "Match exec \"true\"\n  ConnectionAttempts 4\nMatch all\n  ConnectionAttempts 7\n");
  EXPECT_EQ(ssh_config_connection_attempts({f}, "db1"), 6);
  EXPECT_EQ(ssh_config_connection_attempts({f}, "web1"), 2);
  EXPECT_EQ(ssh_config_connection_attempts({f}, "web9"), 7);  // Match exec is not run: taken as no match
  EXPECT_EQ(ssh_config_connection_attempts({f}, "x"), 7);
}

TEST(SshConfig, WhichFiles) {
  EXPECT_TRUE(ssh_config_files("none").empty());
  EXPECT_EQ(ssh_config_files("/x/cfg"), std::vector<std::string>{"/x/cfg"});
  ::setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(ssh_config_files(""), (std::vector<std::string>{"/home/someone/.ssh/config", "/etc/ssh/ssh_config"}));
}

}  // namespace
}  // namespace baton
