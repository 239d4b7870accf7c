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
import sys
import tempfile
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from sb_harness import (DEADLINE_S, Failure, free_port, get, jpeg_size,  # noqa: E402
                        require_status, run_app, send_drag, wait_until, ws_viewer)

WIDTH, HEIGHT = 320, 240


def snapshot(base, path):
    require_status(base + path)
    return get(base + path)[2]


def drag_changes_picture(port, stream_path, w, h):
    """Drags across the view over the stream's /ws and waits until its snapshot changes."""
    base = f"http://127.0.0.1:{port}"
    before = snapshot(base, stream_path + "snapshot.jpg")
    sock, _ = ws_viewer(port, stream_path, w, h)
    with sock:
        send_drag(sock, w, h, w / 25)
        wait_until(lambda: get(base + stream_path + "snapshot.jpg")[2] != before,
                   f"a drag over {stream_path}ws to change {stream_path}snapshot.jpg")
    print(f"a drag over {stream_path}ws changed its picture")


def check_two(port, err_lines):
    base = f"http://127.0.0.1:{port}"
    names = []

    def both_listed():
        nonlocal names
        try:
            names = [s["name"] for s in json.loads(get(base + "/streams")[2])["streams"]]
        except (urllib.error.URLError, OSError, ValueError):
            names = []
        return names == ["default", "Right-view"]
    try:
        wait_until(both_listed, "/streams to list both windows")
    except Failure:
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
    lines = wait_until(lambda: [l for l in err_lines if "not streaming render window 1" in l],
                       "a 'not streaming render window 1' line on stderr")
    if len(lines) != 1 or "cannot serve" not in lines[0]:
        raise Failure(f"expected one 'not streaming ... cannot serve' line: {lines}")
    print(f"logged: {lines[0]}")


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

    def check(proc, ready_line):
        if args.mode == "two":
            check_two(port, proc.err_lines)
        elif args.mode == "offscreen":
            check_offscreen(port, proc.err_lines, ready_line)
        else:
            check_port_taken(proc.err_lines)

    try:
        with tempfile.TemporaryDirectory(prefix="sb-windows-") as tmp:
            quit_file = os.path.join(tmp, "quit")
            return run_app([args.app, mode, str(WIDTH), str(HEIGHT), quit_file, str(4 * DEADLINE_S)],
                           env, quit_file, check)
    finally:
        if blocker:
            blocker.close()


if __name__ == "__main__":
    sys.exit(main())
