// The Boost.MSM state machine (functor front end). The transition table
// below is the specification of every run; `baton graph` prints it.
#include "states/machine.h"

#include <boost/mpl/for_each.hpp>
#include <boost/mpl/vector.hpp>
#include <boost/msm/back/state_machine.hpp>
#include <boost/msm/front/functor_row.hpp>
#include <boost/msm/front/state_machine_def.hpp>

#include <sstream>

namespace baton {

std::string_view name(MachineEvent e) {
  switch (e) {
    case MachineEvent::start: return "start";
    case MachineEvent::phase_done: return "phase_done";
    case MachineEvent::step_failed: return "step_failed";
    case MachineEvent::resume: return "resume";
    case MachineEvent::rollback: return "rollback";
    case MachineEvent::rollback_done: return "rollback_done";
    case MachineEvent::abort: return "abort";
  }
  return "?";
}

namespace {

namespace msm = boost::msm;
namespace mpl = boost::mpl;
using msm::front::none;
using msm::front::Row;

// Events.
struct Start { static constexpr const char* label = "start"; };
struct PhaseDone { static constexpr const char* label = "phase_done"; };
struct StepFailed { static constexpr const char* label = "step_failed"; };
struct Resume { static constexpr const char* label = "resume"; };
struct Rollback { static constexpr const char* label = "rollback"; };
struct RollbackDone { static constexpr const char* label = "rollback_done"; };
struct Abort { static constexpr const char* label = "abort"; };

// Every state records its name on entry, so the interface can read it.
template <class Derived>
struct Named : msm::front::state<> {
  template <class Evt, class Fsm>
  void on_entry(const Evt&, Fsm& fsm) {
    fsm.state_name = Derived::label();
    fsm.phase = Derived::phase_of();
  }
};

template <Phase P>
struct PhaseState : Named<PhaseState<P>> {
  static constexpr Phase phase = P;
  static std::string label() { return std::string(name(P)); }
  static std::optional<Phase> phase_of() { return P; }
};

#define BATON_PLAIN_STATE(Type, text)                          \
  struct Type : Named<Type> {                                  \
    static std::string label() { return text; }                \
    static std::optional<Phase> phase_of() { return std::nullopt; } \
  }
BATON_PLAIN_STATE(Idle, "idle");
BATON_PLAIN_STATE(Failed, "failed");
BATON_PLAIN_STATE(RollingBack, "rolling_back");
BATON_PLAIN_STATE(RolledBack, "rolled_back");
BATON_PLAIN_STATE(Aborted, "aborted");
BATON_PLAIN_STATE(Completed, "completed");
#undef BATON_PLAIN_STATE

using Preflight = PhaseState<Phase::preflight>;
using Quiesce = PhaseState<Phase::quiesce>;
using Fence = PhaseState<Phase::fence>;
using StopReplication = PhaseState<Phase::stop_replication>;
using VerifySync = PhaseState<Phase::verify_sync>;
using Promote = PhaseState<Phase::promote>;
using StartApps = PhaseState<Phase::start_apps>;
using Verify = PhaseState<Phase::verify>;
using ReverseSync = PhaseState<Phase::reverse_sync>;
using Cleanup = PhaseState<Phase::cleanup>;

// Guards.
template <Operation O>
struct Is {
  static std::string label() { return "op == " + std::string(name(O)); }
  template <class E, class F, class S, class T>
  bool operator()(const E&, F& fsm, S&, T&) const { return fsm.op == O; }
};
template <Operation O>
struct IsNot {
  static std::string label() { return "op != " + std::string(name(O)); }
  template <class E, class F, class S, class T>
  bool operator()(const E&, F& fsm, S&, T&) const { return fsm.op != O; }
};
struct SwitchoverOrDrill {
  static std::string label() { return "op == switchover || op == drill"; }
  template <class E, class F, class S, class T>
  bool operator()(const E&, F& fsm, S&, T&) const {
    return fsm.op == Operation::switchover || fsm.op == Operation::drill;
  }
};
struct AfterFailure {
  static std::string label() { return "a step failed earlier"; }
  template <class E, class F, class S, class T>
  bool operator()(const E&, F& fsm, S&, T&) const { return fsm.failed_in.has_value(); }
};
struct NoFailure {
  static std::string label() { return "no step failed"; }
  template <class E, class F, class S, class T>
  bool operator()(const E&, F& fsm, S&, T&) const { return !fsm.failed_in.has_value(); }
};
template <Phase P>
struct FailedIn {
  static std::string label() { return "failed in " + std::string(name(P)); }
  template <class E, class F, class S, class T>
  bool operator()(const E&, F& fsm, S&, T&) const { return fsm.failed_in == P; }
};

// Actions.
struct MarkFailed {  // Remember where, for resume; the first failure wins.
  template <class E, class F, class S, class T>
  void operator()(const E&, F& fsm, S&, T&) const {
    if (!fsm.failed_in) fsm.failed_in = S::phase;
  }
};
struct ClearFailed {
  template <class E, class F, class S, class T>
  void operator()(const E&, F& fsm, S&, T&) const { fsm.failed_in.reset(); }
};

using IsDrill = Is<Operation::drill>;
using NotDrill = IsNot<Operation::drill>;

struct RunDef : msm::front::state_machine_def<RunDef> {
  using initial_state = Idle;

