/* streambridge/server.h - the HTTP + WebSocket server (civetweb) that encodes frames from a
 * frame ring once each (TurboJPEG; H.264 / VP8 through libavcodec for clients that ask for
 * video) and serves them to browsers, and pushes their input into an
 * event queue. Endpoints and wire format: docs/wire-protocol.md.
 *
 * Threads: create/destroy from one controlling thread; get_stats/get_port from any thread. The
 * server only reads the ring and pushes to the queue, so it never touches VTK. */
#ifndef STREAMBRIDGE_SERVER_H
#define STREAMBRIDGE_SERVER_H

#include "streambridge/common.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"

SB_BEGIN_DECLS

typedef struct sb_server sb_server;

/* Version 1: bind_address .. send_timeout_ms. Version 2 added max_clients_per_address and
 * ack_timeout_ms. Version 3 added video_codecs .. keyframe_interval_ms (video over the
 * WebSocket). Version 4 added view_token (issue #13) and rtp_host .. rtp_mountpoint_id (WebRTC
 * through a Janus gateway: docs/webrtc.md). The library accepts every version
 * 1..SB_SERVER_OPTIONS_VERSION; fields a version lacks take their defaults. */
#define SB_SERVER_OPTIONS_VERSION 4

/* The defaults, one definition used by SB_SERVER_OPTIONS_INIT, sb_server_options_init() and the
 * library. The accepted ranges are in the comments below; the library's error names them. */
#define SB_SERVER_DEFAULT_BIND_ADDRESS "127.0.0.1"
#define SB_SERVER_DEFAULT_PORT 8000
#define SB_SERVER_DEFAULT_JPEG_QUALITY_INTERACTIVE 60
#define SB_SERVER_DEFAULT_JPEG_QUALITY_STILL 90
#define SB_SERVER_DEFAULT_STILL_DELAY_MS 150
#define SB_SERVER_DEFAULT_MAX_FPS 60.0
#define SB_SERVER_DEFAULT_MAX_CLIENTS 64
#define SB_SERVER_DEFAULT_MAX_MESSAGE_BYTES 4096
#define SB_SERVER_DEFAULT_MAX_EVENTS_PER_SECOND 1000
#define SB_SERVER_DEFAULT_NUM_THREADS 0
#define SB_SERVER_DEFAULT_SEND_TIMEOUT_MS 5000
#define SB_SERVER_DEFAULT_MAX_CLIENTS_PER_ADDRESS 16
#define SB_SERVER_DEFAULT_ACK_TIMEOUT_MS 30000
#define SB_SERVER_DEFAULT_VIDEO_CODECS NULL
#define SB_SERVER_DEFAULT_DEFAULT_CODEC "jpeg"
#define SB_SERVER_DEFAULT_VIDEO_CRF (-1)
#define SB_SERVER_DEFAULT_VIDEO_MAX_KBPS 0
#define SB_SERVER_DEFAULT_KEYFRAME_MIN_INTERVAL_MS 500
#define SB_SERVER_DEFAULT_KEYFRAME_INTERVAL_MS 0
#define SB_SERVER_DEFAULT_RTP_HOST NULL
#define SB_SERVER_DEFAULT_RTP_PORT 0
#define SB_SERVER_DEFAULT_RTP_RTCP_PORT 0
#define SB_SERVER_DEFAULT_RTP_PAYLOAD_TYPE 96
#define SB_SERVER_DEFAULT_RTP_CODEC "h264"
#define SB_SERVER_DEFAULT_RTP_MTU 1200
#define SB_SERVER_DEFAULT_RTP_KEYFRAME_INTERVAL_MS 2000
#define SB_SERVER_DEFAULT_RTP_JANUS_URL NULL
#define SB_SERVER_DEFAULT_RTP_MOUNTPOINT_ID 1

