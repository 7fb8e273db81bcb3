// The command line: parses arguments, runs one verb, returns the exit code.
#pragma once

namespace baton {

int run_cli(int argc, char** argv);

}  // namespace baton
