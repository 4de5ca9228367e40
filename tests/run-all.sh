#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is needed, then
#  1. checks formatting against the repo's .clang-format,
#  2. builds everything with AddressSanitizer + UndefinedBehaviorSanitizer and runs every test,
#  3. builds without sanitizers and runs the unit tests under valgrind,
#  4. builds the fuzz targets with clang (libFuzzer, ASan + UBSan) and runs each briefly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps
jobs=${SALVE_TEST_JOBS:-2}

echo "== clang-format"
mapfile -t sources < <(git ls-files '*.c' '*.h')
if [ ${#sources[@]} -gt 0 ]; then
	clang-format --dry-run --Werror "${sources[@]}"
fi

echo "== ASan + UBSan build, all tests"
cmake -S . -B build-asan -DSALVE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DSALVE_PLUGIN_ALL=ON >/dev/null
cmake --build build-asan -j"$jobs"
# intercept_tls_get_addr=0: LeakSanitizer's tracer misreads a dlopen'd library's TLS block
# that happens to sit at a page offset of 16 and crashes at exit ("Tracer caught signal 11",
# google/sanitizers#1322); which test it hits moves with every allocation change.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:intercept_tls_get_addr=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600

echo "== valgrind build, unit tests"
cmake -S . -B build-valgrind -DSALVE_SANITIZE=OFF -DSALVE_VALGRIND=ON -DCMAKE_BUILD_TYPE=Debug -DSALVE_PLUGIN_ALL=ON >/dev/null
cmake --build build-valgrind -j"$jobs"
ctest --test-dir build-valgrind --output-on-failure -j"$jobs" -L unit --timeout 900

fuzz_seconds=${SALVE_FUZZ_SECONDS:-5}
echo "== fuzz targets, $fuzz_seconds s each"
# tests/fuzz: the seeds (and every bug's reproducer) replayed, then a short run per target;
# bench/fuzz/run.sh is the long run.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSALVE_SANITIZE=ON -DSALVE_FUZZ=ON \
	-DSALVE_FUZZ_SECONDS="$fuzz_seconds" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSALVE_PLUGIN_ALL=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target salve-fuzz
ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -L fuzz
