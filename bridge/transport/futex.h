/* futex.h - private: sleep on / wake a 32-bit word, also across processes when the word lives
 * in shared memory. The private variants are cheaper and right for heap (single-process) data. */
#ifndef SB_FUTEX_H
#define SB_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expected, at most timeout_ns (< 0: no limit). Returns 0 when woken
 * (or the word already differed), ETIMEDOUT, or EINTR; spurious wake-ups are possible, so
 * callers re-check their condition. */
static inline int sb__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns,
                                 int process_shared)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)(void *)word,
                     process_shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
    if (r == 0)
        return 0;
    if (errno == EAGAIN)
        return 0;
    return errno;
}

static inline void sb__futex_wake_all(_Atomic uint32_t *word, int process_shared)
{
    syscall(SYS_futex, (uint32_t *)(void *)word, process_shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE,
            INT_MAX, NULL, NULL, 0);
}

#endif /* SB_FUTEX_H */
