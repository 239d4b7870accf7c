/* test_frame_ring.c - the frame ring's contract (streambridge/frame_ring.h) on both backends:
 * publishing and acquiring, argument checks, segment validation and hygiene, waiting, the
 * zero-copy path and stale-frame detection. Concurrency: test_frame_ring_concurrency.c. */
#include "streambridge/error.h"
#include "streambridge/frame_ring.h"

#include "sb_cunit.h"
#include "sb_test_transport.h"
#include "sb_test_wait.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define W 64
#define H 48

static sb_frame_ring *make_ring(const char *shm_name, uint32_t buffers)
{
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = W;
    o.max_height = H;
    o.buffer_count = buffers;
    o.shm_name = shm_name;
    sb_frame_ring *r = NULL;
    int rc = sb_frame_ring_create(&o, &r);
    if (rc != SB_OK)
        fprintf(stderr, "create failed: %s\n", sb_last_error());
    return r;
}

static void fill(uint8_t *px, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        px[i] = (uint8_t)(seed + i * 13);
}

static int check_fill(const uint8_t *px, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (px[i] != (uint8_t)(seed + i * 13))
            return 0;
    return 1;
}

static int publish_seed(sb_frame_ring *r, uint32_t w, uint32_t h, uint8_t seed, uint64_t *seq)
{
    static uint8_t px[(W + 1) * (H + 1) * 4]; /* room for the one-too-big frames */
    fill(px, (size_t)w * h * 4, seed);
    sb_frame_info fi = {0};
    fi.width = w;
    fi.height = h;
    fi.format = SB_PIXEL_RGBA;
    return sb_frame_ring_publish(r, &fi, px, 0, seq);
}

/* ---- publish / acquire ---------------------------------------------------------------------- */

static void roundtrip(sb_frame_ring *writer, sb_frame_ring *reader)
{
    static uint8_t px[W * H * 4];
    fill(px, sizeof px, 5);
    sb_frame_info fi = {0};
    fi.width = W;
    fi.height = H;
    fi.format = SB_PIXEL_BGRA;
    fi.bottom_up = 1;
    fi.capture_ns = 123456789;
    uint64_t seq = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_publish(writer, &fi, px, 0, &seq), SB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(reader), 1);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 1);
    CU_ASSERT_EQUAL(f.info.width, W);
    CU_ASSERT_EQUAL(f.info.height, H);
    CU_ASSERT_EQUAL(f.info.stride, W * 4);
    CU_ASSERT_EQUAL(f.info.format, SB_PIXEL_BGRA);
    CU_ASSERT_EQUAL(f.info.bottom_up, 1);
    CU_ASSERT_EQUAL(f.info.capture_ns, 123456789);
    CU_ASSERT(check_fill(f.pixels, sizeof px, 5));
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_OK);
}

static void test_heap_publish_then_acquire_returns_the_frame(void)
{
    sb_frame_ring *r = make_ring(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(sb_frame_ring_name(r), "");
    roundtrip(r, r);
    sb_frame_ring_destroy(r);
}

static void test_shm_publish_then_acquire_through_attached_reader(void)
{
    const char *name = tt_name("rt");
    sb_frame_ring *r = make_ring(name, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT(tt_segment_exists(name, "ring"));
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_max_width(reader), W);
    CU_ASSERT_EQUAL(sb_frame_ring_max_height(reader), H);
    roundtrip(r, reader);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(r);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
}

static void test_segment_is_created_mode_0600(void)
{
    const char *name = tt_name("mode");
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char path[300];
    snprintf(path, sizeof path, "/dev/shm%s", tt_shm_path(name, "ring"));
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    sb_frame_ring_destroy(r);
}

static void test_acquire_before_first_publish_is_eagain(void)
{
    sb_frame_ring *r = make_ring(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame f;
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(r, &f), SB_EAGAIN);
    CU_ASSERT_PTR_NULL(f.pixels);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(r), 0);
    sb_frame_ring_destroy(r);
}

static void test_acquire_returns_the_newest_frame(void)
{
    sb_frame_ring *r = make_ring(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    for (int i = 1; i <= 10; i++)
        CU_ASSERT_EQUAL(publish_seed(r, W, H, (uint8_t)i, NULL), SB_OK);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 10);
    CU_ASSERT(check_fill(f.pixels, W * H * 4, 10));
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_OK);
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(r, &st);
    CU_ASSERT_EQUAL(st.published, 10);
    CU_ASSERT_EQUAL(st.writer_pid, getpid());
    CU_ASSERT_EQUAL(st.writer_alive, 1);
    CU_ASSERT(st.heartbeat_ns > 0);
    sb_frame_ring_destroy(r);
}

static void test_publish_copies_rows_of_a_wider_source_stride(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    enum { w = 10, h = 4, src_stride = 40 };
    uint8_t src[src_stride * h];
    memset(src, 0xEE, sizeof src);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            src[y * src_stride + x] = (uint8_t)(y * 50 + x);
    sb_frame_info fi = {0};
    fi.width = w;
    fi.height = h;
    fi.format = SB_PIXEL_RGB;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_publish(r, &fi, src, src_stride, NULL), SB_OK);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.stride, w * 3);
    int ok = 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            ok &= f.pixels[y * w * 3 + x] == (uint8_t)(y * 50 + x);
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_OK);
    sb_frame_ring_destroy(r);
}

