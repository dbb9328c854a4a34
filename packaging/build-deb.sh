#!/usr/bin/env bash
# Builds the Debian package: a Release tree in $BUILD_DIR (default build-deb/) with only the
# pforte binary and the manual pages, then cpack. Prints the path of the .deb on the last line.
#   BUILD_DIR=DIR   the build tree (reused: a second run only rebuilds what changed)
#   OUT_DIR=DIR     where the .deb is written (default $BUILD_DIR)
#   JOBS=N          parallel compile jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-deb}
OUT_DIR=${OUT_DIR:-$BUILD_DIR}
JOBS=${JOBS:-2}

generator=()
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack installs without building every target first (the
# origin simulator and the tests are not in the package).
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr -DPFORTE_TESTS=OFF -DPFORTE_SANITIZE=OFF -DPFORTE_FUZZ=OFF \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target pforte pforte-man
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
deb=$(cd "$BUILD_DIR" && cpack -G DEB -B "$OUT_DIR" | sed -n 's/^CPack: - package: \(.*\) generated\.$/\1/p')
rm -rf "$OUT_DIR/_CPack_Packages"
[ -f "$deb" ] || { echo "build-deb.sh: cpack made no package" >&2; exit 1; }
echo "$deb"
