#!/bin/sh
# Fuzzes the runbook loader with libFuzzer for SECONDS (default 60): builds
# tests/fuzz/loader_fuzz with clang into ./build-fuzz (ASan and UBSan on),
# seeded with the examples' runbooks; the corpus grows in build-fuzz/corpus
# from run to run. A finding fails the run and leaves its input as
# build-fuzz/crash-* (or leak-*, timeout-*): reproduce it with
#   build-fuzz/tests/fuzz/loader_fuzz build-fuzz/crash-...
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}
CXX=${BATON_FUZZ_CXX:-clang++-14} cmake -S . -B build-fuzz -G Ninja -DBATON_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j2 --target loader_fuzz
mkdir -p build-fuzz/corpus
for f in examples/*/runbook.toml; do
  cp "$f" "build-fuzz/corpus/seed-$(basename "$(dirname "$f")").toml"
done
cd build-fuzz
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# -timeout: one input taking this long is a finding (a hang), not patience.
exec ./tests/fuzz/loader_fuzz -max_total_time="$seconds" -timeout=10 -dict=../tests/fuzz/toml.dict \
  -print_final_stats=1 corpus
