#!/bin/sh
# Baton's main job on a local two-site sandbox: a drill, a switchover and a
# switch back of examples/local, then the application's state.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh >/dev/null
export BATON_EXAMPLE_ROOT="${BATON_EXAMPLE_ROOT:-/tmp/baton-example}"
state="$BATON_EXAMPLE_ROOT.state"
rb=examples/local/runbook.toml
site=examples/local/site.sh
rm -rf "$state"
trap '$site teardown; rm -rf "$state"' EXIT
$site init
echo "--- sites ready under $BATON_EXAMPLE_ROOT: $($site serve)"
echo
./build/baton drill "$rb" --state-dir "$state"
echo
./build/baton switchover "$rb" --state-dir "$state"
echo "--- $($site serve)"
echo
./build/baton switchover "$rb" --state-dir "$state"
echo "--- $($site serve)"
