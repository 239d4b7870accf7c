/* server_internal.h - the server's state and how its modules fit. Calls go one way, top down:
 *
 *   server.c     sb_server_create/destroy/get_port/get_stats, civetweb setup, the HTTP endpoints
 *   ws.c         the /ws endpoint: socket reader, sender threads, input handling
 *   streams.c    the named streams: add/remove, lookup by name and by URL (/v/NAME/...),
 *                /streams, thumbnails
 *      |  (endpoints; each request resolves its stream first, and everything below is per
 *      |   stream: one registry, encoder and counters each)
 *   clients.c    the registry: admission, "new frame" announcement, next frame with ack credit
 *      |
 *   encoder.c    the one encoder thread: ring -> refcounted JPEG frames; reports a new frame
 *                upward only through its on_new_frame callback (set by server.c)
 *   rtp.c        the RTP sender (with rtp_host): one thread, a consumer of one video codec
 *                through the encoder's consumer interface, like a WebSocket video client
 *      |
 *   codec_*.c    the encoders behind codec.h (TurboJPEG; libavcodec video), used by encoder.c
 *                alone, on its thread
 *
 *   leaves, used from any level: stats.c (counters), options.c (validation), auth.c (access
 *   checks), http_guard.c (slow header senders, MJPEG hang-ups), ws_frame.c / ws_message.c
 *   (pure RFC 6455 framing and message decoding), conn_socket.c.
 *
 * Lock order (a lock may be taken while holding only those listed before it; never the other
 * way round):
 *   0. streams_mu            (sb_server: the stream list and each stream's refs; held while
 *                            /streams and /stats read the streams)
 *   1. clients.mu            (sb_clients: one stream's registry list)
 *   1a. admission.mu         (sb_admission: the server-wide client list; taken under
 *                            clients.mu by register/unregister)                 LEAF
 *   2. client.mu             (sb_client: one client's send state; taken under clients.mu by
 *                            announce/close_all, and alone by everyone else)
 *   3. encoder.mu            (sb_encoder: latest frame, frame pool, the video codecs' users,
 *                            packet rings and keyframe state; taken under client.mu by
 *                            sb__client_next_frame, set_codec, request_key and by
 *                            sb__frame_unref of a JPEG frame)                   LEAF
 *   stats.mu                 (sb_stats: encode samples, sent-frames window)     LEAF
 *   thumb_mu                 (sb_server_stream: the cached thumbnail)           LEAF
 *   http_guard's mu          takes client.mu inside (signal_hangups), nothing takes it inside
 *                            any of the above
 *   civetweb's connection lock (mg_lock_connection, ws.c's writes)             LEAF
 * No lock is held while calling civetweb to write, nor while the encoder calls on_new_frame.
 *
 * Threads: the controlling thread runs create/destroy (add/remove_stream: any thread, never
 * during destroy); each stream's encoder thread owns its encoder_state (encoder.c); civetweb's workers run the HTTP endpoints and each WebSocket client's reader;
 * each WebSocket client has a sender thread (ws.c); the guard thread (http_guard.c).
 * Not installed. No VTK here (server/ includes no VTK header; tests/check-include-rules.sh checks it). */
#ifndef SB_SERVER_INTERNAL_H
#define SB_SERVER_INTERNAL_H

#include "streambridge/server.h"
#include "auth.h"
#include "clients.h"
#include "encoder.h"
#include "sb_clock.h"
#include "stats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct mg_context;
struct mg_connection;

/* One named stream: its frames and input (borrowed), its own encoder, viewers and counters. It
 * lives from sb_server_add_stream (or create, for the default stream) until remove_stream or
 * destroy; a request or client that found it holds a reference (refs), and removal waits for
 * the last one before it frees anything or lets go of the ring. */
typedef struct sb_server_stream {
    struct sb_server *srv;
    char name[SB_SERVER_STREAM_NAME_MAX + 1];
    sb_frame_ring *ring;    /* borrowed */
    sb_event_queue *queue;  /* borrowed; NULL = view only */
    atomic_bool stopping;   /* removed, or the server stops: its clients close (1001) */
    sb_stats stats;
    sb_encoder encoder;
    sb_clients clients;
    struct sb_rtp_sender *rtp; /* the default stream's, with rtp_host (rtp.h); else NULL */
    int refs;               /* under srv->streams_mu */
    struct sb_server_stream *next; /* srv->streams, under srv->streams_mu */

    /* The picker's thumbnail, re-encoded at most every SB_THUMB_INTERVAL_MS (thumb_mu). */
    pthread_mutex_t thumb_mu;
    unsigned char *thumb;
    unsigned long thumb_len;
    uint64_t thumb_seq, thumb_made_ns;
} sb_server_stream;

