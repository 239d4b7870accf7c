/* ws_message.c - see ws_message.h. */
#include "ws_message.h"

#include "wire.h"

#include "streambridge/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}
static float get_f32(const uint8_t *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static bool refuse(sb_ws_close *why, uint16_t code, const char *reason)
{
    sb__ws_close_set(why, code, reason);
    return false;
}

static bool decode_hello(const uint8_t *m, sb_wire_client_msg *out, sb_ws_close *why)
{
    if (m[1] != SB_WIRE_PROTOCOL_VERSION)
        return refuse(why, SB_WS_CLOSE_UNSUPPORTED, "hello: unsupported protocol version");
    if (m[2] || m[3])
        return refuse(why, SB_WS_CLOSE_INVALID, "hello: reserved bytes not zero");
    out->view_w = get_u32(m + 4);
    out->view_h = get_u32(m + 8);
    if (out->view_w < 1 || out->view_h < 1 || out->view_w > SB_WIRE_MAX_VIEW ||
        out->view_h > SB_WIRE_MAX_VIEW)
        return refuse(why, SB_WS_CLOSE_INVALID, "hello: view size out of range");
    return true;
}

static bool decode_ack(const uint8_t *m, sb_wire_client_msg *out, sb_ws_close *why)
{
    if (m[1] || m[2] || m[3])
        return refuse(why, SB_WS_CLOSE_INVALID, "ack: reserved bytes not zero");
    out->ack_seq = get_u64(m + 4);
    return true;
}

static bool decode_event(const uint8_t *m, sb_wire_client_msg *out, sb_ws_close *why)
{
    sb_event *e = &out->event;
    e->type = m[1];
    e->button = m[2];
    e->modifiers = m[3];
    out->x = get_f32(m + 4);
    out->y = get_f32(m + 8);
    out->view_w = get_u32(m + 12);
    out->view_h = get_u32(m + 16);
    e->wheel_delta = get_f32(m + 20);
    e->key_code = get_u32(m + 24);
    uint32_t width = get_u32(m + 28), height = get_u32(m + 32);
    uint32_t reserved = get_u32(m + 36);
    e->timestamp_ns = get_u64(m + 40);
    memcpy(e->keysym, m + 48, SB_KEYSYM_MAX);

    if (reserved)
        return refuse(why, SB_WS_CLOSE_INVALID, "event: reserved field not zero");
    if (e->type == SB_EVENT_NONE || e->type >= SB_EVENT_TYPE_COUNT)
        return refuse(why, SB_WS_CLOSE_UNSUPPORTED, "event: unknown event type");
    if (!isfinite(out->x) || !isfinite(out->y) || fabsf(out->x) > 1e6f || fabsf(out->y) > 1e6f)
        return refuse(why, SB_WS_CLOSE_INVALID, "event: position is not a finite number");
    if (width > SB_WIRE_MAX_VIEW || height > SB_WIRE_MAX_VIEW)
        return refuse(why, SB_WS_CLOSE_INVALID, "event: size out of range");
    out->positional = e->type == SB_EVENT_POINTER_MOVE || e->type == SB_EVENT_BUTTON_PRESS ||
                      e->type == SB_EVENT_BUTTON_RELEASE || e->type == SB_EVENT_WHEEL;
    /* 0 means "HELLO's size", which only ws.c knows; anything else is checked here. */
    if (out->positional && (out->view_w > SB_WIRE_MAX_VIEW || out->view_h > SB_WIRE_MAX_VIEW))
        return refuse(why, SB_WS_CLOSE_INVALID, "event: view size out of range");
    if (e->type == SB_EVENT_RESIZE) {
        e->width = (int32_t)width;
        e->height = (int32_t)height;
    }
    if (e->type != SB_EVENT_WHEEL && e->wheel_delta != 0.0f)
        return refuse(why, SB_WS_CLOSE_INVALID, "event: wheel delta on a non-wheel event");
    if (sb_event_validate(e) != SB_OK) {
        char reason[SB_WS_MAX_CLOSE_REASON + 1];
        snprintf(reason, sizeof reason, "event: %.100s", sb_last_error());
        return refuse(why, SB_WS_CLOSE_INVALID, reason);
    }
    return true;
}

static bool reserved_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static bool decode_codec(const uint8_t *m, sb_wire_client_msg *out, sb_ws_close *why)
{
    if (!reserved_zero(m + 3, 5))
        return refuse(why, SB_WS_CLOSE_INVALID, "codec: reserved bytes not zero");
    out->codec_wanted = m[1];
    out->codec_decodable = m[2];
    return true;
}

bool sb__wire_decode_client_message(const uint8_t *m, size_t len, sb_wire_client_msg *out,
                                    sb_ws_close *why)
{
    memset(out, 0, sizeof *out);
    if (len < 1)
        return refuse(why, SB_WS_CLOSE_INVALID, "empty message");
    out->type = m[0];
    switch (m[0]) {
    case SB_WIRE_MSG_HELLO:
        if (len != SB_WIRE_HELLO_LEN)
            return refuse(why, SB_WS_CLOSE_INVALID, "hello: wrong length");
        return decode_hello(m, out, why);
    case SB_WIRE_MSG_ACK:
        if (len != SB_WIRE_ACK_LEN)
            return refuse(why, SB_WS_CLOSE_INVALID, "ack: wrong length");
        return decode_ack(m, out, why);
    case SB_WIRE_MSG_EVENT:
        if (len != SB_WIRE_EVENT_LEN)
            return refuse(why, SB_WS_CLOSE_INVALID, "event: wrong length");
        return decode_event(m, out, why);
    case SB_WIRE_MSG_CODEC:
        if (len != SB_WIRE_CODEC_LEN)
            return refuse(why, SB_WS_CLOSE_INVALID, "codec: wrong length");
        return decode_codec(m, out, why);
    case SB_WIRE_MSG_KEYFRAME_REQUEST:
        if (len != SB_WIRE_KEYFRAME_REQUEST_LEN)
            return refuse(why, SB_WS_CLOSE_INVALID, "keyframe request: wrong length");
        if (!reserved_zero(m + 1, 3))
            return refuse(why, SB_WS_CLOSE_INVALID, "keyframe request: reserved bytes not zero");
        return true;
    default: return refuse(why, SB_WS_CLOSE_UNSUPPORTED, "unknown message type");
    }
}
