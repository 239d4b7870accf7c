/* streambridge/frame_ring.h - the frame ring: N pixel buffers shared by one writer and any
 * number of readers, in this process (heap) or across processes (POSIX shm, docs/shm-layout.md).
 *
 * - The writer never waits for readers. Readers always get the newest complete frame.
 * - A reader never uses a torn frame: sb_frame_ring_release() reports SB_ESTALE when the writer
 *   reused the slot while it was being read (only possible when readers hold frames for longer
 *   than buffer_count-1 publishes); the reader must then discard what it derived from it.
 * - sb_frame_ring_wait() sleeps (futex on the shared sequence word) without spinning, across
 *   processes too.
 *
 * Threads: one writer thread calls begin_write/commit/publish/heartbeat. acquire/release/wait/
 * info/stats may be called from any thread and any process concurrently with it. create/attach/
 * destroy are not concurrent with anything on the same handle. */
#ifndef STREAMBRIDGE_FRAME_RING_H
#define STREAMBRIDGE_FRAME_RING_H

#include "streambridge/common.h"

SB_BEGIN_DECLS

typedef struct sb_frame_ring sb_frame_ring;

typedef enum sb_pixel_format {
    SB_PIXEL_RGBA = 1, /* 4 bytes: R G B A */
    SB_PIXEL_BGRA = 2, /* 4 bytes: B G R A (what Mesa keeps; glReadPixels GL_BGRA is a memcpy) */
    SB_PIXEL_RGB = 3   /* 3 bytes: R G B */
} sb_pixel_format;

/* Bytes per pixel of a format; 0 for unknown formats. */
SB_API unsigned sb_pixel_format_size(uint32_t format);

/* The library accepts every options version 1..SB_FRAME_RING_OPTIONS_VERSION; fields a version
 * lacks take their defaults. */
#define SB_FRAME_RING_OPTIONS_VERSION 1
#define SB_FRAME_RING_DEFAULT_MAX_WIDTH 1920
#define SB_FRAME_RING_DEFAULT_MAX_HEIGHT 1080
#define SB_FRAME_RING_DEFAULT_BUFFERS 3
#define SB_FRAME_RING_MAX_BUFFERS 16

typedef struct sb_frame_ring_options {
    unsigned int version;     /* SB_FRAME_RING_OPTIONS_VERSION */
    uint32_t max_width;       /* capacity per slot: max_width x max_height x 4 bytes, each side */
    uint32_t max_height;      /* 1..SB_MAX_FRAME_SIDE, default 1920 x 1080 */
    uint32_t buffer_count;    /* 2..SB_FRAME_RING_MAX_BUFFERS, default 3 */
    const char *shm_name;     /* NULL: heap backend. Otherwise the stream name NAME
                               * ([A-Za-z0-9_.-], 1..100 chars): the segment is
                               * /dev/shm/streambridge-NAME-ring. "" generates a unique name
                               * (read it back with sb_frame_ring_name()). */
} sb_frame_ring_options;

/* C, and C++20 (designated initializers); C++17 calls sb_frame_ring_options_init(). */
#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_FRAME_RING_OPTIONS_INIT                                                             \
    {                                                                                          \
        .version = SB_FRAME_RING_OPTIONS_VERSION, .max_width = SB_FRAME_RING_DEFAULT_MAX_WIDTH, \
        .max_height = SB_FRAME_RING_DEFAULT_MAX_HEIGHT,                                        \
        .buffer_count = SB_FRAME_RING_DEFAULT_BUFFERS, .shm_name = NULL                        \
    }
#endif

/* Fills opts with the defaults of the given version (usually SB_FRAME_RING_OPTIONS_VERSION) and
 * sets opts->version; writes only the bytes that version has. SB_EVERSION for a version this
 * library does not know, SB_EINVAL for NULL. */
SB_API int sb_frame_ring_options_init(sb_frame_ring_options *opts, unsigned int version);

