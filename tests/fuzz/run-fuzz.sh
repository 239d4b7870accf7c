#!/bin/bash
# tests/fuzz/run-fuzz.sh FUZZER WORK_DIR SEED_DIR [MORE_INPUT_DIR...] - one bounded libFuzzer run,
# the ctest test fuzz_NAME (label "fuzz", registered by sb_add_fuzz_target).
#
# The seeds are copied into WORK_DIR/corpus (in the build tree; libFuzzer writes the inputs it
# finds there, never into the source tree) and the run goes on from what earlier runs found.
# Crash, leak, timeout and out-of-memory inputs land in WORK_DIR/artifacts/; their paths are
# printed at the end. SB_FUZZ_SECONDS (default 30) bounds the run.
set -uo pipefail
if (($# < 3)); then
  echo "usage: $0 FUZZER WORK_DIR SEED_DIR [MORE_INPUT_DIR...]" >&2
  exit 2
fi
fuzzer="$1" work="$2" seeds="$3"
shift 3
seconds="${SB_FUZZ_SECONDS:-30}"
name="$(basename "$fuzzer")"

mkdir -p "$work/corpus" "$work/artifacts" || exit 2
# Seeds the corpus lacks (not cp -n: its exit status for a skipped file differs between
# coreutils versions).
for seed in "$seeds"/*; do
  [[ -e "$work/corpus/${seed##*/}" ]] || cp "$seed" "$work/corpus/" || exit 2
done
inputs=("$work/corpus" "$seeds")
for dir in "$@"; do
  [[ -d "$dir" ]] && inputs+=("$dir")
done

log="$work/last-run.log"
marker="$work/.run-started"
touch "$marker"
echo "$name: fuzzing for ${seconds} s; corpus $work/corpus, log $log"
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" "${inputs[@]}" >"$log" 2>&1
status=$?

# The last lines tell what broke, if anything, and the final stats how much ran (without the
# dictionary libFuzzer recommends, which is long and rarely read).
sed '/^###### Recommended dictionary/,/^###### End of recommended dictionary/d' "$log" | tail -n 40
runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
if ((status == 0)); then
  # Also at the end of the log: `tail -n1 build-fuzz/tests/fuzz/*/last-run.log` sums up a run.
  echo "$name: ${runs:-?} executions in ${seconds} s (${rate:-?}/s), $(ls "$work/corpus" | wc -l) inputs in the corpus, nothing found" | tee -a "$log"
  exit 0
fi
echo "$name: FAILED (exit status $status) after ${runs:-?} executions" | tee -a "$log"
found=0
while IFS= read -r artifact; do
  found=1
  echo "$name: input that broke it: $artifact"
  echo "  reproduce: $fuzzer $artifact"
  echo "  once fixed, keep it as a regression input: tests/fuzz/regressions/${name#fuzz_}/"
done < <(find "$work/artifacts" -type f -newer "$marker" | sort)
((found)) || echo "$name: no input saved; see $log"
exit 1
