"""The streambridge package against the real libstreambridge (ctest python_package, under Xvfb):
streams, stats, close, errors, two windows, context manager, input without an event loop,
the Jupyter URL rules, allowed origins, the lower-level ring/queue/server, library lookup."""
import asyncio
import http.client
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from conftest import REPO, make_window, wait_for, wait_for_async

import streambridge
from streambridge import _library, jupyter


def http_get(url, headers=None):
    """(status, body) of a GET; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def raw_get(port, path, host):
    """GET with a chosen Host header (what a reverse proxy forwards)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def port_refuses(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return False
    except OSError:
        return True


def test_stream_serves_stats_and_closes(window):
    s = streambridge.stream(window, token="pytest-token")
    try:
        assert s.port > 0 and s.url == "http://127.0.0.1:%d/?token=pytest-token" % s.port
        s.render()
        stats = s.stats()
        assert stats["frames_captured"] >= 1 and "render_ms_p50" in stats
        frame = s.newest_frame()
        assert (frame.width, frame.height) == (320, 240)
        status, body = http_get(s.url)
        assert status == 200 and b"<html" in body.lower()
        assert http_get("http://127.0.0.1:%d/" % s.port)[0] == 401  # the token is required
        status, jpeg = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            http_get("http://127.0.0.1:%d/snapshot.jpg?token=pytest-token" % s.port)),
            "a snapshot")
        assert jpeg[:2] == b"\xff\xd8"
        assert s.server_stats()["frames_published"] >= 1
        port = s.port
    finally:
        s.close()
    assert s.closed and port_refuses(port)
    s.close()  # idempotent
    with pytest.raises(streambridge.StreamBridgeError) as e:
        s.stats()
    assert e.value.name == "SB_ESTATE"


def test_errors_carry_the_library_detail(window):
    with pytest.raises(streambridge.StreamBridgeError) as e:
        streambridge.stream(window, port=70000)
    assert e.value.code == -1 and e.value.name == "SB_EINVAL"
    assert "port 70000" in e.value.detail and "sb_stream_create" in str(e.value)
    with pytest.raises(streambridge.StreamBridgeError) as e:
        streambridge.stream(window, access_token="not a valid token!")
    assert "token" in e.value.detail
    with pytest.raises(TypeError, match="no_such_option"):
        streambridge.stream(window, no_such_option=1)
    with pytest.raises(TypeError, match="vtkRenderWindow"):
        streambridge.stream(object())
    import vtk
    with pytest.raises(TypeError, match="got a vtk.*Renderer"):
        streambridge.stream(vtk.vtkRenderer())
    # The port is taken: the second server cannot bind, and says why.
    with streambridge.stream(window) as first:
        other = make_window()
        with pytest.raises(streambridge.StreamBridgeError) as e:
            streambridge.stream(other, port=first.port)
        assert e.value.name == "SB_ENET"
        other.Finalize()


def test_two_windows_two_streams():
    red, blue = make_window((1, 0, 0)), make_window((0, 0, 1))
    with streambridge.stream(red) as a, streambridge.stream(blue) as b:
        assert a.port != b.port
        a.render()
        b.render()
        assert a.newest_frame().pixel(1, 1)[0] > 200 and b.newest_frame().pixel(1, 1)[2] > 200
        assert http_get(a.url)[0] == 200 and http_get(b.url)[0] == 200
    red.Finalize()
    blue.Finalize()


def test_many_windows_on_one_server():
    """sb_stream_create_on_server: two windows, one port, /v/NAME/ each; closing one leaves the
    other served."""
    red, blue = make_window((1, 0, 0)), make_window((0, 0, 1))
    with streambridge.Server(port=0, access_token="shared") as server:
        left = streambridge.stream(red, server=server, name="left")
        right = streambridge.stream(blue, server=server, name="right")
        assert left.port == right.port == server.port
        assert left.url == "http://127.0.0.1:%d/v/left/?token=shared" % server.port
        left.render()
        right.render()
        assert http_get(left.url)[0] == 200 and http_get(right.url)[0] == 200
        status, body = http_get("http://127.0.0.1:%d/streams?token=shared" % server.port)
        assert status == 200 and b"left" in body and b"right" in body
        green = make_window((0, 1, 0))
        with pytest.raises(streambridge.StreamBridgeError) as e:
            streambridge.stream(green, server=server, name="left")
        assert e.value.name == "SB_EEXIST"
        green.Finalize()
        left_url = left.url
        left.close()
        assert http_get(left_url)[0] == 404 and http_get(right.url)[0] == 200
        right.close()
    red.Finalize()
    blue.Finalize()


