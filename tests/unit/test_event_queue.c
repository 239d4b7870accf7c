/* test_event_queue.c - the event queue's contract (streambridge/event_queue.h) on both backends:
 * order, validation, the exact full-queue policy, waiting, shm attach from another process, the
 * robust lock, segment validation. Concurrency: test_event_queue_concurrency.c. */
#include "streambridge/error.h"
#include "streambridge/event_queue.h"

#include "event_queue_internal.h"
#include "sb_cunit.h"
#include "sb_test_transport.h"
#include "sb_test_wait.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

static sb_event_queue *make_queue(const char *shm_name, uint32_t capacity)
{
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    o.capacity = capacity;
    o.shm_name = shm_name;
    sb_event_queue *q = NULL;
    if (sb_event_queue_create(&o, &q) != SB_OK)
        fprintf(stderr, "create failed: %s\n", sb_last_error());
    return q;
}

static sb_event ev(uint32_t type, int32_t x)
{
    sb_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.x = x;
    switch (type) {
    case SB_EVENT_BUTTON_PRESS:
    case SB_EVENT_BUTTON_RELEASE: e.button = SB_BUTTON_LEFT; break;
    case SB_EVENT_WHEEL: e.wheel_delta = 1.0f; break;
    case SB_EVENT_KEY_PRESS:
    case SB_EVENT_KEY_RELEASE:
    case SB_EVENT_CHAR:
        e.key_code = 'a';
        strcpy(e.keysym, "a");
        break;
    case SB_EVENT_RESIZE:
        e.width = 640;
        e.height = 480;
        break;
    default: break;
    }
    return e;
}

/* Pops everything; returns the count and writes "type:x" pairs into types/xs. */
static size_t drain(sb_event_queue *q, uint32_t *types, int32_t *xs, size_t max)
{
    sb_event out[64];
    size_t total = 0, n = 0;
    do {
        if (sb_event_queue_pop(q, out, 64, &n) != SB_OK)
            break;
        for (size_t i = 0; i < n && total < max; i++, total++) {
            types[total] = out[i].type;
            xs[total] = out[i].x;
        }
    } while (n > 0);
    return total;
}

static sb_event_queue_stats stats_of(sb_event_queue *q)
{
    sb_event_queue_stats st = SB_EVENT_QUEUE_STATS_INIT;
    sb_event_queue_get_stats(q, &st);
    return st;
}

/* ---- order and content ------------------------------------------------------------------------ */

static void push_pop_order(const char *shm_name)
{
    sb_event_queue *q = make_queue(shm_name, 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event none;
    memset(&none, 0, sizeof none); /* type NONE: invalid, counted, not queued */
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &none), SB_EINVAL);
    for (int i = 0; i < 10; i++) {
        sb_event e = ev(i % 2 ? SB_EVENT_POINTER_MOVE : SB_EVENT_KEY_PRESS, i);
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    }
    CU_ASSERT_EQUAL(stats_of(q).depth, 10);
    uint32_t types[32];
    int32_t xs[32];
    CU_ASSERT_EQUAL_FATAL(drain(q, types, xs, 32), 10);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(xs[i], i);
    sb_event_queue_stats st = stats_of(q);
    CU_ASSERT_EQUAL(st.pushed, 10);
    CU_ASSERT_EQUAL(st.popped, 10);
    CU_ASSERT_EQUAL(st.depth, 0);
    CU_ASSERT_EQUAL(st.capacity, 16);
    CU_ASSERT_EQUAL(st.rejected_invalid, 10);
    sb_event_queue_destroy(q);
}

TT_TEST_ON_HEAP_AND_SHM(push_pop_keeps_order, push_pop_keeps_order, push_pop_order, "order")

