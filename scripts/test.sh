#!/bin/sh
# Installs dependencies, builds, and runs every test (unit, CLI, SSH, e2e),
# then the unit, CLI and SSH tests under ASan and UBSan, then a 60 s fuzz
# of the runbook loader. With arguments (e.g. -R loader), only the main
# build's matching tests.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
# Serial: some tests time parallel work and must not share the 2 cores.
(cd build && ctest --output-on-failure --timeout 600 "$@")
[ $# -gt 0 ] && exit 0
./scripts/sanitize.sh
./scripts/fuzz.sh 60
