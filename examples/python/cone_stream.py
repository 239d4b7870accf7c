#!/usr/bin/python3
"""cone_stream.py - a plain python3-vtk9 scene streamed with the streambridge package.

    /usr/bin/python3 examples/python/cone_stream.py --frames 10          # render, check the ring
    /usr/bin/python3 examples/python/cone_stream.py --serve               # open http://127.0.0.1:8000
    /usr/bin/python3 examples/python/cone_stream.py --serve --seconds 3   # serve, self-check, exit

Without --serve it renders N frames, reads the newest one back from the frame ring through
ctypes and checks that the cone is at the centre and the background at a corner (exit 1 if not).
With --serve and no --seconds it runs the VTK interactor's event loop: the browser drives the
cone. With --seconds it pumps events for that long and fetches /snapshot.jpg from the server.
Use Debian's /usr/bin/python3 (the one with the vtk module). The package is the installed one
(pip install ./python) or, from a source checkout, ../../python.
"""

import argparse
import os
import sys
import threading
import time
import urllib.request

try:
    import streambridge
except ImportError:  # a source checkout without pip install ./python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import streambridge

import vtk  # noqa: E402

CONE_RGB = (255, 128, 0)
BACKGROUND_RGB = (26, 26, 77)


def build_scene(width, height, offscreen):
    cone = vtk.vtkConeSource()
    cone.SetResolution(48)
    cone.SetHeight(2.0)
    cone.SetRadius(1.0)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(cone.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*[c / 255.0 for c in CONE_RGB])
    actor.GetProperty().LightingOff()  # flat colour: the self-check compares exact pixels
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(*[c / 255.0 for c in BACKGROUND_RGB])
    renderer.AddActor(actor)
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1 if offscreen else 0)
    window.SetSize(width, height)
    window.AddRenderer(renderer)
    camera = renderer.GetActiveCamera()
    camera.SetPosition(0, 0, 8)
    camera.SetFocalPoint(0, 0, 0)
    camera.SetViewUp(0, 1, 0)
    renderer.ResetCameraClippingRange()
    return window, renderer


def close(a, b, tolerance=40):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def check_frames(stream, frames, width, height):
    for _ in range(frames):
        stream.render()
    newest = stream.newest_frame()
    if newest is None:
        print("FAIL: no frame in the ring")
        return False
    info = newest
    stats = stream.stats()
    centre = info.pixel(info.width // 2, info.height // 2)
    corner = info.pixel(2, 2)
    print("frame %dx%d seq %d format %d bottom_up %d; centre %s corner %s; captured %d, "
          "capture %.3f ms" % (info.width, info.height, info.seq, info.format, info.bottom_up,
                               centre, corner, stats["frames_captured"],
                               stats["capture_ms_mean"]))
    ok = (info.width, info.height) == (width, height) and close(centre, CONE_RGB) and \
        close(corner, BACKGROUND_RGB) and stats["frames_captured"] >= frames
    print("OK" if ok else "FAIL")
    return ok


def serve_for(stream, seconds):
    """Serves for at least `seconds` and until the self-check fetched /snapshot.jpg: it waits for
    that condition (up to 60 s, generous for a loaded machine), not for a fixed time."""
    port = stream.port
    result = {}

    def fetch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                url = "http://127.0.0.1:%d/snapshot.jpg" % port
                with urllib.request.urlopen(url, timeout=30) as r:
                    body = r.read()
                    result["ok"] = r.status == 200 and body[:2] == b"\xff\xd8"
                    result["bytes"] = len(body)
                    result.pop("error", None)
                    if result["ok"]:
                        return
            except Exception as e:  # e.g. 503 before the first frame is encoded; reported below
                result["error"] = str(e)
            time.sleep(0.1)  # poll interval

    fetcher = threading.Thread(target=fetch)
    fetcher.start()
    stream.render()
    end = time.monotonic() + seconds
    while time.monotonic() < end or fetcher.is_alive():
        stream.pump(20)  # ctypes releases the GIL while the library waits
    fetcher.join()
    print("served on port %d: %s" % (port, result))
    return result.get("ok", False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--frames", type=int, default=10, help="frames to render (no --serve)")
    parser.add_argument("--serve", action="store_true", help="start the web server")
    parser.add_argument("--port", type=int, default=8000, help="server port (0 = any free)")
    parser.add_argument("--seconds", type=float, default=0,
                        help="with --serve: serve this long, self-check, exit")
    parser.add_argument("--size", default="400x300", help="window size WxH")
    parser.add_argument("--offscreen", action="store_true", help="render offscreen")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    window, _ = build_scene(width, height, args.offscreen)
    interactor = None
    if args.serve and not args.seconds:
        interactor = vtk.vtkRenderWindowInteractor()
        interactor.SetRenderWindow(window)
        interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
        interactor.Initialize()

    try:
        # drive=False: this script pumps itself (--seconds) or runs the interactor's loop.
        stream = streambridge.stream(window, serve=args.serve, port=args.port, token="",
                                     drive=False)
    except (streambridge.StreamBridgeError, streambridge.LibraryNotFound) as e:
        print("FAIL: %s" % e)
        return 1
    with stream:
        if not args.serve:
            return 0 if check_frames(stream, args.frames, width, height) else 1
        if args.seconds:
            return 0 if serve_for(stream, args.seconds) else 1
        print("streaming at %s (close the window to stop)" % stream.url)
        window.Render()
        interactor.Start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