static void test_capture_time_defaults_to_now(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 1, NULL), SB_OK);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT(f.info.capture_ns >= before);
    CU_ASSERT(f.info.capture_ns < before + 60ull * 1000000000u);
    sb_frame_ring_release(r, &f);
    sb_frame_ring_destroy(r);
}

/* ---- arguments -------------------------------------------------------------------------------- */

static void test_create_rejects_bad_options(void)
{
    sb_frame_ring *r = (sb_frame_ring *)(uintptr_t)1;
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.version = 99;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EVERSION);
    CU_ASSERT_PTR_NULL(r);
    o = (sb_frame_ring_options)SB_FRAME_RING_OPTIONS_INIT;
    o.buffer_count = 1;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EINVAL);
    o.buffer_count = SB_FRAME_RING_MAX_BUFFERS + 1;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EINVAL);
    o = (sb_frame_ring_options)SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EINVAL);
    o = (sb_frame_ring_options)SB_FRAME_RING_OPTIONS_INIT;
    o.max_height = 100000;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EINVAL);
    CU_ASSERT(strstr(sb_last_error(), "sb_frame_ring_create()") != NULL);
    CU_ASSERT_EQUAL(sb_frame_ring_create(NULL, NULL), SB_EINVAL);
}

static void test_create_rejects_bad_stream_names(void)
{
    const char *bad[] = {"a/b", "../x", "sp ace", "dollar$", "\xc3\xa9t\xc3\xa9", NULL};
    char too_long[120];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = 8;
    o.max_height = 8;
    sb_frame_ring *r = NULL;
    for (int i = 0; bad[i]; i++) {
        o.shm_name = bad[i];
        CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EINVAL);
        CU_ASSERT_EQUAL(sb_frame_ring_attach(bad[i], &r), SB_EINVAL);
    }
    o.shm_name = too_long;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_frame_ring_attach("", &r), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_frame_ring_attach(NULL, &r), SB_EINVAL);
}

static void test_empty_name_generates_a_unique_attachable_name(void)
{
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = 8;
    o.max_height = 8;
    o.shm_name = "";
    sb_frame_ring *a = NULL, *b = NULL, *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&o, &a), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&o, &b), SB_OK);
    CU_ASSERT(strlen(sb_frame_ring_name(a)) > 0);
    CU_ASSERT(strcmp(sb_frame_ring_name(a), sb_frame_ring_name(b)) != 0);
    CU_ASSERT_EQUAL(sb_frame_ring_attach(sb_frame_ring_name(a), &reader), SB_OK);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(a);
    sb_frame_ring_destroy(b);
}

static void test_publish_rejects_bad_frames(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    uint8_t px[W * H * 4] = {0};
    sb_frame_info fi = {0};
    fi.width = 0;
    fi.height = 4;
    fi.format = SB_PIXEL_RGBA;
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, &fi, px, 0, NULL), SB_EINVAL);
    fi.width = 4;
    fi.height = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, &fi, px, 0, NULL), SB_EINVAL);
    fi.height = 4;
    fi.format = 77;
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, &fi, px, 0, NULL), SB_EINVAL);
    CU_ASSERT(strstr(sb_last_error(), "format") != NULL);
    fi.format = SB_PIXEL_RGBA;
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, &fi, px, 15, NULL), SB_EINVAL); /* row is 16 */
    CU_ASSERT(strstr(sb_last_error(), "stride") != NULL);
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, &fi, NULL, 0, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, NULL, px, 0, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_frame_ring_publish(NULL, &fi, px, 0, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(r), 0);
    sb_frame_ring_destroy(r);
}

static void test_too_big_frame_is_refused_naming_both_sizes(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(publish_seed(r, W + 1, H, 0, NULL), SB_ETOOBIG);
    CU_ASSERT(strstr(sb_last_error(), "65x48") != NULL);
    CU_ASSERT(strstr(sb_last_error(), "64x48") != NULL);
    uint8_t *px;
    uint32_t stride;
    CU_ASSERT_EQUAL(sb_frame_ring_begin_write(r, W, H + 1, SB_PIXEL_RGB, &px, &stride),
                    SB_ETOOBIG);
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(r, &st);
    CU_ASSERT_EQUAL(st.refused_too_big, 2);
    CU_ASSERT_EQUAL(st.published, 0);
    /* The refusal leaves no write open. */
    CU_ASSERT_EQUAL(publish_seed(r, W, H, 0, NULL), SB_OK);
    sb_frame_ring_destroy(r);
}

static void test_attached_reader_cannot_write(void)
{
    const char *name = tt_name("ro");
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    CU_ASSERT_EQUAL(publish_seed(reader, 4, 4, 0, NULL), SB_ESTATE);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(r);
}

