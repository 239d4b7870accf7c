#!/bin/bash
# examples/demo.sh - sets up, builds and serves the streambridge demo scenes; prints their URLs.
#
#   examples/demo.sh                    # all three scenes on 127.0.0.1:8000, the picker at /
#   examples/demo.sh --scene network    # one scene on :8000
#   examples/demo.sh --webrtc           # the basic scene also over WebRTC via a local Janus
#
# On a fresh Debian 12 machine it first installs what is missing (tools/setup.sh) and builds
# (tools/build.sh, into build/ or $SB_BUILD_DIR). Without a DISPLAY it starts its own Xvfb.
# Ctrl-C or SIGTERM stops everything it started: the demos (which unlink their shm segments),
# then Xvfb. Environment: SB_BUILD_DIR (build directory), SB_DEMO_BINARY (use this
# streambridge-demo as is: no setup, no build), SB_DEMO_ARGS (extra arguments for every demo),
# SB_SERVER_BINARY (--webrtc: the streambridge-server to use; default: beside the demo's build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

port=8000
bind=127.0.0.1
scene=all
token=
origins=()
webrtc=0
usage() {
  cat <<'USAGE'
usage: examples/demo.sh [--port P] [--bind ADDR] [--scene basic|network|science|all] [--token T]
                        [--allow-origin ORIGIN]... [--webrtc]
  --port P      TCP port (default 8000); --scene all serves the three scenes on it: a picker
                at /, each scene at /v/basic/, /v/network/, /v/science/
  --bind ADDR   listen address (default 127.0.0.1: this machine only)
  --scene S     which scene to serve (default all)
  --token T     require access token T (the printed URLs carry it)
  --allow-origin O  public origin of a reverse proxy in front (https://viz.example.org),
                repeatable: its Host and Origin are accepted (docs/deploying.md)
  --webrtc      also over WebRTC: a local Janus (tools/janus-local.sh) fed by
                streambridge-server's RTP sender; one scene (default basic: the RTP stream is
                the server's default stream); the URL opens ?webrtc=1 (docs/webrtc.md)
  --help        this text
Stop with Ctrl-C.
USAGE
}
while (($#)); do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --bind) bind="${2:?--bind needs a value}"; shift 2 ;;
    --scene) scene="${2:?--scene needs a value}"; shift 2 ;;
    --token) token="${2:?--token needs a value}"; shift 2 ;;
    --allow-origin) origins+=(--allow-origin "${2:?--allow-origin needs a value}"); shift 2 ;;
    --webrtc) webrtc=1; shift ;;
    --help|-h) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if ((webrtc)) && [[ "$scene" == all ]]; then
  scene=basic # one mountpoint carries one stream: the server's default
fi
case "$scene" in
  # One demo process serves every scene on one port (streambridge-demo --scene all).
  all|basic|network|science) scenes=("$scene") ;;
  *) echo "demo.sh: unknown scene '$scene' (basic, network, science or all)" >&2; exit 2 ;;
esac
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  echo "demo.sh: invalid --port '$port'" >&2; exit 2
fi

if [[ -n "${SB_DEMO_BINARY:-}" ]]; then
  demo="$SB_DEMO_BINARY"
else
  build="${SB_BUILD_DIR:-$root/build}"
  "$root/tools/setup.sh"
  "$root/tools/build.sh" "$build"
  demo="$build/examples/streambridge-demo"
fi
[[ -x "$demo" ]] || { echo "demo.sh: $demo is missing or not executable" >&2; exit 1; }
if ((webrtc)); then
  server_bin="${SB_SERVER_BINARY:-$(dirname "$demo")/../server/streambridge-server}"
  [[ -x "$server_bin" ]] || { echo "demo.sh: --webrtc needs streambridge-server ($server_bin)" >&2; exit 1; }
fi

work="$(mktemp -d /tmp/streambridge-demo.XXXXXX)"
pids=()
xvfb_pid=
tail_pid=
cleanup() {
  trap - INT TERM EXIT
  [[ -n "$tail_pid" ]] && kill "$tail_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$xvfb_pid" ]]; then
    kill -TERM "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

