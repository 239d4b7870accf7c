/* test_rtp.c - the RTP sender (issue #11, server/rtp.h, server/rtp_packet.h). The packetizer
 * alone: H.264 access units of every NAL size and VP8 frames are cut into packets no larger
 * than the MTU, the marker bit on exactly the last packet of each frame, consecutive sequence
 * numbers, one timestamp per frame, and the depacketized payload (FU-A reassembled) equal to the
 * input; RTCP feedback parsing refuses malformed compound packets. Then the server with rtp_host
 * pointed at sockets of this test standing in for Janus: the stream arrives, decodes with
 * libavcodec, sender reports come to the RTCP port, and a PLI sent back yields a keyframe.
 * Conditions and counters only, never timing (tests/README.md). */
#include "sb_test_server.h"
#include "sb_cunit.h"

#include "codec.h"
#include "rtp.h"
#include "rtp_packet.h"
#include "server_internal.h"

#include <arpa/inet.h>
#include <libavcodec/avcodec.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PACKETS 4096

/* ---- packetizer ------------------------------------------------------------------------------ */

typedef struct captured {
    uint8_t *data[MAX_PACKETS];
    size_t len[MAX_PACKETS];
    int count;
} captured;

static int capture_packet(void *user, const uint8_t *pkt, size_t len)
{
    captured *c = user;
    if (c->count >= MAX_PACKETS)
        return -1;
    c->data[c->count] = malloc(len);
    memcpy(c->data[c->count], pkt, len);
    c->len[c->count++] = len;
    return 0;
}

static void captured_free(captured *c)
{
    for (int i = 0; i < c->count; i++)
        free(c->data[i]);
    c->count = 0;
}

/* The NAL units of an Annex B stream (start codes removed), concatenated each with a 4-byte
 * start code: the canonical form compared before and after the round trip. */
static size_t canonical_annexb(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t n = 0, i = 0;
    while (i + 3 <= len) {
        if (!(in[i] == 0 && in[i + 1] == 0 && in[i + 2] == 1)) {
            i++;
            continue;
        }
        size_t start = i + 3, j = start;
        while (j + 3 <= len && !(in[j] == 0 && in[j + 1] == 0 && (in[j + 2] == 1 || in[j + 2] == 0)))
            j++;
        size_t end = j + 3 <= len ? j : len;
        while (end > start && in[end - 1] == 0)
            end--;
        if (end > start && (in[start] & 0x1f) != 9) { /* access unit delimiters are dropped */
            memcpy(out + n, "\0\0\0\1", 4);
            memcpy(out + n + 4, in + start, end - start);
            n += 4 + end - start;
        }
        i = end;
    }
    return n;
}

/* Every packet: RTP v2, the payload type and SSRC, seq consecutive from first_seq, timestamp
 * ts, size <= mtu, the marker on the last one only. */
static void check_packets(const captured *c, const sb_rtp_packetizer *p, uint16_t first_seq,
                          uint32_t ts)
{
    for (int i = 0; i < c->count; i++) {
        sb_rtp_header h;
        CU_ASSERT_FATAL(sb__rtp_parse(c->data[i], c->len[i], &h));
        CU_ASSERT(c->len[i] <= p->mtu);
        CU_ASSERT_EQUAL(h.payload_type, p->payload_type);
        CU_ASSERT_EQUAL(h.ssrc, p->ssrc);
        CU_ASSERT_EQUAL(h.seq, (uint16_t)(first_seq + i));
        CU_ASSERT_EQUAL(h.ts, ts);
        CU_ASSERT_EQUAL(h.marker, i == c->count - 1);
    }
}

