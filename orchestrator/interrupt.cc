#include "orchestrator/interrupt.h"

#include <signal.h>
#include <unistd.h>

namespace baton {
namespace {

std::atomic<int> g_signal{0};

void on_signal(int sig) {
  int none = 0;
  if (!g_signal.compare_exchange_strong(none, sig)) _exit(128 + sig);  // The second: at once.
  static const char msg[] = "\nbaton: stopping: the running steps are being killed; a second signal exits at once\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // Library calls carry on; the run checks the flag.
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

const std::atomic<int>& interrupt_signal() { return g_signal; }

}  // namespace baton