  Operation op = Operation::switchover;
  std::string state_name = "idle";
  std::optional<Phase> phase;
  std::optional<Phase> failed_in;
  std::string refused;  // why the last event had no transition

  // clang-format off
  struct transition_table : mpl::vector<
  //    Source           Event          Target           Action       Guard
  // -- The run starts with preflight, whatever the operation.
  Row < Idle,            Start,         Preflight,       none,        none >,
  // -- Preflight leads to the operation's first real phase.
  Row < Preflight,       PhaseDone,     Quiesce,         none,        SwitchoverOrDrill >,
  Row < Preflight,       PhaseDone,     Fence,           none,        Is<Operation::failover> >,
  Row < Preflight,       PhaseDone,     ReverseSync,     none,        Is<Operation::reverse_sync> >,
  // -- Planned (quiesce) and unplanned (fence) paths meet at stop_replication.
  Row < Quiesce,         PhaseDone,     StopReplication, none,        none >,
  Row < Fence,           PhaseDone,     StopReplication, none,        none >,
  Row < StopReplication, PhaseDone,     VerifySync,      none,        none >,
  Row < VerifySync,      PhaseDone,     Promote,         none,        none >,
  Row < Promote,         PhaseDone,     StartApps,       none,        none >,
  Row < StartApps,       PhaseDone,     Verify,          none,        none >,
  // -- After verify: a switchover makes the old source follow; a drill
  //    cleans up; a failover is done (the old source is down).
  Row < Verify,          PhaseDone,     ReverseSync,     none,        Is<Operation::switchover> >,
  Row < Verify,          PhaseDone,     Cleanup,         none,        IsDrill >,
  Row < Verify,          PhaseDone,     Completed,       none,        Is<Operation::failover> >,
  Row < ReverseSync,     PhaseDone,     Completed,       none,        none >,
  // -- A drill's cleanup always runs; after a failure the run still ends failed.
  Row < Cleanup,         PhaseDone,     Completed,       none,        NoFailure >,
  Row < Cleanup,         PhaseDone,     Failed,          none,        AfterFailure >,
  // -- A failed step stops the run; a drill goes through cleanup first.
  Row < Preflight,       StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < Preflight,       StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < Quiesce,         StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < Quiesce,         StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < Fence,           StepFailed,    Failed,          MarkFailed,  none >,
  Row < StopReplication, StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < StopReplication, StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < VerifySync,      StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < VerifySync,      StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < Promote,         StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < Promote,         StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < StartApps,       StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < StartApps,       StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < Verify,          StepFailed,    Failed,          MarkFailed,  NotDrill >,
  Row < Verify,          StepFailed,    Cleanup,         MarkFailed,  IsDrill >,
  Row < ReverseSync,     StepFailed,    Failed,          MarkFailed,  none >,
  Row < Cleanup,         StepFailed,    Failed,          MarkFailed,  none >,
  // -- Resume retries from the phase that failed.
  Row < Failed,          Resume,        Preflight,       ClearFailed, FailedIn<Phase::preflight> >,
  Row < Failed,          Resume,        Quiesce,         ClearFailed, FailedIn<Phase::quiesce> >,
  Row < Failed,          Resume,        Fence,           ClearFailed, FailedIn<Phase::fence> >,
  Row < Failed,          Resume,        StopReplication, ClearFailed, FailedIn<Phase::stop_replication> >,
  Row < Failed,          Resume,        VerifySync,      ClearFailed, FailedIn<Phase::verify_sync> >,
  Row < Failed,          Resume,        Promote,         ClearFailed, FailedIn<Phase::promote> >,
  Row < Failed,          Resume,        StartApps,       ClearFailed, FailedIn<Phase::start_apps> >,
  Row < Failed,          Resume,        Verify,          ClearFailed, FailedIn<Phase::verify> >,
  Row < Failed,          Resume,        ReverseSync,     ClearFailed, FailedIn<Phase::reverse_sync> >,
  Row < Failed,          Resume,        Cleanup,         ClearFailed, FailedIn<Phase::cleanup> >,
  // -- Or undo completed steps, newest first; a failed undo leaves it failed.
  Row < Failed,          Rollback,      RollingBack,     none,        none >,
  Row < RollingBack,     RollbackDone,  RolledBack,      none,        none >,
  Row < RollingBack,     StepFailed,    Failed,          none,        none >,
  // -- Or give up for good.
  Row < Failed,          Abort,         Aborted,         none,        none >
  > {};
  // clang-format on

