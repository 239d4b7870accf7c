"""The C API in Python form: errors, Stream (sb_stream_*), Server, FrameRing, EventQueue, log."""

import ctypes
import os
import secrets
import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from . import c_layouts as C
from ._library import library

__all__ = ["StreamBridgeError", "Stream", "stream", "Server", "FrameRing", "EventQueue",
           "FrameSnapshot", "version", "set_log_handler", "window_address"]


class StreamBridgeError(RuntimeError):
    """A libstreambridge call failed. .code is the SB_E... value (negative int), .name its symbol
    ("SB_EINVAL"), .detail the library's sb_last_error() text naming the function and reason."""

    def __init__(self, code: int, detail: str):
        self.code = code
        self.name = library().sb_err_name(code).decode()
        self.detail = detail
        super().__init__("%s: %s" % (self.name, detail))


def check(rc: int) -> int:
    """rc if >= 0, else raises StreamBridgeError with sb_last_error()."""
    if rc < 0:
        raise StreamBridgeError(rc, library().sb_last_error().decode(errors="replace"))
    return rc


def version() -> str:
    """Version of the loaded library ("0.2.0")."""
    return library().sb_version().decode()


# ---- logging ----------------------------------------------------------------------------------

_log_lock = threading.Lock()
# Every CFUNCTYPE object ever set: a library thread may still be inside a replaced one
# (log.h), so none is ever freed.
_log_callbacks: List[Any] = []


def set_log_handler(handler: Optional[Callable[[int, str], None]]) -> None:
    """Routes the library's diagnostics to handler(level, message) (level: SB_LOG_ERROR=1 ..
    SB_LOG_DEBUG=4); None restores the default (stderr lines "streambridge: ..."). The handler
    runs on library threads too: keep it short and thread-safe. streambridge.log_to_logging()
    is a ready handler for the logging module."""
    with _log_lock:
        if handler is None:
            library().sb_set_log_callback(C.LOG_FN(), None)
            return

        def trampoline(level, message, _user):
            try:
                handler(level, message.decode(errors="replace"))
            except Exception:  # an exception must never unwind into C
                pass

        callback = C.LOG_FN(trampoline)
        _log_callbacks.append(callback)
        library().sb_set_log_callback(callback, None)


def log_to_logging(level: int, message: str) -> None:
    """A set_log_handler() handler writing to logging.getLogger("streambridge")."""
    import logging
    py_level = {C.SB_LOG_ERROR: logging.ERROR, C.SB_LOG_WARNING: logging.WARNING,
                C.SB_LOG_INFO: logging.INFO}.get(level, logging.DEBUG)
    logging.getLogger("streambridge").log(py_level, "%s", message)


# ---- options ----------------------------------------------------------------------------------

_STREAM_FIELDS = {name for name, _ in C.StreamOptions._fields_} - {"version", "server"}
_SERVER_FIELDS = {name for name, _ in C.ServerOptions._fields_} - {"version"}


def _origins_text(origins: Union[None, str, Iterable[str]]) -> Optional[str]:
    if origins is None:
        return None
    if isinstance(origins, str):
        return origins
    return ",".join(o.strip() for o in origins)


class _Strings:
    """Keeps the bytes objects the option structs point at alive while C reads them."""

    def __init__(self):
        self.held: List[bytes] = []

    def __call__(self, value: Union[str, bytes]) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        self.held.append(data)
        return data


def _set_fields(target, fields, options: Dict[str, Any], strings: _Strings, what: str) -> None:
    for key, value in options.items():
        if key not in fields:
            raise TypeError("unknown %s option %r (known: %s)"
                            % (what, key, ", ".join(sorted(fields))))
        if value is None:
            continue
        if isinstance(value, (str, bytes)):
            value = strings(value)
        elif isinstance(value, bool):
            value = int(value)
        setattr(target, key, value)


def server_options(strings: _Strings, **options: Any) -> C.ServerOptions:
    """sb_server_options with the library's defaults and the given fields set."""
    opts = C.ServerOptions()
    check(library().sb_server_options_init(ctypes.byref(opts), C.SB_SERVER_OPTIONS_VERSION))
    if "allowed_origins" in options:
        options["allowed_origins"] = _origins_text(options["allowed_origins"])
    _set_fields(opts, _SERVER_FIELDS, options, strings, "server")
    return opts


