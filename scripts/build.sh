#!/bin/sh
# Configures and builds Baton into ./build (ccache keeps rebuilds short).
# Arguments: targets to build (default: all, tests included), e.g. baton.
set -eu
cd "$(dirname "$0")/.."
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -G Ninja -DBATON_WERROR=$werror >/dev/null
targets=""
for t in "$@"; do targets="$targets --target $t"; done
# shellcheck disable=SC2086
cmake --build build -j2 $targets
