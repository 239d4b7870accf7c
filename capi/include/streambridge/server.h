/* streambridge/server.h - the HTTP + WebSocket server (civetweb) that encodes frames from a
 * frame ring once each (TurboJPEG) and serves them to browsers, and pushes their input into an
 * event queue. Endpoints and wire format: docs/wire-protocol.md.
 *
 * Threads: start/stop from one controlling thread; get_stats/port from any thread. The server
 * only reads the ring and pushes to the queue, so it never touches VTK. */
#ifndef STREAMBRIDGE_SERVER_H
#define STREAMBRIDGE_SERVER_H

#include "streambridge/common.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"

SB_BEGIN_DECLS

typedef struct sb_server sb_server;

/* Version 1: bind_address .. send_timeout_ms. Version 2 added max_clients_per_address and
 * ack_timeout_ms. The library accepts every version 1..SB_SERVER_OPTIONS_VERSION; fields a
 * version lacks take their defaults. */
#define SB_SERVER_OPTIONS_VERSION 2

typedef struct sb_server_options {
    unsigned int version;          /* SB_SERVER_OPTIONS_VERSION */
    const char *bind_address;      /* default "127.0.0.1"; anything else is an explicit choice */
    int port;                      /* default 8000; 0 = an ephemeral port (read it with sb_server_port) */
    int jpeg_quality_interactive;  /* 1..100, default 60: while input flows */
    int jpeg_quality_still;        /* 1..100, default 90: one frame after input went idle */
    int still_delay_ms;            /* idle time before the still frame, default 150 */
    double max_fps;                /* encode/send cap, default 60 */
    const char *access_token;      /* NULL/"" = none; otherwise required on every endpoint */
    const char *allowed_origins;   /* comma-separated extra WebSocket origins; the server's own
                                    * origin is always allowed. NULL = only its own. */
    int max_clients;               /* default 64 */
    int max_message_bytes;         /* client->server WS message limit, default 4096 */
    int max_events_per_second;     /* per client, default 1000 */
    int num_threads;               /* civetweb worker threads, default max_clients + 8 */
    int send_timeout_ms;           /* a client whose socket accepts nothing for this long is
                                    * closed (its own thread blocks, nobody else), default 5000 */
    int max_clients_per_address;   /* WebSocket + MJPEG clients from one remote address, default
                                    * 16; 0 = no cap. Behind a reverse proxy every viewer has the
                                    * proxy's address: raise it or set 0 there. */
    int ack_timeout_ms;            /* a WebSocket client that leaves a frame unacknowledged this
                                    * long while a newer frame waits for it is closed (1008),
                                    * default 30000 (a still scene's viewer is never closed) */
} sb_server_options;

#define SB_SERVER_OPTIONS_INIT \
    { SB_SERVER_OPTIONS_VERSION, "127.0.0.1", 8000, 60, 90, 150, 60.0, NULL, NULL, 64, 4096, 1000, 0, 5000, \
      16, 30000 }

typedef struct sb_server_stats {
    uint64_t frames_published;  /* seen in the ring */
    uint64_t frames_encoded;
    uint64_t frames_sent;       /* WebSocket + MJPEG messages, all clients */
    uint64_t frames_skipped;    /* newer frame existed when a client was ready: old one skipped */
    uint64_t bytes_sent;
    uint64_t events_received;
    uint64_t events_dropped;    /* queue drops */
    uint64_t messages_rejected; /* malformed, oversized, unknown, rate-limited */
    uint32_t clients;           /* connected now (WS + MJPEG) */
    double encode_ms_mean;
    double encode_ms_p50;
    double encode_ms_p99;
    double delivered_fps;       /* frames sent per second per client, recent window */
    uint64_t frames_encoded_still; /* still-quality re-encodes of an unchanged frame (not in
                                    * frames_encoded, which counts distinct ring frames) */
    uint64_t frames_coalesced;  /* published but superseded before the encoder got to them
                                 * (max_fps cap): frames_encoded + frames_coalesced == published */
    uint64_t events_rate_limited; /* input events dropped by the per-client rate limit */
    uint64_t clients_refused;   /* connections refused: max_clients, max_clients_per_address,
                                 * token, Origin */
    uint64_t encode_errors;
} sb_server_stats;

/* Fills opts with the defaults of the given version (usually SB_SERVER_OPTIONS_VERSION) and sets
 * opts->version. SB_EVERSION for a version this library does not know. For FFI callers and C++
 * before C++20, which cannot use SB_SERVER_OPTIONS_INIT. */
SB_API int sb_server_options_init(sb_server_options *opts, unsigned int version);

/* Starts serving ring (and pushing input into queue; queue may be NULL for view-only). Both are
 * borrowed and must outlive the server. opts NULL = defaults. SB_ENET with the reason when the
 * port cannot be bound. *out is owned by the caller: sb_server_destroy(). */
SB_API int sb_server_create(sb_frame_ring *ring, sb_event_queue *queue,
                            const sb_server_options *opts, sb_server **out);
/* Closes every connection, joins every thread, frees everything. NULL is ignored. */
SB_API void sb_server_destroy(sb_server *server);
/* The bound TCP port (the one chosen by the system when opts->port was 0). */
SB_API int sb_server_get_port(const sb_server *server, int *port);

/* Deprecated names (0.1), kept for one release: sb_server_create, sb_server_destroy, and
 * sb_server_get_port (sb_server_port returned an error code through the port). */
SB_API int sb_server_start(sb_frame_ring *ring, sb_event_queue *queue,
                           const sb_server_options *opts, sb_server **out)
    SB_DEPRECATED("sb_server_create");
SB_API void sb_server_stop(sb_server *server) SB_DEPRECATED("sb_server_destroy");
SB_API int sb_server_port(const sb_server *server) SB_DEPRECATED("sb_server_get_port");
SB_API int sb_server_get_stats(sb_server *server, sb_server_stats *stats);

SB_END_DECLS
#endif /* STREAMBRIDGE_SERVER_H */