/* Description of one frame. */
typedef struct sb_frame_info {
    uint64_t seq;          /* publish sequence number, 1 for the first frame, strictly increasing */
    uint32_t width;        /* pixels */
    uint32_t height;
    uint32_t stride;       /* bytes per row, >= width * sb_pixel_format_size(format) */
    uint32_t format;       /* sb_pixel_format */
    uint32_t bottom_up;    /* 1: first row in memory is the bottom of the image (OpenGL order) */
    uint32_t reserved_;    /* 0 */
    uint64_t capture_ns;   /* capture time, CLOCK_REALTIME nanoseconds (comparable across processes):
                            * when the frame was committed */
    /* Where the frame's time went before the commit (0.2), all CLOCK_REALTIME ns, 0 = unknown.
     * Set by the writer through sb_frame_ring_commit_info() / sb_frame_ring_publish(); the
     * stream (sb_stream_create) fills them, and a frame made from input satisfies
     * input_ns <= replay_ns <= render_start_ns <= render_end_ns <= capture_ns. */
    uint64_t input_ns;        /* sb_event.timestamp_ns of the newest input event replayed into
                               * this frame: the server's receive time for browser input */
    uint64_t replay_ns;       /* when the render thread took that event from the queue */
    uint64_t render_start_ns; /* the render that drew the frame began (vtkCommand::StartEvent) */
    uint64_t render_end_ns;   /* and ended (EndEvent); the capture ran from here to capture_ns */
} sb_frame_info;

/* A frame held by a reader between acquire and release. */
typedef struct sb_frame {
    sb_frame_info info;
    const uint8_t *pixels;  /* borrowed from the ring; valid until sb_frame_ring_release() */
    uint32_t slot_;         /* private */
    uint64_t gen_;          /* private */
} sb_frame;

/* Version 1: everything below (0.2). Fields are only appended, with a version bump. */
#define SB_FRAME_RING_STATS_VERSION 1

typedef struct sb_frame_ring_stats {
    unsigned int version;      /* set by the caller: SB_FRAME_RING_STATS_VERSION */
    uint64_t published;        /* frames committed by the writer */
    uint64_t refused_too_big;  /* begin_write/publish calls refused with SB_ETOOBIG */
    uint64_t overwritten_held; /* publishes that had to reuse a slot a reader still held */
    int32_t writer_pid;
    uint32_t writer_alive;     /* 1 while the writer process runs and has not closed the ring */
    uint64_t heartbeat_ns;     /* CLOCK_REALTIME of the writer's last publish or heartbeat */
    /* The segment's health as seen by this handle. */
    uint32_t broken;           /* 1: the shm file was truncated under the mapping; the stream is
                                * over for this handle (sb_frame_ring_check() says why) */
    uint32_t corrupted;        /* 1: the shared header is inconsistent right now (overwritten by
                                * another process); counters above are clamped to plausible */
    uint64_t corrupt_reads;    /* reads by this handle that found the header inconsistent */
} sb_frame_ring_stats;

#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_FRAME_RING_STATS_INIT { .version = SB_FRAME_RING_STATS_VERSION }
#endif

/* Creates a ring and becomes its writer. opts NULL = defaults. For shm, the segment is created mode 0600; a segment of
 * the same name left by a dead process is reclaimed; one held by a live process gives SB_EEXIST.
 * *out is owned by the caller: sb_frame_ring_destroy(). */
SB_API int sb_frame_ring_create(const sb_frame_ring_options *opts, sb_frame_ring **out);
/* Attaches to an existing shm ring by stream name, as a reader. Validates magic, layout version,
 * header size and segment size: anything else gives SB_EBADSEG (SB_ENOENT if absent). */
SB_API int sb_frame_ring_attach(const char *shm_name, sb_frame_ring **out);
/* Detaches; the creator also marks the ring closed and unlinks the segment. NULL is ignored. */
SB_API void sb_frame_ring_destroy(sb_frame_ring *ring);

/* Stream name ("" for heap rings). Owned by the ring. */
SB_API const char *sb_frame_ring_name(const sb_frame_ring *ring);
SB_API uint32_t sb_frame_ring_max_width(const sb_frame_ring *ring);
SB_API uint32_t sb_frame_ring_max_height(const sb_frame_ring *ring);

/* Writer, zero-copy: reserves the next slot for a width x height frame of the given format and
 * returns its memory in *pixels (capacity max_width*max_height*4 bytes, rows of *stride bytes =
 * width * pixel size). Fill it, then sb_frame_ring_commit(). A frame larger than the capacity
 * gives SB_ETOOBIG with the sizes in sb_last_error(). Only one write may be open at a time. */
