// baton switchover | failover | drill | reverse-sync RUNBOOK, and
// baton resume RUNBOOK: an operation with the lock held and the journal on.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "orchestrator/color.h"
#include "orchestrator/commands/commands.h"
#include "orchestrator/interrupt.h"
#include "orchestrator/kept.h"
#include "orchestrator/progress.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

// Runs (or resumes) an operation with the lock held and the journal on.
int execute(const Options& o, const Runbook& rb, Operation op, StateDir& dir, const std::string& id, RunState st,
            std::optional<MachineEvent> recovery) {
  EventBus bus;
  Journal journal;
  if (std::string err = dir.make_runs_dir(); !err.empty()) {
    fail(err);
    return 1;
  }
  journal.open(journal_path(dir.path(), id));
  bus.add(&journal);
  const bool tty = ::isatty(STDOUT_FILENO);
  TerminalProgress progress(stdout, use_color(o.color, STDOUT_FILENO), tty);
  JsonLines json(stdout);
  bus.add(o.json ? static_cast<EventSink*>(&json) : &progress);

  AgentPool agents(agent_factory(rb, o));
  ExecutorOptions opts;
  opts.run_id = id;
  opts.user = whoami();
  opts.machine = hostname();
  opts.yes = o.yes;
  opts.recovery = recovery;
  opts.stored_roles = dir.has_roles();
  opts.accept_data_loss = o.accept_data_loss;
  opts.accept_split_brain = o.accept_split_brain;
  opts.stop = &interrupt_signal();
  if (::isatty(STDIN_FILENO)) opts.ask = ask_on_terminal;
  opts.save_roles = [&dir](const Roles& r) { return dir.save_roles(r); };
  opts.kept = load_kept(dir);
  opts.keep = [&dir, id](const Vars& values, const std::vector<std::string>& drop) {
    return save_kept(dir, values, id, drop);
  };

  Executor ex(rb, op, agents, bus, opts);
  RunResult res = ex.run(std::move(st));
  if (!res.message.empty())
    std::fprintf(stderr, "baton: %s%s\n", res.exit_code ? "error: " : "", visible(res.message).c_str());
  if (journal.failure().empty()) return res.exit_code;
  if (res.message.find(journal.failure()) == std::string::npos) fail(journal.failure());
  if (res.exit_code != 0) return res.exit_code;
  // The last record failed (the executor judged the ones before): done on
  // the hosts, but after a crash the run would read as unfinished.
  if (recovery == MachineEvent::abort)
    fail("the abort of run " + id + " may not be on record: `baton status " + runbook_words(o.runbook) +
         "` shows what the journal says (if the run still waits, `baton resume --abort` again)");
  else
    fail("the " + std::string(name(op)) + " ran to its end, but its journal could not record that; `baton status " +
         runbook_words(o.runbook) + "` shows what the journal says (if it says the run waits, `baton resume` finishes it)");
  return 1;
}

// Takes the runbook's lock; prints who holds it. 0, or the exit code.
int lock(RunLock& l, const StateDir& dir, const std::string& what, const std::string& id) {
  bool held = false;
  if (std::string err = l.acquire(dir, lock_holder_record(what, id), &held); !err.empty()) {
    fail(err);
    return held ? 5 : 1;
  }
  return 0;
}

int run_operation(const Options& o, Operation op) {
  Runbook rb;
  if (!load_runbook(o, &rb)) return 2;
  StateDir dir;
  if (!open_state(o, rb, &dir)) return 1;
  const std::string id = new_run_id();
  RunLock l;
  if (int code = lock(l, dir, std::string(name(op)), id)) return code;
  // An unfinished run comes first: two half-done operations is how split brain starts.
  // Drills too: a drill's run would hide the waiting one from resume.
  RunSummary last;
  std::vector<Json> last_records;
  const bool has_last = last_run(dir, &last, &last_records);
  if (has_last && !last.damaged.empty()) {
    fail("the journal of run " + last.id + " is damaged (" + last.damaged + "), so Baton cannot tell what it did; "
         "check the hosts, then `baton resume " + runbook_words(o.runbook) + " --abort` closes that run (the damaged file is kept). "
         "Nothing was changed.");
    return 3;
  }
  if (has_last && last.resumable()) {
    fail("run " + last.id + " (" + last.operation + ") " +
         (last.finished ? "failed in " + last.failed_phase : "was interrupted in " + last.state) +
         " and waits: `baton resume " + runbook_words(o.runbook) + "` finishes it, `baton resume " + runbook_words(o.runbook) +
         " --rollback` or `--abort` ends it. Nothing was changed.");
    return 3;
  }
  RunState st;
  st.roles = dir.load_roles(initial_roles(rb));
  // What the last run may have left running goes on being checked.
  if (has_last) st.unsettled = rebuild_state(last_records, st.roles).unsettled;
  return execute(o, rb, op, dir, id, std::move(st), std::nullopt);
}

