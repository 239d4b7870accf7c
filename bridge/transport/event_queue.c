/* event_queue.c - the event queue (streambridge/event_queue.h) over one segment layout shared by
 * the heap and shm backends. Byte layout and protocols: docs/shm-layout.md. */
#include "streambridge/event_queue.h"

#include "event_queue_internal.h"
#include "futex.h"
#include "sb_error_internal.h"
#include "shm_segment.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* "SBEVTQ01" as a little-endian uint64: the file starts with the ASCII bytes S B E V T Q 0 1. */
#define QUEUE_MAGIC 0x3130515456454253ull
/* Version 2: the glibc pthread mutex of version 1 became a documented 32-bit lock word, so that
 * garbage written into it can neither trip glibc's internal assertions nor block us forever. */
#define QUEUE_LAYOUT_VERSION 2u
#define QUEUE_HEADER_SIZE 256u
#define QUEUE_MIN_CAPACITY 2u
#define QUEUE_MAX_CAPACITY 65536u
/* The lock is held for a few hundred nanoseconds by its owner. A waiter sleeps on it in slices
 * of this length, looking after each whether the owner still lives... */
#define QUEUE_LOCK_SLICE_NS (20ull * 1000 * 1000)
/* ...and gives up with SB_ETIMEDOUT after this long (a stopped owner process, or a lock word
 * held by garbage that happens to name a live thread): push runs on server threads that must
 * stay stoppable, pop on the application's render thread that must not stall. After one such
 * timeout the queue is marked wedged and later calls make a single attempt until one succeeds. */
#define QUEUE_PUSH_LOCK_BOUND_NS (2000ull * 1000 * 1000)
#define QUEUE_POP_LOCK_BOUND_NS (250ull * 1000 * 1000)

typedef struct queue_header {
    sb_shm_common_header common;      /*   0 */
    uint32_t capacity;                /*  48: records */
    uint32_t record_size;             /*  52: sizeof(sb_event) == 80 */
    uint64_t records_offset;          /*  56 */
    _Atomic uint32_t head;            /*  64: index of the oldest record (under the lock) */
    _Atomic uint32_t count;           /*  68: records queued (written under the lock) */
    _Atomic uint32_t signal;          /*  72: futex word, +1 on every push and wake */
    _Atomic uint32_t wake_count;      /*  76: +1 on sb_event_queue_wake */
    _Atomic uint64_t pushed;          /*  80 */
    _Atomic uint64_t popped;          /*  88 */
    _Atomic uint64_t dropped_moves;   /*  96 */
    _Atomic uint64_t dropped_other;   /* 104 */
    _Atomic uint64_t rejected_invalid;/* 112 */
    uint64_t reserved0;               /* 120 */
    _Atomic uint32_t lock;            /* 128: 0 free, else the Linux thread id of the holder */
    uint32_t reserved1;               /* 132 */
    uint64_t reserved[15];            /* 136..255 */
} queue_header;

_Static_assert(sizeof(sb_event) == 80, "sb_event is the 80-byte record of the layout");
_Static_assert(sizeof(queue_header) == QUEUE_HEADER_SIZE, "queue header layout");
_Static_assert(offsetof(queue_header, pushed) == 80, "queue header layout");
_Static_assert(offsetof(queue_header, lock) == 128, "queue header layout");

static void bind_layout(sb_event_queue *q, uint32_t capacity)
{
    q->hdr = (queue_header *)(void *)q->seg.base;
    q->records = (sb_event *)(void *)(q->seg.base + QUEUE_HEADER_SIZE);
    q->capacity = capacity;
}

/* Bytes of sb_event_queue_options each version has: a caller built against an older header
 * passes a shorter struct, of which only these bytes may be read. 0: unknown version. */
static size_t options_size(unsigned int version)
{
    switch (version) {
    case 1: return sizeof(sb_event_queue_options);
    default: return 0;
    }
}

static const sb_event_queue_options default_options = SB_EVENT_QUEUE_OPTIONS_INIT;

