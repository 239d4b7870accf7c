/* stats.h - the server's counters (SB_SERVER_COUNTER_MAP), encode times and the delivered-frames
 * window: written by the threads that do the work, read by sb_server_get_stats and /stats without
 * changing anything. A leaf: calls nothing else in server/. Not installed. */
#ifndef SB_STATS_H
#define SB_STATS_H

#include "codec.h"
#include "sb_samples.h"
#include "streambridge/server.h"

#include <pthread.h>
#include <stdatomic.h>

#define SB_ENCODE_SAMPLES 256
/* Whole seconds of the delivered-frames window; one more bucket holds the second under way. */
#define SB_FPS_WINDOW_SECONDS 2
#define SB_FPS_BUCKETS (SB_FPS_WINDOW_SECONDS + 1)

/* One frame's walk from input to socket, CLOCK_REALTIME ns, 0 = unknown: the producer's times
 * from the ring (sb_frame_info) and the server's own. */
typedef struct sb_frame_walk {
    uint64_t encode_id; /* sb_encoded_frame.id */
    uint64_t seq;
    uint64_t input_ns, replay_ns, render_start_ns, render_end_ns, capture_ns;
    uint64_t encode_start_ns, encode_end_ns;
    uint64_t send_ns; /* the first WebSocket send of the frame: first byte handed to the socket */
} sb_frame_walk;

/* The parts of the walk summarised in /stats "latency_ms" (X(name, from, to)); the one list. */
#define SB_LATENCY_PART_MAP(X)                          \
    X(input_to_replay, input_ns, replay_ns)             \
    X(replay_to_render, replay_ns, render_start_ns)     \
    X(render, render_start_ns, render_end_ns)           \
    X(capture, render_end_ns, capture_ns)               \
    X(capture_to_encode, capture_ns, encode_start_ns)   \
    X(encode, encode_start_ns, encode_end_ns)           \
    X(send, encode_end_ns, send_ns)                     \
    X(input_to_publish, input_ns, capture_ns)           \
    X(input_to_send, input_ns, send_ns)

typedef enum sb_latency_part {
#define SB_LATENCY_ENUM_(name, from, to) SB_LATENCY_##name,
    SB_LATENCY_PART_MAP(SB_LATENCY_ENUM_)
#undef SB_LATENCY_ENUM_
    SB_LATENCY_PARTS
} sb_latency_part;

/* The newest walks kept for /stats "recent_frames" (a benchmark matches its input there). */
#define SB_WALK_HISTORY 16

/* Per codec, /stats "codecs": X(name, "what it counts"). Any thread adds, relaxed. */
#define SB_CODEC_COUNTER_MAP(X)                                                                \
    X(frames, "distinct ring frames encoded")                                                   \
    X(reencodes, "encodes of an unchanged frame: JPEG's still re-encode, a video keyframe "     \
                 "for a joining or requesting client on a still scene")                         \
    X(bytes, "bytes encoded (payloads)")                                                        \
    X(keyframes, "keyframes encoded (video)")                                                   \
    X(keyframes_sent, "keyframe messages sent, all clients (video)")                            \
    X(keyframes_requested, "keyframes asked for: joins, KEYFRAME REQUEST, a client behind "    \
                           "the packet ring (video)")                                           \
    X(keyframes_forced, "keyframes forced on the encoder (at most one per "                     \
                        "keyframe_min_interval_ms)")                                            \
    X(requests_merged, "requests that found one pending (merged into it by the rate limit)")   \
    X(requests_ignored, "KEYFRAME REQUEST messages over a client's own rate limit")             \
    X(frames_sent, "messages sent, all clients")                                                \
    X(bytes_sent, "bytes of messages sent, all clients")                                        \
    X(encode_errors, "encodes that failed (video: the codec's clients fall back to JPEG)")

typedef struct sb_codec_stats {
#define SB_CODEC_STATS_ATOMIC_(name, text) atomic_uint_fast64_t name;
    SB_CODEC_COUNTER_MAP(SB_CODEC_STATS_ATOMIC_)
#undef SB_CODEC_STATS_ATOMIC_
    /* Under sb_stats.mu: */
    double encode_ms[SB_ENCODE_SAMPLES]; /* the last SB_ENCODE_SAMPLES encode times, a ring */
    unsigned encode_samples;
    double encode_ms_total;
    uint64_t encode_count;
} sb_codec_stats;

