/* fuzz_ws_message.c - fuzz target ws_message: what a WebSocket client sends the server, through
 * the server's own frame header rules (server/ws_frame.h) and client message decoder
 * (server/ws_message.h), the way ws.c's reader applies them.
 *
 * Input: the bytes a client sends after the upgrade. Byte 0 picks max_message_bytes (128 <<
 * (b % 4): 128..1024, small so the 1009 limit is hit), then frames follow back to back, as the
 * reader takes them: decode a header (a truncated one ends the input), check it (a refused one
 * ends the connection, hence the input), take its payload (a truncated one ends the input),
 * unmask it, and decode binary messages.
 *
 * Invariants (abort() when broken, so libFuzzer saves the input):
 *   - the decoder asks for more bytes exactly while the header is incomplete, never for fewer
 *     than it has, and the header length is 2, 4 or 10, plus 4 with the mask;
 *   - a refusal carries a code the docs list for it (1002, 1003 or 1009 for frames; 1003 or 1007
 *     for messages) and a non-empty reason that fits a close frame;
 *   - an accepted frame is masked, has no RSV bit, FIN set, and is binary with at most
 *     max_message_bytes or a control frame with at most 125;
 *   - a decoded message has a known type and the right length; a decoded event passes
 *     sb_event_validate() and a positional one has a view size within 16384; a decoded CODEC
 *     or KEYFRAME REQUEST had all its reserved bytes 0 and CODEC's fields are the bytes sent. */
#include "sb_fuzz.h"

#include "../../server/wire.h"
#include "../../server/ws_frame.h"
#include "../../server/ws_message.h"

#include "streambridge/error.h"

#include <string.h>

static void check_refusal(const sb_ws_close *why, int a, int b, int c)
{
    SB_FUZZ_CHECK(why->code == a || why->code == b || why->code == c, "close code %u", why->code);
    size_t n = strlen(why->reason);
    SB_FUZZ_CHECK(n > 0 && n <= SB_WS_MAX_CLOSE_REASON, "reason length %zu", n);
}

static void check_header_decode(const uint8_t *d, size_t n, sb_ws_frame_header *h, size_t *len)
{
    size_t need = 0;
    *len = 0;
    for (size_t have = 0; have <= n && have <= SB_WS_MAX_HEADER_LEN; have++) {
        size_t got = sb__ws_frame_header_decode(d, have, h, &need);
        if (got) {
            SB_FUZZ_CHECK(got == have && need == got, "complete at %zu of %zu (need %zu)", got,
                          have, need);
            *len = got;
            break;
        }
        SB_FUZZ_CHECK(need > have && need <= SB_WS_MAX_HEADER_LEN, "need %zu with %zu", need,
                      have);
    }
    if (*len) {
        size_t base = *len - (h->masked ? 4u : 0u);
        SB_FUZZ_CHECK(base == 2 || base == 4 || base == 10, "header length %zu", *len);
    }
}

static void check_message(const uint8_t *m, size_t len)
{
    sb_wire_client_msg msg;
    sb_ws_close why;
    if (!sb__wire_decode_client_message(m, len, &msg, &why)) {
        check_refusal(&why, SB_WS_CLOSE_UNSUPPORTED, SB_WS_CLOSE_INVALID, SB_WS_CLOSE_INVALID);
        return;
    }
    switch (msg.type) {
    case SB_WIRE_MSG_HELLO:
        SB_FUZZ_CHECK(len == SB_WIRE_HELLO_LEN, "hello of %zu bytes", len);
        SB_FUZZ_CHECK(msg.view_w >= 1 && msg.view_w <= SB_WIRE_MAX_VIEW && msg.view_h >= 1 &&
                          msg.view_h <= SB_WIRE_MAX_VIEW,
                      "hello view %ux%u", msg.view_w, msg.view_h);
        break;
    case SB_WIRE_MSG_ACK: SB_FUZZ_CHECK(len == SB_WIRE_ACK_LEN, "ack of %zu bytes", len); break;
    case SB_WIRE_MSG_EVENT:
        SB_FUZZ_CHECK(len == SB_WIRE_EVENT_LEN, "event of %zu bytes", len);
        SB_FUZZ_CHECK(sb_event_validate(&msg.event) == SB_OK, "decoded event invalid: %s",
                      sb_last_error());
        SB_FUZZ_CHECK(!msg.positional ||
                          (msg.view_w <= SB_WIRE_MAX_VIEW && msg.view_h <= SB_WIRE_MAX_VIEW),
                      "view %ux%u", msg.view_w, msg.view_h);
        break;
    case SB_WIRE_MSG_CODEC:
        SB_FUZZ_CHECK(len == SB_WIRE_CODEC_LEN, "codec of %zu bytes", len);
        SB_FUZZ_CHECK(msg.codec_wanted == m[1] && msg.codec_decodable == m[2], "codec fields");
        for (size_t i = 3; i < len; i++)
            SB_FUZZ_CHECK(m[i] == 0, "codec reserved byte %zu is %u", i, m[i]);
        break;
    case SB_WIRE_MSG_KEYFRAME_REQUEST:
        SB_FUZZ_CHECK(len == SB_WIRE_KEYFRAME_REQUEST_LEN, "keyframe request of %zu bytes", len);
        for (size_t i = 1; i < len; i++)
            SB_FUZZ_CHECK(m[i] == 0, "keyframe request reserved byte %zu is %u", i, m[i]);
        break;
    default: SB_FUZZ_CHECK(0, "decoded message type %u", msg.type);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint64_t max_payload = 128u << (data[0] % 4);
    static uint8_t payload[1024];
    size_t at = 1;
    while (at < size) {
        sb_ws_frame_header h;
        size_t hlen;
        check_header_decode(data + at, size - at, &h, &hlen);
        if (!hlen)
            return 0; /* the reader waits for the rest of the header */
        sb_ws_close why;
        if (!sb__ws_frame_header_check(&h, max_payload, &why)) {
            check_refusal(&why, SB_WS_CLOSE_PROTOCOL, SB_WS_CLOSE_UNSUPPORTED, SB_WS_CLOSE_TOO_BIG);
            return 0; /* the connection closes */
        }
        bool control = (h.opcode & 0x08) != 0;
        SB_FUZZ_CHECK(h.masked && !h.rsv && h.fin, "accepted frame: masked %d rsv %u fin %d",
                      h.masked, h.rsv, h.fin);
        SB_FUZZ_CHECK(control ? h.payload_len <= SB_WS_MAX_CONTROL_PAYLOAD
                              : (h.opcode == SB_WS_OP_BINARY && h.payload_len <= max_payload),
                      "accepted opcode %u with %llu bytes", h.opcode,
                      (unsigned long long)h.payload_len);
        at += hlen;
        if (size - at < h.payload_len)
            return 0; /* the reader waits for the rest of the payload */
        size_t n = (size_t)h.payload_len;
        memcpy(payload, data + at, n);
        at += n;
        /* Unmasking in two pieces equals unmasking at once. */
        size_t half = n / 2;
        sb__ws_unmask(payload, half, h.mask, 0);
        sb__ws_unmask(payload + half, n - half, h.mask, half);
        for (size_t i = 0; i < n; i++)
            SB_FUZZ_CHECK(payload[i] == (data[at - n + i] ^ h.mask[i & 3]), "unmask byte %zu", i);
        if (h.opcode == SB_WS_OP_BINARY)
            check_message(payload, n);
        else if (h.opcode == SB_WS_OP_CLOSE)
            return 0; /* the reader answers and ends */
    }
    return 0;
}
