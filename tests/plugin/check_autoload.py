#!/usr/bin/python3
"""check_autoload.py - runs an unmodified VTK application (cone_app.cxx or cone_app.py) with the
streambridge autoload plugin in VTK_AUTOLOAD_PATH and checks what it serves.

    check_autoload.py --plugin-dir DIR [--disabled | --exit-keys refused|allowed]
                      [--readback sync|async] -- APP [ARGS...]

The app gets "WIDTH HEIGHT QUIT_FILE MAX_SECONDS" appended; it prints "ready <interactor class>"
once its interactor is initialized, and exits when QUIT_FILE appears.
Enabled: the interactor must be the plugin's, /healthz must answer 200 and /snapshot.jpg must be
a JPEG of the window's size, on the port given in STREAMBRIDGE_PORT.
--disabled (STREAMBRIDGE_DISABLE=1): VTK's own interactor and nothing listening on that port.
--exit-keys: once it streams, a viewer types VTK's exit keys (q, e, Q, E) over /ws. "refused"
(the default settings): the plugin logs that it swallowed the request and the app keeps running.
"allowed" (STREAMBRIDGE_ALLOW_EXIT=1): the app's event loop ends and it exits by itself.
--readback sync|async sets STREAMBRIDGE_READBACK: with async, the window's frame (the app renders
once and then idles) reaches /snapshot.jpg only through the interactor timer's flush.
Either way the app must then exit normally (status 0) when asked to.
--view-token (STREAMBRIDGE_TOKEN and STREAMBRIDGE_VIEW_TOKEN set): /access tells each token's
access (full, view) and a request without one is refused. Prints OK on success."""

import argparse
import base64
import http.client
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

WIDTH, HEIGHT = 320, 200
PLUGIN_INTERACTOR = "sbStreamingInteractor"
VTK_INTERACTOR = "vtkXRenderWindowInteractor"


class Failure(Exception):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jpeg_size(data):
    """(width, height) from the first SOFn marker of a JPEG, or None."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2) and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


# How long a condition may take before the check calls it failed (tests/README.md): generous, so
# a loaded machine is slow, not failing.
DEADLINE_S = 60


def get(url, timeout=DEADLINE_S / 2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def wait_for_ready(proc, lines, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            if line.startswith("ready "):
                return line.split()[1]
        if proc.poll() is not None:
            raise Failure(f"the app exited with status {proc.returncode} before it was ready")
        time.sleep(0.05)  # poll interval
    raise Failure(f"the app was not ready after {timeout} s")


def wait_for_status(url, wanted):
    """Polls url until it answers `wanted` or DEADLINE_S passed; returns the last status (or
    error)."""
    deadline = time.monotonic() + DEADLINE_S
    status = None
    while time.monotonic() < deadline:
        try:
            status = get(url)[0]
        except urllib.error.HTTPError as e:
            status = e.code
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            status = e
        if status == wanted:
            break
        time.sleep(0.1)  # poll interval
    return status


def check_streaming(port, stderr_lines):
    base = f"http://127.0.0.1:{port}"
    status = wait_for_status(base + "/healthz", 200)
    if status != 200:
        raise Failure(f"/healthz never answered 200 on port {port} (last: {status})")
    # The first frame may still be encoding (the server waits 2 s at most before a 503).
    status = wait_for_status(base + "/snapshot.jpg", 200)
    if status != 200:
        raise Failure(f"/snapshot.jpg never answered 200 on port {port} (last: {status})")
    status, ctype, body = get(base + "/snapshot.jpg")
    if status != 200 or not ctype.startswith("image/jpeg"):
        raise Failure(f"/snapshot.jpg answered {status} {ctype!r}")
    size = jpeg_size(body)
    if size != (WIDTH, HEIGHT):
        raise Failure(f"/snapshot.jpg is {size} ({len(body)} bytes), expected {(WIDTH, HEIGHT)}")
    wanted = f"streambridge: streaming render window 1 "
    if not any(wanted in l and f":{port}/" in l for l in stderr_lines):
        raise Failure(f"no '{wanted}... :{port}/' line on stderr")
    print(f"snapshot {size[0]}x{size[1]}, {len(body)} bytes from port {port}")


FULL_TOKEN, VIEW_TOKEN = "plugin-full", "plugin-view"


def check_view_token(port):
    base = f"http://127.0.0.1:{port}"
    status = wait_for_status(f"{base}/healthz?token={FULL_TOKEN}", 200)
    if status != 200:
        raise Failure(f"/healthz with the token never answered 200 on port {port} (last: {status})")
    for token, access in ((FULL_TOKEN, b'"full"'), (VIEW_TOKEN, b'"view"')):
        status, ctype, body = get(f"{base}/access?token={token}")
        if status != 200 or access not in body:
            raise Failure(f"/access?token={token} answered {status} {body!r}, expected {access!r}")
    status = wait_for_status(f"{base}/healthz", 401)
    if status != 401:
        raise Failure(f"/healthz without a token answered {status}, expected 401")
    print("STREAMBRIDGE_VIEW_TOKEN: the view token watches, the token drives, none is refused")


def status_with_host(port, host):
    """GET /healthz with a chosen Host header, as a reverse proxy that keeps it forwards."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S / 2)
    conn.putrequest("GET", "/healthz", skip_host=True)
    conn.putheader("Host", host)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def check_allowed_origin(port, origin):
    """STREAMBRIDGE_ALLOWED_ORIGINS=origin: its host is accepted as Host, a stranger's is not."""
    public_host = origin.split("://", 1)[1]
    if status_with_host(port, public_host) != 200:
        raise Failure(f"Host {public_host} refused although {origin} is allowed")
    if status_with_host(port, "stranger.example") != 403:
        raise Failure("Host stranger.example was not refused")
    print(f"STREAMBRIDGE_ALLOWED_ORIGINS={origin}: its Host accepted, a stranger's refused")


