/* server_test_util.h - helpers for the server tests and the server benchmark: a synthetic
 * producer thread, HTTP requests and WebSocket clients built on civetweb's client functions,
 * raw sockets for misbehaving clients, JPEG decoding. */
#ifndef SERVER_TEST_UTIL_H
#define SERVER_TEST_UTIL_H

#include "sb_clock.h" /* the library's own clocks: timestamps compare with the server's */
#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"
#include "streambridge/server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

/* CUnit suite init for suites that talk to a server: a peer that hangs up must not kill the
 * test with SIGPIPE, and civetweb's client functions need the library initialised. */
static inline int st_suite_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    mg_init_library(0);
    return 0;
}

/* Waits ms. Only as the poll interval of a wait helper, to pace a producer, or as the grace
 * period before asserting that something did NOT happen; never between an action and an
 * assertion about its effect: wait for the effect (ST_WAIT_UNTIL). See tests/README.md. */
static inline void st_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* How long a test waits for a condition before calling it failed: tens of seconds, so the
 * sanitizers and parallel tests on a loaded 2-core machine make a test slower, never red. */
#define ST_DEADLINE_MS 60000
/* How often the wait helpers look again. */
#define ST_POLL_MS 5
/* How long one HTTP request may wait for its response: a third of the deadline, so a request
 * that hangs (a server restarting under it) leaves a condition wait room for more tries. */
#define ST_REQUEST_TIMEOUT_MS (ST_DEADLINE_MS / 3)

/* Evaluates cond until it is true or timeout_ms passed; ok (a bool lvalue) receives the last
 * result. The general "wait until a condition or a deadline" of the C tests:
 *     bool quiet;
 *     ST_WAIT_UNTIL(quiet, st_server_stats(f.srv).clients == 0, ST_DEADLINE_MS);
 *     CU_ASSERT(quiet); */
#define ST_WAIT_UNTIL(ok, cond, timeout_ms)                                                      \
    do {                                                                                         \
        uint64_t st_wait_deadline_ = sb__monotonic_ns() + (uint64_t)(timeout_ms) * 1000000ull; \
        while (!((ok) = (cond)) && sb__monotonic_ns() < st_wait_deadline_)                       \
            st_sleep_ms(ST_POLL_MS);                                                             \
    } while (0)

/* The same for a condition that is a function: true once cond(arg) returned true, false when
 * timeout_ms passed first. */
static inline bool st_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    bool ok;
    ST_WAIT_UNTIL(ok, cond(arg), timeout_ms);
    return ok;
}

/* ---- synthetic frames ------------------------------------------------------------------------ */

/* The gray level of the marker square drawn for seq: a checksum region that survives JPEG. */
static inline unsigned st_marker_value(uint64_t seq)
{
    return (unsigned)((seq * 37u) % 200u) + 28u;
}

/* BGRA gradient (noisy when noise != 0, to make large JPEGs) with a 64x64 marker square at the
 * top-left whose gray level encodes seq. */
static inline void st_fill_frame(uint8_t *px, uint32_t w, uint32_t h, uint32_t stride, uint64_t seq,
                                 int noise)
{
    uint32_t rng = (uint32_t)seq * 2654435761u + 1u;
    unsigned m = st_marker_value(seq);
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *row = px + (size_t)y * stride;
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = row + 4 * x;
            if (x < 64 && y < 64) {
                p[0] = p[1] = p[2] = (uint8_t)m;
            } else {
                unsigned v = (x + y + (unsigned)seq * 3u) & 0xff;
                if (noise) {
                    rng = rng * 1103515245u + 12345u;
                    v = (v + (rng >> 24)) & 0xff;
                }
                p[0] = (uint8_t)v;
                p[1] = (uint8_t)(x * 255u / w);
                p[2] = (uint8_t)(y * 255u / h);
            }
            p[3] = 255;
        }
    }
}

typedef struct st_producer {
    sb_frame_ring *ring;
    uint32_t width, height;
    int count;        /* frames to publish */
    int interval_ms;
    int noise;
    atomic_int published;
    atomic_bool stop;
    pthread_t thread;
    uint64_t publish_ns[4096]; /* CLOCK_REALTIME publish time per seq (seq < 4096) */
} st_producer;

