/* clients.h - the registry of connected viewers (WebSocket and MJPEG) between the endpoints
 * (ws.c, server.c's /video.mjpeg) and the encoder: admission (max_clients, per-address cap),
 * the "new frame" announcement, and each client's next frame with ack credit.
 *
 * Calls go one way: endpoints -> clients -> encoder. The encoder reaches the registry only
 * through its on_new_frame callback (sb__clients_on_new_frame). Lock order: server_internal.h.
 * Not installed. */
#ifndef SB_CLIENTS_H
#define SB_CLIENTS_H

#include "encoder.h"
#include "stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct mg_connection;
struct sb_server;
struct sb_server_stream;
struct sb_clients;

/* Ack credit: unacknowledged messages a WebSocket client may have. Video allows more: its
 * packets are smaller and a client must get every one, so a little more in flight keeps a
 * client with a longer round trip from falling behind the packet ring (docs/wire-protocol.md). */
#define SB_CLIENT_MAX_IN_FLIGHT 2
#define SB_CLIENT_MAX_IN_FLIGHT_VIDEO 4

typedef enum { SB_CLIENT_WS = 1, SB_CLIENT_MJPEG = 2 } sb_client_kind;

typedef struct sb_client {
    struct sb_clients *registry;
    struct sb_server *srv;    /* the endpoint's server (ws.c reads its options) */
    struct sb_server_stream *stream; /* the stream it watches (its queue, encoder, counters) */
    struct mg_connection *conn;
    int fd;                   /* conn's socket (conn_socket.h): frames are written to it in one
                               * sendmsg; -1: not found, written through civetweb (mg_write) */
    uint32_t id;
    sb_client_kind kind;
    char remote[64];          /* "address:port", for logs and /stats */
    char address[48];         /* the remote address alone: max_clients_per_address counts it */
    const char *refused_why;  /* set when sb__client_register refuses: static text for the 503 */

    /* Taken under registry->mu (announce, close_all); takes the encoder's mu inside
     * (sb__client_next_frame). Guards everything down to the counters. */
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* new frame, ack, or closing */
    bool closing;       /* stop sending: the connection is going away */
    bool dead;          /* a send failed or timed out: close at the next chance */
    uint64_t in_flight_seq[SB_CLIENT_MAX_IN_FLIGHT_VIDEO];
    uint64_t in_flight_send_ns[SB_CLIENT_MAX_IN_FLIGHT_VIDEO];  /* CLOCK_REALTIME: ack RTT */
    uint64_t in_flight_since_ns[SB_CLIENT_MAX_IN_FLIGHT_VIDEO]; /* MONOTONIC: ack_timeout_ms */
    int in_flight; /* [0] is the oldest */
    uint64_t last_sent_id;
    uint64_t last_distinct_no;
    uint32_t last_ack_rtt_us;
    int codec;                /* SB_CODEC_*: what this client is sent (JPEG until CODEC) */
    sb_video_cursor video;    /* its place in the codec's packets (video codecs) */
    uint64_t video_seq;       /* seq of the last video packet it was sent */
    int answer_reason;        /* >= 0: a CODEC ANSWER (codec, this reason) is owed before the
                               * next frame (the fallback after a codec failed); -1 none */
    bool sender_done;   /* ws.c: the sender thread has finished (its 1001 close is out) */
    bool sender_started; /* ws.c: set once under mu; read by sb__clients_close_all */

    /* Counters, read by /stats. */
    atomic_int codec_now;     /* = codec, for readers without mu (/stats) */
    atomic_uint_fast64_t sent;
    atomic_uint_fast64_t skipped;
    atomic_uint_fast64_t bytes;

    /* Input (ws.c's reader thread only). */
    bool logged;             /* one log line per client for rejected input */
    uint32_t view_w, view_h; /* client's display size from hello/events */
    double tokens;           /* token bucket for events */
    uint64_t bucket_ns;
    uint64_t abuse_window_ns;
    uint32_t abuse_drops;
    double video_tokens;     /* token bucket for CODEC and KEYFRAME REQUEST */
    uint64_t video_bucket_ns;
    uint64_t video_abuse_window_ns;
    uint32_t video_abuse_drops;
    bool hello_seen;
    bool view_only;          /* connected with the view token: input refused (set at connect) */
    bool spoke;              /* a valid message arrived (the first-message bound is met) */
    uint64_t connected_ns;   /* CLOCK_MONOTONIC of the upgrade */

    /* A close frame went out (under the connection's lock): nothing may follow it. */
    atomic_bool close_sent;

    pthread_t sender;       /* ws.c */
    bool sender_joined;     /* the reader joined it already (ws_close must not again) */
    struct sb_client *next; /* registry list, under registry->mu */
    struct sb_client *admitted_next; /* the server-wide admission list, under admission->mu */
} sb_client;

