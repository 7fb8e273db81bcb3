// A real OpenSSH sshd on 127.0.0.1 for the shell benchmarks (the tests'
// fixture): prints its settings as shell assignments, then "READY", and
// serves until SIGTERM or SIGINT, when it stops sshd and removes its files.
//
//   bench_sshd [--max-startups SPEC]     (default 200: nothing dropped)
//
// Output: SSHD_ADDRESS= SSHD_PORT= SSHD_USER= SSHD_IDENTITY= SSHD_KNOWN_HOSTS=
// SSHD_KNOWN_HOSTS_LINE= SSHD_DIR=, one a line, values single-quoted.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "tests/sshd_fixture.h"

namespace {

std::string q(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

int main(int argc, char** argv) {
  std::string max_startups = "200";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--max-startups") == 0 && i + 1 < argc) {
      max_startups = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--max-startups SPEC]\n", argv[0]);
      return 2;
    }
  }
  // Wait for the signal in sigwait, so the fixture's destructor cleans up.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  baton::testing::SshdFixture sshd(max_startups);
  if (!sshd.ok()) {
    std::fprintf(stderr, "bench_sshd: %s\n", sshd.error().c_str());
    return 1;
  }
  std::printf("SSHD_ADDRESS=%s\nSSHD_PORT=%d\nSSHD_USER=%s\nSSHD_IDENTITY=%s\nSSHD_KNOWN_HOSTS=%s\n"
              "SSHD_KNOWN_HOSTS_LINE=%s\nSSHD_DIR=%s\nREADY\n",
              q(sshd.address()).c_str(), sshd.port(), q(sshd.user()).c_str(), q(sshd.identity_path()).c_str(),
              q(sshd.known_hosts_path()).c_str(), q(sshd.known_hosts_line()).c_str(), q(sshd.dir()).c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
