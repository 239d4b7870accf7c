/* make_shm_attach_corpus.c - writes the seed corpus of fuzz_shm_attach.c: segments made by the
 * real create/publish/push code (a ring with a frame, a queue with events), each prefixed with
 * the target's selector byte, plus truncated and bit-flipped variants. Run by hand when the
 * layout changes (the seeds are committed):
 *   cc -D_GNU_SOURCE -Icapi/include -Ibase -Ibridge/transport tests/fuzz/make_shm_attach_corpus.c \
 *      build/bridge/transport/libsb_transport.a build/base/libsb_base.a -lpthread -lrt -o /tmp/make_corpus
 *   /tmp/make_corpus tests/fuzz/corpus/shm_attach */
/* shm_open, kill, pread are POSIX, outside the project's strict C11. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *read_segment(const char *name, const char *suffix, size_t *size)
{
    char path[128];
    snprintf(path, sizeof path, "/streambridge-%s-%s", name, suffix);
    int fd = shm_open(path, O_RDONLY, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return NULL;
    uint8_t *bytes = malloc((size_t)st.st_size);
    if (bytes && pread(fd, bytes, (size_t)st.st_size, 0) != st.st_size) {
        free(bytes);
        bytes = NULL;
    }
    close(fd);
    *size = (size_t)st.st_size;
    return bytes;
}

static void write_seed(const char *dir, const char *file, uint8_t selector, const uint8_t *bytes,
                       size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(&selector, 1, 1, f) != 1 || fwrite(bytes, 1, size, f) != size) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* The segment as is, cut after its header and in the middle, and with single bits flipped in
 * the header fields that attach and the readers look at. */
static void write_variants(const char *dir, const char *kind, uint8_t selector, uint8_t *bytes,
                           size_t size, const size_t *flip_offsets, size_t flips)
{
    char file[128];
    snprintf(file, sizeof file, "%s-valid", kind);
    write_seed(dir, file, selector, bytes, size);
    snprintf(file, sizeof file, "%s-header-only", kind);
    write_seed(dir, file, selector, bytes, 256);
    snprintf(file, sizeof file, "%s-half", kind);
    write_seed(dir, file, selector, bytes, size / 2);
    for (size_t i = 0; i < flips; i++) {
        bytes[flip_offsets[i]] ^= 0x10;
        snprintf(file, sizeof file, "%s-flip-%zu", kind, flip_offsets[i]);
        write_seed(dir, file, selector, bytes, size);
        bytes[flip_offsets[i]] ^= 0x10;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "corpus%d", (int)getpid());

    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = 4;
    ro.max_height = 2;
    ro.buffer_count = 2;
    ro.shm_name = name;
    sb_frame_ring *ring = NULL;
    if (sb_frame_ring_create(&ro, &ring) != SB_OK) {
        fprintf(stderr, "%s\n", sb_last_error());
        return 1;
    }
    uint8_t px[4 * 2 * 4];
    memset(px, 0x5a, sizeof px);
    sb_frame_info info = {0};
    info.width = 4;
    info.height = 2;
    info.format = SB_PIXEL_BGRA;
    info.input_ns = 1;  /* the frame's times (layout 2), in order */
    info.replay_ns = 2;
    info.render_start_ns = 3;
    info.render_end_ns = 4;
    sb_frame_ring_publish(ring, &info, px, 0, NULL);
    sb_frame_ring_publish(ring, &info, px, 0, NULL);
    size_t size = 0;
    uint8_t *bytes = read_segment(name, "ring", &size);
    sb_frame_ring_destroy(ring);
    if (!bytes)
        return 1;
    /* magic, version, total size, geometry, latest, the first slot's generation/seq/size */
    static const size_t ring_flips[] = {0,  8,  16, 48,  56,  64,  72, 80,
                                        88, 96, 97, 256, 264, 272, 280};
    write_variants(argv[1], "ring", 0, bytes, size, ring_flips,
                   sizeof ring_flips / sizeof ring_flips[0]);
    free(bytes);

    sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
    qo.capacity = 4;
    qo.shm_name = name;
    sb_event_queue *q = NULL;
    if (sb_event_queue_create(&qo, &q) != SB_OK) {
        fprintf(stderr, "%s\n", sb_last_error());
        return 1;
    }
    sb_event e;
    memset(&e, 0, sizeof e);
    e.type = SB_EVENT_POINTER_MOVE;
    e.x = 3;
    sb_event_queue_push(q, &e);
    e.type = SB_EVENT_KEY_PRESS;
    e.key_code = 'k';
    sb_event_queue_push(q, &e);
    bytes = read_segment(name, "events", &size);
    sb_event_queue_destroy(q);
    if (!bytes)
        return 1;
    /* magic, version, capacity, record size, offset, head, count, lock word, a record's type */
    static const size_t queue_flips[] = {0, 8, 16, 48, 52, 56, 64, 68, 128, 131, 256};
    write_variants(argv[1], "queue", 1, bytes, size, queue_flips,
                   sizeof queue_flips / sizeof queue_flips[0]);
    free(bytes);
    return 0;
}
