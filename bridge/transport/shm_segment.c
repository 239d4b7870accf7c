/* shm_segment.c - creation, validation, reclaiming and removal of the memory regions behind the
 * frame ring and the event queue (see shm_segment.h, docs/shm-layout.md). */
#include "shm_segment.h"

#include "sb_error_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Reads the state letter (field 3) and start time (field 22) of /proc/PID/stat. The command
 * name (field 2) may contain spaces and parentheses, so parsing starts after the LAST ')'. */
static int read_proc_stat(pid_t pid, char *state, uint64_t *start_time)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    *state = *p;
    /* p now points at field 3; field 22 is 19 fields further. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start_time = strtoull(p, NULL, 10);
    return 0;
}

uint64_t sb__process_start_time(pid_t pid)
{
    char state;
    uint64_t start = 0;
    if (read_proc_stat(pid, &state, &start) != 0)
        return 0;
    return start;
}

int sb__process_alive(int32_t pid, uint64_t start_time)
{
    if (pid <= 0)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    char state;
    uint64_t start = 0;
    if (read_proc_stat((pid_t)pid, &state, &start) != 0)
        return 1; /* exists (kill said so) but /proc is hidden from us: trust kill */
    if (state == 'Z' || state == 'X')
        return 0; /* exited, not yet reaped by its parent */
    if (start_time != 0 && start != start_time)
        return 0; /* the pid was reused by another process */
    return 1;
}

int sb__segment_creator_alive(const sb_shm_segment *seg)
{
    const sb_shm_common_header *h = sb__segment_common(seg);
    /* Only the exact value 1 means closed: other values are garbage from a foreign writer. */
    if (atomic_load_explicit(&h->closed, memory_order_acquire) == 1)
        return 0;
    if (!seg->is_shm || seg->creator_pid == (int32_t)getpid())
        return 1;
    /* The identity copied at attach, not the shared one, which anyone can overwrite. */
    return sb__process_alive(seg->creator_pid, seg->creator_start_time);
}

int sb__validate_stream_name(const char *func, const char *name)
{
    if (!name)
        return sb__set_error(SB_EINVAL, func, "stream name is NULL");
    size_t len = strlen(name);
    if (len == 0 || len > SB_SHM_NAME_MAX)
        return sb__set_error(SB_EINVAL, func, "stream name must have 1..%d characters, not %zu",
                             SB_SHM_NAME_MAX, len);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return sb__set_error(SB_EINVAL, func,
                                 "stream name \"%.*s\" has character 0x%02x at %zu; "
                                 "allowed: A-Z a-z 0-9 _ . -",
                                 SB_SHM_NAME_MAX, name, (unsigned char)c, i);
    }
    return SB_OK;
}

/* ---- segments to unlink at normal exit -------------------------------------------------------
 * A creator that returns from main() without destroying its ring must not leave /dev/shm litter.
 * Entries remember the creating pid: a forked child that exits must not unlink its parent's
 * segments. */
#define REGISTRY_MAX 64
static struct {
    char path[SB_SHM_NAME_MAX + 32];
    pid_t pid;
} registry[REGISTRY_MAX];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

static void unlink_registered_at_exit(void)
{
    pthread_mutex_lock(&registry_lock);
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i].path[0] && registry[i].pid == getpid())
            shm_unlink(registry[i].path);
        registry[i].path[0] = '\0';
    }
    pthread_mutex_unlock(&registry_lock);
}

static void register_atexit(void)
{
    atexit(unlink_registered_at_exit);
}

