/* encoder.h - the server's one encoder thread: waits on the frame ring, encodes each new frame
 * ONCE into a refcounted JPEG (sb_encoded_frame) shared by every client, and re-encodes the
 * current frame once at still quality when input goes idle. For each video codec in use (at
 * least one client asked for it) it also encodes each new frame once into a refcounted packet
 * kept in that codec's packet ring, from which every client of the codec is sent every packet
 * in order (inter-frame coding needs all of them); keyframes on demand, rate-limited.
 *
 * The encoder knows nothing above it (clients, endpoints, civetweb): it reports a new frame
 * through the on_new_frame callback it was started with, and the layers above pull frames with
 * sb__encoder_latest. Not installed. */
#ifndef SB_ENCODER_H
#define SB_ENCODER_H

#include "codec.h"
#include "stats.h"
#include "streambridge/frame_ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sb_encoder;

/* One JPEG or video packet, immutable once published, shared by every client. The encoder
 * creates it with one reference (held by enc->latest, or by the codec's packet ring); each
 * client sending it takes another. The last sb__frame_unref() returns a JPEG to the encoder's
 * pool and frees a video packet. */
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
    unsigned long len;    /* payload bytes */
    unsigned long capacity;
    unsigned char *data;  /* the JPEG or the video packet */
    /* Video packets (codec != SB_CODEC_JPEG): */
    int codec;
    bool keyframe;
    uint32_t stream_id;   /* encoder instance: a new one per size (and per codec start) */
    uint32_t frame_no;    /* within stream_id, consecutive from 0 */
    uint32_t coded_width, coded_height;
    char codec_string[24];
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
    int video_crf, video_max_kbps;
    int keyframe_min_interval_ms, keyframe_interval_ms;
    /* Called on the encoder thread after each new frame is published, with no encoder lock
     * held (it may take any lock the layers above own). */
    void (*on_new_frame)(void *user_data);
    void *user_data;
} sb_encoder_config;

/* Packets of one video codec kept for senders that are briefly behind. */
#define SB_VIDEO_RING 16

/* One video codec's shared state (under sb_encoder.mu). */
typedef struct sb_video_stream {
    int users;              /* clients using the codec; the encoder exists while > 0 */
    bool failed;            /* the codec could not be created or encode: its clients fall back */
    bool key_pending;       /* a keyframe was asked for and none came since */
    bool forced_ever;
    uint64_t last_forced_ns;    /* CLOCK_MONOTONIC of the last forced keyframe */
    uint32_t stream_id;         /* of the packets in ring; 0 = none yet */
    uint32_t next_frame_no;     /* frame_no of the next packet */
    uint32_t count;             /* packets of stream_id in ring: [next - count, next) */
    sb_encoded_frame *ring[SB_VIDEO_RING]; /* ring[frame_no % SB_VIDEO_RING] */
} sb_video_stream;

/* A client's place in a video codec's packets (the client's, under its mu). */
typedef struct sb_video_cursor {
    bool synced;           /* next_frame_no of stream_id is the next packet to send */
    bool waiting;          /* not synced: waits for a keyframe at or after (stream_id, frame_no) */
    uint32_t stream_id, frame_no;
} sb_video_cursor;

typedef struct sb_encoder {
    sb_encoder_config cfg;
    unsigned long jpeg_capacity; /* every frame's buffer: tjBufSize of the ring's max size */
    pthread_t thread;
    bool started;                /* owned by the controlling thread (start/join) */
    atomic_bool stopping;

    /* LEAF lock (server_internal.h): guards latest, video_still_id, pool, pool_size. cv: a new
     * latest frame (snapshot waiters) or stopping (the encoder's own timed sleeps). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sb_encoded_frame *latest;
    uint64_t video_still_id; /* id of the JPEG still video clients showing its seq get (0: none) */
    sb_encoded_frame *pool;
    int pool_size;
    sb_video_stream video[SB_CODEC_COUNT]; /* [SB_CODEC_JPEG] unused */
    uint32_t last_stream_id;
    unsigned available;                   /* SB_CODEC_BIT of the codecs this build has */

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
/* The newest encoded frame with a reference for the caller when it is the still-quality JPEG
 * offered to video clients (docs/wire-protocol.md, "Still-quality refinement"): input went idle
 * and the scene came to rest on it. Else NULL. Any thread. */
sb_encoded_frame *sb__encoder_video_still(sb_encoder *enc);
/* An input event was accepted now: the quality policy's clock. Any thread. */
void sb__encoder_note_input(sb_encoder *enc);
/* Size of the newest encoded frame (0x0 before the first). Any thread. */
void sb__encoder_frame_size(sb_encoder *enc, uint32_t *w, uint32_t *h);

/* ---- video (any thread; each takes enc->mu, LEAF) ---- */

/* Whether this build can encode codec (JPEG: always). */
bool sb__encoder_codec_available(const sb_encoder *enc, int codec);
/* Clients using a video codec now. */
int sb__encoder_video_users(sb_encoder *enc, int codec);
/* A client starts / stops using a video codec: the encoder exists while anyone does. A new
 * user's cursor is reset (it starts at a keyframe). */
void sb__encoder_video_join(sb_encoder *enc, int codec, sb_video_cursor *cur);
void sb__encoder_video_leave(sb_encoder *enc, int codec);
/* The next packet for cur with a reference for the caller, or NULL: nothing newer, or cur
 * waits for a keyframe (requested when it starts waiting: joins, a stream change with the
 * keyframe gone, falling behind the packet ring). *failed: the codec failed, fall back. */
sb_encoded_frame *sb__encoder_video_next(sb_encoder *enc, int codec, sb_video_cursor *cur,
                                         bool *failed);
/* Whether a packet cur would be sent (or wait for) exists: the ack timeout's "newer waits". */
bool sb__encoder_video_has_newer(sb_encoder *enc, int codec, const sb_video_cursor *cur);
/* KEYFRAME REQUEST: cur waits for the next keyframe, which is requested (rate-limited). */
void sb__encoder_video_request_key(sb_encoder *enc, int codec, sb_video_cursor *cur);
/* A keyframe for a consumer that never waits for one (the RTP sender, rtp.h: a gateway's
 * viewer lost packets or joined, while the others go on decoding): requested like the clients'
 * (merged, rate-limited by keyframe_min_interval_ms), no cursor moved. */
void sb__encoder_video_want_key(sb_encoder *enc, int codec);

#endif /* SB_ENCODER_H */
