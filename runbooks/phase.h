// Phases and operations: the vocabulary DESIGN.md fixes.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton {

enum class Phase {
  preflight,
  quiesce,
  fence,
  stop_replication,
  verify_sync,
  promote,
  start_apps,
  verify,
  reverse_sync,
  cleanup,
};

enum class Operation { switchover, failover, drill, reverse_sync };

const std::vector<Phase>& all_phases();
const std::vector<Operation>& all_operations();

std::string_view name(Phase p);
std::string_view name(Operation o);  // CLI spelling: "reverse-sync"
std::optional<Phase> parse_phase(std::string_view s);
// Accepts "reverse-sync" and "reverse_sync".
std::optional<Operation> parse_operation(std::string_view s);

// Whether an operation has a phase at all (DESIGN.md's table).
bool operation_has_phase(Operation o, Phase p);
// The phases an operation walks when nothing fails, in order.
std::vector<Phase> phase_sequence(Operation o);

}  // namespace baton