static void registry_add(const char *path)
{
    pthread_once(&registry_once, register_atexit);
    pthread_mutex_lock(&registry_lock);
    int added = 0;
    for (int i = 0; i < REGISTRY_MAX && !added; i++) {
        if (!registry[i].path[0]) {
            snprintf(registry[i].path, sizeof registry[i].path, "%s", path);
            registry[i].pid = getpid();
            added = 1;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!added)
        sb__log("more than %d live segments: /dev/shm%s will not be unlinked at exit unless "
                "destroyed", REGISTRY_MAX, path);
}

static void registry_remove(const char *path)
{
    pthread_mutex_lock(&registry_lock);
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i].path[0] && strcmp(registry[i].path, path) == 0 &&
            registry[i].pid == getpid()) {
            registry[i].path[0] = '\0';
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ---- SIGBUS guard ----------------------------------------------------------------------------
 * Any process that can open a segment can also ftruncate() it. An access to a page of a shared
 * mapping past the new end of its file raises SIGBUS, which by default kills the process: the
 * user's application (the frame writer) or the server. As libwayland-server does for wl_shm
 * pools, a process-wide handler looks the faulting address up in a table of our live shm
 * mappings; inside one, it maps anonymous zero pages over the whole mapping (MAP_FIXED), so the
 * faulting access completes when the handler returns, and marks the segment broken. Its owner
 * sees that flag after the copy and reports the stream broken. A fault anywhere else goes to the
 * handler that was installed before ours (or to the default action: the process dies as it
 * would have without us).
 *
 * The handler only does async-signal-safe things: atomic loads/stores on a static table and
 * mmap(2). Entries are published start-last and withdrawn start-first, before munmap(). */
#define GUARD_MAX 256
typedef struct guard_entry {
    _Atomic uintptr_t start; /* 0: entry unused (or being filled / withdrawn) */
    _Atomic uintptr_t end;
    _Atomic(sb_shm_segment *) seg;
} guard_entry;
static guard_entry guards[GUARD_MAX];
static struct sigaction previous_sigbus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static _Atomic int guard_installed;

static int map_zero_pages_over(void *start, size_t len)
{
    void *p = mmap(start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0);
    return p == MAP_FAILED ? -1 : 0;
}

static void sigbus_guard(int sig, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    uintptr_t addr = (uintptr_t)info->si_addr;
    for (int i = 0; i < GUARD_MAX; i++) {
        uintptr_t start = atomic_load_explicit(&guards[i].start, memory_order_acquire);
        if (!start || addr < start)
            continue;
        uintptr_t end = atomic_load_explicit(&guards[i].end, memory_order_relaxed);
        if (addr >= end)
            continue;
        if (map_zero_pages_over((void *)start, end - start) != 0)
            break; /* cannot repair: let the previous disposition decide */
        sb_shm_segment *seg = atomic_load_explicit(&guards[i].seg, memory_order_relaxed);
        if (seg)
            atomic_store_explicit(&seg->broken, 1, memory_order_release);
        errno = saved_errno;
        return;
    }
    errno = saved_errno;
    if ((previous_sigbus.sa_flags & SA_SIGINFO) && previous_sigbus.sa_sigaction) {
        previous_sigbus.sa_sigaction(sig, info, ucontext);
        return;
    }
    if (previous_sigbus.sa_handler != SIG_DFL && previous_sigbus.sa_handler != SIG_IGN) {
        previous_sigbus.sa_handler(sig);
        return;
    }
    /* Default (or ignored, which for a fault means death anyway): die of SIGBUS, as we would
     * have without the guard. SA_NODEFER leaves SIGBUS unblocked here, so raise() delivers it. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, NULL);
    raise(SIGBUS);
}

static void install_sigbus_guard(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sigbus_guard;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    if (sigaction(SIGBUS, &sa, &previous_sigbus) != 0) {
        sb__log("cannot install the SIGBUS guard (%s): a peer truncating a shared-memory "
                "segment can kill this process",
                strerror(errno));
        return;
    }
    atomic_store(&guard_installed, 1);
}

static void guard_add(sb_shm_segment *seg)
{
    pthread_once(&guard_once, install_sigbus_guard);
    for (int i = 0; i < GUARD_MAX; i++) {
        sb_shm_segment *none = NULL;
        if (!atomic_compare_exchange_strong(&guards[i].seg, &none, seg))
            continue;
        atomic_store_explicit(&guards[i].end, (uintptr_t)seg->base + seg->size,
                              memory_order_relaxed);
        atomic_store_explicit(&guards[i].start, (uintptr_t)seg->base, memory_order_release);
        return;
    }
    sb__log("more than %d shared-memory mappings: /dev/shm%s is not guarded against "
            "truncation (SIGBUS)",
            GUARD_MAX, seg->shm_path);
}

static void guard_remove(sb_shm_segment *seg)
{
    for (int i = 0; i < GUARD_MAX; i++) {
        if (atomic_load(&guards[i].seg) != seg)
            continue;
        atomic_store_explicit(&guards[i].start, 0, memory_order_release);
        atomic_store_explicit(&guards[i].end, 0, memory_order_relaxed);
        atomic_store(&guards[i].seg, NULL);
        return;
    }
}

/* Records why the segment broke, once, and logs it once. */
static void record_fault(sb_shm_segment *seg, const char *reason)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&seg->fault_state, &expected, 1))
        return;
    snprintf(seg->fault_reason, sizeof seg->fault_reason, "%s", reason);
    atomic_store_explicit(&seg->fault_state, 2, memory_order_release);
    sb__log("stream \"%s\": /dev/shm%s is broken: %s; this stream stops, everything else goes on",
            seg->stream_name, seg->shm_path, reason);
}

