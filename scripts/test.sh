#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting, builds and runs the unit and
# integration tests (CTest), then again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then builds the libFuzzer targets and runs each briefly.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 skips running them)
#   SKIP_ASAN=1      skip the sanitizer build (local quick runs only)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=$(nproc)

scripts/install-deps.sh

echo "== format check"
mapfile -t sources < <(git ls-files '*.h' '*.cc' 2>/dev/null || find proxy modules tests bench -name '*.h' -o -name '*.cc')
clang-format --dry-run -Werror "${sources[@]}"

echo "== build (RelWithDebInfo)"
BUILD_DIR=build scripts/build.sh -DPFORTE_TESTS=ON
echo "== tests"
(cd build && ctest --output-on-failure --no-tests=error -j"$JOBS" --timeout 300)

if [ "${SKIP_ASAN:-0}" != "1" ]; then
  echo "== build (ASan + UBSan)"
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DPFORTE_SANITIZE=ON -DPFORTE_TESTS=ON
  echo "== tests under ASan + UBSan"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && PFORTE_SANITIZED=1 ctest --output-on-failure --no-tests=error -j"$JOBS" --timeout 600)
fi

echo "== fuzz targets (clang-16, libFuzzer)"
CXX=clang++-16 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPFORTE_FUZZ=ON \
  -DPFORTE_SANITIZE=ON -DPFORTE_TESTS=OFF >/dev/null
fuzz_targets=()
for src in tests/fuzz/*_fuzz.cc; do fuzz_targets+=("$(basename "$src" .cc)"); done
cmake --build build-fuzz --target "${fuzz_targets[@]}"
if [ "$FUZZ_SECONDS" != "0" ]; then
  for target in build-fuzz/tests/fuzz/*_fuzz; do
    name=$(basename "$target" _fuzz)
    corpus="$ROOT/tests/fuzz/corpus/$name"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
    echo "-- $name for ${FUZZ_SECONDS}s"
    "$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$work" 2>&1 | tail -2
    rm -rf "$work"
  done
fi
echo "== all tests passed"
