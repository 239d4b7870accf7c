/* codec_video.c - the video codecs behind codec.h, through libavcodec: H.264 (libx264) and VP8
 * (libvpx), tuned for latency. Their I420 input comes from i420.c.
 *
 * Latency presets (docs/wire-protocol.md, "Video"): no B-frames and no lookahead (every
 * encode returns its own packet at once), one thread = one slice, constant quality (crf /
 * cq-level) with an optional VBV/target cap, no periodic keyframes of the codec's own (the
 * encoder thread forces them: on demand, keyframe_interval_ms). H.264: preset ultrafast, tune
 * zerolatency, constrained baseline, Annex B with SPS/PPS before every IDR (no global header),
 * so a decoder needs no out-of-band description. VP8: deadline realtime, cpu-used 12,
 * lag_in_frames 0, error resilient. Colour: BT.601 limited range, signalled in H.264's VUI (VP8
 * has only BT.601). */
#include "codec.h"

#include "streambridge/error.h"

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/log.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The codec's own keyframe period, in frames: effectively never (the encoder thread decides). */
#define SB_VIDEO_GOP (1 << 20)
/* ---- the libavcodec encoders ----------------------------------------------------------------- */

typedef struct video_codec {
    sb_codec base;
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    int64_t pts;
    bool resync; /* a packet was lost inside libavcodec: the next one must be a keyframe */
} video_codec;

static void av_why(char *why, size_t why_len, const char *what, int err)
{
    char text[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, text, sizeof text);
    snprintf(why, why_len, "%s: %s", what, text);
}

/* The codec-specific options (preset, rate control). */
static void h264_options(AVCodecContext *ctx, const sb_codec_settings *s, AVDictionary **o)
{
    char crf[16];
    snprintf(crf, sizeof crf, "%d", s->crf >= 0 ? s->crf : SB_H264_DEFAULT_CRF);
    av_dict_set(o, "preset", s->h264_preset ? s->h264_preset : "ultrafast", 0);
    av_dict_set(o, "tune", "zerolatency", 0);
    av_dict_set(o, "profile", "baseline", 0);
    av_dict_set(o, "crf", crf, 0);
    av_dict_set(o, "forced-idr", "1", 0);
    if (s->max_kbps > 0) {
        ctx->rc_max_rate = (int64_t)s->max_kbps * 1000;
        ctx->rc_buffer_size = s->max_kbps * 500; /* half a second of VBV buffer */
    }
}

static void vp8_options(AVCodecContext *ctx, const sb_codec_settings *s, AVDictionary **o)
{
    int crf = s->crf >= 0 ? s->crf : SB_VP8_DEFAULT_CRF;
    char text[16];
    snprintf(text, sizeof text, "%d", crf);
    av_dict_set(o, "deadline", "realtime", 0);
    /* Realtime speeds go to 16 for VP8. Measured (bench_video, basic scene 720p, CPU ms p50
     * of the encode): cpu-used 8 9.5 ms, 12 7.7 ms (+4% bytes, -0.04 dB), 16 8.0 ms (+8%). */
    av_dict_set(o, "cpu-used", "12", 0);
    av_dict_set(o, "lag-in-frames", "0", 0);
    av_dict_set(o, "error-resilient", "default", 0);
    av_dict_set(o, "crf", text, 0);
    /* Constant quality in libvpx needs a target bitrate, which acts as the cap. */
    ctx->bit_rate = (int64_t)(s->max_kbps > 0 ? s->max_kbps : 50000) * 1000;
    ctx->qmin = 0;
    ctx->qmax = crf > 56 ? crf : 56;
}

/* libx264 and libvpx print their banners and summaries at AV_LOG_INFO on every open and close.
 * Only when the process left libav's level at its default (an application that set its own
 * keeps it): errors only. */
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void quiet_libav(void)
{
    if (av_log_get_level() == AV_LOG_INFO)
        av_log_set_level(AV_LOG_ERROR);
}

static sb_codec *video_create(const sb_codec_vtable *vt, const char *encoder,
                              const sb_codec_settings *s, char *why, size_t why_len)
{
    pthread_once(&quiet_once, quiet_libav);
    const AVCodec *codec = avcodec_find_encoder_by_name(encoder);
    if (!codec) {
        snprintf(why, why_len, "%s: encoder %s is not in this build's libavcodec", vt->name,
                 encoder);
        return NULL;
    }
    video_codec *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    v->base.vt = vt;
    v->base.width = s->width;
    v->base.height = s->height;
    v->base.coded_width = (s->width + 1u) & ~1u;
    v->base.coded_height = (s->height + 1u) & ~1u;
    v->ctx = avcodec_alloc_context3(codec);
    v->frame = av_frame_alloc();
    v->pkt = av_packet_alloc();
    if (!v->ctx || !v->frame || !v->pkt) {
        snprintf(why, why_len, "out of memory");
        vt->destroy(&v->base);
        return NULL;
    }
    AVCodecContext *ctx = v->ctx;
    ctx->width = (int)v->base.coded_width;
    ctx->height = (int)v->base.coded_height;
    ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    int fps = s->fps >= 1.0 ? (int)(s->fps + 0.5) : 60;
    ctx->time_base = (AVRational){1, fps};
    ctx->framerate = (AVRational){fps, 1};
    ctx->gop_size = SB_VIDEO_GOP;
    ctx->max_b_frames = 0;
    ctx->thread_count = 1;
    ctx->colorspace = AVCOL_SPC_SMPTE170M;
    ctx->color_primaries = AVCOL_PRI_SMPTE170M;
    ctx->color_trc = AVCOL_TRC_SMPTE170M;
    ctx->color_range = AVCOL_RANGE_MPEG;
    AVDictionary *opts = NULL;
    if (vt->id == SB_CODEC_H264) {
        h264_options(ctx, s, &opts);
    } else {
        vp8_options(ctx, s, &opts);
        snprintf(v->base.codec_string, sizeof v->base.codec_string, "vp8");
    }
    int rc = avcodec_open2(ctx, codec, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        char what[96];
        snprintf(what, sizeof what, "%s: cannot open %s for %ux%u", vt->name, encoder,
                 v->base.coded_width, v->base.coded_height);
        av_why(why, why_len, what, rc);
        vt->destroy(&v->base);
        return NULL;
    }
    return &v->base;
}

