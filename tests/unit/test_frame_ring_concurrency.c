/* test_frame_ring_concurrency.c - one writer thread against three reader threads and a reader in
 * a forked process, over 10,000+ frames whose pixels are a pattern derived from their seq plus
 * a checksum. Whatever the interleaving: every frame whose release returned SB_OK verifies, and
 * each reader sees strictly increasing seqs. */
#include "streambridge/error.h"
#include "streambridge/frame_ring.h"

#include "sb_cunit.h"
#include "sb_test_transport.h"
#include "sb_test_wait.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define FW 256
#define FH 256
#define WORDS (FW * FH)
#define FRAMES 10000

/* Word layout: [0] seq low, [1] seq high, [2..WORDS-2] pattern(seq, i), [WORDS-1] checksum. */
static uint32_t pattern(uint64_t seq, uint32_t i)
{
    uint32_t x = (uint32_t)seq * 2654435761u ^ i * 40503u ^ (uint32_t)(seq >> 32);
    return x ^ (x >> 15);
}

static void paint(uint32_t *w, uint64_t seq)
{
    uint32_t sum = 0;
    w[0] = (uint32_t)seq;
    w[1] = (uint32_t)(seq >> 32);
    for (uint32_t i = 2; i < WORDS - 1; i++) {
        w[i] = pattern(seq, i);
        sum += w[i] * (i | 1);
    }
    w[WORDS - 1] = sum;
}

/* 1 when the pixels are exactly frame seq's. */
static int verify(const uint8_t *px, uint64_t seq)
{
    const uint32_t *w = (const uint32_t *)(const void *)px;
    if (w[0] != (uint32_t)seq || w[1] != (uint32_t)(seq >> 32))
        return 0;
    uint32_t sum = 0;
    for (uint32_t i = 2; i < WORDS - 1; i++) {
        if (w[i] != pattern(seq, i))
            return 0;
        sum += w[i] * (i | 1);
    }
    return w[WORDS - 1] == sum;
}

typedef struct reader_result {
    uint64_t ok_frames;        /* released with SB_OK */
    uint64_t stale_frames;     /* released with SB_ESTALE */
    uint64_t bad_ok_frames;    /* released with SB_OK but the pixels did not verify: a bug */
    uint64_t order_errors;     /* seq not strictly above the previous SB_OK frame: a bug */
    uint64_t other_errors;
    uint64_t last_seq;
} reader_result;

typedef struct reader_ctx {
    sb_frame_ring *ring;
    atomic_int *done;          /* NULL: stop on SB_EGONE only */
    int slow_every;            /* hold every Nth frame for ~1 ms before verifying (0: never) */
    reader_result res;
} reader_ctx;

static void read_until_done(reader_ctx *c)
{
    uint64_t last = 0, n = 0;
    for (;;) {
        if (c->done && atomic_load(c->done))
            break;
        int rc = sb_frame_ring_wait(c->ring, last, 500, NULL);
        if (rc == SB_EGONE)
            break;
        if (rc == SB_ETIMEDOUT || rc == SB_EWOKEN)
            continue; /* woken: the loop re-checks done */
        if (rc != SB_OK) {
            c->res.other_errors++;
            break;
        }
        sb_frame f;
        rc = sb_frame_ring_acquire(c->ring, &f);
        if (rc == SB_EAGAIN)
            continue;
        if (rc != SB_OK) {
            c->res.other_errors++;
            break;
        }
        if (c->slow_every && ++n % (uint64_t)c->slow_every == 0)
            st_sleep_ms(1);
        int good = f.info.width == FW && f.info.height == FH && verify(f.pixels, f.info.seq);
        uint64_t seq = f.info.seq;
        rc = sb_frame_ring_release(c->ring, &f);
        if (rc == SB_ESTALE) {
            c->res.stale_frames++;
            continue;
        }
        if (rc != SB_OK) {
            c->res.other_errors++;
            break;
        }
        c->res.ok_frames++;
        if (!good)
            c->res.bad_ok_frames++;
        if (seq <= last)
            c->res.order_errors++;
        last = seq;
    }
    c->res.last_seq = last;
}

static void *reader_thread(void *arg)
{
    read_until_done(arg);
    return NULL;
}

typedef struct writer_ctx {
    sb_frame_ring *ring;
    int frames;
    int failures;
} writer_ctx;

static void *writer_thread(void *arg)
{
    writer_ctx *w = arg;
    uint32_t *scratch = malloc(WORDS * 4);
    for (int i = 1; i <= w->frames; i++) {
        uint64_t seq = 0;
        if (i % 2) { /* copying path */
            paint(scratch, (uint64_t)i);
            sb_frame_info fi = {0};
            fi.width = FW;
            fi.height = FH;
            fi.format = SB_PIXEL_BGRA;
            w->failures += sb_frame_ring_publish(w->ring, &fi, scratch, 0, &seq) != SB_OK;
        } else {     /* zero-copy path */
            uint8_t *px;
            uint32_t stride;
            if (sb_frame_ring_begin_write(w->ring, FW, FH, SB_PIXEL_RGBA, &px, &stride) != SB_OK) {
                w->failures++;
                continue;
            }
            paint((uint32_t *)(void *)px, (uint64_t)i);
            w->failures += sb_frame_ring_commit(w->ring, 1, 0, &seq) != SB_OK;
        }
        w->failures += seq != (uint64_t)i;
    }
    free(scratch);
    return NULL;
}

