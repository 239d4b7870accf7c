/* sb_test_http.h - the test side of HTTP and WebSocket: requests and WebSocket clients built on
 * civetweb's client functions, the client messages of docs/wire-protocol.md, and raw sockets for
 * misbehaving clients. For the server tests, the shm tests that run a server and bench/. */
#ifndef SB_TEST_HTTP_H
#define SB_TEST_HTTP_H

#include "sb_test_wait.h"

#include <civetweb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CUnit suite init for suites that talk to a server: a peer that hangs up must not kill the
 * test with SIGPIPE, and civetweb's client functions need the library initialised. */
int st_suite_init(void);

/* How long one HTTP request may wait for its response: a third of the deadline, so a request
 * that hangs (a server restarting under it) leaves a condition wait room for more tries. */
#define ST_REQUEST_TIMEOUT_MS (ST_DEADLINE_MS / 3)

/* ---- HTTP ------------------------------------------------------------------------------------ */

typedef struct st_response {
    int status;
    char *body;
    size_t len;
    char headers[2048]; /* "Name: value\n" lines */
} st_response;

/* Frees the body of a response st_http_get filled. */
void st_response_free(st_response *r);

/* GET path with extra header lines ("X: y\r\n..." or NULL). Reads the body up to max_body bytes
 * (for endless streams). Returns 0 on success. */
int st_http_get(int port, const char *path, const char *extra_headers,
                size_t max_body, st_response *r);

/* The status GET path answers with, -1 if none. */
int st_http_status(int port, const char *path, const char *extra_headers);

/* Polls GET path until it answers status with a body containing needle (NULL: any body); false
 * when timeout_ms passed first. */
bool st_http_until(int port, const char *path, int status, const char *needle, int timeout_ms);

/* ---- WebSocket client (civetweb) ------------------------------------------------------------- */

#define ST_MAX_SEQS 4096

/* Called for each VIDEO FRAME (type 0x02) with the whole message (88-byte header + packet), on
 * civetweb's client thread, without the st_ws lock held. */
typedef void (*st_ws_video_fn)(void *user, const unsigned char *msg, size_t len);

typedef struct st_ws {
    struct mg_connection *conn;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool auto_ack;
    int frames;
    bool in_order;
    uint64_t last_seq;
    uint64_t seqs[ST_MAX_SEQS];
    uint64_t recv_ns[ST_MAX_SEQS]; /* CLOCK_REALTIME when the whole message was in hand */
    uint64_t latency_ns[ST_MAX_SEQS]; /* recv_ns - the frame's capture_ns (publish time) */
    uint64_t server_ns[ST_MAX_SEQS];  /* send_ns - capture_ns: the server's share of it */
    uint32_t width, height;
    int last_quality;
    int last_still;
    int last_marker_ok;
    /* Video (docs/wire-protocol.md, VIDEO FRAME and CODEC ANSWER). */
    int last_type;               /* message type of the newest frame: 1 JPEG, 2 video */
    int jpeg_frames, video_frames, keyframes;
    int first_video_key;         /* -1 no video frame yet; else whether the first was a key */
    uint32_t stream_id, frame_no; /* of the newest video frame */
    bool video_in_order;          /* every video frame continued its stream (frame_no + 1) or
                                   * started one at a keyframe: no gap was ever sent */
    int last_codec;               /* codec id of the newest video frame */
    uint32_t coded_width, coded_height;
    char codec_string[25];
    int answers, answer_codec, answer_reason; /* CODEC ANSWERs received, the newest one */
    st_ws_video_fn on_video;      /* optional, set before st_ws_codec */
    void *on_video_user;
    st_ws_video_fn on_jpeg;       /* optional: the same for each JPEG FRAME (type 0x01, 48-byte
                                   * header + JPEG), e.g. to decode it as a browser would; set
                                   * under mu once connected */
    void *on_jpeg_user;
    bool closed;
    int close_code;
    char error[256];
} st_ws;

/* Sends the ACK message for seq (docs/wire-protocol.md). */
void st_ws_ack(st_ws *w, uint64_t seq);

/* Connects to /ws (path may carry a query). origin NULL = no Origin header. */
int st_ws_connect(st_ws *w, int port, const char *path, const char *origin, bool auto_ack);

/* A polite close (close frame, wait for the server's) so civetweb's client thread ends at once
 * instead of at its next read timeout; then frees the connection. */
void st_ws_close(st_ws *w);

/* Sends one message (opcode: MG_WEBSOCKET_OPCODE_*). */
int st_ws_send(st_ws *w, const void *data, size_t len, int opcode);

/* Browsers set TCP_NODELAY on their sockets and civetweb's client functions do not: sets it on
 * every TCP socket of this process, so a client's small messages (acks, events) are never held
 * back by Nagle's algorithm. Call after connecting. */
void st_nodelay_all_sockets(void);

/* Waits until at least n frames arrived (or closed); returns the frame count. */
int st_ws_wait_frames(st_ws *w, int n, int timeout_ms);

/* The seq of the newest frame received so far (0: none yet). */
uint64_t st_ws_last_seq(st_ws *w);

/* Sends CODEC (wanted codec id or 255, decodable bitmask) / KEYFRAME REQUEST. */
void st_ws_codec(st_ws *w, int wanted, unsigned decodable);
void st_ws_keyframe_request(st_ws *w);

/* Waits until at least n CODEC ANSWERs arrived (or closed); returns the count. */
int st_ws_wait_answers(st_ws *w, int n, int timeout_ms);

/* Waits until at least n video frames arrived (or closed); returns the count. */
int st_ws_wait_video_frames(st_ws *w, int n, int timeout_ms);

/* Waits until the connection is closed; whether it is. */
bool st_ws_wait_closed(st_ws *w, int timeout_ms);

/* ---- client messages (docs/wire-protocol.md) ------------------------------------------------- */

/* Little-endian stores, as on the wire. */
void st_put_u32(unsigned char *p, uint32_t v);

void st_put_f32(unsigned char *p, float f);

/* A HELLO message for a view_w x view_h view. */
void st_hello(unsigned char m[12], uint32_t view_w, uint32_t view_h);

/* A CODEC message (wanted codec id or 255, decodable bitmask) and a KEYFRAME REQUEST. */
void st_codec_msg(unsigned char m[8], int wanted, unsigned decodable);
void st_keyframe_request_msg(unsigned char m[4]);

/* An EVENT message (type, button, position in view pixels of a view_w x view_h view). */
void st_event(unsigned char m[80], int type, int button, float x, float y,
              uint32_t view_w, uint32_t view_h);

/* ---- raw sockets ----------------------------------------------------------------------------- */

/* A plain TCP connection to 127.0.0.1:port, -1 on failure. */
int st_raw_connect(int port);

/* Sends a raw request and returns the status code of the reply's first line (-1 if none). */
int st_raw_request_status(int fd, const char *request);

/* A JPEG consumer for tests that count JPEG encodes (the server encodes JPEG only while someone
 * consumes it): an MJPEG viewer of /video.mjpeg that never reads. Its socket (close it when
 * done), or -1 when it was not served. */
int st_mjpeg_viewer_open(int port);

/* A WebSocket upgrade request for /ws with an optional Origin and extra headers. */
void st_ws_upgrade_request(char *out, size_t size, int port, const char *path,
                           const char *origin, const char *extra);

/* Sends a WebSocket upgrade for path (with an optional Origin) on a fresh raw connection and
 * returns the status of the reply (-1 if none); the connection is closed again. */
int st_ws_upgrade_status(int port, const char *path, const char *origin);

#endif /* SB_TEST_HTTP_H */
