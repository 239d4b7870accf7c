/* sb_test_transport.h - helpers shared by the frame ring and event queue tests: unique stream
 * names (tests of several build trees may run at once), forging and inspecting /dev/shm files,
 * taking a queue's lock word as any process may (docs/shm-layout.md), forked children. */
#ifndef SB_TEST_TRANSPORT_H
#define SB_TEST_TRANSPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A stream name no other test process uses: "t<pid>-<tag>-<n>". The returned string lives
 * until eight more names were made. */
const char *tt_name(const char *tag);

/* "/streambridge-NAME-SUFFIX", the shm_open path of a stream's segment (a static buffer,
 * overwritten by the next call). */
const char *tt_shm_path(const char *name, const char *suffix);

/* Whether /dev/shm/streambridge-NAME-SUFFIX exists. */
int tt_segment_exists(const char *name, const char *suffix);

/* Creates /dev/shm/streambridge-NAME-SUFFIX with exactly these bytes (mode 0600). 0 or -1. */
int tt_forge_segment(const char *name, const char *suffix, const void *bytes, size_t size);

/* Maps an existing segment read-write so a test can corrupt single fields of a real header.
 * NULL if it cannot; unmap with munmap(p, *size). */
uint8_t *tt_map_segment(const char *name, const char *suffix, size_t *size);

void tt_unlink(const char *name, const char *suffix);

/* Leaves a known error in this thread's sb_last_error() (from a call that fails before it
 * touches any stream) and returns a copy of its text (a static buffer, overwritten by the next
 * call): a test then checks that a later successful call left the caller's error alone. */
const char *tt_set_marker_error(void);

/* ---- the documented layout, read from the outside (docs/shm-layout.md) ----------------------- */

/* Queue header: the u32 lock word ("Queue lock": 0 free, else the holder's Linux thread id). */
#define TT_QUEUE_LOCK_OFFSET 128u
/* Takes the lock of the queue whose segment starts at base as the layout lets any process
 * take it: compare-and-swap the lock word from 0 to the caller's thread id. Returns 1 once it
 * holds the lock (waiting up to ST_DEADLINE_MS for a holder to release it), 0 if it never
 * could. The caller never releases it: tests use this to die (thread exit, SIGKILL) holding
 * the lock. */
int tt_queue_take_lock(uint8_t *base);

/* ---- tests run on both backends and in forked children --------------------------------------- */

/* Defines test_heap_SUFFIX and test_shm_SUFFIX, which run run_on(NULL) (a heap object) and
 * run_on(a fresh shm stream name tagged tag). */
#define TT_TEST_ON_HEAP_AND_SHM(heap_suffix, shm_suffix, run_on, tag)                               \
    static void test_heap_##heap_suffix(void) { run_on(NULL); }                                    \
    static void test_shm_##shm_suffix(void) { run_on(tt_name(tag)); }

/* Forks a child that runs child_setup(arg), reports its result (nonzero = ok) on a pipe and then
 * waits to be killed. *ready_ok says whether the child reported ok; the child's pid, or -1. */
pid_t tt_fork_ready_then_pause(int (*child_setup)(void *), void *arg, int *ready_ok);

/* Exit status of a child, -1 if it did not exit normally. */
int tt_wait_child(pid_t pid);

#endif /* SB_TEST_TRANSPORT_H */
