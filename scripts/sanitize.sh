#!/bin/sh
# The unit, cli and ssh tests built with AddressSanitizer and
# UndefinedBehaviorSanitizer (and LeakSanitizer) into ./build-asan. Fails on
# a failing test or on any sanitizer report, also from the `baton` processes
# the tests start (reports go to files, so none hides behind an exit code).
# Arguments go to ctest (e.g. -R loader).
set -eu
cd "$(dirname "$0")/.."
# -O1 -g1: a third of -O2 -g's compile time; line numbers for the reports;
# assertions on.
cmake -S . -B build-asan -G Ninja -DBATON_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" >/dev/null
cmake --build build-asan -j2
logs=$(pwd)/build-asan/sanitizer-reports
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
cd build-asan
status=0
ctest --output-on-failure --timeout 600 -L 'unit|cli|ssh' "$@" || status=$?
if [ -n "$(ls -A "$logs")" ]; then
  echo "baton: sanitizer reports:" >&2
  cat "$logs"/* >&2
  status=1
fi
exit $status
