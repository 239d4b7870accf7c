/* test_video.c - video over the WebSocket (issue #10): the codecs behind server/codec.h alone
 * (each bitstream decodes back with libavcodec to the right size and picture, odd sizes,
 * bottom-up rows, a forced keyframe), then the server end to end with WebSocket clients that
 * ask for H.264 or VP8: one encode per published frame whatever the number of clients, keyframes
 * on join / on request / after falling behind, the per-codec rate limit on forced keyframes, a
 * client that never acks beside a healthy one, the CODEC ANSWER to a disallowed codec,
 * malformed CODEC / KEYFRAME REQUEST messages, and the still JPEG a video viewer ends up with
 * once input goes idle (also when the frames missed the input window, also after a keyframe). Conditions and counters only, never timing
 * (tests/README.md); the encode figures printed are information, not assertions. */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_cunit.h"

#include "codec.h"
#include "sb_clock.h"
#include "server_internal.h" /* the per-codec counters (the default stream's, srv->streams), read as /stats does */
#include "wire.h"

#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Marker tolerance: the marker square's mean gray after encode + decode + YUV -> RGB. */
#define MARKER_TOLERANCE 10

/* ---- a libavcodec decoder of the packets the server sends ------------------------------------ */

typedef struct decoder {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    int width, height; /* of the last decoded picture (coded size) */
    int marker;        /* mean gray of the marker's inner 32x32, -1 if none decoded */
    int frames;
    int errors;
} decoder;

static bool decoder_open(decoder *d, int codec)
{
    memset(d, 0, sizeof *d);
    const AVCodec *c = avcodec_find_decoder(codec == SB_CODEC_H264 ? AV_CODEC_ID_H264
                                                                   : AV_CODEC_ID_VP8);
    if (!c)
        return false;
    d->ctx = avcodec_alloc_context3(c);
    d->frame = av_frame_alloc();
    d->pkt = av_packet_alloc();
    d->ctx->thread_count = 1;
    d->marker = -1;
    return avcodec_open2(d->ctx, c, NULL) == 0;
}

static void decoder_close(decoder *d)
{
    avcodec_free_context(&d->ctx);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
}

/* The decoded picture's marker square (top-left 64x64 of st_fill_frame) as gray, through
 * libswscale's YUV -> BGRA (BT.601 limited, as encoded). */
static int decoded_marker(const AVFrame *f)
{
    int w = 64, h = 64;
    if (f->width < w || f->height < h)
        return -1;
    struct SwsContext *sws = sws_getContext(w, h, (enum AVPixelFormat)f->format, w, h,
                                            AV_PIX_FMT_BGRA, SWS_POINT, NULL, NULL, NULL);
    uint8_t *bgra = malloc((size_t)w * h * 4);
    uint8_t *dst[4] = {bgra, NULL, NULL, NULL};
    int dst_stride[4] = {w * 4, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dst_stride);
    sws_freeContext(sws);
    unsigned long sum = 0;
    for (int y = 16; y < 48; y++)
        for (int x = 16; x < 48; x++)
            sum += bgra[(y * w + x) * 4 + 1];
    free(bgra);
    return (int)(sum / (32 * 32));
}

/* Decodes one packet; true when it produced a picture. */
static bool decoder_feed(decoder *d, const uint8_t *data, size_t len)
{
    d->pkt->data = (uint8_t *)(uintptr_t)data;
    d->pkt->size = (int)len;
    if (avcodec_send_packet(d->ctx, d->pkt) < 0) {
        d->errors++;
        return false;
    }
    bool got = false;
    while (avcodec_receive_frame(d->ctx, d->frame) == 0) {
        d->width = d->frame->width;
        d->height = d->frame->height;
        d->marker = decoded_marker(d->frame);
        d->frames++;
        got = true;
        av_frame_unref(d->frame);
    }
    return got;
}

/* ---- the codecs alone ------------------------------------------------------------------------ */

typedef struct picture {
    uint8_t *px;
    uint32_t w, h, stride;
} picture;

/* st_fill_frame's picture for seq, flipped in memory when bottom_up. */
static picture make_picture(uint32_t w, uint32_t h, uint64_t seq, bool bottom_up)
{
    picture p = {NULL, w, h, w * 4};
    p.px = malloc((size_t)p.stride * h);
    st_fill_frame(p.px, w, h, p.stride, seq, 0);
    if (bottom_up) {
        uint8_t *row = malloc(p.stride);
        for (uint32_t y = 0; y < h / 2; y++) {
            memcpy(row, p.px + (size_t)y * p.stride, p.stride);
            memcpy(p.px + (size_t)y * p.stride, p.px + (size_t)(h - 1 - y) * p.stride, p.stride);
            memcpy(p.px + (size_t)(h - 1 - y) * p.stride, row, p.stride);
        }
        free(row);
    }
    return p;
}

static sb_codec_picture as_codec_picture(const picture *p, bool bottom_up)
{
    sb_codec_picture pic;
    memset(&pic, 0, sizeof pic);
    pic.planes[0] = p->px;
    pic.strides[0] = p->stride;
    pic.width = p->w;
    pic.height = p->h;
    pic.format = SB_PIXEL_BGRA;
    pic.bottom_up = bottom_up;
    return pic;
}

