"""streambridge_ctypes - use libstreambridge from Python through ctypes (no compiled binding).

    import vtk, streambridge_ctypes as sb
    ren_win = vtk.vtkRenderWindow()            # ... your pipeline ...
    with sb.Stream(ren_win, serve=True, port=8000) as stream:  # port: a server option
        ren_win.GetInteractor().Start()        # the stream's timer replays browser input

The library is found, in this order, at $STREAMBRIDGE_LIBRARY (a path to libstreambridge.so),
in the repository's build directories (build*/libstreambridge.so), then on the system
(ctypes.util.find_library / the dynamic loader). It must use the same VTK shared libraries as
the python3-vtk9 module (Debian's /usr/lib/x86_64-linux-gnu/libvtk*-9.1.so): the render window
is passed as the address of the C++ object, obtained from the VTK wrapper with
GetAddressAsString("vtkObject") ("Addr=0x55d0c4a1b2c0").

All Stream methods must be called from the thread that owns the VTK window (the render thread).
"""

import ctypes
import ctypes.util
import glob
import os

# ---- C declarations (capi/include/streambridge/*.h) -----------------------------------------

SB_OK = 0
SB_EAGAIN = -5

SB_STREAM_OPTIONS_VERSION = 3
SB_SERVER_OPTIONS_VERSION = 3
SB_STREAM_STATS_VERSION = 2
SB_PIXEL_RGBA, SB_PIXEL_BGRA, SB_PIXEL_RGB = 1, 2, 3
SB_STREAM_READBACK_SYNC, SB_STREAM_READBACK_ASYNC = 1, 2

(SB_EVENT_NONE, SB_EVENT_POINTER_MOVE, SB_EVENT_BUTTON_PRESS, SB_EVENT_BUTTON_RELEASE,
 SB_EVENT_WHEEL, SB_EVENT_KEY_PRESS, SB_EVENT_KEY_RELEASE, SB_EVENT_CHAR,
 SB_EVENT_RESIZE) = range(9)
SB_BUTTON_NONE, SB_BUTTON_LEFT, SB_BUTTON_MIDDLE, SB_BUTTON_RIGHT = range(4)
SB_MOD_SHIFT, SB_MOD_CTRL, SB_MOD_ALT, SB_MOD_META = 1, 2, 4, 8
SB_KEYSYM_MAX = 32


class ServerOptions(ctypes.Structure):
    """Mirror of sb_server_options (same field order and types; tests/capi checks the layout)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("bind_address", ctypes.c_char_p),
        ("port", ctypes.c_int),
        ("jpeg_quality_interactive", ctypes.c_int),
        ("jpeg_quality_still", ctypes.c_int),
        ("still_delay_ms", ctypes.c_int),
        ("max_fps", ctypes.c_double),
        ("access_token", ctypes.c_char_p),
        ("allowed_origins", ctypes.c_char_p),
        ("max_clients", ctypes.c_int),
        ("max_message_bytes", ctypes.c_int),
        ("max_events_per_second", ctypes.c_int),
        ("num_threads", ctypes.c_int),
        ("send_timeout_ms", ctypes.c_int),
        ("max_clients_per_address", ctypes.c_int),
        ("ack_timeout_ms", ctypes.c_int),
        ("video_codecs", ctypes.c_char_p),
        ("default_codec", ctypes.c_char_p),
        ("video_crf", ctypes.c_int),
        ("video_max_kbps", ctypes.c_int),
        ("keyframe_min_interval_ms", ctypes.c_int),
        ("keyframe_interval_ms", ctypes.c_int),
    ]

    @classmethod
    def defaults(cls):
        """The library's defaults (sb_server_options_init)."""
        opts = cls()
        _check(library().sb_server_options_init(ctypes.byref(opts), SB_SERVER_OPTIONS_VERSION))
        return opts


class StreamOptions(ctypes.Structure):
    """Mirror of sb_stream_options (same field order and types; tests/capi checks the layout)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("max_width", ctypes.c_uint32),
        ("max_height", ctypes.c_uint32),
        ("buffer_count", ctypes.c_uint32),
        ("shm_name", ctypes.c_char_p),
        ("serve", ctypes.c_int),
        ("timer_interval_ms", ctypes.c_int),
        ("allow_remote_exit", ctypes.c_int),
        ("readback", ctypes.c_int),  # version 3: SB_STREAM_READBACK_SYNC / _ASYNC
        ("server", ServerOptions),
    ]

    @classmethod
    def defaults(cls):
        """The library's defaults (sb_stream_options_init, which also fills .server)."""
        opts = cls()
        _check(library().sb_stream_options_init(ctypes.byref(opts), SB_STREAM_OPTIONS_VERSION))
        return opts