def test_streaming_a_window_again_replaces_the_old_stream(window):
    """A notebook cell run twice: the new stream takes over the window (input replayed, resize
    applied), the old one is closed with a warning."""
    first = streambridge.stream(window)
    first.render()
    old_port = first.port
    with pytest.warns(UserWarning, match="replaced"):
        second = streambridge.stream(window)
    with second:
        assert first.closed and port_refuses(old_port)
        second.render()
        second.push_event(streambridge.SB_EVENT_RESIZE, width=100, height=80)
        assert second.pump(0) == 1 and window.GetSize() == (100, 80)
        assert second.stats()["events_invalid"] == 0


def test_context_manager_closes_on_error(window):
    with pytest.raises(RuntimeError):
        with streambridge.stream(window) as s:
            port = s.port
            raise RuntimeError("the app failed")
    assert s.closed and port_refuses(port)


def test_fury_show_manager_window(window):
    class ShowManager:  # FURY's: the vtkRenderWindow is showm.window
        def __init__(self, w):
            self.window = w
    with streambridge.stream(ShowManager(window)) as s:
        s.render()
        assert s.stats()["frames_captured"] >= 1


def test_input_and_resize_without_an_event_loop(window):
    """No Start(), no pump() by the app: the driver wakes the asyncio loop that owns the window,
    which replays pointer input and a resize."""
    async def main():
        with streambridge.stream(window) as s:
            assert s.driven
            s.render()
            camera = window.GetRenderers().GetFirstRenderer().GetActiveCamera()
            position = camera.GetPosition()

            def browser():  # another thread, as the server's are
                s.push_event(streambridge.SB_EVENT_BUTTON_PRESS, x=100, y=100,
                             button=streambridge.SB_BUTTON_LEFT)
                for i in range(30):
                    s.push_event(streambridge.SB_EVENT_POINTER_MOVE, x=100 + 3 * i, y=100,
                                 button=streambridge.SB_BUTTON_LEFT)
                s.push_event(streambridge.SB_EVENT_BUTTON_RELEASE, x=190, y=100,
                             button=streambridge.SB_BUTTON_LEFT)
                s.push_event(streambridge.SB_EVENT_RESIZE, width=200, height=150)
            threading.Thread(target=browser).start()

            def done():
                frame = s.newest_frame()
                return (frame.width, frame.height) == (200, 150) and \
                    camera.GetPosition() != position
            await wait_for_async(done, "the drag and the resize replayed by the driver")
            stats = s.stats()
            # press, the moves (coalesced into fewer), release, resize: all replayed
            assert stats["events_replayed"] >= 4, stats
            assert camera.GetPosition() != position, "the drag did not turn the camera"
            assert (s.newest_frame().width, s.newest_frame().height) == (200, 150)
            assert window.GetSize() == (200, 150)
            assert s._driver.pumps >= 1
    asyncio.run(main())


def test_no_loop_no_driver(window):
    with streambridge.stream(window) as s:
        assert not s.driven  # a plain script: it pumps itself or runs the interactor
        s.push_event(streambridge.SB_EVENT_RESIZE, width=100, height=80)
        assert s.pump(0) == 1 and window.GetSize() == (100, 80)


def test_allowed_origins_let_a_proxy_keep_the_public_host(window):
    with streambridge.stream(window) as plain:
        assert raw_get(plain.port, "/", "hub.test:8080")[0] == 403
    with streambridge.stream(window, allowed_origins=["http://hub.test:8080"]) as s:
        status, body = raw_get(s.port, "/", "hub.test:8080")
        assert status == 200, body
        assert raw_get(s.port, "/", "evil.test")[0] == 403


def test_allowed_origins_from_the_environment(window, monkeypatch):
    monkeypatch.setenv("STREAMBRIDGE_ALLOWED_ORIGINS", "https://hub.example.org")
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://public.example.org/user/me/")
    assert jupyter.default_allowed_origins() == \
        "https://hub.example.org,https://public.example.org"
    with streambridge.stream(window) as s:
        assert raw_get(s.port, "/", "public.example.org")[0] == 200


def test_notebook_urls(window, monkeypatch):
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "STREAMBRIDGE_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    with streambridge.stream(window, token="t0k") as s:
        assert s.public_url == s.url
        html = s._repr_html_()
        assert 'src="http://127.0.0.1:%d/?token=t0k"' % s.port in html
        assert 'width="320" height="240"' in html
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/me/")
        assert s.public_url == "/user/me/proxy/%d/?token=t0k" % s.port
        assert "<script>" in s._repr_html_()  # the refusal hint, on the notebook's origin
        monkeypatch.setenv("STREAMBRIDGE_PUBLIC_URL", "https://host.example/sb/{port}/")
        assert s.public_url == "https://host.example/sb/%d/?token=t0k" % s.port
        s.public_url_template = "direct"
        assert s.public_url == s.url
    assert "closed" in s._repr_html_() and "iframe" not in s._repr_html_()