/* Encodes n frames of w x h with codec id (keyframe forced at frame force_at) and decodes
 * every packet back: right size, right marker, first packet and the forced one keyframes. */
static void codec_round_trip(int id, uint32_t w, uint32_t h, bool bottom_up, int n, int force_at)
{
    const sb_codec_vtable *vt = sb__codec_vtable((sb_codec_id)id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vt);
    char why[160] = "";
    sb_codec_settings s = {.width = w, .height = h, .crf = -1, .fps = 60};
    sb_codec *c = vt->create(&s, why, sizeof why);
    if (!c)
        fprintf(stderr, "create %s: %s\n", vt->name, why);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->coded_width, (w + 1) & ~1u);
    CU_ASSERT_EQUAL(c->coded_height, (h + 1) & ~1u);
    decoder d;
    CU_ASSERT_FATAL(decoder_open(&d, id));
    sb_i420 i420;
    memset(&i420, 0, sizeof i420);
    sb_codec_packet out = {0};
    for (int i = 0; i < n; i++) {
        picture p = make_picture(w, h, (uint64_t)i + 1, bottom_up);
        sb_codec_picture src = as_codec_picture(&p, bottom_up);
        CU_ASSERT_EQUAL_FATAL(sb__i420_convert(&i420, &src, why, sizeof why), SB_OK);
        sb_codec_picture yuv = sb__i420_picture(&i420);
        int rc = vt->encode(c, &yuv, 0, i == force_at, &out);
        if (rc != SB_OK)
            fprintf(stderr, "encode %s: %s\n", vt->name, c->error);
        CU_ASSERT_EQUAL_FATAL(rc, SB_OK);
        if (i == 0 || i == force_at) {
            CU_ASSERT(out.keyframe);
        }
        CU_ASSERT(decoder_feed(&d, out.data, out.len));
        CU_ASSERT_EQUAL(d.width, (int)c->coded_width);
        CU_ASSERT_EQUAL(d.height, (int)c->coded_height);
        int want = (int)st_marker_value((uint64_t)i + 1);
        if (abs(d.marker - want) > MARKER_TOLERANCE)
            fprintf(stderr, "%s %ux%u frame %d: marker %d, want %d\n", vt->name, w, h, i, d.marker,
                    want);
        CU_ASSERT(abs(d.marker - want) <= MARKER_TOLERANCE);
        free(p.px);
    }
    if (id == SB_CODEC_H264) {
        CU_ASSERT_EQUAL(strncmp(c->codec_string, "avc1.42", 7), 0);
    } else {
        CU_ASSERT_STRING_EQUAL(c->codec_string, "vp8");
    }
    CU_ASSERT_EQUAL(d.errors, 0);
    free(out.data);
    sb__i420_free(&i420);
    decoder_close(&d);
    vt->destroy(c);
}

static void test_h264_decodes_back_to_the_picture(void)
{
    codec_round_trip(SB_CODEC_H264, 320, 240, false, 8, 5);
    codec_round_trip(SB_CODEC_H264, 321, 239, true, 4, 2); /* odd sizes, bottom-up rows */
}

static void test_vp8_decodes_back_to_the_picture(void)
{
    codec_round_trip(SB_CODEC_VP8, 320, 240, false, 8, 5);
    codec_round_trip(SB_CODEC_VP8, 321, 239, true, 4, 2);
}

/* Information, not an assertion: encode ms and bytes per frame at 1280x720 for each codec and
 * the I420 conversion, on a moving gradient (the whole picture changes every frame). */
static void test_bench_720p_prints_encode_cost(void)
{
    const uint32_t w = 1280, h = 720;
    const int n = 60;
    double convert_ms = 0;
    for (int id = 0; id < SB_CODEC_COUNT; id++) {
        const sb_codec_vtable *vt = sb__codec_vtable((sb_codec_id)id);
        char why[160];
        sb_codec_settings s = {.width = w, .height = h, .crf = -1, .fps = 60};
        sb_codec *c = vt->create(&s, why, sizeof why);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        sb_i420 i420;
        memset(&i420, 0, sizeof i420);
        sb_codec_packet out = {0};
        double ms = 0, conv = 0;
        size_t bytes = 0;
        for (int i = 0; i < n; i++) {
            picture p = make_picture(w, h, (uint64_t)i + 1, false);
            sb_codec_picture pic = as_codec_picture(&p, false);
            uint64_t t0 = st_now_ns();
            if (id != SB_CODEC_JPEG) {
                CU_ASSERT_EQUAL(sb__i420_convert(&i420, &pic, why, sizeof why), SB_OK);
                pic = sb__i420_picture(&i420);
            }
            uint64_t t1 = st_now_ns();
            CU_ASSERT_EQUAL(vt->encode(c, &pic, 60, false, &out), SB_OK);
            uint64_t t2 = st_now_ns();
            conv += (double)(t1 - t0) / 1e6;
            ms += (double)(t2 - t1) / 1e6;
            bytes += out.len;
            free(p.px);
        }
        if (id != SB_CODEC_JPEG)
            convert_ms += conv / n;
        printf("\nbench: %s 1280x720: encode %.2f ms/frame, %zu bytes/frame (mean of %d, "
               "moving gradient%s, codec string %s)", vt->name, ms / n, bytes / n, n,
               id == SB_CODEC_JPEG ? ", quality 60" : ", default crf", c->codec_string);
        free(out.data);
        sb__i420_free(&i420);
        vt->destroy(c);
    }
    printf("\nbench: BGRA -> I420 (libswscale) 1280x720: %.2f ms/frame\n", convert_ms / 2);
}