/* "avc1.PPCCLL" from the first SPS (NAL type 7) of an Annex B access unit: the profile,
 * constraint flags and level libx264 actually chose. */
static void h264_codec_string(sb_codec *c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 6 < n; i++) {
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1 && (p[i + 3] & 0x1f) == 7) {
            snprintf(c->codec_string, sizeof c->codec_string, "avc1.%02X%02X%02X", p[i + 4],
                     p[i + 5], p[i + 6]);
            return;
        }
    }
}

static int copy_packet(video_codec *v, const AVPacket *pkt, sb_codec_packet *out)
{
    size_t n = (size_t)pkt->size;
    if (n > out->capacity) {
        if (out->fixed) {
            snprintf(v->base.error, sizeof v->base.error, "packet of %zu bytes does not fit", n);
            return SB_ETOOBIG;
        }
        unsigned char *grown = realloc(out->data, n);
        if (!grown) {
            snprintf(v->base.error, sizeof v->base.error, "out of memory");
            return SB_ENOMEM;
        }
        out->data = grown;
        out->capacity = n;
    }
    memcpy(out->data, pkt->data, n);
    out->len = n;
    out->keyframe = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    if (out->keyframe && v->base.vt->id == SB_CODEC_H264)
        h264_codec_string(&v->base, out->data, n);
    return SB_OK;
}

static int video_encode(sb_codec *c, const sb_codec_picture *pic, int quality, bool force_key,
                        sb_codec_packet *out)
{
    (void)quality;
    video_codec *v = (video_codec *)c;
    if (pic->format != SB_CODEC_I420 || pic->width != c->width || pic->height != c->height) {
        snprintf(c->error, sizeof c->error, "picture %ux%u format %u, instance %ux%u I420",
                 pic->width, pic->height, pic->format, c->width, c->height);
        return SB_EINVAL;
    }
    AVFrame *f = v->frame;
    av_frame_unref(f);
    f->format = AV_PIX_FMT_YUV420P;
    f->width = (int)c->coded_width;
    f->height = (int)c->coded_height;
    for (int i = 0; i < 3; i++) {
        /* Not reference counted: libavcodec copies what it keeps. */
        f->data[i] = (uint8_t *)(uintptr_t)pic->planes[i];
        f->linesize[i] = (int)pic->strides[i];
    }
    f->pts = v->pts++;
    f->pict_type = force_key || v->resync ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    f->key_frame = f->pict_type == AV_PICTURE_TYPE_I;
    int rc = avcodec_send_frame(v->ctx, f);
    if (rc < 0) {
        av_why(c->error, sizeof c->error, "avcodec_send_frame", rc);
        return SB_EIO;
    }
    int result = SB_EAGAIN, got = 0;
    while ((rc = avcodec_receive_packet(v->ctx, v->pkt)) >= 0) {
        /* The presets make one packet per frame; a second one could only be sent as part of
         * this message, so it is dropped and the stream restarts at a keyframe. */
        if (got++ == 0)
            result = copy_packet(v, v->pkt, out);
        else
            v->resync = true;
        av_packet_unref(v->pkt);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
        av_why(c->error, sizeof c->error, "avcodec_receive_packet", rc);
        return SB_EIO;
    }
    if (result == SB_EAGAIN)
        snprintf(c->error, sizeof c->error, "the encoder kept the frame (no packet)");
    if (result == SB_OK && out->keyframe)
        v->resync = false;
    else if (result == SB_OK && v->resync && got == 1)
        v->resync = false; /* asked for I above; the codec decides */
    return result;
}

static void video_destroy(sb_codec *c)
{
    video_codec *v = (video_codec *)c;
    if (!v)
        return;
    avcodec_free_context(&v->ctx);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    free(v);
}

bool sb__codec_available(sb_codec_id id)
{
    switch (id) {
    case SB_CODEC_JPEG: return true;
    case SB_CODEC_H264: return avcodec_find_encoder_by_name("libx264") != NULL;
    case SB_CODEC_VP8: return avcodec_find_encoder_by_name("libvpx") != NULL;
    default: return false;
    }
}

static sb_codec *h264_create(const sb_codec_settings *s, char *why, size_t why_len)
{
    return video_create(&sb__codec_h264, "libx264", s, why, why_len);
}

static sb_codec *vp8_create(const sb_codec_settings *s, char *why, size_t why_len)
{
    return video_create(&sb__codec_vp8, "libvpx", s, why, why_len);
}

const sb_codec_vtable sb__codec_h264 = {SB_CODEC_H264, "h264", h264_create, video_encode,
                                        video_destroy};
const sb_codec_vtable sb__codec_vp8 = {SB_CODEC_VP8, "vp8", vp8_create, video_encode,
                                       video_destroy};