def window_address(render_window: Any) -> int:
    """The C++ address of a vtkRenderWindow for sb_stream_create. Accepts a python3-vtk9
    vtkRenderWindow, an object holding one as .window (FURY's ShowManager), .render_window or
    .ren_win (PyVista), or an int address."""
    if isinstance(render_window, int):
        return render_window
    window = render_window
    for attribute in ("window", "render_window", "ren_win"):
        if not hasattr(window, "GetAddressAsString") and hasattr(window, attribute):
            window = getattr(window, attribute)
    if not hasattr(window, "GetAddressAsString"):
        raise TypeError("expected a vtkRenderWindow (or an object with .window), got %r"
                        % type(render_window).__name__)
    if hasattr(window, "IsA") and not window.IsA("vtkRenderWindow"):
        raise TypeError("expected a vtkRenderWindow, got a %s" % window.GetClassName())
    text = window.GetAddressAsString("vtkObject")  # "Addr=0x55d0c4a1b2c0"
    return int(text[5:], 16)


def _render_window_object(render_window: Any) -> Any:
    for attribute in ("window", "render_window", "ren_win"):
        if not hasattr(render_window, "GetAddressAsString") and hasattr(render_window, attribute):
            render_window = getattr(render_window, attribute)
    return render_window


def _counters(struct) -> Dict[str, Any]:
    return {name: getattr(struct, name) for name, _ in struct._fields_
            if name != "version" and not name.endswith("_")}


def _server_stats(server: int) -> Dict[str, Any]:
    st = C.ServerStats(version=C.SB_SERVER_STATS_VERSION)
    check(library().sb_server_get_stats(server, ctypes.byref(st)))
    return _counters(st)


def _server_port(server: int) -> int:
    port = ctypes.c_int(0)
    check(library().sb_server_get_port(server, ctypes.byref(port)))
    return port.value


# ---- frames and events ------------------------------------------------------------------------

@dataclass
class FrameSnapshot:
    """A copy of one frame of the ring: its sb_frame_info fields and its pixel rows."""
    seq: int
    width: int
    height: int
    stride: int
    format: int
    bottom_up: bool
    capture_ns: int
    pixels: bytes

    def pixel(self, x: int, y: int):
        """(r, g, b) at (x, y), y counted from the top of the picture."""
        row = self.height - 1 - y if self.bottom_up else y
        size = 3 if self.format == C.SB_PIXEL_RGB else 4
        offset = row * self.stride + x * size
        p = self.pixels
        if self.format == C.SB_PIXEL_BGRA:
            return p[offset + 2], p[offset + 1], p[offset]
        return p[offset], p[offset + 1], p[offset + 2]


def _newest_frame(ring: int) -> Optional[FrameSnapshot]:
    lib = library()
    frame = C.Frame()
    rc = lib.sb_frame_ring_acquire(ring, ctypes.byref(frame))
    if rc == C.SB_EAGAIN:
        return None
    check(rc)
    info = frame.info
    data = ctypes.string_at(frame.pixels, info.stride * info.height)
    snap = FrameSnapshot(info.seq, info.width, info.height, info.stride, info.format,
                         bool(info.bottom_up), info.capture_ns, data)
    # SB_ESTALE: the writer reused the slot while we copied; the copy must not be used.
    check(lib.sb_frame_ring_release(ring, ctypes.byref(frame)))
    return snap


def make_event(type: int, x: int = 0, y: int = 0, button: int = 0, modifiers: int = 0,
               key_code: int = 0, keysym: Union[str, bytes] = b"", wheel_delta: float = 0.0,
               width: int = 0, height: int = 0) -> C.Event:
    """An sb_event (coordinates in frame pixels, top-left origin)."""
    e = C.Event(type=type, x=x, y=y, button=button, modifiers=modifiers, key_code=key_code,
                wheel_delta=wheel_delta, width=width, height=height)
    e.keysym = keysym.encode() if isinstance(keysym, str) else keysym
    return e


