/* event_queue.c - the event queue (streambridge/event_queue.h) over one segment layout shared by
 * the heap and shm backends. Byte layout and protocols: docs/shm-layout.md. */
#include "streambridge/event_queue.h"

#include "event_queue_internal.h"
#include "futex.h"
#include "sb_error_internal.h"
#include "shm_segment.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "SBEVTQ01" as a little-endian uint64: the file starts with the ASCII bytes S B E V T Q 0 1. */
#define QUEUE_MAGIC 0x3130515456454253ull
#define QUEUE_LAYOUT_VERSION 1u
#define QUEUE_HEADER_SIZE 256u
#define QUEUE_MIN_CAPACITY 2u
#define QUEUE_MAX_CAPACITY 65536u

typedef struct queue_header {
    sb_shm_common_header common;      /*   0 */
    uint32_t capacity;                /*  48: records */
    uint32_t record_size;             /*  52: sizeof(sb_event) == 80 */
    uint64_t records_offset;          /*  56 */
    _Atomic uint32_t head;            /*  64: index of the oldest record (under the mutex) */
    _Atomic uint32_t count;           /*  68: records queued (written under the mutex) */
    _Atomic uint32_t signal;          /*  72: futex word, +1 on every push and wake */
    _Atomic uint32_t wake_count;      /*  76: +1 on sb_event_queue_wake */
    _Atomic uint64_t pushed;          /*  80 */
    _Atomic uint64_t popped;          /*  88 */
    _Atomic uint64_t dropped_moves;   /*  96 */
    _Atomic uint64_t dropped_other;   /* 104 */
    _Atomic uint64_t rejected_invalid;/* 112 */
    uint64_t reserved0;               /* 120 */
    union {                           /* 128: robust, process-shared pthread mutex (glibc) */
        pthread_mutex_t mutex;
        uint8_t bytes[64];
    } lock;
    uint64_t reserved[8];             /* 192..255 */
} queue_header;

_Static_assert(sizeof(sb_event) == 80, "sb_event is the 80-byte record of the layout");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "mutex fits its 64 reserved bytes");
_Static_assert(sizeof(queue_header) == QUEUE_HEADER_SIZE, "queue header layout");
_Static_assert(offsetof(queue_header, pushed) == 80, "queue header layout");
_Static_assert(offsetof(queue_header, lock) == 128, "queue header layout");

struct sb_event_queue {
    sb_shm_segment seg;
    queue_header *hdr;
    sb_event *records;
    uint32_t capacity;
};

static void bind_layout(sb_event_queue *q)
{
    q->hdr = (queue_header *)(void *)q->seg.base;
    q->records = (sb_event *)(void *)(q->seg.base + q->hdr->records_offset);
    q->capacity = q->hdr->capacity;
}

