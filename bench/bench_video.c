/* bench_video.c - JPEG vs H.264 vs VP8 on a rotating demo scene (issue #10, "Benchmark").
 *
 * For each size (1280x720, 1920x1080): the basic demo scene (--scene science for the other one)
 * is rendered offscreen and captured by the stream into its frame ring, the camera turning
 * --degrees (default 3) per frame for --frames (default 120, i.e. one full turn) frames. Each
 * captured frame is encoded through the server's own codec interface (server/codec.h): JPEG at the
 * interactive (60) and still (90) quality, H.264 and VP8 with the server's default settings
 * (SB_SERVER_OPTIONS_INIT's video_crf and video_max_kbps), plus any other settings asked for. Every packet is decoded back (TurboJPEG; libavcodec, then libswscale to RGB
 * with BT.601 limited range as encoded) and compared with the captured frame: PSNR over R, G and
 * B of the visible picture. Printed per codec: bytes per frame, Mbit/s at 60 fps, PSNR mean/min,
 * encode ms mean/p50/p99 of wall-clock time and p50/p99 of this thread's CPU time (video: I420
 * conversion + encode, as the server's encoder thread does it, one thread per encoder; the
 * conversion alone on its own line), keyframes; then the targets next to the
 * figures (H.264 <= 1/5 of JPEG-q60's bytes at equal or better PSNR; H.264 encode p50 <= 8 ms at
 * 720p).
 *
 * Then publish -> decoded through the real server: sb_server on a heap frame ring, the captured
 * turn republished in a loop paced at 60 fps, one acking WebSocket client per codec in turn
 * (CODEC message, tests/support's client) that decodes every message as it arrives, before its
 * ack (TurboJPEG / libavcodec to RGB: what a browser does before it draws). Printed per codec:
 * p50/p90/max of publish (the frame's capture_ns) -> decoded, of publish -> server sent, the
 * decode alone, the server's encode p50 of that codec (its /stats figure) and how many frames
 * the server encoded per codec during the run, and whether video's p50 is within one frame interval (16.7 ms) of JPEG's. The
 * server there encodes JPEG at 60 for still frames too (no input reaches it: otherwise every
 * frame of the turn would be a q90 "still"). Figures only; it never fails on them.
 *
 *   tests/xvfb-run.sh build/bench/bench_video [--frames N] [--degrees D] [--scene basic|science]
 *       [--sizes 720,1080] [--latency-seconds S] [--h264-crf N]... [--h264-preset P[:CRF]]...
 *       [--vp8-crf N]...
 *
 * --h264-crf / --h264-preset / --vp8-crf add rows with other settings than the server's (x264
 * presets other than ultrafast exist for this comparison only: sb_codec_settings.h264_preset).
 * Percentiles are over the last 256 values (sb_samples): frames <= 256, and a latency run of
 * more than 4 s counts its last 256 frames. */
#include "bench_video_scene.h"
#include "sb_test_http.h"
#include "sb_test_server.h"

#include "codec.h"
#include "sb_samples.h"
#include "server_internal.h" /* the per-codec counters (the default stream's, srv->streams), read as /stats does */

#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

#define FRAME_INTERVAL_MS (1000.0 / 60.0)
#define MAX_VARIANTS 12
/* Frames of the latency run not counted: the first keyframe, the server's warm-up. */
#define LATENCY_SKIP 10

/* ---- figures --------------------------------------------------------------------------------- */

/* A window of measurements (sb_samples, the library's own percentiles) and their mean. */
typedef struct figure {
    sb_samples window;
    double sum, min;
    uint64_t n;
} figure;

static void figure_add(figure *f, double v)
{
    sb__samples_add(&f->window, v);
    f->sum += v;
    f->min = f->n == 0 || v < f->min ? v : f->min;
    f->n++;
}

static double figure_mean(const figure *f)
{
    return f->n ? f->sum / (double)f->n : 0;
}

static sb_sample_summary figure_summary(const figure *f)
{
    sb_sample_summary s;
    sb__samples_summary(&f->window, &s);
    return s;
}

static double ms_since(uint64_t t0)
{
    return (double)(st_now_ns() - t0) / 1e6;
}

/* This thread's CPU time: what an encode costs one core, whatever else the machine runs. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- decoding and PSNR ----------------------------------------------------------------------- */

