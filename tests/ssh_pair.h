// Sites main and dr of one host each ("db"), on two real sshd on loopback:
// the fixture of the tests that run the built baton over SSH.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/cli_support.h"
#include "tests/sshd_fixture.h"

namespace baton::testing {

// "[sites.SITE.hosts.db]" logging in to `s`; `extra`: more keys of that host.
inline std::string ssh_host_table(const std::string& site, const SshdFixture& s, const std::string& extra = "") {
  return "[sites." + site + ".hosts.db]\naddress = \"" + s.address() + "\"\nport = " + std::to_string(s.port()) +
         "\nuser = \"" + s.user() + "\"\nidentity = \"" + s.identity_path() + "\"\n" + extra;
}

class SshPair : public ::testing::Test {
 protected:
  // `name`: the runbook's name (its state lives in STATE/name).
  explicit SshPair(std::string name) : name_(std::move(name)) {}

  void SetUp() override {
    ASSERT_TRUE(main_.ok()) << main_.error();
    ASSERT_TRUE(dr_.ok()) << dr_.error();
    known_hosts_ = d_.path + "/known_hosts";
    write(known_hosts_, main_.known_hosts_line() + "\n" + dr_.known_hosts_line() + "\n");
  }
  // Writes the runbook: header, both hosts, replication main -> dr, [ssh],
  // then `steps` (any tables that may follow [ssh]). Returns its path.
  std::string runbook(const std::string& steps, const std::string& main_extra = "") {
    std::string rb = d_.path + "/rb.toml";
    write(rb, "[runbook]\nname = \"" + name_ + "\"\n" + ssh_host_table("main", main_, main_extra) +
                  ssh_host_table("dr", dr_) + "[replication]\nsource = \"main\"\ntarget = \"dr\"\n[ssh]\nknown_hosts = \"" +
                  known_hosts_ + "\"\n" + steps);
    return rb;
  }
  CommandResult baton_cmd(const std::string& verb, const std::string& rb, const std::string& flags = "",
                          Vars env = {}) {
    return baton_at(d_.path + "/state", verb, rb, flags, std::move(env));
  }
  // Every journal of this runbook, concatenated.
  std::string journal() { return sh("cat " + shell_quote(d_.path + "/state/" + name_) + "/runs/*.jsonl").out; }

  const std::string name_;
  TempDir d_;
  SshdFixture main_, dr_;
  std::string known_hosts_;
};

}  // namespace baton::testing