static void test_every_event_type_roundtrips_unchanged(void)
{
    sb_event_queue *q = make_queue(NULL, 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event in[SB_EVENT_TYPE_COUNT];
    int n = 0;
    for (uint32_t t = SB_EVENT_POINTER_MOVE; t < SB_EVENT_TYPE_COUNT; t++) {
        in[n] = ev(t, (int32_t)t * 10);
        in[n].y = -5;
        in[n].modifiers = SB_MOD_SHIFT | SB_MOD_META;
        in[n].producer_id = 77;
        in[n].timestamp_ns = 1234567890123ull + t;
        if (t == SB_EVENT_POINTER_MOVE)
            in[n].button = SB_BUTTON_RIGHT;
        if (t == SB_EVENT_KEY_PRESS) {
            strcpy(in[n].keysym, "Escape");
            in[n].key_code = 0;
        }
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &in[n]), SB_OK);
        n++;
    }
    sb_event out[SB_EVENT_TYPE_COUNT];
    size_t got = 0;
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, out, SB_EVENT_TYPE_COUNT, &got), SB_OK);
    CU_ASSERT_EQUAL_FATAL(got, (size_t)n);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(memcmp(&in[i], &out[i], sizeof(sb_event)), 0);
    sb_event_queue_destroy(q);
}

static void test_pop_respects_max_and_empty_queue(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event out[8];
    size_t n = 99;
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, out, 8, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 0);
    for (int i = 0; i < 5; i++) {
        sb_event e = ev(SB_EVENT_KEY_PRESS, i);
        sb_event_queue_push(q, &e);
    }
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, out, 2, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(out[0].x, 0);
    CU_ASSERT_EQUAL(out[1].x, 1);
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, out, 8, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(out[0].x, 2);
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, NULL, 8, &n), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, out, 8, NULL), SB_EINVAL);
    sb_event_queue_destroy(q);
}

static void test_ring_buffer_wraps_around(void)
{
    sb_event_queue *q = make_queue(NULL, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    int next_in = 0, next_out = 0, ok = 1;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 3; i++) {
            sb_event e = ev(SB_EVENT_KEY_PRESS, next_in++);
            ok &= sb_event_queue_push(q, &e) == SB_OK;
        }
        sb_event out[4];
        size_t n = 0;
        sb_event_queue_pop(q, out, 4, &n);
        ok &= n == 3;
        for (size_t i = 0; i < n; i++)
            ok &= out[i].x == next_out++;
    }
    CU_ASSERT(ok);
    sb_event_queue_destroy(q);
}

/* ---- validation ---------------------------------------------------------------------------- */

static void test_invalid_events_are_rejected_and_counted(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event bad[6];
    bad[0] = ev(SB_EVENT_POINTER_MOVE, 0);
    bad[0].type = 99;
    bad[1] = ev(SB_EVENT_BUTTON_PRESS, 0);
    bad[1].button = SB_BUTTON_NONE;
    bad[2] = ev(SB_EVENT_KEY_PRESS, 0);
    memset(bad[2].keysym, 'x', SB_KEYSYM_MAX); /* no NUL */
    bad[3] = ev(SB_EVENT_POINTER_MOVE, 0);
    bad[3].modifiers = 0x100;
    bad[4] = ev(SB_EVENT_WHEEL, 0);
    bad[4].wheel_delta = 0.0f;
    bad[5] = ev(SB_EVENT_RESIZE, 0);
    bad[5].width = 0;
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &bad[i]), SB_EINVAL);
        CU_ASSERT(strstr(sb_last_error(), "sb_event_queue_push()") != NULL);
    }
    CU_ASSERT_EQUAL(sb_event_queue_push(q, NULL), SB_EINVAL);
    sb_event_queue_stats st = stats_of(q);
    CU_ASSERT_EQUAL(st.rejected_invalid, 7);
    CU_ASSERT_EQUAL(st.pushed, 0);
    CU_ASSERT_EQUAL(st.depth, 0);
    sb_event_queue_destroy(q);
}

