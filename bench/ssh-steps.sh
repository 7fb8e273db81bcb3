#!/usr/bin/env bash
# 200 trivial SSH steps: baton's whole run vs a plain libssh loop, side by side
# (target: baton at most 1.1 times the loop).
# Run from anywhere; builds baton and the benchmark into ./build first
# (BATON_BUILD_DIR to use another build dir; the build's log is
# BUILD/bench-build.log, shown only if the build fails).
#   bench/ssh-steps.sh [--rounds N] [--steps N] [--state-in DIR] [--no-runner] [--keep]
# Needs /usr/sbin/sshd and ssh-keygen (openssh-server); as root it logs in a
# dedicated user "batontest" (created if missing), else the current user.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_build baton ssh_exec_bench
exec "$build/bench/ssh_exec_bench" "$@"