def test_ring_queue_and_server_of_another_process(window):
    name = "pytest-%d" % os.getpid()
    with streambridge.stream(window, serve=False, shm_name=name) as s:
        assert s.port is None and s.url is None and s.ring_name == name
        s.render()
        with streambridge.FrameRing(name) as ring, streambridge.EventQueue(name) as queue, \
                streambridge.Server(ring, queue, port=0) as server:
            assert ring.newest_frame().width == 320 and ring.stats()["writer_alive"] == 1
            status, jpeg = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
                http_get("http://127.0.0.1:%d/snapshot.jpg" % server.port)), "a snapshot")
            assert jpeg[:2] == b"\xff\xd8"
            queue.push(streambridge.SB_EVENT_RESIZE, width=160, height=120)
            assert s.pump(0) == 1 and ring.newest_frame().width == 160
        with pytest.raises(streambridge.StreamBridgeError) as e:
            streambridge.FrameRing("pytest-no-such-stream")
        assert e.value.name == "SB_ENOENT"


def test_log_handler_gets_library_messages(window):
    lines = []
    streambridge.set_log_handler(lambda level, message: lines.append((level, message)))
    try:
        big = make_window(size=(400, 300))
        with streambridge.stream(big, max_size=(200, 200)) as s:
            with pytest.raises(streambridge.StreamBridgeError) as e:
                s.render()
            assert e.value.name == "SB_ETOOBIG"
        big.Finalize()
    finally:
        streambridge.set_log_handler(None)
    assert any("400x300" in message for _, message in lines), lines


# ---- library lookup ---------------------------------------------------------------------------

def fake_sanitized_library(path):
    """A file that looks like an ASan build to the lookup (the marker symbol in its strings)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x7fELF" + b"\0" * 60 + b"__asan_init\0__asan_version_mismatch_check_v8\0")


def real_library():
    return os.environ["STREAMBRIDGE_LIBRARY_UNDER_TEST"]


def test_lookup_prefers_build_and_skips_sanitizer_builds(tmp_path, monkeypatch):
    monkeypatch.delenv("STREAMBRIDGE_LIBRARY", raising=False)
    root = str(tmp_path)
    asan = os.path.join(root, "build-asan", "libstreambridge.so")
    fake_sanitized_library(asan)
    assert streambridge.sanitizer_of(asan) == "AddressSanitizer"
    assert streambridge.sanitizer_of(real_library()) is None
    # Only the sanitizer build: skipped (the lookup goes on to an installed library).
    assert _library.find_library(root) != asan
    os.makedirs(os.path.join(root, "build"))
    os.symlink(real_library(), os.path.join(root, "build", "libstreambridge.so"))
    assert _library.find_library(root) == os.path.join(root, "build", "libstreambridge.so")
    # build-asan and build-fuzz sort before build-release too: still skipped.
    os.rename(os.path.join(root, "build"), os.path.join(root, "build-release"))
    assert _library.find_library(root) == os.path.join(root, "build-release",
                                                       "libstreambridge.so")
    # Named explicitly: refused with the reason, not crashed on.
    monkeypatch.setenv("STREAMBRIDGE_LIBRARY", asan)
    with pytest.raises(streambridge.LibraryNotFound, match="sanitizer build"):
        _library.find_library(root)


def test_a_real_sanitizer_build_is_recognised():
    """The marker search on the real thing, when this checkout has one (tests/run.sh builds it)."""
    real = [os.path.join(REPO, d, "libstreambridge.so") for d in ("build-asan", "build-fuzz")]
    real = [p for p in real if os.path.exists(p)]
    if not real:
        pytest.skip("no build-asan/ or build-fuzz/ in this checkout")
    for path in real:
        assert streambridge.sanitizer_of(path) in ("AddressSanitizer",
                                                   "UndefinedBehaviorSanitizer"), path


def test_a_checkout_with_every_build_tree_loads_the_normal_one(tmp_path):
    """A fresh python3, the package from a checkout that has build/ and build-asan/ (as
    tests/run.sh leaves them), no STREAMBRIDGE_LIBRARY: it loads build/ and streams."""
    root = tmp_path / "checkout"
    (root / "capi" / "include" / "streambridge").mkdir(parents=True)
    (root / "capi" / "include" / "streambridge" / "streambridge.h").write_text("")
    os.symlink(os.path.join(REPO, "python"), root / "python")
    real_asan = os.path.join(REPO, "build-asan", "libstreambridge.so")
    if os.path.exists(real_asan):  # the real thing, which would abort python3 if loaded
        (root / "build-asan").mkdir()
        os.symlink(real_asan, root / "build-asan" / "libstreambridge.so")
    else:
        fake_sanitized_library(str(root / "build-asan" / "libstreambridge.so"))
    (root / "build").mkdir()
    os.symlink(real_library(), root / "build" / "libstreambridge.so")
    env = dict(os.environ)
    env.pop("STREAMBRIDGE_LIBRARY", None)
    code = ("import sys; sys.path.insert(0, %r); import streambridge; "
            "print(streambridge.library_path()); print(streambridge.version())"
            % str(root / "python"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == str(root / "build" / "libstreambridge.so")