static void test_release_twice_is_einval(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 0, NULL), SB_OK);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_EINVAL);
    sb_frame_ring_destroy(r);
}

static void test_options_init_equals_init_macro_and_checks_version(void)
{
    const sb_frame_ring_options macro = SB_FRAME_RING_OPTIONS_INIT;
    sb_frame_ring_options o;
    memset(&o, 0xab, sizeof o);
    CU_ASSERT_EQUAL(sb_frame_ring_options_init(&o, SB_FRAME_RING_OPTIONS_VERSION), SB_OK);
    CU_ASSERT_EQUAL(o.version, macro.version);
    CU_ASSERT_EQUAL(o.max_width, macro.max_width);
    CU_ASSERT_EQUAL(o.max_height, macro.max_height);
    CU_ASSERT_EQUAL(o.buffer_count, macro.buffer_count);
    CU_ASSERT_PTR_NULL(o.shm_name);
    CU_ASSERT_EQUAL(macro.max_width, SB_FRAME_RING_DEFAULT_MAX_WIDTH);
    CU_ASSERT_EQUAL(macro.buffer_count, SB_FRAME_RING_DEFAULT_BUFFERS);
    CU_ASSERT_EQUAL(sb_frame_ring_options_init(&o, 0), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_frame_ring_options_init(&o, SB_FRAME_RING_OPTIONS_VERSION + 1), SB_EVERSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "is not 1..1"));
    CU_ASSERT_EQUAL(sb_frame_ring_options_init(NULL, 1), SB_EINVAL);

    sb_frame_ring *r = NULL;
    sb_frame_ring_options bad = SB_FRAME_RING_OPTIONS_INIT;
    bad.version = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&bad, &r), SB_EVERSION);
    bad.version = SB_FRAME_RING_OPTIONS_VERSION + 1;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&bad, &r), SB_EVERSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "options version 2 is not 1..1"));
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT_EQUAL(sb_frame_ring_create(NULL, &r), SB_OK); /* NULL: the defaults */
    CU_ASSERT_EQUAL(sb_frame_ring_max_width(r), SB_FRAME_RING_DEFAULT_MAX_WIDTH);
    CU_ASSERT_EQUAL(sb_frame_ring_max_height(r), SB_FRAME_RING_DEFAULT_MAX_HEIGHT);
    sb_frame_ring_destroy(r);
}

static void test_stats_write_only_the_callers_version(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 1, NULL), SB_OK);
    /* Exactly the size version 1 has, on the heap: ASan reports any byte written past it. */
    sb_frame_ring_stats *st = malloc(sizeof *st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    memset(st, 0, sizeof *st);
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(r, st), SB_EVERSION); /* version 0 */
    st->version = SB_FRAME_RING_STATS_VERSION + 1;
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(r, st), SB_EVERSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "stats version 2"));
    CU_ASSERT_EQUAL(st->published, 0); /* a refused call writes nothing */
    st->version = SB_FRAME_RING_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(r, st), SB_OK);
    CU_ASSERT_EQUAL(st->version, SB_FRAME_RING_STATS_VERSION);
    CU_ASSERT_EQUAL(st->published, 1);
    free(st);
    /* And nothing after it, without ASan too. */
    unsigned char buf[sizeof(sb_frame_ring_stats) + 32];
    memset(buf, 0xab, sizeof buf);
    unsigned int version = SB_FRAME_RING_STATS_VERSION;
    memcpy(buf, &version, sizeof version);
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(r, (sb_frame_ring_stats *)(void *)buf), SB_OK);
    for (size_t i = sizeof(sb_frame_ring_stats); i < sizeof buf; i++)
        CU_ASSERT_EQUAL(buf[i], 0xab);
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(r, NULL), SB_EINVAL);
    sb_frame_ring_stats s2 = SB_FRAME_RING_STATS_INIT;
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(NULL, &s2), SB_EINVAL);
    sb_frame_ring_destroy(r);
}

static void test_null_handles_are_tolerated(void)
{
    sb_frame_ring_destroy(NULL);
    sb_frame_ring_heartbeat(NULL);
    sb_frame_ring_wake_all(NULL);
    sb_frame_ring_abort_write(NULL);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(NULL), 0);
    CU_ASSERT_STRING_EQUAL(sb_frame_ring_name(NULL), "");
    sb_frame f;
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(NULL, &f), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(NULL, 0, 0, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_pixel_format_size(SB_PIXEL_RGB), 3);
    CU_ASSERT_EQUAL(sb_pixel_format_size(SB_PIXEL_BGRA), 4);
    CU_ASSERT_EQUAL(sb_pixel_format_size(0), 0);
}

/* ---- zero-copy write ------------------------------------------------------------------------- */

