#!/bin/sh
# Fails when any streambridge shared-memory segment is left in /dev/shm after the test suite:
# every creator must unlink what it made, also on error paths and after a killed writer.
left=$(ls /dev/shm 2>/dev/null | grep '^streambridge-' || true)
if [ -n "$left" ]; then
    echo "leftover shm segments:"; echo "$left"
    exit 1
fi
echo "no streambridge segment left in /dev/shm"