static void test_create_rejects_bad_options(void)
{
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    sb_event_queue *q = (sb_event_queue *)(uintptr_t)1;
    o.version = 0;
    CU_ASSERT_EQUAL(sb_event_queue_create(&o, &q), SB_EVERSION);
    CU_ASSERT_PTR_NULL(q);
    o = (sb_event_queue_options)SB_EVENT_QUEUE_OPTIONS_INIT;
    o.capacity = 1;
    CU_ASSERT_EQUAL(sb_event_queue_create(&o, &q), SB_EINVAL);
    o.capacity = 65537;
    CU_ASSERT_EQUAL(sb_event_queue_create(&o, &q), SB_EINVAL);
    o.capacity = 8;
    o.shm_name = "no/slash";
    CU_ASSERT_EQUAL(sb_event_queue_create(&o, &q), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_event_queue_create(&o, NULL), SB_EINVAL);
    /* NULL options: the defaults. */
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_create(NULL, &q), SB_OK);
    CU_ASSERT_EQUAL(stats_of(q).capacity, SB_EVENT_QUEUE_DEFAULT_CAPACITY);
    sb_event_queue_destroy(q);
    sb_event_queue_destroy(NULL);
}

/* ---- full-queue policy ---------------------------------------------------------------------- */

/* A heap queue of capacity 8 holding 8 events of this type with x = 0..7. */
static sb_event_queue *full_queue_of(uint32_t type)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    for (int i = 0; i < 8; i++) {
        sb_event e = ev(type, i);
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    }
    return q;
}

static void test_full_queue_drops_oldest_moves_for_presses(void)
{
    sb_event_queue *q = full_queue_of(SB_EVENT_POINTER_MOVE);
    for (int i = 0; i < 3; i++) {
        sb_event e = ev(SB_EVENT_BUTTON_PRESS, 100 + i);
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    }
    sb_event_queue_stats st = stats_of(q);
    CU_ASSERT_EQUAL(st.dropped_moves, 3);
    CU_ASSERT_EQUAL(st.dropped_other, 0);
    CU_ASSERT_EQUAL(st.pushed, 11);
    CU_ASSERT_EQUAL(st.depth, 8);
    uint32_t types[16];
    int32_t xs[16];
    CU_ASSERT_EQUAL_FATAL(drain(q, types, xs, 16), 8);
    const int32_t expect[8] = {3, 4, 5, 6, 7, 100, 101, 102};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(xs[i], expect[i]);
    sb_event_queue_destroy(q);
}

static void test_full_queue_drops_the_oldest_move_between_presses(void)
{
    /* P0 M1 P2 M3 P4 M5 P6 P7, then a press: M1 goes, the rest keeps its order. */
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    for (int i = 0; i < 8; i++) {
        int move = i == 1 || i == 3 || i == 5;
        sb_event e = ev(move ? SB_EVENT_POINTER_MOVE : SB_EVENT_BUTTON_PRESS, i);
        CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    }
    sb_event e = ev(SB_EVENT_KEY_RELEASE, 8);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    e = ev(SB_EVENT_POINTER_MOVE, 9); /* a move makes room by dropping the oldest move (M3) */
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    uint32_t types[16];
    int32_t xs[16];
    CU_ASSERT_EQUAL_FATAL(drain(q, types, xs, 16), 8);
    const int32_t expect[8] = {0, 2, 4, 5, 6, 7, 8, 9};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(xs[i], expect[i]);
    CU_ASSERT_EQUAL(stats_of(q).dropped_moves, 2);
    sb_event_queue_destroy(q);
}

static void test_queue_full_of_non_moves_refuses_new_events(void)
{
    sb_event_queue *q = full_queue_of(SB_EVENT_KEY_PRESS);
    sb_event press = ev(SB_EVENT_BUTTON_PRESS, 50);
    sb_event move = ev(SB_EVENT_POINTER_MOVE, 51);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &press), SB_EFULL);
    CU_ASSERT(strstr(sb_last_error(), "button_press") != NULL);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &press), SB_EFULL);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &move), SB_EFULL);
    sb_event_queue_stats st = stats_of(q);
    CU_ASSERT_EQUAL(st.dropped_other, 2);
    CU_ASSERT_EQUAL(st.dropped_moves, 1);
    CU_ASSERT_EQUAL(st.pushed, 8);
    CU_ASSERT_EQUAL(st.depth, 8);
    /* Queued events are intact and room comes back after a pop. */
    uint32_t types[16];
    int32_t xs[16];
    CU_ASSERT_EQUAL_FATAL(drain(q, types, xs, 16), 8);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(xs[i], i);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &press), SB_OK);
    sb_event_queue_destroy(q);
}

