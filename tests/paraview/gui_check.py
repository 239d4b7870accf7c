#!/usr/bin/python3
"""gui_check.py - the ParaView plugin in the GUI (run by ctest under tests/xvfb-run.sh, label
paraview).

    gui_check.py --plugin-dir DIR --pythonpath DIR [--pvserver]

Starts `paraview --plugin-search-paths=DIR --plugins=StreamBridge --script=gui_scene.py` (a
Wavelet -> Contour pipeline in the active render view) with STREAMBRIDGE_PORT=0 and checks:
  1. the plugin streams the active view (its "streaming ParaView view NAME at URL" line);
  2. /snapshot.jpg shows the contour (not blank);
  3. a left drag sent over /ws turns the view: the GUI's own event loop replays it through the
     view's Qt interactor and ParaView's interactor style, and the picture changes.
--pvserver: the GUI connects to a pvserver (both load the plugin through PV_PLUGIN_PATH) and the
scene renders on the server (remote render threshold 0): 1 and 2 hold for the stream the
server serves, from the frames the server renders. (3 does not apply there: the client owns the
camera of a server's view; docs/paraview.md.)
Each waits for its condition. The snapshots are decoded with the system's VTK (python3-vtk9)
here, outside the ParaView process. Prints OK on success."""

import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from sb_harness import (Failure, get, jpeg_size, read_jpeg, require_status,  # noqa: E402
                        send_drag, start, stop, wait_until, ws_viewer)

STREAMING_RE = re.compile(r"streaming ParaView view (\S+) at http://127\.0\.0\.1:(\d+)/")


def pixels(jpeg):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    return vtk_to_numpy(read_jpeg(jpeg).GetPointData().GetScalars())[:, :3].astype(int)


def surface_pixels(jpeg):
    p = pixels(jpeg)
    return int(((abs(p - p[0])).sum(axis=1) > 60).sum())


def changed_pixels(a, b):
    pa, pb = pixels(a), pixels(b)
    return int(((abs(pa - pb)).sum(axis=1) > 60).sum()) if pa.shape == pb.shape else pa.shape[0]


def check(port, drag=True):
    base = f"http://127.0.0.1:{port}"
    require_status(base + "/snapshot.jpg")

    def shows_contour():
        body = get(base + "/snapshot.jpg")[2]
        size = jpeg_size(body)
        return (body, size) if size and surface_pixels(body) > size[0] * size[1] // 100 else None
    before, (w, h) = wait_until(shows_contour, "the active view's contour in /snapshot.jpg")
    print(f"snapshot {w}x{h}: {surface_pixels(before)} surface pixels")
    if not drag:
        return

    sock, _ = ws_viewer(port, "/", w, h)
    with sock:
        send_drag(sock, w, h, w / 40)
        turned = wait_until(
            lambda: (lambda n: n if n > w * h // 100 else 0)(
                changed_pixels(before, get(base + "/snapshot.jpg")[2])),
            "the drag turns the view")
        print(f"the drag changed {turned} pixels of the view")


def find_line(proc, regex, what):
    def found():
        for line in proc.out_lines + proc.err_lines:
            m = regex.search(line)
            if m:
                return m
        if proc.poll() is not None:
            raise Failure(f"{proc.args[0]} exited with status {proc.returncode}")
        return None
    return wait_until(found, what)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--pythonpath", required=True)
    parser.add_argument("--pvserver", action="store_true")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMBRIDGE_")}
    env["STREAMBRIDGE_PORT"] = "0"
    env["PYTHONPATH"] = args.pythonpath
    with tempfile.TemporaryDirectory(prefix="sb-paraview-gui-") as home:
        # A fresh user: no saved settings or layout of whoever runs the tests.
        env["HOME"] = home
        env["XDG_CONFIG_HOME"] = home
        env["XDG_RUNTIME_DIR"] = home
        procs = []
        try:
            cmd = ["paraview", "--dr", f"--script={os.path.join(HERE, 'gui_scene.py')}"]
            if args.pvserver:
                env["PV_PLUGIN_PATH"] = args.plugin_dir
                env["SB_TEST_REMOTE_RENDER"] = "1"
                server = start(["pvserver", "--server-port=0"], env)
                procs.append(server)
                m = find_line(server, re.compile(r"Accepting connection\(s\): \S+:(\d+)"),
                              "pvserver's port")
                cmd.append(f"--server-url=cs://127.0.0.1:{m.group(1)}")
            else:
                cmd += [f"--plugin-search-paths={args.plugin_dir}", "--plugins=StreamBridge"]
            gui = start(cmd, env)
            procs.append(gui)
            if args.pvserver:
                # The stream the server serves: its own log line (the GUI's builtin session of
                # its first moments may stream a view of its own too).
                m = find_line(server, STREAMING_RE, "a 'streaming ParaView view' line from pvserver")
                find_line(gui, re.compile("gui_scene: shown"), "the scene script")
            else:
                m = find_line(gui, STREAMING_RE, "a 'streaming ParaView view' line from the plugin")
            print(f"{'pvserver' if args.pvserver else 'ParaView'} streams {m.group(1)} on port {m.group(2)}")
            check(int(m.group(2)), drag=not args.pvserver)
        except Failure as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
        finally:
            # Neither the GUI nor pvserver has a way out but its window's or its client's: ended.
            for proc in reversed(procs):
                stop(proc)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
