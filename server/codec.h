/* codec.h - the one encoder interface of the server: a codec instance is created for a picture
 * size and pixel format, encodes one picture into one packet (a JPEG, an H.264 access unit, a
 * VP8 frame), and is destroyed. Implementations: codec_jpeg.c (TurboJPEG) and codec_video.c
 * (libavcodec: H.264 through libx264, VP8 through libvpx). encoder.c owns every instance and
 * calls them from its one thread only: an instance is not thread-safe.
 *
 * Video codecs take I420 pictures (SB_CODEC_I420) converted once per frame by
 * sb__i420_convert (i420.c) and shared by every video codec in use. Not
 * installed. */
#ifndef SB_CODEC_H
#define SB_CODEC_H

#include "streambridge/frame_ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire codec ids (docs/wire-protocol.md, VIDEO FRAME byte 12 and CODEC). */
typedef enum sb_codec_id { SB_CODEC_JPEG = 0, SB_CODEC_H264 = 1, SB_CODEC_VP8 = 2 } sb_codec_id;
#define SB_CODEC_COUNT 3
/* Bits of a codec set (allowed, decodable): 1u << id. */
#define SB_CODEC_BIT(id) (1u << (unsigned)(id))
#define SB_CODEC_ALL_BITS ((1u << SB_CODEC_COUNT) - 1u)

/* A picture format beside sb_pixel_format's: planar 4:2:0, planes[0..2] = Y, U, V, top row
 * first, of the coded (even) size with edge padding. */
#define SB_CODEC_I420 100u

/* One picture to encode. For SB_PIXEL_* formats planes[0]/strides[0] are the packed rows (as the
 * ring holds them; bottom_up: the first row in memory is the image's bottom). */
typedef struct sb_codec_picture {
    const uint8_t *planes[3];
    uint32_t strides[3];
    uint32_t width, height; /* visible size */
    uint32_t format;        /* SB_PIXEL_* or SB_CODEC_I420 */
    bool bottom_up;
} sb_codec_picture;

/* The video quality when sb_codec_settings.crf is -1. Chosen with bench_video (720p, 120 frames
 * of a turn, bytes and PSNR do not depend on the machine's load): the highest quality numbers
 * that keep PSNR above JPEG q60's on both demo scenes with a margin. H.264 crf 25: science
 * 0.39 of JPEG-q60's bytes at +0.54 dB (crf 23 was 0.47 at +1.2, crf 26 0.35 at +0.10), basic
 * 0.13 at +2.9 dB. VP8 cq-level 24: science 0.51 at +1.8 dB (cq 10 was 0.86 at +2.8), basic
 * 0.15 at +2.3 dB. */
#define SB_H264_DEFAULT_CRF 25
#define SB_VP8_DEFAULT_CRF 24

/* What an instance is created for. */
typedef struct sb_codec_settings {
    uint32_t width, height; /* visible size; video codes it rounded up to even */
    int crf;                /* video quality, -1 = the codec's default (options.c documents the
                             * ranges: H.264 crf 0..51, VP8 cq-level 0..63) */
    int max_kbps;           /* video bitrate cap, 0 = none */
    double fps;             /* expected frame rate (rate control's time base) */
    const char *h264_preset; /* x264 preset, NULL = "ultrafast" (the server's, never set by it);
                              * bench/bench_video compares others */
} sb_codec_settings;

/* The output buffer of one encode: the codec writes data[0..len) and may grow data (realloc,
 * capacity updated) unless fixed is set, where a packet that does not fit is an error. */
typedef struct sb_codec_packet {
    unsigned char *data;
    size_t len, capacity;
    bool fixed;
    bool keyframe;          /* the packet decodes alone (JPEG: always) */
} sb_codec_packet;

struct sb_codec_vtable;

/* The common head of every instance. */
typedef struct sb_codec {
    const struct sb_codec_vtable *vt;
    uint32_t width, height;             /* visible size it was created for */
    uint32_t coded_width, coded_height; /* video: rounded up to even; JPEG: as visible */
    char codec_string[24];              /* WebCodecs codec string ("avc1.42C01F", "vp8");
                                         * H.264: known after the first keyframe */
    char error[160];                    /* why the last call failed */
} sb_codec;

typedef struct sb_codec_vtable {
    sb_codec_id id;
    const char *name; /* "jpeg", "h264", "vp8": options, /stats and logs */
    /* A new instance, or NULL with the reason in why (an encoder missing from this build's
     * libavcodec, a size it refuses, out of memory). */
    sb_codec *(*create)(const sb_codec_settings *s, char *why, size_t why_len);
    /* Encodes pic (JPEG: any size and SB_PIXEL_* format; video: SB_CODEC_I420 of the instance's
     * size) into out. quality: JPEG 1..100, ignored by video. force_key: the packet must be a
     * keyframe (JPEG always is). SB_OK, or an error code with c->error set. */
    int (*encode)(sb_codec *c, const sb_codec_picture *pic, int quality, bool force_key,
                  sb_codec_packet *out);
    void (*destroy)(sb_codec *c);
} sb_codec_vtable;

extern const sb_codec_vtable sb__codec_jpeg;
extern const sb_codec_vtable sb__codec_h264;
extern const sb_codec_vtable sb__codec_vp8;

/* Whether this build can encode id (JPEG: always; video: libavcodec has the encoder). */
bool sb__codec_available(sb_codec_id id);
/* The vtable of id, NULL for an unknown id. */
const sb_codec_vtable *sb__codec_vtable(sb_codec_id id);
/* The id named name ("jpeg", "h264", "vp8"), -1 when none. */
int sb__codec_by_name(const char *name, size_t len);
/* The name of id ("?" for an unknown one). */
const char *sb__codec_name(int id);

/* JPEG's worst-case size for a w x h picture (tjBufSize, 4:2:0), 0 when w x h is not
 * encodable: what a fixed JPEG output buffer needs. */
unsigned long sb__jpeg_buffer_size(uint32_t w, uint32_t h);

/* ---- I420 conversion (i420.c) --------------------------------------------------------- */

/* An I420 picture of the coded size, owned, reused across frames of one size. */
typedef struct sb_i420 {
    uint8_t *buf;
    size_t buf_size;
    uint32_t width, height;             /* visible */
    uint32_t coded_width, coded_height; /* rounded up to even */
    uint32_t strides[3];
    uint8_t *planes[3];
} sb_i420;

/* Converts pic (SB_PIXEL_*) into dst (resized as needed): BT.601 limited range, chroma the mean
 * of each 2x2 block, bottom-up rows read top row first, odd sizes padded by repeating the last
 * column/row. SB_OK or an error (dst->... unchanged meaning). */
int sb__i420_convert(sb_i420 *dst, const sb_codec_picture *pic, char *why, size_t why_len);
/* dst as a picture for a video codec's encode. */
sb_codec_picture sb__i420_picture(const sb_i420 *i420);
void sb__i420_free(sb_i420 *i420);

#endif /* SB_CODEC_H */