/* RFC 6184 depacketization: single NAL units as they are, FU-A fragments reassembled. */
static size_t depacketize_h264(const captured *c, uint8_t *out)
{
    size_t n = 0;
    for (int i = 0; i < c->count; i++) {
        sb_rtp_header h;
        sb__rtp_parse(c->data[i], c->len[i], &h);
        const uint8_t *pl = c->data[i] + h.payload_offset;
        uint8_t type = pl[0] & 0x1f;
        if (type == 28) {
            CU_ASSERT(h.payload_len > 2);
            bool s = pl[1] & 0x80;
            if (s) {
                memcpy(out + n, "\0\0\0\1", 4);
                out[n + 4] = (uint8_t)((pl[0] & 0xe0) | (pl[1] & 0x1f));
                n += 5;
            }
            memcpy(out + n, pl + 2, h.payload_len - 2);
            n += h.payload_len - 2;
        } else {
            CU_ASSERT(type >= 1 && type <= 23);
            memcpy(out + n, "\0\0\0\1", 4);
            memcpy(out + n + 4, pl, h.payload_len);
            n += 4 + h.payload_len;
        }
    }
    return n;
}

static void fill_nal(uint8_t *dst, size_t len, uint8_t header, unsigned seed)
{
    dst[0] = header;
    for (size_t i = 1; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        dst[i] = (uint8_t)((seed >> 16) | 1u); /* never 0: no emulated start code */
    }
}

static void test_h264_packets_fit_the_mtu_and_round_trip(void)
{
    /* An access unit: AUD, SPS, PPS, then an IDR slice of every interesting size around the
     * MTU, and a last tiny NAL. */
    size_t mtu = 300, room = mtu - SB_RTP_HEADER_BYTES;
    size_t sizes[] = {1, 2, room - 1, room, room + 1, 2 * (room - 2), 2 * (room - 2) + 1, 5000, 3};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        static uint8_t au[8192], canon[8192 + 64], back[8192 + 64];
        size_t n = 0;
        memcpy(au + n, "\0\0\0\1\x09\xf0", 6); /* AUD */
        n += 6;
        memcpy(au + n, "\0\0\0\1", 4);
        fill_nal(au + n + 4, 12, 0x67, 1); /* SPS */
        n += 16;
        memcpy(au + n, "\0\0\1", 3);
        fill_nal(au + n + 3, 4, 0x68, 2); /* PPS, 3-byte start code */
        n += 7;
        memcpy(au + n, "\0\0\0\1", 4);
        fill_nal(au + n + 4, sizes[k], 0x65, (unsigned)k); /* IDR */
        n += 4 + sizes[k];
        memcpy(au + n, "\0\0\0\1", 4);
        fill_nal(au + n + 4, 3, 0x06, 9); /* SEI, last */
        n += 7;
        sb_rtp_packetizer p = {.codec = SB_CODEC_H264, .payload_type = 96, .ssrc = 0x12345678,
                               .seq = 65530, .mtu = mtu};
        captured c = {0};
        int sent = sb__rtp_packetize(&p, au, n, 90000u * 7, capture_packet, &c);
        CU_ASSERT_EQUAL(sent, c.count);
        check_packets(&c, &p, 65530, 90000u * 7);
        size_t cn = canonical_annexb(au, n, canon);
        size_t bn = depacketize_h264(&c, back);
        CU_ASSERT_EQUAL(bn, cn);
        CU_ASSERT(bn == cn && memcmp(back, canon, cn) == 0);
        /* A NAL bigger than the room went as FU-A, a smaller one alone. */
        int fu = 0;
        for (int i = 0; i < c.count; i++)
            fu += (c.data[i][SB_RTP_HEADER_BYTES] & 0x1f) == 28;
        CU_ASSERT_EQUAL(fu > 0, sizes[k] > room);
        captured_free(&c);
    }
}

