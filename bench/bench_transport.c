/* bench_transport.c - cost of moving a 1920x1080 BGRA frame through the frame ring, heap and shm,
 * next to a plain memcpy of the same 8,294,400 bytes. Prints ms per operation and the ratio
 * publish/memcpy (target: <= 1.2). Figures only, no pass/fail: machines are noisy.
 *
 *   bench_transport [iterations]   (default 200) */
#include "streambridge/error.h"
#include "streambridge/frame_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WIDTH 1920
#define HEIGHT 1080
#define FRAME_BYTES ((size_t)WIDTH * HEIGHT * 4)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct figure {
    double mean_ms, min_ms;
} figure;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-op timing: mean and minimum (the minimum is the least disturbed by other processes). */
static figure summarize(double *samples, int n)
{
    figure f = {0, 0};
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    for (int i = 0; i < n; i++)
        f.mean_ms += samples[i];
    f.mean_ms /= n;
    f.min_ms = samples[0];
    return f;
}

static void row(const char *what, figure f, double memcpy_mean)
{
    if (memcpy_mean > 0)
        printf("%-34s %11.6f %11.6f %9.2fx\n", what, f.mean_ms, f.min_ms, f.mean_ms / memcpy_mean);
    else
        printf("%-34s %11.6f %11.6f %10s\n", what, f.mean_ms, f.min_ms, "-");
}

static int bench_ring(const char *label, const char *shm_name, const uint8_t *src, int iters,
                      double *samples, double memcpy_mean)
{
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = WIDTH;
    o.max_height = HEIGHT;
    o.shm_name = shm_name;
    sb_frame_ring *ring = NULL;
    if (sb_frame_ring_create(&o, &ring) != SB_OK) {
        fprintf(stderr, "%s: %s\n", label, sb_last_error());
        return 1;
    }
    sb_frame_ring *reader = ring;
    if (shm_name && sb_frame_ring_attach(sb_frame_ring_name(ring), &reader) != SB_OK) {
        fprintf(stderr, "%s attach: %s\n", label, sb_last_error());
        sb_frame_ring_destroy(ring);
        return 1;
    }
    sb_frame_info fi = {0};
    fi.width = WIDTH;
    fi.height = HEIGHT;
    fi.format = SB_PIXEL_BGRA;
    fi.bottom_up = 1;
    /* Warm-up: fault in every slot's pages once (a real writer pays that once, at start). */
    for (int i = 0; i < 2 * SB_FRAME_RING_DEFAULT_BUFFERS; i++)
        sb_frame_ring_publish(ring, &fi, src, 0, NULL);

    char what[64];
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        sb_frame_ring_publish(ring, &fi, src, 0, NULL);
        samples[i] = now_ms() - t0;
    }
    snprintf(what, sizeof what, "%s publish (copy)", label);
    row(what, summarize(samples, iters), memcpy_mean);

    for (int i = 0; i < iters; i++) {
        uint8_t *px;
        uint32_t stride;
        double t0 = now_ms();
        sb_frame_ring_begin_write(ring, WIDTH, HEIGHT, SB_PIXEL_BGRA, &px, &stride);
        sb_frame_ring_commit(ring, 1, 0, NULL);
        samples[i] = now_ms() - t0;
    }
    snprintf(what, sizeof what, "%s begin_write+commit (no fill)", label);
    row(what, summarize(samples, iters), 0);

    int stale = 0;
    for (int i = 0; i < iters; i++) {
        sb_frame f;
        double t0 = now_ms();
        sb_frame_ring_acquire(reader, &f);
        stale += sb_frame_ring_release(reader, &f) != SB_OK;
        samples[i] = now_ms() - t0;
    }
    snprintf(what, sizeof what, "%s acquire+release", label);
    row(what, summarize(samples, iters), 0);
    if (stale)
        printf("  (%d stale releases: unexpected without a concurrent writer)\n", stale);
    if (reader != ring)
        sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(ring);
    return 0;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200;
    if (iters < 1 || iters > 100000) {
        fprintf(stderr, "usage: %s [iterations 1..100000]\n", argv[0]);
        return 2;
    }
    uint8_t *src = malloc(FRAME_BYTES), *dst = malloc(FRAME_BYTES);
    double *samples = malloc(sizeof(double) * (size_t)iters);
    if (!src || !dst || !samples)
        return 1;
    for (size_t i = 0; i < FRAME_BYTES; i++)
        src[i] = (uint8_t)(i * 7);
    memset(dst, 0, FRAME_BYTES);

    printf("frame ring transport, %dx%d BGRA = %zu bytes, %d iterations\n", WIDTH, HEIGHT,
           FRAME_BYTES, iters);
    printf("%-34s %11s %11s %10s\n", "operation", "mean ms", "min ms", "/memcpy");

    /* The baseline alternates between three destinations like the ring's three slots, so both
     * sides see the same cache behaviour. */
    uint8_t *dsts[3] = {dst, malloc(FRAME_BYTES), malloc(FRAME_BYTES)};
    if (!dsts[1] || !dsts[2])
        return 1;
    memset(dsts[1], 0, FRAME_BYTES);
    memset(dsts[2], 0, FRAME_BYTES);
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        memcpy(dsts[i % 3], src, FRAME_BYTES);
        samples[i] = now_ms() - t0;
    }
    figure base = summarize(samples, iters);
    row("memcpy 8,294,400 bytes", base, base.mean_ms);

    int rc = bench_ring("heap", NULL, src, iters, samples, base.mean_ms);
    rc |= bench_ring("shm ", "", src, iters, samples, base.mean_ms);
    free(dsts[1]);
    free(dsts[2]);
    free(dst);
    free(src);
    free(samples);
    return rc;
}