/* A decoder of one codec's packets into packed RGB rows of the visible size. */
typedef struct decoder {
    int codec;
    tjhandle tj;
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *rgb;
    uint32_t width, height; /* visible size of the pictures decoded into rgb */
    int errors;
} decoder;

static bool decoder_open(decoder *d, int codec, uint32_t w, uint32_t h)
{
    memset(d, 0, sizeof *d);
    d->codec = codec;
    d->width = w;
    d->height = h;
    d->rgb = malloc((size_t)w * h * 3);
    if (codec == SB_CODEC_JPEG) {
        d->tj = tjInitDecompress();
        return d->tj && d->rgb;
    }
    const AVCodec *c =
        avcodec_find_decoder(codec == SB_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8);
    if (!c || !d->rgb)
        return false;
    d->ctx = avcodec_alloc_context3(c);
    d->frame = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->ctx || !d->frame || !d->pkt)
        return false;
    d->ctx->thread_count = 1;
    return avcodec_open2(d->ctx, c, NULL) == 0;
}

static void decoder_close(decoder *d)
{
    if (d->tj)
        tjDestroy(d->tj);
    avcodec_free_context(&d->ctx);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    sws_freeContext(d->sws);
    free(d->rgb);
    memset(d, 0, sizeof *d);
}

/* Decodes one packet into d->rgb; true when it produced the picture. Video: the decoder's
 * picture is of the coded size; the visible top-left part is converted (BT.601 limited range,
 * as codec_video.c encodes and signals it; full chroma interpolation, as a browser draws). */
static bool decoder_feed(decoder *d, const uint8_t *data, size_t len)
{
    if (d->codec == SB_CODEC_JPEG) {
        int w = 0, h = 0, sub = 0, cs = 0;
        if (tjDecompressHeader3(d->tj, data, (unsigned long)len, &w, &h, &sub, &cs) != 0 ||
            (uint32_t)w != d->width || (uint32_t)h != d->height ||
            tjDecompress2(d->tj, data, (unsigned long)len, d->rgb, w, w * 3, h, TJPF_RGB, 0) != 0) {
            d->errors++;
            return false;
        }
        return true;
    }
    d->pkt->data = (uint8_t *)(uintptr_t)data;
    d->pkt->size = (int)len;
    if (avcodec_send_packet(d->ctx, d->pkt) < 0) {
        d->errors++;
        return false;
    }
    bool got = false;
    while (avcodec_receive_frame(d->ctx, d->frame) == 0) {
        AVFrame *f = d->frame;
        if ((uint32_t)f->width >= d->width && (uint32_t)f->height >= d->height) {
            int w = (int)d->width, h = (int)d->height;
            d->sws = sws_getCachedContext(d->sws, w, h, (enum AVPixelFormat)f->format, w, h,
                                          AV_PIX_FMT_RGB24,
                                          SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                          NULL, NULL, NULL);
            uint8_t *dst[4] = {d->rgb, NULL, NULL, NULL};
            int dst_stride[4] = {w * 3, 0, 0, 0};
            got = d->sws && sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, h,
                                      dst, dst_stride) == h;
        }
        av_frame_unref(f);
    }
    if (!got)
        d->errors++;
    return got;
}

/* PSNR (dB) over R, G, B of the visible picture: the captured frame vs packed RGB rows. */
static double psnr_rgb(const bv_frame *src, const uint8_t *rgb)
{
    unsigned bpp = sb_pixel_format_size(src->format);
    int r = src->format == SB_PIXEL_BGRA ? 2 : 0, b = 2 - r;
    uint64_t sq = 0;
    for (uint32_t y = 0; y < src->height; y++) {
        uint32_t sy = src->bottom_up ? src->height - 1 - y : y;
        const uint8_t *s = src->pixels + (size_t)sy * src->stride;
        const uint8_t *d = rgb + (size_t)y * src->width * 3;
        for (uint32_t x = 0; x < src->width; x++, s += bpp, d += 3) {
            int dr = s[r] - d[0], dg = s[1] - d[1], db = s[b] - d[2];
            sq += (uint64_t)(dr * dr + dg * dg + db * db);
        }
    }
    double mse = (double)sq / (3.0 * src->width * src->height);
    return mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : 99.0;
}

/* ---- part 1: bytes, PSNR, encode time -------------------------------------------------------- */

