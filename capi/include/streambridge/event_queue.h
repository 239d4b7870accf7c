/* streambridge/event_queue.h - bounded many-producer / one-consumer queue of sb_event records,
 * in this process (heap) or across processes (POSIX shm, docs/shm-layout.md).
 *
 * When full, room is made by dropping the oldest queued pointer moves first; press/release/wheel/
 * key/resize events are dropped only when no move is left to drop (and then the NEW event is
 * refused with SB_EFULL). Every drop is counted. Events come out in push order per producer.
 *
 * Threads: sb_event_queue_push from any thread of any attached process. pop/wait: the one
 * consumer (the render thread). create/attach/destroy are not concurrent with anything on the
 * same handle. */
#ifndef STREAMBRIDGE_EVENT_QUEUE_H
#define STREAMBRIDGE_EVENT_QUEUE_H

#include "streambridge/common.h"
#include "streambridge/events.h"

SB_BEGIN_DECLS

typedef struct sb_event_queue sb_event_queue;

/* The library accepts every options version 1..SB_EVENT_QUEUE_OPTIONS_VERSION; fields a version
 * lacks take their defaults. */
#define SB_EVENT_QUEUE_OPTIONS_VERSION 1
#define SB_EVENT_QUEUE_DEFAULT_CAPACITY 1024

typedef struct sb_event_queue_options {
    unsigned int version;  /* SB_EVENT_QUEUE_OPTIONS_VERSION */
    uint32_t capacity;     /* records, 2..65536, default 1024 */
    const char *shm_name;  /* NULL: heap. Otherwise stream name NAME: the segment is
                            * /dev/shm/streambridge-NAME-events; "" generates a unique name. */
} sb_event_queue_options;

/* C, and C++20 (designated initializers); C++17 calls sb_event_queue_options_init(). */
#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_EVENT_QUEUE_OPTIONS_INIT                                                            \
    {                                                                                          \
        .version = SB_EVENT_QUEUE_OPTIONS_VERSION,                                             \
        .capacity = SB_EVENT_QUEUE_DEFAULT_CAPACITY, .shm_name = NULL                          \
    }
#endif

/* Fills opts with the defaults of the given version (usually SB_EVENT_QUEUE_OPTIONS_VERSION)
 * and sets opts->version; writes only the bytes that version has. SB_EVERSION for a version
 * this library does not know, SB_EINVAL for NULL. */
SB_API int sb_event_queue_options_init(sb_event_queue_options *opts, unsigned int version);

/* Version 1: everything below (0.2). Fields are only appended, with a version bump. */
#define SB_EVENT_QUEUE_STATS_VERSION 1

typedef struct sb_event_queue_stats {
    unsigned int version;     /* set by the caller: SB_EVENT_QUEUE_STATS_VERSION */
    uint64_t pushed;          /* accepted by push */
    uint64_t popped;
    uint64_t dropped_moves;   /* queued pointer moves discarded to make room */
    uint64_t dropped_other;   /* non-move events refused because the queue was all non-moves */
    uint64_t rejected_invalid;/* pushes refused by sb_event_validate() */
    uint32_t depth;           /* records queued now */
    uint32_t capacity;
    /* The segment's health as seen by this handle. */
    uint64_t corrupt_reads;   /* reads that found head/count out of range (clamped) */
    uint32_t broken;          /* 1: the shm file was truncated under the mapping (for good) */
    uint32_t reserved_;       /* 0 */
} sb_event_queue_stats;

#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_EVENT_QUEUE_STATS_INIT { .version = SB_EVENT_QUEUE_STATS_VERSION }
#endif

/* Creates a queue and becomes its consumer (same shm hygiene as the frame ring). opts NULL =
 * defaults. */
SB_API int sb_event_queue_create(const sb_event_queue_options *opts, sb_event_queue **out);
/* Attaches to an existing shm queue as a producer; validates the segment like the ring. */
SB_API int sb_event_queue_attach(const char *shm_name, sb_event_queue **out);
/* NULL is ignored. The creator unlinks the segment. */
SB_API void sb_event_queue_destroy(sb_event_queue *q);
SB_API const char *sb_event_queue_name(const sb_event_queue *q);

/* Any thread/process. Validates the event (SB_EINVAL, counted), applies the full policy above
 * (SB_EFULL when the event itself had to be dropped). Never blocks for long: SB_ETIMEDOUT when
 * the queue's lock stays held by a live thread for 2 s (a stopped process or a corrupted
 * header), then single attempts until the lock frees. SB_EGONE once the consumer has destroyed
 * the queue; SB_EBADSEG once the segment was truncated under us. */
SB_API int sb_event_queue_push(sb_event_queue *q, const sb_event *e);
/* Consumer: moves up to max events into out (oldest first); *count gets how many (0 if empty).
 * Never blocks for long (SB_ETIMEDOUT after 250 ms on a lock held by a live thread). Records
 * come out as stored; with shm, any process that maps the queue can write them, so validate
 * each (sb_event_validate()) before use, as sb_stream's replay does. */
SB_API int sb_event_queue_pop(sb_event_queue *q, sb_event *out, size_t max, size_t *count);
/* Consumer: sleeps until the queue is non-empty, up to timeout_ms (-1 forever, 0 = poll).
 * SB_OK; SB_ETIMEDOUT when timeout_ms passed; SB_EWOKEN when sb_event_queue_wake() woke it
 * first with the queue still empty. */
SB_API int sb_event_queue_wait(sb_event_queue *q, int timeout_ms);
/* Wakes a consumer sleeping in sb_event_queue_wait (it then returns SB_OK, or SB_EWOKEN if the
 * queue is empty). Any thread. */
SB_API void sb_event_queue_wake(sb_event_queue *q);
/* Fills the first bytes of *stats that stats->version (set by the caller) has; changes nothing
 * (neither a counter nor, when it succeeds, sb_last_error()). Any thread. SB_EINVAL for NULL,
 * SB_EVERSION for a version this library does not know. */
SB_API int sb_event_queue_get_stats(const sb_event_queue *q, sb_event_queue_stats *stats);
/* Health of the segment, any thread: SB_OK, or SB_EBADSEG with the reason in sb_last_error()
 * (truncated under the mapping: broken for good; header fields overwritten; lock word held too
 * long). Push and pop validate what they use regardless. */
SB_API int sb_event_queue_check(const sb_event_queue *q);

SB_END_DECLS
#endif /* STREAMBRIDGE_EVENT_QUEUE_H */