// Ends a run whose journal is damaged: keeps the file as RUN.jsonl.damaged,
// records the roles the probe sees, and writes a short journal that says
// the run was aborted and why.
int close_damaged_run(const Options& o, const Runbook& rb, StateDir& dir, const std::string& id,
                      const JournalRead& jr) {
  const std::string path = journal_path(dir.path(), id);
  const std::string kept = path + ".damaged";
  const std::string q = "The journal of run " + id + " is damaged (" + jr.error + "). Close the run, keeping the file as " +
                        kept + "?";
  if (!o.yes) {
    if (!::isatty(STDIN_FILENO)) {
      fail("confirmation needed and no terminal to ask on; rerun with --yes to answer: " + q);
      return 4;
    }
    if (!ask_on_terminal(q)) {
      fail("refused by the operator");
      return 4;
    }
  }
  if (::rename(path.c_str(), kept.c_str()) != 0) {
    fail("cannot move " + path + " aside: " + std::strerror(errno));
    return 1;
  }
  const RunSummary sum = summarize(id, jr.records);
  EventBus bus;
  Journal journal;
  journal.open(path);
  bus.add(&journal);
  TerminalProgress progress(stdout, use_color(o.color, STDOUT_FILENO));
  bus.add(&progress);
  AgentPool agents(agent_factory(rb, o));
  ExecutorOptions eo;
  eo.run_id = id;
  eo.save_roles = [&dir](const Roles& r) { return dir.save_roles(r); };
  const Operation op = parse_operation(sum.operation).value_or(Operation::switchover);
  Executor ex(rb, op, agents, bus, eo);
  RunEvent start{EventKind::run_started};
  start.run_id = id;
  start.operation = std::string(name(op));
  start.runbook = rb.path;
  start.runbook_hash = sum.runbook_hash;
  start.user = whoami();
  start.machine = hostname();
  const Roles stored = dir.load_roles(initial_roles(rb));
  start.source = stored.source;
  start.target = stored.target;
  start.stale = stored.stale;
  bus.emit(start);
  ex.record_observed_roles(ex.observe_with(stored, "closing a damaged run"));
  RunEvent end{EventKind::run_finished};
  end.run_id = id;
  end.operation = start.operation;
  end.status = "aborted";
  end.exit_code = 0;
  end.reason = "run " + id + " closed: its journal was damaged (" + jr.error + "); kept as " + kept;
  bus.emit(end);
  std::printf("baton: %s\n", end.reason.c_str());
  return journal.failure().empty() ? 0 : 1;
}

}  // namespace

int cmd_switchover(const Options& o) { return run_operation(o, Operation::switchover); }
int cmd_failover(const Options& o) { return run_operation(o, Operation::failover); }
int cmd_drill(const Options& o) { return run_operation(o, Operation::drill); }
int cmd_reverse_sync(const Options& o) { return run_operation(o, Operation::reverse_sync); }

int cmd_resume(const Options& o) {
  Runbook rb;
  if (!load_runbook(o, &rb)) return 2;
  StateDir dir;
  if (!open_state(o, rb, &dir)) return 1;
  // Lock before reading: another run may be writing the journal.
  RunLock l;
  if (int code = lock(l, dir, "resume", "")) return code;
  std::vector<std::string> ids = list_runs(dir.path());
  std::string id = o.run.empty() ? (ids.empty() ? "" : ids.back()) : o.run;
  if (id.empty()) {
    fail("no run of \"" + rb.name + "\" to resume in " + dir.path());
    return 2;
  }
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
    fail("no run " + id + " of \"" + rb.name + "\" in " + dir.path() +
         (ids.empty() ? " (no runs yet)" : "; `baton history " + runbook_words(o.runbook) + "` lists the runs"));
    return 2;
  }
  // Roles may have changed since an older run: only the latest goes on.
  if (id != ids.back()) {
    fail("run " + id + " is not the latest run of \"" + rb.name + "\" (" + ids.back() +
         " is); only the latest run can be resumed");
    return 2;
  }
  JournalRead jr = read_journal(journal_path(dir.path(), id));
  if (!jr.error.empty() && jr.damaged_at > 0) {
    if (o.abort) return close_damaged_run(o, rb, dir, id, jr);
    fail("the journal of run " + id + " is damaged (" + jr.error + "), so Baton cannot tell what it did and will not "
         "go on from it; check the hosts, then `baton resume " + runbook_words(o.runbook) + " --abort` closes the run (the damaged "
         "file is kept)");
    return 1;
  }
  if (!jr.error.empty()) {
    fail(jr.error);
    return jr.records.empty() && !o.run.empty() ? 2 : 1;
  }
  if (!jr.warning.empty()) std::fprintf(stderr, "baton: warning: %s\n", jr.warning.c_str());
  RunSummary sum = summarize(id, jr.records);
  std::optional<Operation> op = parse_operation(sum.operation);
  if (!op) {
    fail("journal of run " + id + " names no operation; it cannot be resumed");
    return 1;
  }
  if (sum.finished && sum.state != "failed") {
    std::printf("nothing to resume: run %s (%s) ended %s\n", id.c_str(), sum.operation.c_str(), sum.state.c_str());
    return 0;
  }
  if (sum.runbook_hash != rb.content_hash && !o.force) {
    fail("the runbook changed since run " + id + " started (" + o.runbook +
         " differs from the journal's copy); check the change, then resume with --force");
    return 2;
  }
  RunState st = rebuild_state(jr.records, dir.load_roles(initial_roles(rb)));
  st.roles_at_start = sum.roles_at_start;
  std::optional<MachineEvent> recovery;
  if (o.rollback) recovery = MachineEvent::rollback;
  if (o.abort) recovery = MachineEvent::abort;
  return execute(o, rb, *op, dir, id, std::move(st), recovery);
}

}  // namespace baton