int sb_event_queue_create(const sb_event_queue_options *opts, sb_event_queue **out)
{
    static const sb_event_queue_options defaults = SB_EVENT_QUEUE_OPTIONS_INIT;
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->version != SB_EVENT_QUEUE_OPTIONS_VERSION)
        return SB_FAIL(SB_EVERSION, "options version %u, this library knows version %u",
                       opts->version, SB_EVENT_QUEUE_OPTIONS_VERSION);
    if (opts->capacity < QUEUE_MIN_CAPACITY || opts->capacity > QUEUE_MAX_CAPACITY)
        return SB_FAIL(SB_EINVAL, "capacity %u outside %u..%u", opts->capacity,
                       QUEUE_MIN_CAPACITY, QUEUE_MAX_CAPACITY);
    if (opts->shm_name && opts->shm_name[0]) {
        int rc = sb__validate_stream_name(__func__, opts->shm_name);
        if (rc != SB_OK)
            return rc;
    }
    sb_event_queue *q = calloc(1, sizeof *q);
    if (!q)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the queue handle");
    size_t total = QUEUE_HEADER_SIZE + (size_t)opts->capacity * sizeof(sb_event);
    int rc = sb__segment_create(__func__, opts->shm_name, "events", QUEUE_MAGIC, total, &q->seg);
    if (rc != SB_OK) {
        free(q);
        return rc;
    }
    queue_header *h = (queue_header *)(void *)q->seg.base;
    h->capacity = opts->capacity;
    h->record_size = (uint32_t)sizeof(sb_event);
    h->records_offset = QUEUE_HEADER_SIZE;
    /* The heap backend uses the same process-shared robust mutex: one code path, and a thread
     * that dies holding it (pthread_exit in a callback) cannot wedge the queue either. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int err = pthread_mutex_init(&h->lock.mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    if (err != 0) {
        sb__segment_destroy(&q->seg);
        free(q);
        return SB_FAIL(SB_EIO, "pthread_mutex_init: %s", strerror(err));
    }
    sb__segment_publish(&q->seg, QUEUE_MAGIC, QUEUE_LAYOUT_VERSION, QUEUE_HEADER_SIZE);
    bind_layout(q);
    *out = q;
    return SB_OK;
}

int sb_event_queue_attach(const char *shm_name, sb_event_queue **out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    if (!shm_name)
        return SB_FAIL(SB_EINVAL, "shm_name is NULL");
    sb_event_queue *q = calloc(1, sizeof *q);
    if (!q)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the queue handle");
    int rc = sb__segment_attach(__func__, shm_name, "events", QUEUE_MAGIC, QUEUE_LAYOUT_VERSION,
                                QUEUE_HEADER_SIZE, &q->seg);
    if (rc != SB_OK) {
        free(q);
        return rc;
    }
    const queue_header *h = (const queue_header *)(void *)q->seg.base;
    const char *path = q->seg.shm_path;
    if (h->record_size != sizeof(sb_event))
        rc = SB_FAIL(SB_EBADSEG, "/dev/shm%s: record size %u, expected %zu", path,
                     h->record_size, sizeof(sb_event));
    else if (h->capacity < QUEUE_MIN_CAPACITY || h->capacity > QUEUE_MAX_CAPACITY)
        rc = SB_FAIL(SB_EBADSEG, "/dev/shm%s: capacity %u out of range", path, h->capacity);
    else if (h->records_offset != QUEUE_HEADER_SIZE ||
             h->records_offset + (uint64_t)h->capacity * sizeof(sb_event) != q->seg.size)
        rc = SB_FAIL(SB_EBADSEG,
                     "/dev/shm%s: %u records at offset %llu do not match the segment size %zu",
                     path, h->capacity, (unsigned long long)h->records_offset, q->seg.size);
    if (rc != SB_OK) {
        sb__segment_destroy(&q->seg);
        free(q);
        return rc;
    }
    bind_layout(q);
    *out = q;
    return SB_OK;
}

void sb_event_queue_destroy(sb_event_queue *q)
{
    if (!q)
        return;
    if (q->seg.is_creator && q->hdr->common.creator_pid == (int32_t)getpid()) {
        atomic_store_explicit(&q->hdr->common.closed, 1, memory_order_release);
        if (!q->seg.is_shm)
            pthread_mutex_destroy(&q->hdr->lock.mutex);
    }
    sb__segment_destroy(&q->seg);
    free(q);
}

const char *sb_event_queue_name(const sb_event_queue *q)
{
    return q ? q->seg.stream_name : "";
}

/* Takes the lock; when its previous owner died holding it, repairs what a half-done push or
 * pop could have left (out-of-range indices) and marks the mutex consistent again. */
static int lock_queue(sb_event_queue *q, const char *func)
{
    queue_header *h = q->hdr;
    int err = pthread_mutex_lock(&h->lock.mutex);
    if (err == 0)
        return SB_OK;
    if (err == EOWNERDEAD) {
        uint32_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
        uint32_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
        if (head >= q->capacity || count > q->capacity) {
            atomic_store_explicit(&h->head, 0, memory_order_relaxed);
            atomic_store_explicit(&h->count, 0, memory_order_relaxed);
        }
        pthread_mutex_consistent(&h->lock.mutex);
        sb__log("event queue \"%s\": recovered the lock of a process or thread that died "
                "holding it",
                q->seg.stream_name);
        return SB_OK;
    }
    return sb__set_error(SB_EIO, func, "cannot lock the event queue: %s", strerror(err));
}

static void unlock_queue(sb_event_queue *q)
{
    pthread_mutex_unlock(&q->hdr->lock.mutex);
}

/* Under the lock: head and count, clamped so that a corrupted shared header can cost events
 * but never make us loop long or index outside the records. */
static void load_indices(sb_event_queue *q, uint32_t *head, uint32_t *count)
{
    *head = atomic_load_explicit(&q->hdr->head, memory_order_relaxed) % q->capacity;
    *count = atomic_load_explicit(&q->hdr->count, memory_order_relaxed);
    if (*count > q->capacity)
        *count = q->capacity;
}

static sb_event *record_at(sb_event_queue *q, uint32_t head, uint32_t i)
{
    return &q->records[(head + i) % q->capacity];
}

/* Under the lock: drops the oldest queued pointer move, shifting the younger records one place
 * towards the head so relative order is kept. Returns 1 if one was dropped. */
static int drop_oldest_move(sb_event_queue *q, uint32_t head, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        if (record_at(q, head, i)->type != SB_EVENT_POINTER_MOVE)
            continue;
        for (uint32_t j = i; j + 1 < count; j++)
            *record_at(q, head, j) = *record_at(q, head, j + 1);
        atomic_store_explicit(&q->hdr->count, count - 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&q->hdr->dropped_moves, 1, memory_order_relaxed);
        return 1;
    }
    return 0;
}

