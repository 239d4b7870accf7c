/* rtp_packet.c - RTP packetization of H.264 / VP8 frames and the sender's RTCP (rtp_packet.h). */
#include "rtp_packet.h"

#include "codec.h"

#include <string.h>

#define H264_NAL_AUD 9
#define H264_FU_A 28
#define VP8_DESCRIPTOR_BYTES 4
/* Seconds from 1900 (NTP's epoch) to 1970 (Unix's). */
#define NTP_UNIX_OFFSET 2208988800ull

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *b)
{
    return (uint16_t)((b[0] << 8) | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* The packet being built: header written, payload appended by the codec's code. */
typedef struct builder {
    sb_rtp_packetizer *p;
    uint32_t ts;
    sb_rtp_emit_fn emit;
    void *user;
    uint8_t buf[SB_RTP_MAX_MTU];
    int emitted;
    bool failed;
} builder;

/* Sends header + payload[0..len) (prefix: the codec's bytes before it). */
static void send_packet(builder *b, const uint8_t *prefix, size_t prefix_len,
                        const uint8_t *payload, size_t len, bool marker)
{
    if (b->failed)
        return;
    sb_rtp_packetizer *p = b->p;
    b->buf[0] = 0x80; /* V=2, no padding, no extension, no CSRC */
    b->buf[1] = (uint8_t)((marker ? 0x80 : 0x00) | (p->payload_type & 0x7f));
    put16(b->buf + 2, p->seq++);
    put32(b->buf + 4, b->ts);
    put32(b->buf + 8, p->ssrc);
    if (prefix_len)
        memcpy(b->buf + SB_RTP_HEADER_BYTES, prefix, prefix_len);
    memcpy(b->buf + SB_RTP_HEADER_BYTES + prefix_len, payload, len);
    if (b->emit(b->user, b->buf, SB_RTP_HEADER_BYTES + prefix_len + len) != 0)
        b->failed = true;
    else
        b->emitted++;
}

/* ---- H.264 ----------------------------------------------------------------------------------- */

/* The next NAL unit of an Annex B stream at or after *pos: [*nal, *nal + *nal_len), start code
 * and trailing zero bytes excluded. false when there is none. */
static bool next_nal(const uint8_t *s, size_t len, size_t *pos, const uint8_t **nal,
                     size_t *nal_len)
{
    size_t i = *pos;
    /* Find a start code 00 00 01 (a 4-byte one ends the same way). */
    while (i + 3 <= len && !(s[i] == 0 && s[i + 1] == 0 && s[i + 2] == 1))
        i++;
    if (i + 3 > len)
        return false;
    size_t start = i + 3;
    size_t j = start;
    while (j + 3 <= len && !(s[j] == 0 && s[j + 1] == 0 && (s[j + 2] == 1 || s[j + 2] == 0)))
        j++;
    size_t end = j + 3 <= len ? j : len;
    /* Trailing zeros belong to the next start code (or are padding). */
    while (end > start && s[end - 1] == 0)
        end--;
    *nal = s + start;
    *nal_len = end - start;
    /* Resume at the zero run: the search above skips to its 00 00 01. */
    *pos = end;
    return true;
}

static void h264_nal(builder *b, const uint8_t *nal, size_t len, bool last)
{
    size_t room = b->p->mtu - SB_RTP_HEADER_BYTES;
    if (len <= room) {
        send_packet(b, NULL, 0, nal, len, last); /* single NAL unit packet */
        return;
    }
    /* FU-A: indicator (F, NRI of the NAL, type 28), header (S, E, the NAL's type); the NAL's
     * own header byte is not repeated in the payload. */
    uint8_t fu[2] = {(uint8_t)((nal[0] & 0xe0) | H264_FU_A), (uint8_t)(nal[0] & 0x1f)};
    const uint8_t *data = nal + 1;
    size_t left = len - 1, chunk = room - sizeof fu;
    bool first = true;
    while (left > 0) {
        size_t n = left < chunk ? left : chunk;
        bool end = n == left;
        uint8_t head[2] = {fu[0], (uint8_t)(fu[1] | (first ? 0x80 : 0) | (end ? 0x40 : 0))};
        send_packet(b, head, sizeof head, data, n, last && end);
        data += n;
        left -= n;
        first = false;
    }
}

static void h264_frame(builder *b, const uint8_t *frame, size_t len)
{
    /* One NAL of look-ahead: the marker goes on the last packet of the last NAL sent. */
    size_t pos = 0;
    const uint8_t *nal = NULL, *next;
    size_t nal_len = 0, next_len;
    while (next_nal(frame, len, &pos, &next, &next_len)) {
        if (next_len == 0 || (next[0] & 0x1f) == H264_NAL_AUD)
            continue;
        if (nal)
            h264_nal(b, nal, nal_len, false);
        nal = next;
        nal_len = next_len;
    }
    if (nal)
        h264_nal(b, nal, nal_len, true);
}

/* ---- VP8 ------------------------------------------------------------------------------------- */

static void vp8_frame(builder *b, const uint8_t *frame, size_t len)
{
    sb_rtp_packetizer *p = b->p;
    size_t chunk = p->mtu - SB_RTP_HEADER_BYTES - VP8_DESCRIPTOR_BYTES;
    uint16_t pid = p->picture_id & 0x7fff;
    p->picture_id = (uint16_t)((pid + 1) & 0x7fff);
    bool first = true;
    while (len > 0) {
        size_t n = len < chunk ? len : chunk;
        /* X=1, S on the first fragment, PID 0; I=1; M=1 + 15-bit PictureID. */
        uint8_t desc[VP8_DESCRIPTOR_BYTES] = {(uint8_t)(0x80 | (first ? 0x10 : 0)), 0x80,
                                              (uint8_t)(0x80 | (pid >> 8)), (uint8_t)pid};
        send_packet(b, desc, sizeof desc, frame, n, n == len);
        frame += n;
        len -= n;
        first = false;
    }
}

int sb__rtp_packetize(sb_rtp_packetizer *p, const uint8_t *frame, size_t len, uint32_t ts,
                      sb_rtp_emit_fn emit, void *user)
{
    if (p->mtu < SB_RTP_MIN_MTU || p->mtu > SB_RTP_MAX_MTU || !frame || len == 0)
        return -1;
    builder b;
    b.p = p;
    b.ts = ts;
    b.emit = emit;
    b.user = user;
    b.emitted = 0;
    b.failed = false;
    if (p->codec == SB_CODEC_H264)
        h264_frame(&b, frame, len);
    else if (p->codec == SB_CODEC_VP8)
        vp8_frame(&b, frame, len);
    else
        return -1;
    return b.failed || b.emitted == 0 ? -1 : b.emitted;
}

bool sb__rtp_parse(const uint8_t *pkt, size_t len, sb_rtp_header *h)
{
    if (len < SB_RTP_HEADER_BYTES || (pkt[0] >> 6) != 2)
        return false;
    size_t off = SB_RTP_HEADER_BYTES + 4u * (pkt[0] & 0x0f);
    if (pkt[0] & 0x10) { /* header extension: 4 bytes + its length in words */
        if (off + 4 > len)
            return false;
        off += 4 + 4u * get16(pkt + off + 2);
    }
    size_t pad = (pkt[0] & 0x20) ? pkt[len - 1] : 0;
    if (off + pad > len)
        return false;
    h->marker = (pkt[1] & 0x80) != 0;
    h->payload_type = pkt[1] & 0x7f;
    h->seq = get16(pkt + 2);
    h->ts = get32(pkt + 4);
    h->ssrc = get32(pkt + 8);
    h->payload_offset = off;
    h->payload_len = len - off - pad;
    return true;
}

/* ---- RTCP ------------------------------------------------------------------------------------ */

#define RTCP_SR 200
#define RTCP_RTPFB 205
#define RTCP_PSFB 206

size_t sb__rtcp_sender_report(uint8_t *buf, uint32_t ssrc, uint64_t realtime_ns, uint32_t rtp_ts,
                              uint32_t packets, uint32_t octets)
{
    buf[0] = 0x80; /* V=2, no report blocks */
    buf[1] = RTCP_SR;
    put16(buf + 2, 6); /* length in 32-bit words minus one */
    put32(buf + 4, ssrc);
    uint64_t secs = realtime_ns / 1000000000ull + NTP_UNIX_OFFSET;
    uint64_t frac = ((realtime_ns % 1000000000ull) << 32) / 1000000000ull;
    put32(buf + 8, (uint32_t)secs);
    put32(buf + 12, (uint32_t)frac);
    put32(buf + 16, rtp_ts);
    put32(buf + 20, packets);
    put32(buf + 24, octets);
    return 28;
}

bool sb__rtcp_parse(const uint8_t *buf, size_t len, sb_rtcp_feedback *fb)
{
    memset(fb, 0, sizeof *fb);
    if (len < 4)
        return false;
    sb_rtcp_feedback seen = {0};
    size_t off = 0;
    while (off < len) {
        if (len - off < 4 || (buf[off] >> 6) != 2)
            return false;
        size_t plen = 4u * ((size_t)get16(buf + off + 2) + 1u);
        if (plen > len - off)
            return false;
        unsigned fmt = buf[off] & 0x1f, type = buf[off + 1];
        if (type == RTCP_PSFB && fmt == 1 && plen >= 12)
            seen.pli++;
        else if (type == RTCP_PSFB && fmt == 4 && plen >= 20)
            seen.fir++;
        else if (type == RTCP_RTPFB && fmt == 1 && plen >= 16)
            seen.nack++;
        else
            seen.other++;
        off += plen;
    }
    *fb = seen;
    return true;
}
