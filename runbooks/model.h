// The runbook as Baton understands it, after loading and validation.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runbooks/duration.h"
#include "runbooks/pattern.h"
#include "runbooks/phase.h"
#include "runbooks/quantity.h"

namespace baton {

// Where a value came from in the runbook file, for error messages.
struct Location {
  int line = 0;
  int column = 0;
};

// How Baton asks a host what it is: a command that prints one role word
// (primary, standby, down) and facts as key=value. [probe] for every host,
// [sites.S.probe] and [sites.S.hosts.H.probe] override it.
struct ProbeSpec {
  std::string run;
  Millis timeout{std::chrono::seconds(5)};
  bool skip = false;  // not a database host: never probed
  Location where;
};

struct Host {
  std::string site;     // the site this host belongs to
  std::string name;     // key under sites.SITE.hosts
  std::string address;  // "local": run on the orchestrator, without SSH
  int port = 0;         // 0: ~/.ssh/config or 22
  std::string user;     // empty: ~/.ssh/config or the current user
  std::string identity; // empty: ssh-agent, then ~/.ssh/config
  std::string host_key; // optional pin, "SHA256:..."
  // run_as = "USER": commands (steps, undo, probe) run as this OS user,
  // through `sudo -n -u USER` unless the login already is USER.
  std::string run_as;
  // [sites.S.hosts.H.vars]: seen by commands on this host, over [vars].
  std::vector<std::pair<std::string, std::string>> vars;
  std::set<std::string> secret_vars;  // of vars: declared secret
  std::optional<ProbeSpec> probe;  // [sites.S.hosts.H.probe]
  Location where;

  bool is_local() const { return address == "local"; }
  std::string label() const { return site + "." + name; }
};

struct Site {
  std::string name;
  std::vector<Host> hosts;
  std::optional<ProbeSpec> probe;  // [sites.S.probe]
  Location where;
};

enum class OnFailure { abort, continue_, rollback };

// wait = { until = "CMD", every = "1s", within = "1m" }: one command on the
// host polls CMD every `every` until it succeeds, for at most `within`.
struct Wait {
  std::string until;
  Millis every{std::chrono::seconds(1)};
  Millis within{std::chrono::minutes(1)};
};

struct Step {
  std::string id;
  Phase phase = Phase::preflight;
  std::string on;  // "source", "target", "source.db", "main.db", "main"
  std::string run;                    // empty when the step only waits
  std::optional<Wait> wait;           // polled after run (if any)
  std::optional<std::string> run_as;  // overrides the host's; "" runs as the login user
  std::vector<Operation> operations;  // empty: every operation with this phase
  bool drill_run = false;             // drill = "run"
  Millis timeout{std::chrono::minutes(5)};
  int retries = 0;
  Millis retry_delay{std::chrono::seconds(1)};
  int expect_exit = 0;
  std::optional<std::string> expect_stdout;
  std::optional<Pattern> expect_match;  // compiled once, at load time
  std::string capture;  // empty: nothing captured
  bool secret = false;  // secret = true: the capture is a secret, whatever its name
  bool keep = false;    // keep = true: the capture is stored for later runs
  OnFailure on_failure = OnFailure::abort;
  std::string undo;
  std::string confirm;
  std::string group;
  bool idempotent = true;
  // measures = "data_loss": the first line of stdout is the measured loss
  // ("1234 bytes ...", "3 transactions ...", "unknown ..."), judged
  // against the RPO.
  bool measures_data_loss = false;
  std::string hint;  // shown when the step fails
  Location where;
};

// [cost]: what an hour of outage costs, for the report's line
// Cost = (To + Td) x (Hr + Lr). Amounts per hour, in `currency`.
struct CostModel {
  double hourly_revenue = 0;  // Hr: revenue lost per hour without production
  double hourly_labor = 0;    // Lr: people working on the outage, per hour
  std::string currency;       // "EUR", "$", or "" (bare numbers)
};

struct Runbook {
  std::string path;
  std::string content_hash;  // FNV-1a 64 of the file's bytes, hex
  std::string name;
  std::string description;
  std::optional<Millis> rto;
  std::optional<Quantity> rpo;  // a duration, bytes or transactions
  std::string rpo_text;         // as written, for reports
  std::string known_hosts;  // [ssh] known_hosts, optional
  int connection_attempts = 0;  // [ssh] connection_attempts; 0: ssh_config, else the default
  bool ssh_runner = true;       // [ssh] runner: false, a channel per command (agents/ssh_runner.h)
  std::vector<Site> sites;
  std::string source;  // roles before any state exists
  std::string target;
  std::vector<std::pair<std::string, std::string>> vars;
  // Names declared secret (secret = true, values from { env } or { file }),
  // in [vars], any host's vars (also as source_NAME, target_NAME) and
  // captures with secret = true.
  std::set<std::string> secret_names;
  std::string prelude;  // [runbook] prelude: shell code before every command
  std::optional<ProbeSpec> probe;  // [probe]
  std::vector<Step> steps;
  std::optional<CostModel> cost;  // [cost]; none: the report shows no cost

  // Is the variable `n` declared secret here (names such as *pass* are
  // secret anyway: is_secret_name)?
  bool declared_secret(const std::string& n) const { return secret_names.count(n) > 0; }

  // The probe for host h (host, then site, then runbook); nullopt: none.
  std::optional<ProbeSpec> probe_for(const Host& h) const {
    std::optional<ProbeSpec> p = probe;
    if (const Site* s = site(h.site); s && s->probe) p = s->probe;
    if (h.probe) p = h.probe;
    if (p && (p->skip || p->run.empty())) return std::nullopt;
    return p;
  }
  bool has_probe() const {
    for (const Site& s : sites)
      for (const Host& h : s.hosts)
        if (probe_for(h)) return true;
    return false;
  }

  const Site* site(const std::string& n) const {
    for (const Site& s : sites)
      if (s.name == n) return &s;
    return nullptr;
  }
};

}  // namespace baton
