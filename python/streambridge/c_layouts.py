"""c_layouts - the C declarations of libstreambridge for ctypes: constants, struct layouts and
function prototypes (capi/include/streambridge/*.h). The one Python copy of the C ABI.

Every struct here mirrors its C twin field for field; tests/capi/check_ctypes_layouts.py compares
sizes, field offsets and struct versions with the headers (ctest python_ctypes_layouts_match_c).
When a public struct changes, change it here in the same commit. This module loads no library.
"""

import ctypes

# ---- constants -------------------------------------------------------------------------------

# The library's soname number (SB_SOVERSION, CMakeLists.txt): libstreambridge.so.1.
SB_SOVERSION = 1

SB_OK = 0
SB_EAGAIN = -5
SB_ETIMEDOUT = -4
SB_ESTALE = -10
SB_EWOKEN = -18

SB_STREAM_OPTIONS_VERSION = 3
SB_SERVER_OPTIONS_VERSION = 4
SB_STREAM_STATS_VERSION = 2
SB_SERVER_STATS_VERSION = 1
SB_FRAME_RING_STATS_VERSION = 1
SB_EVENT_QUEUE_STATS_VERSION = 1

SB_PIXEL_RGBA, SB_PIXEL_BGRA, SB_PIXEL_RGB = 1, 2, 3
SB_STREAM_READBACK_SYNC, SB_STREAM_READBACK_ASYNC = 1, 2

(SB_EVENT_NONE, SB_EVENT_POINTER_MOVE, SB_EVENT_BUTTON_PRESS, SB_EVENT_BUTTON_RELEASE,
 SB_EVENT_WHEEL, SB_EVENT_KEY_PRESS, SB_EVENT_KEY_RELEASE, SB_EVENT_CHAR,
 SB_EVENT_RESIZE) = range(9)
SB_BUTTON_NONE, SB_BUTTON_LEFT, SB_BUTTON_MIDDLE, SB_BUTTON_RIGHT = range(4)
SB_MOD_SHIFT, SB_MOD_CTRL, SB_MOD_ALT, SB_MOD_META = 1, 2, 4, 8
SB_KEYSYM_MAX = 32

SB_LOG_ERROR, SB_LOG_WARNING, SB_LOG_INFO, SB_LOG_DEBUG = 1, 2, 3, 4

# ---- structs ---------------------------------------------------------------------------------


class ServerOptions(ctypes.Structure):
    """sb_server_options (server.h)."""
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
        ("view_token", ctypes.c_char_p),
        ("rtp_host", ctypes.c_char_p),
        ("rtp_port", ctypes.c_int),
        ("rtp_rtcp_port", ctypes.c_int),
        ("rtp_payload_type", ctypes.c_int),
        ("rtp_codec", ctypes.c_char_p),
        ("rtp_mtu", ctypes.c_int),
        ("rtp_keyframe_interval_ms", ctypes.c_int),
        ("rtp_janus_url", ctypes.c_char_p),
        ("rtp_mountpoint_id", ctypes.c_int),
    ]


class StreamOptions(ctypes.Structure):
    """sb_stream_options (stream.h); .server stays the last member."""
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


class StreamStats(ctypes.Structure):
    """sb_stream_stats (stream.h); version set by the caller."""
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


# SB_SERVER_COUNTER_MAP (server.h), in its order.
SERVER_COUNTERS = (
    "frames_published", "frames_encoded", "frames_encoded_still", "frames_coalesced",
    "frames_sent", "frames_skipped", "bytes_sent", "events_received", "events_dropped",
    "events_rate_limited", "messages_rejected", "clients_refused", "encode_errors",
)


class ServerStats(ctypes.Structure):
    """sb_server_stats (server.h); version set by the caller."""
    _fields_ = ([("version", ctypes.c_uint)]
                + [(name, ctypes.c_uint64) for name in SERVER_COUNTERS]
                + [("clients", ctypes.c_uint32),
                   ("reserved_", ctypes.c_uint32),
                   ("encode_ms_mean", ctypes.c_double),
                   ("encode_ms_p50", ctypes.c_double),
                   ("encode_ms_p99", ctypes.c_double),
                   ("delivered_fps", ctypes.c_double)])


