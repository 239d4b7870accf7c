#!/bin/bash
# tools/setup.sh - installs what streambridge needs on Debian 12, only what is missing.
# Idempotent: a second run installs nothing and touches nothing.
#
#   Debian packages: compilers (gcc; clang with libFuzzer for tests/fuzz), CMake + Ninja, VTK 9
#                    (C++ and python3-vtk9), TurboJPEG, libavcodec/libswscale (H.264 via
#                    libx264, VP8 via libvpx), civetweb, CUnit, Xvfb + Mesa (llvmpipe
#                    rendering), Chromium (browser tests), Node.js, Janus (the WebRTC
#                    gateway: tools/janus-local.sh, docs/webrtc.md); for the Python package's
#                    tests: pytest, pip + setuptools (offline pip install), the notebook stack
#                    (jupyter-notebook, nbclient, ipykernel), nginx-light and openssl (proxies).
#   npm:             tests/browser's pinned dev dependencies (playwright-core; no browser download).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev
  libvtk9-dev python3-vtk9
  libturbojpeg0-dev libcivetweb-dev libcunit1-dev
  libavcodec-dev libavutil-dev libswscale-dev
  xvfb xauth libgl1-mesa-dri libglx-mesa0
  chromium
  janus libjs-janus-gateway
  python3-pytest python3-pip python3-setuptools python3-venv
  jupyter-notebook python3-nbclient python3-ipykernel nginx-light openssl
)
# Node.js: the machine may already have one from outside Debian (a nodejs build that bundles npm
# and conflicts with Debian's npm package); any node >= 18 with npm will do, so Debian's packages
# are installed only when the commands are missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  # Debian's python3-paraview conflicts with python3-vtk9 (both ship the Python package
  # vtkmodules): apt would remove it to install ours. Never do that to anyone's machine; the
  # paraview package itself (pvpython, pvbatch, the GUI) installs beside libvtk9-dev and is fine.
  if [[ " ${missing[*]} " == *" python3-vtk9 "* ]] &&
     dpkg-query -W -f='${Status}' python3-paraview 2>/dev/null | grep -q "install ok installed"; then
    echo "setup: Debian's 'python3-paraview' is installed and conflicts with python3-vtk9 (both" >&2
    echo "setup: ship vtkmodules); installing python3-vtk9 would remove it, so nothing was changed." >&2
    echo "setup: remove it yourself (apt-get remove python3-paraview) if you want to go on." >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

# Browser-test tooling from npm, pinned by package-lock.json. Reinstalled only when the lock
# changed since the last install (npm ci writes node_modules/.package-lock.json).
browser="$root/tests/browser"
if [[ -f "$browser/package-lock.json" ]]; then
  if [[ ! -f "$browser/node_modules/.package-lock.json" ||
        "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]]; then
    echo "setup: installing browser-test tooling (npm ci in tests/browser)"
    (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "setup: browser-test tooling present"
  fi
fi
