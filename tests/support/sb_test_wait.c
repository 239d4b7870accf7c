/* sb_test_wait.c - see sb_test_wait.h. */
#include "sb_test_wait.h"

#include <time.h>

uint64_t st_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t st_now_ms(void)
{
    return st_now_ns() / 1000000ull;
}

void st_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool st_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    bool ok;
    ST_WAIT_UNTIL(ok, cond(arg), timeout_ms);
    return ok;
}