static void test_begin_write_commit_publishes_in_place(void)
{
    sb_frame_ring *r = make_ring(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    uint8_t *px = NULL;
    uint32_t stride = 0;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_begin_write(r, 20, 10, SB_PIXEL_RGB, &px, &stride), SB_OK);
    CU_ASSERT_EQUAL(stride, 60);
    CU_ASSERT_EQUAL((uintptr_t)px % 4096, 0); /* page-aligned pixel data */
    fill(px, 600, 42);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(r), 0); /* not visible before commit */
    uint64_t seq = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_commit(r, 0, 7, &seq), SB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT_PTR_EQUAL(f.pixels, px);
    CU_ASSERT_EQUAL(f.info.format, SB_PIXEL_RGB);
    CU_ASSERT_EQUAL(f.info.capture_ns, 7);
    CU_ASSERT(check_fill(f.pixels, 600, 42));
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_OK);
    sb_frame_ring_destroy(r);
}

/* The writer's times travel with the frame, through shm to another handle too; the four times
 * are written as given (0 stays 0), the ring's own fields ignore what info says. */
static void test_commit_info_carries_the_frame_times(void)
{
    const char *name = tt_name("times");
    sb_frame_ring *r = make_ring(name, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    uint8_t *px = NULL;
    uint32_t stride = 0;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_begin_write(r, 8, 4, SB_PIXEL_BGRA, &px, &stride), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_commit_info(r, NULL, NULL), SB_EINVAL);
    fill(px, 8 * 4 * 4, 3);
    sb_frame_info in = {0};
    in.seq = 999;     /* ignored: the ring assigns seqs */
    in.width = 1000;  /* ignored: begin_write fixed the size */
    in.bottom_up = 1;
    in.capture_ns = 500;
    in.input_ns = 100;
    in.replay_ns = 200;
    in.render_start_ns = 300;
    in.render_end_ns = 400;
    uint64_t seq = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_commit_info(r, &in, &seq), SB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 1);
    CU_ASSERT_EQUAL(f.info.width, 8);
    CU_ASSERT_EQUAL(f.info.bottom_up, 1);
    CU_ASSERT_EQUAL(f.info.capture_ns, 500);
    CU_ASSERT_EQUAL(f.info.input_ns, 100);
    CU_ASSERT_EQUAL(f.info.replay_ns, 200);
    CU_ASSERT_EQUAL(f.info.render_start_ns, 300);
    CU_ASSERT_EQUAL(f.info.render_end_ns, 400);
    CU_ASSERT(check_fill(f.pixels, 8 * 4 * 4, 3));
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_OK);

    /* The old commit and publish leave the times unknown (a reused slot keeps none of them). */
    CU_ASSERT_EQUAL(publish_seed(r, 8, 4, 5, NULL), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_begin_write(r, 8, 4, SB_PIXEL_BGRA, &px, &stride), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_commit(r, 0, 0, NULL), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 3);
    CU_ASSERT(f.info.capture_ns != 0);
    CU_ASSERT_EQUAL(f.info.input_ns, 0);
    CU_ASSERT_EQUAL(f.info.replay_ns, 0);
    CU_ASSERT_EQUAL(f.info.render_start_ns, 0);
    CU_ASSERT_EQUAL(f.info.render_end_ns, 0);
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_OK);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(r);
}

static void test_write_state_errors(void)
{
    sb_frame_ring *r = make_ring(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    uint8_t *px;
    uint32_t stride;
    CU_ASSERT_EQUAL(sb_frame_ring_commit(r, 0, 0, NULL), SB_ESTATE);
    CU_ASSERT_EQUAL(sb_frame_ring_begin_write(r, 4, 4, SB_PIXEL_RGBA, &px, &stride), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_begin_write(r, 4, 4, SB_PIXEL_RGBA, &px, &stride), SB_ESTATE);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 0, NULL), SB_ESTATE);
    CU_ASSERT_EQUAL(sb_frame_ring_begin_write(r, 4, 4, SB_PIXEL_RGBA, NULL, &stride), SB_EINVAL);
    sb_frame_ring_abort_write(r);
    CU_ASSERT_EQUAL(sb_frame_ring_commit(r, 0, 0, NULL), SB_ESTATE);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(r), 0);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 0, NULL), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(r), 1);
    sb_frame_ring_destroy(r);
}

static void test_abort_write_keeps_the_previous_frame(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(publish_seed(r, W, H, 9, NULL), SB_OK);
    uint8_t *px;
    uint32_t stride;
    CU_ASSERT_EQUAL(sb_frame_ring_begin_write(r, W, H, SB_PIXEL_RGBA, &px, &stride), SB_OK);
    memset(px, 0, (size_t)stride * H);
    sb_frame_ring_abort_write(r);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 1);
    CU_ASSERT(check_fill(f.pixels, W * H * 4, 9));
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_OK);
    sb_frame_ring_destroy(r);
}

/* ---- holds and staleness --------------------------------------------------------------------- */

/* Publishes seed 1, acquires it into *held, then publishes seeds 2..last_seed. */
static void publish_over_a_held_frame(sb_frame_ring *r, sb_frame *held, int last_seed)
{
    CU_ASSERT_EQUAL(publish_seed(r, W, H, 1, NULL), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, held), SB_OK);
    for (int i = 2; i <= last_seed; i++)
        CU_ASSERT_EQUAL(publish_seed(r, W, H, (uint8_t)i, NULL), SB_OK);
}

