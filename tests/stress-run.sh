#!/bin/bash
# tests/stress-run.sh [args...] - tests/run.sh on a loaded machine: two CPU burners run beside it
# for the whole run, so a test that depends on the machine's speed fails here instead of on a
# cold CI machine (tests/README.md). Arguments and the environment go to tests/run.sh unchanged
# (e.g. SB_CTEST_JOBS=4 SB_SKIP_ASAN=1 tests/stress-run.sh); the exit status is tests/run.sh's.
# The burners are stopped at the end, also on Ctrl-C or SIGTERM.
#   SB_STRESS_BURNERS=N burns N CPUs instead of 2.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Job control: tests/run.sh and the burners each get a process group of their own, so a signal
# can be passed on to tests/run.sh with everything it started (ctest, the tests), and the
# burners do not ignore signals as plain background commands of a script do.
set -m
burners=()
run_pid=
stop_burners() {
  ((${#burners[@]})) || return 0
  kill "${burners[@]}" 2>/dev/null
  wait "${burners[@]}" 2>/dev/null
  burners=()
}
# Ctrl-C or SIGTERM: pass it on to tests/run.sh's process group, wait for it, stop the burners.
on_signal() {
  local sig=$1 code=$2
  [[ -n "$run_pid" ]] && kill -"$sig" -- -"$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
  stop_burners
  exit "$code"
}
trap stop_burners EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

for _ in $(seq "${SB_STRESS_BURNERS:-2}"); do
  # A busy loop of the shell itself: one process per CPU, nothing to install, stopped by pid.
  (while :; do :; done) &
  burners+=($!)
done
echo "stress-run.sh: ${#burners[@]} CPU burners running (pids ${burners[*]}) beside tests/run.sh"

"$root/tests/run.sh" "$@" &
run_pid=$!
wait "$run_pid"
status=$?
run_pid=
stop_burners
echo "stress-run.sh: tests/run.sh exited with $status"
exit "$status"