def check_not_serving(port, stderr_lines):
    if not any("streaming disabled by STREAMBRIDGE_DISABLE" in l for l in stderr_lines):
        raise Failure("the plugin did not log that it is disabled (was it loaded?)")
    for _ in range(10):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                raise Failure(f"something listens on port {port} although streaming is disabled")
        except ConnectionRefusedError:
            pass
        time.sleep(0.1)  # grace: a late listener would show up within these probes
    print(f"nothing listens on port {port}")


# ---- a minimal WebSocket viewer (docs/wire-protocol.md): what the exit-key check needs ----------

def ws_connect(port, path="/"):
    """A viewer of the stream at path ("/": the default stream, "/v/NAME/": a named one)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path}ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise Failure("/ws closed the connection during the upgrade")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise Failure(f"/ws upgrade answered {status!r}")
    return sock, head.split(b"\r\n\r\n", 1)[1]


def ws_send(sock, payload):
    """One masked binary message (client messages are short: < 126 bytes)."""
    mask = os.urandom(4)
    sock.sendall(bytes([0x82, 0x80 | len(payload)]) + mask +
                 bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def ws_read_message(sock, pending):
    """(opcode, payload, rest) of the next server message (unmasked, unfragmented)."""
    def need(n):
        nonlocal pending
        while len(pending) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise Failure("/ws closed the connection")
            pending += chunk
    need(2)
    opcode, length, at = pending[0] & 0x0F, pending[1] & 0x7F, 2
    if length == 126:
        need(4)
        length, at = struct.unpack(">H", pending[2:4])[0], 4
    elif length == 127:
        need(10)
        length, at = struct.unpack(">Q", pending[2:10])[0], 10
    need(at + length)
    return opcode, pending[at:at + length], pending[at + length:]


def type_exit_keys(port):
    """Connects as a viewer, waits for a first frame, then types q, e, Q, E, each as key press,
    char and key release. Returns the open socket: closing it while frames it has not read are
    in flight would reset the connection and could discard keys the server has not read yet."""
    sock, pending = ws_connect(port)
    ws_send(sock, struct.pack("<BBHII", 1, 1, 0, WIDTH, HEIGHT))  # HELLO
    while True:
        opcode, payload, pending = ws_read_message(sock, pending)
        if opcode == 2 and payload[:1] == b"\x53":
            break
    for ch in "qeQE":
        for event_type in (5, 7, 6):  # KEY_PRESS, CHAR, KEY_RELEASE
            record = bytearray(80)
            struct.pack_into("<BBBBffII", record, 0, 3, event_type, 0, 0,
                             WIDTH / 2, HEIGHT / 2, WIDTH, HEIGHT)
            struct.pack_into("<I", record, 24, ord(ch))
            record[48] = ord(ch)  # keysym "q": NUL-terminated, NUL-padded
            ws_send(sock, bytes(record))
    print("typed q, e, Q, E over /ws")
    return sock


def check_exit_keys_refused(proc, port, stderr_lines):
    with type_exit_keys(port):
        wait_exit_refused(proc, port, stderr_lines)
    print("the app refused the viewer's exit keys and still serves")


def wait_exit_refused(proc, port, stderr_lines):
    deadline = time.monotonic() + DEADLINE_S
    while not any("asked the application to exit" in l for l in stderr_lines):
        if proc.poll() is not None:
            raise Failure(f"the app exited (status {proc.returncode}) after a viewer's exit keys")
        if time.monotonic() > deadline:
            raise Failure(f"no 'asked the application to exit' line on stderr within {DEADLINE_S} s")
        time.sleep(0.05)  # poll interval
    if proc.poll() is not None:
        raise Failure(f"the app exited (status {proc.returncode}) after a viewer's exit keys")
    if get(f"http://127.0.0.1:{port}/healthz")[0] != 200:
        raise Failure("/healthz stopped answering 200 after a viewer's exit keys")


def check_exit_keys_allowed(proc, port):
    with type_exit_keys(port):
        try:
            rc = proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            raise Failure(f"STREAMBRIDGE_ALLOW_EXIT=1: the app still runs {DEADLINE_S} s after a viewer's 'q'")
    if rc != 0:
        raise Failure(f"the app exited with status {rc} after a viewer's 'q'")
    print("STREAMBRIDGE_ALLOW_EXIT=1: a viewer's 'q' ended the app's event loop")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--disabled", action="store_true")
    parser.add_argument("--exit-keys", choices=["refused", "allowed"])
    parser.add_argument("--view-token", action="store_true")
    parser.add_argument("--readback", choices=["sync", "async"])
    parser.add_argument("--allowed-origin", help="set STREAMBRIDGE_ALLOWED_ORIGINS and check it")
    parser.add_argument("app", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    app = args.app[1:] if args.app[:1] == ["--"] else args.app

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMBRIDGE_")}
    env["VTK_AUTOLOAD_PATH"] = args.plugin_dir
    env["STREAMBRIDGE_PORT"] = str(port)
    if args.disabled:
        env["STREAMBRIDGE_DISABLE"] = "1"
    if args.exit_keys == "allowed":
        env["STREAMBRIDGE_ALLOW_EXIT"] = "1"
    if args.view_token:
        env["STREAMBRIDGE_TOKEN"] = FULL_TOKEN
        env["STREAMBRIDGE_VIEW_TOKEN"] = VIEW_TOKEN
    if args.readback:
        env["STREAMBRIDGE_READBACK"] = args.readback
    if args.allowed_origin:
        env["STREAMBRIDGE_ALLOWED_ORIGINS"] = args.allowed_origin

    with tempfile.TemporaryDirectory(prefix="sb-plugin-") as tmp:
        quit_file = os.path.join(tmp, "quit")
        # The app's own safety net (it quits by itself after this many seconds) outlasts every
        # wait of this check.
        proc = subprocess.Popen(app + [str(WIDTH), str(HEIGHT), quit_file, str(4 * DEADLINE_S)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out_lines, err_lines = [], []

        def collect(stream, into, echo):
            for line in stream:
                into.append(line.rstrip("\n"))
                print(line, end="", file=echo, flush=True)

        readers = [threading.Thread(target=collect, args=(proc.stdout, out_lines, sys.stdout)),
                   threading.Thread(target=collect, args=(proc.stderr, err_lines, sys.stderr))]
        for t in readers:
            t.start()
        try:
            interactor = wait_for_ready(proc, out_lines, DEADLINE_S)
            expected = VTK_INTERACTOR if args.disabled else PLUGIN_INTERACTOR
            if interactor != expected:
                raise Failure(f"the app's interactor is {interactor}, expected {expected}")
            if args.disabled:
                check_not_serving(port, err_lines)
            elif args.view_token:
                check_view_token(port)
            else:
                check_streaming(port, err_lines)
                if args.allowed_origin:
                    check_allowed_origin(port, args.allowed_origin)
            if args.exit_keys == "allowed":
                check_exit_keys_allowed(proc, port)
            elif args.exit_keys == "refused":
                check_exit_keys_refused(proc, port, err_lines)
            open(quit_file, "w").close()
            try:
                rc = proc.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                raise Failure(f"the app did not exit within {DEADLINE_S} s of being asked to")
            if rc != 0:
                raise Failure(f"the app exited with status {rc}")
        except Failure as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for t in readers:
                t.join()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