def _url(bind: str, port: int, token: Optional[str], path: str = "/") -> str:
    host = bind
    if host in ("0.0.0.0", "", None):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = "[%s]" % host
    url = "http://%s:%d%s" % (host, port, path)
    return url + ("?token=" + token if token else "")


# ---- Stream -----------------------------------------------------------------------------------

# The open Stream of each window (by C++ address). One stream per window: a second one would
# share the interactor the first made, and lose it when the first closes (re-running a notebook
# cell does exactly this), so stream() closes the old one first.
_streams_by_window: "weakref.WeakValueDictionary[int, Stream]" = weakref.WeakValueDictionary()

class Stream:
    """A VTK render window streamed by libstreambridge (one sb_stream). Make it with
    streambridge.stream(window, ...). Every method runs on the thread that owns the VTK window.

    .url is the viewer's address; display(stream) in a notebook shows it in the output cell.
    Input from browsers is replayed by the interactor's timer while the app runs
    interactor.Start(), by .pump() in the app's own loop, and, when nothing else runs (a
    notebook kernel between cells), by the input driver (see streambridge.stream's `drive`).
    """

    def __init__(self, render_window: Any, options: C.StreamOptions, strings: _Strings,
                 token: Optional[str], server: Optional["Server"] = None,
                 name: Optional[str] = None):
        self._handle = ctypes.c_void_p()
        self._window = _render_window_object(render_window)  # keeps the wrapper alive
        self._strings = strings
        self._token = token or None
        self._bind = (options.server.bind_address or b"127.0.0.1").decode()
        self._driver = None
        self._server = server  # a shared server outlives its streams: keep it alive
        self._path = "/"       # the viewer page's path on the server
        self.public_url_template: Optional[str] = None  # see streambridge.jupyter
        self._address = window_address(render_window)
        old = _streams_by_window.get(self._address)
        if old is not None and not old.closed:
            warnings.warn("streambridge: this window was streamed already (%r); that stream is "
                          "closed and replaced by the new one" % old, stacklevel=3)
            old.close()
        address = ctypes.c_void_p(self._address)
        self._create(address, options, strings, server, name)
        _streams_by_window[self._address] = self

    def _create(self, address, options, strings, server, name) -> None:
        if server is None:
            check(library().sb_stream_create(address, ctypes.byref(options),
                                             ctypes.byref(self._handle)))
            return
        if not name:
            raise TypeError("a stream on a shared server needs a name")
        self._token, self._bind = server._token, server._bind
        check(library().sb_stream_create_on_server(server._live(), strings(name), address,
                                                   ctypes.byref(options),
                                                   ctypes.byref(self._handle)))
        if name != "default":  # SB_SERVER_DEFAULT_STREAM_NAME is served at the top level
            self._path = "/v/%s/" % name

    # -- life --
    def close(self) -> None:
        """Stops the input driver and the server, detaches from the window. Idempotent."""
        if self._driver is not None:
            self._driver.stop()
            self._driver = None
        if self._handle:
            library().sb_stream_destroy(self._handle)
            self._handle = ctypes.c_void_p()
            if _streams_by_window.get(getattr(self, "_address", None)) is self:
                del _streams_by_window[self._address]

    @property
    def closed(self) -> bool:
        return not self._handle

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def _live(self) -> ctypes.c_void_p:
        if not self._handle:
            raise StreamBridgeError(-16, "the stream is closed")  # SB_ESTATE
        return self._handle

    # -- the render thread's calls --
    def pump(self, timeout_ms: int = 0) -> int:
        """Replays queued browser input now (waiting up to timeout_ms for the first event; -1
        forever) and renders once if anything was replayed. Returns the number of events. The
        GIL is released while the library waits."""
        return check(library().sb_stream_pump(self._live(), timeout_ms))

    def render(self) -> None:
        """Renders the window once (so a frame is captured and sent)."""
        check(library().sb_stream_render(self._live()))

    def serve(self, **options: Any) -> None:
        """Starts the web server now (a stream made with serve=False), with sb_server_options
        fields as keywords (port, bind_address, access_token, allowed_origins, ...); none = the
        options the stream was made with."""
        opts = server_options(self._strings, **options) if options else None
        check(library().sb_stream_serve(self._live(),
                                        ctypes.byref(opts) if opts is not None else None))
        if options.get("access_token") is not None:
            self._token = options["access_token"] or None
        if options.get("bind_address"):
            self._bind = options["bind_address"]

    # -- what it shows --
    @property
    def port(self) -> Optional[int]:
        """The server's bound port (the chosen one for port=0), or None without a server."""
        server = library().sb_stream_server(self._live())
        return _server_port(server) if server else None

    @property
    def token(self) -> Optional[str]:
        """The access token viewers need (None: no token)."""
        return self._token

    @property
    def url(self) -> Optional[str]:
        """The viewer page on this machine: http://127.0.0.1:PORT/?token=T (None: no server)."""
        port = self.port
        return _url(self._bind, port, self._token, self._path) if port is not None else None

    @property
    def public_url(self) -> Optional[str]:
        """The viewer page as a notebook's browser reaches it: through the JupyterHub/Binder
        proxy (JUPYTERHUB_SERVICE_PREFIX + proxy/PORT/) when there is one, else .url.
        streambridge.jupyter explains the rules and the overrides."""
        from . import jupyter
        return jupyter.public_url(self)

    def stats(self) -> Dict[str, Any]:
        """sb_stream_stats as a dict (frames_captured, events_replayed, render_ms_p50, ...)."""
        st = C.StreamStats(version=C.SB_STREAM_STATS_VERSION)
        check(library().sb_stream_get_stats(self._live(), ctypes.byref(st)))
        return _counters(st)

    def server_stats(self) -> Optional[Dict[str, Any]]:
        """sb_server_stats as a dict (frames_sent, clients, delivered_fps, ...), None without a
        server. Any thread."""
        server = library().sb_stream_server(self._live())
        return _server_stats(server) if server else None

    @property
    def ring_name(self) -> str:
        """The stream's shm name ("" for a heap ring): streambridge-server --name attaches."""
        lib = library()
        return lib.sb_frame_ring_name(lib.sb_stream_frame_ring(self._live())).decode()

    def newest_frame(self) -> Optional[FrameSnapshot]:
        """A copy of the newest captured frame, or None before the first."""
        return _newest_frame(library().sb_stream_frame_ring(self._live()))

    def push_event(self, type: int, **fields: Any) -> None:
        """Queues one input event as a browser would (make_event's keywords); replayed by the
        next pump. Any thread."""
        e = make_event(type, **fields)
        check(library().sb_event_queue_push(library().sb_stream_event_queue(self._live()),
                                            ctypes.byref(e)))

    # -- input without an event loop --
    def drive(self, how: str = "auto") -> bool:
        """Keeps browser input flowing when nobody calls interactor.Start() or pump(): a
        thread sleeps on the event queue and, when input arrives, schedules pump() on the event
        loop of the thread that owns the window ("kernel": the Jupyter kernel's, "asyncio":
        the running asyncio loop of this thread; "auto": whichever exists). It never touches
        VTK itself. Returns False (and changes nothing) when there is no such loop."""
        from ._driver import InputDriver, find_scheduler
        if self._driver is not None:
            return True
        schedule = find_scheduler(how)
        if schedule is None:
            return False
        queue = library().sb_stream_event_queue(self._live())
        self._driver = InputDriver(self, queue, schedule)
        return True

    @property
    def driven(self) -> bool:
        """Whether the input driver runs (see drive())."""
        return self._driver is not None

    # -- notebooks --
    def _repr_html_(self) -> str:
        from . import jupyter
        return jupyter.iframe_html(self)

    def iframe(self, width: Optional[int] = None, height: Optional[int] = None):
        """An IPython.display.HTML with the live view (display(stream) does this with the
        window's size)."""
        from . import jupyter
        from IPython.display import HTML
        return HTML(jupyter.iframe_html(self, width, height))

    def __repr__(self) -> str:
        if self.closed:
            return "<streambridge.Stream closed>"
        return "<streambridge.Stream %s>" % (self.url or "ring %r" % self.ring_name)


