#!/bin/bash
# tools/build.sh [BUILD_DIR] [extra cmake args...] - configures (once) and builds with Ninja.
# Idempotent: a second run only rebuilds what changed.
#   BUILD_DIR defaults to build/ in the repository. Example: tools/build.sh build-asan -DSB_SANITIZE=ON
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
shift || true
case "$build" in /*) ;; *) build="$root/$build" ;; esac

jobs="${SB_JOBS:-$(nproc)}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif (($#)); then
  cmake "$build" "$@"
fi
cmake --build "$build" -j "$jobs"
