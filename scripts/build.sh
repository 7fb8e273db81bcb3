#!/bin/sh
# Configures and builds Baton into ./build (ccache keeps rebuilds short).
set -eu
cd "$(dirname "$0")/.."
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -G Ninja -DBATON_WERROR=$werror >/dev/null
cmake --build build -j2
