#!/bin/sh
# Runs a command under its own Xvfb server (a free display number, 24-bit 1920x1080 screen), so
# rendering tests work headless and in parallel. Mesa llvmpipe renders; Debian's VTK has no EGL.
set -e
exec xvfb-run -a -s "-screen 0 1920x1080x24 -nolisten tcp" "$@"
