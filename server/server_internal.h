/* server_internal.h - the server's state and how its modules fit. Calls go one way, top down:
 *
 *   server.c     sb_server_create/destroy/get_port/get_stats, civetweb setup, the HTTP endpoints
 *   ws.c         the /ws endpoint: socket reader, sender threads, input handling
 *      |  (endpoints)
 *   clients.c    the registry: admission, "new frame" announcement, next frame with ack credit
 *      |
 *   encoder.c    the one encoder thread: ring -> refcounted JPEG frames; reports a new frame
 *                upward only through its on_new_frame callback (set by server.c)
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
 *   1. clients.mu            (sb_clients: the registry list)
 *   2. client.mu             (sb_client: one client's send state; taken under clients.mu by
 *                            announce/close_all, and alone by everyone else)
 *   3. encoder.mu            (sb_encoder: latest frame, frame pool, the video codecs' users,
 *                            packet rings and keyframe state; taken under client.mu by
 *                            sb__client_next_frame, set_codec, request_key and by
 *                            sb__frame_unref of a JPEG frame)                   LEAF
 *   stats.mu                 (sb_stats: encode samples, sent-frames window)     LEAF
 *   http_guard's mu          takes client.mu inside (signal_hangups), nothing takes it inside
 *                            any of the above
 *   civetweb's connection lock (mg_lock_connection, ws.c's writes)             LEAF
 * No lock is held while calling civetweb to write, nor while the encoder calls on_new_frame.
 *
 * Threads: the controlling thread runs create/destroy; the encoder thread owns encoder_state
 * (encoder.c); civetweb's workers run the HTTP endpoints and each WebSocket client's reader;
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

struct sb_server {
    sb_server_options opts; /* complete and valid; its strings point at the copies below */
    char *bind_address;     /* owned copies of the option strings */
    char *access_token;
    char *view_token;       /* NULL: no view-only viewers */
    char *allowed_origins;
    char *video_codecs;
    char *default_codec_name;
    size_t token_len;
    size_t view_token_len;
    unsigned allowed_codecs;  /* SB_CODEC_BIT of the codecs clients may ask for (JPEG always) */
    int default_codec;        /* for CODEC with no preference */

    sb_frame_ring *ring;    /* borrowed */
    sb_event_queue *queue;  /* borrowed; NULL = view only */
    struct mg_context *ctx;
    int port;
    struct sb_http_guard *guard;

    atomic_bool stopping;   /* set once by sb_server_destroy; read by every thread */
    sb_stats stats;
    sb_encoder encoder;
    sb_clients clients;
};

/* ws.c */
void sb__ws_install(sb_server *srv);

/* auth.c: THE access decision, the only one (every endpoint calls it before anything else):
 * Host (DNS rebinding), then the token, then for a WebSocket upgrade its Origin. When refused
 * it has answered (403/401 with a short text), counted a refused WebSocket client and returns
 * SB_ACCESS_DENIED; otherwise how far the request may go: the view token watches only (the
 * server refuses its input), the access token (or none configured) drives. */
typedef enum { SB_ACCESS_DENIED = 0, SB_ACCESS_VIEW, SB_ACCESS_FULL } sb_access;
sb_access sb__access_check(sb_server *srv, struct mg_connection *conn, bool websocket);
/* sb__access_check != SB_ACCESS_DENIED: for endpoints where watching is all there is. */
bool sb__access_allowed(sb_server *srv, struct mg_connection *conn, bool websocket);
/* GET /access: the same decision as JSON for the page ({"access":"full"|"view"} or 401/403
 * {"access":"denied","reason":"host"|"token"|"origin"}), with the page's own origin (?origin=)
 * checked as its WebSocket upgrade's would be: a refused upgrade reaches the page only as an
 * anonymous close (1006), so the page asks here why. */
void sb__serve_access(sb_server *srv, struct mg_connection *conn);
/* Whether the token was supplied in the query string (the page then sets the cookie). */
bool sb__auth_token_in_query(const sb_server *srv, const struct mg_connection *conn);

/* Sends a small HTTP response and closes the exchange. */
void sb__http_reply(struct mg_connection *conn, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len);
void sb__http_reply_text(struct mg_connection *conn, int status, const char *text);

#endif /* SB_SERVER_INTERNAL_H */
