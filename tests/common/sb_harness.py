"""sb_harness.py - the helpers of the Python check scripts (tests/plugin, tests/paraview): how they
wait (tests/README.md: for a condition, bounded by DEADLINE_S, never for a fixed time), HTTP
polling, a minimal WebSocket viewer (docs/wire-protocol.md), a process whose output lines are
collected, the test apps of tests/plugin, and reading JPEGs.

Standard library only, plus VTK in read_jpeg (imported there: the interpreter's own VTK, Debian's
in python3, ParaView's in pvbatch). A script imports it after putting tests/common on sys.path."""

import base64
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

# How long a condition may take before the check calls it failed (tests/README.md): generous, so
# a loaded machine is slow, not failing.
DEADLINE_S = 60


class Failure(Exception):
    pass


def wait_until(condition, what, pump=None):
    """Calls condition() (after pump(), when given) until it returns a true value; returns it.
    Fails after DEADLINE_S. A condition may raise Failure itself (a process that exited)."""
    # pump is the caller's event loop (pvbatch has none): run it at an interactive pace.
    poll_s = 0.02 if pump else 0.05
    deadline = time.monotonic() + DEADLINE_S
    while True:
        if pump:
            pump()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not within {DEADLINE_S} s")
        time.sleep(poll_s)  # poll interval


# ---- HTTP ---------------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=DEADLINE_S / 2):
    """(status, content type, body); an error status raises urllib.error.HTTPError."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def status_of(url):
    """url's status, an error status included."""
    try:
        return get(url)[0]
    except urllib.error.HTTPError as e:
        return e.code


def wait_for_status(url, wanted):
    """Polls url until it answers `wanted` or DEADLINE_S passed; returns the last status (or
    error)."""
    deadline = time.monotonic() + DEADLINE_S
    status = None
    while time.monotonic() < deadline:
        try:
            status = status_of(url)
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            status = e
        if status == wanted:
            break
        time.sleep(0.1)  # poll interval
    return status


def require_status(url, wanted=200):
    """Waits until url answers `wanted`; fails with the last status it gave otherwise."""
    status = wait_for_status(url, wanted)
    if status != wanted:
        raise Failure(f"{url} never answered {wanted} (last: {status})")


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


def read_jpeg(jpeg):
    """The JPEG as a vtkImageData, read with the VTK of this interpreter (vtkJPEGReader reads
    files only)."""
    from vtkmodules.vtkIOImage import vtkJPEGReader
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(jpeg)
        f.flush()
        reader = vtkJPEGReader()
        reader.SetFileName(f.name)
        reader.Update()
        return reader.GetOutput()


# ---- a minimal WebSocket viewer (docs/wire-protocol.md) ----------------------------------------

def ws_connect(port, path="/"):
    """A viewer of the stream at path ("/": the default stream, "/v/NAME/": a named one);
    returns the socket and the bytes that came after the upgrade's answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path}ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise Failure(f"{path}ws closed the connection during the upgrade")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise Failure(f"{path}ws upgrade answered {status!r}")
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


def ws_viewer(port, path, width, height):
    """A viewer of width x height at path that has said HELLO and received a first frame (the
    stream is live). Returns the socket and the bytes read past that frame."""
    sock, pending = ws_connect(port, path)
    ws_send(sock, struct.pack("<BBHII", 1, 1, 0, width, height))  # HELLO
    while True:
        opcode, payload, pending = ws_read_message(sock, pending)
        if opcode == 2 and payload[:1] == b"\x53":
            return sock, pending


def input_event(event_type, button, x, y, width, height):
    """An 80-byte input record (modifiers, key and wheel zero: a key event fills its key in)."""
    record = bytearray(80)
    struct.pack_into("<BBBBffII", record, 0, 3, event_type, button, 0, x, y, width, height)
    return record


def send_drag(sock, width, height, step):
    """A left drag from the view's centre: press, ten moves of step pixels to the right,
    release."""
    x0, y0 = width / 2, height / 2
    ws_send(sock, input_event(2, 1, x0, y0, width, height))  # BUTTON_PRESS left
    for i in range(1, 11):
        ws_send(sock, input_event(1, 1, x0 + step * i, y0, width, height))  # POINTER_MOVE
    ws_send(sock, input_event(3, 1, x0 + step * 10, y0, width, height))  # BUTTON_RELEASE left


# ---- processes ----------------------------------------------------------------------------------

def start(cmd, env):
    """Starts cmd; its stdout and stderr lines are collected in proc.out_lines and proc.err_lines
    (and echoed) until stop(proc)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.out_lines, proc.err_lines = [], []

    def collect(stream, into, echo):
        for line in stream:
            into.append(line.rstrip("\n"))
            print(line, end="", file=echo, flush=True)

    proc.readers = [
        threading.Thread(target=collect, args=(proc.stdout, proc.out_lines, sys.stdout)),
        threading.Thread(target=collect, args=(proc.stderr, proc.err_lines, sys.stderr))]
    for t in proc.readers:
        t.start()
    return proc


def stop(proc):
    """Kills proc unless it has exited, and collects the rest of its output."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for t in proc.readers:
        t.join()


def wait_exit_ok(proc, after):
    """Waits for the app to exit (DEADLINE_S at most) after `after` (what asked it to); fails
    unless it exits with status 0."""
    try:
        rc = proc.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        raise Failure(f"the app still runs {DEADLINE_S} s after {after}")
    if rc != 0:
        raise Failure(f"the app exited with status {rc} after {after}")


def run_app(cmd, env, quit_file, check):
    """Runs a test app of tests/plugin (it prints "ready ..." once its interactor is
    initialized, and exits when quit_file appears): check(proc, ready_line) once it is ready,
    then the app must exit with status 0 when asked to. Prints OK or FAIL: ...; returns the
    script's exit status."""
    proc = start(cmd, env)
    try:
        def ready():
            for line in list(proc.out_lines):
                if line.startswith("ready "):
                    return line
            if proc.poll() is not None:
                raise Failure(f"the app exited with status {proc.returncode} before it was ready")
            return None
        check(proc, wait_until(ready, "the app's 'ready' line"))
        open(quit_file, "w").close()
        wait_exit_ok(proc, "being asked to quit")
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        stop(proc)
    print("OK")
    return 0
