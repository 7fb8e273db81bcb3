// The role probe: Baton asks every host what it is, instead of believing
// the roles it stored. A probe prints one role word -- primary, standby or
// down; anything else reads as unknown -- and may add facts as key=value
// (a WAL position, a timeline, a lag, a GTID).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agents/agent.h"
#include "orchestrator/state_dir.h"
#include "runbooks/model.h"

namespace baton {

class AgentPool;

enum class DbRole { primary, standby, down, unknown };
std::string_view name(DbRole r);

struct HostProbe {
  std::string host;  // site.host
  std::string site;
  DbRole role = DbRole::unknown;
  std::string word;    // the first word as printed
  Vars facts;          // key=value, in order
  std::string detail;  // why down/unknown ("unreachable: ..."), or extra text
  Millis took{0};

  // "primary (lsn=0/3000060, timeline=2)", "down (unreachable: ...)".
  std::string describe() const;
};

// Reads a probe's output. A command that could not run (no connection) is
// "down (unreachable: why)"; one that failed or printed no role is unknown.
HostProbe parse_probe(const Host& h, const CommandResult& r);

// What the probe saw across the sites.
struct Observation {
  bool probed = false;  // the runbook has a probe
  std::vector<HostProbe> hosts;

  std::vector<const HostProbe*> primaries() const;
  // Two or more hosts say primary.
  bool split_brain() const { return primaries().size() > 1; }
  bool no_primary() const { return probed && primaries().empty(); }
  // The site of the one primary, if exactly one host is primary.
  std::optional<std::string> primary_site() const;
  const HostProbe* find(const std::string& host) const;
  // Does any probed host of `site` say `role`?
  bool site_has(const std::string& site, DbRole role) const;
  // "split brain: main.db and dr.db are both primary" and the like.
  std::string split_brain_text() const;
  // One line per host: "main.db  primary (lsn=...)".
  std::string table(const std::string& indent) const;
};

// Runs every host's probe in parallel (bounded), each with its timeout.
// `vars_for` gives the variables a host's command sees.
Observation probe_hosts(const Runbook& rb, AgentPool& agents, const std::function<Vars(const Host&)>& vars_for);

// Stored roles against what the probe saw.
struct RoleCheck {
  enum class Kind {
    unprobed,     // no probe in the runbook: stored roles, unchecked
    agree,        // the primary is where the stored roles say
    from_probe,   // no stored roles: the probe's primary becomes the source
    split_brain,  // two or more primaries
    no_primary,   // nobody is primary
    contradicts,  // one primary, in the site stored as target
  };
  Kind kind = Kind::unprobed;
  Roles roles;          // the roles to act on
  std::string message;  // what was seen and what to do, for the operator
};
// `stored_exists`: the state directory holds roles (not the runbook's
// defaults). `runbook_path` names the file in the suggested commands.
RoleCheck check_roles(const Roles& stored, bool stored_exists, const Observation& o,
                      const std::string& runbook_path);

}  // namespace baton