/* ---- the server end to end ------------------------------------------------------------------- */

#define SW 320
#define SH 240
#define ALL_CODECS (SB_CODEC_BIT(SB_CODEC_JPEG) | SB_CODEC_BIT(SB_CODEC_H264) | \
                    SB_CODEC_BIT(SB_CODEC_VP8))

/* A server for video tests: loopback clients without the per-address cap. */
static void video_server_with(st_server *f, int keyframe_min_interval_ms, const char *codecs,
                              const char *default_codec, int still_delay_ms,
                              int keyframe_interval_ms)
{
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.still_delay_ms = still_delay_ms;
    o.keyframe_interval_ms = keyframe_interval_ms;
    o.max_clients_per_address = 0;
    o.keyframe_min_interval_ms = keyframe_min_interval_ms;
    o.video_codecs = codecs;
    o.default_codec = default_codec;
    CU_ASSERT_EQUAL_FATAL(st_server_start(f, &o, SW, SH), SB_OK);
    st_publish_one(f->ring, SW, SH);
}

static void video_server(st_server *f, int keyframe_min_interval_ms, const char *codecs,
                         const char *default_codec)
{
    video_server_with(f, keyframe_min_interval_ms, codecs, default_codec,
                      SB_SERVER_DEFAULT_STILL_DELAY_MS, 0);
}

static sb_codec_snapshot codec_stats(st_server *f, int id)
{
    sb_codec_snapshot s;
    sb__stats_codec(&f->srv->streams->stats, id, &s);
    return s;
}

/* One WebSocket viewer that decodes every video packet it is sent. */
typedef struct viewer {
    st_ws ws;
    decoder dec;
    pthread_mutex_t mu;
    int decoded, undecoded, wrong_size, wrong_picture;
} viewer;

/* st_ws_video_fn: decode, check the picture's size and its marker against the frame's seq. */
static void viewer_on_video(void *user, const unsigned char *m, size_t len)
{
    viewer *v = user;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq |= (uint64_t)m[16 + i] << (8 * i);
    pthread_mutex_lock(&v->mu);
    if (decoder_feed(&v->dec, m + SB_WIRE_VIDEO_HEADER_LEN, len - SB_WIRE_VIDEO_HEADER_LEN)) {
        v->decoded++;
        uint32_t w = (uint32_t)m[4] | (uint32_t)m[5] << 8, h = (uint32_t)m[8] | (uint32_t)m[9] << 8;
        uint32_t cw = (uint32_t)m[56] | (uint32_t)m[57] << 8, ch = (uint32_t)m[60] | (uint32_t)m[61] << 8;
        v->wrong_size += v->dec.width != (int)cw || v->dec.height != (int)ch ||
                         cw != ((w + 1) & ~1u) || ch != ((h + 1) & ~1u);
        v->wrong_picture += abs(v->dec.marker - (int)st_marker_value(seq)) > MARKER_TOLERANCE;
    } else {
        v->undecoded++;
    }
    pthread_mutex_unlock(&v->mu);
}

