/* fuzz_shm_attach.c - libFuzzer target: arbitrary bytes as a stream's shm segment, attached with
 * the real attach functions; when the attach accepts them, the reader paths run over them (stats,
 * health check, newest frame with every pixel read, wait; queue stats, check, pop, push, wait).
 * Whatever the bytes, nothing may crash, read outside the mapping, hang or trip a sanitizer.
 *
 * Input: byte 0 selects the segment (bit 0: 0 frame ring, 1 event queue); the rest is the file.
 * Seeds: tests/fuzz/corpus/shm_attach/ (real segments made by make_shm_attach_corpus.c, plus
 * truncated and bit-flipped variants). Rings need inputs of 12 KiB and more: run with
 * -max_len=65536. */
/* shm_open, kill, pread are POSIX, outside the project's strict C11. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEADER_SIZE 256     /* both segments, docs/shm-layout.md */
#define QUEUE_LOCK_OFFSET 128

static void exercise_ring(sb_frame_ring *ring)
{
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(ring, &st);
    sb_frame_ring_check(ring);
    uint64_t latest = sb_frame_ring_latest_seq(ring);
    sb_frame f;
    if (sb_frame_ring_acquire(ring, &f) == SB_OK) {
        /* Every byte acquire vouches for must lie inside the mapping (ASan would say). */
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)f.info.stride * f.info.height; i++)
            sum += f.pixels[i];
        (void)sum;
        sb_frame_ring_release(ring, &f);
    }
    sb_frame_ring_wait(ring, latest, 0, NULL);
}

/* 1 when the input's lock word names a live process or thread: push and pop would then wait
 * out their 2 s / 250 ms bound on every such input (correct, but useless for fuzzing speed). */
static int lock_word_names_a_live_thread(const uint8_t *segment)
{
    uint32_t owner;
    memcpy(&owner, segment + QUEUE_LOCK_OFFSET, sizeof owner);
    return owner != 0 && owner <= INT32_MAX && kill((pid_t)owner, 0) == 0;
}

static void exercise_queue(sb_event_queue *q, const uint8_t *segment)
{
    sb_event_queue_stats st = SB_EVENT_QUEUE_STATS_INIT;
    sb_event_queue_get_stats(q, &st);
    sb_event_queue_check(q);
    if (!lock_word_names_a_live_thread(segment)) {
        sb_event out[8];
        size_t n = 0;
        sb_event_queue_pop(q, out, 8, &n);
        sb_event e;
        memset(&e, 0, sizeof e);
        e.type = SB_EVENT_KEY_PRESS;
        e.key_code = 'a';
        sb_event_queue_push(q, &e);
        sb_event_queue_pop(q, out, 8, &n);
    }
    sb_event_queue_wait(q, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned counter;
    if (size < 1)
        return 0;
    int is_queue = data[0] & 1;
    const uint8_t *segment = data + 1;
    size_t segment_size = size - 1;
    /* attach gives a file shorter than a header, or without a magic, 200 ms for its creator to
     * finish it: a documented grace period with nothing to find, and a slow input. */
    static const uint8_t no_magic[8];
    if (segment_size < HEADER_SIZE || memcmp(segment, no_magic, sizeof no_magic) == 0)
        return 0;

    char name[64], path[128];
    snprintf(name, sizeof name, "fuzz%d-%u", (int)getpid(), counter++);
    snprintf(path, sizeof path, "/streambridge-%s-%s", name, is_queue ? "events" : "ring");
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    size_t done = 0;
    while (done < segment_size) {
        ssize_t n = write(fd, segment + done, segment_size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    /* The name is unlinked as soon as attach is done with it (a mapping outlives its name), so
     * a crash while exercising leaves nothing in /dev/shm. */
    if (is_queue) {
        sb_event_queue *q = NULL;
        int rc = done == segment_size ? sb_event_queue_attach(name, &q) : SB_EIO;
        shm_unlink(path);
        if (rc == SB_OK)
            exercise_queue(q, segment);
        sb_event_queue_destroy(q);
    } else {
        sb_frame_ring *ring = NULL;
        int rc = done == segment_size ? sb_frame_ring_attach(name, &ring) : SB_EIO;
        shm_unlink(path);
        if (rc == SB_OK)
            exercise_ring(ring);
        sb_frame_ring_destroy(ring);
    }
    return 0;
}
