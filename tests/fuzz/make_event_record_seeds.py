#!/usr/bin/python3
"""Writes the seed corpus of the event_record fuzz target (tests/fuzz/corpus/event_record/).

Each seed is byte 0 (queue capacity 2 + b % 15), then operations: an op byte (op % 4: 0 push the
next 80 bytes as they are, 1 push them brought into range, 2 pop up to (op >> 2) % 20, 3 drain)
and, for a push, the 80-byte sb_event record (streambridge/events.h, little-endian). Re-run it
after changing the format: tests/fuzz/make_event_record_seeds.py tests/fuzz/corpus/event_record
"""
import math
import os
import struct
import sys

MOVE, PRESS, RELEASE, WHEEL, KEY_PRESS, KEY_RELEASE, CHAR, RESIZE = range(1, 9)
PUSH, PUSH_TAMED, DRAIN = 0, 1, 3


def record(type_, button=0, modifiers=0, key_code=0, x=0, y=0, width=0, height=0,
           wheel=0.0, producer=1, timestamp=0, keysym=b""):
    """One sb_event; keysym is padded with NULs to 32 bytes (or given as exactly 32)."""
    keysym = keysym.ljust(32, b"\0")
    assert len(keysym) == 32
    return struct.pack("<IIIIiiiifIQ32s", type_, button, modifiers, key_code, x, y, width,
                       height, wheel, producer, timestamp, keysym)


def pop(max_):
    return bytes([2 | (max_ << 2)])


def pushes(*records, op=PUSH):
    return b"".join(bytes([op]) + r for r in records)


SEEDS = {
    # One valid record of each type, then a drain.
    "move": pushes(record(MOVE, x=10, y=20)) + bytes([DRAIN]),
    "press_left": pushes(record(PRESS, button=1, x=5, y=5, modifiers=1)) + bytes([DRAIN]),
    "release_right": pushes(record(RELEASE, button=3, x=-5, y=16384)) + bytes([DRAIN]),
    "wheel": pushes(record(WHEEL, x=100, y=100, wheel=-2.5)) + bytes([DRAIN]),
    "key_press": pushes(record(KEY_PRESS, key_code=0x61, keysym=b"a", modifiers=15))
    + bytes([DRAIN]),
    "key_release_escape": pushes(record(KEY_RELEASE, key_code=27, keysym=b"Escape"))
    + bytes([DRAIN]),
    "char_unicode": pushes(record(CHAR, key_code=0x10FFFF, keysym=b"U10FFFF")) + bytes([DRAIN]),
    "resize": pushes(record(RESIZE, width=16384, height=1)) + bytes([DRAIN]),
    # Records the validator must refuse.
    "wheel_nan": pushes(record(WHEEL, wheel=math.nan)),
    "wheel_inf": pushes(record(WHEEL, wheel=-math.inf)),
    "wheel_zero_and_huge": pushes(record(WHEEL, wheel=-0.0), record(WHEEL, wheel=1000.0)),
    "huge_values": pushes(record(MOVE, x=2**31 - 1, y=-2**31),
                          record(RESIZE, width=16385, height=-1),
                          record(CHAR, key_code=0x110000)),
    "keysym_without_nul": pushes(record(KEY_PRESS, keysym=b"K" * 32)),
    "unknown_type_button_modifier": pushes(record(0), record(9), record(PRESS, button=0),
                                           record(MOVE, button=4), record(MOVE, modifiers=16)),
    # Queue policy: capacity 2 full of moves, then a press drops the oldest move; then full of
    # non-moves, and a further key press is refused (SB_EFULL).
    "full_drops_oldest_move": pushes(record(MOVE, x=1), record(MOVE, x=2),
                                     record(PRESS, button=2))
    + pop(1) + pushes(record(KEY_PRESS, keysym=b"b"), record(KEY_PRESS, keysym=b"c"))
    + bytes([DRAIN]),
    # Capacity 16, in-range pushes of arbitrary bytes, partial pops.
    "tamed_mix": pushes(bytes(range(80)), bytes(range(80, 160)), bytes(255 - b for b in range(80)),
                        op=PUSH_TAMED) + pop(2) + pop(0) + pop(19),
}

# Byte 0 of every seed: the queue capacity, 2 + b % 15.
CAPACITY_BYTE = {"full_drops_oldest_move": 0, "tamed_mix": 14}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "event_record")
    os.makedirs(out, exist_ok=True)
    for name, ops in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([CAPACITY_BYTE.get(name, 6)]) + ops)


if __name__ == "__main__":
    main()
