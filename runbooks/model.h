// The runbook as Baton understands it, after loading and validation.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runbooks/duration.h"
#include "runbooks/phase.h"

namespace baton {

// Where a value came from in the runbook file, for error messages.
struct Location {
  int line = 0;
  int column = 0;
};

struct Host {
  std::string site;     // the site this host belongs to
  std::string name;     // key under sites.SITE.hosts
  std::string address;  // "local": run on the orchestrator, without SSH
  int port = 0;         // 0: ~/.ssh/config or 22
  std::string user;     // empty: ~/.ssh/config or the current user
  std::string identity; // empty: ssh-agent, then ~/.ssh/config
  std::string host_key; // optional pin, "SHA256:..."
  // [sites.S.hosts.H.vars]: seen by commands on this host, over [vars].
  std::vector<std::pair<std::string, std::string>> vars;
  Location where;

  bool is_local() const { return address == "local"; }
  std::string label() const { return site + "." + name; }
};

struct Site {
  std::string name;
  std::vector<Host> hosts;
  Location where;
};

enum class OnFailure { abort, continue_, rollback };

struct Step {
  std::string id;
  Phase phase = Phase::preflight;
  std::string on;  // "source", "target", "source.db", "main.db", "main"
  std::string run;
  std::vector<Operation> operations;  // empty: every operation with this phase
  bool drill_run = false;             // drill = "run"
  Millis timeout{std::chrono::minutes(5)};
  int retries = 0;
  Millis retry_delay{std::chrono::seconds(1)};
  int expect_exit = 0;
  std::optional<std::string> expect_stdout;
  std::optional<std::string> expect_match;
  std::string capture;  // empty: nothing captured
  OnFailure on_failure = OnFailure::abort;
  std::string undo;
  std::string confirm;
  std::string group;
  bool idempotent = true;
  Location where;
};

struct Runbook {
  std::string path;
  std::string content_hash;  // FNV-1a 64 of the file's bytes, hex
  std::string name;
  std::string description;
  std::optional<Millis> rto;
  std::optional<Millis> rpo;
  std::string known_hosts;  // [ssh] known_hosts, optional
  std::vector<Site> sites;
  std::string source;  // roles before any state exists
  std::string target;
  std::vector<std::pair<std::string, std::string>> vars;
  std::vector<Step> steps;

  const Site* site(const std::string& n) const {
    for (const Site& s : sites)
      if (s.name == n) return &s;
    return nullptr;
  }
};

}  // namespace baton