static void test_vp8_packets_fit_the_mtu_and_round_trip(void)
{
    size_t mtu = SB_RTP_MIN_MTU;
    static uint8_t frame[20000], back[20000];
    fill_nal(frame, sizeof frame, 0x10, 7);
    sb_rtp_packetizer p = {.codec = SB_CODEC_VP8, .payload_type = 100, .ssrc = 7, .seq = 1,
                           .picture_id = 0x7fff, .mtu = mtu};
    size_t lens[] = {1, mtu - SB_RTP_HEADER_BYTES - 4, mtu - SB_RTP_HEADER_BYTES - 3, sizeof frame};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        captured c = {0};
        uint16_t first = p.seq, pid = p.picture_id;
        CU_ASSERT(sb__rtp_packetize(&p, frame, lens[k], 1234, capture_packet, &c) > 0);
        check_packets(&c, &p, first, 1234);
        size_t n = 0;
        for (int i = 0; i < c.count; i++) {
            sb_rtp_header h;
            sb__rtp_parse(c.data[i], c.len[i], &h);
            const uint8_t *d = c.data[i] + h.payload_offset;
            CU_ASSERT_EQUAL(d[0] & 0x10, i == 0 ? 0x10 : 0); /* S on the first only */
            CU_ASSERT_EQUAL(d[0] & 0x80, 0x80);               /* X */
            CU_ASSERT_EQUAL(d[1], 0x80);                      /* I */
            CU_ASSERT_EQUAL(((d[2] & 0x7f) << 8) | d[3], pid); /* one PictureID per frame */
            memcpy(back + n, d + 4, h.payload_len - 4);
            n += h.payload_len - 4;
        }
        CU_ASSERT_EQUAL(n, lens[k]);
        CU_ASSERT(memcmp(back, frame, lens[k]) == 0);
        CU_ASSERT_EQUAL(p.picture_id, (uint16_t)((pid + 1) & 0x7fff)); /* wraps at 15 bits */
        captured_free(&c);
    }
}

static void test_nothing_to_send_is_refused(void)
{
    sb_rtp_packetizer p = {.codec = SB_CODEC_H264, .payload_type = 96, .mtu = 1200};
    captured c = {0};
    const uint8_t no_nal[] = {0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(sb__rtp_packetize(&p, no_nal, sizeof no_nal, 0, capture_packet, &c), -1);
    const uint8_t only_aud[] = {0, 0, 0, 1, 0x09, 0xf0};
    CU_ASSERT_EQUAL(sb__rtp_packetize(&p, only_aud, sizeof only_aud, 0, capture_packet, &c), -1);
    p.mtu = 100; /* below SB_RTP_MIN_MTU */
    const uint8_t idr[] = {0, 0, 0, 1, 0x65, 1, 2, 3};
    CU_ASSERT_EQUAL(sb__rtp_packetize(&p, idr, sizeof idr, 0, capture_packet, &c), -1);
    CU_ASSERT_EQUAL(c.count, 0);
}

static void test_rtcp_feedback_parsing(void)
{
    sb_rtcp_feedback fb;
    /* RR (empty) + PLI + FIR + NACK, compound. */
    const uint8_t ok[] = {0x80, 201, 0, 1, 0, 0, 0, 1,
                          0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2,
                          0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 5, 0, 0, 0,
                          0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 7, 0, 0};
    CU_ASSERT(sb__rtcp_parse(ok, sizeof ok, &fb));
    CU_ASSERT_EQUAL(fb.pli, 1);
    CU_ASSERT_EQUAL(fb.fir, 1);
    CU_ASSERT_EQUAL(fb.nack, 1);
    CU_ASSERT_EQUAL(fb.other, 1);
    /* A length past the end, a wrong version, a truncated header: refused, nothing reported. */
    const uint8_t too_long[] = {0x81, 206, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t bad_version[] = {0x41, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t tail[] = {0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0x80};
    CU_ASSERT_FALSE(sb__rtcp_parse(too_long, sizeof too_long, &fb));
    CU_ASSERT_FALSE(sb__rtcp_parse(bad_version, sizeof bad_version, &fb));
    CU_ASSERT_FALSE(sb__rtcp_parse(tail, sizeof tail, &fb));
    CU_ASSERT_EQUAL(fb.pli, 0);
    CU_ASSERT_FALSE(sb__rtcp_parse(ok, 3, &fb));
}

/* ---- the server's sender against a stand-in gateway ----------------------------------------- */

static int udp_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Receives one datagram within timeout_ms into buf; its length, or -1. from: the sender. */
static ssize_t recv_within(int fd, uint8_t *buf, size_t size, int timeout_ms,
                           struct sockaddr_in *from)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) != 1)
        return -1;
    socklen_t len = sizeof *from;
    return recvfrom(fd, buf, size, 0, (struct sockaddr *)from, &len);
}

