"""pv_stream_check.py - the ParaView plugin in pvbatch/pvpython (run by ctest, label paraview).

    pvbatch pv_stream_check.py --plugin PATH/StreamBridge.so [--load script|env] [--settings]

--load script: the script loads the plugin (LoadPlugin). --load env: ParaView loaded it at start
(PV_PLUGIN_PATH, set by the caller). STREAMBRIDGE_PORT=0 (set by the caller) gives an ephemeral
port. Checks, each waiting for its condition (never for a time):
  1. only ParaView's VTK is in the process (no libvtk*-9.1, no libstreambridge.so);
  2. Wavelet -> Contour in a 320x240 render view: the view streams; /snapshot.jpg is a 320x240
     JPEG that is not blank;
  3. a left drag sent over /ws, replayed through the view's interactor style (the script pumps:
     pvbatch has no event loop), turns the view's camera;
  4. a new contour value set from Python after the drag shows in the next frame: far fewer
     surface pixels than before;
  5. a second render view (200x150) streams on the same server as its own named stream
     (/streams lists both, /v/RenderView2/snapshot.jpg is its picture), a drag in it turns its
     camera and not the first view's, and once deleted it leaves the server (404, not listed).
--settings (without STREAMBRIDGE_PORT): instead, the plugin's settings set from Python (the
"StreamBridge" settings proxy: Port, AccessToken) are what the server uses: it listens on that
port and answers 401 without the token, 200 with it.
Prints OK on success, FAIL: ... and exits 1 otherwise."""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from sb_harness import (Failure, free_port, get, jpeg_size, read_jpeg,  # noqa: E402
                        require_status, send_drag, status_of, wait_until, ws_viewer)

WIDTH, HEIGHT = 320, 240


def check_one_vtk():
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if ".so" in line}
    system_vtk = sorted(l for l in libs if "libvtk" in l and "-9.1.so" in l)
    ours = sorted(l for l in libs if "libstreambridge" in l)
    if system_vtk or ours:
        raise Failure(f"a second VTK or libstreambridge in the ParaView process: {system_vtk + ours}")
    if not any("libvtkCommonCore-pv" in l for l in libs):
        raise Failure("ParaView's libvtkCommonCore is not loaded (is this pvbatch?)")
    print("one VTK in the process: ParaView's")


def decode(jpeg):
    """The JPEG's pixels as (width, height, list of (r, g, b)), read with ParaView's VTK."""
    image = read_jpeg(jpeg)
    w, h, _ = image.GetDimensions()
    scalars = image.GetPointData().GetScalars()
    comps = scalars.GetNumberOfComponents()
    pixels = [tuple(int(scalars.GetComponent(i, c)) for c in range(min(comps, 3)))
              for i in range(0, w * h)]
    return w, h, pixels


def surface_pixels(jpeg):
    """How many pixels differ clearly from the background (the corner pixel's colour)."""
    _, _, pixels = decode(jpeg)
    bg = pixels[0]
    return sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, bg)) > 60)


def snapshot(base):
    status, ctype, body = get(base + "/snapshot.jpg")
    if status != 200 or not ctype.startswith("image/jpeg"):
        raise Failure(f"/snapshot.jpg answered {status} {ctype!r}")
    return body


def frames_published(base):
    import json
    return json.loads(get(base + "/stats")[2])["frames_published"]


def stream_names(base):
    import json
    return [st["name"] for st in json.loads(get(base + "/streams")[2])["streams"]]


def direction(camera):
    return [p - f for p, f in zip(camera.GetPosition(), camera.GetFocalPoint())]


def drag(port, path, width, height, camera, pump):
    """Drags with the left button over path's /ws (a viewer of width x height) until camera
    turns by more than 10 degrees; returns the angle."""
    before = direction(camera)
    sock, _ = ws_viewer(port, path, width, height)
    with sock:
        send_drag(sock, width, height, width / 40)
        return wait_until(lambda: (lambda a: a if a > 10.0 else 0)(
            angle_between(before, direction(camera))), f"the drag over {path}ws turns the camera",
            pump=pump)