/* The forked reader reports its result through a pipe; its exit code says whether it ran. */
static pid_t spawn_process_reader(const char *name, int *result_fd)
{
    int res[2], ready[2];
    if (pipe(res) != 0 || pipe(ready) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(res[0]);
        close(ready[0]);
        reader_ctx c;
        memset(&c, 0, sizeof c);
        char ok = sb_frame_ring_attach(name, &c.ring) == SB_OK ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1 || ok != 'y')
            _exit(1);
        c.slow_every = 5;
        read_until_done(&c); /* ends with SB_EGONE when the writer destroys the ring */
        sb_frame_ring_destroy(c.ring);
        if (write(res[1], &c.res, sizeof c.res) != (ssize_t)sizeof c.res)
            _exit(2);
        _exit(0);
    }
    close(res[1]);
    close(ready[1]);
    char ok = 'n';
    if (read(ready[0], &ok, 1) != 1 || ok != 'y')
        pid = -pid;
    close(ready[0]);
    *result_fd = res[0];
    return pid;
}

static void report(const char *who, const reader_result *r)
{
    printf("\n    %-10s ok %6llu  stale %5llu  last seq %6llu", who,
           (unsigned long long)r->ok_frames, (unsigned long long)r->stale_frames,
           (unsigned long long)r->last_seq);
}

static void check_result(const reader_result *r)
{
    CU_ASSERT_EQUAL(r->bad_ok_frames, 0);
    CU_ASSERT_EQUAL(r->order_errors, 0);
    CU_ASSERT_EQUAL(r->other_errors, 0);
    CU_ASSERT(r->ok_frames > 0);
}

static void stress(const char *shm_name, uint32_t buffers, int expect_stale)
{
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = FW;
    o.max_height = FH;
    o.buffer_count = buffers;
    o.shm_name = shm_name;
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&o, &ring), SB_OK);

    int result_fd = -1;
    pid_t child = 0;
    if (shm_name) {
        child = spawn_process_reader(shm_name, &result_fd);
        CU_ASSERT_FATAL(child > 0);
    }
    atomic_int done = 0;
    reader_ctx readers[3];
    pthread_t rt[3];
    for (int i = 0; i < 3; i++) {
        memset(&readers[i], 0, sizeof readers[i]);
        readers[i].ring = ring;
        readers[i].done = &done;
        readers[i].slow_every = i == 0 ? 0 : (i == 1 ? 3 : 11);
        if (shm_name) /* the other threads read through their own mapping */
            CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(shm_name, &readers[i].ring), SB_OK);
        pthread_create(&rt[i], NULL, reader_thread, &readers[i]);
    }
    writer_ctx w = {ring, FRAMES, 0};
    pthread_t wt;
    pthread_create(&wt, NULL, writer_thread, &w);
    pthread_join(wt, NULL);
    CU_ASSERT_EQUAL(w.failures, 0);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(ring), FRAMES);

    /* Let the readers catch the last frame, then stop them. */
    st_sleep_ms(20);
    atomic_store(&done, 1);
    sb_frame_ring_wake_all(ring);
    uint64_t stale = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(rt[i], NULL);
        char who[16];
        snprintf(who, sizeof who, "thread %d", i);
        report(who, &readers[i].res);
        check_result(&readers[i].res);
        stale += readers[i].res.stale_frames;
        if (readers[i].ring != ring)
            sb_frame_ring_destroy(readers[i].ring);
    }
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(ring, &st);
    sb_frame_ring_destroy(ring); /* the forked reader now gets SB_EGONE */
    if (child > 0) {
        reader_result r;
        memset(&r, 0, sizeof r);
        ssize_t n = read(result_fd, &r, sizeof r);
        close(result_fd);
        CU_ASSERT_EQUAL(tt_wait_child(child), 0);
        CU_ASSERT_EQUAL(n, (ssize_t)sizeof r);
        report("process", &r);
        check_result(&r);
        stale += r.stale_frames;
    }
    printf("\n    overwritten_held %llu  ", (unsigned long long)st.overwritten_held);
    CU_ASSERT_EQUAL(st.published, FRAMES);
    if (expect_stale) /* with 2 buffers, slow readers are overwritten: staleness was exercised */
        CU_ASSERT(stale > 0 && st.overwritten_held > 0);
}

static void test_heap_readers_never_accept_a_torn_frame(void)
{
    stress(NULL, 3, 0);
}

static void test_shm_readers_and_process_never_accept_a_torn_frame(void)
{
    stress(tt_name("stress"), 3, 0);
}

static void test_two_buffers_under_slow_readers_report_stale_not_torn(void)
{
    stress(tt_name("stress2"), 2, 1);
}

static CU_TestInfo tests[] = {
    {"heap_readers_never_accept_a_torn_frame", test_heap_readers_never_accept_a_torn_frame},
    {"shm_readers_and_process_never_accept_a_torn_frame", test_shm_readers_and_process_never_accept_a_torn_frame},
    {"two_buffers_under_slow_readers_report_stale_not_torn", test_two_buffers_under_slow_readers_report_stale_not_torn},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"frame_ring_concurrency", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
