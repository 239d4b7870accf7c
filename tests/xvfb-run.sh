#!/bin/sh
# Runs a command under its own Xvfb server (24-bit 1920x1080 screen), so rendering tests work
# headless and in parallel. Mesa llvmpipe renders; Debian's VTK has no EGL.
#
# Xvfb picks its display number itself (-displayfd): xvfb-run -a probes lock files and then
# starts the server, so two runs starting together can both pick the same number, and one test
# then runs on the other's server and dies when that one exits ("bad X server connection").
# -noreset: by default Xvfb resets itself when its last client disconnects, and a client that
# connects during that reset fails; tests open and close windows back to back.
set -u
dir=$(mktemp -d "${TMPDIR:-/tmp}/sb-xvfb.XXXXXX") || exit 1
Xvfb -displayfd 3 -noreset -screen 0 1920x1080x24 -nolisten tcp 3>"$dir/display" 2>"$dir/log" &
xvfb_pid=$!
cleanup() {
    kill "$xvfb_pid" 2>/dev/null
    wait "$xvfb_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The server writes the display number once it accepts connections (up to 60 s: a loaded machine
# is slow, not broken; 0.05 s is the poll interval).
tries=0
while [ ! -s "$dir/display" ]; do
    if ! kill -0 "$xvfb_pid" 2>/dev/null || [ "$tries" -ge 1200 ]; then
        echo "xvfb-run.sh: Xvfb did not start:" >&2
        cat "$dir/log" >&2
        exit 1
    fi
    tries=$((tries + 1))
    sleep 0.05
done
DISPLAY=":$(head -n1 "$dir/display")"
export DISPLAY
"$@"
