/* test_event_queue_concurrency.c - four producer threads (each with its producer_id and an
 * increasing counter in key_code) against one consumer, with a small queue so it overflows.
 * Checks per-producer order, that no accepted non-move event is ever lost, and that the
 * counters balance exactly: attempted = pushed + refused, attempted = popped + drops. */
#include "streambridge/error.h"
#include "streambridge/event_queue.h"

#include "sb_cunit.h"
#include "sb_test_transport.h"
#include "sb_test_wait.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define PRODUCERS 4
#define PER_PRODUCER 20000
#define CAPACITY 64

typedef struct producer {
    sb_event_queue *q;
    uint32_t id;
    uint64_t accepted, refused, other_errors;
    uint8_t accepted_mask[PER_PRODUCER]; /* 1: push returned SB_OK */
} producer;

static int is_move(uint32_t counter)
{
    return counter % 4 != 0; /* three moves, then a press */
}

static void *produce(void *arg)
{
    producer *p = arg;
    for (uint32_t c = 0; c < PER_PRODUCER; c++) {
        sb_event e;
        memset(&e, 0, sizeof e);
        e.type = is_move(c) ? SB_EVENT_POINTER_MOVE : SB_EVENT_BUTTON_PRESS;
        e.button = is_move(c) ? SB_BUTTON_NONE : SB_BUTTON_LEFT;
        e.producer_id = p->id;
        e.key_code = c;
        e.timestamp_ns = c;
        int rc = sb_event_queue_push(p->q, &e);
        if (rc == SB_OK) {
            p->accepted++;
            p->accepted_mask[c] = 1;
        } else if (rc == SB_EFULL) {
            p->refused++;
        } else {
            p->other_errors++;
        }
        if (c % 32 == 31) { /* bursts, like a client's input */
            struct timespec ts = {0, 50 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

typedef struct consumer {
    sb_event_queue *q;
    atomic_int *producers_done;
    uint64_t received, order_errors, unknown, not_accepted;
    int64_t last[PRODUCERS + 1];
    uint8_t received_mask[PRODUCERS + 1][PER_PRODUCER];
    producer *producers;
} consumer;

static void take(consumer *c, const sb_event *e)
{
    c->received++;
    if (e->producer_id < 1 || e->producer_id > PRODUCERS || e->key_code >= PER_PRODUCER) {
        c->unknown++;
        return;
    }
    if ((int64_t)e->key_code <= c->last[e->producer_id])
        c->order_errors++;
    c->last[e->producer_id] = e->key_code;
    c->received_mask[e->producer_id][e->key_code] = 1;
}

static void *consume(void *arg)
{
    consumer *c = arg;
    sb_event batch[16];
    unsigned rounds = 0;
    for (;;) {
        int finished = atomic_load(c->producers_done);
        size_t n = 0;
        if (sb_event_queue_pop(c->q, batch, 16, &n) != SB_OK)
            break;
        for (size_t i = 0; i < n; i++)
            take(c, &batch[i]);
        if (n == 0) {
            if (finished)
                break; /* producers were done before this pop found the queue empty */
            sb_event_queue_wait(c->q, 100);
        }
        /* A consumer slower than the producers now and then, so the queue overflows. */
        if (++rounds % 256 == 0)
            st_sleep_ms(1);
    }
    return NULL;
}

static void run(const char *shm_name)
{
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    o.capacity = CAPACITY;
    o.shm_name = shm_name;
    sb_event_queue *q = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_create(&o, &q), SB_OK);

    producer *prod = calloc(PRODUCERS, sizeof *prod);
    consumer *cons = calloc(1, sizeof *cons);
    CU_ASSERT_FATAL(prod && cons);
    atomic_int done = 0;
    cons->q = q;
    cons->producers_done = &done;
    cons->producers = prod;
    for (int i = 0; i <= PRODUCERS; i++)
        cons->last[i] = -1;
    pthread_t ct, pt[PRODUCERS];
    pthread_create(&ct, NULL, consume, cons);
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i].id = (uint32_t)i + 1;
        prod[i].q = q;
        if (shm_name) /* each producer through its own attachment, as separate processes would */
            CU_ASSERT_EQUAL_FATAL(sb_event_queue_attach(shm_name, &prod[i].q), SB_OK);
        pthread_create(&pt[i], NULL, produce, &prod[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    atomic_store(&done, 1);
    sb_event_queue_wake(q);
    pthread_join(ct, NULL);

    uint64_t attempted = (uint64_t)PRODUCERS * PER_PRODUCER, accepted = 0, refused = 0;
    uint64_t lost_non_moves = 0, phantom = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        CU_ASSERT_EQUAL(prod[i].other_errors, 0);
        accepted += prod[i].accepted;
        refused += prod[i].refused;
        for (uint32_t c = 0; c < PER_PRODUCER; c++) {
            int got = cons->received_mask[prod[i].id][c];
            if (!is_move(c) && prod[i].accepted_mask[c] && !got)
                lost_non_moves++;
            if (got && !prod[i].accepted_mask[c])
                phantom++;
        }
    }
    sb_event_queue_stats st = SB_EVENT_QUEUE_STATS_INIT;
    sb_event_queue_get_stats(q, &st);
    printf("\n    pushed %llu refused %llu popped %llu dropped_moves %llu dropped_other %llu  ",
           (unsigned long long)st.pushed, (unsigned long long)refused,
           (unsigned long long)st.popped, (unsigned long long)st.dropped_moves,
           (unsigned long long)st.dropped_other);
    CU_ASSERT_EQUAL(cons->order_errors, 0);
    CU_ASSERT_EQUAL(cons->unknown, 0);
    CU_ASSERT_EQUAL(lost_non_moves, 0);
    CU_ASSERT_EQUAL(phantom, 0);
    CU_ASSERT_EQUAL(accepted + refused, attempted);
    CU_ASSERT_EQUAL(st.pushed, accepted);
    CU_ASSERT_EQUAL(st.depth, 0);
    CU_ASSERT_EQUAL(st.popped, cons->received);
    CU_ASSERT_EQUAL(st.popped + st.dropped_moves + st.dropped_other, attempted);
    CU_ASSERT(st.dropped_moves > 0); /* the overflow path was exercised */

    for (int i = 0; i < PRODUCERS; i++)
        if (prod[i].q != q)
            sb_event_queue_destroy(prod[i].q);
    sb_event_queue_destroy(q);
    free(prod);
    free(cons);
}

TT_TEST_ON_HEAP_AND_SHM(producers_keep_order_and_counts_balance,
                        producers_keep_order_and_counts_balance, run, "qstress")

static CU_TestInfo tests[] = {
    {"heap_producers_keep_order_and_counts_balance", test_heap_producers_keep_order_and_counts_balance},
    {"shm_producers_keep_order_and_counts_balance", test_shm_producers_keep_order_and_counts_balance},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"event_queue_concurrency", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
