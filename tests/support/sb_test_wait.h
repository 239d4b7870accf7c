/* sb_test_wait.h - how the C tests wait: for a condition, until one generous deadline.
 *
 * A test never asserts on machine speed (tests/README.md): it waits for a condition (a newer
 * frame, a counter, a closed socket) and fails only when the condition never comes within
 * ST_DEADLINE_MS. */
#ifndef SB_TEST_WAIT_H
#define SB_TEST_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How long a test waits for a condition (a frame, an event, a wake-up, a server answer) before
 * calling it failed: tens of seconds, so the sanitizers and parallel tests on a loaded 2-core
 * machine make a test slower, never red. A blocking wait that must be woken uses it as its
 * timeout. The one deadline of every C test. */
#define ST_DEADLINE_MS 60000
/* How often the wait helpers look again. */
#define ST_POLL_MS 5

/* CLOCK_MONOTONIC now, in ns and in ms. */
uint64_t st_now_ns(void);
uint64_t st_now_ms(void);

/* Waits ms. Only as the poll interval of a wait helper, to pace a producer, to let another
 * thread get to its wait first, or as the grace period before asserting that something did
 * NOT happen; never between an action and an assertion about its effect: wait for the effect
 * (ST_WAIT_UNTIL). See tests/README.md. */
void st_sleep_ms(long ms);

/* Evaluates cond until it is true or timeout_ms passed; ok (a bool lvalue) receives the last
 * result. The general "wait until a condition or a deadline" of the C tests:
 *     bool quiet;
 *     ST_WAIT_UNTIL(quiet, st_server_stats(f.srv).clients == 0, ST_DEADLINE_MS);
 *     CU_ASSERT(quiet); */
#define ST_WAIT_UNTIL(ok, cond, timeout_ms)                                                \
    do {                                                                                   \
        uint64_t st_wait_deadline_ = st_now_ns() + (uint64_t)(timeout_ms) * 1000000ull;    \
        while (!((ok) = (cond)) && st_now_ns() < st_wait_deadline_)                        \
            st_sleep_ms(ST_POLL_MS);                                                       \
    } while (0)

/* The same for a condition that is a function: true once cond(arg) returned true, false when
 * timeout_ms passed first. */
bool st_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* SB_TEST_WAIT_H */
