#!/bin/sh
# Baton's main job on a local two-site sandbox: two PostgreSQL 15 sites on
# loopback, one sshd each, and an application writing all along; a drill, a
# switchover, a switch back and the report; then it all comes down.
# (examples/local/ has the same without PostgreSQL: see README.md.)
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh baton >/dev/null
exec examples/postgresql/demo.sh
