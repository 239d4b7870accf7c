#!/bin/sh
# Fails when a streambridge shared-memory segment is left in /dev/shm after the test suite:
# every creator must unlink what it made, also on error paths and after a killed writer.
# A segment that a live process still maps is in use, not left behind (another test run, a demo
# or an application on the same machine shares /dev/shm), so only unmapped ones count. This runs
# as ctest's fixture cleanup, after every test of this run has exited.
left=""
for path in /dev/shm/streambridge-*; do
    [ -e "$path" ] || continue
    if grep -qsF "$path" /proc/[0-9]*/maps; then
        echo "in use by a running process, not counted: $path"
        continue
    fi
    left="$left $path"
done
if [ -n "$left" ]; then
    echo "leftover shm segments (no process maps them):"
    for path in $left; do echo "  $path"; done
    exit 1
fi
echo "no streambridge segment left in /dev/shm"