/* Connects, asks for codec and waits for the answer and a first video frame. */
static void viewer_open(viewer *v, st_server *f, int codec, bool auto_ack)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->mu, NULL);
    CU_ASSERT_FATAL(decoder_open(&v->dec, codec));
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&v->ws, f->port, "/ws", NULL, auto_ack), 0);
    v->ws.on_video = viewer_on_video;
    v->ws.on_video_user = v;
    st_ws_codec(&v->ws, codec, ALL_CODECS);
    CU_ASSERT_EQUAL(st_ws_wait_answers(&v->ws, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(v->ws.answer_codec, codec);
    CU_ASSERT_EQUAL(v->ws.answer_reason, 0);
    CU_ASSERT(st_ws_wait_video_frames(&v->ws, 1, ST_DEADLINE_MS) >= 1);
}

static void viewer_close(viewer *v)
{
    st_ws_close(&v->ws);
    decoder_close(&v->dec);
    pthread_mutex_destroy(&v->mu);
}

/* Everything v was sent decoded to the right size and picture, in order, from a keyframe. */
static void viewer_check(viewer *v)
{
    pthread_mutex_lock(&v->ws.mu);
    int video = v->ws.video_frames, first_key = v->ws.first_video_key;
    bool in_order = v->ws.video_in_order;
    pthread_mutex_unlock(&v->ws.mu);
    pthread_mutex_lock(&v->mu);
    CU_ASSERT_EQUAL(first_key, 1);
    CU_ASSERT(in_order);
    CU_ASSERT_EQUAL(v->decoded, video);
    CU_ASSERT_EQUAL(v->undecoded, 0);
    CU_ASSERT_EQUAL(v->wrong_size, 0);
    CU_ASSERT_EQUAL(v->wrong_picture, 0);
    CU_ASSERT_EQUAL(v->dec.errors, 0);
    pthread_mutex_unlock(&v->mu);
}

static bool all_at_seq(viewer *v, int n, uint64_t seq)
{
    for (int i = 0; i < n; i++)
        if (st_ws_last_seq(&v[i].ws) < seq)
            return false;
    return true;
}

/* n viewers of codec; FRAMES more frames published: the codec encoded each distinct frame once
 * (as many encodes as JPEG's distinct frames, whatever n), every viewer got every packet. */
#define FRAMES 30
static void encoded_once_with(int codec, int n)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer *v = calloc((size_t)n, sizeof *v);
    for (int i = 0; i < n; i++)
        viewer_open(&v[i], &f, codec, true);
    sb_codec_snapshot before = codec_stats(&f, codec);
    sb_server_stats sb = st_server_stats(f.srv);
    st_produce(f.ring, SW, SH, FRAMES, 10);
    uint64_t last = sb_frame_ring_latest_seq(f.ring);
    bool all;
    ST_WAIT_UNTIL(all, all_at_seq(v, n, last), ST_DEADLINE_MS);
    CU_ASSERT(all);
    sb_codec_snapshot after = codec_stats(&f, codec);
    sb_server_stats sa = st_server_stats(f.srv);
    uint64_t distinct = sa.frames_encoded - sb.frames_encoded;
    uint64_t encodes = after.frames - before.frames;
    printf("\n%s with %d clients: %llu frames published, %llu distinct encoded, %llu %s encodes "
           "(+%llu re-encodes)", sb__codec_name(codec), n, (unsigned long long)FRAMES,
           (unsigned long long)distinct, (unsigned long long)encodes, sb__codec_name(codec),
           (unsigned long long)(after.reencodes - before.reencodes));
    CU_ASSERT(distinct >= 1 && distinct <= FRAMES);
    CU_ASSERT_EQUAL(encodes, distinct);
    for (int i = 0; i < n; i++) {
        viewer_check(&v[i]);
        viewer_close(&v[i]);
    }
    free(v);
    st_server_stop(&f);
}

static void test_h264_encoded_once_for_1_and_16_clients(void)
{
    encoded_once_with(SB_CODEC_H264, 1);
    encoded_once_with(SB_CODEC_H264, 16);
}

static void test_vp8_encoded_once_for_1_and_16_clients(void)
{
    encoded_once_with(SB_CODEC_VP8, 1);
    encoded_once_with(SB_CODEC_VP8, 16);
}

/* A client joining a running stream (P-frames flowing) gets a keyframe first. */
static void test_late_joiner_starts_at_a_keyframe(void)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer a, b;
    viewer_open(&a, &f, SB_CODEC_H264, true);
    st_produce(f.ring, SW, SH, 10, 5);
    viewer_open(&b, &f, SB_CODEC_H264, true);
    st_produce(f.ring, SW, SH, 10, 5);
    uint64_t last = sb_frame_ring_latest_seq(f.ring);
    bool done;
    ST_WAIT_UNTIL(done, st_ws_last_seq(&a.ws) == last && st_ws_last_seq(&b.ws) == last,
                  ST_DEADLINE_MS);
    CU_ASSERT(done);
    viewer_check(&a);
    viewer_check(&b); /* its first video message was a keyframe, and all decoded */
    CU_ASSERT(codec_stats(&f, SB_CODEC_H264).keyframes_requested >= 1);
    viewer_close(&a);
    viewer_close(&b);
    st_server_stop(&f);
}

/* The seq of codec's newest packet (0: none). */
static uint64_t newest_packet_seq(st_server *f, int codec)
{
    sb_encoder *enc = &f->srv->streams->encoder;
    pthread_mutex_lock(&enc->mu);
    const sb_video_stream *vs = &enc->video[codec];
    uint64_t seq = vs->count ? vs->ring[(vs->next_frame_no - 1) % SB_VIDEO_RING]->seq : 0;
    pthread_mutex_unlock(&enc->mu);
    return seq;
}

static uint32_t packets_in_ring(st_server *f, int codec)
{
    sb_encoder *enc = &f->srv->streams->encoder;
    pthread_mutex_lock(&enc->mu);
    uint32_t n = enc->video[codec].count;
    pthread_mutex_unlock(&enc->mu);
    return n;
}

static uint32_t packets_made(st_server *f, int codec)
{
    sb_encoder *enc = &f->srv->streams->encoder;
    pthread_mutex_lock(&enc->mu);
    uint32_t n = enc->video[codec].next_frame_no;
    pthread_mutex_unlock(&enc->mu);
    return n;
}

