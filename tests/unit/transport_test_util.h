/* transport_test_util.h - helpers shared by the frame ring and event queue tests: unique stream
 * names (tests of several build trees may run at once), forging and inspecting /dev/shm files. */
#ifndef TRANSPORT_TEST_UTIL_H
#define TRANSPORT_TEST_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A stream name no other test process uses: "t<pid>-<tag>-<n>". */
static inline const char *tt_name(const char *tag)
{
    static char names[8][64];
    static unsigned counter;
    char *n = names[counter % 8];
    snprintf(n, sizeof names[0], "t%d-%s-%u", (int)getpid(), tag, counter);
    counter++;
    return n;
}

/* "/streambridge-NAME-SUFFIX", the shm_open path of a stream's segment. */
static inline const char *tt_shm_path(const char *name, const char *suffix)
{
    static char path[256];
    snprintf(path, sizeof path, "/streambridge-%s-%s", name, suffix);
    return path;
}

static inline int tt_segment_exists(const char *name, const char *suffix)
{
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/streambridge-%s-%s", name, suffix);
    return stat(path, &st) == 0;
}

/* Creates /dev/shm/streambridge-NAME-SUFFIX with exactly these bytes (mode 0600). */
static inline int tt_forge_segment(const char *name, const char *suffix, const void *bytes,
                                   size_t size)
{
    int fd = shm_open(tt_shm_path(name, suffix), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int rc = 0;
    if (ftruncate(fd, (off_t)size) != 0 || (size && pwrite(fd, bytes, size, 0) != (ssize_t)size))
        rc = -1;
    close(fd);
    return rc;
}

/* Maps an existing segment read-write so a test can corrupt single fields of a real header. */
static inline uint8_t *tt_map_segment(const char *name, const char *suffix, size_t *size)
{
    int fd = shm_open(tt_shm_path(name, suffix), O_RDWR, 0);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *p = NULL;
    if (fstat(fd, &st) == 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            p = m;
            *size = (size_t)st.st_size;
        }
    }
    close(fd);
    return p;
}

static inline void tt_unlink(const char *name, const char *suffix)
{
    shm_unlink(tt_shm_path(name, suffix));
}

static inline uint64_t tt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* How long a test waits for a condition (a frame, an event, a wake-up) before calling it failed:
 * tens of seconds, so a loaded machine makes a test slower, never red (tests/README.md). A wait
 * that must be woken uses this as its timeout and checks it returned before it. */
#define TT_DEADLINE_MS 60000

/* Waits ms. Only to let another thread get to its wait first, to pace a producer, or as a poll
 * interval; never between an action and an assertion about its effect. */
static inline void tt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Defines test_heap_SUFFIX and test_shm_SUFFIX, which run run_on(NULL) (a heap object) and
 * run_on(a fresh shm stream name tagged tag). */
#define TT_TEST_ON_HEAP_AND_SHM(heap_suffix, shm_suffix, run_on, tag)                               \
    static void test_heap_##heap_suffix(void) { run_on(NULL); }                                    \
    static void test_shm_##shm_suffix(void) { run_on(tt_name(tag)); }

/* Forks a child that runs child_setup(arg), reports its result (nonzero = ok) on a pipe and then
 * waits to be killed. *ready_ok says whether the child reported ok; the child's pid, or -1. */
static inline pid_t tt_fork_ready_then_pause(int (*child_setup)(void *), void *arg, int *ready_ok)
{
    int fds[2];
    *ready_ok = 0;
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char ok = child_setup(arg) ? 'y' : 'n';
        if (write(fds[1], &ok, 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    close(fds[1]);
    char ok = 'n';
    *ready_ok = read(fds[0], &ok, 1) == 1 && ok == 'y';
    close(fds[0]);
    return pid;
}

/* Exit status of a child, -1 if it did not exit normally. */
static inline int tt_wait_child(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif /* TRANSPORT_TEST_UTIL_H */
