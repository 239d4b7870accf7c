#!/bin/bash
# tools/paraview-python.sh DIR - a private copy of Debian's python3-paraview, unpacked into DIR.
#
# Debian's python3-paraview (ParaView's Python modules: paraview.simple, its own vtkmodules) cannot
# be installed beside python3-vtk9, which this project needs (both ship vtkmodules). Unpacked
# privately it serves two things without touching the system:
#   - pvbatch/pvpython scripts: PYTHONPATH=DIR/usr/lib/python3/dist-packages (tests/paraview/);
#   - the plugin's build: paraview-dev's CMake files name the VTK wrapping hierarchy files that
#     only python3-paraview ships (plugin/paraview/CMakeLists.txt).
# The copy matches the installed paraview's version and is reused while it does. Prints the root
# of the copy (DIR/root) on stdout; messages go to stderr. Exit 1 when paraview is not installed
# or the package cannot be fetched.
set -euo pipefail
dir="${1:?usage: $0 DIR}"
version="$(dpkg-query -W -f='${Version}' paraview 2>/dev/null || true)"
if [[ -z "$version" ]]; then
  echo "paraview-python: Debian's paraview is not installed" >&2
  exit 1
fi
stamp="$dir/root/.version"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$version" &&
      -f "$dir/root/usr/lib/python3/dist-packages/paraview/simple.py" ]]; then
  echo "$dir/root"
  exit 0
fi
mkdir -p "$dir"
work="$(mktemp -d "$dir/fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "paraview-python: fetching python3-paraview=$version into $dir" >&2
# apt-get download writes into the current directory, as the _apt user when it can.
chmod 0777 "$work"
if ! (cd "$work" && apt-get download -q "python3-paraview=$version" >&2); then
  echo "paraview-python: could not download python3-paraview=$version (apt-get update?)" >&2
  exit 1
fi
rm -rf "$dir/root"
dpkg-deb -x "$work"/python3-paraview_*.deb "$dir/root"
echo "$version" > "$stamp"
echo "$dir/root"
