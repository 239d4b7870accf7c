/* sb_test_video.c - the decoder of what the server sends (sb_test_video.h). */
#include "sb_test_video.h"

#include "codec.h"

#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

bool st_video_decoder_open(st_video_decoder *d, int codec, uint32_t w, uint32_t h)
{
    memset(d, 0, sizeof *d);
    d->codec = codec;
    d->fixed_width = w;
    d->fixed_height = h;
    if (codec == SB_CODEC_JPEG) {
        d->tj = tjInitDecompress();
        return d->tj != NULL;
    }
    const AVCodec *c =
        avcodec_find_decoder(codec == SB_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8);
    if (!c)
        return false;
    d->ctx = avcodec_alloc_context3(c);
    d->frame = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->ctx || !d->frame || !d->pkt)
        return false;
    d->ctx->thread_count = 1; /* one picture in, one out: no frame-threading delay */
    return avcodec_open2(d->ctx, c, NULL) == 0;
}

void st_video_decoder_close(st_video_decoder *d)
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

/* d->rgb for a w x h picture. */
static bool rgb_for(st_video_decoder *d, uint32_t w, uint32_t h)
{
    size_t need = (size_t)w * h * 3;
    if (need > d->rgb_size) {
        uint8_t *p = realloc(d->rgb, need);
        if (!p)
            return false;
        d->rgb = p;
        d->rgb_size = need;
    }
    d->width = w;
    d->height = h;
    return true;
}

static bool feed_jpeg(st_video_decoder *d, const uint8_t *data, size_t len)
{
    int w = 0, h = 0, sub = 0, cs = 0;
    if (tjDecompressHeader3(d->tj, data, (unsigned long)len, &w, &h, &sub, &cs) != 0)
        return false;
    if (d->fixed_width && ((uint32_t)w != d->fixed_width || (uint32_t)h != d->fixed_height))
        return false;
    if (!rgb_for(d, (uint32_t)w, (uint32_t)h))
        return false;
    d->coded_width = (uint32_t)w;
    d->coded_height = (uint32_t)h;
    return tjDecompress2(d->tj, data, (unsigned long)len, d->rgb, w, w * 3, h, TJPF_RGB, 0) == 0;
}

/* The decoder's picture (of the coded size) into rgb: its visible top-left part. */
static bool convert_picture(st_video_decoder *d, const AVFrame *f)
{
    d->coded_width = (uint32_t)f->width;
    d->coded_height = (uint32_t)f->height;
    uint32_t w = d->fixed_width ? d->fixed_width : (uint32_t)f->width;
    uint32_t h = d->fixed_width ? d->fixed_height : (uint32_t)f->height;
    if ((uint32_t)f->width < w || (uint32_t)f->height < h || !rgb_for(d, w, h))
        return false;
    d->sws = sws_getCachedContext(d->sws, (int)w, (int)h, (enum AVPixelFormat)f->format, (int)w,
                                  (int)h, AV_PIX_FMT_RGB24,
                                  SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL,
                                  NULL, NULL);
    uint8_t *dst[4] = {d->rgb, NULL, NULL, NULL};
    int dst_stride[4] = {(int)w * 3, 0, 0, 0};
    return d->sws && sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, (int)h,
                               dst, dst_stride) == (int)h;
}

static bool feed_video(st_video_decoder *d, const uint8_t *data, size_t len)
{
    d->pkt->data = (uint8_t *)(uintptr_t)data;
    d->pkt->size = (int)len;
    if (avcodec_send_packet(d->ctx, d->pkt) < 0)
        return false;
    bool got = false;
    while (avcodec_receive_frame(d->ctx, d->frame) == 0) {
        got = convert_picture(d, d->frame);
        av_frame_unref(d->frame);
    }
    return got;
}

bool st_video_decoder_feed(st_video_decoder *d, const uint8_t *data, size_t len)
{
    bool got = d->codec == SB_CODEC_JPEG ? feed_jpeg(d, data, len) : feed_video(d, data, len);
    if (got)
        d->frames++;
    else
        d->errors++;
    return got;
}

int st_video_decoder_marker(const st_video_decoder *d)
{
    if (!d->frames || d->width < 64 || d->height < 64)
        return -1;
    unsigned long sum = 0;
    for (uint32_t y = 16; y < 48; y++)
        for (uint32_t x = 16; x < 48; x++)
            sum += d->rgb[((size_t)y * d->width + x) * 3 + 1];
    return (int)(sum / (32 * 32));
}