/* ---- waiting -------------------------------------------------------------------------------- */

static void test_wait_times_out_on_empty_queue(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    uint64_t t0 = st_now_ms();
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, 50), SB_ETIMEDOUT);
    CU_ASSERT(st_now_ms() - t0 >= 45);
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, 0), SB_ETIMEDOUT);
    sb_event e = ev(SB_EVENT_KEY_PRESS, 0);
    sb_event_queue_push(q, &e);
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, 0), SB_OK);
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, -1), SB_OK); /* non-empty: returns at once */
    sb_event_queue_destroy(q);
}

struct later {
    sb_event_queue *q;
    int wake_only;
};

static void *push_later(void *arg)
{
    struct later *l = arg;
    st_sleep_ms(50);
    if (l->wake_only) {
        sb_event_queue_wake(l->q);
    } else {
        sb_event e = ev(SB_EVENT_WHEEL, 1);
        sb_event_queue_push(l->q, &e);
    }
    return NULL;
}

static void test_wait_wakes_on_push(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    struct later l = {q, 0};
    pthread_t t;
    pthread_create(&t, NULL, push_later, &l);
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, ST_DEADLINE_MS), SB_OK);
    CU_ASSERT_EQUAL(stats_of(q).depth, 1);
    pthread_join(t, NULL);
    sb_event_queue_destroy(q);
}

static void test_options_init_equals_init_macro_and_checks_version(void)
{
    const sb_event_queue_options macro = SB_EVENT_QUEUE_OPTIONS_INIT;
    sb_event_queue_options o;
    memset(&o, 0xab, sizeof o);
    CU_ASSERT_EQUAL(sb_event_queue_options_init(&o, SB_EVENT_QUEUE_OPTIONS_VERSION), SB_OK);
    CU_ASSERT_EQUAL(o.version, macro.version);
    CU_ASSERT_EQUAL(o.capacity, macro.capacity);
    CU_ASSERT_PTR_NULL(o.shm_name);
    CU_ASSERT_EQUAL(macro.capacity, SB_EVENT_QUEUE_DEFAULT_CAPACITY);
    CU_ASSERT_EQUAL(sb_event_queue_options_init(&o, 0), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_event_queue_options_init(&o, SB_EVENT_QUEUE_OPTIONS_VERSION + 1),
                    SB_EVERSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "is not 1..1"));
    CU_ASSERT_EQUAL(sb_event_queue_options_init(NULL, 1), SB_EINVAL);

    sb_event_queue *q = NULL;
    sb_event_queue_options bad = SB_EVENT_QUEUE_OPTIONS_INIT;
    bad.version = 0;
    CU_ASSERT_EQUAL(sb_event_queue_create(&bad, &q), SB_EVERSION);
    bad.version = SB_EVENT_QUEUE_OPTIONS_VERSION + 1;
    CU_ASSERT_EQUAL(sb_event_queue_create(&bad, &q), SB_EVERSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "options version 2 is not 1..1"));
    CU_ASSERT_PTR_NULL(q);
    CU_ASSERT_EQUAL(sb_event_queue_create(NULL, &q), SB_OK); /* NULL: the defaults */
    CU_ASSERT_EQUAL(stats_of(q).capacity, SB_EVENT_QUEUE_DEFAULT_CAPACITY);
    sb_event_queue_destroy(q);
}