def _in_notebook() -> bool:
    from . import jupyter
    return jupyter.in_kernel()


def stream(render_window: Any, *, port: int = 0, token: Optional[str] = None,
           bind_address: str = "127.0.0.1",
           allowed_origins: Union[None, str, Iterable[str]] = None,
           serve: bool = True, shm_name: Optional[str] = None,
           max_size: Optional[tuple] = None, allow_remote_exit: bool = False,
           drive: Union[str, bool] = "auto", server: Optional["Server"] = None,
           name: Optional[str] = None, **options: Any) -> Stream:
    """Streams render_window (a python3-vtk9 vtkRenderWindow, or FURY's ShowManager, or an
    object with .window/.render_window/.ren_win) to browsers and returns the Stream.

    port: 0 (default) = any free port (read it back from .port/.url). token: the access token
    every endpoint then requires; None = $STREAMBRIDGE_TOKEN, else a random one inside a
    notebook kernel, else none; "" = none. bind_address: default loopback. allowed_origins: the public origins of reverse
    proxies in front ("https://hub.example.org"; a string with commas or a list); None =
    $STREAMBRIDGE_ALLOWED_ORIGINS, plus in a notebook the hub's public URL when JupyterHub
    names it. serve=False: only the frame ring (shm_name= for streambridge-server).
    max_size: (w, h) of the largest frame. server, name: attach to a running
    streambridge.Server as its stream `name` (served at /v/NAME/, listed at /streams; "default"
    = the top-level endpoints) instead of starting a server of its own: many windows, one port
    (the server's options apply; port, token, ... here are ignored). drive: "auto" starts the input driver (Stream.drive)
    when a Jupyter kernel or asyncio loop is there to schedule on; False never.
    Other keywords: any field of sb_stream_options or sb_server_options (max_fps,
    jpeg_quality_interactive, max_clients, video_codecs, timer_interval_ms, ...).
    Raises StreamBridgeError (with sb_last_error()) when the library refuses.
    """
    from . import jupyter
    strings = _Strings()
    opts = C.StreamOptions()
    check(library().sb_stream_options_init(ctypes.byref(opts), C.SB_STREAM_OPTIONS_VERSION))
    if token is None:
        token = os.environ.get("STREAMBRIDGE_TOKEN") or (
            secrets.token_urlsafe(24) if jupyter.in_kernel() else "")
    origins = _origins_text(allowed_origins)
    if origins is None:
        origins = jupyter.default_allowed_origins()
    stream_fields: Dict[str, Any] = {"serve": serve, "shm_name": shm_name,
                                     "allow_remote_exit": allow_remote_exit}
    if max_size is not None:
        stream_fields["max_width"], stream_fields["max_height"] = max_size
    server_fields: Dict[str, Any] = {"port": port, "access_token": token or None,
                                     "bind_address": bind_address, "allowed_origins": origins}
    for key, value in options.items():
        if key in _STREAM_FIELDS:
            stream_fields[key] = value
        elif key in _SERVER_FIELDS:
            server_fields[key] = value
        else:
            raise TypeError("unknown option %r: not a field of sb_stream_options or "
                            "sb_server_options" % key)
    _set_fields(opts, _STREAM_FIELDS, stream_fields, strings, "stream")
    _set_fields(opts.server, _SERVER_FIELDS, server_fields, strings, "server")
    s = Stream(render_window, opts, strings, token or None, server, name)
    if drive:
        s.drive("auto" if drive is True else drive)
    return s