typedef struct sb_server_options {
    unsigned int version;          /* SB_SERVER_OPTIONS_VERSION */
    const char *bind_address;      /* numeric IPv4/IPv6, default "127.0.0.1"; anything else is an
                                    * explicit choice */
    int port;                      /* 0..65535, default 8000; 0 = an ephemeral port (read it with
                                    * sb_server_get_port) */
    int jpeg_quality_interactive;  /* 1..100, default 60: while input flows */
    int jpeg_quality_still;        /* 1..100, default 90: one frame after input went idle */
    int still_delay_ms;            /* 0..60000: idle time before the still frame, default 150 */
    double max_fps;                /* (0, 1000]: encode/send cap, default 60 */
    const char *access_token;      /* NULL/"" = none; otherwise required on every endpoint; at
                                    * most 256 characters of [A-Za-z0-9-_.~] */
    const char *allowed_origins;   /* comma-separated extra WebSocket origins (at most 4096
                                    * characters); the server's own origin is always allowed.
                                    * NULL = only its own. */
    int max_clients;               /* 1..1024, default 64 */
    int max_message_bytes;         /* 128..1048576: client->server WS message limit, default 4096 */
    int max_events_per_second;     /* 1..100000 per client, default 1000 */
    int num_threads;               /* 0..2048 civetweb worker threads, default 0 = max_clients + 8 */
    int send_timeout_ms;           /* 100..600000: a client whose socket accepts nothing for this
                                    * long is closed (its own thread blocks, nobody else),
                                    * default 5000 */
    int max_clients_per_address;   /* 0..1024: WebSocket + MJPEG clients from one remote address,
                                    * default 16; 0 = no cap. Behind a reverse proxy every viewer
                                    * has the proxy's address: raise it or set 0 there. */
    int ack_timeout_ms;            /* 100..3600000: a WebSocket client that leaves a frame
                                    * unacknowledged this long while a newer frame waits for it
                                    * is closed (1008), default 30000 (a still scene's viewer is
                                    * never closed) */
    /* Version 3: video (docs/wire-protocol.md, "Video"). */
    const char *video_codecs;      /* video codecs clients may ask for, comma-separated among
                                    * "h264", "vp8" (and "jpeg", always allowed: old clients and
                                    * the fallback need it); NULL/"" = every one this build's
                                    * libavcodec has */
    const char *default_codec;     /* "jpeg" (default, also for NULL), "h264" or "vp8": what a
                                    * client that states no preference gets (if it can decode it
                                    * and video_codecs allows it) */
    int video_crf;                 /* -1..63, default -1 = each codec's own (H.264 crf 23, VP8
                                    * cq-level 10); lower = better and bigger. H.264 uses
                                    * 0..51 (above 51 counts as 51), VP8 0..63 */
    int video_max_kbps;            /* 0..1000000 per codec stream, default 0 = no cap */
    int keyframe_min_interval_ms;  /* 0..60000, default 500: at most one keyframe forced by
                                    * clients (joins, requests, falling behind) per codec per
                                    * interval; requests inside it are merged into the next */
    int keyframe_interval_ms;      /* 0..3600000, default 0 = keyframes only on demand; else a
                                    * keyframe at least this often while frames flow */
    /* (version 4 starts with view_token, issue #13) */
    /* Version 4: the video as one RTP stream to a WebRTC gateway (a Janus streaming mountpoint
     * of type rtp), which fans it out to any number of WebRTC viewers (docs/webrtc.md). */
    const char *rtp_host;          /* numeric IPv4/IPv6 address of the gateway; NULL/"" = no RTP */
    int rtp_port;                  /* 1..65535 with rtp_host: the mountpoint's videoport */
    int rtp_rtcp_port;             /* 0..65535: the mountpoint's videortcpport, where sender
                                    * reports go and from where the gateway's keyframe requests
                                    * (PLI/FIR) come; 0 = none (keyframes only by the period) */
    int rtp_payload_type;          /* 96..127, default 96: the mountpoint's videopt */
    const char *rtp_codec;         /* "h264" (default, also for NULL) or "vp8": the mountpoint's
                                    * videocodec (H.264 packetization-mode=1, constrained
                                    * baseline: profile-level-id=42e01f) */
    int rtp_mtu;                   /* 256..1472 bytes per RTP packet, header included, default
                                    * 1200 (room for the gateway's SRTP and extensions) */
    int rtp_keyframe_interval_ms;  /* 0..600000, default 2000: a keyframe at least this often
                                    * (late joiners, lost packets without RTCP); 0 = only when
                                    * the gateway asks */
    const char *rtp_janus_url;     /* Janus HTTP API URL the page's WebRTC mode (?webrtc=1)
                                    * watches through, "http(s)://..." or a same-origin path
                                    * ("/janus"), at most 512 characters; NULL/"" = the page
                                    * has no WebRTC mode (/webrtc.json answers 404) */
    int rtp_mountpoint_id;         /* 1..2147483647, default 1: the mountpoint the page watches */
} sb_server_options;

