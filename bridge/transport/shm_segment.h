/* shm_segment.h - private: one memory region holding a frame ring or an event queue, either
 * malloc'ed-equivalent (heap backend: anonymous private mapping) or a POSIX shm segment
 * (/dev/shm/streambridge-NAME-SUFFIX). Both backends get the same bytes, so the ring and queue
 * logic is written once; only create/attach/destroy differ. Layout: docs/shm-layout.md. */
#ifndef SB_SHM_SEGMENT_H
#define SB_SHM_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sb_clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest stream name accepted (the NAME in streambridge-NAME-ring). */
#define SB_SHM_NAME_MAX 100

/* The first 48 bytes of every segment, whatever it holds, so that hygiene (reclaiming a dead
 * creator's segment, refusing a foreign one) needs no knowledge of the payload. */
typedef struct sb_shm_common_header {
    _Atomic uint64_t magic;       /*  0: written LAST by the creator (release), 0 while creating */
    uint32_t layout_version;      /*  8 */
    uint32_t header_size;         /* 12 */
    uint64_t total_size;          /* 16: bytes of the whole segment == file size */
    int32_t creator_pid;          /* 24 */
    _Atomic uint32_t closed;      /* 28: 1 once the creator destroyed it */
    uint64_t creator_start_time;  /* 32: /proc/PID/stat field 22 (clock ticks since boot) */
    _Atomic uint64_t heartbeat_ns;/* 40: CLOCK_REALTIME of the creator's last sign of life */
} sb_shm_common_header;

_Static_assert(sizeof(sb_shm_common_header) == 48, "common header is 48 bytes");

typedef struct sb_shm_segment {
    uint8_t *base;       /* the mapping; starts with sb_shm_common_header */
    size_t size;
    int is_shm;          /* 0: heap backend */
    int is_creator;
    int fd;              /* shm: kept open so the file size can be checked (fstat); -1 for heap */
    /* The creator's identity, copied when the segment was created or attached (and checked
     * then): the copy in the shared header can be overwritten by any process that maps it. */
    int32_t creator_pid;
    uint64_t creator_start_time;
    /* Set (by the SIGBUS guard or by a size check) once the file was truncated under the
     * mapping: from then on the mapping is anonymous zero pages and the segment is broken for
     * good. fault_state: 0 sound, 1 reason being written, 2 reason written. */
    _Atomic int broken;
    _Atomic int fault_state;
    char fault_reason[200];
    char stream_name[SB_SHM_NAME_MAX + 1];  /* "" for heap */
    char shm_path[SB_SHM_NAME_MAX + 32];    /* "/streambridge-NAME-SUFFIX" for shm_open */
} sb_shm_segment;

static inline sb_shm_common_header *sb__segment_common(const sb_shm_segment *seg)
{
    return (sb_shm_common_header *)(void *)seg->base;
}

/* Creates a zero-filled region of size bytes. stream_name NULL: heap backend; otherwise the shm
 * segment /dev/shm/streambridge-NAME-SUFFIX ("" generates a unique NAME), reclaiming one left by
 * a dead creator with the same magic, refusing (SB_EEXIST) one of a live creator and (SB_EBADSEG)
 * a foreign one. Fills creator_pid, creator_start_time, total_size and heartbeat; the caller
 * fills the rest and then calls sb__segment_publish(). Errors are reported in func's name. */
int sb__segment_create(const char *func, const char *stream_name, const char *suffix,
                       uint64_t magic, size_t size, sb_shm_segment *seg);
/* Makes the segment visible to attachers: stores layout version, header size and, last, magic. */
void sb__segment_publish(sb_shm_segment *seg, uint64_t magic, uint32_t layout_version,
                         uint32_t header_size);
/* Maps an existing segment after checking size, magic, layout version, header size and
 * total size. The payload-specific checks are the caller's. */
int sb__segment_attach(const char *func, const char *stream_name, const char *suffix,
                       uint64_t magic, uint32_t layout_version, uint32_t header_size,
                       sb_shm_segment *seg);
/* Unmaps; the creator first marks the segment closed and unlinks it. */
void sb__segment_destroy(sb_shm_segment *seg);

/* SB_OK while the segment is sound. SB_EBADSEG (reason in func's name) once it is broken: the
 * SIGBUS guard caught an access past the end of a truncated file, or the file is now shorter
 * than the mapping (one fstat; call it before copying a frame, so the common case never
 * faults). The first caller to see the breakage logs it once; later calls return at once. */
int sb__segment_check(sb_shm_segment *seg, const char *func);
/* The same verdict without a system call: SB_OK unless the segment is already known broken. */
int sb__segment_check_cached(const sb_shm_segment *seg, const char *func);
/* 1 once the segment is broken (the verdict of sb__segment_check_cached()), reporting nothing:
 * for get_stats, which must change no state, not even the caller's sb_last_error(). */
static inline int sb__segment_is_broken(const sb_shm_segment *seg)
{
    return atomic_load_explicit(&seg->broken, memory_order_acquire);
}
/* "" while sound, otherwise why the segment is broken. Owned by seg, stable once written. */
const char *sb__segment_fault_reason(const sb_shm_segment *seg);

/* 1 while the creator has not closed the segment and its process (pid + start time) runs. */
int sb__segment_creator_alive(const sb_shm_segment *seg);
/* 1 when process pid runs and (start_time != 0) started at start_time; zombies count as dead. */
int sb__process_alive(int32_t pid, uint64_t start_time);
/* /proc/PID/stat field 22, 0 if unreadable. */
uint64_t sb__process_start_time(pid_t pid);
/* SB_OK when name is a valid stream name ([A-Za-z0-9_.-], 1..SB_SHM_NAME_MAX chars). */
int sb__validate_stream_name(const char *func, const char *name);


#ifdef __cplusplus
}
#endif
#endif /* SB_SHM_SEGMENT_H */