static void test_held_frame_survives_publishes_while_a_slot_is_free(void)
{
    sb_frame_ring *r = make_ring(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame held;
    publish_over_a_held_frame(r, &held, 50);
    CU_ASSERT(check_fill(held.pixels, W * H * 4, 1));
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &held), SB_OK);
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(r, &st);
    CU_ASSERT_EQUAL(st.overwritten_held, 0);
    sb_frame_ring_destroy(r);
}

static void test_frame_overwritten_while_held_is_reported_stale(void)
{
    /* Two buffers: once the other slot holds the newest frame, the writer must reuse ours. */
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame held;
    publish_over_a_held_frame(r, &held, 20); /* the writer never waits */
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &held), SB_ESTALE);
    CU_ASSERT(strstr(sb_last_error(), "overwritten") != NULL);
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(r, &st);
    CU_ASSERT(st.overwritten_held >= 1);
    CU_ASSERT_EQUAL(st.published, 20);
    /* Once released, acquiring works normally again. */
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(r, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 20);
    CU_ASSERT(check_fill(f.pixels, W * H * 4, 20));
    CU_ASSERT_EQUAL(sb_frame_ring_release(r, &f), SB_OK);
    sb_frame_ring_destroy(r);
}

static void test_reader_in_other_handle_holding_many_publishes_gets_stale(void)
{
    const char *name = tt_name("stale");
    sb_frame_ring *r = make_ring(name, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame_ring *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &a), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &b), SB_OK);
    CU_ASSERT_EQUAL(publish_seed(r, W, H, 1, NULL), SB_OK);
    sb_frame fa, fb;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(a, &fa), SB_OK);
    CU_ASSERT_EQUAL(publish_seed(r, W, H, 2, NULL), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(b, &fb), SB_OK);
    /* Both non-newest slots are held now: the writer reuses the oldest (a's) anyway. */
    for (int i = 3; i <= 6; i++)
        CU_ASSERT_EQUAL(publish_seed(r, W, H, (uint8_t)i, NULL), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_release(a, &fa), SB_ESTALE);
    CU_ASSERT_EQUAL(sb_frame_ring_release(b, &fb), SB_ESTALE);
    sb_frame_ring_destroy(a);
    sb_frame_ring_destroy(b);
    sb_frame_ring_destroy(r);
}

/* ---- waiting --------------------------------------------------------------------------------- */

static void test_wait_times_out_without_new_frame(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 0, NULL), SB_OK);
    uint64_t t0 = st_now_ms();
    CU_ASSERT_EQUAL(sb_frame_ring_wait(r, 1, 50, NULL), SB_ETIMEDOUT);
    CU_ASSERT(st_now_ms() - t0 >= 45);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(r, 1, 0, NULL), SB_ETIMEDOUT);
    uint64_t seq = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_wait(r, 0, 0, &seq), SB_OK); /* already newer */
    CU_ASSERT_EQUAL(seq, 1);
    sb_frame_ring_destroy(r);
}

struct delayed {
    sb_frame_ring *ring;
    int delay_ms;
    int wake_only;
};

static void *delayed_publisher(void *arg)
{
    struct delayed *d = arg;
    st_sleep_ms(d->delay_ms);
    if (d->wake_only)
        sb_frame_ring_wake_all(d->ring);
    else
        publish_seed(d->ring, 4, 4, 3, NULL);
    return NULL;
}

static void wait_wakes_on_publish(const char *shm_name)
{
    sb_frame_ring *r = make_ring(shm_name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame_ring *reader = r;
    if (shm_name)
        CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(shm_name, &reader), SB_OK);
    struct delayed d = {r, 50, 0};
    pthread_t t;
    pthread_create(&t, NULL, delayed_publisher, &d);
    uint64_t seq = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 0, ST_DEADLINE_MS, &seq), SB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    pthread_join(t, NULL);
    if (reader != r)
        sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(r);
}

TT_TEST_ON_HEAP_AND_SHM(wait_wakes_on_publish, wait_wakes_on_publish, wait_wakes_on_publish,
                        "wake")

static void test_wake_all_interrupts_wait_with_ewoken(void)
{
    sb_frame_ring *r = make_ring(NULL, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    struct delayed d = {r, 50, 1};
    pthread_t t;
    pthread_create(&t, NULL, delayed_publisher, &d);
    /* Woken, not timed out: a deadline that never passes in a test, and a code of its own. */
    CU_ASSERT_EQUAL(sb_frame_ring_wait(r, 0, -1, NULL), SB_EWOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "woken by sb_frame_ring_wake_all"));
    pthread_join(t, NULL);
    /* A wait with no wake_all runs to its deadline and says so, with the other code. */
    CU_ASSERT_EQUAL(sb_frame_ring_wait(r, 0, 20, NULL), SB_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "within 20 ms"));
    /* Only a wake during the wait counts: wake_all, then publish, then wait: the frame. */
    sb_frame_ring_wake_all(r);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 3, NULL), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(r, 0, -1, NULL), SB_OK);
    sb_frame_ring_destroy(r);
}