/* One row of the table: a codec and its settings. */
typedef struct variant {
    char label[32];
    int codec;
    int quality; /* JPEG */
    int crf;     /* video, -1 = the codec's default */
    const char *preset; /* H.264, NULL = the server's (ultrafast) */
    bool server_default;
    sb_codec *enc;
    sb_codec_packet out;
    decoder dec;
    figure bytes, psnr, encode_ms, encode_cpu_ms;
    int keyframes, failures;
} variant;

static int nvariants;
static variant variants[MAX_VARIANTS];

static void add_variant(int codec, int quality, int crf, const char *preset, bool server_default)
{
    if (nvariants == MAX_VARIANTS)
        return;
    variant *v = &variants[nvariants++];
    memset(v, 0, sizeof *v);
    v->codec = codec;
    v->quality = quality;
    v->crf = crf;
    v->preset = preset;
    v->server_default = server_default;
    if (codec == SB_CODEC_JPEG)
        snprintf(v->label, sizeof v->label, "jpeg q%d", quality);
    else if (server_default)
        snprintf(v->label, sizeof v->label, "%s (server default)", sb__codec_name(codec));
    else if (preset)
        snprintf(v->label, sizeof v->label, "%s %s crf %d", sb__codec_name(codec), preset,
                 crf >= 0 ? crf : 23);
    else
        snprintf(v->label, sizeof v->label, "%s crf %d", sb__codec_name(codec), crf);
}

static variant *find_variant(int codec, int quality)
{
    for (int i = 0; i < nvariants; i++)
        if (variants[i].codec == codec &&
            (codec == SB_CODEC_JPEG ? variants[i].quality == quality : variants[i].server_default))
            return &variants[i];
    return NULL;
}

static bool variants_open(uint32_t w, uint32_t h)
{
    sb_server_options defaults = SB_SERVER_OPTIONS_INIT;
    for (int i = 0; i < nvariants; i++) {
        variant *v = &variants[i];
        memset(&v->bytes, 0, sizeof v->bytes);
        memset(&v->psnr, 0, sizeof v->psnr);
        memset(&v->encode_ms, 0, sizeof v->encode_ms);
        memset(&v->encode_cpu_ms, 0, sizeof v->encode_cpu_ms);
        v->keyframes = v->failures = 0;
        sb_codec_settings s = {.width = w,
                               .height = h,
                               .crf = v->server_default ? defaults.video_crf : v->crf,
                               .max_kbps = defaults.video_max_kbps,
                               .fps = defaults.max_fps,
                               .h264_preset = v->preset};
        char why[160] = "";
        v->enc = sb__codec_vtable((sb_codec_id)v->codec)->create(&s, why, sizeof why);
        if (!v->enc) {
            fprintf(stderr, "bench_video: %s: %s\n", v->label, why);
            return false;
        }
        if (!decoder_open(&v->dec, v->codec, w, h)) {
            fprintf(stderr, "bench_video: no decoder for %s\n", v->label);
            return false;
        }
    }
    return true;
}

static void variants_close(void)
{
    for (int i = 0; i < nvariants; i++) {
        variant *v = &variants[i];
        if (v->enc)
            v->enc->vt->destroy(v->enc);
        v->enc = NULL;
        free(v->out.data);
        memset(&v->out, 0, sizeof v->out);
        decoder_close(&v->dec);
    }
}

/* Encodes the captured frame with every variant (video: the one I420 conversion of the frame,
 * timed into each video variant's encode as the server's encoder thread pays it), decodes it
 * back and measures. */
