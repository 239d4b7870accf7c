#!/usr/bin/env python3
"""Writes the seed corpus of the ws_message fuzz target (fuzz_ws_message.c) to
corpus/ws_message/: byte 0 selects max_message_bytes (0 -> 128 ... 3 -> 1024), then client frames
back to back. Valid and invalid frames, one idea each. Run from anywhere; overwrites the seeds."""
import os
import struct

MASK = b"\x37\xfa\x21\x3d"


def frame(payload, opcode=0x2, fin=True, masked=True, rsv=0, declared=None):
    n = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def hello(w=640, h=480):
    return struct.pack("<BBHII", 1, 1, 0, w, h)


def ack(seq):
    return struct.pack("<BBBBQ", 2, 0, 0, 0, seq)


def event(etype, button=0, mods=0, x=0.0, y=0.0, vw=0, vh=0, wheel=0.0, key=0, w=0, h=0,
          keysym=b""):
    return struct.pack("<BBBBffIIfIIIIQ32s", 3, etype, button, mods, x, y, vw, vh, wheel, key,
                       w, h, 0, 0, keysym)


def codec(wanted, decodable=0x07, reserved=b"\x00" * 5):
    return struct.pack("<BBB", 4, wanted, decodable) + reserved


def keyframe_request(reserved=b"\x00" * 3):
    return b"\x05" + reserved


SEEDS = {
    "hello": b"\x00" + frame(hello()),
    "hello_ack_event": b"\x01" + frame(hello()) + frame(ack(1)) +
                       frame(event(2, button=1, x=10.5, y=20.0, vw=640, vh=480)),
    "key_press": b"\x02" + frame(event(5, key=ord("a"), keysym=b"a")),
    "wheel": b"\x00" + frame(event(4, x=3.0, y=4.0, vw=100, vh=100, wheel=-1.0)),
    "resize": b"\x03" + frame(event(8, w=800, h=600)),
    "ping_pong_close": b"\x00" + frame(b"hi", opcode=0x9) + frame(b"", opcode=0xA) +
                       frame(b"\x03\xe8", opcode=0x8),
    "oversize_2p30": b"\x00" + frame(b"", declared=1 << 30),
    "just_over_limit": b"\x00" + frame(b"\x03" * 129),
    "unmasked": b"\x00" + frame(hello(), masked=False),
    "control_200_bytes": b"\x00" + frame(b"p" * 200, opcode=0x9),
    "fragmented": b"\x00" + frame(hello()[:6], fin=False) + frame(hello()[6:], opcode=0x0),
    "rsv_bits": b"\x00" + frame(hello(), rsv=0x40),
    "text": b"\x00" + frame(b'{"type":"move"}', opcode=0x1),
    "bad_event_nan": b"\x00" + frame(event(1, x=float("nan"), vw=10, vh=10)),
    "truncated_header": b"\x00" + frame(hello())[:3],
    "codec_h264_then_keyframe_request": b"\x00" + frame(hello()) + frame(codec(1)) +
                                        frame(keyframe_request()) + frame(ack(7)),
    "codec_no_preference_vp8_only": b"\x01" + frame(codec(255, 0x05)),
    "codec_unknown_id_and_bits": b"\x00" + frame(codec(9, 0xff)),
    "codec_reserved_not_zero": b"\x00" + frame(codec(2, reserved=b"\x00\x00\x01\x00\x00")),
    "codec_short": b"\x00" + frame(codec(1)[:7]),
    "keyframe_request_long": b"\x00" + frame(keyframe_request() + b"\x00"),
    "keyframe_request_reserved": b"\x02" + frame(keyframe_request(b"\x00\x07\x00")),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ws_message")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(SEEDS)} seeds in {out}")