static void test_wait_is_egone_after_writer_destroys_ring(void)
{
    const char *name = tt_name("gone");
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 0, NULL), SB_OK);
    sb_frame_ring_destroy(r);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1, 1000, NULL), SB_EGONE);
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(reader, &st);
    CU_ASSERT_EQUAL(st.writer_alive, 0);
    /* The last frame stays readable from the mapping. */
    sb_frame f;
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_OK);
    sb_frame_ring_destroy(reader);
}

struct destroyer {
    sb_frame_ring *ring;
};

static void *destroy_later(void *arg)
{
    st_sleep_ms(50);
    sb_frame_ring_destroy(((struct destroyer *)arg)->ring);
    return NULL;
}

static void test_sleeping_reader_is_woken_with_egone_by_destroy(void)
{
    const char *name = tt_name("gone2");
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    struct destroyer d = {r};
    pthread_t t;
    pthread_create(&t, NULL, destroy_later, &d);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 0, ST_DEADLINE_MS, NULL), SB_EGONE);
    pthread_join(t, NULL);
    sb_frame_ring_destroy(reader);
}

/* In a child: creates the ring named by arg and publishes one frame. */
static int create_and_publish(void *name)
{
    sb_frame_ring *r = make_ring(name, 2);
    if (r)
        publish_seed(r, 4, 4, 1, NULL);
    return r != NULL;
}

/* Forks a child that creates the ring NAME, reports on a pipe, then waits to be killed. */
static pid_t spawn_creator(const char *name, int *ready_ok)
{
    return tt_fork_ready_then_pause(create_and_publish, (void *)name, ready_ok);
}

static void test_wait_is_egone_when_writer_process_is_killed(void)
{
    const char *name = tt_name("killed");
    int ready = 0;
    pid_t pid = spawn_creator(name, &ready);
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT(ready);
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_attach(name, &reader), SB_OK);
    kill(pid, SIGKILL);
    /* Not reaped yet on purpose: a zombie writer must already count as gone. */
    if (reader) {
        uint64_t t0 = st_now_ms();
        CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1, ST_DEADLINE_MS, NULL), SB_EGONE);
        CU_ASSERT(st_now_ms() - t0 < ST_DEADLINE_MS); /* noticed, not timed out */
        sb_frame_ring_destroy(reader);
    }
    tt_wait_child(pid);
    tt_unlink(name, "ring"); /* the killed creator could not */
}

/* ---- hygiene ------------------------------------------------------------------------------- */

static void test_create_over_live_creator_is_eexist_naming_the_pid(void)
{
    const char *name = tt_name("live");
    int ready = 0;
    pid_t pid = spawn_creator(name, &ready);
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT(ready);
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.shm_name = name;
    sb_frame_ring *r = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EEXIST);
    char pidtext[32];
    snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
    CU_ASSERT(strstr(sb_last_error(), pidtext) != NULL);
    CU_ASSERT(tt_segment_exists(name, "ring")); /* untouched */
    kill(pid, SIGKILL);
    tt_wait_child(pid);
    tt_unlink(name, "ring");
}

static void test_create_reclaims_segment_of_killed_creator(void)
{
    const char *name = tt_name("reclaim");
    int ready = 0;
    pid_t pid = spawn_creator(name, &ready);
    CU_ASSERT_FATAL(pid > 0);
    kill(pid, SIGKILL);
    tt_wait_child(pid);
    CU_ASSERT(ready);
    CU_ASSERT(tt_segment_exists(name, "ring"));
    sb_frame_ring *r = make_ring(name, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(r), 0); /* a fresh ring, not the dead one's */
    CU_ASSERT_EQUAL(publish_seed(r, 4, 4, 0, NULL), SB_OK);
    sb_frame_ring_destroy(r);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
}

static void test_create_reclaims_segment_of_creator_exited_without_cleanup(void)
{
    const char *name = tt_name("exited");
    pid_t pid = fork();
    if (pid == 0) {
        sb_frame_ring *r = make_ring(name, 2);
        _exit(r ? 0 : 1); /* _exit: no atexit handler, the segment stays */
    }
    CU_ASSERT_EQUAL(tt_wait_child(pid), 0);
    CU_ASSERT(tt_segment_exists(name, "ring"));
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL(r);
    sb_frame_ring_destroy(r);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
}

static void test_create_reclaims_incomplete_segment(void)
{
    const char *name = tt_name("partial");
    CU_ASSERT_EQUAL_FATAL(tt_forge_segment(name, "ring", NULL, 0), 0);
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL(r);
    sb_frame_ring_destroy(r);
    uint8_t zeros[4096] = {0};
    CU_ASSERT_EQUAL_FATAL(tt_forge_segment(name, "ring", zeros, sizeof zeros), 0);
    r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL(r);
    sb_frame_ring_destroy(r);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
}

