#!/bin/sh
# Baton on a MariaDB 10.11 GTID pair, start to finish, on this machine: start
# the sandbox (two sites on loopback, one sshd each) and the demo application
# (a writer that records every acknowledged commit), then a drill, a
# switchover, a switch back and the report, and the writer's summary:
# acknowledged writes, how many are missing on the primary (0) and the longest
# pause between two acknowledged writes. Tears it all down on exit.
# Uses ./build/baton (scripts/build.sh); as root, mariadbd runs as "batonmy".
set -eu
cd "$(dirname "$0")/../.."
baton=${BATON_BINARY:-./build/baton}
sandbox=examples/mariadb/sandbox.sh
[ -x "$baton" ] || { echo "demo: $baton not found; run ./scripts/build.sh first" >&2; exit 1; }
parent=$(mktemp -d /tmp/baton-mariadb-demo.XXXXXX)
chmod 755 "$parent"
dir=$parent/sandbox
trap '"$sandbox" down "$dir" >/dev/null 2>&1 || true; rm -rf "$parent"' EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then b0='\033[1m' b1='\033[0m'; else b0= b1=; fi
step() { printf "\n${b0}--- %s${b1}\n" "$*"; }

step "sandbox: two MariaDB 10.11 sites on 127.0.0.1 and 127.0.0.2 (GTID replication)"
"$sandbox" up "$dir"
. "$dir/env"
b() { "$baton" "$@" "$RUNBOOK" --state-dir "$STATE_DIR"; }
b validate
"$sandbox" status "$dir"

step "the application starts writing (one INSERT at a time, every acknowledged id recorded)"
"$sandbox" writer-start "$dir"
sleep 1

step "baton drill: a mariadb-backup of the replica, started on a spare port and checked; production untouched"
b drill
"$sandbox" status "$dir"

step "baton switchover: main -> dr, under writes"
b switchover
"$sandbox" status "$dir"
sleep 1

step "baton switchover: dr -> main (the switch back)"
b switchover
"$sandbox" status "$dir"
sleep 1

step "baton report (the last run) and history"
b report
b history

step "the application stops: its summary"
"$sandbox" writer-stop "$dir"