static void measure_frame(const bv_frame *f, int index, sb_i420 *i420, figure *convert_ms,
                          figure *convert_cpu_ms)
{
    sb_codec_picture pic;
    memset(&pic, 0, sizeof pic);
    pic.planes[0] = f->pixels;
    pic.strides[0] = f->stride;
    pic.width = f->width;
    pic.height = f->height;
    pic.format = f->format;
    pic.bottom_up = f->bottom_up;
    char why[160] = "";
    uint64_t t0 = st_now_ns(), c0 = thread_cpu_ns();
    bool converted = sb__i420_convert(i420, &pic, why, sizeof why) == SB_OK;
    double conv = ms_since(t0), conv_cpu = (double)(thread_cpu_ns() - c0) / 1e6;
    if (!converted)
        fprintf(stderr, "bench_video: I420: %s\n", why);
    figure_add(convert_ms, conv);
    figure_add(convert_cpu_ms, conv_cpu);
    sb_codec_picture yuv = sb__i420_picture(i420);
    for (int i = 0; i < nvariants; i++) {
        variant *v = &variants[i];
        bool video = v->codec != SB_CODEC_JPEG;
        if (video && !converted) {
            v->failures++;
            continue;
        }
        uint64_t e0 = st_now_ns(), ec0 = thread_cpu_ns();
        int rc = v->enc->vt->encode(v->enc, video ? &yuv : &pic, v->quality, index == 0, &v->out);
        double ms = ms_since(e0) + (video ? conv : 0);
        double cpu_ms = (double)(thread_cpu_ns() - ec0) / 1e6 + (video ? conv_cpu : 0);
        if (rc != SB_OK) {
            fprintf(stderr, "bench_video: %s frame %d: %s\n", v->label, index, v->enc->error);
            v->failures++;
            continue;
        }
        figure_add(&v->encode_ms, ms);
        figure_add(&v->encode_cpu_ms, cpu_ms);
        figure_add(&v->bytes, (double)v->out.len);
        v->keyframes += v->out.keyframe;
        if (decoder_feed(&v->dec, v->out.data, v->out.len))
            figure_add(&v->psnr, psnr_rgb(f, v->dec.rgb));
    }
}

static void print_codec_table(uint32_t w, uint32_t h, const char *scene, int frames,
                              double degrees, const figure *convert_ms,
                              const figure *convert_cpu_ms)
{
    printf("\n%ux%u, %s scene, %d frames, camera azimuth +%.1f deg per frame; PSNR over R,G,B "
           "of the visible picture vs the captured frame\n\n",
           w, h, scene, frames, degrees);
    printf("| codec | bytes/frame | Mbit/s @60fps | PSNR mean dB | PSNR min dB | encode ms mean "
           "| p50 | p99 | CPU ms p50 | p99 | keyframes | decode errors |\n|---|---:|---:|---:|---:|"
           "---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nvariants; i++) {
        variant *v = &variants[i];
        sb_sample_summary e = figure_summary(&v->encode_ms);
        sb_sample_summary cpu = figure_summary(&v->encode_cpu_ms);
        double bpf = figure_mean(&v->bytes);
        printf("| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d |\n",
               v->label, bpf, bpf * 8.0 * 60.0 / 1e6, figure_mean(&v->psnr), v->psnr.min,
               figure_mean(&v->encode_ms), e.p50, e.p99, cpu.p50, cpu.p99, v->keyframes,
               v->dec.errors + v->failures);
    }
    sb_sample_summary c = figure_summary(convert_ms), cc = figure_summary(convert_cpu_ms);
    printf("\nRGBA/BGRA -> I420 (libswscale, sb__i420_convert) alone, included in the video rows' "
           "encode: mean %.2f, p50 %.2f, p99 %.2f ms (CPU p50 %.2f, p99 %.2f ms)\n",
           figure_mean(convert_ms), c.p50, c.p99, cc.p50, cc.p99);
    variant *jpeg = find_variant(SB_CODEC_JPEG, 60), *h264 = find_variant(SB_CODEC_H264, 0);
    if (!jpeg || !h264 || jpeg->bytes.n == 0 || h264->bytes.n == 0)
        return;
    for (int i = 0; i < nvariants; i++) {
        variant *v = &variants[i];
        if (v->codec == SB_CODEC_JPEG || v->bytes.n == 0)
            continue;
        double ratio = figure_mean(&v->bytes) / figure_mean(&jpeg->bytes);
        double dpsnr = figure_mean(&v->psnr) - figure_mean(&jpeg->psnr);
        printf("%s bytes / jpeg q60 bytes = %.3f (1/%.1f), PSNR %+.2f dB vs jpeg q60",
               v->label, ratio, 1.0 / ratio, dpsnr);
        if (v->codec == SB_CODEC_H264)
            printf("  [target <= 0.200 at equal or better PSNR: %s]",
                   ratio <= 0.2 && dpsnr >= 0 ? "met" : "missed");
        printf("\n");
    }
    if (w == 1280 && h == 720) {
        sb_sample_summary e = figure_summary(&h264->encode_ms);
        sb_sample_summary cpu = figure_summary(&h264->encode_cpu_ms);
        printf("h264 (server default) encode p50 at 720p %.2f ms wall, %.2f ms CPU (I420 "
               "conversion included)  [target <= 8 ms: %s]\n",
               e.p50, cpu.p50, e.p50 <= 8.0 ? "met" : "missed");
    }
}

