#!/bin/sh
# 200 trivial SSH steps: baton's whole run vs a plain libssh loop, side by side
# (target: baton at most 1.1 times the loop).
# Run from anywhere; builds baton and the benchmark into ./build first
# (BATON_BUILD_DIR to use another build dir).
#   bench/ssh-steps.sh [--rounds N] [--steps N] [--state-in DIR] [--keep]
# Needs /usr/sbin/sshd and ssh-keygen (openssh-server); as root it logs in a
# dedicated user "batontest" (created if missing), else the current user.
set -eu
cd "$(dirname "$0")/.."
build=${BATON_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j2 --target baton ssh_exec_bench
exec "$build/bench/ssh_exec_bench" "$@"