static int jpeg_frames_of(st_ws *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->jpeg_frames;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static int keyframes_of(st_ws *w)
{
    pthread_mutex_lock(&w->mu);
    int k = w->keyframes;
    pthread_mutex_unlock(&w->mu);
    return k;
}

/* KEYFRAME REQUEST on a still scene (no new frame): a keyframe comes anyway, forced. */
static void test_keyframe_request_produces_a_keyframe(void)
{
    st_server f;
    video_server(&f, 0, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_VP8, true);
    int keys = keyframes_of(&v.ws);
    uint64_t forced = codec_stats(&f, SB_CODEC_VP8).keyframes_forced;
    st_ws_keyframe_request(&v.ws);
    bool came;
    ST_WAIT_UNTIL(came, keyframes_of(&v.ws) > keys, ST_DEADLINE_MS);
    CU_ASSERT(came);
    CU_ASSERT(codec_stats(&f, SB_CODEC_VP8).keyframes_forced > forced);
    viewer_check(&v);
    viewer_close(&v);
    st_server_stop(&f);
}

/* 20 requests within keyframe_min_interval_ms (60 s): at most 2 keyframes forced; each request
 * counted (asked for, merged, or over the client's own limit and ignored). */
static void test_keyframe_requests_are_rate_limited(void)
{
    st_server f;
    video_server(&f, 60000, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_H264, true);
    sb_codec_snapshot before = codec_stats(&f, SB_CODEC_H264);
    for (int i = 0; i < 20; i++)
        st_ws_keyframe_request(&v.ws);
    bool counted;
    ST_WAIT_UNTIL(counted,
                  codec_stats(&f, SB_CODEC_H264).keyframes_requested - before.keyframes_requested +
                          codec_stats(&f, SB_CODEC_H264).requests_ignored -
                          before.requests_ignored >= 20,
                  ST_DEADLINE_MS);
    CU_ASSERT(counted);
    /* The first request's keyframe comes; let frames flow so any further forcing would show. */
    bool keyed;
    ST_WAIT_UNTIL(keyed, codec_stats(&f, SB_CODEC_H264).keyframes_forced > before.keyframes_forced,
                  ST_DEADLINE_MS);
    CU_ASSERT(keyed);
    st_produce(f.ring, SW, SH, 20, 5);
    uint64_t last = sb_frame_ring_latest_seq(f.ring);
    bool encoded;
    ST_WAIT_UNTIL(encoded, newest_packet_seq(&f, SB_CODEC_H264) == last, ST_DEADLINE_MS);
    CU_ASSERT(encoded);
    sb_codec_snapshot after = codec_stats(&f, SB_CODEC_H264);
    printf("\n20 requests: %llu asked, %llu merged, %llu ignored, %llu forced",
           (unsigned long long)(after.keyframes_requested - before.keyframes_requested),
           (unsigned long long)(after.requests_merged - before.requests_merged),
           (unsigned long long)(after.requests_ignored - before.requests_ignored),
           (unsigned long long)(after.keyframes_forced - before.keyframes_forced));
    CU_ASSERT(after.keyframes_forced - before.keyframes_forced <= 2);
    CU_ASSERT(after.keyframes_requested - before.keyframes_requested >= 1);
    viewer_close(&v);
    st_server_stop(&f);
}

/* A client that never acks holds at most its credit; a healthy one gets every packet in order. */
static void test_never_acking_client_does_not_stall_a_healthy_one(void)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer stuck, healthy;
    viewer_open(&stuck, &f, SB_CODEC_H264, false);
    viewer_open(&healthy, &f, SB_CODEC_H264, true);
    int before = st_ws_wait_video_frames(&healthy.ws, 1, ST_DEADLINE_MS);
    st_produce(f.ring, SW, SH, 40, 5);
    uint64_t last = sb_frame_ring_latest_seq(f.ring);
    bool done;
    ST_WAIT_UNTIL(done, st_ws_last_seq(&healthy.ws) == last, ST_DEADLINE_MS);
    CU_ASSERT(done);
    int got = st_ws_wait_video_frames(&healthy.ws, 0, 0);
    CU_ASSERT(got > before);
    viewer_check(&healthy); /* frame_no consecutive: every packet */
    pthread_mutex_lock(&stuck.ws.mu);
    CU_ASSERT(stuck.ws.video_frames <= SB_CLIENT_MAX_IN_FLIGHT_VIDEO);
    pthread_mutex_unlock(&stuck.ws.mu);
    viewer_close(&stuck);
    viewer_close(&healthy);
    st_server_stop(&f);
}

/* A client behind by more than the packet ring (it stopped acking while 40 frames went by)
 * resumes, once it acks again, at a keyframe: what it is sent never has a gap. */
static void test_client_behind_the_ring_resumes_at_a_keyframe(void)
{
    st_server f;
    video_server(&f, 0, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_H264, false);
    /* Frames until the ring is past what it can still be sent. */
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    while (packets_made(&f, SB_CODEC_H264) <= SB_VIDEO_RING + 8u && st_now_ms() < deadline)
        st_produce(f.ring, SW, SH, 4, 5); /* a producer's pace */
    CU_ASSERT(packets_made(&f, SB_CODEC_H264) > SB_VIDEO_RING + 8u);
    /* Its whole credit is out (a JPEG sent before its CODEC may hold one of it). */
    CU_ASSERT(st_ws_wait_frames(&v.ws, SB_CLIENT_MAX_IN_FLIGHT_VIDEO, ST_DEADLINE_MS) ==
              SB_CLIENT_MAX_IN_FLIGHT_VIDEO);
    uint64_t requested = codec_stats(&f, SB_CODEC_H264).keyframes_requested;
    pthread_mutex_lock(&v.ws.mu);
    int n = v.ws.frames;
    v.ws.auto_ack = true;
    pthread_mutex_unlock(&v.ws.mu);
    for (int i = 0; i < n; i++)
        st_ws_ack(&v.ws, v.ws.seqs[i]);
    CU_ASSERT(st_ws_wait_frames(&v.ws, n + 1, ST_DEADLINE_MS) > n);
    CU_ASSERT(codec_stats(&f, SB_CODEC_H264).keyframes_requested > requested);
    viewer_check(&v); /* in order, or a keyframe after the gap */
    viewer_close(&v);
    st_server_stop(&f);
}

