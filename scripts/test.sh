#!/bin/sh
# Installs dependencies, builds, and runs every test (unit, CLI, SSH, e2e).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
cd build
# Serial: some tests time parallel work and must not share the 2 cores.
ctest --output-on-failure --timeout 600 "$@"
