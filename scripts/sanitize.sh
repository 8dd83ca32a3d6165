#!/usr/bin/env bash
# The test suite built with AddressSanitizer and UndefinedBehaviorSanitizer (gcc) into
# build-asan/ and run by ctest: any memory error, leak or undefined behaviour in samplernn's
# code fails the run. LibTorch, OpenBLAS and the other system libraries are not instrumented;
# leaks that start inside them are suppressed (scripts/lsan.supp).
#
# The tests whose subject is another program run only in the normal suite (scripts/test.sh):
# the documentation check (docs), the real Python readers of samplernn's files (Peers.*) and
# the Optuna driver of `tune` (tune.*), which spend their time in Python and Chromium and run
# samplernn's commands along paths the CLI tests take too; and the CUDA tests repeated on the
# CPU (cpu-device.*), which repeat test-cuda's. SRNN_SANITIZE_ALL=1 runs everything.
#
#   scripts/sanitize.sh        # the build, then the tests
set -euo pipefail
cd "$(dirname "$0")/.."
# -O1 with line tables: readable stack traces, and a build that fits CI's time.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" \
  -DSRNN_SANITIZE=address,undefined -DSRNN_BUILD_BENCH=OFF > /dev/null
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-asan
exclude='^(docs|Peers\.|tune\.|cpu-device\.)'
[ "${SRNN_SANITIZE_ALL:-0}" = 1 ] && exclude='^$'
ctest --output-on-failure -j"$(nproc)" --timeout 900 -E "$exclude"