if [[ -z "${DISPLAY:-}" ]]; then
  command -v Xvfb >/dev/null || { echo "demo.sh: no DISPLAY and no Xvfb (apt-get install xvfb)" >&2; exit 1; }
  # -displayfd: Xvfb picks a free display number itself and writes it to us once it is ready.
  Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
  xvfb_pid=$!
  for _ in $(seq 100); do
    [[ -s "$work/display" ]] && break
    kill -0 "$xvfb_pid" 2>/dev/null || { cat "$work/xvfb.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -s "$work/display" ]] || { echo "demo.sh: Xvfb did not start" >&2; exit 1; }
  export DISPLAY=":$(head -n1 "$work/display")"
  echo "demo.sh: started Xvfb on $DISPLAY (pid $xvfb_pid)"
fi

extra=()
[[ -n "$token" ]] && extra+=(--token "$token")
extra+=("${origins[@]}")
# shellcheck disable=SC2206
[[ -n "${SB_DEMO_ARGS:-}" ]] && extra+=($SB_DEMO_ARGS)
if ((webrtc)); then
  # The scene's frames go through shared memory to a streambridge-server whose RTP sender feeds
  # the local Janus's mountpoint (the demo itself serves nothing).
  "$root/tools/janus-local.sh" >"$work/janus.out" 2>"$work/janus.log" &
  janus_pid=$!
  pids+=("$janus_pid")
  for _ in $(seq 600); do
    grep -q 'janus-local: ready' "$work/janus.out" 2>/dev/null && break
    kill -0 "$janus_pid" 2>/dev/null || { echo "demo.sh: Janus failed to start:" >&2; cat "$work/janus.log" >&2; exit 1; }
    sleep 0.1
  done
  grep -q 'janus-local: ready' "$work/janus.out" || { echo "demo.sh: Janus did not start within 60 s" >&2; exit 1; }
  mp="$(grep 'mountpoint id=1 ' "$work/janus.out")"
  field() { sed "s/.* $1=\([^ ]*\).*/\1/" <<<"$mp"; }
  echo "demo.sh: Janus at $(field url) (log: $work/janus.log)"
  s="${scenes[0]}"
  # shellcheck disable=SC2086
  "$demo" --scene "$s" --shm "sbdemo-$s-$$" --no-serve ${SB_DEMO_ARGS:-} >"$work/$s.demo.log" 2>&1 &
  pids+=($!)
  server_args=(--name "sbdemo-$s-$$" --wait --port "$port" --bind "$bind" "${origins[@]}"
               --rtp-host 127.0.0.1 --rtp-port "$(field video_port)" --rtp-rtcp-port "$(field rtcp_port)"
               --rtp-janus-url "$(field url)" --rtp-mountpoint-id "$(field id)")
  [[ -n "$token" ]] && server_args+=(--token "$token")
  "$server_bin" "${server_args[@]}" >"$work/$s.log" 2>&1 &
  pids+=($!)
  url_pids=($!) # its URL line is the one waited for below
else
  for s in "${scenes[@]}"; do
    "$demo" --scene "$s" --port "$port" --bind "$bind" "${extra[@]}" >"$work/$s.log" 2>&1 &
    pids+=($!)
  done
  url_pids=("${pids[@]}")
fi

# Wait for every demo's URL line (or its early death).
urls=()
for idx in "${!scenes[@]}"; do
  s="${scenes[$idx]}"
  url=
  for _ in $(seq 600); do
    url="$(grep -o 'http://[^ ]*' "$work/$s.log" 2>/dev/null | head -n1 || true)"
    [[ -n "$url" ]] && break
    if ! kill -0 "${url_pids[$idx]}" 2>/dev/null; then
      echo "demo.sh: scene $s failed to start:" >&2; cat "$work/$s.log" >&2; exit 1
    fi
    sleep 0.1
  done
  [[ -n "$url" ]] || { echo "demo.sh: scene $s printed no URL within 60 s" >&2; cat "$work/$s.log" >&2; exit 1; }
  if [[ "$s" == all ]]; then
    # The picker's URL first, then each scene's (the demo prints one line per scene).
    for _ in $(seq 600); do
      (($(grep -c 'http://' "$work/$s.log") >= 4)) && break
      sleep 0.1
    done
    while read -r line; do
      urls+=("$line")
    done < <(grep -o '\(scenes\? [a-z, ]*\) at http://[^ ]*' "$work/$s.log" | sed 's/ at /  /')
  elif ((webrtc)); then # streambridge-server prints its URL without the token
    urls+=("$s  $url?${token:+token=$token&}webrtc=1")
  else
    urls+=("$s  $url")
  fi
done
echo "demo.sh: serving (Ctrl-C stops):"
for u in "${urls[@]}"; do echo "  $u"; done

# Forward each demo's later output, and stop everything as soon as one of them exits.
logs=()
for s in "${scenes[@]}"; do logs+=("$work/$s.log"); done
tail -n 0 -q -f "${logs[@]}" &
tail_pid=$!
status=0
wait -n "${pids[@]}" || status=$?
echo "demo.sh: a demo exited (status $status); stopping the others" >&2
exit "$status"