int sb_event_queue_options_init(sb_event_queue_options *opts, unsigned int version)
{
    if (!opts)
        return SB_FAIL(SB_EINVAL, "opts is NULL");
    size_t size = options_size(version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "options version %u is not 1..%d", version,
                       SB_EVENT_QUEUE_OPTIONS_VERSION);
    memcpy(opts, &default_options, size);
    opts->version = version;
    return SB_OK;
}

int sb_event_queue_create(const sb_event_queue_options *caller_opts, sb_event_queue **out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    /* The caller's options of any known version, completed with the defaults its version lacks. */
    sb_event_queue_options full = default_options;
    if (caller_opts) {
        size_t size = options_size(caller_opts->version);
        if (size == 0)
            return SB_FAIL(SB_EVERSION, "options version %u is not 1..%d (use "
                           "SB_EVENT_QUEUE_OPTIONS_INIT or sb_event_queue_options_init)",
                           caller_opts->version, SB_EVENT_QUEUE_OPTIONS_VERSION);
        memcpy(&full, caller_opts, size);
        full.version = SB_EVENT_QUEUE_OPTIONS_VERSION;
    }
    const sb_event_queue_options *opts = &full;
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
    /* The lock word is 0 (free) in the zero-filled segment. */
    sb__segment_publish(&q->seg, QUEUE_MAGIC, QUEUE_LAYOUT_VERSION, QUEUE_HEADER_SIZE);
    bind_layout(q, opts->capacity);
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
    /* Validated on a snapshot, so a concurrent writer cannot change a field between the check
     * and its use. */
    queue_header snapshot;
    memcpy(&snapshot, q->seg.base, sizeof snapshot);
    const queue_header *h = &snapshot;
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
    if (rc == SB_OK)
        rc = sb__segment_check(&q->seg, __func__);
    if (rc != SB_OK) {
        sb__segment_destroy(&q->seg);
        free(q);
        return rc;
    }
    bind_layout(q, h->capacity);
    *out = q;
    return SB_OK;
}

void sb_event_queue_destroy(sb_event_queue *q)
{
    if (!q)
        return;
    if (q->seg.is_creator && q->seg.creator_pid == (int32_t)getpid())
        atomic_store_explicit(&q->hdr->common.closed, 1, memory_order_release);
    sb__segment_destroy(&q->seg);
    free(q);
}

const char *sb_event_queue_name(const sb_event_queue *q)
{
    return q ? q->seg.stream_name : "";
}

static void log_repair_once(sb_event_queue *q, const char *what)
{
    if (!atomic_exchange(&q->logged_repair, 1))
        sb__log("event queue \"%s\": %s (said once per handle)", q->seg.stream_name,
                what);
}

/* 1 unless thread tid certainly no longer runs. A tid out of range, or our own (this thread
 * never holds the lock while asking for it), can only be garbage: dead. */
static int lock_owner_alive(uint32_t tid)
{
    if (tid == 0 || tid > INT32_MAX || tid == (uint32_t)syscall(SYS_gettid))
        return 0;
    return sb__process_alive((int32_t)tid, 0); /* /proc/TID/stat works for any thread id */
}

/* Takes the lock word (0 -> our thread id). A holder that died (thread or process), or garbage
 * in the word, is detected after one slice: the word is taken over and the indices are
 * clamped into range. Gives up after bound_ns with SB_ETIMEDOUT; never waits unboundedly. */