int sb_event_queue_push(sb_event_queue *q, const sb_event *e)
{
    if (!q)
        return SB_FAIL(SB_EINVAL, "queue is NULL");
    queue_header *h = q->hdr;
    if (sb_event_validate(e) != SB_OK) {
        atomic_fetch_add_explicit(&h->rejected_invalid, 1, memory_order_relaxed);
        /* Keep the validator's reason, under this function's name. */
        char reason[400];
        strncpy(reason, sb_last_error(), sizeof reason - 1);
        reason[sizeof reason - 1] = '\0';
        return SB_FAIL(SB_EINVAL, "rejected: %s", reason);
    }
    if (atomic_load_explicit(&h->common.closed, memory_order_acquire))
        return SB_FAIL(SB_EGONE, "queue \"%s\" was closed by its consumer", q->seg.stream_name);
    int rc = lock_queue(q, __func__);
    if (rc != SB_OK)
        return rc;
    uint32_t head, count;
    load_indices(q, &head, &count);
    if (count >= q->capacity) {
        if (drop_oldest_move(q, head, count)) {
            count--;
        } else {
            int move = e->type == SB_EVENT_POINTER_MOVE;
            atomic_fetch_add_explicit(move ? &h->dropped_moves : &h->dropped_other, 1,
                                      memory_order_relaxed);
            unlock_queue(q);
            return SB_FAIL(SB_EFULL, "queue full of non-move events (%u); %s dropped",
                           q->capacity, sb_event_type_name(e->type));
        }
    }
    *record_at(q, head, count) = *e;
    atomic_store_explicit(&h->count, count + 1, memory_order_release);
    atomic_fetch_add_explicit(&h->pushed, 1, memory_order_relaxed);
    unlock_queue(q);
    atomic_fetch_add_explicit(&h->signal, 1, memory_order_release);
    sb__futex_wake_all(&h->signal, q->seg.is_shm);
    return SB_OK;
}

int sb_event_queue_pop(sb_event_queue *q, sb_event *out, size_t max, size_t *count_out)
{
    if (count_out)
        *count_out = 0;
    if (!q || !count_out || (!out && max > 0))
        return SB_FAIL(SB_EINVAL, "queue, out and count must not be NULL");
    queue_header *h = q->hdr;
    /* Cheap path for the render thread polling an idle queue: no lock. */
    if (max == 0 || atomic_load_explicit(&h->count, memory_order_acquire) == 0)
        return SB_OK;
    int rc = lock_queue(q, __func__);
    if (rc != SB_OK)
        return rc;
    uint32_t head, count;
    load_indices(q, &head, &count);
    size_t n = count < max ? count : max;
    for (size_t i = 0; i < n; i++)
        out[i] = *record_at(q, head, (uint32_t)i);
    atomic_store_explicit(&h->head, (uint32_t)((head + n) % q->capacity), memory_order_relaxed);
    atomic_store_explicit(&h->count, count - (uint32_t)n, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->popped, n, memory_order_relaxed);
    unlock_queue(q);
    *count_out = n;
    return SB_OK;
}

int sb_event_queue_wait(sb_event_queue *q, int timeout_ms)
{
    if (!q)
        return SB_FAIL(SB_EINVAL, "queue is NULL");
    queue_header *h = q->hdr;
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
                                       : sb__monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
    uint32_t wakes = atomic_load_explicit(&h->wake_count, memory_order_acquire);
    for (;;) {
        uint32_t word = atomic_load_explicit(&h->signal, memory_order_acquire);
        if (atomic_load_explicit(&h->count, memory_order_acquire) > 0)
            return SB_OK;
        if (atomic_load_explicit(&h->wake_count, memory_order_acquire) != wakes)
            return SB_FAIL(SB_ETIMEDOUT, "woken by sb_event_queue_wake with the queue empty");
        uint64_t now = sb__monotonic_ns();
        if (now >= deadline)
            return SB_FAIL(SB_ETIMEDOUT, "no event within %d ms", timeout_ms);
        uint64_t slice = deadline - now;
        sb__futex_wait(&h->signal, word, slice > INT64_MAX ? -1 : (int64_t)slice,
                       q->seg.is_shm);
    }
}

void sb_event_queue_wake(sb_event_queue *q)
{
    if (!q)
        return;
    atomic_fetch_add_explicit(&q->hdr->wake_count, 1, memory_order_release);
    atomic_fetch_add_explicit(&q->hdr->signal, 1, memory_order_release);
    sb__futex_wake_all(&q->hdr->signal, q->seg.is_shm);
}

void sb_event_queue_get_stats(const sb_event_queue *q, sb_event_queue_stats *stats)
{
    if (!stats)
        return;
    memset(stats, 0, sizeof *stats);
    if (!q)
        return;
    const queue_header *h = q->hdr;
    stats->pushed = atomic_load_explicit(&h->pushed, memory_order_relaxed);
    stats->popped = atomic_load_explicit(&h->popped, memory_order_relaxed);
    stats->dropped_moves = atomic_load_explicit(&h->dropped_moves, memory_order_relaxed);
    stats->dropped_other = atomic_load_explicit(&h->dropped_other, memory_order_relaxed);
    stats->rejected_invalid = atomic_load_explicit(&h->rejected_invalid, memory_order_relaxed);
    stats->depth = atomic_load_explicit(&h->count, memory_order_relaxed);
    stats->capacity = q->capacity;
}

int sb__event_queue_test_lock(sb_event_queue *q)
{
    return pthread_mutex_lock(&q->hdr->lock.mutex);
}