/* C and C++20 only (designated initializers); C++17 and FFI callers use sb_server_options_init. */
#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_SERVER_OPTIONS_INIT                                                  \
    {                                                                           \
        .version = SB_SERVER_OPTIONS_VERSION,                                   \
        .bind_address = SB_SERVER_DEFAULT_BIND_ADDRESS,                         \
        .port = SB_SERVER_DEFAULT_PORT,                                         \
        .jpeg_quality_interactive = SB_SERVER_DEFAULT_JPEG_QUALITY_INTERACTIVE, \
        .jpeg_quality_still = SB_SERVER_DEFAULT_JPEG_QUALITY_STILL,             \
        .still_delay_ms = SB_SERVER_DEFAULT_STILL_DELAY_MS,                     \
        .max_fps = SB_SERVER_DEFAULT_MAX_FPS,                                   \
        .access_token = NULL,                                                   \
        .allowed_origins = NULL,                                                \
        .max_clients = SB_SERVER_DEFAULT_MAX_CLIENTS,                           \
        .max_message_bytes = SB_SERVER_DEFAULT_MAX_MESSAGE_BYTES,               \
        .max_events_per_second = SB_SERVER_DEFAULT_MAX_EVENTS_PER_SECOND,       \
        .num_threads = SB_SERVER_DEFAULT_NUM_THREADS,                           \
        .send_timeout_ms = SB_SERVER_DEFAULT_SEND_TIMEOUT_MS,                   \
        .max_clients_per_address = SB_SERVER_DEFAULT_MAX_CLIENTS_PER_ADDRESS,   \
        .ack_timeout_ms = SB_SERVER_DEFAULT_ACK_TIMEOUT_MS,                     \
        .video_codecs = SB_SERVER_DEFAULT_VIDEO_CODECS,                         \
        .default_codec = SB_SERVER_DEFAULT_DEFAULT_CODEC,                       \
        .video_crf = SB_SERVER_DEFAULT_VIDEO_CRF,                               \
        .video_max_kbps = SB_SERVER_DEFAULT_VIDEO_MAX_KBPS,                     \
        .keyframe_min_interval_ms = SB_SERVER_DEFAULT_KEYFRAME_MIN_INTERVAL_MS, \
        .keyframe_interval_ms = SB_SERVER_DEFAULT_KEYFRAME_INTERVAL_MS,         \
        .rtp_host = SB_SERVER_DEFAULT_RTP_HOST,                                 \
        .rtp_port = SB_SERVER_DEFAULT_RTP_PORT,                                 \
        .rtp_rtcp_port = SB_SERVER_DEFAULT_RTP_RTCP_PORT,                       \
        .rtp_payload_type = SB_SERVER_DEFAULT_RTP_PAYLOAD_TYPE,                 \
        .rtp_codec = SB_SERVER_DEFAULT_RTP_CODEC,                               \
        .rtp_mtu = SB_SERVER_DEFAULT_RTP_MTU,                                   \
        .rtp_keyframe_interval_ms = SB_SERVER_DEFAULT_RTP_KEYFRAME_INTERVAL_MS, \
        .rtp_janus_url = SB_SERVER_DEFAULT_RTP_JANUS_URL,                       \
        .rtp_mountpoint_id = SB_SERVER_DEFAULT_RTP_MOUNTPOINT_ID,               \
    }
#endif

/* The server's counters, all uint64_t and only ever growing: X(name, "what it counts"). The one
 * list: it makes the sb_server_stats fields below, the library's own counters and the /stats
 * JSON names (docs/wire-protocol.md). New counters go at the end, with a stats version bump. */
#define SB_SERVER_COUNTER_MAP(X)                                                                \
    X(frames_published, "frames seen in the ring")                                              \
    X(frames_encoded, "distinct ring frames encoded")                                           \
    X(frames_encoded_still, "still-quality re-encodes of an unchanged frame (not in "           \
                            "frames_encoded)")                                                  \
    X(frames_coalesced, "published but superseded before the encoder got to them (max_fps "     \
                        "cap): frames_encoded + frames_coalesced == frames_published")          \
    X(frames_sent, "WebSocket + MJPEG messages, all clients")                                   \
    X(frames_skipped, "a newer frame existed when a client was ready: the older one skipped")   \
    X(bytes_sent, "bytes of frames and snapshots sent")                                         \
    X(events_received, "input events accepted")                                                 \
    X(events_dropped, "input events the queue could not take (or with no frame to point at)")  \
    X(events_rate_limited, "input events dropped by the per-client rate limit")                 \
    X(messages_rejected, "malformed, oversized, unknown or rate-limited client messages")       \
    X(clients_refused, "connections refused: max_clients, max_clients_per_address, Host, "      \
                       "token, Origin")                                                         \
    X(encode_errors, "frames that could not be encoded")

/* Version 1 (0.2): everything below. Fields are only ever appended, with a version bump. */
#define SB_SERVER_STATS_VERSION 1

typedef struct sb_server_stats {
    unsigned int version; /* set by the caller: SB_SERVER_STATS_VERSION (SB_SERVER_STATS_INIT) */
#define SB_SERVER_STATS_COUNTER_(name, text) uint64_t name;
    SB_SERVER_COUNTER_MAP(SB_SERVER_STATS_COUNTER_)
#undef SB_SERVER_STATS_COUNTER_
    uint32_t clients;     /* connected now (WS + MJPEG) */
    uint32_t reserved_;   /* 0 */
    double encode_ms_mean; /* JPEG encodes (video codecs: /stats "codecs") */
    double encode_ms_p50;  /* of the last 256 JPEG encodes */
    double encode_ms_p99;
    double delivered_fps; /* frames sent per second per client over the last two whole seconds */
} sb_server_stats;