/* The server-wide admission limits: max_clients and max_clients_per_address count the clients
 * of every stream together (the limits protect the server's threads and sockets, which the
 * streams share). */
typedef struct sb_admission {
    pthread_mutex_t mu; /* LEAF, taken under clients.mu (register/unregister) */
    sb_client *list;    /* every registered client, through admitted_next */
    atomic_int count;
    int max_clients, max_per_address;
} sb_admission;

void sb__admission_init(sb_admission *a, int max_clients, int max_per_address);
void sb__admission_destroy(sb_admission *a);
/* Clients registered now, all streams. Any thread. */
int sb__admission_count(const sb_admission *a);

typedef struct sb_clients {
    /* Taken before any client's mu; never held while calling out of this module. */
    pthread_mutex_t mu;
    sb_client *list;
    atomic_int count;
    atomic_uint *next_id;        /* borrowed: the server's, so ids are unique across streams */
    sb_admission *admission;     /* borrowed: the server's limits */
    sb_encoder *encoder;         /* borrowed: the frames */
    sb_stats *stats;             /* borrowed */
    const atomic_bool *stopping; /* borrowed: the stream's stop flag (removed, or the server
                                  * stops) */
} sb_clients;

void sb__clients_init(sb_clients *cl, sb_admission *admission, atomic_uint *next_id,
                      sb_encoder *encoder, sb_stats *stats, const atomic_bool *stopping);
/* Every client must be unregistered and freed. */
void sb__clients_destroy(sb_clients *cl);

/* A client of conn (any thread; not registered yet). NULL when out of memory. */
sb_client *sb__client_new(sb_clients *cl, struct sb_server *srv,
                          struct sb_server_stream *stream, sb_client_kind kind,
                          struct mg_connection *conn);
void sb__client_free(sb_client *c);
/* Registration fails (returns false, c->refused_why says why, clients_refused counts it) when
 * the stream is stopping, max_clients is reached or c's address has max_clients_per_address
 * (both counted over every stream: sb_admission). */
bool sb__client_register(sb_clients *cl, sb_client *c);
/* A registered client is a consumer of its codec (sb__encoder_jpeg_join / video_join): JPEG
 * from registration, until sb__client_set_codec moves it; unregister ends it. */
void sb__client_unregister(sb_clients *cl, sb_client *c);
/* Sets c->closing and wakes c (its sender or MJPEG handler). Any thread. */
void sb__client_close(sb_client *c);

/* The encoder's on_new_frame callback (user_data = the sb_clients): wakes every client. */
void sb__clients_on_new_frame(void *clients);
/* Tells every client to stop and waits (at most wait_ms in all) for the WebSocket senders to
 * finish. */
void sb__clients_close_all(sb_clients *cl, int wait_ms);
int sb__clients_count(const sb_clients *cl);
/* Calls fn for every registered client, under cl->mu: fn must take no lock and not block. */
void sb__clients_foreach(sb_clients *cl, void (*fn)(const sb_client *c, void *arg), void *arg);

/* How many frames c (a WebSocket client) may have unacknowledged: SB_CLIENT_MAX_IN_FLIGHT for
 * JPEG, SB_CLIENT_MAX_IN_FLIGHT_VIDEO for a video codec. Under c->mu. */
int sb__client_credit(const sb_client *c);

/* Waits until there is something for c (or closing/stop): for JPEG, the encoder's newest frame
 * when it differs from the last one c got; for a video codec, the next packet in order (or
 * the keyframe c waits for). Returns it with a reference for the caller, or NULL when the
 * client should stop. Honors ack credit for WebSocket clients. Counts skips. A video codec that
 * failed moves c to JPEG with a CODEC ANSWER owed (answer_reason). Called by c's sending
 * thread only. */
sb_encoded_frame *sb__client_next_frame(sb_client *c);

/* Switches c to codec (SB_CODEC_*; the caller checked it is allowed and available): a video
 * client starts at a keyframe. Any thread (the reader). */
void sb__client_set_codec(sb_client *c, int codec);
/* KEYFRAME REQUEST from c: a video client waits for the next keyframe (requested). */
void sb__client_request_key(sb_client *c);
/* Whether something newer than what c was sent waits for it (the ack timeout's test). */
bool sb__client_newer_waits(sb_client *c);

#endif /* SB_CLIENTS_H */