static inline void *st_producer_main(void *arg)
{
    st_producer *p = arg;
    for (int i = 0; i < p->count && !atomic_load(&p->stop); i++) {
        uint8_t *px;
        uint32_t stride;
        if (sb_frame_ring_begin_write(p->ring, p->width, p->height, SB_PIXEL_BGRA, &px, &stride) !=
            SB_OK)
            break;
        uint64_t next = sb_frame_ring_latest_seq(p->ring) + 1;
        st_fill_frame(px, p->width, p->height, stride, next, p->noise);
        uint64_t now = sb__realtime_ns();
        uint64_t seq = 0;
        if (sb_frame_ring_commit(p->ring, 0, now, &seq) != SB_OK)
            break;
        if (seq < 4096)
            p->publish_ns[seq] = now;
        atomic_fetch_add(&p->published, 1);
        if (p->interval_ms)
            st_sleep_ms(p->interval_ms);
    }
    return NULL;
}

static inline void st_producer_start(st_producer *p, sb_frame_ring *ring, uint32_t w, uint32_t h,
                                     int count, int interval_ms)
{
    memset(p, 0, sizeof *p);
    p->ring = ring;
    p->width = w;
    p->height = h;
    p->count = count;
    p->interval_ms = interval_ms;
    pthread_create(&p->thread, NULL, st_producer_main, p);
}

static inline void st_producer_join(st_producer *p)
{
    pthread_join(p->thread, NULL);
}

/* Publishes count frames interval_ms apart on a producer thread and waits until it is done. */
static inline void st_produce(sb_frame_ring *ring, uint32_t w, uint32_t h, int count,
                              int interval_ms)
{
    st_producer p;
    st_producer_start(&p, ring, w, h, count, interval_ms);
    st_producer_join(&p);
}

/* Publishes one frame synchronously. */
static inline uint64_t st_publish_one(sb_frame_ring *ring, uint32_t w, uint32_t h)
{
    uint8_t *px;
    uint32_t stride;
    if (sb_frame_ring_begin_write(ring, w, h, SB_PIXEL_BGRA, &px, &stride) != SB_OK)
        return 0;
    uint64_t next = sb_frame_ring_latest_seq(ring) + 1;
    st_fill_frame(px, w, h, stride, next, 0);
    uint64_t seq = 0;
    sb_frame_ring_commit(ring, 0, 0, &seq);
    return seq;
}

/* ---- a producer in another process --------------------------------------------------------- */

/* Forks a process that creates the w x h shm ring NAME (and the event queue NAME when
 * with_event_queue), publishes nframes, then waits until *release_fd is written to (or closed)
 * and destroys both (unlinking the segments). The producer lives in another process, as with
 * streambridge-server. */
static inline pid_t st_fork_shm_producer(const char *name, uint32_t w, uint32_t h,
                                         bool with_event_queue, int nframes, int *release_fd)
{
    int ready[2], done[2];
    if (pipe(ready) || pipe(done))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(done[1]);
        close(ready[0]);
        sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
        ro.max_width = w;
        ro.max_height = h;
        ro.shm_name = name;
        sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
        qo.shm_name = name;
        sb_frame_ring *ring = NULL;
        sb_event_queue *q = NULL;
        char ok = sb_frame_ring_create(&ro, &ring) == SB_OK &&
                          (!with_event_queue || sb_event_queue_create(&qo, &q) == SB_OK)
                      ? 'y'
                      : 'n';
        for (int i = 0; i < nframes && ok == 'y'; i++)
            st_publish_one(ring, w, h);
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        char x;
        if (read(done[0], &x, 1) < 0)
            _exit(1);
        sb_event_queue_destroy(q);
        sb_frame_ring_destroy(ring);
        _exit(0);
    }
    close(done[0]);
    close(ready[1]);
    char ok = 0;
    if (read(ready[0], &ok, 1) != 1 || ok != 'y') {
        close(ready[0]);
        close(done[1]);
        waitpid(pid, NULL, 0);
        return -1;
    }
    close(ready[0]);
    *release_fd = done[1];
    return pid;
}

/* ---- a heap ring + queue + server on an ephemeral port -------------------------------------- */

typedef struct st_server {
    sb_frame_ring *ring;
    sb_event_queue *queue;
    sb_server *srv;
    int port;
} st_server;

/* Starts *srv with options o (port forced to 0) on ring and queue (NULL: none), e.g. handles
 * attached to a producer's shm; SB_OK or the error, which it prints. */
static inline int st_server_start_on(sb_frame_ring *ring, sb_event_queue *queue, sb_server_options *o,
                                     sb_server **srv)
{
    o->port = 0;
    int rc = sb_server_create(ring, queue, o, srv);
    if (rc != SB_OK)
        fprintf(stderr, "sb_server_create: %s\n", sb_last_error());
    return rc;
}

