// What the executor's unit tests share: a runbook header with two sites,
// a sink that records every event, and a harness over a FakeWorld.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agents/local_agent.h"
#include "orchestrator/executor.h"
#include "runbooks/loader.h"
#include "tests/fake_agent.h"

namespace baton::testing {

using Clock = std::chrono::steady_clock;
using Strings = std::vector<std::string>;

inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Two sites with one host each: `on = "source"` names exactly one host.
inline const std::string kHeader = R"(
[runbook]
name = "rb"
description = "unit test runbook"

[sites.main.hosts.db]
address = "local"

[sites.dr.hosts.db]
address = "local"

[replication]
source = "main"
target = "dr"
)";

inline std::string diagnostics(const LoadResult& r) {
  std::string s;
  for (const Diagnostic& d : r.errors) s += d.str() + "\n";
  return s;
}

#define LOAD_RUNBOOK(rb, text)                                        \
  LoadResult rb##_loaded = load_runbook_text((text), "rb.toml");      \
  ASSERT_TRUE(rb##_loaded.ok()) << diagnostics(rb##_loaded);          \
  const Runbook& rb = rb##_loaded.runbook

class RecordingSink : public EventSink {
 public:
  void emit(const RunEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
  }
  std::vector<RunEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<RunEvent> of(EventKind k) const {
    std::vector<RunEvent> v;
    for (const RunEvent& e : events())
      if (e.kind == k) v.push_back(e);
    return v;
  }
  std::vector<RunEvent> finished_of(const std::string& step) const {
    std::vector<RunEvent> v;
    for (const RunEvent& e : of(EventKind::step_finished))
      if (e.step == step && !e.rollback) v.push_back(e);
    return v;
  }
  Strings phases_entered() const {
    Strings v;
    for (const RunEvent& e : of(EventKind::phase_entered)) v.push_back(e.phase);
    return v;
  }
  Strings skipped() const {
    Strings v;
    for (const RunEvent& e : of(EventKind::step_skipped)) v.push_back(e.step);
    return v;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RunEvent> events_;
};

inline RunState fresh(const Roles& roles) {
  RunState st;
  st.roles = roles;
  return st;
}

inline const Roles kInitial{"main", "dr", ""};

// A fake world, its pool, a recording sink and options that record saved roles.
struct Harness {
  FakeWorld world;
  std::atomic<int> agents_made{0};  // Hosts make their agents in parallel.
  AgentPool pool{[this](const Host& h) {
    ++agents_made;
    return std::unique_ptr<Agent>(new FakeAgent(world, h.label()));
  }};
  RecordingSink sink;
  std::mutex saved_mu;
  std::vector<Roles> saved;
  ExecutorOptions opts;

  Harness() {
    opts.run_id = "run-1";
    opts.save_roles = [this](const Roles& r) {
      std::lock_guard<std::mutex> lock(saved_mu);
      saved.push_back(r);
      return std::string();
    };
  }

  RunResult run(const Runbook& rb, Operation op, const Roles& roles = kInitial) {
    Executor ex(rb, op, pool, sink, opts);
    return ex.run(fresh(roles));
  }
};

// The same with the real LocalAgent.
struct LocalHarness {
  AgentPool pool{[](const Host&) { return std::unique_ptr<Agent>(new LocalAgent()); }};
  RecordingSink sink;
  ExecutorOptions opts;

  LocalHarness() {
    opts.run_id = "local-run";
    opts.save_roles = [](const Roles&) { return std::string(); };
  }
  RunResult run(const Runbook& rb, Operation op, const Roles& roles = kInitial) {
    Executor ex(rb, op, pool, sink, opts);
    return ex.run(fresh(roles));
  }
};

}  // namespace baton::testing

namespace baton::testing {

// A pretend pair of databases for the probe: each site's role, changed by
// the steps the test names ("promote" makes dr primary, and so on). Scripts
// it does not know exit 0, or as `fail` says.
struct FakePair {
  std::mutex mu;
  std::map<std::string, std::string> role{{"main", "primary"}, {"dr", "standby"}};
  // script -> (site, new role) applied when that script runs.
  std::map<std::string, std::pair<std::string, std::string>> effects;
  std::map<std::string, CommandResult> fail;  // script -> result instead of exit 0

  void set(const std::string& site, const std::string& r) {
    std::lock_guard<std::mutex> lock(mu);
    role[site] = r;
  }
  std::string get(const std::string& site) {
    std::lock_guard<std::mutex> lock(mu);
    return role[site];
  }
  void attach(FakeWorld& w) {
    w.respond([this](const std::string& host, const Command& c, int) {
      const std::string site = host.substr(0, host.find('.'));
      std::lock_guard<std::mutex> lock(mu);
      if (c.script == "probe") return exited(0, role[site] + " lsn=0/1\n");
      if (auto e = effects.find(c.script); e != effects.end()) role[e->second.first] = e->second.second;
      if (auto f = fail.find(c.script); f != fail.end()) return f->second;  // Acted, then failed.
      return exited(0);
    });
  }
};

// kHeader with a probe on every host.
inline const std::string kProbed = kHeader + R"(
[probe]
run = "probe"
)";

}  // namespace baton::testing

#include "orchestrator/journal.h"
#include "orchestrator/json.h"

namespace baton::testing {

// What `baton resume` would rebuild from the events a run told so far.
inline RunState resume_state(const RecordingSink& sink, const Roles& roles_now) {
  std::vector<Json> records;
  for (const RunEvent& e : sink.events()) {
    Json j;
    if (parse_json(to_json(e), &j)) records.push_back(j);
  }
  RunState st = rebuild_state(records, roles_now);
  st.roles_at_start = summarize("run", records).roles_at_start;
  return st;
}

}  // namespace baton::testing
