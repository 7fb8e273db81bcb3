#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "orchestrator/cli.h"
#include "orchestrator/interrupt.h"

namespace {

// A closed stdin, stdout or stderr would be the next file Baton opens (the
// lock, a journal) and the output would land in it: hold 0, 1 and 2 with
// /dev/null, write-only for input and read-only for output, so that a read
// or write there fails (EBADF) instead of reaching a file.
void hold_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    const int got = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got >= 0 && got != fd) {
      ::dup2(got, fd);
      ::close(got);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  hold_standard_fds();
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
