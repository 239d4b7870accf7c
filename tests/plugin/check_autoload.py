#!/usr/bin/python3
"""check_autoload.py - runs an unmodified VTK application (cone_app.cxx or cone_app.py) with the
streambridge autoload plugin in VTK_AUTOLOAD_PATH and checks what it serves.

    check_autoload.py --plugin-dir DIR [--disabled] -- APP [ARGS...]

The app gets "WIDTH HEIGHT QUIT_FILE MAX_SECONDS" appended; it prints "ready <interactor class>"
once its interactor is initialized, and exits when QUIT_FILE appears.
Enabled: the interactor must be the plugin's, /healthz must answer 200 and /snapshot.jpg must be
a JPEG of the window's size, on the port given in STREAMBRIDGE_PORT.
--disabled (STREAMBRIDGE_DISABLE=1): VTK's own interactor and nothing listening on that port.
Either way the app must then exit normally (status 0) when asked to. Prints OK on success."""

import argparse
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--disabled", action="store_true")
    parser.add_argument("app", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    app = args.app[1:] if args.app[:1] == ["--"] else args.app

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMBRIDGE_")}
    env["VTK_AUTOLOAD_PATH"] = args.plugin_dir
    env["STREAMBRIDGE_PORT"] = str(port)
    if args.disabled:
        env["STREAMBRIDGE_DISABLE"] = "1"

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
            else:
                check_streaming(port, err_lines)
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
