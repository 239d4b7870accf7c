/* encoder.h - the server's one encoder thread: waits on the frame ring, encodes each new frame
 * ONCE into a refcounted JPEG (sb_encoded_frame) shared by every client, and re-encodes the
 * current frame once at still quality when input goes idle.
 *
 * The encoder knows nothing above it (clients, endpoints, civetweb): it reports a new frame
 * through the on_new_frame callback it was started with, and the layers above pull frames with
 * sb__encoder_latest. Not installed. */
#ifndef SB_ENCODER_H
#define SB_ENCODER_H

#include "stats.h"
#include "streambridge/frame_ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sb_encoder;

/* One JPEG, immutable once published, shared by every client. The encoder creates it with one
 * reference (held by enc->latest); each client sending it takes another. The last
 * sb__frame_unref() returns it to the encoder's pool. */
typedef struct sb_encoded_frame {
    atomic_int refs;
    struct sb_encoder *enc;
    uint64_t id;          /* unique per encode (a still re-encode gets a new id, same seq) */
    uint64_t distinct_no; /* counts distinct ring frames encoded: a client's skips are the gap */
    uint64_t seq;         /* ring seq of the source frame */
    uint32_t width, height;
    uint32_t quality;
    uint32_t still;       /* 1: encoded at still quality */
    uint64_t capture_ns;
    uint64_t encode_start_ns, encode_end_ns; /* CLOCK_REALTIME around the compression */
    unsigned long jpeg_len;
    unsigned long capacity;
    unsigned char *jpeg;
    struct sb_encoded_frame *next_free;
} sb_encoded_frame;

/* Any thread. unref takes enc->mu briefly (to pool the frame): never call it holding a lock that
 * enc->mu may not be taken under (server_internal.h, "Lock order"). */
void sb__frame_ref(sb_encoded_frame *f);
void sb__frame_unref(sb_encoded_frame *f);

/* What the encoder is told at start; copied. */
typedef struct sb_encoder_config {
    sb_frame_ring *ring; /* borrowed */
    sb_stats *stats;     /* borrowed: frames_published/encoded/..., encode times */
    int jpeg_quality_interactive, jpeg_quality_still;
    int still_delay_ms;
    double max_fps;
    /* Called on the encoder thread after each new frame is published, with no encoder lock
     * held (it may take any lock the layers above own). */
    void (*on_new_frame)(void *user_data);
    void *user_data;
} sb_encoder_config;

typedef struct sb_encoder {
    sb_encoder_config cfg;
    unsigned long jpeg_capacity; /* every frame's buffer: tjBufSize of the ring's max size */
    pthread_t thread;
    bool started;                /* owned by the controlling thread (start/join) */
    atomic_bool stopping;

    /* LEAF lock (server_internal.h): guards latest, pool, pool_size. cv: a new latest frame
     * (snapshot waiters) or stopping (the encoder's own timed sleeps). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sb_encoded_frame *latest;
    sb_encoded_frame *pool;
    int pool_size;

    /* Written by endpoints (input), read by the encoder; and the other way round. */
    atomic_uint_fast64_t last_input_ns; /* CLOCK_MONOTONIC of the last accepted input event */
    atomic_uint frame_w, frame_h;       /* size of the newest encoded frame */
} sb_encoder;

/* Sets enc up and starts its thread. On failure the error is set (as sb_server_create's) and
 * nothing needs undoing. */
int sb__encoder_start(sb_encoder *enc, const sb_encoder_config *cfg);
/* Raises the stop flag: the thread's sleeps and snapshot waiters end at once. */
void sb__encoder_request_stop(sb_encoder *enc);
/* request_stop, wakes the ring's waiters and joins the thread, then frees the frames no client
 * holds any more. Call once every frame reference is given back. Safe after a failed start. */
void sb__encoder_stop(sb_encoder *enc);

/* The newest encoded frame with a reference for the caller, or NULL. Any thread. */
sb_encoded_frame *sb__encoder_latest(sb_encoder *enc);
/* Like sb__encoder_latest, waiting up to timeout_ms for a first frame (or the stop). */
sb_encoded_frame *sb__encoder_wait_latest(sb_encoder *enc, int timeout_ms);
/* An input event was accepted now: the quality policy's clock. Any thread. */
void sb__encoder_note_input(sb_encoder *enc);
/* Size of the newest encoded frame (0x0 before the first). Any thread. */
void sb__encoder_frame_size(sb_encoder *enc, uint32_t *w, uint32_t *h);

#endif /* SB_ENCODER_H */
