#!/usr/bin/python3
"""check_windows.py - the autoload plugin with several windows on its one server, and with a
window that has no interactor (windows_app.cxx, issue #12).

    check_windows.py --plugin-dir DIR --app WINDOWS_APP two|offscreen|port-taken

two: two windows with interactors. Both are listed by /streams on the one port (the first as
"default", served at the top level; the second as "Right-view", after its title), each
snapshot is its own window's size, "/" is the picker, and a drag sent over /v/Right-view/ws
changes the right window's picture.
offscreen: an offscreen window that never gets an interactor (a batch script) streams; a drag
over /ws changes its picture (the plugin replays input before each of the script's renders).
port-taken: the port is in use: the window is not streamed, one log line says why, and the
app runs and exits normally. Prints OK on success."""

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_autoload import (DEADLINE_S, Failure, free_port, get, jpeg_size,  # noqa: E402
                            wait_for_ready, wait_for_status, ws_read_message, ws_send)
import base64  # noqa: E402

WIDTH, HEIGHT = 320, 240


def ws_connect(port, path):
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise Failure(f"{path} closed the connection during the upgrade")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise Failure(f"{path} upgrade answered {status!r}")
    return sock, head.split(b"\r\n\r\n", 1)[1]


def event(event_type, button, x, y, w, h):
    record = bytearray(80)
    struct.pack_into("<BBBBffII", record, 0, 3, event_type, button, 0, x, y, w, h)
    return bytes(record)


def snapshot(base, path):
    status = wait_for_status(base + path, 200)
    if status != 200:
        raise Failure(f"{path} never answered 200 (last: {status})")
    return get(base + path)[2]


def drag_changes_picture(port, stream_path, w, h):
    """Drags across the view over the stream's /ws and waits until its snapshot changes."""
    base = f"http://127.0.0.1:{port}"
    before = snapshot(base, stream_path + "snapshot.jpg")
    sock, pending = ws_connect(port, stream_path + "ws")
    with sock:
        ws_send(sock, struct.pack("<BBHII", 1, 1, 0, w, h))  # HELLO
        while True:  # the first frame: the stream is live
            opcode, payload, pending = ws_read_message(sock, pending)
            if opcode == 2 and payload[:1] == b"\x53":
                break
        ws_send(sock, event(2, 1, w / 2, h / 2, w, h))  # BUTTON_PRESS left
        for i in range(1, 11):
            ws_send(sock, event(1, 1, w / 2 + i * w / 25, h / 2, w, h))  # POINTER_MOVE
        ws_send(sock, event(3, 1, w / 2 + 10 * w / 25, h / 2, w, h))  # BUTTON_RELEASE
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if get(base + stream_path + "snapshot.jpg")[2] != before:
                print(f"a drag over {stream_path}ws changed its picture")
                return
            time.sleep(0.1)  # poll interval
    raise Failure(f"a drag over {stream_path}ws never changed {stream_path}snapshot.jpg")


def check_two(port, err_lines):
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + DEADLINE_S
    names = []
    while time.monotonic() < deadline:
        try:
            names = [s["name"] for s in json.loads(get(base + "/streams")[2])["streams"]]
        except (urllib.error.URLError, OSError, ValueError):
            names = []
        if names == ["default", "Right-view"]:
            break
        time.sleep(0.1)  # poll interval
    if names != ["default", "Right-view"]:
        raise Failure(f"/streams lists {names}, expected ['default', 'Right-view']")
    for path, size in (("/snapshot.jpg", (WIDTH, HEIGHT)),
                       ("/v/default/snapshot.jpg", (WIDTH, HEIGHT)),
                       ("/v/Right-view/snapshot.jpg", (WIDTH // 2, HEIGHT // 2))):
        got = jpeg_size(snapshot(base, path))
        if got != size:
            raise Failure(f"{path} is {got}, expected {size}")
    if b"picker.js" not in get(base + "/")[2]:
        raise Failure("/ is not the picker although two windows stream")
    for wanted in (f"streaming render window 1 ", f"streaming render window 2 "):
        if not any(wanted in l and f":{port}/" in l for l in err_lines):
            raise Failure(f"no '{wanted}... :{port}/' line on stderr")
    if not any("/v/Right-view/" in l for l in err_lines):
        raise Failure("the second window's log line does not give its /v/Right-view/ URL")
    drag_changes_picture(port, "/v/Right-view/", WIDTH // 2, HEIGHT // 2)
    print("two windows, one port: listed, each its own size, picker at /")


def check_offscreen(port, err_lines, ready_line):
    base = f"http://127.0.0.1:{port}"
    if "no-interactor" not in ready_line:
        raise Failure(f"the app's window has an interactor: {ready_line!r}")
    got = jpeg_size(snapshot(base, "/snapshot.jpg"))
    if got != (WIDTH, HEIGHT):
        raise Failure(f"/snapshot.jpg is {got}, expected {(WIDTH, HEIGHT)}")
    if not any("streaming render window 1 (sbStreamingRenderWindow)" in l for l in err_lines):
        raise Failure("no 'streaming render window 1 (sbStreamingRenderWindow)' line on stderr")
    drag_changes_picture(port, "/", WIDTH, HEIGHT)
    print("a window without an interactor streams")


def check_port_taken(err_lines):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        lines = [l for l in err_lines if "not streaming render window 1" in l]
        if lines:
            if len(lines) != 1 or "cannot serve" not in lines[0]:
                raise Failure(f"expected one 'not streaming ... cannot serve' line: {lines}")
            print(f"logged: {lines[0]}")
            return
        time.sleep(0.05)  # poll interval
    raise Failure("no 'not streaming render window 1' line on stderr")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("mode", choices=["two", "offscreen", "port-taken"])
    args = parser.parse_args()

    port = free_port()
    blocker = None
    if args.mode == "port-taken":
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMBRIDGE_")}
    env["VTK_AUTOLOAD_PATH"] = args.plugin_dir
    env["STREAMBRIDGE_PORT"] = str(port)
    mode = "offscreen" if args.mode == "port-taken" else args.mode

    with tempfile.TemporaryDirectory(prefix="sb-windows-") as tmp:
        quit_file = os.path.join(tmp, "quit")
        proc = subprocess.Popen([args.app, mode, str(WIDTH), str(HEIGHT), quit_file,
                                 str(4 * DEADLINE_S)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
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
            wait_for_ready(proc, out_lines, DEADLINE_S)
            ready_line = next(l for l in out_lines if l.startswith("ready "))
            if args.mode == "two":
                check_two(port, err_lines)
            elif args.mode == "offscreen":
                check_offscreen(port, err_lines, ready_line)
            else:
                check_port_taken(err_lines)
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
            if blocker:
                blocker.close()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