class FrameInfo(ctypes.Structure):
    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("stride", ctypes.c_uint32),
        ("format", ctypes.c_uint32),
        ("bottom_up", ctypes.c_uint32),
        ("reserved_", ctypes.c_uint32),
        ("capture_ns", ctypes.c_uint64),
        ("input_ns", ctypes.c_uint64),
        ("replay_ns", ctypes.c_uint64),
        ("render_start_ns", ctypes.c_uint64),
        ("render_end_ns", ctypes.c_uint64),
    ]


class Frame(ctypes.Structure):
    _fields_ = [
        ("info", FrameInfo),
        ("pixels", ctypes.POINTER(ctypes.c_uint8)),
        ("slot_", ctypes.c_uint32),
        ("gen_", ctypes.c_uint64),
    ]


class Event(ctypes.Structure):
    """Mirror of sb_event (80 bytes). Coordinates: frame pixels, top-left origin."""
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("button", ctypes.c_uint32),
        ("modifiers", ctypes.c_uint32),
        ("key_code", ctypes.c_uint32),
        ("x", ctypes.c_int32),
        ("y", ctypes.c_int32),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("wheel_delta", ctypes.c_float),
        ("producer_id", ctypes.c_uint32),
        ("timestamp_ns", ctypes.c_uint64),
        ("keysym", ctypes.c_char * SB_KEYSYM_MAX),
    ]


