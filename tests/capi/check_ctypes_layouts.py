"""check_ctypes_layouts.py PRINT_LAYOUTS - fails when a ctypes mirror of
python/streambridge/c_layouts.py disagrees with the C header: every size and field offset
PRINT_LAYOUTS (tests/capi/print_layouts.c) prints must match, and every ctypes field must be one
the C side lists (so a field added on one side only is caught too), and the struct versions the
module declares must be the headers'."""
import ctypes
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
from streambridge import c_layouts as sb  # noqa: E402  (loads no library: only the declarations)

MIRRORS = {
    "sb_server_options": sb.ServerOptions,
    "sb_stream_options": sb.StreamOptions,
    "sb_stream_stats": sb.StreamStats,
    "sb_server_stats": sb.ServerStats,
    "sb_frame_ring_stats": sb.FrameRingStats,
    "sb_event_queue_stats": sb.EventQueueStats,
    "sb_frame_info": sb.FrameInfo,
    "sb_frame": sb.Frame,
    "sb_event": sb.Event,
}

c_layout = {}
for line in subprocess.run([sys.argv[1]], check=True, capture_output=True,
                           text=True).stdout.splitlines():
    struct, field, value = line.split()
    c_layout.setdefault(struct, {})[field] = int(value)

problems = []
for name, value in c_layout.pop("constants", {}).items():
    if getattr(sb, name, None) != value:
        problems.append("%s: %d in C, %r in ctypes" % (name, value, getattr(sb, name, None)))
for struct, mirror in MIRRORS.items():
    fields = c_layout.get(struct)
    if fields is None:
        problems.append("%s: not printed by %s" % (struct, sys.argv[1]))
        continue
    if ctypes.sizeof(mirror) != fields["sizeof"]:
        problems.append("%s: sizeof %d in C, %d in ctypes" % (struct, fields["sizeof"],
                                                              ctypes.sizeof(mirror)))
    mirrored = {name for name, _ in mirror._fields_}
    for field, offset in fields.items():
        if field == "sizeof":
            continue
        if field not in mirrored:
            problems.append("%s.%s: missing in ctypes" % (struct, field))
        elif getattr(mirror, field).offset != offset:
            problems.append("%s.%s: offset %d in C, %d in ctypes"
                            % (struct, field, offset, getattr(mirror, field).offset))
    for field in mirrored - set(fields):
        problems.append("%s.%s: in ctypes only" % (struct, field))

if problems:
    print("ctypes mirrors disagree with the C headers:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("OK: %d structs match" % len(MIRRORS))
