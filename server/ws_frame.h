/* ws_frame.h - RFC 6455 framing of what a client sends us: the frame header decoder and the
 * rules the server enforces before it reads a single payload byte. Pure functions (no I/O, no
 * allocation, no state), so they are unit-tested and fuzzed alone (tests/fuzz/fuzz_ws_message.c).
 *
 * Why our own: civetweb 1.15 allocates and reads a frame's whole declared payload (up to 2 GiB)
 * before any callback sees it; ws.c reads the socket itself and refuses a frame on its header.
 * Not installed. */
#ifndef SB_WS_FRAME_H
#define SB_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_WS_OP_CONTINUATION 0x0
#define SB_WS_OP_TEXT 0x1
#define SB_WS_OP_BINARY 0x2
#define SB_WS_OP_CLOSE 0x8
#define SB_WS_OP_PING 0x9
#define SB_WS_OP_PONG 0xA

#define SB_WS_MAX_HEADER_LEN 14     /* 2 + 8 (64-bit length) + 4 (mask) */
#define SB_WS_MAX_CONTROL_PAYLOAD 125 /* RFC 6455 5.5 */
#define SB_WS_MAX_CLOSE_REASON 123    /* a close payload is a 2-byte code + reason, <= 125 */

/* RFC 6455 close codes (7.4.1) beyond the application-level ones in wire.h. */
#define SB_WS_CLOSE_NORMAL 1000
#define SB_WS_CLOSE_PROTOCOL 1002

/* A decoded frame header. */
typedef struct sb_ws_frame_header {
    bool fin;
    uint8_t rsv;          /* the RSV1..3 bits (byte 0 & 0x70) */
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t payload_len; /* as declared */
    size_t header_len;    /* 2..14 bytes */
    bool minimal_length;  /* the length used the shortest encoding (RFC 6455 5.2 requires it) */
} sb_ws_frame_header;

/* Why a connection is being closed: a close code and a short reason for the close frame. */
typedef struct sb_ws_close {
    uint16_t code;
    char reason[SB_WS_MAX_CLOSE_REASON + 1];
} sb_ws_close;

/* Decodes the header at the start of buf[0..len). Returns the header's total length when it is
 * all there (h filled), or 0 when more bytes are needed; then *need (if not NULL) is the length
 * to wait for, which grows as the first two bytes reveal the length and mask fields. */
size_t sb__ws_frame_header_decode(const uint8_t *buf, size_t len, sb_ws_frame_header *h,
                                  size_t *need);

/* The rules a client frame must follow before its payload is read: true when acceptable;
 * false with *why filled otherwise. Refused: RSV bits (no extension is negotiated), unknown
 * opcodes, an unmasked frame (5.1), a non-minimal or 64-bit-overflowing length, a fragmented
 * or longer-than-125-byte control frame (5.5), a continuation frame and a data frame without
 * FIN (fragmentation is not supported), all 1002 except: a text frame (1003, the protocol is
 * binary) and a data frame longer than max_payload (1009). */
bool sb__ws_frame_header_check(const sb_ws_frame_header *h, uint64_t max_payload,
                               sb_ws_close *why);

/* XORs n payload bytes with the mask; offset is the index of p[0] within the payload (for a
 * payload unmasked in pieces). */
void sb__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Fills why with code and a reason (truncated to SB_WS_MAX_CLOSE_REASON bytes). */
void sb__ws_close_set(sb_ws_close *why, uint16_t code, const char *reason);

/* Writes the close frame's payload (big-endian code, then the reason) to out; returns its length. */
size_t sb__ws_close_payload(const sb_ws_close *why, uint8_t out[2 + SB_WS_MAX_CLOSE_REASON]);

#endif /* SB_WS_FRAME_H */
