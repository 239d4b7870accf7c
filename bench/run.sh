#!/bin/bash
# bench/run.sh - builds (tools/build.sh, into build/) and runs every benchmark, printing their
# tables: the figures quoted in README.md come from one such run. Benchmarks never fail on their
# numbers; on a shared 2-core machine compare the ratios printed within one run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SB_BUILD_DIR:-$root/build}"
"$root/tools/setup.sh" >/dev/null
"$root/tools/build.sh" "$build" >/dev/null
echo "== frame ring / event queue transport (bench_transport)"
"$build/bench/bench_transport" "${SB_BENCH_TRANSPORT_ITERS:-300}"
echo
echo "== capture on the render thread (bench_capture, Mesa llvmpipe under Xvfb)"
"$root/tests/xvfb-run.sh" "$build/bench/bench_capture"
echo
echo "== web server: 1/8/32 WebSocket clients at 1280x720 (bench_server)"
"$build/bench/bench_server" "${SB_BENCH_SERVER_SECONDS:-4}"
echo
echo "== input to new frame over /ws, in parts (bench_latency, the basic demo at 640x480 under Xvfb)"
"$root/tests/xvfb-run.sh" "$build/bench/bench_latency" --iters "${SB_BENCH_LATENCY_ITERS:-300}"
echo
echo "== streaming's cost to the application: bare vs 0/1/8 viewers, sync vs async readback (bench_overhead, under Xvfb)"
"$root/tests/xvfb-run.sh" "$build/bench/bench_overhead" --seconds "${SB_BENCH_OVERHEAD_SECONDS:-2}" --rounds "${SB_BENCH_OVERHEAD_ROUNDS:-6}"
echo
echo "== JPEG vs H.264 vs VP8 on a rotating demo scene at 720p and 1080p: bytes, PSNR, encode, publish -> decoded (bench_video, under Xvfb)"
"$root/tests/xvfb-run.sh" "$build/bench/bench_video" --scene "${SB_BENCH_VIDEO_SCENE:-basic}"