/* CODEC answers: not allowed (1), not decodable (2), unknown (3), and the default codec. */
static void test_codec_answers_say_why_and_fall_back_to_jpeg(void)
{
    st_server f;
    video_server(&f, 500, "vp8", "vp8");
    st_ws w;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&w, f.port, "/ws", NULL, true), 0);
    struct { int wanted; unsigned mask; int codec, reason; } cases[] = {
        {SB_CODEC_H264, ALL_CODECS, SB_CODEC_JPEG, 1},
        {SB_CODEC_VP8, SB_CODEC_BIT(SB_CODEC_JPEG), SB_CODEC_JPEG, 2},
        {9, 0xff, SB_CODEC_JPEG, 3},
        {255, SB_CODEC_BIT(SB_CODEC_JPEG), SB_CODEC_JPEG, 2},
        {255, ALL_CODECS, SB_CODEC_VP8, 0},
        {SB_CODEC_JPEG, ALL_CODECS, SB_CODEC_JPEG, 0},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        st_ws_codec(&w, cases[i].wanted, cases[i].mask);
        CU_ASSERT_EQUAL(st_ws_wait_answers(&w, i + 1, ST_DEADLINE_MS), i + 1);
        CU_ASSERT_EQUAL(w.answer_codec, cases[i].codec);
        CU_ASSERT_EQUAL(w.answer_reason, cases[i].reason);
    }
    /* Back on JPEG: frames keep coming as JPEG messages. */
    int jpeg = jpeg_frames_of(&w);
    st_publish_one(f.ring, SW, SH);
    bool more;
    ST_WAIT_UNTIL(more, jpeg_frames_of(&w) > jpeg, ST_DEADLINE_MS);
    CU_ASSERT(more);
    st_response r;
    CU_ASSERT_EQUAL(st_http_get(f.port, "/stats", NULL, 1 << 20, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"codecs\":{\"jpeg\":{"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"h264\":{\"available\":true,\"allowed\":false"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"vp8\":{\"available\":true,\"allowed\":true"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"codec\":\"jpeg\",")); /* its last CODEC: jpeg */
    st_response_free(&r);
    st_ws_close(&w);
    st_server_stop(&f);
}

/* Malformed CODEC / KEYFRAME REQUEST close their own connection with 1007; a video viewer
 * beside them keeps streaming. */
static void test_malformed_video_messages_close_only_their_connection(void)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer healthy;
    viewer_open(&healthy, &f, SB_CODEC_H264, true);
    unsigned char codec_short[7] = {4, 1, 7, 0, 0, 0, 0};
    unsigned char codec_reserved[8] = {4, 1, 7, 0, 0, 9, 0, 0};
    unsigned char key_long[5] = {5, 0, 0, 0, 0};
    unsigned char key_reserved[4] = {5, 0, 1, 0};
    struct { const unsigned char *m; size_t len; } bad[] = {
        {codec_short, sizeof codec_short}, {codec_reserved, sizeof codec_reserved},
        {key_long, sizeof key_long}, {key_reserved, sizeof key_reserved}};
    uint64_t rejected = st_server_stats(f.srv).messages_rejected;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_ws w;
        CU_ASSERT_EQUAL_FATAL(st_ws_connect(&w, f.port, "/ws", NULL, true), 0);
        st_ws_send(&w, bad[i].m, bad[i].len, MG_WEBSOCKET_OPCODE_BINARY);
        CU_ASSERT(st_ws_wait_closed(&w, ST_DEADLINE_MS));
        CU_ASSERT_EQUAL(w.close_code, SB_WS_CLOSE_INVALID);
        st_ws_close(&w);
    }
    CU_ASSERT(st_server_stats(f.srv).messages_rejected >= rejected + 4);
    int before = st_ws_wait_video_frames(&healthy.ws, 0, 0);
    st_produce(f.ring, SW, SH, 5, 5);
    CU_ASSERT(st_ws_wait_video_frames(&healthy.ws, before + 1, ST_DEADLINE_MS) > before);
    viewer_check(&healthy);
    viewer_close(&healthy);
    st_server_stop(&f);
}

/* A new frame size starts a new stream (new stream_id) at a keyframe, odd sizes coded at the
 * next even size; the viewer follows without a gap and decodes the right picture. */