static void test_stats_write_only_the_callers_version(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event e = ev(SB_EVENT_WHEEL, 1);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    /* Exactly the size version 1 has, on the heap: ASan reports any byte written past it. */
    sb_event_queue_stats *st = malloc(sizeof *st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    memset(st, 0, sizeof *st);
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(q, st), SB_EVERSION); /* version 0 */
    st->version = SB_EVENT_QUEUE_STATS_VERSION + 1;
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(q, st), SB_EVERSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "stats version 2"));
    CU_ASSERT_EQUAL(st->pushed, 0); /* a refused call writes nothing */
    st->version = SB_EVENT_QUEUE_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(q, st), SB_OK);
    CU_ASSERT_EQUAL(st->version, SB_EVENT_QUEUE_STATS_VERSION);
    CU_ASSERT_EQUAL(st->pushed, 1);
    CU_ASSERT_EQUAL(st->depth, 1);
    free(st);
    /* And nothing after it, without ASan too. */
    unsigned char buf[sizeof(sb_event_queue_stats) + 32];
    memset(buf, 0xab, sizeof buf);
    unsigned int version = SB_EVENT_QUEUE_STATS_VERSION;
    memcpy(buf, &version, sizeof version);
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(q, (sb_event_queue_stats *)(void *)buf), SB_OK);
    for (size_t i = sizeof(sb_event_queue_stats); i < sizeof buf; i++)
        CU_ASSERT_EQUAL(buf[i], 0xab);
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(q, NULL), SB_EINVAL);
    sb_event_queue_stats s2 = SB_EVENT_QUEUE_STATS_INIT;
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(NULL, &s2), SB_EINVAL);
    sb_event_queue_destroy(q);
}

static void test_wake_interrupts_wait_on_empty_queue_with_ewoken(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    struct later l = {q, 1};
    pthread_t t;
    pthread_create(&t, NULL, push_later, &l);
    /* Woken, not timed out: a deadline that never passes in a test, and a code of its own. */
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, -1), SB_EWOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "woken by sb_event_queue_wake"));
    pthread_join(t, NULL);
    /* Without a wake the wait runs to its deadline and says so, with the other code. */
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, 20), SB_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "within 20 ms"));
    /* Only a wake during the wait counts, and a queued event comes first. */
    sb_event_queue_wake(q);
    sb_event e = ev(SB_EVENT_WHEEL, 1);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    CU_ASSERT_EQUAL(sb_event_queue_wait(q, -1), SB_OK);
    sb_event_queue_destroy(q);
}

/* ---- shm: other processes -------------------------------------------------------------------- */

static void test_forked_producer_pushes_through_shm(void)
{
    const char *name = tt_name("fork");
    sb_event_queue *q = make_queue(name, 256);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    pid_t pid = fork();
    if (pid == 0) {
        sb_event_queue *p = NULL;
        if (sb_event_queue_attach(name, &p) != SB_OK)
            _exit(1);
        for (int i = 0; i < 200; i++) {
            sb_event e = ev(i % 3 ? SB_EVENT_POINTER_MOVE : SB_EVENT_BUTTON_RELEASE, i);
            e.producer_id = 9;
            if (sb_event_queue_push(p, &e) != SB_OK)
                _exit(2);
        }
        sb_event_queue_destroy(p);
        _exit(0);
    }
    /* Consume while the child produces, sleeping in wait (futex across processes). */
    int next = 0, ok = 1;
    uint64_t t0 = st_now_ms();
    while (next < 200 && st_now_ms() - t0 < ST_DEADLINE_MS) {
        if (sb_event_queue_wait(q, 1000) != SB_OK)
            continue;
        sb_event out[32];
        size_t n = 0;
        sb_event_queue_pop(q, out, 32, &n);
        for (size_t i = 0; i < n; i++, next++)
            ok &= out[i].x == next && out[i].producer_id == 9;
    }
    CU_ASSERT_EQUAL(tt_wait_child(pid), 0);
    CU_ASSERT_EQUAL(next, 200);
    CU_ASSERT(ok);
    sb_event_queue_destroy(q);
    CU_ASSERT(!tt_segment_exists(name, "events"));
}

/* In a child: maps the queue segment named by arg and takes its lock for good, by the layout's
 * protocol (docs/shm-layout.md, "Queue lock"), as a producer in any language would. */
static int map_and_take_the_lock(void *name)
{
    size_t size = 0;
    uint8_t *seg = tt_map_segment(name, "events", &size);
    return seg && size > TT_QUEUE_LOCK_OFFSET && tt_queue_take_lock(seg);
}