/* The file is shorter than the mapping: swap in zero pages before anything faults on it. */
static void break_truncated(sb_shm_segment *seg, long long file_size, const char *how)
{
    int already = atomic_exchange(&seg->broken, 1);
    if (!already)
        map_zero_pages_over(seg->base, seg->size);
    char reason[200];
    snprintf(reason, sizeof reason, "segment truncated to %lld of its %zu bytes by another "
             "process (%s)", file_size, seg->size, how);
    record_fault(seg, reason);
}

static int broken_error(const sb_shm_segment *seg, const char *func)
{
    return sb__set_error(SB_EBADSEG, func, "stream \"%s\" is broken: %s", seg->stream_name,
                         sb__segment_fault_reason(seg));
}

const char *sb__segment_fault_reason(const sb_shm_segment *seg)
{
    if (!sb__segment_is_broken(seg))
        return "";
    if (atomic_load_explicit(&seg->fault_state, memory_order_acquire) == 2)
        return seg->fault_reason;
    return "segment truncated by another process (an access faulted with SIGBUS)";
}

int sb__segment_check_cached(const sb_shm_segment *seg, const char *func)
{
    if (!sb__segment_is_broken(seg))
        return SB_OK;
    if (atomic_load_explicit(&seg->fault_state, memory_order_acquire) == 0) {
        /* The guard caught a fault (it cannot format text): say what happened, once. */
        sb_shm_segment *mut = (sb_shm_segment *)(uintptr_t)seg;
        struct stat st;
        long long size = seg->fd >= 0 && fstat(seg->fd, &st) == 0 ? (long long)st.st_size : -1;
        char reason[200];
        snprintf(reason, sizeof reason, "segment truncated to %lld of its %zu bytes by another "
                 "process (an access faulted with SIGBUS)", size, seg->size);
        record_fault(mut, reason);
    }
    return broken_error(seg, func);
}

int sb__segment_check(sb_shm_segment *seg, const char *func)
{
    if (!seg->is_shm || seg->fd < 0)
        return SB_OK;
    if (!atomic_load_explicit(&seg->broken, memory_order_acquire)) {
        struct stat st;
        if (fstat(seg->fd, &st) != 0 || (uint64_t)st.st_size >= (uint64_t)seg->size)
            return SB_OK;
        break_truncated(seg, (long long)st.st_size, "seen by a size check");
    }
    return sb__segment_check_cached(seg, func);
}

/* ---- creation ------------------------------------------------------------------------------ */

static void generate_name(char *out, size_t cap)
{
    static _Atomic unsigned counter;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)sb__monotonic_ns();
    snprintf(out, cap, "p%d-%u-%08x", (int)getpid(), atomic_fetch_add(&counter, 1) + 1, rnd);
}