SB_API int sb_frame_ring_begin_write(sb_frame_ring *ring, uint32_t width, uint32_t height,
                                     uint32_t format, uint8_t **pixels, uint32_t *stride);
/* Publishes the slot opened by begin_write. bottom_up and capture_ns as in sb_frame_info
 * (capture_ns 0 = now). Wakes waiting readers. *seq_out (may be NULL) gets the new seq. */
SB_API int sb_frame_ring_commit(sb_frame_ring *ring, uint32_t bottom_up, uint64_t capture_ns,
                                uint64_t *seq_out);
/* Publishes the slot opened by begin_write with the metadata the writer owns in *info:
 * bottom_up, capture_ns (0 = now), input_ns, replay_ns, render_start_ns, render_end_ns (0 =
 * unknown). info's seq, width, height, stride, format and reserved_ are ignored (the ring
 * assigns the seq; begin_write fixed the rest). sb_frame_ring_commit() is this with the four
 * times unknown. */
SB_API int sb_frame_ring_commit_info(sb_frame_ring *ring, const sb_frame_info *info,
                                     uint64_t *seq_out);
/* Abandons the slot opened by begin_write; nothing is published. */
SB_API void sb_frame_ring_abort_write(sb_frame_ring *ring);
/* Writer, copying: begin_write + copy rows of src_stride bytes + commit_info(info). */
SB_API int sb_frame_ring_publish(sb_frame_ring *ring, const sb_frame_info *info,
                                 const void *pixels, uint32_t src_stride, uint64_t *seq_out);
/* Writer: refresh the liveness heartbeat without publishing. */
SB_API void sb_frame_ring_heartbeat(sb_frame_ring *ring);

/* Reader: acquire the newest frame. SB_EAGAIN when nothing has been published yet. */
SB_API int sb_frame_ring_acquire(sb_frame_ring *ring, sb_frame *frame);
/* Reader: done with the frame. SB_OK if the pixels stayed intact during the whole hold,
 * SB_ESTALE if the writer overwrote them (discard any result derived from them). */
SB_API int sb_frame_ring_release(sb_frame_ring *ring, sb_frame *frame);
/* Reader: sleeps until a frame with seq > after_seq is published, up to timeout_ms (-1 forever).
 * SB_OK (with *seq_out = newest seq, may be NULL); SB_ETIMEDOUT when timeout_ms passed;
 * SB_EWOKEN when sb_frame_ring_wake_all() woke it first with no newer frame (re-check your own
 * conditions, e.g. a stop flag, then wait again); SB_EGONE when the writer closed the ring or
 * its process died. */
SB_API int sb_frame_ring_wait(sb_frame_ring *ring, uint64_t after_seq, int timeout_ms,
                              uint64_t *seq_out);
/* Newest published seq (0 = none). */
SB_API uint64_t sb_frame_ring_latest_seq(const sb_frame_ring *ring);
/* Wakes every waiter (e.g. so a server thread can re-check its stop flag); a waiter with no newer
 * frame then returns SB_EWOKEN. Any thread. */
SB_API void sb_frame_ring_wake_all(sb_frame_ring *ring);
/* Fills the first bytes of *stats that stats->version (set by the caller) has. Any thread. It
 * validates the shared header (corrupted) but changes no state: it counts nothing in
 * corrupt_reads and leaves sb_last_error() alone when it succeeds. SB_EINVAL for NULL,
 * SB_EVERSION for a version this library does not know. */
SB_API int sb_frame_ring_get_stats(const sb_frame_ring *ring, sb_frame_ring_stats *stats);
/* Health of the segment behind the ring, any thread, cheap (one fstat): SB_OK, or SB_EBADSEG
 * with the reason in sb_last_error() when the shm file was truncated under the mapping (broken
 * for good: writes and reads of this handle fail with SB_EBADSEG from then on; the process is
 * never killed by SIGBUS for it, see docs/shm-layout.md) or the shared header is inconsistent
 * now (overwritten by another process). Every read validates what it uses, whatever this says. */
SB_API int sb_frame_ring_check(const sb_frame_ring *ring);

SB_END_DECLS
#endif /* STREAMBRIDGE_FRAME_RING_H */