#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_SERVER_STATS_INIT { .version = SB_SERVER_STATS_VERSION }
#endif

/* Fills opts with the defaults of the given version (usually SB_SERVER_OPTIONS_VERSION) and sets
 * opts->version. SB_EVERSION for a version this library does not know. For FFI callers and C++
 * before C++20, which cannot use SB_SERVER_OPTIONS_INIT. */
SB_API int sb_server_options_init(sb_server_options *opts, unsigned int version);

/* Starts serving ring (and pushing input into queue; queue may be NULL for view-only) as the
 * server's default stream, named SB_SERVER_DEFAULT_STREAM_NAME: the top-level endpoints (/ws,
 * /video.mjpeg, ...) serve it. Both are borrowed and must outlive the server (or the stream's
 * removal). ring NULL (queue NULL too) = a server with no stream yet: add them with
 * sb_server_add_stream. opts NULL = defaults. SB_ENET with the reason when the port cannot be
 * bound. *out is owned by the caller: sb_server_destroy(). */
SB_API int sb_server_create(sb_frame_ring *ring, sb_event_queue *queue,
                            const sb_server_options *opts, sb_server **out);
/* Closes every connection, joins every thread, frees everything (every stream: their rings
 * and queues are not touched afterwards). NULL is ignored. Streams attached with
 * sb_stream_create_on_server should be destroyed first; any still attached are logged, stop
 * being served at once, and the server's memory lives until the last of them is destroyed
 * (never a dangling pointer in them). */
SB_API void sb_server_destroy(sb_server *server);

/* ---- many streams on one server (docs/wire-protocol.md, "Streams") ---- */

/* Stream names: 1..SB_SERVER_STREAM_NAME_MAX characters of [A-Za-z0-9._-], not "." or "..".
 * The stream named SB_SERVER_DEFAULT_STREAM_NAME is the default stream: the top-level
 * endpoints serve it. Every stream is also served under /v/NAME/ (/v/NAME/ws,
 * /v/NAME/video.mjpeg, /v/NAME/snapshot.jpg, /v/NAME/stats, ...); /streams lists them. */
#define SB_SERVER_STREAM_NAME_MAX 64
#define SB_SERVER_DEFAULT_STREAM_NAME "default"

/* Serves ring (input into queue; NULL = view only) as the stream called name, while the server
 * runs. ring and queue are borrowed until sb_server_remove_stream (or destroy) returns.
 * SB_EINVAL for a bad name or a NULL ring, SB_EEXIST for a name in use. Any thread (not during
 * sb_server_destroy). */
SB_API int sb_server_add_stream(sb_server *server, const char *name, sb_frame_ring *ring,
                                sb_event_queue *queue);
/* Stops serving the stream called name: its viewers are closed (WebSocket 1001 "stream
 * removed"; MJPEG streams end), its encoder stops and its state is freed; on return the server
 * no longer touches its ring or queue. Later requests for it get 404. SB_ENOENT for an unknown
 * name. Any thread (not during sb_server_destroy); blocks until its clients are gone (a few
 * seconds at most: send_timeout_ms bounds a client that stopped reading). */
SB_API int sb_server_remove_stream(sb_server *server, const char *name);
/* The bound TCP port (the one chosen by the system when opts->port was 0). */
SB_API int sb_server_get_port(const sb_server *server, int *port);
/* Fills the bytes of *stats that its version (set by the caller) has, and nothing past them:
 * the default stream's counters (a server with no default stream: every stream's counters
 * summed, the encode times and delivered_fps 0; per stream: /v/NAME/stats). SB_EINVAL for NULL, SB_EVERSION for a version this library does not know. Reads only: any
 * thread, any number of readers, nothing they do disturbs another (nor /stats). */
SB_API int sb_server_get_stats(const sb_server *server, sb_server_stats *stats);

/* Deprecated names (0.1), kept for one release: sb_server_create, sb_server_destroy, and
 * sb_server_get_port (sb_server_port returned an error code through the port). */
SB_API int sb_server_start(sb_frame_ring *ring, sb_event_queue *queue,
                           const sb_server_options *opts, sb_server **out)
    SB_DEPRECATED("sb_server_create");
SB_API void sb_server_stop(sb_server *server) SB_DEPRECATED("sb_server_destroy");
SB_API int sb_server_port(const sb_server *server) SB_DEPRECATED("sb_server_get_port");

SB_END_DECLS
#endif /* STREAMBRIDGE_SERVER_H */