static void test_producer_killed_holding_the_lock_does_not_wedge_queue(void)
{
    const char *name = tt_name("robust");
    sb_event_queue *q = make_queue(name, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event e = ev(SB_EVENT_KEY_PRESS, 1);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    int locked = 0;
    pid_t pid = tt_fork_ready_then_pause(map_and_take_the_lock, (void *)name, &locked);
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT(locked);
    kill(pid, SIGKILL);
    tt_wait_child(pid);
    size_t size = 0;
    uint8_t *seg = tt_map_segment(name, "events", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(seg);
    _Atomic uint32_t *lock_word = (_Atomic uint32_t *)(void *)(seg + TT_QUEUE_LOCK_OFFSET);
    CU_ASSERT(atomic_load(lock_word) != 0); /* the dead child's id: push must take it over */
    munmap(seg, size);
    e.x = 2;
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    uint32_t types[8];
    int32_t xs[8];
    CU_ASSERT_EQUAL_FATAL(drain(q, types, xs, 8), 2);
    CU_ASSERT_EQUAL(xs[0], 1);
    CU_ASSERT_EQUAL(xs[1], 2);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK); /* and stays usable */
    sb_event_queue_destroy(q);
}

/* Takes the lock of the heap queue arg through its segment (the same bytes as a shm one: the
 * documented layout) and ends holding it. */
static void *lock_and_exit(void *arg)
{
    sb_event_queue *q = arg;
    return tt_queue_take_lock(q->seg.base) ? q : NULL;
}

static void test_thread_exiting_with_the_lock_does_not_wedge_heap_queue(void)
{
    sb_event_queue *q = make_queue(NULL, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    pthread_t t;
    void *locked = NULL;
    pthread_create(&t, NULL, lock_and_exit, q);
    pthread_join(t, &locked);
    CU_ASSERT_PTR_EQUAL_FATAL(locked, q);
    _Atomic uint32_t *lock_word = (_Atomic uint32_t *)(void *)(q->seg.base + TT_QUEUE_LOCK_OFFSET);
    CU_ASSERT(atomic_load(lock_word) != 0); /* the dead thread's id: push must take it over */
    sb_event e = ev(SB_EVENT_CHAR, 3);
    CU_ASSERT_EQUAL(sb_event_queue_push(q, &e), SB_OK);
    sb_event out[2];
    size_t n = 0;
    CU_ASSERT_EQUAL(sb_event_queue_pop(q, out, 2, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 1);
    sb_event_queue_destroy(q);
}

static void test_push_after_consumer_destroyed_is_egone(void)
{
    const char *name = tt_name("closed");
    sb_event_queue *q = make_queue(name, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event_queue *p = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_attach(name, &p), SB_OK);
    CU_ASSERT_STRING_EQUAL(sb_event_queue_name(p), name);
    sb_event_queue_destroy(q);
    CU_ASSERT(!tt_segment_exists(name, "events"));
    sb_event e = ev(SB_EVENT_KEY_PRESS, 0);
    CU_ASSERT_EQUAL(sb_event_queue_push(p, &e), SB_EGONE);
    sb_event_queue_destroy(p);
}

/* ---- hygiene and validation ------------------------------------------------------------------ */

static void test_create_reclaims_queue_of_dead_creator_and_refuses_live_one(void)
{
    const char *name = tt_name("qreclaim");
    pid_t pid = fork();
    if (pid == 0)
        _exit(make_queue(name, 8) ? 0 : 1);
    CU_ASSERT_EQUAL(tt_wait_child(pid), 0);
    CU_ASSERT(tt_segment_exists(name, "events"));
    sb_event_queue *q = make_queue(name, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    o.shm_name = name;
    sb_event_queue *again = NULL;
    CU_ASSERT_EQUAL(sb_event_queue_create(&o, &again), SB_EEXIST);
    sb_event_queue_destroy(q);
    CU_ASSERT(!tt_segment_exists(name, "events"));
}

static void test_attach_rejects_missing_foreign_and_corrupt_segments(void)
{
    sb_event_queue *p = NULL;
    CU_ASSERT_EQUAL(sb_event_queue_attach(tt_name("none"), &p), SB_ENOENT);
    CU_ASSERT_EQUAL(sb_event_queue_attach(NULL, &p), SB_EINVAL);

    const char *name = tt_name("qforged");
    uint8_t bytes[4096] = {0};
    memcpy(bytes, "SBRING01", 8);
    CU_ASSERT_EQUAL_FATAL(tt_forge_segment(name, "events", bytes, sizeof bytes), 0);
    CU_ASSERT_EQUAL(sb_event_queue_attach(name, &p), SB_EBADSEG);
    CU_ASSERT(strstr(sb_last_error(), "wrong magic") != NULL);
    CU_ASSERT_EQUAL_FATAL(tt_forge_segment(name, "events", bytes, 100), 0);
    CU_ASSERT_EQUAL(sb_event_queue_attach(name, &p), SB_EBADSEG);
    CU_ASSERT(strstr(sb_last_error(), "too small") != NULL);
    tt_unlink(name, "events");

    /* A real queue whose record size field is corrupted. */
    sb_event_queue *q = make_queue(name, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "events", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    uint32_t saved;
    memcpy(&saved, map + 52, 4);
    uint32_t bogus = 96;
    memcpy(map + 52, &bogus, 4);
    CU_ASSERT_EQUAL(sb_event_queue_attach(name, &p), SB_EBADSEG);
    CU_ASSERT(strstr(sb_last_error(), "record size 96") != NULL);
    memcpy(map + 52, &saved, 4);
    uint32_t version = 7;
    memcpy(&saved, map + 8, 4);
    memcpy(map + 8, &version, 4);
    CU_ASSERT_EQUAL(sb_event_queue_attach(name, &p), SB_EBADSEG);
    CU_ASSERT(strstr(sb_last_error(), "layout version 7") != NULL);
    memcpy(map + 8, &saved, 4);
    CU_ASSERT_EQUAL(sb_event_queue_attach(name, &p), SB_OK);
    sb_event_queue_destroy(p);
    munmap(map, size);
    sb_event_queue_destroy(q);
}

static CU_TestInfo queue_tests[] = {
    {"heap_push_pop_keeps_order", test_heap_push_pop_keeps_order},
    {"shm_push_pop_keeps_order", test_shm_push_pop_keeps_order},
    {"every_event_type_roundtrips_unchanged", test_every_event_type_roundtrips_unchanged},
    {"pop_respects_max_and_empty_queue", test_pop_respects_max_and_empty_queue},
    {"ring_buffer_wraps_around", test_ring_buffer_wraps_around},
    {"invalid_events_are_rejected_and_counted", test_invalid_events_are_rejected_and_counted},
    {"create_rejects_bad_options", test_create_rejects_bad_options},
    {"full_queue_drops_oldest_moves_for_presses", test_full_queue_drops_oldest_moves_for_presses},
    {"full_queue_drops_the_oldest_move_between_presses", test_full_queue_drops_the_oldest_move_between_presses},
    {"queue_full_of_non_moves_refuses_new_events", test_queue_full_of_non_moves_refuses_new_events},
    {"wait_times_out_on_empty_queue", test_wait_times_out_on_empty_queue},
    {"wait_wakes_on_push", test_wait_wakes_on_push},
    {"wake_interrupts_wait_on_empty_queue_with_ewoken", test_wake_interrupts_wait_on_empty_queue_with_ewoken},
    {"options_init_equals_init_macro_and_checks_version", test_options_init_equals_init_macro_and_checks_version},
    {"stats_write_only_the_callers_version", test_stats_write_only_the_callers_version},
    {"forked_producer_pushes_through_shm", test_forked_producer_pushes_through_shm},
    {"producer_killed_holding_the_lock_does_not_wedge_queue", test_producer_killed_holding_the_lock_does_not_wedge_queue},
    {"thread_exiting_with_the_lock_does_not_wedge_heap_queue", test_thread_exiting_with_the_lock_does_not_wedge_heap_queue},
    {"push_after_consumer_destroyed_is_egone", test_push_after_consumer_destroyed_is_egone},
    {"create_reclaims_queue_of_dead_creator_and_refuses_live_one", test_create_reclaims_queue_of_dead_creator_and_refuses_live_one},
    {"attach_rejects_missing_foreign_and_corrupt_segments", test_attach_rejects_missing_foreign_and_corrupt_segments},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"event_queue", NULL, NULL, NULL, NULL, queue_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