static int create_heap(const char *func, size_t size, sb_shm_segment *seg)
{
    /* An anonymous mapping: page-aligned like the shm one, zero-filled, and pages untouched by
     * a small frame cost nothing. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return sb__set_error(SB_ENOMEM, func, "cannot allocate %zu bytes: %s", size,
                             strerror(errno));
    seg->base = p;
    seg->size = size;
    seg->is_shm = 0;
    return SB_OK;
}

/* What to do with a segment found under our path. Refusing it (a live creator's, a foreign one)
 * is an error instead. */
enum existing_verdict {
    EXISTING_VANISHED, /* gone since our O_EXCL open failed: retry at once, nothing to unlink */
    EXISTING_RECLAIM   /* left by a dead or closed creator, or never completed: unlink, retry */
};

/* Decides what to do with a segment already present under our path: SB_OK with *verdict, or
 * the error that refuses it. */
static int judge_existing(const char *func, const char *path, uint64_t magic, int *verdict)
{
    int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT) {
            /* Unlinking now could remove a segment a new creator made in between. */
            *verdict = EXISTING_VANISHED;
            return SB_OK;
        }
        return sb__set_error(SB_EEXIST, func, "/dev/shm%s exists and cannot be inspected: %s",
                             path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sb__set_error(SB_EIO, func, "fstat(/dev/shm%s): %s", path, strerror(e));
    }
    sb_shm_common_header h;
    memset(&h, 0, sizeof h);
    int complete_header = 0;
    if ((size_t)st.st_size >= sizeof h) {
        void *p = mmap(NULL, sizeof h, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            memcpy(&h, p, sizeof h);
            munmap(p, sizeof h);
            complete_header = 1;
        }
    }
    close(fd);
    uint64_t found_magic = atomic_load_explicit(&h.magic, memory_order_relaxed);
    if (!complete_header || found_magic == 0) {
        /* Shorter than a header or never finished: a creator that died while creating. */
        sb__log("reclaiming /dev/shm%s: incomplete segment (%lld bytes) of a creator that died "
                "while creating it",
                path, (long long)st.st_size);
        *verdict = EXISTING_RECLAIM;
        return SB_OK;
    }
    if (found_magic != magic)
        return sb__set_error(SB_EBADSEG, func,
                             "/dev/shm%s exists and is not ours (magic 0x%016llx, expected "
                             "0x%016llx); leaving it alone",
                             path, (unsigned long long)found_magic, (unsigned long long)magic);
    int closed = atomic_load_explicit(&h.closed, memory_order_relaxed) != 0;
    if (!closed && sb__process_alive(h.creator_pid, h.creator_start_time))
        return sb__set_error(SB_EEXIST, func, "/dev/shm%s is held by live process %d", path,
                             (int)h.creator_pid);
    sb__log("reclaiming /dev/shm%s left by %s process %d", path, closed ? "closed" : "dead",
            (int)h.creator_pid);
    *verdict = EXISTING_RECLAIM;
    return SB_OK;
}

