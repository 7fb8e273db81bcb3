#!/bin/sh
# Baton on a PostgreSQL 15 streaming pair, start to finish, on this machine:
# start the sandbox (two sites on loopback, one sshd each) and the demo
# application (a writer that records every acknowledged commit), then a
# drill, a switchover, a switch back and the report, and the writer's
# summary: acknowledged writes, how many are missing on the primary (0) and
# the longest pause between two acknowledged writes. Tears it all down on exit.
# Uses ./build/baton (scripts/build.sh); as root, PostgreSQL runs as "batonpg".
set -eu
cd "$(dirname "$0")/../.."
baton=${BATON_BINARY:-./build/baton}
sandbox=examples/postgresql/sandbox.sh
[ -x "$baton" ] || { echo "demo: $baton not found; run ./scripts/build.sh first" >&2; exit 1; }
parent=$(mktemp -d /tmp/baton-pg-demo.XXXXXX)
chmod 755 "$parent"
dir=$parent/sandbox
trap '"$sandbox" down "$dir" >/dev/null 2>&1 || true; rm -rf "$parent"' EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then b0='\033[1m' b1='\033[0m'; else b0= b1=; fi
step() { printf "\n${b0}--- %s${b1}\n" "$*"; }

step "sandbox: two PostgreSQL 15 sites on 127.0.0.1 and 127.0.0.2"
"$sandbox" up "$dir"
. "$dir/env"
b() { "$baton" "$@" "$RUNBOOK" --state-dir "$STATE_DIR"; }
b validate
"$sandbox" status "$dir"

step "the application starts writing (one INSERT at a time, every acknowledged id recorded)"
"$sandbox" writer-start "$dir"
sleep 1

step "baton drill: a promoted clone of the standby; production untouched"
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
