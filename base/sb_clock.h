/* sb_clock.h - private: the two clocks every layer uses, in nanoseconds.
 *   realtime:  CLOCK_REALTIME, comparable across processes (frame capture times, heartbeats,
 *              wire timestamps);
 *   monotonic: CLOCK_MONOTONIC, for intervals and deadlines within a process. */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sb__realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sb__monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* SB_CLOCK_H */