# ---- the parts below a stream (another process's stream, or a server of your own) -------------

class FrameRing:
    """A reader of a shm frame ring (sb_frame_ring_attach): another process's stream."""

    def __init__(self, shm_name: str):
        self._ring = ctypes.c_void_p()
        check(library().sb_frame_ring_attach(shm_name.encode(), ctypes.byref(self._ring)))

    @property
    def handle(self) -> ctypes.c_void_p:
        return self._ring

    def newest_frame(self) -> Optional[FrameSnapshot]:
        return _newest_frame(self._ring)

    def wait(self, after_seq: int, timeout_ms: int = -1) -> int:
        """Sleeps until a frame newer than after_seq exists; returns the newest seq.
        StreamBridgeError SB_ETIMEDOUT / SB_EGONE otherwise."""
        seq = ctypes.c_uint64(0)
        check(library().sb_frame_ring_wait(self._ring, after_seq, timeout_ms, ctypes.byref(seq)))
        return seq.value

    def latest_seq(self) -> int:
        return library().sb_frame_ring_latest_seq(self._ring)

    def stats(self) -> Dict[str, Any]:
        st = C.FrameRingStats(version=C.SB_FRAME_RING_STATS_VERSION)
        check(library().sb_frame_ring_get_stats(self._ring, ctypes.byref(st)))
        return _counters(st)

    def check(self) -> None:
        """Raises StreamBridgeError SB_EBADSEG when the segment is broken or corrupted."""
        check(library().sb_frame_ring_check(self._ring))

    def close(self) -> None:
        if self._ring:
            library().sb_frame_ring_destroy(self._ring)
            self._ring = ctypes.c_void_p()

    def __enter__(self) -> "FrameRing":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventQueue:
    """A producer on a shm event queue (sb_event_queue_attach)."""

    def __init__(self, shm_name: str):
        self._queue = ctypes.c_void_p()
        check(library().sb_event_queue_attach(shm_name.encode(), ctypes.byref(self._queue)))

    @property
    def handle(self) -> ctypes.c_void_p:
        return self._queue

    def push(self, type: int, **fields: Any) -> None:
        e = make_event(type, **fields)
        check(library().sb_event_queue_push(self._queue, ctypes.byref(e)))

    def stats(self) -> Dict[str, Any]:
        st = C.EventQueueStats(version=C.SB_EVENT_QUEUE_STATS_VERSION)
        check(library().sb_event_queue_get_stats(self._queue, ctypes.byref(st)))
        return _counters(st)

    def close(self) -> None:
        if self._queue:
            library().sb_event_queue_destroy(self._queue)
            self._queue = ctypes.c_void_p()

    def __enter__(self) -> "EventQueue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Server:
    """A web server (sb_server_create). Over a frame ring and (optionally) an event queue it
    serves them as its default stream, as streambridge-server does; without them it starts empty
    and serves the streams added later: windows through streambridge.stream(window,
    server=srv, name="left"), other processes' rings through add_stream(). Keywords:
    sb_server_options fields (port=0, access_token, allowed_origins, ...)."""

    def __init__(self, ring: Optional[FrameRing] = None, queue: Optional[EventQueue] = None,
                 **options: Any):
        self._strings = _Strings()
        opts = server_options(self._strings, **options)
        self._held: Dict[str, Any] = {"default": (ring, queue)}  # borrowed by the server
        self._token = options.get("access_token") or None
        self._bind = options.get("bind_address") or "127.0.0.1"
        self._server = ctypes.c_void_p()
        check(library().sb_server_create(ring.handle if ring else None,
                                         queue.handle if queue else None,
                                         ctypes.byref(opts), ctypes.byref(self._server)))

    def _live(self) -> ctypes.c_void_p:
        if not self._server:
            raise StreamBridgeError(-16, "the server is closed")  # SB_ESTATE
        return self._server

    def add_stream(self, name: str, ring: FrameRing, queue: Optional[EventQueue] = None) -> str:
        """Serves ring (input into queue; None = view only) as stream `name` (/v/NAME/);
        returns its URL."""
        check(library().sb_server_add_stream(self._live(), name.encode(), ring.handle,
                                             queue.handle if queue else None))
        self._held[name] = (ring, queue)
        return self.url_of(name)

    def remove_stream(self, name: str) -> None:
        """Stops serving stream `name` (its viewers are closed)."""
        check(library().sb_server_remove_stream(self._live(), name.encode()))
        self._held.pop(name, None)

    def url_of(self, name: str) -> str:
        """The viewer page of stream `name`."""
        return _url(self._bind, self.port, self._token, "/v/%s/" % name)

    @property
    def port(self) -> int:
        return _server_port(self._live())

    @property
    def url(self) -> str:
        return _url(self._bind, self.port, self._token)

    def stats(self) -> Dict[str, Any]:
        return _server_stats(self._server)

    def close(self) -> None:
        if self._server:
            library().sb_server_destroy(self._server)
            self._server = ctypes.c_void_p()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
