// The role probe: what a host's answer means, what all the answers say
// together, and how that compares with the stored roles.
#include "orchestrator/probe.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

Host host(const std::string& site, const std::string& name = "db") {
  Host h;
  h.site = site;
  h.name = name;
  h.address = "local";
  return h;
}

CommandResult said(const std::string& out, int code = 0, const std::string& err = "") {
  CommandResult r;
  r.exit_code = code;
  r.out = out;
  r.err = err;
  return r;
}

TEST(ParseProbe, RoleWordAndFacts) {
  HostProbe p = parse_probe(host("main"), said("primary lsn=0/3000060 timeline=2\n"));
  EXPECT_EQ(p.host, "main.db");
  EXPECT_EQ(p.role, DbRole::primary);
  ASSERT_EQ(p.facts.size(), 2u);
  EXPECT_EQ(p.facts[0], (std::pair<std::string, std::string>{"lsn", "0/3000060"}));
  EXPECT_EQ(p.describe(), "primary (lsn=0/3000060, timeline=2)");
  EXPECT_EQ(parse_probe(host("dr"), said("Standby\ngtid=0-1-42\nlag_bytes=0")).role, DbRole::standby);
  EXPECT_EQ(parse_probe(host("dr"), said("down\n", 1)).role, DbRole::down);
}

TEST(ParseProbe, AnythingElseIsUnknownWithWhatItPrinted) {
  HostProbe p = parse_probe(host("dr"), said("", 2, "psql: error: connection refused"));
  EXPECT_EQ(p.role, DbRole::unknown);
  EXPECT_NE(p.detail.find("printed no role"), std::string::npos) << p.detail;
  EXPECT_NE(p.detail.find("connection refused"), std::string::npos) << p.detail;
  p = parse_probe(host("dr"), said("recovering\n"));
  EXPECT_EQ(p.role, DbRole::unknown);
  EXPECT_NE(p.detail.find("\"recovering\""), std::string::npos);
}

TEST(ParseProbe, UnreachableHostIsDownAndSaysWhy) {
  CommandResult r;
  r.error = "cannot connect to main.db (10.0.0.5:22): Connection refused";
  HostProbe p = parse_probe(host("main"), r);
  EXPECT_EQ(p.role, DbRole::down);
  EXPECT_EQ(p.describe(), "down (unreachable: cannot connect to main.db (10.0.0.5:22): Connection refused)");
}

TEST(ParseProbe, TimeoutIsUnknown) {
  CommandResult r;
  r.timed_out = true;
  r.duration = std::chrono::seconds(5);
  HostProbe p = parse_probe(host("main"), r);
  EXPECT_EQ(p.role, DbRole::unknown);
  EXPECT_NE(p.detail.find("timed out"), std::string::npos);
}

Observation seen(std::initializer_list<std::pair<std::string, std::string>> answers) {
  Observation o;
  o.probed = true;
  for (const auto& [site, out] : answers) o.hosts.push_back(parse_probe(host(site), said(out)));
  return o;
}

TEST(Observation, SplitBrainNamesBothHosts) {
  Observation o = seen({{"main", "primary"}, {"dr", "primary"}});
  EXPECT_TRUE(o.split_brain());
  EXPECT_EQ(o.split_brain_text(), "split brain: main.db and dr.db are both primary");
  EXPECT_FALSE(o.primary_site());
}

TEST(Observation, NoPrimary) {
  Observation o = seen({{"main", "down"}, {"dr", "standby"}});
  EXPECT_TRUE(o.no_primary());
  EXPECT_FALSE(o.split_brain());
  EXPECT_NE(o.table("").find("main.db  down"), std::string::npos) << o.table("");
}

const Roles kStored{"main", "dr", ""};

TEST(CheckRoles, AgreeingProbe) {
  RoleCheck c = check_roles(kStored, true, seen({{"main", "primary"}, {"dr", "standby"}}), "rb.toml");
  EXPECT_EQ(c.kind, RoleCheck::Kind::agree);
  EXPECT_EQ(c.roles.source, "main");
}

TEST(CheckRoles, NoProbeKeepsTheStoredRoles) {
  RoleCheck c = check_roles(kStored, true, Observation{}, "rb.toml");
  EXPECT_EQ(c.kind, RoleCheck::Kind::unprobed);
  EXPECT_EQ(c.roles.source, "main");
}

TEST(CheckRoles, SplitBrainAndNoPrimaryAreNamed) {
  RoleCheck c = check_roles(kStored, true, seen({{"main", "primary"}, {"dr", "primary"}}), "rb.toml");
  EXPECT_EQ(c.kind, RoleCheck::Kind::split_brain);
  EXPECT_NE(c.message.find("split brain: main.db and dr.db are both primary"), std::string::npos);
  c = check_roles(kStored, true, seen({{"main", "down"}, {"dr", "standby"}}), "rb.toml");
  EXPECT_EQ(c.kind, RoleCheck::Kind::no_primary);
  EXPECT_NE(c.message.find("dr.db    standby"), std::string::npos) << c.message;
}

TEST(CheckRoles, ContradictionSuggestsAdopt) {
  RoleCheck c = check_roles(kStored, true, seen({{"main", "standby"}, {"dr", "primary"}}), "rb.toml");
  EXPECT_EQ(c.kind, RoleCheck::Kind::contradicts);
  EXPECT_EQ(c.roles.source, "main");  // Nothing is decided for the operator.
  EXPECT_NE(c.message.find("`baton adopt rb.toml --source dr`"), std::string::npos) << c.message;
}

TEST(CheckRoles, NoStoredStateTakesTheProbesRoles) {
  RoleCheck c = check_roles(kStored, false, seen({{"main", "standby"}, {"dr", "primary"}}), "rb.toml");
  EXPECT_EQ(c.kind, RoleCheck::Kind::from_probe);
  EXPECT_EQ(c.roles.source, "dr");
  EXPECT_EQ(c.roles.target, "main");
  EXPECT_NE(c.message.find("the probe sees dr.db primary"), std::string::npos) << c.message;
}

}  // namespace
}  // namespace baton
