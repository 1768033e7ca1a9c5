#!/bin/sh
# run-tests.sh: builds and runs every test the way CI does, in three build trees:
#   build/        normal build (+ CUDA plugin when nvcc exists), all tests but the fuzzers
#   build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer, all tests but the fuzzers
#   build-fuzz/   clang + libFuzzer, each fuzzer for AFLOC_FUZZ_SECONDS (default 60) seconds
# Set AFLOC_SKIP_FUZZ=1 to skip the fuzz stage.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${AFLOC_FUZZ_SECONDS:-60}

echo "== normal build =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs" -LE fuzz)

echo "== ASan + UBSan build =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAFLOC_SANITIZE=ON -DAFLOC_CUDA=OFF
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -LE fuzz)

if [ "${AFLOC_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== libFuzzer smoke run (${fuzz_seconds}s each) =="
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFLOC_FUZZ=ON \
    -DAFLOC_FUZZ_SECONDS="$fuzz_seconds"
  cmake --build build-fuzz -j "$jobs"
  (cd build-fuzz && ctest --output-on-failure -L fuzz)
fi
echo "run-tests: all stages passed"
