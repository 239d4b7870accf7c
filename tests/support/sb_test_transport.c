/* sb_test_transport.c - see sb_test_transport.h. */
#include "sb_test_transport.h"

#include "sb_test_wait.h"

#include "streambridge/error.h"
#include "streambridge/frame_ring.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tt_name(const char *tag)
{
    static char names[8][64];
    static unsigned counter;
    char *n = names[counter % 8];
    snprintf(n, sizeof names[0], "t%d-%s-%u", (int)getpid(), tag, counter);
    counter++;
    return n;
}

const char *tt_shm_path(const char *name, const char *suffix)
{
    static char path[256];
    snprintf(path, sizeof path, "/streambridge-%s-%s", name, suffix);
    return path;
}

int tt_segment_exists(const char *name, const char *suffix)
{
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/streambridge-%s-%s", name, suffix);
    return stat(path, &st) == 0;
}

const char *tt_set_marker_error(void)
{
    static char marker[512];
    sb_frame_ring *none = NULL;
    sb_frame_ring_attach(NULL, &none); /* SB_EINVAL: shm_name is NULL */
    snprintf(marker, sizeof marker, "%s", sb_last_error());
    return marker;
}

int tt_forge_segment(const char *name, const char *suffix, const void *bytes, size_t size)
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

uint8_t *tt_map_segment(const char *name, const char *suffix, size_t *size)
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

void tt_unlink(const char *name, const char *suffix)
{
    shm_unlink(tt_shm_path(name, suffix));
}

int tt_queue_take_lock(uint8_t *base)
{
    _Atomic uint32_t *lock = (_Atomic uint32_t *)(void *)(base + TT_QUEUE_LOCK_OFFSET);
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    for (;;) {
        uint32_t expected = 0;
        if (atomic_compare_exchange_strong(lock, &expected, me))
            return 1;
        if (st_now_ms() >= deadline)
            return 0;
        st_sleep_ms(ST_POLL_MS);
    }
}

pid_t tt_fork_ready_then_pause(int (*child_setup)(void *), void *arg, int *ready_ok)
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

int tt_wait_child(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
