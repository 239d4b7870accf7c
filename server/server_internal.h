/* server_internal.h - private state of the web server, shared by its modules:
 *   server.c   start/stop, options, civetweb setup, HTTP endpoints, stats
 *   encoder.c  the one encoder thread (ring -> refcounted JPEG frames)
 *   ws.c       WebSocket clients: the socket reader, sender threads, ack credit, input handling
 *   ws_frame.c RFC 6455 frame headers and the rules enforced before a payload is read (pure)
 *   ws_message.c  client message decoding and validation (pure)
 *   auth.c     access token and Origin checks
 *   http_guard.c  slow header senders, MJPEG viewers that hung up
 * Not installed. No VTK here (docs/architecture.md: server/ includes no VTK header; tests/layout checks it). */
#ifndef SB_SERVER_INTERNAL_H
#define SB_SERVER_INTERNAL_H

#include "streambridge/server.h"
#include "auth.h"
#include "sb_clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct mg_context;
struct mg_connection;

/* ---- encoded frames ------------------------------------------------------------------------- */

/* One JPEG, immutable once published, shared by every client. The encoder creates it with one
 * reference (held by srv->latest); each client sending it takes another. The last
 * sb__frame_unref() returns it to the server's pool. */
typedef struct sb_encoded_frame {
    atomic_int refs;
    struct sb_server *srv;
    uint64_t id;          /* unique per encode (a still re-encode gets a new id, same seq) */
    uint64_t distinct_no; /* counts distinct ring frames encoded: a client's skips are the gap */
    uint64_t seq;         /* ring seq of the source frame */
    uint32_t width, height;
    uint32_t quality;
    uint32_t still;       /* 1: encoded at still quality */
    uint64_t capture_ns;
    uint64_t encoded_ns;  /* CLOCK_REALTIME when the JPEG was ready */
    unsigned long jpeg_len;
    unsigned long capacity;
    unsigned char *jpeg;
    struct sb_encoded_frame *next_free;
} sb_encoded_frame;

void sb__frame_ref(sb_encoded_frame *f);
void sb__frame_unref(sb_encoded_frame *f);

/* ---- clients -------------------------------------------------------------------------------- */

#define SB_CLIENT_MAX_IN_FLIGHT 2

typedef enum { SB_CLIENT_WS = 1, SB_CLIENT_MJPEG = 2 } sb_client_kind;

typedef struct sb_client {
    struct sb_server *srv;
    struct mg_connection *conn;
    uint32_t id;
    sb_client_kind kind;
    char remote[64];          /* "address:port", for logs and /stats */
    char address[48];         /* the remote address alone: max_clients_per_address counts it */
    const char *refused_why;  /* set when sb__client_register refuses: static text for the 503 */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* new frame, ack, or closing */
    bool wake;          /* a new encoded frame was announced */
    bool closing;       /* stop sending: the connection is going away */
    bool dead;          /* a send failed or timed out: close at the next chance */
    bool logged;        /* one log line per client for rejected input */
    uint64_t in_flight_seq[SB_CLIENT_MAX_IN_FLIGHT];
    uint64_t in_flight_send_ns[SB_CLIENT_MAX_IN_FLIGHT];  /* CLOCK_REALTIME: the ack RTT */
    uint64_t in_flight_since_ns[SB_CLIENT_MAX_IN_FLIGHT]; /* CLOCK_MONOTONIC: ack_timeout_ms */
    int in_flight; /* [0] is the oldest */
    uint64_t last_sent_id;
    uint64_t last_distinct_no;
    uint32_t last_ack_rtt_us;

    /* Counters, read by /stats. */
    atomic_uint_fast64_t sent;
    atomic_uint_fast64_t skipped;
    atomic_uint_fast64_t bytes;

    /* Input (reader thread only). */
    uint32_t view_w, view_h; /* client's display size from hello/events */
    double tokens;           /* token bucket for events */
    uint64_t bucket_ns;
    uint64_t abuse_window_ns;
    uint32_t abuse_drops;
    bool hello_seen;
    bool spoke;              /* a valid message arrived (the first-message bound is met) */
    uint64_t connected_ns;   /* CLOCK_MONOTONIC of the upgrade */

    /* A close frame went out (under the connection's lock): nothing may follow it. */
    atomic_bool close_sent;

    pthread_t sender;
    bool sender_started;
    bool sender_joined;     /* the reader joined it already (ws_close must not again) */
    bool sender_done;       /* under mu: the sender thread has finished (its 1001 close is out) */
    struct sb_client *next; /* srv->clients list, under srv->clients_mu */
} sb_client;