  // An event with no row is refused and reported, never dropped.
  template <class Fsm, class Evt>
  void no_transition(const Evt&, Fsm&, int) {
    refused = "no transition from " + state_name + " on " + Evt::label;
  }
  template <class Fsm, class Evt>
  void exception_caught(const Evt&, Fsm&, std::exception& e) {
    refused = std::string("exception in state machine: ") + e.what();
  }
};

using Run = msm::back::state_machine<RunDef>;

// Names of a row's parts, for the printed table.
template <class G>
std::string guard_label() { return G::label(); }
template <>
std::string guard_label<none>() { return {}; }

struct CollectRow {
  std::vector<TransitionRow>* rows;
  template <class R>
  void operator()(R*) const {
    rows->push_back({R::Source::label(), R::Evt::label, guard_label<typename R::Guard>(),
                     R::Target::label()});
  }
};

}  // namespace

struct Machine::Impl {
  Run run;
  MachineObserver* observer = nullptr;
};

Machine::Machine(Operation op, MachineObserver* observer) : impl_(new Impl) {
  impl_->run.op = op;
  impl_->observer = observer;
  impl_->run.start();
}

Machine::~Machine() = default;

std::string Machine::fire(MachineEvent e) {
  Run& r = impl_->run;
  r.refused.clear();
  const std::string from = r.state_name;
  switch (e) {
    case MachineEvent::start: r.process_event(Start{}); break;
    case MachineEvent::phase_done: r.process_event(PhaseDone{}); break;
    case MachineEvent::step_failed: r.process_event(StepFailed{}); break;
    case MachineEvent::resume: r.process_event(Resume{}); break;
    case MachineEvent::rollback: r.process_event(Rollback{}); break;
    case MachineEvent::rollback_done: r.process_event(RollbackDone{}); break;
    case MachineEvent::abort: r.process_event(Abort{}); break;
  }
  if (!r.refused.empty()) return r.refused;
  if (impl_->observer) impl_->observer->on_transition(from, e, r.state_name);
  return {};
}

std::string Machine::replay(const std::vector<MachineEvent>& events) {
  MachineObserver* saved = impl_->observer;
  impl_->observer = nullptr;
  std::string err;
  for (MachineEvent e : events) {
    err = fire(e);
    if (!err.empty()) break;
  }
  impl_->observer = saved;
  return err;
}

std::string Machine::state() const { return impl_->run.state_name; }
std::optional<Phase> Machine::phase() const { return impl_->run.phase; }
std::optional<Phase> Machine::failed_phase() const { return impl_->run.failed_in; }
bool Machine::failed() const { return impl_->run.state_name == "failed"; }
bool Machine::finished() const {
  const std::string& s = impl_->run.state_name;
  return s == "completed" || s == "rolled_back" || s == "aborted";
}

const std::vector<TransitionRow>& transition_table() {
  static const std::vector<TransitionRow> rows = [] {
    std::vector<TransitionRow> v;
    mpl::for_each<RunDef::transition_table, std::add_pointer<mpl::placeholders::_1>>(CollectRow{&v});
    return v;
  }();
  return rows;
}

std::string machine_dot() {
  std::ostringstream o;
  o << "digraph baton {\n"
    << "  rankdir=TB;\n"
    << "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
    << "  edge [fontname=\"Helvetica\", fontsize=10];\n"
    << "  idle [shape=circle];\n"
    << "  completed [shape=doublecircle];\n"
    << "  rolled_back [shape=doublecircle];\n"
    << "  aborted [shape=doublecircle];\n"
    << "  failed [color=red];\n";
  for (const TransitionRow& r : transition_table()) {
    o << "  " << r.source << " -> " << r.target << " [label=\"" << r.event;
    if (!r.guard.empty()) o << "\\n[" << r.guard << "]";
    o << "\"";
    if (r.event == "step_failed") o << ", color=red";
    o << "];\n";
  }
  o << "}\n";
  return o.str();
}

}  // namespace baton
