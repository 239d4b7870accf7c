/* codec_jpeg.c - the JPEG codec (TurboJPEG) behind codec.h, and the codec registry. */
#include "codec.h"

#include "streambridge/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

typedef struct jpeg_codec {
    sb_codec base;
    tjhandle tj;
} jpeg_codec;

unsigned long sb__jpeg_buffer_size(uint32_t w, uint32_t h)
{
    unsigned long n = tjBufSize((int)w, (int)h, TJSAMP_420);
    return n == (unsigned long)-1 ? 0 : n;
}

static int tj_pixel_format(uint32_t format)
{
    switch (format) {
    case SB_PIXEL_BGRA: return TJPF_BGRA;
    case SB_PIXEL_RGBA: return TJPF_RGBA;
    case SB_PIXEL_RGB: return TJPF_RGB;
    default: return -1;
    }
}

static sb_codec *jpeg_create(const sb_codec_settings *s, char *why, size_t why_len)
{
    jpeg_codec *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    j->tj = tjInitCompress();
    if (!j->tj) {
        snprintf(why, why_len, "tjInitCompress failed: %s", tjGetErrorStr2(NULL));
        free(j);
        return NULL;
    }
    j->base.vt = &sb__codec_jpeg;
    j->base.width = j->base.coded_width = s->width;
    j->base.height = j->base.coded_height = s->height;
    snprintf(j->base.codec_string, sizeof j->base.codec_string, "jpeg");
    return &j->base;
}

/* One TurboJPEG handle encodes any size: the instance is not tied to the one it was made for. */
static int jpeg_encode(sb_codec *c, const sb_codec_picture *pic, int quality, bool force_key,
                       sb_codec_packet *out)
{
    (void)force_key;
    jpeg_codec *j = (jpeg_codec *)c;
    int pf = tj_pixel_format(pic->format);
    if (pf < 0 || pic->width == 0 || pic->height == 0) {
        snprintf(c->error, sizeof c->error, "unsupported format %u", pic->format);
        return SB_EINVAL;
    }
    /* TurboJPEG writes into our buffer only (NOREALLOC): a growable one is grown here first
     * to the worst case, a fixed one must already hold it. */
    size_t worst = sb__jpeg_buffer_size(pic->width, pic->height);
    if (worst > out->capacity) {
        unsigned char *grown = out->fixed || worst == 0 ? NULL : realloc(out->data, worst);
        if (!grown) {
            snprintf(c->error, sizeof c->error, "no %zu-byte buffer for a %ux%u JPEG", worst,
                     pic->width, pic->height);
            return SB_ENOMEM;
        }
        out->data = grown;
        out->capacity = worst;
    }
    unsigned char *buf = out->data;
    unsigned long size = (unsigned long)out->capacity;
    int flags = TJFLAG_NOREALLOC | (pic->bottom_up ? TJFLAG_BOTTOMUP : 0);
    int rc = tjCompress2(j->tj, pic->planes[0], (int)pic->width, (int)pic->strides[0],
                         (int)pic->height, pf, &buf, &size, TJSAMP_420, quality, flags);
    if (rc != 0) {
        snprintf(c->error, sizeof c->error, "tjCompress2 failed: %s", tjGetErrorStr2(j->tj));
        return SB_EIO;
    }
    out->len = size;
    out->keyframe = true;
    return SB_OK;
}

static void jpeg_destroy(sb_codec *c)
{
    jpeg_codec *j = (jpeg_codec *)c;
    if (j) {
        tjDestroy(j->tj);
        free(j);
    }
}

const sb_codec_vtable sb__codec_jpeg = {SB_CODEC_JPEG, "jpeg", jpeg_create, jpeg_encode,
                                        jpeg_destroy};

/* ---- the registry ---------------------------------------------------------------------------- */

const sb_codec_vtable *sb__codec_vtable(sb_codec_id id)
{
    switch (id) {
    case SB_CODEC_JPEG: return &sb__codec_jpeg;
    case SB_CODEC_H264: return &sb__codec_h264;
    case SB_CODEC_VP8: return &sb__codec_vp8;
    default: return NULL;
    }
}

int sb__codec_by_name(const char *name, size_t len)
{
    for (int id = 0; id < SB_CODEC_COUNT; id++) {
        const char *n = sb__codec_name(id);
        if (strlen(n) == len && strncmp(n, name, len) == 0)
            return id;
    }
    return -1;
}

const char *sb__codec_name(int id)
{
    static const char *const names[SB_CODEC_COUNT] = {"jpeg", "h264", "vp8"};
    return id >= 0 && id < SB_CODEC_COUNT ? names[id] : "?";
}
