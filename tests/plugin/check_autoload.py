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
import http.client
import os
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from sb_harness import (DEADLINE_S, Failure, free_port, get, input_event, jpeg_size,  # noqa: E402
                        require_status, run_app, wait_exit_ok, wait_for_status, wait_until,
                        ws_send, ws_viewer)

WIDTH, HEIGHT = 320, 200
PLUGIN_INTERACTOR = "sbStreamingInteractor"
VTK_INTERACTOR = "vtkXRenderWindowInteractor"


def check_streaming(port, stderr_lines):
    base = f"http://127.0.0.1:{port}"
    require_status(base + "/healthz")
    # The first frame may still be encoding (the server waits 2 s at most before a 503).
    require_status(base + "/snapshot.jpg")
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
    require_status(f"{base}/healthz?token={FULL_TOKEN}")
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


def type_exit_keys(port):
    """Connects as a viewer, waits for a first frame, then types q, e, Q, E, each as key press,
    char and key release. Returns the open socket: closing it while frames it has not read are
    in flight would reset the connection and could discard keys the server has not read yet."""
    sock, _ = ws_viewer(port, "/", WIDTH, HEIGHT)
    for ch in "qeQE":
        for event_type in (5, 7, 6):  # KEY_PRESS, CHAR, KEY_RELEASE
            record = input_event(event_type, 0, WIDTH / 2, HEIGHT / 2, WIDTH, HEIGHT)
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
    def refused():
        if proc.poll() is not None:
            raise Failure(f"the app exited (status {proc.returncode}) after a viewer's exit keys")
        return any("asked the application to exit" in l for l in stderr_lines)
    wait_until(refused, "an 'asked the application to exit' line on stderr")
    if proc.poll() is not None:
        raise Failure(f"the app exited (status {proc.returncode}) after a viewer's exit keys")
    if get(f"http://127.0.0.1:{port}/healthz")[0] != 200:
        raise Failure("/healthz stopped answering 200 after a viewer's exit keys")


def check_exit_keys_allowed(proc, port):
    with type_exit_keys(port):
        wait_exit_ok(proc, "a viewer's 'q' (STREAMBRIDGE_ALLOW_EXIT=1)")
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

    def check(proc, ready_line):
        interactor = ready_line.split()[1]
        expected = VTK_INTERACTOR if args.disabled else PLUGIN_INTERACTOR
        if interactor != expected:
            raise Failure(f"the app's interactor is {interactor}, expected {expected}")
        if args.disabled:
            check_not_serving(port, proc.err_lines)
        elif args.view_token:
            check_view_token(port)
        else:
            check_streaming(port, proc.err_lines)
            if args.allowed_origin:
                check_allowed_origin(port, args.allowed_origin)
        if args.exit_keys == "allowed":
            check_exit_keys_allowed(proc, port)
        elif args.exit_keys == "refused":
            check_exit_keys_refused(proc, port, proc.err_lines)

    with tempfile.TemporaryDirectory(prefix="sb-plugin-") as tmp:
        quit_file = os.path.join(tmp, "quit")
        # The app's own safety net (it quits by itself after this many seconds) outlasts every
        # wait of this check.
        return run_app(app + [str(WIDTH), str(HEIGHT), quit_file, str(4 * DEADLINE_S)], env,
                       quit_file, check)


if __name__ == "__main__":
    sys.exit(main())