struct sb_server {
    sb_server_options opts; /* complete and valid; its strings point at the copies below */
    char *bind_address;     /* owned copies of the option strings */
    char *access_token;
    char *allowed_origins;
    char *video_codecs;
    char *default_codec_name;
    char *rtp_host;
    char *rtp_codec;
    char *rtp_janus_url;
    size_t token_len;
    unsigned allowed_codecs;  /* SB_CODEC_BIT of the codecs clients may ask for (JPEG always) */
    int default_codec;        /* for CODEC with no preference */

    struct mg_context *ctx;
    int port;
    struct sb_http_guard *guard;

    atomic_bool stopping;   /* set once by sb_server_destroy; read by every thread */
    sb_admission admission; /* max_clients, max_clients_per_address over every stream */
    atomic_uint next_client_id;

    pthread_mutex_t streams_mu; /* lock order 0 */
    pthread_cond_t streams_cv;  /* a stream's refs fell (removal waits for 0) */
    sb_server_stream *streams;  /* newest first */
    uint64_t streams_changed;   /* counts adds and removes: /streams "generation" */
    /* Streams attached by sb_stream_create_on_server (capi) still alive: a destroy with some
     * left stops serving but frees the server only when the last one detaches. */
    int holds;
    bool destroyed;
};

/* streams.c */
/* Whether name is a valid stream name (SB_SERVER_STREAM_NAME_MAX chars of [A-Za-z0-9._-], not
 * "." or ".."); else why not in *why. */
bool sb__stream_name_valid(const char *name, size_t len, const char **why);
/* Makes and starts a stream and links it into srv (any thread, not during destroy). */
int sb__server_stream_add(sb_server *srv, const char *name, sb_frame_ring *ring,
                          sb_event_queue *queue, const char *func);
/* The stream called name (len bytes) with a reference for the caller, or NULL. */
sb_server_stream *sb__stream_find(sb_server *srv, const char *name, size_t len);
/* The default stream (SB_SERVER_DEFAULT_STREAM_NAME) with a reference, or NULL. */
sb_server_stream *sb__stream_default(sb_server *srv);
void sb__stream_ref(sb_server_stream *st);
void sb__stream_unref(sb_server_stream *st);
/* Resolves a request path: "/v/NAME/REST" -> that stream and "/REST"; any other path -> the
 * default stream and the path itself. *stream gets a reference (NULL: no such stream, or no
 * default). Returns false when the path names a stream badly (hostile or malformed NAME):
 * answer 404. *rest points into path or at a static "/". */
bool sb__stream_resolve(sb_server *srv, const char *path, sb_server_stream **stream,
                        const char **rest, bool *named);
/* Stops every stream's clients and encoder waits (destroy, before civetweb stops). */
void sb__streams_request_stop(sb_server *srv);
/* Frees every stream (destroy, after civetweb stopped: no request holds one). */
void sb__streams_free_all(sb_server *srv);
/* Number of streams now. */
int sb__streams_count(sb_server *srv);
/* The /streams JSON body (malloc'd, *len bytes) or NULL when out of memory. */
char *sb__streams_json(sb_server *srv, size_t *len);
/* A small JPEG of st's newest frame (the caller's copy: free()), or NULL (no frame yet: *status
 * 503; out of memory or a decode error: 500). Re-encoded at most every SB_THUMB_INTERVAL_MS,
 * else the cached one. */
unsigned char *sb__stream_thumbnail(sb_server_stream *st, unsigned long *len, uint64_t *seq,
                                    int *status);

/* ws.c */
void sb__ws_install(sb_server *srv);

/* auth.c: THE access decision, the only one (every endpoint calls it before anything else, and
 * before it looks at a stream name, so a refused caller learns nothing about the streams):
 * Host (DNS rebinding), then the token, then for a WebSocket upgrade its Origin. When refused
 * it has answered (403/401 with a short text) and counted a refused WebSocket client in
 * count_in (NULL: not counted); returns false. */
bool sb__access_allowed(sb_server *srv, struct mg_connection *conn, bool websocket,
                        sb_stats *count_in);
/* Whether the token was supplied in the query string (the page then sets the cookie). */
bool sb__auth_token_in_query(const sb_server *srv, const struct mg_connection *conn);

/* Sends a small HTTP response and closes the exchange. */
void sb__http_reply(struct mg_connection *conn, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len);
void sb__http_reply_text(struct mg_connection *conn, int status, const char *text);

#endif /* SB_SERVER_INTERNAL_H */
