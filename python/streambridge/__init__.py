"""streambridge - put a VTK render window in a web browser, live, from Python.

    import vtk, streambridge
    window = vtk.vtkRenderWindow()          # ... your pipeline ...
    s = streambridge.stream(window)         # serves it; s.url is the viewer page
    display(s)                              # in a notebook: the live view in the output cell

Pure Python over libstreambridge (ctypes): see streambridge._library for how the library is
found, streambridge.c_layouts for the C declarations, streambridge.jupyter for notebooks and
proxies. Works with any python3-vtk9 vtkRenderWindow and with FURY's ShowManager (its .window).
"""

from . import c_layouts
from ._core import (EventQueue, FrameRing, FrameSnapshot, Server, Stream, StreamBridgeError,
                    log_to_logging, make_event, set_log_handler, stream, version,
                    window_address)
from ._library import LibraryNotFound, find_library, library_path, sanitizer_of
from .c_layouts import (SB_BUTTON_LEFT, SB_BUTTON_MIDDLE, SB_BUTTON_RIGHT, SB_EVENT_BUTTON_PRESS,
                        SB_EVENT_BUTTON_RELEASE, SB_EVENT_CHAR, SB_EVENT_KEY_PRESS,
                        SB_EVENT_KEY_RELEASE, SB_EVENT_POINTER_MOVE, SB_EVENT_RESIZE,
                        SB_EVENT_WHEEL, SB_MOD_ALT, SB_MOD_CTRL, SB_MOD_META, SB_MOD_SHIFT)

__version__ = "0.3.0"

__all__ = [
    "stream", "Stream", "StreamBridgeError", "LibraryNotFound", "Server", "FrameRing",
    "EventQueue", "FrameSnapshot", "make_event", "version", "set_log_handler", "log_to_logging",
    "window_address", "find_library", "library_path", "sanitizer_of", "c_layouts",
    "SB_EVENT_POINTER_MOVE", "SB_EVENT_BUTTON_PRESS", "SB_EVENT_BUTTON_RELEASE", "SB_EVENT_WHEEL",
    "SB_EVENT_KEY_PRESS", "SB_EVENT_KEY_RELEASE", "SB_EVENT_CHAR", "SB_EVENT_RESIZE",
    "SB_BUTTON_LEFT", "SB_BUTTON_MIDDLE", "SB_BUTTON_RIGHT", "SB_MOD_SHIFT", "SB_MOD_CTRL",
    "SB_MOD_ALT", "SB_MOD_META",
]
