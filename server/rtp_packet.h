/* rtp_packet.h - RTP packetization of encoded video (pure: no sockets, no threads), and the
 * RTCP the RTP sender (rtp.c) writes and reads.
 *
 *   H.264: RFC 6184 packetization-mode 1. The encoder's access unit (Annex B, SPS/PPS before
 *          every IDR: codec_video.c) is split at its start codes; a NAL unit that fits the MTU
 *          goes alone in a packet (single NAL unit packet), a bigger one as FU-A fragments.
 *          Access unit delimiters are dropped (RTP marks the frame boundary).
 *   VP8:   RFC 7741: a 4-byte payload descriptor (X=1, I=1, 15-bit PictureID) before each
 *          fragment of the frame, S=1 on the first, partition index 0.
 * Every packet of a frame has its timestamp; the last one has the marker bit.
 *
 * Own code rather than libavformat's RTP muxer: it is ~200 lines, needs no AVFormatContext, no
 * SDP and no extra library (libavformat is not linked otherwise), and it gives exact control of
 * what a fan-out gateway keys on: the MTU, marker bits, timestamps from the capture clock
 * across encoder restarts (a size change), and a PictureID that continues. Not installed. */
#ifndef SB_RTP_PACKET_H
#define SB_RTP_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_RTP_HEADER_BYTES 12
#define SB_RTP_MIN_MTU 256
#define SB_RTP_MAX_MTU 1472 /* 1500-byte Ethernet MTU - IPv4 - UDP; Janus reads 1500 at most */

/* One RTP stream's packetizer state. */
typedef struct sb_rtp_packetizer {
    int codec;            /* SB_CODEC_H264 or SB_CODEC_VP8 (codec.h) */
    uint8_t payload_type; /* 96..127 */
    uint32_t ssrc;
    uint16_t seq;         /* of the next packet */
    uint16_t picture_id;  /* VP8: of the next frame (15 bits) */
    size_t mtu;           /* bytes per packet, header included: SB_RTP_MIN_MTU..SB_RTP_MAX_MTU */
} sb_rtp_packetizer;

/* Receives each packet (header + payload, len <= mtu) in order; non-zero stops the frame. */
typedef int (*sb_rtp_emit_fn)(void *user, const uint8_t *packet, size_t len);

/* Packetizes one encoded frame with RTP timestamp ts, calling emit for each packet. Returns the
 * number of packets emitted, or -1 when the frame holds nothing to send (no NAL unit) or emit
 * stopped it. */
int sb__rtp_packetize(sb_rtp_packetizer *p, const uint8_t *frame, size_t len, uint32_t ts,
                      sb_rtp_emit_fn emit, void *user);

/* Parses an RTP header: the payload's offset and length, the fields. false when pkt is not a
 * version-2 RTP packet (padding and extension honoured, CSRCs skipped). */
typedef struct sb_rtp_header {
    bool marker;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t ts, ssrc;
    size_t payload_offset, payload_len;
} sb_rtp_header;
bool sb__rtp_parse(const uint8_t *pkt, size_t len, sb_rtp_header *h);

/* ---- RTCP ------------------------------------------------------------------------------------ */

/* A sender report (RFC 3550 6.4.1, no report blocks) into buf (28 bytes): the NTP and RTP times
 * of the same instant, packets and payload octets sent so far. Returns its length. */
size_t sb__rtcp_sender_report(uint8_t *buf, uint32_t ssrc, uint64_t realtime_ns, uint32_t rtp_ts,
                              uint32_t packets, uint32_t octets);

/* What a received compound RTCP packet asks of the sender. The media SSRC inside is not
 * compared: a gateway may name the stream by its own SSRC, and the sender accepts RTCP only
 * from the gateway's address (rtp.c). */
typedef struct sb_rtcp_feedback {
    unsigned pli;   /* picture loss indications (RFC 4585 6.3.1) */
    unsigned fir;   /* full intra requests (RFC 5104 4.3.1) */
    unsigned nack;  /* generic NACKs (RFC 4585 6.2.1): counted, not answered */
    unsigned other; /* well-formed packets of other kinds (SR, RR, REMB, ...) */
} sb_rtcp_feedback;
/* Parses a compound RTCP packet from the network (hostile: every length checked). false when
 * it is malformed (nothing in *fb is to be acted on then). */
bool sb__rtcp_parse(const uint8_t *buf, size_t len, sb_rtcp_feedback *fb);

#endif /* SB_RTP_PACKET_H */
