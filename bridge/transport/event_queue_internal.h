/* event_queue_internal.h - private: the event queue handle (struct sb_event_queue), shared by
 * event_queue.c and white-box tests. The tests reach the segment through seg.base and then only
 * use the documented layout (docs/shm-layout.md), e.g. to take the lock word and die holding it;
 * no function here exists for tests, so nothing test-only is compiled into the library. */
#ifndef SB_EVENT_QUEUE_INTERNAL_H
#define SB_EVENT_QUEUE_INTERNAL_H

#include "streambridge/event_queue.h"

#include "shm_segment.h"

#include <stdatomic.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct queue_header; /* the 256-byte header of docs/shm-layout.md, defined in event_queue.c */

struct sb_event_queue {
    sb_shm_segment seg;         /* seg.base: the segment, heap or shm, same bytes */
    struct queue_header *hdr;
    sb_event *records;
    uint32_t capacity;          /* validated copy: the shared one may be overwritten later */
    _Atomic int lock_wedged;    /* the last lock attempt timed out */
    _Atomic int logged_repair;  /* a lock recovery or a corruption repair was logged */
    _Atomic uint64_t corrupt_reads;
};

#ifdef __cplusplus
}
#endif
#endif /* SB_EVENT_QUEUE_INTERNAL_H */
