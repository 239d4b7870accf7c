"""streambridge_paraview: the StreamBridge plugin from ParaView's Python (pvpython, pvbatch).

Loading the plugin (PV_PLUGIN_PATH, --plugins=, or LoadPlugin(...)) already streams every render
view; this module gives scripts what an event loop would otherwise do for them:

    from paraview.simple import *
    import streambridge_paraview as sb
    view = CreateRenderView()
    ...
    print(sb.streams())        # {'RenderView1': 'http://127.0.0.1:8000/'}
    sb.serve()                 # replay the browsers' input until interrupted (Ctrl-C)

pvbatch has no event loop, and neither has a pvpython script outside Interact(): browser input
waits in the stream's queue until pump() replays it through the view's interactor style.
"""
import time

from paraview import servermanager as _servermanager


def streamer():
    """The session's StreamBridge settings proxy (a vtkSMProxy); RuntimeError when the plugin
    is not loaded in this session."""
    pxm = _servermanager.ProxyManager()
    proxy = pxm.GetProxy("settings", "StreamBridge") if pxm else None
    if proxy is None:
        raise RuntimeError("the StreamBridge plugin is not loaded in this session")
    return proxy.SMProxy if hasattr(proxy, "SMProxy") else proxy


def pump():
    """Replays the browsers' input queued for every streamed view now (each view renders once
    if anything changed)."""
    streamer().InvokeCommand("Pump")


def streams():
    """{view name: URL} of every view streamed now."""
    proxy = streamer()
    proxy.UpdatePropertyInformation()
    text = proxy.GetProperty("StreamList").GetElement(0) or ""
    result = {}
    for line in text.splitlines():
        name, _, url = line.partition(" ")
        if url:
            result[name] = url
    return result


def serving_port():
    """The first streamed view's port, 0 when nothing is streamed."""
    proxy = streamer()
    proxy.UpdatePropertyInformation()
    return proxy.GetProperty("ServingPort").GetElement(0)


def serve(seconds=None, interval=0.005):
    """Pumps until interrupted, or for seconds when given."""
    end = None if seconds is None else time.monotonic() + seconds
    try:
        while end is None or time.monotonic() < end:
            pump()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