static void test_size_change_starts_a_new_stream_at_a_keyframe(void)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_H264, true);
    st_produce(f.ring, SW, SH, 3, 5);
    pthread_mutex_lock(&v.ws.mu);
    uint32_t first_stream = v.ws.stream_id;
    pthread_mutex_unlock(&v.ws.mu);
    uint64_t seq = st_publish_one(f.ring, 201, 151);
    bool moved;
    ST_WAIT_UNTIL(moved, st_ws_last_seq(&v.ws) >= seq, ST_DEADLINE_MS);
    CU_ASSERT(moved);
    pthread_mutex_lock(&v.ws.mu);
    CU_ASSERT_NOT_EQUAL(v.ws.stream_id, first_stream);
    CU_ASSERT_EQUAL(v.ws.frame_no, 0);
    CU_ASSERT_EQUAL(v.ws.width, 201);
    CU_ASSERT_EQUAL(v.ws.coded_width, 202);
    CU_ASSERT_EQUAL(v.ws.coded_height, 152);
    pthread_mutex_unlock(&v.ws.mu);
    viewer_check(&v); /* the new stream began with a keyframe (video_in_order) and decoded */
    viewer_close(&v);
    st_server_stop(&f);
}

static uint64_t still_encodes(st_server *f)
{
    return st_server_stats(f->srv).frames_encoded_still;
}

/* keyframe_interval_ms: periodic keyframes while frames flow (1 ms: every frame is one), and
 * none forced by clients for them. */
static void test_periodic_keyframes(void)
{
    st_server f;
    video_server_with(&f, 500, NULL, NULL, SB_SERVER_DEFAULT_STILL_DELAY_MS, 1);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_VP8, true);
    st_produce(f.ring, SW, SH, 6, 5);
    uint64_t last = sb_frame_ring_latest_seq(f.ring);
    bool done;
    ST_WAIT_UNTIL(done, st_ws_last_seq(&v.ws) == last, ST_DEADLINE_MS);
    CU_ASSERT(done);
    pthread_mutex_lock(&v.ws.mu);
    CU_ASSERT(v.ws.video_frames >= 2);
    CU_ASSERT_EQUAL(v.ws.keyframes, v.ws.video_frames);
    pthread_mutex_unlock(&v.ws.mu);
    viewer_check(&v);
    viewer_close(&v);
    st_server_stop(&f);
}

/* One input event from v, received by the server. */
static void send_input(st_server *f, viewer *v)
{
    uint64_t events = st_server_stats(f->srv).events_received;
    unsigned char ev[80];
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, 10, 10, SW, SH);
    st_ws_send(&v->ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY);
    bool in;
    ST_WAIT_UNTIL(in, st_server_stats(f->srv).events_received > events, ST_DEADLINE_MS);
    CU_ASSERT_FATAL(in);
}

/* The newest message w got is the still-quality JPEG (type 0x01, still flag) of seq. */
static bool shows_still_of(st_ws *w, uint64_t seq)
{
    pthread_mutex_lock(&w->mu);
    bool still = w->last_type == 1 && w->last_still == 1 && w->last_seq == seq;
    pthread_mutex_unlock(&w->mu);
    return still;
}

/* The input is older than still_delay_ms: a frame published now misses the input window and is
 * encoded at still quality directly, as a frame whose render took longer does (a loaded machine:
 * the browser test's last drag frames). A condition the test waits for, not a speed. */
static bool input_window_over(st_server *f)
{
    uint64_t input_ns = atomic_load(&f->srv->streams->encoder.last_input_ns);
    uint64_t window_ns = (uint64_t)f->srv->streams->encoder.cfg.still_delay_ms * 1000000ull;
    return input_ns && sb__monotonic_ns() - input_ns > window_ns;
}

/* Still-quality refinement: once input has gone idle, a video viewer showing the frame gets
 * its still-quality JPEG (type 0x01, still flag) too, of the same seq: re-encoded when the frame
 * came inside the input window, the frame's own JPEG when it missed it. */
static void test_video_viewer_gets_the_still_jpeg_after_input(void)
{
    st_server f;
    video_server_with(&f, 500, NULL, NULL, 1000, 0);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_H264, true);
    send_input(&f, &v);
    uint64_t seq = st_publish_one(f.ring, SW, SH);
    bool got;
    ST_WAIT_UNTIL(got, shows_still_of(&v.ws, seq), ST_DEADLINE_MS);
    CU_ASSERT(got);
    pthread_mutex_lock(&v.ws.mu);
    CU_ASSERT(v.ws.frames >= 2);
    CU_ASSERT_EQUAL(v.ws.seqs[v.ws.frames - 2], seq); /* its video frame came first */
    pthread_mutex_unlock(&v.ws.mu);
    viewer_check(&v);
    viewer_close(&v);
    st_server_stop(&f);
}

/* Frames published after the input window (a slow render after a drag) are encoded at still
 * quality directly: nothing is re-encoded, yet the viewer ends up with the still JPEG of the
 * last one, the frame the scene rests on. Then, with no new input, two more frames (renders
 * lagging behind the input, after the viewer already had a still: the browser test's trace
 * under load): the still of the newest again. (Before: only a re-encode was ever offered to
 * video viewers, so such a viewer kept the video picture for good.) */
static void test_video_viewer_gets_the_still_of_frames_that_missed_the_input_window(void)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_H264, true);
    uint64_t stills = still_encodes(&f);
    send_input(&f, &v);
    bool over;
    ST_WAIT_UNTIL(over, input_window_over(&f), ST_DEADLINE_MS);
    CU_ASSERT_FATAL(over);
    st_publish_one(f.ring, SW, SH);
    uint64_t last = st_publish_one(f.ring, SW, SH);
    bool got;
    ST_WAIT_UNTIL(got, shows_still_of(&v.ws, last), ST_DEADLINE_MS);
    CU_ASSERT(got);
    CU_ASSERT_EQUAL(still_encodes(&f), stills); /* the frame's own JPEG: no second encode */
    st_publish_one(f.ring, SW, SH);
    last = st_publish_one(f.ring, SW, SH);
    ST_WAIT_UNTIL(got, shows_still_of(&v.ws, last), ST_DEADLINE_MS);
    CU_ASSERT(got);
    viewer_check(&v);
    viewer_close(&v);
    st_server_stop(&f);
}