class FrameRingStats(ctypes.Structure):
    """sb_frame_ring_stats (frame_ring.h)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("published", ctypes.c_uint64),
        ("refused_too_big", ctypes.c_uint64),
        ("overwritten_held", ctypes.c_uint64),
        ("writer_pid", ctypes.c_int32),
        ("writer_alive", ctypes.c_uint32),
        ("heartbeat_ns", ctypes.c_uint64),
        ("broken", ctypes.c_uint32),
        ("corrupted", ctypes.c_uint32),
        ("corrupt_reads", ctypes.c_uint64),
    ]


class EventQueueStats(ctypes.Structure):
    """sb_event_queue_stats (event_queue.h)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("pushed", ctypes.c_uint64),
        ("popped", ctypes.c_uint64),
        ("dropped_moves", ctypes.c_uint64),
        ("dropped_other", ctypes.c_uint64),
        ("rejected_invalid", ctypes.c_uint64),
        ("depth", ctypes.c_uint32),
        ("capacity", ctypes.c_uint32),
        ("corrupt_reads", ctypes.c_uint64),
        ("broken", ctypes.c_uint32),
        ("reserved_", ctypes.c_uint32),
    ]


class FrameInfo(ctypes.Structure):
    """sb_frame_info (frame_ring.h)."""
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
    """sb_frame (frame_ring.h): a frame held between acquire and release."""
    _fields_ = [
        ("info", FrameInfo),
        ("pixels", ctypes.POINTER(ctypes.c_uint8)),
        ("slot_", ctypes.c_uint32),
        ("gen_", ctypes.c_uint64),
    ]


class Event(ctypes.Structure):
    """sb_event (events.h), 80 bytes. Coordinates: frame pixels, top-left origin."""
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


assert ctypes.sizeof(Event) == 80, "sb_event must be 80 bytes"

# void (*sb_log_fn)(int level, const char *message, void *user_data)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

# ---- functions -------------------------------------------------------------------------------


def declare_functions(lib: ctypes.CDLL) -> None:
    """Sets restype/argtypes of every public function on a loaded libstreambridge."""
    vp = ctypes.c_void_p
    i = ctypes.c_int
    u = ctypes.c_uint
    cp = ctypes.c_char_p
    P = ctypes.POINTER
    table = {
        # error.h, version.h, log.h
        "sb_strerror": (cp, i),
        "sb_err_name": (cp, i),
        "sb_last_error": (cp,),
        "sb_clear_error": (None,),
        "sb_version": (cp,),
        "sb_version_number": (i,),
        "sb_set_log_callback": (None, LOG_FN, vp),
        # stream.h
        "sb_stream_options_init": (i, P(StreamOptions), u),
        "sb_stream_create": (i, vp, P(StreamOptions), P(vp)),
        "sb_stream_create_on_server": (i, vp, cp, vp, P(StreamOptions), P(vp)),
        "sb_stream_destroy": (None, vp),
        "sb_stream_pump": (i, vp, i),
        "sb_stream_render": (i, vp),
        "sb_stream_frame_ring": (vp, vp),
        "sb_stream_event_queue": (vp, vp),
        "sb_stream_server": (vp, vp),
        "sb_stream_serve": (i, vp, P(ServerOptions)),
        "sb_stream_get_stats": (i, vp, P(StreamStats)),
        # server.h
        "sb_server_options_init": (i, P(ServerOptions), u),
        "sb_server_create": (i, vp, vp, P(ServerOptions), P(vp)),
        "sb_server_destroy": (None, vp),
        "sb_server_add_stream": (i, vp, cp, vp, vp),
        "sb_server_remove_stream": (i, vp, cp),
        "sb_server_get_port": (i, vp, P(i)),
        "sb_server_get_stats": (i, vp, P(ServerStats)),
        # frame_ring.h (the reader's side)
        "sb_frame_ring_attach": (i, cp, P(vp)),
        "sb_frame_ring_destroy": (None, vp),
        "sb_frame_ring_name": (cp, vp),
        "sb_frame_ring_acquire": (i, vp, P(Frame)),
        "sb_frame_ring_release": (i, vp, P(Frame)),
        "sb_frame_ring_wait": (i, vp, ctypes.c_uint64, i, P(ctypes.c_uint64)),
        "sb_frame_ring_latest_seq": (ctypes.c_uint64, vp),
        "sb_frame_ring_get_stats": (i, vp, P(FrameRingStats)),
        "sb_frame_ring_check": (i, vp),
        # event_queue.h (the producer's side, and the consumer's wait/wake)
        "sb_event_queue_attach": (i, cp, P(vp)),
        "sb_event_queue_destroy": (None, vp),
        "sb_event_queue_name": (cp, vp),
        "sb_event_queue_push": (i, vp, P(Event)),
        "sb_event_queue_wait": (i, vp, i),
        "sb_event_queue_wake": (None, vp),
        "sb_event_queue_get_stats": (i, vp, P(EventQueueStats)),
        "sb_event_validate": (i, P(Event)),
        "sb_event_type_name": (cp, ctypes.c_uint32),
    }
    for name, (restype, *argtypes) in table.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
