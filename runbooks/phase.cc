#include "runbooks/phase.h"

namespace baton {

const std::vector<Phase>& all_phases() {
  static const std::vector<Phase> v = {
      Phase::preflight,  Phase::quiesce,     Phase::fence,
      Phase::stop_replication, Phase::verify_sync, Phase::promote,
      Phase::start_apps, Phase::verify,      Phase::reverse_sync,
      Phase::cleanup};
  return v;
}

const std::vector<Operation>& all_operations() {
  static const std::vector<Operation> v = {Operation::switchover, Operation::failover,
                                           Operation::drill, Operation::reverse_sync};
  return v;
}

std::string_view name(Phase p) {
  switch (p) {
    case Phase::preflight: return "preflight";
    case Phase::quiesce: return "quiesce";
    case Phase::fence: return "fence";
    case Phase::stop_replication: return "stop_replication";
    case Phase::verify_sync: return "verify_sync";
    case Phase::promote: return "promote";
    case Phase::start_apps: return "start_apps";
    case Phase::verify: return "verify";
    case Phase::reverse_sync: return "reverse_sync";
    case Phase::cleanup: return "cleanup";
  }
  return "?";
}

std::string_view name(Operation o) {
  switch (o) {
    case Operation::switchover: return "switchover";
    case Operation::failover: return "failover";
    case Operation::drill: return "drill";
    case Operation::reverse_sync: return "reverse-sync";
  }
  return "?";
}

std::optional<Phase> parse_phase(std::string_view s) {
  for (Phase p : all_phases())
    if (name(p) == s) return p;
  return std::nullopt;
}

std::optional<Operation> parse_operation(std::string_view s) {
  if (s == "reverse_sync") return Operation::reverse_sync;
  for (Operation o : all_operations())
    if (name(o) == s) return o;
  return std::nullopt;
}

std::vector<Phase> phase_sequence(Operation o) {
  using P = Phase;
  switch (o) {
    case Operation::switchover:
      return {P::preflight, P::quiesce, P::stop_replication, P::verify_sync,
              P::promote,   P::start_apps, P::verify, P::reverse_sync};
    case Operation::failover:
      return {P::preflight, P::fence, P::stop_replication, P::verify_sync,
              P::promote,   P::start_apps, P::verify};
    case Operation::drill:
      return {P::preflight, P::quiesce, P::stop_replication, P::verify_sync,
              P::promote,   P::start_apps, P::verify, P::cleanup};
    case Operation::reverse_sync:
      return {P::preflight, P::reverse_sync};
  }
  return {};
}

bool operation_has_phase(Operation o, Phase p) {
  for (Phase q : phase_sequence(o))
    if (q == p) return true;
  return false;
}

}  // namespace baton
