#!/bin/bash
# tests/run.sh - sets everything up and runs ALL tests. Idempotent (README's second command).
#
#   1. tools/setup.sh       Debian packages + npm tooling, only what is missing
#   2. sanitizer build      build-asan/ with -DSB_SANITIZE=ON (ASan + UBSan); every test but the
#                           browser ones (Chromium's own processes are not ours to instrument)
#   3. fuzz build           build-fuzz/ with clang, -DSB_FUZZ=ON, no VTK; only the fuzz tests
#                           (tests/fuzz: each libFuzzer target for SB_FUZZ_SECONDS, default 30,
#                           two at a time, from its seed corpus; plus their corpus replays)
#   4. normal build         build/; the whole suite, browser end-to-end included
# The output ends with ctest's summary of the normal build; the exit status is non-zero if any
# configuration had a failure.
#   SB_SKIP_ASAN=1 skips step 2, SB_SKIP_FUZZ=1 step 3 (quicker local iterations; CI sets neither).
#   SB_CTEST_JOBS=N runs ctest -j N (default: nproc); SB_JOBS=N the build's jobs (default nproc).
#   More ctest jobs than cores is a load test: SB_CTEST_JOBS=4 on 2 cores (see tests/README.md).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/tools/setup.sh" || exit 1

ctest_jobs="${SB_CTEST_JOBS:-$(nproc)}"
status=0

if [[ "${SB_SKIP_ASAN:-0}" != "1" ]]; then
  echo "== sanitizer build (ASan + UBSan): build-asan/"
  if "$root/tools/build.sh" build-asan -DSB_SANITIZE=ON -DSB_BUILD_EXAMPLES=ON; then
    ctest --test-dir "$root/build-asan" -j "$ctest_jobs" --output-on-failure -LE browser || status=1
  else
    echo "sanitizer build failed"; status=1
  fi
fi

if [[ "${SB_SKIP_FUZZ:-0}" != "1" ]]; then
  echo "== fuzz build (clang, libFuzzer, ASan + UBSan): build-fuzz/"
  # Its own compiler, so its own build directory; no VTK and no examples: the fuzz targets link
  # only the C library, and nothing else is tested here.
  if CC=clang CXX=clang++ "$root/tools/build.sh" build-fuzz -DSB_FUZZ=ON -DSB_WITH_VTK=OFF \
       -DSB_BUILD_EXAMPLES=OFF; then
    ctest --test-dir "$root/build-fuzz" -j "$ctest_jobs" --output-on-failure -L fuzz || status=1
    # What each target did this run (ctest shows a passing test's output only with -V).
    tail -qn1 "$root"/build-fuzz/tests/fuzz/*/last-run.log 2>/dev/null
  else
    echo "fuzz build failed"; status=1
  fi
fi

echo "== normal build: build/"
if "$root/tools/build.sh" build; then
  ctest --test-dir "$root/build" -j "$ctest_jobs" --output-on-failure || status=1
else
  echo "build failed"; status=1
fi
exit $status
