"""Finding and loading libstreambridge.

Order: $STREAMBRIDGE_LIBRARY (a path); a build tree next to this package when it is imported
from a source checkout (build/ first, then other build*/ trees); the library installed by
`cmake --install` (its path recorded at install time in _install_paths.py); the dynamic
loader's search (libstreambridge.so.SOVERSION). A sanitizer build (ASan/UBSan/TSan/MSan:
build-asan, build-fuzz) is never picked from a build tree: an uninstrumented python3 loading it
aborts ("ASan runtime does not come first in initial library list"). Named explicitly it is
refused with a clear error unless the sanitizer runtime is already in the process (LD_PRELOAD).
"""

import ctypes
import ctypes.util
import glob
import os
from typing import Iterator, List, Optional, Tuple

from . import c_layouts

# Symbols only an instrumented object references (they live in .dynstr, so a byte search of the
# file finds them without loading it).
_SANITIZER_MARKERS = (
    (b"__asan_init", "AddressSanitizer"),
    (b"__ubsan_handle_", "UndefinedBehaviorSanitizer"),
    (b"__tsan_init", "ThreadSanitizer"),
    (b"__msan_init", "MemorySanitizer"),
)


class LibraryNotFound(OSError):
    """No usable libstreambridge: the message lists every place tried and why it was skipped."""


def sanitizer_of(path: str) -> Optional[str]:
    """The sanitizer a shared library was built with ("AddressSanitizer", ...), or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    for marker, name in _SANITIZER_MARKERS:
        if marker in data:
            return name
    return None


def _sanitizer_runtime_loaded() -> bool:
    """Whether this process already has a sanitizer runtime (e.g. LD_PRELOAD=libasan.so)."""
    try:
        with open("/proc/self/maps") as maps:
            text = maps.read()
    except OSError:
        return False
    return "libasan" in text or "libclang_rt.asan" in text or "libtsan" in text


def source_checkout_root() -> Optional[str]:
    """The repository root when this package is imported from its source tree (python/)."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    if os.path.isfile(os.path.join(root, "capi", "include", "streambridge", "streambridge.h")):
        return root
    return None


def build_tree_candidates(root: str) -> List[str]:
    """libstreambridge.so of root's build trees: build/ first, then the other build*/ ones by
    name (never "sorted(glob) and take the first": build-asan sorts before build)."""
    found = sorted(glob.glob(os.path.join(root, "build*", "libstreambridge.so")))
    preferred = os.path.join(root, "build", "libstreambridge.so")
    if preferred in found:
        found.remove(preferred)
        found.insert(0, preferred)
    return found


def _installed_candidates() -> Iterator[str]:
    try:
        from . import _install_paths  # written by cmake --install (python/CMakeLists.txt)
        yield _install_paths.LIBRARY
    except ImportError:
        pass
    found = ctypes.util.find_library("streambridge")
    if found:
        yield found
    yield "libstreambridge.so.%d" % c_layouts.SB_SOVERSION


def candidates(root: Optional[str] = None) -> Iterator[Tuple[str, bool]]:
    """(path, explicit) in lookup order; explicit = named by the user ($STREAMBRIDGE_LIBRARY)."""
    env = os.environ.get("STREAMBRIDGE_LIBRARY")
    if env:
        yield env, True
        return
    root = root if root is not None else source_checkout_root()
    if root:
        for path in build_tree_candidates(root):
            yield path, False
    for path in _installed_candidates():
        yield path, False


def find_library(root: Optional[str] = None) -> str:
    """The path (or soname) of the libstreambridge this package would load, without loading it.
    Raises LibraryNotFound saying what was tried."""
    skipped = []
    for path, explicit in candidates(root):
        is_path = os.sep in path
        if is_path and not os.path.exists(path):
            skipped.append("%s: no such file" % path)
            if explicit:
                break
            continue
        sanitizer = sanitizer_of(path) if is_path else None
        if sanitizer and not _sanitizer_runtime_loaded():
            skipped.append("%s: built with %s (a sanitizer build cannot be loaded into an "
                           "uninstrumented python; use the normal build or preload the "
                           "sanitizer runtime)" % (path, sanitizer))
            if explicit:
                break
            continue
        return path
    raise LibraryNotFound("libstreambridge not found or not usable: " + "; ".join(skipped)
                          + ". Build it (tools/build.sh build), install it (cmake --install), or "
                          "set STREAMBRIDGE_LIBRARY=/path/to/libstreambridge.so")


_lib = None
_lib_path = None


def library() -> ctypes.CDLL:
    """The loaded library (loaded and declared on first use)."""
    global _lib, _lib_path
    if _lib is None:
        path = find_library()
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise LibraryNotFound("libstreambridge could not be loaded: %s: %s. Build it "
                                  "(tools/build.sh build), install it (cmake --install), or set "
                                  "STREAMBRIDGE_LIBRARY=/path/to/libstreambridge.so" % (path, e))
        c_layouts.declare_functions(lib)
        _lib, _lib_path = lib, path
    return _lib


def library_path() -> str:
    """Where the loaded library came from (loads it if needed)."""
    library()
    return _lib_path or ""
