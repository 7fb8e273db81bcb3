#include <csignal>
#include <cstdio>
#include <exception>

#include "orchestrator/cli.h"
#include "orchestrator/interrupt.h"

int main(int argc, char** argv) {
  // A closed pipe or a lost terminal must not kill a run half way.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  baton::install_interrupt_handlers();
  try {
    return baton::run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baton: error: %s\n", e.what());
    return 1;
  }
}