static void test_create_over_foreign_segment_is_ebadseg_and_keeps_it(void)
{
    const char *name = tt_name("foreign");
    char foreign[4096];
    memset(foreign, 0, sizeof foreign);
    memcpy(foreign, "NOTOURS!", 8);
    CU_ASSERT_EQUAL_FATAL(tt_forge_segment(name, "ring", foreign, sizeof foreign), 0);
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.shm_name = name;
    sb_frame_ring *r = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_EBADSEG);
    CU_ASSERT(tt_segment_exists(name, "ring"));
    tt_unlink(name, "ring");
}

static void test_normal_exit_unlinks_undestroyed_segments(void)
{
    const char *name = tt_name("atexit");
    pid_t pid = fork();
    if (pid == 0) {
        sb_frame_ring *r = make_ring(name, 2);
        exit(r ? 0 : 1); /* exit: the atexit handler runs */
    }
    CU_ASSERT_EQUAL(tt_wait_child(pid), 0);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
    tt_unlink(name, "ring");
}

static void test_forked_child_exit_keeps_parents_segment(void)
{
    const char *name = tt_name("child");
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    pid_t pid = fork();
    if (pid == 0) {
        sb_frame_ring_destroy(r); /* the inherited handle: must not close the parent's ring */
        exit(0);
    }
    CU_ASSERT_EQUAL(tt_wait_child(pid), 0);
    CU_ASSERT(tt_segment_exists(name, "ring"));
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(r, &st);
    CU_ASSERT_EQUAL(st.writer_alive, 1);
    sb_frame_ring_destroy(r);
}

/* ---- attach validation ---------------------------------------------------------------------- */

static void test_attach_missing_segment_is_enoent(void)
{
    sb_frame_ring *r = (sb_frame_ring *)(uintptr_t)1;
    CU_ASSERT_EQUAL(sb_frame_ring_attach(tt_name("missing"), &r), SB_ENOENT);
    CU_ASSERT_PTR_NULL(r);
}

static void attach_forged(const void *bytes, size_t size, const char *expect_in_message)
{
    const char *name = tt_name("forged");
    CU_ASSERT_EQUAL_FATAL(tt_forge_segment(name, "ring", bytes, size), 0);
    sb_frame_ring *r = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_attach(name, &r), SB_EBADSEG);
    CU_ASSERT_PTR_NULL(r);
    if (!strstr(sb_last_error(), expect_in_message))
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", sb_last_error(), expect_in_message);
    CU_ASSERT(strstr(sb_last_error(), expect_in_message) != NULL);
    tt_unlink(name, "ring");
}

static void test_attach_to_truncated_segment_is_ebadseg(void)
{
    attach_forged("SBRING01", 8, "too small");
    attach_forged(NULL, 0, "too small");
}

static void test_attach_to_garbage_is_ebadseg(void)
{
    static uint8_t garbage[65536];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) {
        s = s * 1103515245u + 12345u;
        garbage[i] = (uint8_t)(s >> 16);
    }
    attach_forged(garbage, sizeof garbage, "wrong magic");
}

static void test_attach_to_foreign_magic_is_ebadseg(void)
{
    uint8_t bytes[4096] = {0};
    memcpy(bytes, "SBEVTQ01", 8); /* an event queue is not a ring */
    attach_forged(bytes, sizeof bytes, "wrong magic");
}

/* Corrupts one field of a real ring's header and checks that attach refuses it. */
static void attach_corrupted(size_t offset, const void *value, size_t len, off_t grow,
                             const char *expect)
{
    const char *name = tt_name("corrupt");
    sb_frame_ring *r = make_ring(name, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "ring", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    uint8_t saved[16];
    memcpy(saved, map + offset, len);
    memcpy(map + offset, value, len);
    if (grow) {
        int fd = shm_open(tt_shm_path(name, "ring"), O_RDWR, 0);
        CU_ASSERT(fd >= 0 && ftruncate(fd, (off_t)size + grow) == 0);
        close(fd);
    }
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_attach(name, &reader), SB_EBADSEG);
    if (!strstr(sb_last_error(), expect))
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", sb_last_error(), expect);
    CU_ASSERT(strstr(sb_last_error(), expect) != NULL);
    memcpy(map + offset, saved, len);
    munmap(map, size);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(r);
}

static void test_attach_wrong_layout_version_is_ebadseg(void)
{
    /* 1: a 0.1 writer's segment (64-byte slot headers) is refused, not misread. */
    uint32_t v = 1;
    attach_corrupted(8, &v, 4, 0, "layout version 1");
    v = 3;
    attach_corrupted(8, &v, 4, 0, "layout version 3");
}

static void test_attach_wrong_header_size_is_ebadseg(void)
{
    uint32_t v = 512;
    attach_corrupted(12, &v, 4, 0, "header size 512");
}

static void test_attach_size_mismatch_is_ebadseg(void)
{
    uint32_t zero = 0;
    attach_corrupted(16, &zero, 0, 4096, "the file has");
}

static void test_attach_inconsistent_geometry_is_ebadseg(void)
{
    uint32_t count = 9; /* buffer_count no longer matches the file */
    attach_corrupted(56, &count, 4, 0, "offsets");
    uint32_t width = 1000; /* capacity no longer matches max_width */
    attach_corrupted(48, &width, 4, 0, "capacity");
}

