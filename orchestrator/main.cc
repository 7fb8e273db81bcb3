#include <cstdio>
#include <exception>

#include "orchestrator/cli.h"

int main(int argc, char** argv) {
  try {
    return baton::run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baton: error: %s\n", e.what());
    return 1;
  }
}