/* ---- the server ----------------------------------------------------------------------------- */

#define SB_ENCODE_SAMPLES 256

struct sb_server {
    sb_server_options opts;
    char *bind_address;    /* owned copies of the option strings */
    char *access_token;
    char *allowed_origins;
    size_t token_len;

    sb_frame_ring *ring;
    sb_event_queue *queue;
    struct mg_context *ctx;
    int port;
    struct sb_http_guard *guard; /* http_guard.c: slow header senders, MJPEG hang-ups */

    atomic_bool stopping;
    pthread_mutex_t stop_mu; /* with stop_cv: timed sleeps that end early on stop */
    pthread_cond_t stop_cv;

    /* Encoder. */
    pthread_t encoder;
    bool encoder_started;
    atomic_uint_fast64_t last_input_ns; /* CLOCK_MONOTONIC of the last accepted input event */

    pthread_mutex_t latest_mu; /* guards latest, pool; latest_cv: snapshot waiters */
    pthread_cond_t latest_cv;
    sb_encoded_frame *latest;
    sb_encoded_frame *pool;
    int pool_size;
    unsigned long jpeg_capacity;
    atomic_uint frame_w, frame_h; /* size of the newest encoded frame, for event mapping */

    pthread_mutex_t clients_mu;
    sb_client *clients;
    atomic_int client_count;
    atomic_uint next_client_id;

    /* Stats. */
    atomic_uint_fast64_t frames_published;
    atomic_uint_fast64_t frames_encoded;
    atomic_uint_fast64_t frames_encoded_still;
    atomic_uint_fast64_t frames_coalesced;
    atomic_uint_fast64_t frames_sent;
    atomic_uint_fast64_t frames_skipped;
    atomic_uint_fast64_t bytes_sent;
    atomic_uint_fast64_t events_received;
    atomic_uint_fast64_t events_dropped;
    atomic_uint_fast64_t events_rate_limited;
    atomic_uint_fast64_t messages_rejected;
    atomic_uint_fast64_t clients_refused;
    atomic_uint_fast64_t encode_errors;
    pthread_mutex_t stats_mu; /* encode time samples */
    double encode_ms[SB_ENCODE_SAMPLES];
    unsigned encode_samples;
    double encode_ms_total;
    uint64_t encode_count;
    uint64_t started_ns;
    uint64_t fps_mark_ns; /* delivered_fps window (under stats_mu) */
    uint64_t fps_mark_sent;
    double fps_value;
};

/* encoder.c */
int sb__encoder_start(sb_server *srv);
void sb__encoder_join(sb_server *srv);
void sb__encoder_free_frames(sb_server *srv);
/* The newest encoded frame with a reference for the caller, or NULL. */
sb_encoded_frame *sb__latest_frame(sb_server *srv);

/* Client registry (server.c). Registration fails (returns false, c->refused_why says why) when
 * the server is stopping, max_clients is reached or c's address has max_clients_per_address. */
bool sb__client_register(sb_server *srv, sb_client *c);
void sb__client_unregister(sb_server *srv, sb_client *c);
sb_client *sb__client_new(sb_server *srv, sb_client_kind kind, struct mg_connection *conn);
void sb__client_free(sb_client *c);
/* Wakes every client's sender: a new encoded frame exists. */
void sb__clients_announce(sb_server *srv);
/* Waits until srv->latest differs from last_sent_id (or closing/stop); returns a referenced frame
 * or NULL when the client should stop. Honors ack credit for WebSocket clients. Updates skip
 * counters. */
sb_encoded_frame *sb__client_next_frame(sb_client *c);

/* ws.c */
void sb__ws_install(sb_server *srv);

/* auth.c: the civetweb-facing access checks; their string logic is auth.h's. */
sb_auth_result sb__auth_check(const sb_server *srv, const struct mg_connection *conn);
/* Whether the token was supplied in the query string (the page then sets the cookie). */
bool sb__auth_token_in_query(const sb_server *srv, const struct mg_connection *conn);
/* true when the WebSocket upgrade's Origin is acceptable. */
bool sb__origin_allowed(const sb_server *srv, const struct mg_connection *conn);
/* DNS rebinding guard (sb__host_allowed_request). */
bool sb__host_allowed(const sb_server *srv, const struct mg_connection *conn);

/* Sends a small plain-text HTTP response and closes the exchange. */
void sb__http_reply(struct mg_connection *conn, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len);

#endif /* SB_SERVER_INTERNAL_H */
