/* i420.c - the one RGB(A) -> I420 conversion per frame (codec.h, "I420 conversion"), shared by
 * every video codec in use.
 *
 * Own code rather than libswscale: BT.601 limited range (what codec_video.c signals), chroma the
 * mean of each 2x2 block, rows read bottom-up through a negative stride (no flip copy). Each
 * plane is one simple loop per row that the compiler vectorizes for 4-byte pixels (what VTK
 * captures; 3-byte RGB stays scalar) with this file built at -O3 (server/CMakeLists.txt).
 * Measured on this machine's 2 shared cores (thread CPU time, p50 of 60 frames, 1280x720 BGRA):
 * 0.86 ms vs libswscale's 3.7 ms (SWS_BILINEAR; SWS_POINT 2.6 ms); RGB 2.1 ms. */
#include "codec.h"

#include "streambridge/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Row alignment of the I420 planes (the encoders' SIMD). */
#define SB_I420_ALIGN 64u

static uint32_t align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1u) / a * a;
}

/* Sizes dst's planes for a w x h picture (coded size rounded up to even). */
static int i420_resize(sb_i420 *dst, uint32_t w, uint32_t h)
{
    if (dst->buf && dst->width == w && dst->height == h)
        return SB_OK;
    uint32_t cw = (w + 1u) & ~1u, ch = (h + 1u) & ~1u;
    uint32_t ys = align_up(cw, SB_I420_ALIGN), cs = align_up(cw / 2u, SB_I420_ALIGN);
    /* + one alignment unit: room for SIMD reads past the last row's end. */
    size_t size = (size_t)ys * ch + 2u * (size_t)cs * (ch / 2u) + SB_I420_ALIGN;
    uint8_t *buf = aligned_alloc(SB_I420_ALIGN, size); /* size: a multiple of the alignment */
    if (!buf)
        return SB_ENOMEM;
    free(dst->buf);
    dst->buf = buf;
    dst->buf_size = size;
    dst->width = w;
    dst->height = h;
    dst->coded_width = cw;
    dst->coded_height = ch;
    dst->strides[0] = ys;
    dst->strides[1] = dst->strides[2] = cs;
    dst->planes[0] = buf;
    dst->planes[1] = buf + (size_t)ys * ch;
    dst->planes[2] = dst->planes[1] + (size_t)cs * (ch / 2u);
    return SB_OK;
}

/* BT.601 limited range, 8-bit fixed point (Y 16..235, Cb/Cr 16..240). Chroma takes the sums of
 * a 2x2 block (4x the mean), hence its 2 more bits of shift. */
static inline uint8_t luma(int r, int g, int b)
{
    return (uint8_t)((66 * r + 129 * g + 25 * b + 128 + (16 << 8)) >> 8);
}

static inline uint8_t chroma_u(int r4, int g4, int b4)
{
    return (uint8_t)((-38 * r4 - 74 * g4 + 112 * b4 + 512 + (128 << 10)) >> 10);
}

static inline uint8_t chroma_v(int r4, int g4, int b4)
{
    return (uint8_t)((112 * r4 - 94 * g4 - 18 * b4 + 512 + (128 << 10)) >> 10);
}

/* One luma row and one chroma row pair per pixel layout (bytes per pixel, R/G/B offsets), with
 * the layout constant in each loop so that it vectorizes. An odd width's last column is its own
 * pair (the chroma of one pixel pair with itself). */
#define SB_I420_ROWS(name, bpp, ri, gi, bi)                                                        \
    static void name##_luma(const uint8_t *restrict s, uint8_t *restrict y, size_t w)             \
    {                                                                                              \
        for (size_t x = 0; x < w; x++)                                                             \
            y[x] = luma(s[bpp * x + ri], s[bpp * x + gi], s[bpp * x + bi]);                        \
    }                                                                                              \
    static void name##_chroma(const uint8_t *restrict s0, const uint8_t *restrict s1,             \
                              uint8_t *restrict u, uint8_t *restrict v, size_t w)                  \
    {                                                                                              \
        size_t pairs = w / 2u;                                                                     \
        for (size_t x = 0; x < pairs; x++) {                                                       \
            int r4 = s0[2 * bpp * x + ri] + s0[2 * bpp * x + bpp + ri] + s1[2 * bpp * x + ri] +     \
                     s1[2 * bpp * x + bpp + ri];                                                   \
            int g4 = s0[2 * bpp * x + gi] + s0[2 * bpp * x + bpp + gi] + s1[2 * bpp * x + gi] +     \
                     s1[2 * bpp * x + bpp + gi];                                                   \
            int b4 = s0[2 * bpp * x + bi] + s0[2 * bpp * x + bpp + bi] + s1[2 * bpp * x + bi] +     \
                     s1[2 * bpp * x + bpp + bi];                                                   \
            u[x] = chroma_u(r4, g4, b4);                                                           \
            v[x] = chroma_v(r4, g4, b4);                                                           \
        }                                                                                          \
        if (w & 1u) {                                                                              \
            const uint8_t *a = s0 + 2 * bpp * pairs, *b = s1 + 2 * bpp * pairs;                    \
            int r4 = 2 * (a[ri] + b[ri]), g4 = 2 * (a[gi] + b[gi]), b4 = 2 * (a[bi] + b[bi]);      \
            u[pairs] = chroma_u(r4, g4, b4);                                                       \
            v[pairs] = chroma_v(r4, g4, b4);                                                       \
        }                                                                                          \
    }