/* ---- part 2: publish -> decoded through the server ------------------------------------------- */

/* The client side of one latency run: every message decoded on arrival (civetweb's client
 * thread), before the ack st_ws sends after the callback. */
typedef struct receiver {
    decoder dec;
    figure to_decoded, to_sent, decode_ms;
    int messages, decoded, decode_errors;
    uint64_t first_counted_seq;
    /* The server's encodes during the run, per codec (frames, encode ms p50 over its window). */
    uint64_t server_frames[SB_CODEC_COUNT];
    double server_encode_p50;
} receiver;

/* Whether msg is of r's codec: a client that asked for video still gets JPEG until the server
 * has switched it (docs/wire-protocol.md, CODEC). */
static bool of_codec(const receiver *r, const unsigned char *msg)
{
    return r->dec.codec == SB_CODEC_JPEG ? msg[1] == 1 : msg[1] == 2 && msg[12] == r->dec.codec;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void on_message(void *user, const unsigned char *msg, size_t len)
{
    receiver *r = user;
    size_t header = (size_t)msg[2] | (size_t)msg[3] << 8;
    if (header > len || !of_codec(r, msg))
        return;
    uint64_t t0 = st_now_ns();
    bool ok = decoder_feed(&r->dec, msg + header, len - header);
    double decode_ms = ms_since(t0);
    uint64_t decoded_ns = sb__realtime_ns();
    uint64_t seq = get_u64(msg + 16), capture_ns = get_u64(msg + 24), send_ns = get_u64(msg + 32);
    r->messages++;
    if (!ok || seq < r->first_counted_seq)
        return;
    r->decoded++;
    figure_add(&r->to_decoded, (double)(decoded_ns - capture_ns) / 1e6);
    figure_add(&r->to_sent, (double)(send_ns - capture_ns) / 1e6);
    figure_add(&r->decode_ms, decode_ms);
}

/* Publishes frames[i % n] paced at 60 fps for seconds; returns how many. */
static int publish_turn(sb_frame_ring *ring, const bv_frame *frames, int n, double seconds)
{
    uint64_t t0 = sb__monotonic_ns();
    int published = 0;
    while (sb__monotonic_ns() - t0 < (uint64_t)(seconds * 1e9)) {
        uint64_t due = t0 + (uint64_t)published * 16666667ull;
        uint64_t now = sb__monotonic_ns();
        if (due > now)
            st_sleep_ms((long)((due - now) / 1000000ull));
        const bv_frame *f = &frames[published % n];
        sb_frame_info info;
        memset(&info, 0, sizeof info);
        info.bottom_up = f->bottom_up;
        uint8_t *px;
        uint32_t stride;
        if (sb_frame_ring_begin_write(ring, f->width, f->height, f->format, &px, &stride) != SB_OK)
            break;
        for (uint32_t y = 0; y < f->height; y++)
            memcpy(px + (size_t)y * stride, f->pixels + (size_t)y * f->stride, f->stride);
        sb_frame_ring_commit_info(ring, &info, NULL);
        published++;
    }
    return published;
}

static void latency_run(st_server *srv, const bv_frame *frames, int n, int codec, double seconds,
                        receiver *r)
{
    memset(r, 0, sizeof *r);
    const bv_frame *f0 = &frames[0];
    if (!decoder_open(&r->dec, codec, f0->width, f0->height)) {
        fprintf(stderr, "bench_video: no %s decoder\n", sb__codec_name(codec));
        return;
    }
    st_ws ws;
    if (st_ws_connect(&ws, srv->port, "/ws", NULL, true) != 0) {
        fprintf(stderr, "bench_video: /ws: %s\n", ws.error);
        decoder_close(&r->dec);
        return;
    }
    st_nodelay_all_sockets();
    /* Counted from a frame published after the client's codec is settled. */
    r->first_counted_seq = sb_frame_ring_latest_seq(srv->ring) + LATENCY_SKIP;
    pthread_mutex_lock(&ws.mu);
    ws.on_video = on_message;
    ws.on_video_user = r;
    ws.on_jpeg = on_message;
    ws.on_jpeg_user = r;
    pthread_mutex_unlock(&ws.mu);
    st_ws_codec(&ws, codec, SB_CODEC_ALL_BITS);
    if (st_ws_wait_answers(&ws, 1, ST_DEADLINE_MS) < 1 || ws.answer_codec != codec)
        fprintf(stderr, "bench_video: asked for %s, the server answered %d (reason %d)\n",
                sb__codec_name(codec), ws.answer_codec, ws.answer_reason);
    sb_codec_snapshot before[SB_CODEC_COUNT], after;
    for (int c = 0; c < SB_CODEC_COUNT; c++)
        sb__stats_codec(&srv->srv->streams->stats, c, &before[c]); /* the default stream */
    publish_turn(srv->ring, frames, n, seconds);
    st_sleep_ms(300); /* the last frames arrive */
    for (int c = 0; c < SB_CODEC_COUNT; c++) {
        sb__stats_codec(&srv->srv->streams->stats, c, &after);
        r->server_frames[c] = after.frames - before[c].frames;
        if (c == codec)
            r->server_encode_p50 = after.encode_ms_p50;
    }
    pthread_mutex_lock(&ws.mu);
    ws.on_video = ws.on_jpeg = NULL;
    pthread_mutex_unlock(&ws.mu);
    st_ws_close(&ws);
    r->decode_errors = r->dec.errors;
    decoder_close(&r->dec);
}

static void print_latency_table(uint32_t w, uint32_t h, double seconds, const receiver *r)
{
    printf("\n%ux%u publish -> decoded through sb_server, one acking client per codec in turn, "
           "frames republished at 60 fps for %.1f s (JPEG at q60)\n\n",
           w, h, seconds);
    printf("| codec | frames counted (of received) | decode errors | publish->decoded p50 | p90 | "
           "max | publish->sent p50 | decode p50 | decode max | server encode p50 | server "
           "encodes jpeg/h264/vp8 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (int c = 0; c < SB_CODEC_COUNT; c++) {
        sb_sample_summary t = figure_summary(&r[c].to_decoded);
        sb_sample_summary s = figure_summary(&r[c].to_sent);
        sb_sample_summary d = figure_summary(&r[c].decode_ms);
        printf("| %s | %d of %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | "
               "%llu/%llu/%llu |\n",
               sb__codec_name(c), r[c].decoded, r[c].messages, r[c].decode_errors, t.p50, t.p90,
               t.max, s.p50, d.p50, d.max, r[c].server_encode_p50,
               (unsigned long long)r[c].server_frames[SB_CODEC_JPEG],
               (unsigned long long)r[c].server_frames[SB_CODEC_H264],
               (unsigned long long)r[c].server_frames[SB_CODEC_VP8]);
    }
    double jpeg = figure_summary(&r[SB_CODEC_JPEG].to_decoded).p50;
    for (int c = SB_CODEC_H264; c < SB_CODEC_COUNT; c++) {
        if (r[c].decoded == 0)
            continue;
        double p50 = figure_summary(&r[c].to_decoded).p50;
        printf("%s p50 %.2f ms vs jpeg %.2f ms: %+.2f ms  [target within one frame interval "
               "(%.1f ms) of JPEG: %s]\n",
               sb__codec_name(c), p50, jpeg, p50 - jpeg, FRAME_INTERVAL_MS,
               p50 - jpeg <= FRAME_INTERVAL_MS ? "met" : "missed");
    }
}

static void latency(const bv_frame *frames, int n, double seconds)
{
    const bv_frame *f0 = &frames[0];
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    /* The turn comes without input, so the server would encode every frame as a "still" (q90):
     * the interactive quality is what a user turning the scene gets. */
    o.jpeg_quality_still = o.jpeg_quality_interactive;
    st_server srv;
    if (st_server_start(&srv, &o, f0->width, f0->height) != SB_OK)
        return;
    receiver r[SB_CODEC_COUNT];
    for (int c = 0; c < SB_CODEC_COUNT; c++)
        latency_run(&srv, frames, n, c, seconds, &r[c]);
    print_latency_table(f0->width, f0->height, seconds, r);
    st_server_stop(&srv);
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: bench_video [--frames N] [--degrees D] [--scene basic|science] "
                    "[--sizes 720,1080] [--latency-seconds S (0: none)] [--h264-crf N]... "
                    "[--h264-preset P[:CRF]]... [--vp8-crf N]...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int frames = 120;
    double degrees = 3.0, latency_seconds = 4.0;
    const char *scene = "basic", *sizes = "720,1080";
    add_variant(SB_CODEC_JPEG, 60, -1, NULL, true);
    add_variant(SB_CODEC_JPEG, 90, -1, NULL, true);
    add_variant(SB_CODEC_H264, 0, -1, NULL, true);
    add_variant(SB_CODEC_VP8, 0, -1, NULL, true);
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp(argv[i], "--frames") == 0 && more)
            frames = atoi(argv[++i]);
        else if (strcmp(argv[i], "--degrees") == 0 && more)
            degrees = atof(argv[++i]);
        else if (strcmp(argv[i], "--scene") == 0 && more)
            scene = argv[++i];
        else if (strcmp(argv[i], "--sizes") == 0 && more)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--latency-seconds") == 0 && more)
            latency_seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--h264-crf") == 0 && more)
            add_variant(SB_CODEC_H264, 0, atoi(argv[++i]), NULL, false);
        else if (strcmp(argv[i], "--h264-preset") == 0 && more) {
            /* PRESET or PRESET:CRF */
            char *arg = argv[++i], *colon = strchr(arg, ':');
            int crf = colon ? atoi(colon + 1) : -1;
            if (colon)
                *colon = '\0';
            add_variant(SB_CODEC_H264, 0, crf, arg, false);
        } else if (strcmp(argv[i], "--vp8-crf") == 0 && more)
            add_variant(SB_CODEC_VP8, 0, atoi(argv[++i]), NULL, false);
        else
            usage();
    }
    if (frames < 2 || frames > SB_SAMPLES_MAX || !(latency_seconds >= 0 && latency_seconds <= 60))
        usage();
    signal(SIGPIPE, SIG_IGN);
    st_suite_init();
    sb_server_options defaults = SB_SERVER_OPTIONS_INIT;
    printf("bench_video: server defaults video_crf %d (-1 = H.264 crf 23, VP8 cq-level 10), "
           "video_max_kbps %d, max_fps %.0f; encode and decode on this thread, one thread per "
           "codec (wall-clock ms, machine shared)\n",
           defaults.video_crf, defaults.video_max_kbps, defaults.max_fps);
    for (const char *p = sizes; *p;) {
        int lines = atoi(p);
        uint32_t w = lines == 1080 ? 1920 : lines == 720 ? 1280 : 0, h = (uint32_t)lines;
        p += strcspn(p, ",");
        p += *p == ',';
        if (!w) {
            fprintf(stderr, "bench_video: --sizes takes 720 and/or 1080\n");
            return 2;
        }
        char why[256] = "";
        bv_scene *s = bv_scene_open(scene, w, h, why, sizeof why);
        if (!s) {
            fprintf(stderr, "bench_video: scene %s: %s\n", scene, why);
            return 1;
        }
        bv_frame *captured = calloc((size_t)frames, sizeof *captured);
        sb_i420 i420;
        memset(&i420, 0, sizeof i420);
        figure convert_ms, convert_cpu_ms;
        memset(&convert_ms, 0, sizeof convert_ms);
        memset(&convert_cpu_ms, 0, sizeof convert_cpu_ms);
        if (!variants_open(w, h))
            return 1;
        int n = 0;
        for (; n < frames; n++) {
            if (!bv_scene_step(s, degrees, &captured[n])) {
                fprintf(stderr, "bench_video: frame %d was not captured\n", n);
                break;
            }
            if (captured[n].width != w || captured[n].height != h) {
                fprintf(stderr, "bench_video: captured %ux%u, asked for %ux%u\n",
                        captured[n].width, captured[n].height, w, h);
                break;
            }
            measure_frame(&captured[n], n, &i420, &convert_ms, &convert_cpu_ms);
        }
        bv_scene_close(s);
        print_codec_table(w, h, scene, n, degrees, &convert_ms, &convert_cpu_ms);
        variants_close();
        sb__i420_free(&i420);
        if (n > 0 && latency_seconds > 0)
            latency(captured, n, latency_seconds);
        for (int i = 0; i < frames; i++)
            bv_frame_free(&captured[i]);
        free(captured);
        fflush(stdout);
    }
    return 0;
}