/* The default stream's RTP counters (the stream RTP carries). */
static sb_rtp_snapshot rtp_stats(st_server *f)
{
    sb_rtp_snapshot s;
    memset(&s, 0, sizeof s);
    sb_server_stream *st = sb__stream_default(f->srv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st->rtp);
    sb__rtp_sender_snapshot(st->rtp, &s);
    sb__stream_unref(st);
    return s;
}

/* Reads the RTP socket and decodes the access units (from the first keyframe on) with
 * libavcodec until a picture comes out. true when it decoded to w x h. */
static bool receive_and_decode_keyframe(int fd, uint32_t w, uint32_t h, size_t mtu)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    avcodec_open2(ctx, codec, NULL);
    static uint8_t au[1 << 20];
    size_t n = 0;
    /* The socket existed before the server: the first packet is the stream's first (a
     * keyframe's); decoding goes on with the next frames (the decoder may hold one back). */
    bool decoded = false, synced = true, keyframe = false, keyed = false;
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    while (!decoded && st_now_ms() < deadline) {
        uint8_t buf[2048];
        struct sockaddr_in from;
        ssize_t len = recv_within(fd, buf, sizeof buf, 1000, &from);
        if (len <= 0)
            continue;
        CU_ASSERT((size_t)len <= mtu);
        sb_rtp_header hd;
        CU_ASSERT_FATAL(sb__rtp_parse(buf, (size_t)len, &hd));
        captured one = {.count = 1};
        one.data[0] = buf;
        one.len[0] = (size_t)len;
        if (synced && n + 4096 < sizeof au) {
            n += depacketize_h264(&one, au + n);
            uint8_t t = buf[hd.payload_offset] & 0x1f;
            if (t == 7 || t == 5 || (t == 28 && (buf[hd.payload_offset + 1] & 0x1f) == 5))
                keyframe = true;
        }
        if (hd.marker) {
            keyed = keyed || keyframe;
            if (synced && keyed) {
                pkt->data = au;
                pkt->size = (int)n;
                if (avcodec_send_packet(ctx, pkt) == 0 && avcodec_receive_frame(ctx, frame) == 0)
                    decoded = frame->width == (int)((w + 1) & ~1u) && frame->height == (int)((h + 1) & ~1u);
            }
            synced = true;
            keyframe = false;
            n = 0;
        }
    }
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
    return decoded;
}

