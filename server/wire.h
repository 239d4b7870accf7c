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
/* server -> client: a video packet = 88-byte header (the JPEG header's 48 bytes, byte 12 the
 * codec id, then stream_id, frame_no, coded size, codec string) + the packet. */
#define SB_WIRE_MSG_VIDEO_FRAME 0x02
#define SB_WIRE_VIDEO_HEADER_LEN 88
#define SB_WIRE_VIDEO_FLAG_KEY 0x01
#define SB_WIRE_VIDEO_CODEC_STRING_LEN 24
/* server -> client: the answer to CODEC (8 bytes): codec that will be sent, reason. */
#define SB_WIRE_MSG_CODEC_ANSWER 0x03
#define SB_WIRE_CODEC_ANSWER_LEN 8
#define SB_WIRE_REASON_AS_ASKED 0
#define SB_WIRE_REASON_NOT_ALLOWED 1
#define SB_WIRE_REASON_NOT_DECODABLE 2
#define SB_WIRE_REASON_UNAVAILABLE 3

/* client -> server: binary messages, first byte = type, fixed lengths. */
#define SB_WIRE_MSG_HELLO 0x01
#define SB_WIRE_MSG_ACK 0x02
#define SB_WIRE_MSG_EVENT 0x03
#define SB_WIRE_MSG_CODEC 0x04
#define SB_WIRE_MSG_KEYFRAME_REQUEST 0x05
#define SB_WIRE_HELLO_LEN 12
#define SB_WIRE_ACK_LEN 12
#define SB_WIRE_EVENT_LEN 80
#define SB_WIRE_CODEC_LEN 8
#define SB_WIRE_KEYFRAME_REQUEST_LEN 4
/* CODEC's wanted codec when the client has no preference (the server's default_codec). */
#define SB_WIRE_CODEC_NO_PREFERENCE 255

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