int sb__segment_create(const char *func, const char *stream_name, const char *suffix,
                       uint64_t magic, size_t size, sb_shm_segment *seg)
{
    memset(seg, 0, sizeof *seg);
    seg->fd = -1;
    if (size < sizeof(sb_shm_common_header))
        return sb__set_error(SB_EINTERNAL, func, "segment size %zu too small", size);
    int rc;
    if (!stream_name) {
        rc = create_heap(func, size, seg);
        if (rc != SB_OK)
            return rc;
    } else {
        if (stream_name[0] == '\0') {
            generate_name(seg->stream_name, sizeof seg->stream_name);
        } else {
            if ((rc = sb__validate_stream_name(func, stream_name)) != SB_OK)
                return rc;
            snprintf(seg->stream_name, sizeof seg->stream_name, "%s", stream_name);
        }
        snprintf(seg->shm_path, sizeof seg->shm_path, "/streambridge-%s-%s", seg->stream_name,
                 suffix);
        int fd = -1;
        for (int attempt = 0; attempt < 4 && fd < 0; attempt++) {
            fd = shm_open(seg->shm_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0)
                break;
            if (errno != EEXIST)
                return sb__set_error(SB_EIO, func, "shm_open(/dev/shm%s): %s", seg->shm_path,
                                     strerror(errno));
            int verdict = EXISTING_VANISHED;
            if ((rc = judge_existing(func, seg->shm_path, magic, &verdict)) != SB_OK)
                return rc;
            if (verdict == EXISTING_RECLAIM && shm_unlink(seg->shm_path) != 0 && errno != ENOENT)
                return sb__set_error(SB_EIO, func, "cannot reclaim /dev/shm%s: %s",
                                     seg->shm_path, strerror(errno));
        }
        if (fd < 0)
            return sb__set_error(SB_EEXIST, func, "/dev/shm%s keeps reappearing", seg->shm_path);
        /* From here on the file is ours: remove it on every failure path. */
        if (ftruncate(fd, (off_t)size) != 0) {
            int e = errno;
            close(fd);
            shm_unlink(seg->shm_path);
            return sb__set_error(e == ENOSPC || e == EFBIG ? SB_ENOMEM : SB_EIO, func,
                                 "ftruncate(/dev/shm%s, %zu): %s", seg->shm_path, size,
                                 strerror(e));
        }
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        int e = errno;
        if (p == MAP_FAILED) {
            close(fd);
            shm_unlink(seg->shm_path);
            return sb__set_error(SB_ENOMEM, func, "mmap(/dev/shm%s, %zu): %s", seg->shm_path,
                                 size, strerror(e));
        }
        seg->base = p;
        seg->size = size;
        seg->is_shm = 1;
        seg->fd = fd;
        registry_add(seg->shm_path);
        guard_add(seg);
    }
    seg->is_creator = 1;
    seg->creator_pid = (int32_t)getpid();
    seg->creator_start_time = sb__process_start_time(getpid());
    sb_shm_common_header *h = sb__segment_common(seg);
    h->total_size = size;
    h->creator_pid = seg->creator_pid;
    h->creator_start_time = seg->creator_start_time;
    atomic_store_explicit(&h->heartbeat_ns, sb__realtime_ns(), memory_order_relaxed);
    return SB_OK;
}

void sb__segment_publish(sb_shm_segment *seg, uint64_t magic, uint32_t layout_version,
                         uint32_t header_size)
{
    sb_shm_common_header *h = sb__segment_common(seg);
    h->layout_version = layout_version;
    h->header_size = header_size;
    atomic_store_explicit(&h->magic, magic, memory_order_release);
}

/* ---- attach -------------------------------------------------------------------------------- */

/* Opens the existing segment at path read-write. */
static int open_existing(const char *func, const char *path, int *fd)
{
    *fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (*fd >= 0)
        return SB_OK;
    if (errno == ENOENT)
        return sb__set_error(SB_ENOENT, func, "no segment /dev/shm%s", path);
    return sb__set_error(SB_EIO, func, "shm_open(/dev/shm%s): %s", path, strerror(errno));
}

/* Maps the whole file fd once it holds at least a header and its magic is set. The creator
 * stores magic last; a segment caught mid-creation gets a short grace period. Closes fd on
 * failure. */
static int map_when_complete(const char *func, const char *path, int fd, uint32_t header_size,
                             void **base, size_t *size)
{
    for (int attempt = 0;; attempt++) {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            return sb__set_error(SB_EIO, func, "fstat(/dev/shm%s): %s", path, strerror(e));
        }
        *size = (size_t)st.st_size;
        /* The magic is read with pread(), not through a mapping: the file may shrink at any
         * moment, and the mapping is guarded against that only once it is registered. */
        uint64_t found_magic = 0;
        if (*size >= header_size &&
            pread(fd, &found_magic, sizeof found_magic, 0) == (ssize_t)sizeof found_magic &&
            found_magic != 0) {
            *base = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (*base != MAP_FAILED)
                return SB_OK;
            int e = errno;
            close(fd);
            return sb__set_error(SB_EIO, func, "mmap(/dev/shm%s, %zu): %s", path, *size,
                                 strerror(e));
        }
        if (attempt >= 20)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    if (*size < header_size)
        return sb__set_error(SB_EBADSEG, func,
                             "/dev/shm%s is too small: %zu bytes, a header needs %u", path, *size,
                             header_size);
    return sb__set_error(SB_EBADSEG, func,
                         "/dev/shm%s was never completed (magic 0): its creator died while "
                         "creating it",
                         path);
}

