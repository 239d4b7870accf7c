"""Input without an event loop: replaying browser input when the application never runs
interactor.Start() (a notebook kernel between cells, an asyncio program).

VTK must only be touched on the thread that owns the window. So the driver's thread never calls
VTK: it sleeps on the stream's event queue (sb_event_queue_wait releases the GIL) and, when input
arrives, schedules one stream.pump() on the owning thread's event loop, then waits until that
pump ran before it looks at the queue again (so a busy loop, e.g. a long cell, is not flooded
with callbacks). Between inputs it costs nothing: no polling timer.
"""

import ctypes
import threading
from typing import Any, Callable, Optional

from . import c_layouts as C
from ._library import library

Scheduler = Callable[[Callable[[], None]], None]

# How long the driver sleeps per wait; only bounds how late it notices a stop request that
# raced with its wake-up (stop() wakes it at once otherwise).
_WAIT_SLICE_MS = 500


def _kernel_scheduler() -> Optional[Scheduler]:
    """kernel.io_loop.add_callback of the running IPython kernel (thread-safe in tornado)."""
    import sys
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    loop = getattr(kernel, "io_loop", None)
    if loop is None or not hasattr(loop, "add_callback"):
        return None
    return loop.add_callback


def _asyncio_scheduler() -> Optional[Scheduler]:
    import asyncio
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_soon_threadsafe


def find_scheduler(how: str = "auto") -> Optional[Scheduler]:
    """The callback scheduler of the current thread's event loop for how = "kernel", "asyncio"
    or "auto" (kernel first), or None."""
    if how not in ("auto", "kernel", "asyncio"):
        raise ValueError("drive must be 'auto', 'kernel' or 'asyncio', not %r" % how)
    if how in ("auto", "kernel"):
        schedule = _kernel_scheduler()
        if schedule is not None or how == "kernel":
            return schedule
    return _asyncio_scheduler()


class InputDriver:
    """Wakes the owning thread's loop to pump `stream` whenever its queue has input."""

    def __init__(self, stream: Any, queue: int, schedule: Scheduler):
        self._stream = stream
        self._queue = ctypes.c_void_p(queue)
        self._schedule = schedule
        self._stop = threading.Event()
        self._pumped = threading.Event()
        self.pumps = 0  # pumps run through the loop (for tests and curiosity)
        self._thread = threading.Thread(target=self._run, name="streambridge-input-driver",
                                        daemon=True)
        self._thread.start()

    def _pump_on_owner(self) -> None:
        # Runs on the loop's (the window's) thread.
        try:
            if not self._stop.is_set() and not self._stream.closed:
                self._stream.pump(0)
                self.pumps += 1
        except Exception as e:  # a failed pump must not kill the kernel's loop
            import sys
            print("streambridge: input pump failed: %s" % e, file=sys.stderr)
        finally:
            self._pumped.set()

    def _run(self) -> None:
        lib = library()
        while not self._stop.is_set():
            rc = lib.sb_event_queue_wait(self._queue, _WAIT_SLICE_MS)
            if self._stop.is_set():
                break
            if rc == C.SB_OK:
                self._pumped.clear()
                try:
                    self._schedule(self._pump_on_owner)
                except RuntimeError:  # the loop is closed: nobody left to pump for
                    break
                while not self._stop.is_set() and not self._pumped.wait(_WAIT_SLICE_MS / 1000):
                    pass
            elif rc not in (C.SB_ETIMEDOUT, C.SB_EWOKEN):
                break  # the queue is broken (shm truncated): the stream reports it elsewhere

    def stop(self) -> None:
        """Stops and joins the thread; a pump already scheduled then does nothing."""
        self._stop.set()
        library().sb_event_queue_wake(self._queue)
        if threading.current_thread() is not self._thread:
            self._thread.join()