/* Starts a server with options o (port forced to 0) on a fresh max_w x max_h heap ring. */
static inline int st_server_start(st_server *f, sb_server_options *o, uint32_t max_w, uint32_t max_h)
{
    memset(f, 0, sizeof *f);
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = max_w;
    ro.max_height = max_h;
    sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
    if (sb_frame_ring_create(&ro, &f->ring) != SB_OK || sb_event_queue_create(&qo, &f->queue) != SB_OK)
        return -1;
    int rc = st_server_start_on(f->ring, f->queue, o, &f->srv);
    if (rc != SB_OK)
        return rc;
    sb_server_get_port(f->srv, &f->port);
    return 0;
}

static inline void st_server_stop(st_server *f)
{
    sb_server_destroy(f->srv);
    sb_event_queue_destroy(f->queue);
    sb_frame_ring_destroy(f->ring);
}

static inline sb_server_stats st_server_stats(sb_server *srv)
{
    sb_server_stats s = SB_SERVER_STATS_INIT;
    sb_server_get_stats(srv, &s);
    return s;
}

static inline uint32_t st_server_clients(st_server *f)
{
    return st_server_stats(f->srv).clients;
}

/* ---- JPEG ------------------------------------------------------------------------------------ */

/* Decodes; fills width/height; returns the mean gray of the inner 32x32 of the marker square,
 * or -1 when the data is not a JPEG. */
static inline int st_decode_jpeg(const void *data, size_t len, int *width, int *height)
{
    tjhandle tj = tjInitDecompress();
    int w = 0, h = 0, ss = 0, cs = 0;
    int result = -1;
    if (tjDecompressHeader3(tj, (const unsigned char *)data, (unsigned long)len, &w, &h, &ss, &cs) ==
        0) {
        unsigned char *rgb = malloc((size_t)w * (size_t)h * 3);
        if (rgb && tjDecompress2(tj, (const unsigned char *)data, (unsigned long)len, rgb, w, 0, h,
                                 TJPF_RGB, 0) == 0) {
            unsigned long sum = 0, n = 0;
            for (int y = 16; y < 48 && y < h; y++)
                for (int x = 16; x < 48 && x < w; x++) {
                    sum += rgb[((size_t)y * (size_t)w + (size_t)x) * 3 + 1];
                    n++;
                }
            result = n ? (int)(sum / n) : 0;
        }
        free(rgb);
    }
    tjDestroy(tj);
    if (width)
        *width = w;
    if (height)
        *height = h;
    return result;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

typedef struct st_response {
    int status;
    char *body;
    size_t len;
    char headers[2048]; /* "Name: value\n" lines */
} st_response;

static inline void st_response_free(st_response *r)
{
    free(r->body);
    r->body = NULL;
}

/* GET path with extra header lines ("X: y\r\n..." or NULL). Reads the body up to max_body bytes
 * (for endless streams). Returns 0 on success. */
static inline int st_http_get(int port, const char *path, const char *extra_headers,
                              size_t max_body, st_response *r)
{
    memset(r, 0, sizeof *r);
    char ebuf[256] = "";
    struct mg_connection *c = mg_connect_client("127.0.0.1", port, 0, ebuf, sizeof ebuf);
    if (!c)
        return -1;
    mg_printf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n", path, port,
              extra_headers ? extra_headers : "");
    if (mg_get_response(c, ebuf, sizeof ebuf, ST_REQUEST_TIMEOUT_MS) < 0) {
        mg_close_connection(c);
        return -1;
    }
    const struct mg_response_info *ri = mg_get_response_info(c);
    r->status = ri->status_code;
    for (int i = 0; i < ri->num_headers; i++) {
        size_t used = strlen(r->headers);
        snprintf(r->headers + used, sizeof r->headers - used, "%s: %s\n", ri->http_headers[i].name,
                 ri->http_headers[i].value);
    }
    size_t cap = 65536;
    r->body = malloc(cap + 1);
    for (;;) {
        if (r->len == cap) {
            if (cap >= max_body)
                break;
            cap *= 2;
            r->body = realloc(r->body, cap + 1);
        }
        size_t want = cap - r->len;
        if (r->len + want > max_body)
            want = max_body - r->len;
        if (want == 0)
            break;
        int n = mg_read(c, r->body + r->len, want);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->body[r->len] = '\0';
    mg_close_connection(c);
    return 0;
}

static inline int st_http_status(int port, const char *path, const char *extra_headers)
{
    st_response r;
    if (st_http_get(port, path, extra_headers, 1 << 20, &r) != 0)
        return -1;
    st_response_free(&r);
    return r.status;
}

/* Whether GET path answers status with a body containing needle (NULL: any body). */
static inline bool st_http_answers(int port, const char *path, int status, const char *needle)
{
    st_response r;
    if (st_http_get(port, path, NULL, 1 << 20, &r) != 0)
        return false;
    bool ok = r.status == status && (!needle || strstr(r.body, needle));
    st_response_free(&r);
    return ok;
}

/* Polls GET path until it answers status with a body containing needle (NULL: any body); false
 * when timeout_ms passed first. */
static inline bool st_http_until(int port, const char *path, int status, const char *needle,
                                 int timeout_ms)
{
    bool ok;
    ST_WAIT_UNTIL(ok, st_http_answers(port, path, status, needle), timeout_ms);
    return ok;
}

/* ---- WebSocket client (civetweb) ------------------------------------------------------------- */

#define ST_MAX_SEQS 4096

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
    bool closed;
    int close_code;
    char error[256];
} st_ws;