static int lock_queue(sb_event_queue *q, const char *func, uint64_t bound_ns)
{
    queue_header *h = q->hdr;
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    if (atomic_load_explicit(&q->lock_wedged, memory_order_relaxed))
        bound_ns = 0;
    uint64_t start = sb__monotonic_ns();
    for (int attempt = 0;; attempt++) {
        uint32_t owner = 0;
        if (atomic_compare_exchange_strong_explicit(&h->lock, &owner, me, memory_order_acquire,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&q->lock_wedged, 0, memory_order_relaxed);
            return SB_OK;
        }
        uint64_t waited = sb__monotonic_ns() - start;
        if ((waited >= QUEUE_LOCK_SLICE_NS || bound_ns == 0) && !lock_owner_alive(owner)) {
            if (atomic_compare_exchange_strong_explicit(&h->lock, &owner, me,
                                                        memory_order_acquire,
                                                        memory_order_relaxed)) {
                atomic_store_explicit(&q->lock_wedged, 0, memory_order_relaxed);
                uint32_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
                uint32_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
                if (head >= q->capacity || count > q->capacity) {
                    atomic_store_explicit(&h->head, 0, memory_order_relaxed);
                    atomic_store_explicit(&h->count, 0, memory_order_relaxed);
                }
                log_repair_once(q, "took over the lock of a thread or process that died holding "
                                   "it (or of garbage written into it)");
                return SB_OK;
            }
            continue;
        }
        if (waited >= bound_ns) {
            atomic_store_explicit(&q->lock_wedged, 1, memory_order_relaxed);
            return sb__set_error(SB_ETIMEDOUT, func,
                                 "event queue \"%s\": its lock is held by live thread %u (a "
                                 "stopped process, or a corrupted header): giving up after %llu ms",
                                 q->seg.stream_name, owner,
                                 (unsigned long long)(waited / 1000000u));
        }
        if (attempt < 8) {
            sched_yield(); /* the usual holder is done within microseconds */
            continue;
        }
        uint64_t slice = bound_ns - waited;
        if (slice > QUEUE_LOCK_SLICE_NS)
            slice = QUEUE_LOCK_SLICE_NS;
        sb__futex_wait(&h->lock, owner, (int64_t)slice, q->seg.is_shm);
    }
}

static void unlock_queue(sb_event_queue *q)
{
    atomic_store_explicit(&q->hdr->lock, 0, memory_order_release);
    sb__futex_wake_all(&q->hdr->lock, q->seg.is_shm);
}

/* Under the lock: head and count, clamped so that a corrupted shared header can cost events
 * but never make us loop long or index outside the records. */
