/* event_queue_internal.h - private hooks of the event queue for tests only. */
#ifndef SB_EVENT_QUEUE_INTERNAL_H
#define SB_EVENT_QUEUE_INTERNAL_H

#include "streambridge/event_queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Takes the queue's lock and keeps it (so a test can kill the holder and check that the
 * lock recovers). Returns 0 once the lock is held. Never use outside tests. */
int sb__event_queue_test_lock(sb_event_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* SB_EVENT_QUEUE_INTERNAL_H */