SB_I420_ROWS(bgra, 4, 2, 1, 0)
SB_I420_ROWS(rgba, 4, 0, 1, 2)
SB_I420_ROWS(rgb, 3, 0, 1, 2)

typedef struct row_fns {
    void (*luma)(const uint8_t *restrict, uint8_t *restrict, size_t);
    void (*chroma)(const uint8_t *restrict, const uint8_t *restrict, uint8_t *restrict,
                   uint8_t *restrict, size_t);
} row_fns;

static bool row_fns_of(uint32_t format, row_fns *fns)
{
    switch (format) {
    case SB_PIXEL_BGRA: *fns = (row_fns){bgra_luma, bgra_chroma}; return true;
    case SB_PIXEL_RGBA: *fns = (row_fns){rgba_luma, rgba_chroma}; return true;
    case SB_PIXEL_RGB: *fns = (row_fns){rgb_luma, rgb_chroma}; return true;
    default: return false;
    }
}

/* Odd sizes: the coded picture's extra column/row repeats the last visible one (edge padding,
 * so the decoder's crop hides nothing that bleeds into the visible picture). The chroma planes
 * are ceil(w/2) x ceil(h/2), filled by the conversion. */
static void i420_pad(sb_i420 *d)
{
    uint8_t *y = d->planes[0];
    if (d->coded_width != d->width) {
        for (uint32_t r = 0; r < d->height; r++)
            y[(size_t)r * d->strides[0] + d->width] = y[(size_t)r * d->strides[0] + d->width - 1];
    }
    if (d->coded_height != d->height)
        memcpy(y + (size_t)d->height * d->strides[0], y + (size_t)(d->height - 1) * d->strides[0],
               d->coded_width);
}

int sb__i420_convert(sb_i420 *dst, const sb_codec_picture *pic, char *why, size_t why_len)
{
    row_fns fns;
    if (!row_fns_of(pic->format, &fns) || pic->width == 0 || pic->height == 0) {
        snprintf(why, why_len, "unsupported format %u", pic->format);
        return SB_EINVAL;
    }
    if (i420_resize(dst, pic->width, pic->height) != SB_OK) {
        snprintf(why, why_len, "out of memory");
        return SB_ENOMEM;
    }
    uint32_t w = pic->width, h = pic->height;
    /* Top row first: bottom-up rows are read from the last one with a negative stride. */
    const uint8_t *top = pic->planes[0];
    ptrdiff_t stride = (ptrdiff_t)pic->strides[0];
    if (pic->bottom_up) {
        top += (size_t)(h - 1u) * pic->strides[0];
        stride = -stride;
    }
    for (uint32_t r = 0; r < h; r++)
        fns.luma(top + (ptrdiff_t)r * stride, dst->planes[0] + (size_t)r * dst->strides[0], w);
    for (uint32_t r = 0; r < h; r += 2u) {
        const uint8_t *s0 = top + (ptrdiff_t)r * stride;
        const uint8_t *s1 = r + 1u < h ? s0 + stride : s0; /* an odd height's last row: itself */
        size_t c = (size_t)(r / 2u) * dst->strides[1];
        fns.chroma(s0, s1, dst->planes[1] + c, dst->planes[2] + c, w);
    }
    i420_pad(dst);
    return SB_OK;
}

sb_codec_picture sb__i420_picture(const sb_i420 *i420)
{
    sb_codec_picture pic;
    memset(&pic, 0, sizeof pic);
    for (int i = 0; i < 3; i++) {
        pic.planes[i] = i420->planes[i];
        pic.strides[i] = i420->strides[i];
    }
    pic.width = i420->width;
    pic.height = i420->height;
    pic.format = SB_CODEC_I420;
    return pic;
}

void sb__i420_free(sb_i420 *i420)
{
    free(i420->buf);
    memset(i420, 0, sizeof *i420);
}
