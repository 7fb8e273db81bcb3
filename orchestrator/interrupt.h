// SIGINT and SIGTERM: the first asks the run to stop gracefully (the
// running steps are killed as on a timeout, the journal records it, a
// drill runs its cleanup, the exit code is 128 + the signal); the second
// exits at once.
#pragma once
#include <atomic>

namespace baton {

// Installs the handlers (main calls it once).
void install_interrupt_handlers();
// The signal that asked Baton to stop, or 0. Commands watch it.
const std::atomic<int>& interrupt_signal();

}  // namespace baton
