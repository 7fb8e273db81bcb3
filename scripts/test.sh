#!/bin/sh
# Installs dependencies, builds, and runs every test (unit, CLI, SSH, e2e),
# then the unit, CLI and SSH tests under ASan and UBSan, then a 60 s fuzz
# of the runbook loader. With arguments (e.g. -R loader), only the main
# build's matching tests.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
if [ $# -gt 0 ]; then
  (cd build && ctest --output-on-failure --timeout 600 "$@")
  exit 0
fi
# Unit, CLI and SSH tests two at a time (their timing checks read the
# journal's clock, not the machine's); the e2e tests alone, after them.
(cd build && ctest --output-on-failure --timeout 600 -j2 -LE e2e && ctest --output-on-failure --timeout 1500 -L e2e)
./scripts/sanitize.sh
./scripts/fuzz.sh 60