static inline void st_ws_ack(st_ws *w, uint64_t seq)
{
    unsigned char ack[12] = {2, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        ack[4 + i] = (unsigned char)(seq >> (8 * i));
    mg_websocket_client_write(w->conn, MG_WEBSOCKET_OPCODE_BINARY, (const char *)ack, sizeof ack);
}

static inline int st_ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *user)
{
    st_ws *w = user;
    (void)conn;
    int opcode = flags & 0x0f;
    pthread_mutex_lock(&w->mu);
    if (opcode == MG_WEBSOCKET_OPCODE_BINARY && len >= 48 && (unsigned char)data[0] == 0x53) {
        const unsigned char *h = (const unsigned char *)data;
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq |= (uint64_t)h[16 + i] << (8 * i);
        if (w->frames < ST_MAX_SEQS) {
            uint64_t capture = 0, sent = 0;
            for (int i = 0; i < 8; i++) {
                capture |= (uint64_t)h[24 + i] << (8 * i);
                sent |= (uint64_t)h[32 + i] << (8 * i);
            }
            w->server_ns[w->frames] = sent > capture ? sent - capture : 0;
            uint64_t now = sb__realtime_ns();
            w->seqs[w->frames] = seq;
            w->recv_ns[w->frames] = now;
            w->latency_ns[w->frames] = now > capture ? now - capture : 0;
        }
        if (seq < w->last_seq)
            w->in_order = false;
        w->last_seq = seq;
        w->width = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16;
        w->height = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16;
        w->last_quality = h[12];
        w->last_still = h[13] & 1;
        w->frames++;
        pthread_cond_broadcast(&w->cv);
        bool ack = w->auto_ack;
        pthread_mutex_unlock(&w->mu);
        if (ack && w->conn)
            st_ws_ack(w, seq);
        return 1;
    }
    if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
        w->close_code = len >= 2 ? ((unsigned char)data[0] << 8 | (unsigned char)data[1]) : 1005;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    pthread_mutex_unlock(&w->mu);
    return 1;
}

static inline void st_ws_closed(const struct mg_connection *conn, void *user)
{
    st_ws *w = user;
    (void)conn;
    pthread_mutex_lock(&w->mu);
    w->closed = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Connects to /ws (path may carry a query). origin NULL = no Origin header. */
static inline int st_ws_connect(st_ws *w, int port, const char *path, const char *origin,
                                bool auto_ack)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->auto_ack = auto_ack;
    w->in_order = true;
    /* The ack callback may run before conn is stored: hold the lock across the connect. */
    pthread_mutex_lock(&w->mu);
    w->conn = mg_connect_websocket_client("127.0.0.1", port, 0, w->error, sizeof w->error,
                                          path ? path : "/ws", origin, st_ws_data, st_ws_closed, w);
    pthread_mutex_unlock(&w->mu);
    return w->conn ? 0 : -1;
}

static inline bool st_ws_wait_closed(st_ws *w, int timeout_ms);

/* A polite close (close frame, wait for the server's) so civetweb's client thread ends at once
 * instead of at its next read timeout; then frees the connection. */
