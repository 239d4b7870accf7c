/* sb_test_video.h - the one decoder of what the server sends, for tests and benchmarks: a JPEG
 * (TurboJPEG), an H.264 access unit or a VP8 frame (libavcodec) into packed RGB rows, as a
 * browser does before it draws. Part of sb_test_support. */
#ifndef SB_TEST_VIDEO_H
#define SB_TEST_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct AVCodecContext;
struct AVFrame;
struct AVPacket;
struct SwsContext;

typedef struct st_video_decoder {
    int codec;            /* SB_CODEC_JPEG, SB_CODEC_H264 or SB_CODEC_VP8 (server/codec.h) */
    void *tj;             /* JPEG */
    struct AVCodecContext *ctx; /* video */
    struct AVFrame *frame;
    struct AVPacket *pkt;
    struct SwsContext *sws;
    uint32_t fixed_width, fixed_height; /* the visible size asked for at open, 0x0: none */
    uint8_t *rgb;         /* the last picture, packed RGB, width x height, width * 3 a row */
    size_t rgb_size;
    uint32_t width, height;             /* of rgb: the fixed size, else the decoded picture's */
    uint32_t coded_width, coded_height; /* of the last decoded picture (video: even sizes) */
    int frames;           /* pictures decoded */
    int errors;           /* packets that gave no picture (undecodable, or a size mismatch) */
} st_video_decoder;

/* A decoder of codec's packets. w x h: the visible size to convert (the top-left part of a video
 * picture of the coded size; a JPEG of another size is an error), or 0x0 for whatever size each
 * picture has. One thread; false when codec has no decoder here. */
bool st_video_decoder_open(st_video_decoder *d, int codec, uint32_t w, uint32_t h);
void st_video_decoder_close(st_video_decoder *d);
/* Decodes one packet into d->rgb (video: BT.601 limited range, as codec_video.c encodes and
 * signals it, full chroma interpolation, as a browser draws). true when it gave a picture. */
bool st_video_decoder_feed(st_video_decoder *d, const uint8_t *data, size_t len);
/* The gray level of the marker square of st_fill_frame's pictures (mean green of its inner
 * 32x32) in the last picture, -1 when none or too small. */
int st_video_decoder_marker(const st_video_decoder *d);

#endif /* SB_TEST_VIDEO_H */