static void load_indices(sb_event_queue *q, uint32_t *head, uint32_t *count)
{
    uint32_t raw_head = atomic_load_explicit(&q->hdr->head, memory_order_relaxed);
    uint32_t raw_count = atomic_load_explicit(&q->hdr->count, memory_order_relaxed);
    *head = raw_head % q->capacity;
    *count = raw_count > q->capacity ? q->capacity : raw_count;
    if (raw_head != *head || raw_count != *count) {
        atomic_fetch_add_explicit(&q->corrupt_reads, 1, memory_order_relaxed);
        log_repair_once(q, "head/count out of range (corrupted header): clamped");
    }
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
    int rc = sb__segment_check(&q->seg, __func__);
    if (rc != SB_OK)
        return rc;
    if (atomic_load_explicit(&h->common.closed, memory_order_acquire) == 1)
        return SB_FAIL(SB_EGONE, "queue \"%s\" was closed by its consumer", q->seg.stream_name);
    if ((rc = lock_queue(q, __func__, QUEUE_PUSH_LOCK_BOUND_NS)) != SB_OK)
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
    /* The record may have gone to zero pages the SIGBUS guard put under a truncated file. */
    if ((rc = sb__segment_check_cached(&q->seg, __func__)) != SB_OK)
        return rc;
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
    int rc = sb__segment_check_cached(&q->seg, __func__);
    if (rc != SB_OK)
        return rc;
    /* Cheap path for the render thread polling an idle queue: no lock, no system call (but the
     * read of count itself may have faulted on a truncated file: look at the flag again). */
    if (max == 0 || atomic_load_explicit(&h->count, memory_order_acquire) == 0)
        return sb__segment_check_cached(&q->seg, __func__);
    if ((rc = sb__segment_check(&q->seg, __func__)) != SB_OK)
        return rc;
    if ((rc = lock_queue(q, __func__, QUEUE_POP_LOCK_BOUND_NS)) != SB_OK)
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
    if ((rc = sb__segment_check_cached(&q->seg, __func__)) != SB_OK)
        return rc; /* what was copied may be zero pages, not events */
    /* Records are copied as stored: any process that maps the queue can write them, so the
     * consumer validates each before use (sb_stream's replay does, counting events_invalid). */
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
        int rc = sb__segment_check_cached(&q->seg, __func__);
        if (rc != SB_OK)
            return rc;
        if (atomic_load_explicit(&h->count, memory_order_acquire) > 0)
            return SB_OK;
        if (atomic_load_explicit(&h->wake_count, memory_order_acquire) != wakes)
            return SB_FAIL(SB_EWOKEN, "woken by sb_event_queue_wake with the queue empty");
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

/* Bytes of sb_event_queue_stats each version has (the caller's struct may be that short). */
static size_t stats_size(unsigned int version)
{
    switch (version) {
    case 1: return sizeof(sb_event_queue_stats);
    default: return 0;
    }
}

int sb_event_queue_get_stats(const sb_event_queue *q, sb_event_queue_stats *out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "stats is NULL");
    size_t size = stats_size(out->version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "stats version %u is not 1..%d (use "
                       "SB_EVENT_QUEUE_STATS_VERSION)", out->version, SB_EVENT_QUEUE_STATS_VERSION);
    if (!q)
        return SB_FAIL(SB_EINVAL, "queue is NULL");
    /* Filled whole here, handed out as the prefix the caller's version has. */
    sb_event_queue_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.version = out->version;
    const queue_header *h = q->hdr;
    stats.pushed = atomic_load_explicit(&h->pushed, memory_order_relaxed);
    stats.popped = atomic_load_explicit(&h->popped, memory_order_relaxed);
    stats.dropped_moves = atomic_load_explicit(&h->dropped_moves, memory_order_relaxed);
    stats.dropped_other = atomic_load_explicit(&h->dropped_other, memory_order_relaxed);
    stats.rejected_invalid = atomic_load_explicit(&h->rejected_invalid, memory_order_relaxed);
    stats.depth = atomic_load_explicit(&h->count, memory_order_relaxed);
    if (stats.depth > q->capacity)
        stats.depth = q->capacity; /* a corrupted count; the next push or pop repairs it */
    stats.capacity = q->capacity;
    stats.corrupt_reads = atomic_load_explicit(&q->corrupt_reads, memory_order_relaxed);
    /* Observed only: reading the stats leaves the caller's sb_last_error() alone. */
    stats.broken = (uint32_t)sb__segment_is_broken(&q->seg);
    memcpy(out, &stats, size);
    return SB_OK;
}

int sb_event_queue_check(const sb_event_queue *q)
{
    if (!q)
        return SB_FAIL(SB_EINVAL, "queue is NULL");
    int rc = sb__segment_check((sb_shm_segment *)(uintptr_t)&q->seg, __func__);
    if (rc != SB_OK)
        return rc;
    const queue_header *h = q->hdr;
    const sb_shm_common_header *c = &h->common;
    if (atomic_load_explicit(&c->magic, memory_order_relaxed) != QUEUE_MAGIC ||
        c->layout_version != QUEUE_LAYOUT_VERSION || c->header_size != QUEUE_HEADER_SIZE ||
        c->total_size != q->seg.size || h->capacity != q->capacity ||
        h->record_size != sizeof(sb_event) || h->records_offset != QUEUE_HEADER_SIZE)
        return SB_FAIL(SB_EBADSEG, "queue \"%s\" has a corrupted header (written by another "
                       "process?): magic, version, sizes or capacity changed",
                       q->seg.stream_name);
    uint32_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
    uint32_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
    if (head >= q->capacity || count > q->capacity)
        return SB_FAIL(SB_EBADSEG, "queue \"%s\" has a corrupted header: head %u, count %u, "
                       "capacity %u", q->seg.stream_name, head, count, q->capacity);
    if (atomic_load_explicit(&q->lock_wedged, memory_order_relaxed))
        return SB_FAIL(SB_EBADSEG, "queue \"%s\": its lock word is held by thread %u for too "
                       "long (a stopped process or a corrupted header)", q->seg.stream_name,
                       atomic_load_explicit(&h->lock, memory_order_relaxed));
    return SB_OK;
}