static CU_TestInfo ring_tests[] = {
    {"heap_publish_then_acquire_returns_the_frame", test_heap_publish_then_acquire_returns_the_frame},
    {"shm_publish_then_acquire_through_attached_reader", test_shm_publish_then_acquire_through_attached_reader},
    {"segment_is_created_mode_0600", test_segment_is_created_mode_0600},
    {"acquire_before_first_publish_is_eagain", test_acquire_before_first_publish_is_eagain},
    {"acquire_returns_the_newest_frame", test_acquire_returns_the_newest_frame},
    {"publish_copies_rows_of_a_wider_source_stride", test_publish_copies_rows_of_a_wider_source_stride},
    {"capture_time_defaults_to_now", test_capture_time_defaults_to_now},
    {"create_rejects_bad_options", test_create_rejects_bad_options},
    {"create_rejects_bad_stream_names", test_create_rejects_bad_stream_names},
    {"empty_name_generates_a_unique_attachable_name", test_empty_name_generates_a_unique_attachable_name},
    {"publish_rejects_bad_frames", test_publish_rejects_bad_frames},
    {"too_big_frame_is_refused_naming_both_sizes", test_too_big_frame_is_refused_naming_both_sizes},
    {"attached_reader_cannot_write", test_attached_reader_cannot_write},
    {"release_twice_is_einval", test_release_twice_is_einval},
    {"null_handles_are_tolerated", test_null_handles_are_tolerated},
    {"begin_write_commit_publishes_in_place", test_begin_write_commit_publishes_in_place},
    {"commit_info_carries_the_frame_times", test_commit_info_carries_the_frame_times},
    {"write_state_errors", test_write_state_errors},
    {"abort_write_keeps_the_previous_frame", test_abort_write_keeps_the_previous_frame},
    {"held_frame_survives_publishes_while_a_slot_is_free", test_held_frame_survives_publishes_while_a_slot_is_free},
    {"frame_overwritten_while_held_is_reported_stale", test_frame_overwritten_while_held_is_reported_stale},
    {"reader_in_other_handle_holding_many_publishes_gets_stale", test_reader_in_other_handle_holding_many_publishes_gets_stale},
    {"wait_times_out_without_new_frame", test_wait_times_out_without_new_frame},
    {"heap_wait_wakes_on_publish", test_heap_wait_wakes_on_publish},
    {"shm_wait_wakes_on_publish", test_shm_wait_wakes_on_publish},
    {"wake_all_interrupts_wait_with_ewoken", test_wake_all_interrupts_wait_with_ewoken},
    {"options_init_equals_init_macro_and_checks_version", test_options_init_equals_init_macro_and_checks_version},
    {"stats_write_only_the_callers_version", test_stats_write_only_the_callers_version},
    {"wait_is_egone_after_writer_destroys_ring", test_wait_is_egone_after_writer_destroys_ring},
    {"sleeping_reader_is_woken_with_egone_by_destroy", test_sleeping_reader_is_woken_with_egone_by_destroy},
    {"wait_is_egone_when_writer_process_is_killed", test_wait_is_egone_when_writer_process_is_killed},
    {"create_over_live_creator_is_eexist_naming_the_pid", test_create_over_live_creator_is_eexist_naming_the_pid},
    {"create_reclaims_segment_of_killed_creator", test_create_reclaims_segment_of_killed_creator},
    {"create_reclaims_segment_of_creator_exited_without_cleanup", test_create_reclaims_segment_of_creator_exited_without_cleanup},
    {"create_reclaims_incomplete_segment", test_create_reclaims_incomplete_segment},
    {"create_over_foreign_segment_is_ebadseg_and_keeps_it", test_create_over_foreign_segment_is_ebadseg_and_keeps_it},
    {"normal_exit_unlinks_undestroyed_segments", test_normal_exit_unlinks_undestroyed_segments},
    {"forked_child_exit_keeps_parents_segment", test_forked_child_exit_keeps_parents_segment},
    {"attach_missing_segment_is_enoent", test_attach_missing_segment_is_enoent},
    {"attach_to_truncated_segment_is_ebadseg", test_attach_to_truncated_segment_is_ebadseg},
    {"attach_to_garbage_is_ebadseg", test_attach_to_garbage_is_ebadseg},
    {"attach_to_foreign_magic_is_ebadseg", test_attach_to_foreign_magic_is_ebadseg},
    {"attach_wrong_layout_version_is_ebadseg", test_attach_wrong_layout_version_is_ebadseg},
    {"attach_wrong_header_size_is_ebadseg", test_attach_wrong_header_size_is_ebadseg},
    {"attach_size_mismatch_is_ebadseg", test_attach_size_mismatch_is_ebadseg},
    {"attach_inconsistent_geometry_is_ebadseg", test_attach_inconsistent_geometry_is_ebadseg},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"frame_ring", NULL, NULL, NULL, NULL, ring_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
