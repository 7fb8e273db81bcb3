// baton adopt RUNBOOK --source SITE: after a person repaired things by
// hand, record the roles the hosts have now. Journaled like a run; asks
// for confirmation; refuses while the probe contradicts it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "orchestrator/color.h"
#include "orchestrator/commands/commands.h"
#include "orchestrator/progress.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

// Adopt's records say "adopt", not the executor's operation.
struct AsAdopt : EventSink {
  explicit AsAdopt(EventSink& n) : next(n) {}
  EventSink& next;
  void emit(const RunEvent& e) override {
    RunEvent c = e;
    c.operation = "adopt";
    next.emit(c);
  }
  std::string failure() const override { return next.failure(); }
};

// Why these roles cannot be adopted now, or "".
std::string contradiction(const Observation& obs, const std::string& source, const std::string& rb) {
  if (obs.split_brain()) return obs.split_brain_text() + ":\n" + obs.table("  ") + "Fence one of them first";
  std::optional<std::string> seen = obs.primary_site();
  if (seen && *seen != source)
    return "the probe sees " + obs.primaries()[0]->host + " primary, not a host of " + source + ":\n" +
           obs.table("  ") + "If that is right: `baton adopt " + runbook_words(rb) + " --source " + *seen + "`";
  return {};
}

}  // namespace

int cmd_adopt(const Options& o) {
  Runbook rb;
  if (!load_runbook(o, &rb)) return 2;
  if (o.source != rb.source && o.source != rb.target) {
    fail("--source " + o.source + " is not one of the replicated sites (" + rb.source + ", " + rb.target + ")");
    return 2;
  }
  StateDir dir;
  if (!open_state(o, rb, &dir)) return 1;
  const std::string id = new_run_id();
  RunLock lock;
  bool held = false;
  if (std::string err = lock.acquire(dir, lock_holder_record("adopt", id), &held); !err.empty()) {
    fail(err);
    return held ? 5 : 1;
  }
  RunSummary last;
  if (last_run(dir, &last) && last.resumable()) {  // A damaged journal too: abort it first.
    fail("run " + last.id + " (" + last.operation + ") waits to be resumed; end it first with `baton resume " +
         runbook_words(o.runbook) + " --abort`, then adopt. Nothing was changed.");
    return 3;
  }
  const Roles before = dir.load_roles(initial_roles(rb));
  const std::string target = o.source == rb.source ? rb.target : rb.source;

  EventBus bus;
  Journal journal;
  ::mkdir((dir.path() + "/runs").c_str(), 0700);
  journal.open(journal_path(dir.path(), id));
  bus.add(&journal);
  TerminalProgress progress(stdout, use_color(o.color, STDOUT_FILENO));
  JsonLines json(stdout);
  bus.add(o.json ? static_cast<EventSink*>(&json) : &progress);
  AsAdopt sink(bus);
  AgentPool agents(agent_factory(rb, o));
  ExecutorOptions eo;
  eo.run_id = id;
  Executor ex(rb, Operation::switchover, agents, sink, eo);

  RunEvent start{EventKind::run_started};
  start.run_id = id;
  start.operation = "adopt";
  start.runbook = rb.path;
  start.runbook_hash = rb.content_hash;
  start.user = whoami();
  start.machine = hostname();
  start.source = before.source;
  start.target = before.target;
  start.stale = before.stale;
  sink.emit(start);
  const Observation obs = ex.observe_with(Roles{o.source, target, ""}, "adopt");
  auto end = [&](const std::string& status, int code, const std::string& why) {
    RunEvent e{EventKind::run_finished};
    e.run_id = id;
    e.status = status;
    e.exit_code = code;
    e.reason = why;
    sink.emit(e);
    if (code) fail(why);
    return code;
  };
  if (std::string c = contradiction(obs, o.source, o.runbook); !c.empty())
    return end("refused", 3, "cannot adopt source " + o.source + ": " + c + ". Nothing was changed.");
  // The target is a replica only if the probe says so; otherwise it is
  // stale until a reverse-sync makes it one.
  const bool target_ok = !obs.probed || obs.site_has(target, DbRole::standby);
  const Roles n{o.source, target, target_ok ? "" : target};
  std::string q = "Record source " + n.source + ", target " + n.target +
                  (n.stale.empty() ? "" : " (stale: the probe does not see it as a standby)") +
                  (obs.probed ? "" : " without a probe to check it") + "?";
  if (!o.yes) {
    if (!::isatty(STDIN_FILENO))
      return end("refused", 4, "confirmation needed and no terminal to ask on; rerun with --yes to answer: " + q);
    if (!ask_on_terminal(q)) return end("refused", 4, "refused by the operator");
  }
  if (std::string err = dir.save_roles(n); !err.empty()) return end("failed", 1, "cannot record the roles: " + err);
  RunEvent rc{EventKind::roles_changed};
  rc.run_id = id;
  rc.source = n.source;
  rc.target = n.target;
  rc.stale = n.stale;
  sink.emit(rc);
  end("completed", 0, "");
  return 0;
}

}  // namespace baton
