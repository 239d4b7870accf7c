#!/bin/bash
# tools/janus-local.sh - runs a private Janus WebRTC gateway for loopback use: a generated
# configuration in a temporary directory (only the streaming plugin and the HTTP transport, ICE
# on loopback only, no STUN/TURN, the HTTP API on a free port of 127.0.0.1) with one RTP
# mountpoint per --mountpoints that streambridge feeds (docs/webrtc.md). Used by the tests and by
# examples/demo.sh --webrtc; for a real deployment see docs/webrtc.md.
#
#   tools/janus-local.sh [--codec h264|vp8] [--mountpoints N] [--pt PT]
#
# Once the HTTP API answers it prints one line per mountpoint and then "janus-local: ready":
#   janus-local: mountpoint id=1 video_port=P rtcp_port=Q pt=96 codec=h264 secret=S url=http://127.0.0.1:H/janus
# and runs until SIGINT/SIGTERM (stops Janus, removes the directory). Janus's own log goes to
# stderr. Exit 1 when janus is not installed (tools/setup.sh installs it) or does not start.
set -euo pipefail

codec=h264
mountpoints=1
pt=96
while (($#)); do
  case "$1" in
    --codec) codec="${2:?--codec needs a value}"; shift 2 ;;
    --mountpoints) mountpoints="${2:?--mountpoints needs a value}"; shift 2 ;;
    --pt) pt="${2:?--pt needs a value}"; shift 2 ;;
    --help|-h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "janus-local: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$codec" in h264|vp8) ;; *) echo "janus-local: --codec must be h264 or vp8" >&2; exit 2 ;; esac
[[ "$mountpoints" =~ ^[0-9]+$ ]] && ((mountpoints >= 1 && mountpoints <= 64)) ||
  { echo "janus-local: --mountpoints must be 1..64" >&2; exit 2; }
[[ "$pt" =~ ^[0-9]+$ ]] && ((pt >= 96 && pt <= 127)) ||
  { echo "janus-local: --pt must be 96..127" >&2; exit 2; }

janus_bin="$(command -v janus || true)"
[[ -n "$janus_bin" ]] || { echo "janus-local: janus is not installed (tools/setup.sh installs it)" >&2; exit 1; }
# The package's module folders (multiarch path), found through the package itself.
plugin="$(dpkg -L janus 2>/dev/null | grep '/janus/plugins/libjanus_streaming\.so$' | head -n1)"
transport="$(dpkg -L janus 2>/dev/null | grep '/janus/transports/libjanus_http\.so$' | head -n1)"
[[ -f "$plugin" && -f "$transport" ]] ||
  { echo "janus-local: the janus package lacks libjanus_streaming.so or libjanus_http.so" >&2; exit 1; }

dir="$(mktemp -d /tmp/janus-local.XXXXXX)"
janus_pid=
cleanup() {
  trap - INT TERM EXIT
  if [[ -n "$janus_pid" ]]; then
    kill -TERM "$janus_pid" 2>/dev/null || true
    wait "$janus_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

# Free ports, chosen by the kernel (bind to port 0). Janus binds them a moment later: another
# process taking one in between makes Janus fail to start, which is reported below.
free_ports() { # KIND COUNT
  /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == 'tcp' else socket.SOCK_DGRAM
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(('127.0.0.1', 0))
    socks.append(s)
print(' '.join(str(s.getsockname()[1]) for s in socks))
PY
}
read -r http_port < <(free_ports tcp 1)
read -r -a udp < <(free_ports udp $((2 * mountpoints)))

# Only the streaming plugin and the HTTP transport: folders holding just those two.
mkdir -p "$dir/plugins" "$dir/transports" "$dir/none"
ln -s "$plugin" "$dir/plugins/"
ln -s "$transport" "$dir/transports/"

cat >"$dir/janus.jcfg" <<EOF
general: {
	configs_folder = "$dir"
	plugins_folder = "$dir/plugins"
	transports_folder = "$dir/transports"
	events_folder = "$dir/none"
	loggers_folder = "$dir/none"
	debug_level = 3
	session_timeout = 60
	server_name = "streambridge-janus-local"
}
certificates: {
	# none: Janus generates a self-signed DTLS certificate at start (what WebRTC needs)
}
media: {
	ipv6 = false
}
nat: {
	# Loopback only, no STUN/TURN: browsers on this machine reach it, nothing else does.
	ice_enforce_list = "127.0.0.1"
	nice_debug = false
}
plugins: {
}
transports: {
}
events: {
	broadcast = false
}
EOF

cat >"$dir/janus.transport.http.jcfg" <<EOF
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	port = $http_port
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
}
cors: {
	# The page is served by streambridge (another origin): Janus answers it with
	# Access-Control-Allow-Origin: * (the API is loopback-only here).
}
EOF

secret="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
fmtp=
[[ "$codec" == h264 ]] && fmtp='videofmtp = "profile-level-id=42e01f;packetization-mode=1"'
{
  echo 'general: {'
  echo '}'
  for ((i = 0; i < mountpoints; i++)); do
    cat <<EOF
streambridge-$((i + 1)): {
	type = "rtp"
	id = $((i + 1))
	description = "streambridge $((i + 1))"
	audio = false
	video = true
	videoport = ${udp[$((2 * i))]}
	videortcpport = ${udp[$((2 * i + 1))]}
	videoiface = "127.0.0.1"
	videopt = $pt
	videocodec = "$codec"
	$fmtp
	videobufferkf = true
	secret = "$secret"
}
EOF
  done
} >"$dir/janus.plugin.streaming.jcfg"

"$janus_bin" --configs-folder="$dir" --config="$dir/janus.jcfg" --disable-colors >&2 &
janus_pid=$!

url="http://127.0.0.1:$http_port/janus"
for _ in $(seq 1 600); do
  if ! kill -0 "$janus_pid" 2>/dev/null; then
    janus_pid=
    echo "janus-local: janus exited before its HTTP API answered (see its log above)" >&2
    exit 1
  fi
  if curl -sf -o /dev/null "$url/info"; then
    for ((i = 0; i < mountpoints; i++)); do
      echo "janus-local: mountpoint id=$((i + 1)) video_port=${udp[$((2 * i))]}" \
           "rtcp_port=${udp[$((2 * i + 1))]} pt=$pt codec=$codec secret=$secret url=$url"
    done
    echo "janus-local: ready"
    wait "$janus_pid" || true
    janus_pid=
    echo "janus-local: janus exited" >&2
    exit 1
  fi
  sleep 0.1
done
echo "janus-local: the HTTP API did not answer within 60 s" >&2
exit 1