/* A viewer that has the still of frame S and then gets a video packet of S again (a keyframe
 * re-encode of the still scene: its own KEYFRAME REQUEST here, or another viewer's) shows that
 * video picture: it is sent the still again after it. */
static void test_video_viewer_gets_the_still_again_after_a_keyframe_of_it(void)
{
    st_server f;
    video_server(&f, 0, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_VP8, true);
    send_input(&f, &v);
    uint64_t seq = st_publish_one(f.ring, SW, SH);
    bool got;
    ST_WAIT_UNTIL(got, shows_still_of(&v.ws, seq), ST_DEADLINE_MS);
    CU_ASSERT_FATAL(got);
    int keys = keyframes_of(&v.ws), jpegs = jpeg_frames_of(&v.ws);
    st_ws_keyframe_request(&v.ws);
    bool keyed;
    ST_WAIT_UNTIL(keyed, keyframes_of(&v.ws) > keys, ST_DEADLINE_MS);
    CU_ASSERT_FATAL(keyed);
    ST_WAIT_UNTIL(got, jpeg_frames_of(&v.ws) > jpegs && shows_still_of(&v.ws, seq),
                  ST_DEADLINE_MS);
    CU_ASSERT(got);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(f.ring), seq); /* the same frame all along */
    viewer_check(&v);
    viewer_close(&v);
    st_server_stop(&f);
}

/* The last viewer of a codec leaving frees its encoder (and a new one starts a new stream). */
static void test_encoder_exists_only_while_the_codec_is_used(void)
{
    st_server f;
    video_server(&f, 500, NULL, NULL);
    viewer v;
    viewer_open(&v, &f, SB_CODEC_VP8, true);
    CU_ASSERT_EQUAL(sb__encoder_video_users(&f.srv->streams->encoder, SB_CODEC_VP8), 1);
    viewer_close(&v);
    bool freed;
    ST_WAIT_UNTIL(freed, sb__encoder_video_users(&f.srv->streams->encoder, SB_CODEC_VP8) == 0 &&
                             packets_in_ring(&f, SB_CODEC_VP8) == 0,
                  ST_DEADLINE_MS);
    CU_ASSERT(freed);
    viewer_open(&v, &f, SB_CODEC_VP8, true);
    viewer_check(&v);
    viewer_close(&v);
    st_server_stop(&f);
}

/* ---- suites ---------------------------------------------------------------------------------- */

static CU_TestInfo codec_tests[] = {
    {"h264_decodes_back_to_the_picture", test_h264_decodes_back_to_the_picture},
    {"vp8_decodes_back_to_the_picture", test_vp8_decodes_back_to_the_picture},
    {"bench_720p_prints_encode_cost", test_bench_720p_prints_encode_cost},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo server_tests[] = {
    {"h264_encoded_once_for_1_and_16_clients", test_h264_encoded_once_for_1_and_16_clients},
    {"vp8_encoded_once_for_1_and_16_clients", test_vp8_encoded_once_for_1_and_16_clients},
    {"late_joiner_starts_at_a_keyframe", test_late_joiner_starts_at_a_keyframe},
    {"keyframe_request_produces_a_keyframe", test_keyframe_request_produces_a_keyframe},
    {"keyframe_requests_are_rate_limited", test_keyframe_requests_are_rate_limited},
    {"never_acking_client_does_not_stall_a_healthy_one",
     test_never_acking_client_does_not_stall_a_healthy_one},
    {"client_behind_the_ring_resumes_at_a_keyframe",
     test_client_behind_the_ring_resumes_at_a_keyframe},
    {"codec_answers_say_why_and_fall_back_to_jpeg",
     test_codec_answers_say_why_and_fall_back_to_jpeg},
    {"malformed_video_messages_close_only_their_connection",
     test_malformed_video_messages_close_only_their_connection},
    {"size_change_starts_a_new_stream_at_a_keyframe",
     test_size_change_starts_a_new_stream_at_a_keyframe},
    {"periodic_keyframes", test_periodic_keyframes},
    {"video_viewer_gets_the_still_jpeg_after_input",
     test_video_viewer_gets_the_still_jpeg_after_input},
    {"video_viewer_gets_the_still_of_frames_that_missed_the_input_window",
     test_video_viewer_gets_the_still_of_frames_that_missed_the_input_window},
    {"video_viewer_gets_the_still_again_after_a_keyframe_of_it",
     test_video_viewer_gets_the_still_again_after_a_keyframe_of_it},
    {"encoder_exists_only_while_the_codec_is_used",
     test_encoder_exists_only_while_the_codec_is_used},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"codecs", st_suite_init, NULL, NULL, NULL, codec_tests},
    {"server", st_suite_init, NULL, NULL, NULL, server_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
