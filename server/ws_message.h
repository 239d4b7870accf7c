/* ws_message.h - decoding and validating one client->server message (HELLO, ACK, EVENT, CODEC,
 * KEYFRAME REQUEST; byte
 * layouts in docs/wire-protocol.md) into a struct, or the close code and reason that refuse it.
 * Pure (no I/O, no client state), so it is unit-tested and fuzzed alone; ws.c applies what
 * depends on the client (the HELLO view size as default, ack credit, rate limit, coordinate
 * mapping). Not installed. */
#ifndef SB_WS_MESSAGE_H
#define SB_WS_MESSAGE_H

#include "ws_frame.h"

#include "streambridge/events.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sb_wire_client_msg {
    uint8_t type;            /* SB_WIRE_MSG_HELLO, _ACK, _EVENT, _CODEC, _KEYFRAME_REQUEST */
    uint8_t codec_wanted;    /* CODEC: a codec id or SB_WIRE_CODEC_NO_PREFERENCE; ids this
                              * server does not know are not refused here (a newer client's
                              * codec is answered "unavailable", ws.c) */
    uint8_t codec_decodable; /* CODEC: bit per codec id the client can decode (bit 0, JPEG, is
                              * implied; unknown bits are ignored) */
    uint32_t view_w, view_h; /* HELLO: 1..16384; positional EVENT: <= 16384, 0 = HELLO's (ws.c) */
    uint64_t ack_seq;        /* ACK */
    float x, y;              /* EVENT: position in view units, finite, |v| <= 1e6 */
    bool positional;         /* EVENT: move, press, release or wheel (needs a view size) */
    sb_event event;          /* EVENT: passes sb_event_validate() with x = y = 0 and
                              * producer_id = 0; the caller maps x/y and sets producer_id */
} sb_wire_client_msg;

/* Decodes the whole message m[0..len). true with *out filled, or false with *why (1003 for an
 * unknown message/event type or protocol version, 1007 for everything else malformed: wrong
 * lengths, reserved bytes that are not 0). */
bool sb__wire_decode_client_message(const uint8_t *m, size_t len, sb_wire_client_msg *out,
                                    sb_ws_close *why);

#endif /* SB_WS_MESSAGE_H */