static void test_server_streams_to_the_gateway_and_answers_pli(void)
{
    if (!sb__codec_available(SB_CODEC_H264)) {
        printf("\n  (no H.264 encoder in this libavcodec: skipped)\n");
        return;
    }
    int rtp_port, rtcp_port;
    int rtp_fd = udp_socket(&rtp_port), rtcp_fd = udp_socket(&rtcp_port);
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.rtp_host = "127.0.0.1";
    o.rtp_port = rtp_port;
    o.rtp_rtcp_port = rtcp_port;
    o.rtp_mtu = 600;
    o.rtp_keyframe_interval_ms = 0; /* keyframes only on request: the PLI below must cause one */
    o.keyframe_min_interval_ms = 0;
    st_server f;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, 320, 240), SB_OK);
    static st_producer prod;
    st_producer_start(&prod, f.ring, 320, 240, 1000000, 20); /* until stopped */
    CU_ASSERT(receive_and_decode_keyframe(rtp_fd, 320, 240, 600));

    /* A sender report reaches the RTCP port; its source is where feedback goes. */
    uint8_t buf[2048];
    struct sockaddr_in sender;
    ssize_t n = -1;
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    while (n < 0 && st_now_ms() < deadline)
        n = recv_within(rtcp_fd, buf, sizeof buf, 1000, &sender);
    CU_ASSERT_FATAL(n >= 28);
    CU_ASSERT_EQUAL(buf[1], 200); /* SR */

    /* A PLI from the "gateway" (its address: loopback) is counted and forces a keyframe. */
    sb_rtp_snapshot before = rtp_stats(&f);
    const uint8_t pli[] = {0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2};
    CU_ASSERT_EQUAL(sendto(rtcp_fd, pli, sizeof pli, 0, (struct sockaddr *)&sender, sizeof sender),
                    (ssize_t)sizeof pli);
    bool seen;
    ST_WAIT_UNTIL(seen, rtp_stats(&f).keyframes_sent > before.keyframes_sent, ST_DEADLINE_MS);
    CU_ASSERT(seen);
    sb_rtp_snapshot after = rtp_stats(&f);
    CU_ASSERT(after.pli_received > before.pli_received);
    /* Garbage to the sender's socket: counted as rejected, nothing else happens. */
    const uint8_t junk[] = {1, 2, 3, 4, 5};
    sendto(rtcp_fd, junk, sizeof junk, 0, (struct sockaddr *)&sender, sizeof sender);
    ST_WAIT_UNTIL(seen, rtp_stats(&f).rtcp_rejected > after.rtcp_rejected, ST_DEADLINE_MS);
    CU_ASSERT(seen);
    /* Every encode was sent once, in as many packets as it took. */
    sb_rtp_snapshot s = rtp_stats(&f);
    CU_ASSERT(s.frames_sent > 0 && s.packets_sent >= s.frames_sent);
    CU_ASSERT_EQUAL(s.codec_failures, 0);
    atomic_store(&prod.stop, true);
    st_producer_join(&prod);
    st_server_stop(&f);
    close(rtp_fd);
    close(rtcp_fd);
}

/* The rtp_* options: checked with messages naming the field. */
static void test_rtp_options_are_checked(void)
{
    struct { const char *host; int port; const char *codec, *url; const char *says; } cases[] = {
        {"127.0.0.1", 5004, "vp8", "http://127.0.0.1:8088/janus", NULL},
        {"::1", 5004, NULL, "/janus", NULL},
        {NULL, 0, NULL, "https://janus.example.org/janus", NULL},
        {"localhost", 5004, NULL, NULL, "rtp_host"},
        {"127.0.0.1", 0, NULL, NULL, "needs rtp_port"},
        {"127.0.0.1", 5004, "jpeg", NULL, "rtp_codec"},
        {NULL, 0, NULL, "javascript:alert(1)", "rtp_janus_url"},
        {NULL, 0, NULL, "http://x/\"<script>", "rtp_janus_url"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb_server_options o = SB_SERVER_OPTIONS_INIT;
        o.rtp_host = cases[i].host;
        o.rtp_port = cases[i].port;
        o.rtp_codec = cases[i].codec;
        o.rtp_janus_url = cases[i].url;
        st_server f;
        int rc = st_server_start(&f, &o, 64, 64);
        CU_ASSERT_EQUAL(rc, cases[i].says ? SB_EINVAL : SB_OK);
        if (cases[i].says)
            CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), cases[i].says));
        st_server_stop(&f); /* also frees the ring and queue of a refused start */
    }
}

static CU_TestInfo packetizer_tests[] = {
    {"h264_packets_fit_the_mtu_and_round_trip", test_h264_packets_fit_the_mtu_and_round_trip},
    {"vp8_packets_fit_the_mtu_and_round_trip", test_vp8_packets_fit_the_mtu_and_round_trip},
    {"nothing_to_send_is_refused", test_nothing_to_send_is_refused},
    {"rtcp_feedback_parsing", test_rtcp_feedback_parsing},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo sender_tests[] = {
    {"server_streams_to_the_gateway_and_answers_pli",
     test_server_streams_to_the_gateway_and_answers_pli},
    {"rtp_options_are_checked", test_rtp_options_are_checked},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"packetizer", NULL, NULL, NULL, NULL, packetizer_tests},
    {"sender", NULL, NULL, NULL, NULL, sender_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