/* A read-only copy of one codec's figures. */
typedef struct sb_codec_snapshot {
#define SB_CODEC_SNAPSHOT_FIELD_(name, text) uint64_t name;
    SB_CODEC_COUNTER_MAP(SB_CODEC_SNAPSHOT_FIELD_)
#undef SB_CODEC_SNAPSHOT_FIELD_
    double encode_ms_mean, encode_ms_p50, encode_ms_p99;
} sb_codec_snapshot;

typedef struct sb_stats {
    /* One atomic per counter of SB_SERVER_COUNTER_MAP: any thread adds, relaxed. */
#define SB_STATS_ATOMIC_(name, text) atomic_uint_fast64_t name;
    SB_SERVER_COUNTER_MAP(SB_STATS_ATOMIC_)
#undef SB_STATS_ATOMIC_
    /* Input events of view-only viewers, refused (not queued): /stats only, not (yet) in
     * sb_server_stats, whose layout is shared by parallel work. */
    atomic_uint_fast64_t events_refused_view_only;

    uint64_t started_ns; /* CLOCK_MONOTONIC at init: the window's seconds count from it */
    /* LEAF lock: nothing else is taken while it is held. Guards the fields below and the
     * codecs' encode samples (the public encode_ms_* are JPEG's). */
    pthread_mutex_t mu;
    sb_codec_stats codecs[SB_CODEC_COUNT];
    /* Frames sent per second since start: bucket i holds second sent_second[i]; the senders
     * move the window, readers only sum it. */
    uint64_t sent_second[SB_FPS_BUCKETS];
    uint64_t sent_frames[SB_FPS_BUCKETS];
    /* The latency parts of the newest frames (ms) and the newest walks, a ring. */
    sb_samples latency[SB_LATENCY_PARTS];
    sb_frame_walk walks[SB_WALK_HISTORY];
    uint64_t walk_count;
} sb_stats;

/* What /stats shows of the walks: each part's percentiles, the newest walks (oldest first). */
typedef struct sb_latency_report {
    sb_sample_summary parts[SB_LATENCY_PARTS];
    sb_frame_walk walks[SB_WALK_HISTORY];
    unsigned walk_count;
} sb_latency_report;

void sb__stats_init(sb_stats *st);
void sb__stats_destroy(sb_stats *st);

/* Adds n to one counter: SB_STATS_ADD(&srv->stats, frames_sent, 1). */
#define SB_STATS_ADD(st, counter, n) \
    atomic_fetch_add_explicit(&(st)->counter, (n), memory_order_relaxed)

/* Adds n to one counter of a codec: SB_CODEC_STATS_ADD(&srv->stats, SB_CODEC_H264, bytes, n). */
#define SB_CODEC_STATS_ADD(st, codec, counter, n) \
    atomic_fetch_add_explicit(&(st)->codecs[(codec)].counter, (n), memory_order_relaxed)

/* The encoder thread: one encode of codec took ms milliseconds. */
void sb__stats_record_encode(sb_stats *st, int codec, double ms);
/* One codec's figures now. Reads only. */
void sb__stats_codec(const sb_stats *st, int codec, sb_codec_snapshot *out);
/* A sender: one frame message of bytes bytes went out (frames_sent, bytes_sent, the window). */
void sb__stats_record_sent(sb_stats *st, uint64_t bytes);

/* The encoder thread: a distinct frame was encoded (w->send_ns 0); its parts so far are counted
 * and it is kept for the send to complete. */
void sb__stats_record_walk(sb_stats *st, const sb_frame_walk *w);
/* A WebSocket sender handed the first byte of encode encode_id to the socket at send_ns: the
 * first send of a kept walk completes it (later ones, and still re-encodes, count nothing). */
void sb__stats_record_walk_sent(sb_stats *st, uint64_t encode_id, uint64_t send_ns);
/* The latency report. Reads only. */
void sb__stats_latency(const sb_stats *st, sb_latency_report *out);
/* The JSON name of a part ("render"). */
const char *sb__latency_part_name(sb_latency_part part);

/* Fills every field of *out (a full current-version struct) from st; clients = connected now.
 * Reads only. */
void sb__stats_fill(const sb_stats *st, uint32_t clients, sb_server_stats *out);

#endif /* SB_STATS_H */
