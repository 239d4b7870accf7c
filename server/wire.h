/* wire.h - constants of the WebSocket wire protocol (docs/wire-protocol.md is the reference;
 * server/web/client.js mirrors these numbers). All integers little-endian. */
#ifndef SB_WIRE_H
#define SB_WIRE_H

#include "streambridge/common.h"

#define SB_WIRE_PROTOCOL_VERSION 1

/* server -> client: one binary message per frame = 48-byte header + JPEG bytes. */
#define SB_WIRE_FRAME_MAGIC 0x53 /* 'S' */
#define SB_WIRE_MSG_FRAME 0x01
#define SB_WIRE_FRAME_HEADER_LEN 48
#define SB_WIRE_FRAME_FLAG_STILL 0x01

/* client -> server: binary messages, first byte = type, fixed lengths. */
#define SB_WIRE_MSG_HELLO 0x01
#define SB_WIRE_MSG_ACK 0x02
#define SB_WIRE_MSG_EVENT 0x03
#define SB_WIRE_HELLO_LEN 12
#define SB_WIRE_ACK_LEN 12
#define SB_WIRE_EVENT_LEN 80

/* Largest view (display) size a client may report, and the frame-pixel clamp: the library's one
 * frame side limit. */
#define SB_WIRE_MAX_VIEW SB_MAX_FRAME_SIDE

/* WebSocket close codes the server uses (RFC 6455 7.4.1). */
#define SB_WS_CLOSE_GOING_AWAY 1001
#define SB_WS_CLOSE_UNSUPPORTED 1003
#define SB_WS_CLOSE_INVALID 1007
#define SB_WS_CLOSE_POLICY 1008
#define SB_WS_CLOSE_TOO_BIG 1009
#define SB_WS_CLOSE_TRY_AGAIN 1013

#endif /* SB_WIRE_H */
