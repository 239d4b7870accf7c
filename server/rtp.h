/* rtp.h - the RTP sender: one thread that sends the encoder's packets of one video codec as one
 * RTP stream over UDP to a WebRTC gateway (a Janus streaming mountpoint of type rtp, which fans
 * it out to every WebRTC viewer: docs/webrtc.md).
 *
 * It is a consumer of the encoder like a WebSocket video client, through the encoder's consumer
 * interface only (sb__encoder_video_join/next/leave, sb__encoder_video_want_key): while it runs
 * the codec counts as in use, each frame is encoded once whatever the number of viewers, and
 * the one stream goes out once.
 *
 * Keyframes: the gateway's RTCP picture loss indications / full intra requests (a viewer joined
 * or lost packets; Janus forwards them to the address our RTCP sender reports come from when the
 * mountpoint has a videortcpport) ask the encoder for one (rate-limited by
 * keyframe_min_interval_ms, merged with the WebSocket clients' requests); and one every
 * rtp_keyframe_interval_ms if set, for gateways that forward no RTCP. Not installed. */
#ifndef SB_RTP_H
#define SB_RTP_H

#include "encoder.h"
#include "streambridge/server.h"

#include <stdint.h>

typedef struct sb_rtp_sender sb_rtp_sender;

/* The sender's counters, only ever growing (/stats "rtp"): X(name, "what it counts"). */
#define SB_RTP_COUNTER_MAP(X)                                                            \
    X(frames_sent, "encoded frames sent (each once, whatever the number of viewers)")    \
    X(keyframes_sent, "of which keyframes")                                              \
    X(packets_sent, "RTP packets sent")                                                  \
    X(bytes_sent, "RTP bytes sent (headers included)")                                   \
    X(send_errors, "packets the socket refused (gateway down: ICMP unreachable, full)")  \
    X(rtcp_sent, "RTCP sender reports sent")                                             \
    X(rtcp_received, "RTCP packets accepted from the gateway")                           \
    X(rtcp_rejected, "datagrams dropped: malformed, or not from the gateway's address")  \
    X(pli_received, "picture loss indications")                                          \
    X(fir_received, "full intra requests")                                               \
    X(nack_received, "NACKs (not answered: the next keyframe repairs)")                  \
    X(keyframes_requested, "keyframes asked of the encoder (PLI/FIR, period, start)")    \
    X(codec_failures, "times the codec failed for the stream (it rejoins later)")

typedef struct sb_rtp_snapshot {
#define SB_RTP_FIELD_(name, text) uint64_t name;
    SB_RTP_COUNTER_MAP(SB_RTP_FIELD_)
#undef SB_RTP_FIELD_
} sb_rtp_snapshot;

/* Makes the sender for the rtp_* options of o (rtp_host set; valid, complete) without starting
 * it: its socket and wake-up are ready, so sb__rtp_sender_wake may be called at once. SB_OK,
 * or an error set as func's (an unresolvable host, no socket). */
int sb__rtp_sender_create(const sb_server_options *o, const char *func, sb_rtp_sender **out);
/* Starts the thread, a consumer of enc (started). SB_OK or SB_EIO with the error set. */
int sb__rtp_sender_start(sb_rtp_sender *s, sb_encoder *enc);
/* The encoder published something: look for new packets. Any thread, never blocks; NULL ok. */
void sb__rtp_sender_wake(sb_rtp_sender *s);
/* Stops and joins the thread: it leaves the codec and gives back every packet. Wake-ups stay
 * safe until destroy. NULL ok. */
void sb__rtp_sender_stop(sb_rtp_sender *s);
/* Stops (if not yet) and frees s. NULL ok. */
void sb__rtp_sender_destroy(sb_rtp_sender *s);
/* The counters. Any thread. */
void sb__rtp_sender_snapshot(const sb_rtp_sender *s, sb_rtp_snapshot *out);
/* The codec the stream carries (SB_CODEC_H264 / SB_CODEC_VP8). */
int sb__rtp_sender_codec(const sb_rtp_sender *s);

#endif /* SB_RTP_H */