/* Checks the common header of a mapped (and guarded) segment against what the caller reads. */
static int check_common_header(const char *func, sb_shm_segment *seg, uint64_t magic,
                               uint32_t layout_version, uint32_t header_size)
{
    const char *path = seg->shm_path;
    const sb_shm_common_header *h = sb__segment_common(seg);
    uint64_t found = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (found != magic) {
        char text[9];
        for (int i = 0; i < 8; i++) {
            char c = (char)(found >> (8 * i));
            text[i] = (c >= 32 && c < 127) ? c : '?';
        }
        text[8] = '\0';
        return sb__set_error(SB_EBADSEG, func,
                             "/dev/shm%s has wrong magic 0x%016llx (\"%s\"), expected 0x%016llx",
                             path, (unsigned long long)found, text, (unsigned long long)magic);
    }
    if (h->layout_version != layout_version)
        return sb__set_error(SB_EBADSEG, func,
                             "/dev/shm%s has layout version %u, this library reads version %u",
                             path, h->layout_version, layout_version);
    if (h->header_size != header_size)
        return sb__set_error(SB_EBADSEG, func,
                             "/dev/shm%s has header size %u, layout version %u defines %u", path,
                             h->header_size, layout_version, header_size);
    if (h->total_size != seg->size)
        return sb__set_error(SB_EBADSEG, func,
                             "/dev/shm%s claims %llu bytes but the file has %zu", path,
                             (unsigned long long)h->total_size, seg->size);
    if (sb__segment_check(seg, func) != SB_OK)
        return SB_EBADSEG; /* truncated while we were reading the header */
    return SB_OK;
}

/* Undoes a mapping that failed its checks. */
static void unmap_rejected(sb_shm_segment *seg)
{
    guard_remove(seg);
    munmap(seg->base, seg->size);
    close(seg->fd);
    seg->fd = -1;
    seg->base = NULL;
}

int sb__segment_attach(const char *func, const char *stream_name, const char *suffix,
                       uint64_t magic, uint32_t layout_version, uint32_t header_size,
                       sb_shm_segment *seg)
{
    memset(seg, 0, sizeof *seg);
    seg->fd = -1;
    int rc = sb__validate_stream_name(func, stream_name);
    if (rc != SB_OK)
        return rc;
    snprintf(seg->stream_name, sizeof seg->stream_name, "%s", stream_name);
    snprintf(seg->shm_path, sizeof seg->shm_path, "/streambridge-%s-%s", stream_name, suffix);
    int fd;
    if ((rc = open_existing(func, seg->shm_path, &fd)) != SB_OK)
        return rc;
    void *base = NULL;
    size_t size = 0;
    if ((rc = map_when_complete(func, seg->shm_path, fd, header_size, &base, &size)) != SB_OK)
        return rc;
    seg->base = base;
    seg->size = size;
    seg->is_shm = 1;
    seg->is_creator = 0;
    seg->fd = fd;
    /* Guarded from the first header read on: the file may be truncated at any moment. */
    guard_add(seg);
    if ((rc = check_common_header(func, seg, magic, layout_version, header_size)) != SB_OK) {
        unmap_rejected(seg);
        return rc;
    }
    const sb_shm_common_header *h = sb__segment_common(seg);
    seg->creator_pid = h->creator_pid;
    seg->creator_start_time = h->creator_start_time;
    return SB_OK;
}

void sb__segment_destroy(sb_shm_segment *seg)
{
    if (!seg || !seg->base)
        return;
    /* A forked child inherits the creator's handle but must not close its parent's segment. */
    int owner = seg->is_creator && seg->creator_pid == (int32_t)getpid();
    if (owner)
        atomic_store_explicit(&sb__segment_common(seg)->closed, 1, memory_order_release);
    if (seg->is_shm)
        guard_remove(seg);
    munmap(seg->base, seg->size);
    seg->base = NULL;
    if (seg->fd >= 0)
        close(seg->fd);
    seg->fd = -1;
    if (seg->is_shm && owner) {
        shm_unlink(seg->shm_path);
        registry_remove(seg->shm_path);
    }
}