static inline void st_ws_close(st_ws *w)
{
    if (w->conn) {
        pthread_mutex_lock(&w->mu);
        bool closed = w->closed;
        pthread_mutex_unlock(&w->mu);
        if (!closed) {
            const char normal[2] = {0x03, (char)0xe8}; /* 1000 */
            mg_websocket_client_write(w->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, normal, 2);
            st_ws_wait_closed(w, 3000);
        }
        mg_close_connection(w->conn);
    }
    w->conn = NULL;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static inline int st_ws_send(st_ws *w, const void *data, size_t len, int opcode)
{
    return mg_websocket_client_write(w->conn, opcode, (const char *)data, len);
}

/* Waits until at least n frames arrived (or closed); returns the frame count. */
static inline int st_ws_wait_frames(st_ws *w, int n, int timeout_ms)
{
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
    pthread_mutex_lock(&w->mu);
    while (w->frames < n && !w->closed && sb__monotonic_ns() < deadline) {
        pthread_mutex_unlock(&w->mu);
        st_sleep_ms(ST_POLL_MS);
        pthread_mutex_lock(&w->mu);
    }
    int f = w->frames;
    pthread_mutex_unlock(&w->mu);
    return f;
}

/* The seq of the newest frame received so far (0: none yet). */
static inline uint64_t st_ws_last_seq(st_ws *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t seq = w->frames ? w->last_seq : 0;
    pthread_mutex_unlock(&w->mu);
    return seq;
}

static inline bool st_ws_wait_closed(st_ws *w, int timeout_ms)
{
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
    pthread_mutex_lock(&w->mu);
    while (!w->closed && sb__monotonic_ns() < deadline) {
        pthread_mutex_unlock(&w->mu);
        st_sleep_ms(ST_POLL_MS);
        pthread_mutex_lock(&w->mu);
    }
    bool c = w->closed;
    pthread_mutex_unlock(&w->mu);
    return c;
}

/* ---- client messages (docs/wire-protocol.md) ------------------------------------------------- */

static inline void st_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void st_put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    st_put_u32(p, u);
}

static inline void st_hello(unsigned char m[12], uint32_t view_w, uint32_t view_h)
{
    memset(m, 0, 12);
    m[0] = 1;
    m[1] = 1;
    st_put_u32(m + 4, view_w);
    st_put_u32(m + 8, view_h);
}

static inline void st_event(unsigned char m[80], int type, int button, float x, float y,
                            uint32_t view_w, uint32_t view_h)
{
    memset(m, 0, 80);
    m[0] = 3;
    m[1] = (unsigned char)type;
    m[2] = (unsigned char)button;
    st_put_f32(m + 4, x);
    st_put_f32(m + 8, y);
    st_put_u32(m + 12, view_w);
    st_put_u32(m + 16, view_h);
}

/* ---- raw sockets ----------------------------------------------------------------------------- */

static inline int st_raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The port at the end of a streambridge-server's first output line ("...:PORT") read from fd,
 * 0 if there is none. */
static inline int st_read_announced_port(int fd)
{
    char line[256] = "";
    size_t n = 0;
    while (n + 1 < sizeof line && !strchr(line, '\n')) {
        ssize_t r = read(fd, line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    const char *colon = strrchr(line, ':');
    return colon ? atoi(colon + 1) : 0;
}

/* Sends a raw request and returns the status code of the reply's first line (-1 if none). */
static inline int st_raw_request_status(int fd, const char *request)
{
    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request))
        return -1;
    char buf[64];
    size_t n = 0;
    struct timeval tv = {ST_REQUEST_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (n < 12) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* A WebSocket upgrade request for /ws with an optional Origin and extra headers. */
static inline void st_ws_upgrade_request(char *out, size_t size, int port, const char *path,
                                         const char *origin, const char *extra)
{
    char origin_line[256] = "";
    if (origin)
        snprintf(origin_line, sizeof origin_line, "Origin: %s\r\n", origin);
    snprintf(out, size,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n%s%s\r\n",
             path, port, origin_line, extra ? extra : "");
}

/* Sends a WebSocket upgrade for path (with an optional Origin) on a fresh raw connection and
 * returns the status of the reply (-1 if none); the connection is closed again. */
static inline int st_ws_upgrade_status(int port, const char *path, const char *origin)
{
    int fd = st_raw_connect(port);
    if (fd < 0)
        return -1;
    char req[768];
    st_ws_upgrade_request(req, sizeof req, port, path, origin, NULL);
    int status = st_raw_request_status(fd, req);
    close(fd);
    return status;
}

#endif /* SERVER_TEST_UTIL_H */