class StreamStats(ctypes.Structure):
    """Mirror of sb_stream_stats; version is set before the call (SB_STREAM_STATS_VERSION)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("frames_captured", ctypes.c_uint64),
        ("frames_refused_too_big", ctypes.c_uint64),
        ("events_replayed", ctypes.c_uint64),
        ("events_invalid", ctypes.c_uint64),
        ("renders_requested", ctypes.c_uint64),
        ("capture_ms_mean", ctypes.c_double),
        ("render_ms_p50", ctypes.c_double),
        ("render_ms_p99", ctypes.c_double),
        ("input_to_publish_ms_p50", ctypes.c_double),
        ("input_to_publish_ms_p99", ctypes.c_double),
    ]


assert ctypes.sizeof(Event) == 80, "sb_event must be 80 bytes"


def _candidate_paths():
    env = os.environ.get("STREAMBRIDGE_LIBRARY")
    if env:
        yield env
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    for path in sorted(glob.glob(os.path.join(repo, "build*", "libstreambridge.so"))):
        yield path
    found = ctypes.util.find_library("streambridge")
    if found:
        yield found
    yield "libstreambridge.so.0"


def load_library():
    """Loads libstreambridge and declares the functions used here. Raises OSError if absent."""
    errors = []
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    else:
        raise OSError("libstreambridge not found (set STREAMBRIDGE_LIBRARY): " + "; ".join(errors))

    def declare(name, restype, *argtypes):
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = list(argtypes)

    vp = ctypes.c_void_p
    declare("sb_last_error", ctypes.c_char_p)
    declare("sb_err_name", ctypes.c_char_p, ctypes.c_int)
    declare("sb_stream_options_init", ctypes.c_int, ctypes.POINTER(StreamOptions), ctypes.c_uint)
    declare("sb_server_options_init", ctypes.c_int, ctypes.POINTER(ServerOptions), ctypes.c_uint)
    declare("sb_stream_create", ctypes.c_int, vp, ctypes.POINTER(StreamOptions),
            ctypes.POINTER(vp))
    declare("sb_stream_destroy", None, vp)
    declare("sb_stream_pump", ctypes.c_int, vp, ctypes.c_int)
    declare("sb_stream_render", ctypes.c_int, vp)
    declare("sb_stream_frame_ring", vp, vp)
    declare("sb_stream_event_queue", vp, vp)
    declare("sb_stream_server", vp, vp)
    declare("sb_stream_get_stats", ctypes.c_int, vp, ctypes.POINTER(StreamStats))
    declare("sb_frame_ring_acquire", ctypes.c_int, vp, ctypes.POINTER(Frame))
    declare("sb_frame_ring_release", ctypes.c_int, vp, ctypes.POINTER(Frame))
    declare("sb_frame_ring_name", ctypes.c_char_p, vp)
    declare("sb_event_queue_push", ctypes.c_int, vp, ctypes.POINTER(Event))
    declare("sb_server_get_port", ctypes.c_int, vp, ctypes.POINTER(ctypes.c_int))
    return lib


_lib = None


def library():
    global _lib
    if _lib is None:
        _lib = load_library()
    return _lib


class StreamBridgeError(RuntimeError):
    def __init__(self, code, message):
        self.code = code
        self.name = library().sb_err_name(code).decode()
        super().__init__("%s: %s" % (self.name, message))


def _check(rc):
    if rc < 0:
        raise StreamBridgeError(rc, library().sb_last_error().decode(errors="replace"))
    return rc


def window_address(render_window):
    """The C++ address of a VTK Python object, as sb_stream_create expects it."""
    text = render_window.GetAddressAsString("vtkObject")  # "Addr=0x55d0c4a1b2c0"
    return int(text[5:], 16)


def _c_string(value):
    return value.encode() if isinstance(value, str) else value


_STREAM_FIELDS = {name for name, _ in StreamOptions._fields_} - {"version", "server"}
_SERVER_FIELDS = {name for name, _ in ServerOptions._fields_} - {"version"}


class Stream:
    """One sb_stream attached to a VTK render window. Keyword options are the fields of
    sb_stream_options (max_width, max_height, buffer_count, shm_name, serve, timer_interval_ms,
    allow_remote_exit, readback) and of its .server, sb_server_options (bind_address, port,
    jpeg_quality_interactive, jpeg_quality_still, still_delay_ms, max_fps, access_token,
    allowed_origins, max_clients, ...); booleans may be given as bools. Unset ones keep the
    library's defaults."""

    def __init__(self, render_window, **options):
        lib = library()
        opts = StreamOptions.defaults()
        self._keep = []  # the option strings must live while the C call reads them
        for key, value in options.items():
            if key in _STREAM_FIELDS:
                target = opts
            elif key in _SERVER_FIELDS:
                target = opts.server
            else:
                raise TypeError("unknown stream option %r" % key)
            if isinstance(value, (str, bytes)):
                value = _c_string(value)
                self._keep.append(value)
            if isinstance(value, bool):
                value = int(value)
            setattr(target, key, value)
        self._window = render_window  # keeps the Python wrapper (and the window) alive
        handle = ctypes.c_void_p()
        _check(lib.sb_stream_create(ctypes.c_void_p(window_address(render_window)),
                                    ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle

    def close(self):
        if self._handle:
            library().sb_stream_destroy(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def render(self):
        _check(library().sb_stream_render(self._handle))

    def pump(self, timeout_ms=0):
        """Replays queued events (waiting up to timeout_ms for one); returns how many."""
        return _check(library().sb_stream_pump(self._handle, timeout_ms))

    def stats(self):
        st = StreamStats(version=SB_STREAM_STATS_VERSION)
        _check(library().sb_stream_get_stats(self._handle, ctypes.byref(st)))
        return {name: getattr(st, name) for name, _ in StreamStats._fields_ if name != "version"}

    def ring_name(self):
        return library().sb_frame_ring_name(library().sb_stream_frame_ring(self._handle)).decode()

    def server_port(self):
        """The bound port of the running server, or None."""
        server = library().sb_stream_server(self._handle)
        if not server:
            return None
        port = ctypes.c_int(0)
        _check(library().sb_server_get_port(server, ctypes.byref(port)))
        return port.value

    def newest_frame(self):
        """(FrameInfo, bytes) of the newest frame (a copy), or None before the first frame."""
        lib = library()
        ring = lib.sb_stream_frame_ring(self._handle)
        frame = Frame()
        rc = lib.sb_frame_ring_acquire(ring, ctypes.byref(frame))
        if rc == SB_EAGAIN:
            return None
        _check(rc)
        info = FrameInfo.from_buffer_copy(frame.info)
        data = ctypes.string_at(frame.pixels, info.stride * info.height)
        # SB_ESTALE: the writer reused the slot while we copied; what we copied is not to be used.
        _check(lib.sb_frame_ring_release(ring, ctypes.byref(frame)))
        return info, data

    def push_event(self, type, x=0, y=0, button=0, modifiers=0, key_code=0, keysym=b"",
                   wheel_delta=0.0, width=0, height=0):
        e = Event(type=type, x=x, y=y, button=button, modifiers=modifiers, key_code=key_code,
                  wheel_delta=wheel_delta, width=width, height=height)
        e.keysym = _c_string(keysym)
        _check(library().sb_event_queue_push(library().sb_stream_event_queue(self._handle),
                                             ctypes.byref(e)))


def pixel(info, data, x, y):
    """(r, g, b) at (x, y), y counted from the top of the picture."""
    row = info.height - 1 - y if info.bottom_up else y
    offset = row * info.stride + x * 4
    if info.format == SB_PIXEL_BGRA:
        return data[offset + 2], data[offset + 1], data[offset]
    return data[offset], data[offset + 1], data[offset + 2]
