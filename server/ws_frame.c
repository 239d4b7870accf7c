/* ws_frame.c - see ws_frame.h. */
#include "ws_frame.h"

#include "wire.h"

#include <string.h>

size_t sb__ws_frame_header_decode(const uint8_t *buf, size_t len, sb_ws_frame_header *h,
                                  size_t *need)
{
    size_t want = 2;
    if (len >= 2) {
        uint8_t len7 = buf[1] & 0x7f;
        want += (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) + ((buf[1] & 0x80) ? 4u : 0u);
    }
    if (len < want) {
        if (need)
            *need = want;
        return 0;
    }
    memset(h, 0, sizeof *h);
    h->fin = (buf[0] & 0x80) != 0;
    h->rsv = buf[0] & 0x70;
    h->opcode = buf[0] & 0x0f;
    h->masked = (buf[1] & 0x80) != 0;
    uint8_t len7 = buf[1] & 0x7f;
    size_t at = 2;
    if (len7 == 126) {
        h->payload_len = (uint64_t)buf[2] << 8 | buf[3];
        h->minimal_length = h->payload_len >= 126;
        at = 4;
    } else if (len7 == 127) {
        for (int i = 0; i < 8; i++)
            h->payload_len = h->payload_len << 8 | buf[2 + i];
        /* The top bit must be 0 (5.2); a 64-bit field holding a 16-bit value is not minimal. */
        h->minimal_length = h->payload_len > 0xFFFF && !(h->payload_len >> 63);
        at = 10;
    } else {
        h->payload_len = len7;
        h->minimal_length = true;
    }
    if (h->masked) {
        memcpy(h->mask, buf + at, 4);
        at += 4;
    }
    h->header_len = at;
    if (need)
        *need = at;
    return at;
}

bool sb__ws_frame_header_check(const sb_ws_frame_header *h, uint64_t max_payload,
                               sb_ws_close *why)
{
    bool control = (h->opcode & 0x08) != 0;
    if (h->rsv)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL, "RSV bits set: no extension was negotiated");
    else if (h->opcode == SB_WS_OP_CONTINUATION)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL,
                         "continuation frame: fragmented messages are not supported");
    else if (h->opcode != SB_WS_OP_TEXT && h->opcode != SB_WS_OP_BINARY &&
             h->opcode != SB_WS_OP_CLOSE && h->opcode != SB_WS_OP_PING &&
             h->opcode != SB_WS_OP_PONG)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL, "unknown opcode");
    else if (!h->masked)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL, "client frame not masked (RFC 6455 5.1)");
    else if (!h->minimal_length)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL, "payload length not minimally encoded");
    else if (control && !h->fin)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL, "fragmented control frame");
    else if (control && h->payload_len > SB_WS_MAX_CONTROL_PAYLOAD)
        sb__ws_close_set(why, SB_WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
    else if (!control && h->payload_len > max_payload)
        sb__ws_close_set(why, SB_WS_CLOSE_TOO_BIG, "message larger than max_message_bytes");
    else if (!control && !h->fin)
        sb__ws_close_set(why, SB_WS_CLOSE_UNSUPPORTED, "fragmented messages are not supported");
    else if (h->opcode == SB_WS_OP_TEXT)
        sb__ws_close_set(why, SB_WS_CLOSE_UNSUPPORTED, "text messages are not part of the protocol");
    else
        return true;
    return false;
}

void sb__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(offset + i) & 3];
}

void sb__ws_close_set(sb_ws_close *why, uint16_t code, const char *reason)
{
    why->code = code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > SB_WS_MAX_CLOSE_REASON)
        n = SB_WS_MAX_CLOSE_REASON;
    if (n)
        memcpy(why->reason, reason, n);
    why->reason[n] = '\0';
}

size_t sb__ws_close_payload(const sb_ws_close *why, uint8_t out[2 + SB_WS_MAX_CLOSE_REASON])
{
    out[0] = (uint8_t)(why->code >> 8);
    out[1] = (uint8_t)why->code;
    size_t n = strnlen(why->reason, SB_WS_MAX_CLOSE_REASON);
    memcpy(out + 2, why->reason, n);
    return 2 + n;
}