def angle_between(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return math.degrees(math.acos(max(-1.0, min(1.0, dot / (na * nb)))))


def check_settings(simple, sb):
    from paraview import servermanager
    settings = servermanager.ProxyManager().GetProxy("settings", "StreamBridge")
    port, token = free_port(), "pv-s3cret"
    settings.Port = port
    settings.AccessToken = token
    view = simple.CreateRenderView()
    view.ViewSize = [160, 120]
    simple.Show(simple.Sphere(), view)
    simple.Render(view)
    wait_until(lambda: sb.serving_port() == port, f"the server on the settings' port {port}",
               pump=sb.pump)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: status_of(f"{base}/snapshot.jpg?token={token}") == 200,
               "/snapshot.jpg with the settings' token")
    without = status_of(f"{base}/snapshot.jpg")
    if without != 401:
        raise Failure(f"/snapshot.jpg without the token answered {without}, expected 401")
    print(f"settings: port {port}, token required (401 without it, 200 with it)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--load", choices=["script", "env"], default="script")
    parser.add_argument("--settings", action="store_true")
    args = parser.parse_args()

    from paraview import simple
    if args.load == "script":
        simple.LoadPlugin(args.plugin, remote=False, ns=globals())
    import streambridge_paraview as sb

    check_one_vtk()
    if args.settings:
        check_settings(simple, sb)
        print("OK")
        return

    wavelet = simple.Wavelet()
    contour = simple.Contour(Input=wavelet, ContourBy=["POINTS", "RTData"], Isosurfaces=[150.0])
    view = simple.CreateRenderView()
    view.ViewSize = [WIDTH, HEIGHT]
    view.OrientationAxesVisibility = 0
    simple.Show(contour, view)
    simple.ResetCamera(view)
    simple.Render(view)

    streams = wait_until(sb.streams, "the render view streams", pump=sb.pump)
    port = sb.serving_port()
    base = f"http://127.0.0.1:{port}"
    print(f"streams: {streams}, port {port}")
    require_status(base + "/snapshot.jpg")
    first = snapshot(base)
    if jpeg_size(first) != (WIDTH, HEIGHT):
        raise Failure(f"/snapshot.jpg is {jpeg_size(first)}, expected {(WIDTH, HEIGHT)}")
    before_drag = surface_pixels(first)
    if before_drag < WIDTH * HEIGHT // 50:
        raise Failure(f"/snapshot.jpg is blank: {before_drag} surface pixels")
    print(f"snapshot {WIDTH}x{HEIGHT}, {len(first)} bytes, {before_drag} surface pixels")

    # A viewer drags with the left button: ParaView's 3D style rotates the camera.
    camera = view.GetActiveCamera()
    turned = drag(port, "/", WIDTH, HEIGHT, camera, sb.pump)
    print(f"the drag turned the camera by {turned:.1f} degrees")
    # Python changes the pipeline after the drag: the next frame shows it. (The frame counter
    # is the default stream's: /stats of the top level.)
    published = frames_published(base)
    dragged = surface_pixels(snapshot(base))
    contour.Isosurfaces = [255.0]
    simple.Render(view)
    wait_until(lambda: frames_published(base) > published, "a frame after the new contour value")
    changed = wait_until(
        lambda: (lambda n: n if n < dragged // 2 else 0)(surface_pixels(snapshot(base))),
        "the new contour value in the frame")
    print(f"contour 150 -> 255: {dragged} -> {changed} surface pixels")

    # A second view: its own stream on the same server; input stays its own.
    view2 = simple.CreateRenderView()
    view2.ViewSize = [200, 150]
    view2.OrientationAxesVisibility = 0
    simple.Show(wavelet, view2)
    simple.ResetCamera(view2)
    simple.Render(view2)
    urls = wait_until(lambda: (lambda st: st if len(st) == 2 else None)(sb.streams()),
                      "the second view streams", pump=sb.pump)
    name2 = [n for n in urls if n != next(iter(streams))][0]
    path2 = urls[name2][len(base):]
    if path2 != f"/v/{name2}/" or sorted(stream_names(base)) != sorted(["default", name2]):
        raise Failure(f"second view: URL {urls[name2]}, /streams {stream_names(base)}")
    wait_until(lambda: status_of(base + path2 + "snapshot.jpg") == 200, f"{path2}snapshot.jpg")
    size2 = jpeg_size(snapshot(base + path2[:-1]))
    if size2 != (200, 150):
        raise Failure(f"{path2}snapshot.jpg is {size2}, expected (200, 150)")
    first_direction = direction(camera)
    turned2 = drag(port, path2, 200, 150, view2.GetActiveCamera(), sb.pump)
    if angle_between(first_direction, direction(camera)) > 1e-6:
        raise Failure("a drag in the second view's stream moved the first view's camera")
    print(f"{name2} streams at {path2} (200x150); its drag turned its camera by {turned2:.1f} "
          f"degrees and left {next(iter(streams))}'s alone")
    simple.Delete(view2)
    del view2
    wait_until(lambda: status_of(base + path2 + "snapshot.jpg") == 404 and
               stream_names(base) == ["default"], f"{name2} leaves the server when deleted",
               pump=sb.pump)
    print(f"{name2} deleted: {path2} answers 404, /streams lists only the first view")
    print("OK")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
