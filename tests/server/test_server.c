/* test_server.c - the web server against a synthetic producer, through civetweb's own client
 * functions on 127.0.0.1 with an ephemeral port. */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_cunit.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define W 320
#define H 240

/* ---- fixture: st_server (sb_test_server.h) with this file's frame size --------------------- */

/* The same default server for every test that sets no option. */
static int fixture_start(st_server *f)
{
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    return st_server_start(f, &o, W, H);
}

/* Waits until the server has encoded frame seq (frames_encoded + coalesced reached it). */
static bool wait_encoded(st_server *f, uint64_t n, int timeout_ms)
{
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (sb__monotonic_ns() < deadline) {
        sb_server_stats s = st_server_stats(f->srv);
        if (s.frames_encoded >= n)
            return true;
        st_sleep_ms(ST_POLL_MS);
    }
    return false;
}

/* Connects an acking WebSocket viewer, publishes a frame and expects exactly that frame. */
static void connect_viewer_and_publish_a_frame(st_server *f, st_ws *ws, int timeout_ms)
{
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(ws, f->port, "/ws", NULL, true), 0);
    st_publish_one(f->ring, W, H);
    CU_ASSERT_EQUAL(st_ws_wait_frames(ws, 1, timeout_ms), 1);
}

/* ---- options and lifecycle --------------------------------------------------------------------- */

static void test_start_rejects_bad_options(void)
{
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&ro, &ring), SB_OK);
    sb_server *srv = NULL;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.version = 99;
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &o, &srv), SB_EVERSION);
    CU_ASSERT_PTR_NULL(srv);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "sb_server_create"));

    struct { const char *what; void (*set)(sb_server_options *); } cases[] = {
        {"jpeg_quality_interactive", NULL}, {"jpeg_quality_still", NULL}, {"max_fps", NULL},
        {"port", NULL}, {"max_clients", NULL}, {"bind_address", NULL}, {"access_token", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb_server_options b = SB_SERVER_OPTIONS_INIT;
        b.port = 0;
        switch (i) {
        case 0: b.jpeg_quality_interactive = 0; break;
        case 1: b.jpeg_quality_still = 101; break;
        case 2: b.max_fps = NAN; break;
        case 3: b.port = 70000; break;
        case 4: b.max_clients = 0; break;
        case 5: b.bind_address = "localhost; rm -rf"; break;
        case 6: b.access_token = "has space"; break;
        }
        CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &b, &srv), SB_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), cases[i].what));
    }
    /* NULL, NULL is a server with no default stream (test_multistream); a queue without a
     * ring is a mistake. */
    sb_event_queue *queue = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_create(NULL, &queue), SB_OK);
    CU_ASSERT_EQUAL(sb_server_create(NULL, queue, NULL, &srv), SB_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "ring is NULL"));
    sb_event_queue_destroy(queue);
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, NULL, NULL), SB_EINVAL);
    sb_server_destroy(NULL); /* ignored */
    sb_frame_ring_destroy(ring);
}

static void test_bind_failure_reports_enet_with_reason(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    CU_ASSERT(f.port > 0);
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.port = f.port; /* taken */
    sb_server *second = NULL;
    CU_ASSERT_EQUAL(sb_server_create(f.ring, NULL, &o, &second), SB_ENET);
    CU_ASSERT_PTR_NULL(second);
    CU_ASSERT(strlen(sb_last_error()) > strlen("sb_server_create(): cannot serve"));
    st_server_stop(&f);
}

/* ---- HTTP endpoints ---------------------------------------------------------------------------- */

static void test_snapshot_is_503_before_first_frame(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/snapshot.jpg", NULL), 503);
    st_server_stop(&f);
}

static void test_snapshot_decodes_to_frame_size(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    int viewer = st_mjpeg_viewer_open(f.port); /* JPEG is encoded while someone consumes it */
    CU_ASSERT_FATAL(viewer >= 0);
    uint64_t seq = st_publish_one(f.ring, W, H);
    CU_ASSERT_FATAL(wait_encoded(&f, 1, ST_DEADLINE_MS)); /* /snapshot.jpg waits 2 s at most */
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/snapshot.jpg", NULL, 1 << 22, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "image/jpeg"));
    int w = 0, h = 0;
    int marker = st_decode_jpeg(r.body, r.len, &w, &h);
    CU_ASSERT_EQUAL(w, W);
    CU_ASSERT_EQUAL(h, H);
    CU_ASSERT(abs(marker - (int)st_marker_value(seq)) <= 6);
    st_response_free(&r);
    close(viewer);
    st_server_stop(&f);
}

static void test_mjpeg_parts_decode_to_frame_size(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_producer p;
    st_producer_start(&p, f.ring, W, H, 1000, 30); /* stopped below */
    char ebuf[256];
    struct mg_connection *c = mg_connect_client("127.0.0.1", f.port, 0, ebuf, sizeof ebuf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    mg_printf(c, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CU_ASSERT_FATAL(mg_get_response(c, ebuf, sizeof ebuf, ST_REQUEST_TIMEOUT_MS) >= 0);
    const struct mg_response_info *ri = mg_get_response_info(c);
    CU_ASSERT_EQUAL(ri->status_code, 200);
    const char *ct = NULL;
    for (int i = 0; i < ri->num_headers; i++)
        if (strcasecmp(ri->http_headers[i].name, "Content-Type") == 0)
            ct = ri->http_headers[i].value;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
    CU_ASSERT_PTR_NOT_NULL(strstr(ct, "multipart/x-mixed-replace"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ct, "boundary="));

    /* Read three parts. Each is a header block (Content-Type: image/jpeg) and the JPEG up to the
     * next boundary; the next part's header block follows that boundary at once (browsers show a
     * part only when the next part's headers arrive), so parts carry no Content-Length. */
    static const char delim[] = "\r\n--sbframe\r\n";
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    char *prev = malloc(cap);
    size_t prev_len = 0;
    int parts = 0;
    while (parts < 3) {
        /* Small reads: civetweb's mg_read waits until it has all it was asked for. */
        size_t want = cap - len - 1 < 1024 ? cap - len - 1 : 1024;
        int n = mg_read(c, buf + len, want);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        for (;;) {
            char *b = memmem(buf, len, delim + 2, sizeof delim - 3);
            char *end = b ? memmem(b, len - (size_t)(b - buf), "\r\n\r\n", 4) : NULL;
            if (!end)
                break;
            char *jpeg = end + 4;
            char *next = memmem(jpeg, len - (size_t)(jpeg - buf), delim, sizeof delim - 1);
            if (!next)
                break;
            *end = '\0';
            CU_ASSERT_PTR_NOT_NULL(strcasestr(b, "Content-Type: image/jpeg"));
            size_t jl = (size_t)(next - jpeg);
            int w = 0, h = 0;
            CU_ASSERT(st_decode_jpeg(jpeg, jl, &w, &h) >= 0);
            CU_ASSERT_EQUAL(w, W);
            CU_ASSERT_EQUAL(h, H);
            /* Newest frames only, never a repeat (the producer's frames all differ). */
            CU_ASSERT(parts == 0 || jl != prev_len || memcmp(jpeg, prev, jl) != 0);
            memcpy(prev, jpeg, jl);
            prev_len = jl;
            parts++;
            size_t consumed = (size_t)(next + 2 - buf); /* keep "--sbframe\r\n" */
            memmove(buf, buf + consumed, len - consumed);
            len -= consumed;
            buf[len] = '\0';
        }
    }
    CU_ASSERT(parts >= 3);
    free(prev);
    free(buf);
    mg_close_connection(c);
    atomic_store(&p.stop, true);
    st_producer_join(&p);
    st_server_stop(&f);
}

/* A still scene publishes one frame and then nothing: a browser shows that frame only once the
 * next part's header block has arrived (Chromium finishes a part when it parses the next part's
 * headers), so the server must send the boundary AND the next part's headers right after it. */
static void test_mjpeg_single_frame_is_followed_by_next_part_headers(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_publish_one(f.ring, W, H);
    /* No wait for an encode: the viewer is the first JPEG consumer, its frame is encoded on
     * its arrival. A raw socket with a receive timeout: with nothing more to come, a civetweb
     * client read would wait for good. */
    int fd = st_raw_connect(f.port);
    CU_ASSERT_FATAL(fd >= 0);
    static const char request[] = "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CU_ASSERT_FATAL(write(fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1));
    struct timeval tv = {0, 200000}; /* the poll interval of the read loop below */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* The JPEG's end marker, then at once the boundary and the next part's header block. */
    static const char after_part[] = "\xff\xd9\r\n--sbframe\r\nContent-Type: image/jpeg\r\n\r\n";
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    bool complete = false;
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (!complete && len < cap && sb__monotonic_ns() < deadline) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
        complete = memmem(buf, len, after_part, sizeof after_part - 1) != NULL;
    }
    CU_ASSERT(complete);
    CU_ASSERT_PTR_NOT_NULL(memmem(buf, len, "HTTP/1.1 200", 12));
    free(buf);
    close(fd);
    st_server_stop(&f);
}

static void test_unknown_paths_are_404_and_never_the_filesystem(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/nope", NULL), 404);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/../../etc/passwd", NULL), 404);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/CMakeLists.txt", NULL), 404);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/ws", NULL), 426);
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/", NULL, 1 << 20, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "<canvas"));
    CU_ASSERT_PTR_NULL(strcasestr(r.headers, "X-Frame-Options")); /* iframe-friendly */
    st_response_free(&r);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/client.js", NULL), 200);
    st_server_stop(&f);
}

/* Lets a st_fork_shm_producer() process go and reaps it; false when the release message could not
 * be written (closing the pipe releases it all the same). */
static bool release_producer(pid_t pid, int release_fd)
{
    bool written = write(release_fd, "x", 1) == 1;
    close(release_fd);
    waitpid(pid, NULL, 0);
    return written;
}

static void test_healthz_turns_503_when_producer_closes_ring(void)
{
    char name[64];
    snprintf(name, sizeof name, "t%d-healthz", (int)getpid());
    int release = -1;
    pid_t producer = st_fork_shm_producer(name, W, H, false, 1, &release);
    CU_ASSERT_FATAL(producer > 0);
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &ring), SB_OK);
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.port = 0;
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_server_create(ring, NULL, &o, &srv), SB_OK);
    int port = 0;
    sb_server_get_port(srv, &port);
    CU_ASSERT_EQUAL(st_http_status(port, "/healthz", NULL), 200);
    /* The producer destroys its ring: closes it and unlinks the segment. */
    CU_ASSERT(release_producer(producer, release));
    CU_ASSERT_EQUAL(st_http_status(port, "/healthz", NULL), 503);
    /* Still serving the last frame after the producer left. */
    CU_ASSERT_EQUAL(st_http_status(port, "/snapshot.jpg", NULL), 200);
    sb_server_destroy(srv);
    sb_frame_ring_destroy(ring);
}

/* A minimal JSON syntax checker: enough to prove /stats is well-formed. */
static const char *json_value(const char *p);
static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}
static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if (*p == '\\')
            p++;
        if (*p)
            p++;
    }
    return *p == '"' ? p + 1 : NULL;
}
static const char *json_value(const char *p)
{
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = json_string(json_ws(p));
                if (!p)
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = json_value(p);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    char *end;
    strtod(p, &end);
    return end == p ? NULL : end;
}

static long long json_int(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static void test_stats_json_parses_with_key_fields(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_ws ws;
    connect_viewer_and_publish_a_frame(&f, &ws, ST_DEADLINE_MS);
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/stats", NULL, 1 << 20, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    const char *end = json_value(r.body);
    CU_ASSERT_PTR_NOT_NULL(end);
    if (end)
        CU_ASSERT_EQUAL(*json_ws(end), '\0');
    CU_ASSERT_EQUAL(json_int(r.body, "frames_published"), 1);
    CU_ASSERT_EQUAL(json_int(r.body, "frames_encoded"), 1);
    CU_ASSERT_EQUAL(json_int(r.body, "clients"), 1);
    CU_ASSERT(json_int(r.body, "frames_sent") >= 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"client_list\":[{\"id\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"encode_ms_p50\":"));
    st_response_free(&r);
    st_ws_close(&ws);
    st_server_stop(&f);
}

/* One frame's walk as /stats "recent_frames" lists it. */
typedef struct listed_walk {
    unsigned long long seq, input_ns, replay_ns, render_start_ns, render_end_ns, capture_ns,
        encode_start_ns, encode_end_ns, send_ns;
} listed_walk;

/* Finds frame seq in /stats "recent_frames" once it has been sent; false if it is not (yet). */
static bool stats_lists_sent_frame(int port, uint64_t seq, listed_walk *out, char **body)
{
    st_response r;
    if (st_http_get(port, "/stats", NULL, 1 << 20, &r) != 0)
        return false;
    bool found = false;
    const char *p = r.status == 200 && r.body ? strstr(r.body, "\"recent_frames\":[") : NULL;
    while (p && !found && (p = strstr(p, "{\"seq\":")) != NULL) {
        listed_walk w;
        if (sscanf(p,
                   "{\"seq\":%llu,\"input_ns\":%llu,\"replay_ns\":%llu,\"render_start_ns\":%llu,"
                   "\"render_end_ns\":%llu,\"capture_ns\":%llu,\"encode_start_ns\":%llu,"
                   "\"encode_end_ns\":%llu,\"send_ns\":%llu}",
                   &w.seq, &w.input_ns, &w.replay_ns, &w.render_start_ns, &w.render_end_ns,
                   &w.capture_ns, &w.encode_start_ns, &w.encode_end_ns, &w.send_ns) == 9 &&
            w.seq == seq && w.send_ns != 0) {
            *out = w;
            found = true;
        }
        p++;
    }
    if (found && body) {
        *body = r.body;
        r.body = NULL;
    }
    st_response_free(&r);
    return found;
}

/* The n of one /stats "latency_ms" part, -1 if absent. */
static long long latency_part_n(const char *json, const char *part)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":{\"n\":", part);
    const char *p = strstr(json, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* The whole walk of one input, as a real producer reports it: the server stamps the event's
 * arrival, the producer replays it and publishes a frame with its times (commit_info), the
 * server adds encode and send; /stats lists them in order and counts every part. */
static void test_input_frame_walk_is_ordered_in_stats(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_ws ws;
    connect_viewer_and_publish_a_frame(&f, &ws, ST_DEADLINE_MS);
    uint64_t before_send = sb__realtime_ns();
    unsigned char ev[80];
    st_event(ev, SB_EVENT_POINTER_MOVE, SB_BUTTON_LEFT, 10.0f, 10.0f, W, H);
    CU_ASSERT(st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY) > 0);
    sb_event e;
    size_t k = 0;
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (k == 0 && sb__monotonic_ns() < deadline) {
        sb_event_queue_wait(f.queue, 100);
        sb_event_queue_pop(f.queue, &e, 1, &k);
    }
    CU_ASSERT_EQUAL_FATAL(k, 1);
    /* The server's receive time, not the client's (which st_event leaves 0). */
    CU_ASSERT(e.timestamp_ns >= before_send);
    CU_ASSERT(e.timestamp_ns <= sb__realtime_ns());

    /* The producer: replays, renders, captures. */
    uint8_t *px;
    uint32_t stride;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_begin_write(f.ring, W, H, SB_PIXEL_BGRA, &px, &stride),
                          SB_OK);
    sb_frame_info info;
    memset(&info, 0, sizeof info);
    info.input_ns = e.timestamp_ns;
    info.replay_ns = sb__realtime_ns();
    info.render_start_ns = sb__realtime_ns();
    st_fill_frame(px, W, H, stride, 2, 0);
    info.render_end_ns = sb__realtime_ns();
    uint64_t seq = 0;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_commit_info(f.ring, &info, &seq), SB_OK);

    listed_walk w;
    char *body = NULL;
    bool listed;
    ST_WAIT_UNTIL(listed, stats_lists_sent_frame(f.port, seq, &w, &body), ST_DEADLINE_MS);
    CU_ASSERT_FATAL(listed);
    CU_ASSERT_EQUAL(w.input_ns, e.timestamp_ns);
    CU_ASSERT_EQUAL(w.replay_ns, info.replay_ns);
    CU_ASSERT(w.input_ns <= w.replay_ns);
    CU_ASSERT(w.replay_ns <= w.render_start_ns);
    CU_ASSERT(w.render_start_ns <= w.render_end_ns);
    CU_ASSERT(w.render_end_ns <= w.capture_ns);
    CU_ASSERT(w.capture_ns <= w.encode_start_ns);
    CU_ASSERT(w.encode_start_ns <= w.encode_end_ns);
    CU_ASSERT(w.encode_end_ns <= w.send_ns);
    static const char *const parts[] = {"input_to_replay", "replay_to_render", "render",
                                        "capture", "capture_to_encode", "encode", "send",
                                        "input_to_publish", "input_to_send"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (latency_part_n(body, parts[i]) < 1)
            fprintf(stderr, "latency_ms.%s has no sample\n", parts[i]);
        CU_ASSERT(latency_part_n(body, parts[i]) >= 1);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"input_to_send\":{\"n\":1,\"p50\":"));
    free(body);
    st_ws_close(&ws);
    st_server_stop(&f);
}

/* ---- WebSocket frames ------------------------------------------------------------------------ */

static void test_ws_frames_arrive_in_order_with_increasing_seq(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, true), 0);
    st_produce(f.ring, W, H, 30, 20);
    CU_ASSERT(wait_encoded(&f, 1, ST_DEADLINE_MS));
    st_ws_wait_frames(&ws, 30, ST_DEADLINE_MS);
    pthread_mutex_lock(&ws.mu);
    CU_ASSERT(ws.frames >= 2);
    CU_ASSERT(ws.in_order);
    for (int i = 1; i < ws.frames && i < ST_MAX_SEQS; i++)
        CU_ASSERT(ws.seqs[i] > ws.seqs[i - 1]);
    CU_ASSERT_EQUAL(ws.width, W);
    CU_ASSERT_EQUAL(ws.height, H);
    pthread_mutex_unlock(&ws.mu);
    st_ws_close(&ws);
    st_server_stop(&f);
}

static void test_ws_ack_credit_bounds_frames_in_flight(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_ws lazy, eager;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&lazy, f.port, "/ws", NULL, false), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&eager, f.port, "/ws", NULL, true), 0);
    st_produce(f.ring, W, H, 20, 20);
    CU_ASSERT(wait_encoded(&f, 20, ST_DEADLINE_MS));
    /* Conditions first: the lazy client has its credit's worth, the eager one the last frame
     * (so the server has offered every frame to everyone). */
    CU_ASSERT(st_ws_wait_frames(&lazy, 2, ST_DEADLINE_MS) >= 2);
    bool eager_has_last;
    ST_WAIT_UNTIL(eager_has_last, st_ws_last_seq(&eager) == 20,
                  ST_DEADLINE_MS);
    CU_ASSERT(eager_has_last);
    st_sleep_ms(100); /* grace: a third frame, were one wrongly sent, would show up */
    pthread_mutex_lock(&lazy.mu);
    CU_ASSERT_EQUAL(lazy.frames, 2); /* never acked: exactly the credit */
    uint64_t second = lazy.seqs[1];
    pthread_mutex_unlock(&lazy.mu);
    /* One ack buys exactly one more frame: the newest. */
    st_ws_ack(&lazy, second);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&lazy, 3, ST_DEADLINE_MS), 3);
    st_sleep_ms(100); /* grace: a fourth frame, were one wrongly sent, would show up */
    pthread_mutex_lock(&lazy.mu);
    CU_ASSERT_EQUAL(lazy.frames, 3);
    CU_ASSERT_EQUAL(lazy.seqs[2], 20);
    pthread_mutex_unlock(&lazy.mu);
    CU_ASSERT(eager.frames >= 2);
    st_ws_close(&lazy);
    st_ws_close(&eager);
    st_server_stop(&f);
}

static void run_encoded_equals_published(int nclients)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_fps = 60;
    o.max_clients_per_address = 0; /* every client comes from 127.0.0.1 */
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_ws *ws = calloc((size_t)nclients, sizeof *ws);
    for (int i = 0; i < nclients; i++)
        CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws[i], f.port, "/ws", NULL, true), 0);
    /* The server registers a client just after the handshake the client returned from. */
    bool registered;
    ST_WAIT_UNTIL(registered, st_server_stats(f.srv).clients == (uint32_t)nclients, ST_DEADLINE_MS);
    CU_ASSERT(registered);
    /* Each frame is published once every client has the previous one: below the fps cap
     * however slow the machine is (a fixed publishing interval could outrun a starved encoder,
     * which then rightly coalesces). */
    const int frames = 20;
    for (int i = 1; i <= frames; i++) {
        st_publish_one(f.ring, W, H);
        CU_ASSERT(wait_encoded(&f, (uint64_t)i, ST_DEADLINE_MS));
        for (int k = 0; k < nclients; k++) {
            bool got;
            ST_WAIT_UNTIL(got, st_ws_last_seq(&ws[k]) == (uint64_t)i, ST_DEADLINE_MS);
            CU_ASSERT(got);
        }
    }
    sb_server_stats s = st_server_stats(f.srv);
    CU_ASSERT_EQUAL(s.frames_published, (uint64_t)frames);
    CU_ASSERT_EQUAL(s.frames_encoded, (uint64_t)frames);
    CU_ASSERT_EQUAL(s.frames_coalesced, 0);
    CU_ASSERT_EQUAL(s.clients, (uint32_t)nclients);
    int min_frames = frames;
    for (int i = 0; i < nclients; i++) {
        pthread_mutex_lock(&ws[i].mu);
        if (ws[i].frames < min_frames)
            min_frames = ws[i].frames;
        pthread_mutex_unlock(&ws[i].mu);
    }
    /* Every client got frames, none got a duplicate (frames <= distinct frames). */
    CU_ASSERT(min_frames >= 1);
    CU_ASSERT(s.frames_sent <= (uint64_t)frames * (uint64_t)nclients + (uint64_t)nclients);
    for (int i = 0; i < nclients; i++)
        st_ws_close(&ws[i]);
    free(ws);
    st_server_stop(&f);
}

static void test_encoded_count_equals_published_with_1_client(void)
{
    run_encoded_equals_published(1);
}

static void test_encoded_count_equals_published_with_32_clients(void)
{
    run_encoded_equals_published(32);
}

static bool all_published_frames_handled(void *fixture_)
{
    const st_server *f = fixture_;
    sb_server_stats s = st_server_stats(f->srv);
    return s.frames_published == 40 && s.frames_encoded + s.frames_coalesced == 40;
}

static void test_faster_than_max_fps_is_coalesced_not_encoded(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_fps = 5;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    int viewer = st_mjpeg_viewer_open(f.port); /* JPEG is encoded while someone consumes it */
    CU_ASSERT_FATAL(viewer >= 0);
    uint64_t t0 = sb__monotonic_ns();
    st_produce(f.ring, W, H, 40, 0); /* as fast as this machine publishes */
    CU_ASSERT(st_wait_until(all_published_frames_handled, &f, ST_DEADLINE_MS));
    double seconds = (double)(sb__monotonic_ns() - t0) / 1e9;
    sb_server_stats s = st_server_stats(f.srv);
    CU_ASSERT_EQUAL(s.frames_published, 40);
    CU_ASSERT_EQUAL(s.frames_encoded + s.frames_coalesced, s.frames_published);
    /* The cap is a token bucket (2 encodes of burst, then max_fps): over the time the frames
     * took, however long that was on this machine, no more encodes than it allows (+1 for the
     * bucket's rounding). Not a speed assertion: a slower machine raises the bound with it. */
    double allowed = 2.0 + seconds * o.max_fps + 1.0;
    printf("\n  %llu of 40 frames encoded in %.2f s (cap allows %.1f)\n",
           (unsigned long long)s.frames_encoded, seconds, allowed);
    CU_ASSERT((double)s.frames_encoded <= allowed);
    CU_ASSERT(s.frames_coalesced > 0);
    close(viewer);
    st_server_stop(&f);
}

static void test_unchanged_frame_is_sent_once_then_still_once(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    /* The frame published after input must be encoded while that input is recent: the client
     * keeps sending input until it has the frame, and the still delay is long enough that the
     * server cannot see the input as stale in between, however loaded the machine. */
    o.still_delay_ms = 1000;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, true), 0);
    unsigned char hello[12], ev[80];
    st_hello(hello, W, H);
    st_ws_send(&ws, hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    /* No input yet: the first frame goes out at still quality directly. */
    st_publish_one(f.ring, W, H);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(ws.last_quality, o.jpeg_quality_still);
    /* Input, then a new frame: interactive quality; once idle, one still re-encode of it. */
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, 10, 10, W, H);
    st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY);
    bool received;
    ST_WAIT_UNTIL(received, st_server_stats(f.srv).events_received >= 1, ST_DEADLINE_MS);
    CU_ASSERT(received);
    uint64_t seq = st_publish_one(f.ring, W, H);
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (st_ws_wait_frames(&ws, 2, 20) < 2 && sb__monotonic_ns() < deadline)
        st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY); /* the input goes on */
    CU_ASSERT_EQUAL(st_ws_wait_frames(&ws, 3, ST_DEADLINE_MS), 3);
    st_sleep_ms(1500); /* grace, past still_delay_ms: a fourth frame would show up */
    pthread_mutex_lock(&ws.mu);
    CU_ASSERT_EQUAL(ws.frames, 3);
    CU_ASSERT_EQUAL(ws.seqs[1], seq);
    CU_ASSERT_EQUAL(ws.seqs[2], seq);
    CU_ASSERT_EQUAL(ws.last_quality, o.jpeg_quality_still);
    CU_ASSERT_EQUAL(ws.last_still, 1);
    pthread_mutex_unlock(&ws.mu);
    sb_server_stats s = st_server_stats(f.srv);
    CU_ASSERT_EQUAL(s.frames_encoded, 2);
    CU_ASSERT_EQUAL(s.frames_encoded_still, 1);
    st_ws_close(&ws);
    st_server_stop(&f);
}

/* ---- input ----------------------------------------------------------------------------------- */

static void test_ws_events_land_in_queue_with_mapped_coordinates(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_ws ws;
    connect_viewer_and_publish_a_frame(&f, &ws, ST_DEADLINE_MS);
    /* The client displays the 320x240 frame at 640x480: (100, 50) is frame pixel (50, 25). */
    unsigned char ev[80];
    st_event(ev, SB_EVENT_BUTTON_PRESS, SB_BUTTON_LEFT, 100.0f, 50.0f, 640, 480);
    ev[3] = SB_MOD_SHIFT;
    CU_ASSERT(st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY) > 0);
    st_event(ev, SB_EVENT_RESIZE, 0, 0, 0, 0, 0);
    st_put_u32(ev + 28, 800);
    st_put_u32(ev + 32, 600);
    CU_ASSERT(st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY) > 0);
    st_event(ev, SB_EVENT_KEY_PRESS, 0, 0, 0, 0, 0);
    st_put_u32(ev + 24, 'a');
    memcpy(ev + 48, "a", 2);
    CU_ASSERT(st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY) > 0);

    sb_event got[8];
    size_t n = 0;
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (n < 3 && sb__monotonic_ns() < deadline) {
        size_t k = 0;
        sb_event_queue_wait(f.queue, 100);
        sb_event_queue_pop(f.queue, got + n, 8 - n, &k);
        n += k;
    }
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_EQUAL(got[0].type, SB_EVENT_BUTTON_PRESS);
    CU_ASSERT_EQUAL(got[0].button, SB_BUTTON_LEFT);
    CU_ASSERT_EQUAL(got[0].modifiers, SB_MOD_SHIFT);
    CU_ASSERT_EQUAL(got[0].x, 50);
    CU_ASSERT_EQUAL(got[0].y, 25);
    CU_ASSERT(got[0].producer_id != 0);
    CU_ASSERT_EQUAL(got[1].type, SB_EVENT_RESIZE);
    CU_ASSERT_EQUAL(got[1].width, 800);
    CU_ASSERT_EQUAL(got[1].height, 600);
    CU_ASSERT_EQUAL(got[2].type, SB_EVENT_KEY_PRESS);
    CU_ASSERT_EQUAL(got[2].key_code, 'a');
    CU_ASSERT_STRING_EQUAL(got[2].keysym, "a");
    CU_ASSERT_EQUAL(st_server_stats(f.srv).events_received, 3);
    st_ws_close(&ws);
    st_server_stop(&f);
}

/* Publishes a frame and expects ws to receive it. */
static void expect_next_frame_arrives(st_server *f, st_ws *ws)
{
    int before = st_ws_wait_frames(ws, 0, 0);
    st_publish_one(f->ring, W, H);
    CU_ASSERT(st_ws_wait_frames(ws, before + 1, ST_DEADLINE_MS) > before);
}

/* Sends msg (binary or text) and expects the server to close this client with code. */
static void expect_close_code(st_server *f, const void *msg, size_t len, int opcode, int code)
{
    st_ws bad, good;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&bad, f->port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&good, f->port, "/ws", NULL, true), 0);
    uint64_t rejected = st_server_stats(f->srv).messages_rejected;
    st_ws_send(&bad, msg, len, opcode);
    CU_ASSERT(st_ws_wait_closed(&bad, ST_DEADLINE_MS));
    CU_ASSERT_EQUAL(bad.close_code, code);
    CU_ASSERT(st_server_stats(f->srv).messages_rejected > rejected);
    /* The other client keeps streaming. */
    expect_next_frame_arrives(f, &good);
    CU_ASSERT_FALSE(good.closed);
    st_ws_close(&bad);
    st_ws_close(&good);
}

static void test_malformed_messages_close_with_the_right_code(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_publish_one(f.ring, W, H);
    unsigned char ev[80];

    expect_close_code(&f, "{\"type\":\"move\"}", 15, MG_WEBSOCKET_OPCODE_TEXT, 1003);
    unsigned char unknown[12] = {0x7f};
    expect_close_code(&f, unknown, sizeof unknown, MG_WEBSOCKET_OPCODE_BINARY, 1003);
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, 1, 1, W, H);
    expect_close_code(&f, ev, 79, MG_WEBSOCKET_OPCODE_BINARY, 1007); /* truncated */
    st_event(ev, 99, 0, 1, 1, W, H);
    expect_close_code(&f, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY, 1003); /* unknown event */
    st_event(ev, SB_EVENT_BUTTON_PRESS, 7, 1, 1, W, H);
    expect_close_code(&f, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY, 1007); /* bad button */
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, NAN, 1, W, H);
    expect_close_code(&f, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY, 1007);
    st_event(ev, SB_EVENT_KEY_PRESS, 0, 0, 0, 0, 0);
    memset(ev + 48, 'x', 32); /* keysym without NUL */
    expect_close_code(&f, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY, 1007);
    unsigned char ack[12] = {2};
    ack[4] = 0xee; /* a frame never sent */
    expect_close_code(&f, ack, sizeof ack, MG_WEBSOCKET_OPCODE_BINARY, 1007);
    unsigned char *big = calloc(1, 8192);
    big[0] = 3;
    expect_close_code(&f, big, 8192, MG_WEBSOCKET_OPCODE_BINARY, 1009);
    free(big);
    st_server_stop(&f);
}

static void test_event_rate_abuse_is_dropped_then_closed_with_1008(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_events_per_second = 20;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_publish_one(f.ring, W, H);
    st_ws bad, good;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&bad, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&good, f.port, "/ws", NULL, true), 0);
    CU_ASSERT(st_ws_wait_frames(&bad, 1, ST_DEADLINE_MS) >= 1);
    unsigned char ev[80];
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, 5, 5, W, H);
    uint64_t t0 = sb__monotonic_ns();
    for (int i = 0; i < 200 && !bad.closed; i++)
        st_ws_send(&bad, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY);
    CU_ASSERT(st_ws_wait_closed(&bad, ST_DEADLINE_MS));
    double seconds = (double)(sb__monotonic_ns() - t0) / 1e9;
    CU_ASSERT_EQUAL(bad.close_code, 1008);
    sb_server_stats s = st_server_stats(f.srv);
    CU_ASSERT(s.events_rate_limited >= 20);
    /* The bucket (a second's worth) plus what it refilled while the events came in, however
     * long that took on this machine: the rate limit, not the machine's speed. */
    CU_ASSERT((double)s.events_received <= 20.0 + seconds * 20.0 + 1.0);
    expect_next_frame_arrives(&f, &good);
    st_ws_close(&bad);
    st_ws_close(&good);
    st_server_stop(&f);
}

/* ---- isolation and limits -------------------------------------------------------------------- */

static void test_non_reading_clients_do_not_stall_a_fast_one(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_fps = 200;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, 1280, 720), 0);
    /* A raw WebSocket that upgrades then never reads, and an MJPEG viewer that never reads
     * (no ack credit there: its socket buffers fill and its thread blocks). */
    int small = 4096;
    int ws_fd = st_raw_connect(f.port);
    int mj_fd = st_raw_connect(f.port);
    CU_ASSERT_FATAL(ws_fd >= 0 && mj_fd >= 0);
    setsockopt(ws_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt(mj_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    char req[512];
    st_ws_upgrade_request(req, sizeof req, f.port, "/ws", NULL, NULL);
    CU_ASSERT_EQUAL(st_raw_request_status(ws_fd, req), 101);
    CU_ASSERT_EQUAL(st_raw_request_status(mj_fd, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
    st_ws fast;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&fast, f.port, "/ws", NULL, true), 0);

    /* Frame by frame: each one must reach the fast client (a condition, with a generous
     * deadline) while the two others read nothing; their socket buffers fill within a few of
     * these big noisy frames, and from then on any send that waited for them would stall the
     * fast client for good. */
    st_producer p;
    memset(&p, 0, sizeof p);
    p.ring = f.ring;
    p.width = 1280;
    p.height = 720;
    p.count = 1;
    p.noise = 1; /* big JPEGs: the stalled sockets fill within a few frames */
    int delivered = 0;
    for (int i = 1; i <= 60; i++) {
        st_producer_main(&p); /* publishes one frame, on this thread */
        bool got;
        ST_WAIT_UNTIL(got, st_ws_last_seq(&fast) == (uint64_t)i,
                      ST_DEADLINE_MS);
        if (!got)
            break;
        delivered = i;
    }
    CU_ASSERT_EQUAL(delivered, 60);
    close(ws_fd);
    close(mj_fd);
    st_ws_close(&fast);
    st_server_stop(&f);
}

/* Opens an MJPEG viewer that never reads, with a tiny receive buffer: the server's writes to it
 * fill the socket within a frame or two and then wait for room that never comes. */
static int mjpeg_viewer_that_never_reads(int port)
{
    int fd = st_raw_connect(port);
    if (fd < 0)
        return -1;
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (st_raw_request_status(fd, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") != 200) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Publishes big noisy frames until cond() holds or the deadline passes; true if it held. */
static bool publish_until(st_server *f, bool (*cond)(void *), void *arg)
{
    st_producer p;
    memset(&p, 0, sizeof p);
    p.ring = f->ring;
    p.width = 1280;
    p.height = 720;
    p.count = 1;
    p.noise = 1;
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    while (!cond(arg)) {
        if (st_now_ms() > deadline)
            return false;
        st_producer_main(&p);
        st_sleep_ms(ST_POLL_MS);
    }
    return true;
}

/* A server on big 1280x720 frames at up to 200 fps with send_timeout_ms, and an MJPEG viewer
 * that never reads; returns the viewer's socket. */
static int start_with_stalled_viewer(st_server *f, int send_timeout_ms)
{
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_fps = 200;
    o.send_timeout_ms = send_timeout_ms;
    CU_ASSERT_EQUAL_FATAL(st_server_start(f, &o, 1280, 720), 0);
    int fd = mjpeg_viewer_that_never_reads(f->port);
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
}

static bool no_clients(void *arg)
{
    return st_server_clients(arg) == 0;
}

/* A viewer whose socket stopped draining is closed once send_timeout_ms passed without progress
 * (its slot frees), whatever else happens; the writes go out through our own sendmsg loop
 * (conn_socket.c), which must keep civetweb's bound. */
static void test_viewer_that_stops_draining_is_closed_after_send_timeout(void)
{
    st_server f;
    int fd = start_with_stalled_viewer(&f, 300);
    bool one;
    ST_WAIT_UNTIL(one, st_server_clients(&f) == 1, ST_DEADLINE_MS);
    CU_ASSERT(one);
    CU_ASSERT(publish_until(&f, no_clients, &f));
    close(fd);
    st_server_stop(&f);
}

typedef struct destroy_call {
    sb_server *srv;
    atomic_bool returned;
} destroy_call;

static void *destroy_main(void *arg)
{
    destroy_call *d = arg;
    sb_server_destroy(d->srv);
    atomic_store(&d->returned, true);
    return NULL;
}

static bool write_blocked(void *arg)
{
    /* The viewer got at least one frame written and the next ones are piling up: its sender
     * is waiting for room in the socket. */
    sb_server_stats s = st_server_stats(arg);
    return s.frames_sent >= 1 && s.frames_published >= s.frames_sent + 3;
}

/* sb_server_destroy while a viewer's write waits for room: the write gives up at the stop, not
 * after send_timeout_ms (here ten minutes, far beyond the deadline). */
static void test_destroy_does_not_wait_out_a_blocked_write(void)
{
    st_server f;
    int fd = start_with_stalled_viewer(&f, 600000);
    CU_ASSERT(publish_until(&f, write_blocked, f.srv));
    destroy_call d = {.srv = f.srv};
    atomic_init(&d.returned, false);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, destroy_main, &d), 0);
    bool returned;
    ST_WAIT_UNTIL(returned, atomic_load(&d.returned), ST_DEADLINE_MS);
    CU_ASSERT(returned);
    if (!returned)
        close(fd); /* the write then fails and destroy goes on: join without hanging */
    pthread_join(t, NULL);
    f.srv = NULL;
    close(fd);
    st_server_stop(&f);
}

static void test_max_clients_refuses_extra_connections_with_503(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_clients = 2;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_ws a, b;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&a, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&b, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(f.port, "/ws", NULL), 503);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/video.mjpeg", NULL), 503);
    CU_ASSERT(st_server_stats(f.srv).clients_refused >= 2);
    st_ws_close(&a);
    st_ws_close(&b);
    st_server_stop(&f);
}

/* Stopping with viewers connected: every WebSocket client gets a 1001 (going away) close. How
 * long the stop takes (it should not sit out civetweb's 2 s poll quantum) is measured by
 * bench/bench_server (its last lines), not asserted here: a loaded machine can take that long anyway. */
static void test_stop_sends_1001_to_websocket_viewers(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_publish_one(f.ring, W, H);
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS), 1);
    int mj = st_raw_connect(f.port);
    CU_ASSERT_FATAL(mj >= 0);
    CU_ASSERT_EQUAL(st_raw_request_status(mj, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
    sb_server_destroy(f.srv);
    f.srv = NULL;
    CU_ASSERT(st_ws_wait_closed(&ws, ST_DEADLINE_MS));
    CU_ASSERT_EQUAL(ws.close_code, 1001);
    st_ws_close(&ws);
    close(mj);
    st_server_stop(&f); /* the server is stopped already: NULL is ignored */
}

static void test_connect_disconnect_cycles_leave_no_client_behind(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_publish_one(f.ring, W, H);
    for (int i = 0; i < 200; i++) {
        st_ws ws;
        CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, i % 2 == 0), 0);
        if (i % 4 == 0)
            st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS);
        st_ws_close(&ws);
    }
    bool none_left;
    ST_WAIT_UNTIL(none_left, st_server_stats(f.srv).clients == 0, ST_DEADLINE_MS);
    CU_ASSERT(none_left);
    st_server_stop(&f); /* ASan builds report any leaked client or frame at exit */
}

/* ---- security -------------------------------------------------------------------------------- */

/* GET path with this Host header (civetweb's client, our own request text); the status or -1. */
static int status_with_host(int port, const char *path, const char *host)
{
    char ebuf[256];
    struct mg_connection *c = mg_connect_client("127.0.0.1", port, 0, ebuf, sizeof ebuf);
    if (!c)
        return -1;
    mg_printf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    int status = mg_get_response(c, ebuf, sizeof ebuf, ST_REQUEST_TIMEOUT_MS) >= 0 ? mg_get_response_info(c)->status_code : -1;
    mg_close_connection(c);
    return status;
}

/* The WebSocket upgrade a page served from http://HOST:port sends: its Host and its Origin both
 * name HOST:port. */
static void upgrade_request_of_page_at(char *req, size_t size, const char *host, int port)
{
    snprintf(req, size,
             "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nOrigin: http://%s:%d\r\n\r\n",
             host, port, host, port);
}

/* DNS rebinding: a hostile page re-points its own name at 127.0.0.1; the browser then sends our
 * responses to that page as same-origin (and its WebSocket Origin equals its Host). Only the Host
 * header tells: a loopback server answers only Host names that mean loopback. */
static void test_loopback_server_refuses_foreign_host_headers(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.allowed_origins = "http://viewer.example:8888";
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    int viewer = st_mjpeg_viewer_open(f.port); /* JPEG is encoded while someone consumes it */
    CU_ASSERT_FATAL(viewer >= 0);
    st_publish_one(f.ring, W, H);
    CU_ASSERT_FATAL(wait_encoded(&f, 1, ST_DEADLINE_MS));
    char with_port[64];
    const char *refused[] = {"evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                             "127.0.0.1.evil.example:80", "localhost.evil.example", "[::1].evil",
                             "127.0.0.1:80x", "128.0.0.1", "127.0.0.256", "127.0.0", "0x7f.0.0.1",
                             "viewer.example.evil", ""};
    const char *paths[] = {"/", "/stats", "/snapshot.jpg", "/healthz", "/video.mjpeg"};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
            int status = status_with_host(f.port, paths[p], refused[i]);
            if (status != 403)
                fprintf(stderr, "\n  %s with Host '%s': %d\n", paths[p], refused[i], status);
            CU_ASSERT_EQUAL(status, 403);
        }
    }
    snprintf(with_port, sizeof with_port, "localhost:%d", f.port);
    const char *accepted[] = {"localhost", "LocalHost", with_port, "127.0.0.1", "127.0.0.1:8000",
                              "127.1.2.3", "[::1]", "[::1]:8000", "viewer.example",
                              "viewer.example:8000"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        int status = status_with_host(f.port, "/stats", accepted[i]);
        if (status != 200)
            fprintf(stderr, "\n  /stats with Host '%s': %d\n", accepted[i], status);
        CU_ASSERT_EQUAL(status, 200);
    }
    /* The WebSocket of a rebound page: its Origin matches its (hostile) Host. */
    char req[1024];
    upgrade_request_of_page_at(req, sizeof req, "evil.example", f.port);
    int fd = st_raw_connect(f.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(st_raw_request_status(fd, req), 403);
    close(fd);
    /* The same upgrade from the page's real, loopback name is accepted. */
    upgrade_request_of_page_at(req, sizeof req, "localhost", f.port);
    fd = st_raw_connect(f.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(st_raw_request_status(fd, req), 101);
    close(fd);
    close(viewer);
    st_server_stop(&f);
}

static void test_token_required_on_every_endpoint(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.access_token = "s3cret-Token";
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_publish_one(f.ring, W, H);
    const char *paths[] = {"/", "/client.js", "/stats", "/healthz", "/snapshot.jpg", "/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char url[128];
        CU_ASSERT_EQUAL(st_http_status(f.port, paths[i], NULL), 401);
        snprintf(url, sizeof url, "%s?token=wrong", paths[i]);
        CU_ASSERT_EQUAL(st_http_status(f.port, url, NULL), 403);
        CU_ASSERT_EQUAL(st_http_status(f.port, paths[i], "Authorization: Bearer s3cret-Tokex\r\n"), 403);
        int ok = strcmp(paths[i], "/nope") == 0 ? 404 : 200;
        snprintf(url, sizeof url, "%s?token=s3cret-Token", paths[i]);
        CU_ASSERT_EQUAL(st_http_status(f.port, url, NULL), ok);
        CU_ASSERT_EQUAL(st_http_status(f.port, paths[i], "Authorization: Bearer s3cret-Token\r\n"), ok);
        CU_ASSERT_EQUAL(st_http_status(f.port, paths[i], "X-Streambridge-Token: s3cret-Token\r\n"), ok);
        CU_ASSERT_EQUAL(st_http_status(f.port, paths[i], "Cookie: a=b; sb_token=s3cret-Token\r\n"), ok);
    }
    /* The page sets the cookie when loaded with the token. */
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/?token=s3cret-Token", NULL, 1 << 20, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "sb_token=s3cret-Token"));
    st_response_free(&r);
    /* Bodies reveal nothing. */
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/stats?token=s3cret", NULL, 1 << 20, &r), 0);
    CU_ASSERT_PTR_NULL(strstr(r.body, "s3cret"));
    st_response_free(&r);
    /* MJPEG and WebSocket. */
    CU_ASSERT_EQUAL(st_http_status(f.port, "/video.mjpeg", NULL), 401);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(f.port, "/ws", NULL), 401);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(f.port, "/ws?token=nope", NULL), 403);
    st_ws ws;
    CU_ASSERT_EQUAL(st_ws_connect(&ws, f.port, "/ws?token=s3cret-Token", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS), 1);
    st_ws_close(&ws);
    st_server_stop(&f);
}

static void test_ws_foreign_origin_is_refused(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.allowed_origins = "http://localhost:8888, https://notebook.example";
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    char own[64];
    snprintf(own, sizeof own, "http://127.0.0.1:%d", f.port);
    struct { const char *origin; int status; } cases[] = {
        {"http://evil.example", 403},
        {"http://127.0.0.1:1", 403}, /* same host, other port: another site */
        {"null", 403},
        {own, 101},
        {"http://localhost:8888", 101},
        {"https://notebook.example", 101},
        {NULL, 101}, /* not a browser */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status = st_ws_upgrade_status(f.port, "/ws", cases[i].origin);
        if (status != cases[i].status)
            fprintf(stderr, "origin %s: %d\n", cases[i].origin ? cases[i].origin : "(none)", status);
        CU_ASSERT_EQUAL(status, cases[i].status);
    }
    st_server_stop(&f);
}

/* ---- the standalone binary --------------------------------------------------------------------- */

static int run_binary(const char *const argv[], char *out, size_t outsize)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outsize && (r = read(pfd[0], out + n, outsize - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts streambridge-server --name NAME --port 0 --wait with its stdout on a pipe whose read
 * end goes to *stdout_fd; the server's pid, or -1. */
static pid_t spawn_server_binary(const char *name, int *stdout_fd)
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    pid_t server = fork();
    if (server == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(SB_SERVER_BINARY, SB_SERVER_BINARY, "--name", name, "--port", "0", "--wait", NULL);
        _exit(127);
    }
    close(out[1]);
    *stdout_fd = out[0];
    return server;
}

/* SIGTERM to a spawn_server_binary() server; true when it then exited with status 0. */
static bool stop_server_binary(pid_t server, int stdout_fd)
{
    int status;
    kill(server, SIGTERM);
    waitpid(server, &status, 0);
    close(stdout_fd);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_binary_help_exits_0_and_bad_flags_exit_2(void)
{
    char out[8192];
    const char *help[] = {SB_SERVER_BINARY, "--help", NULL};
    CU_ASSERT_EQUAL(run_binary(help, out, sizeof out), 0);
    const char *flags[] = {"--name", "--wait", "--bind", "--port", "--token", "--quality",
                           "--still-quality", "--max-fps", "--allow-origin", "--max-clients",
                           "--help", "--version"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(out, flags[i]));
    const char *version[] = {SB_SERVER_BINARY, "--version", NULL};
    CU_ASSERT_EQUAL(run_binary(version, out, sizeof out), 0);
    const char *bad[][4] = {
        {SB_SERVER_BINARY, "--bogus", NULL},
        {SB_SERVER_BINARY, "--name", "x", "--port=abc"},
        {SB_SERVER_BINARY, "--quality", "0", NULL},
        {SB_SERVER_BINARY, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[6] = {0};
        memcpy(argv, bad[i], sizeof bad[i]);
        CU_ASSERT_EQUAL(run_binary(argv, out, sizeof out), 2);
        CU_ASSERT(strlen(out) > 10); /* a message, not silence */
    }
}

static void test_binary_serves_frames_of_a_shm_producer_process(void)
{
    char name[64];
    snprintf(name, sizeof name, "t%d-binary", (int)getpid());
    int release = -1;
    pid_t producer = st_fork_shm_producer(name, W, H, true, 5, &release);
    CU_ASSERT_FATAL(producer > 0);
    int server_out = -1;
    pid_t server = spawn_server_binary(name, &server_out);
    CU_ASSERT_FATAL(server > 0);
    int port = st_read_announced_port(server_out);
    CU_ASSERT_FATAL(port > 0);

    st_response r;
    bool served;
    ST_WAIT_UNTIL(served, st_http_status(port, "/snapshot.jpg", NULL) == 200, ST_DEADLINE_MS);
    CU_ASSERT(served);
    CU_ASSERT_EQUAL(st_http_get(port, "/snapshot.jpg", NULL, 1 << 22, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    int w = 0, h = 0;
    int marker = st_decode_jpeg(r.body, r.len, &w, &h);
    CU_ASSERT_EQUAL(w, W);
    CU_ASSERT_EQUAL(h, H);
    CU_ASSERT(abs(marker - (int)st_marker_value(5)) <= 6); /* the newest frame, seq 5 */
    st_response_free(&r);
    CU_ASSERT_EQUAL(st_http_status(port, "/healthz", NULL), 200);

    /* Producer leaves: the server keeps running and reports it. */
    CU_ASSERT(release_producer(producer, release));
    CU_ASSERT_EQUAL(st_http_status(port, "/healthz", NULL), 503);

    CU_ASSERT(stop_server_binary(server, server_out));
}


static int snapshot_marker(int port)
{
    st_response r;
    if (st_http_get(port, "/snapshot.jpg", NULL, 1 << 22, &r) != 0)
        return -1;
    int m = r.status == 200 ? st_decode_jpeg(r.body, r.len, NULL, NULL) : -1;
    st_response_free(&r);
    return m;
}

static void test_binary_waits_for_producer_and_reattaches_to_a_new_one(void)
{
    char name[64];
    snprintf(name, sizeof name, "t%d-reattach", (int)getpid());
    int server_out = -1;
    pid_t server = spawn_server_binary(name, &server_out);
    CU_ASSERT_FATAL(server > 0);
    st_sleep_ms(300); /* lets the server start waiting for a producer that does not exist yet */
    int release = -1;
    pid_t first = st_fork_shm_producer(name, W, H, true, 5, &release);
    CU_ASSERT_FATAL(first > 0);
    int port = st_read_announced_port(server_out);
    CU_ASSERT_FATAL(port > 0);
    bool first_served;
    ST_WAIT_UNTIL(first_served, abs(snapshot_marker(port) - (int)st_marker_value(5)) <= 6,
                  ST_DEADLINE_MS);
    CU_ASSERT(first_served);
    release_producer(first, release);
    CU_ASSERT_EQUAL(st_http_status(port, "/healthz", NULL), 503);

    pid_t second = st_fork_shm_producer(name, W, H, true, 9, &release);
    CU_ASSERT_FATAL(second > 0);
    bool reattached;
    ST_WAIT_UNTIL(reattached, st_http_status(port, "/healthz", NULL) == 200 &&
                                  abs(snapshot_marker(port) - (int)st_marker_value(9)) <= 6,
                  ST_DEADLINE_MS);
    if (!reattached)
        fprintf(stderr, "\n  not re-attached: /healthz %d, snapshot marker %d (want %u)\n",
                st_http_status(port, "/healthz", NULL), snapshot_marker(port), st_marker_value(9));
    CU_ASSERT(reattached); /* same port, the new producer's newest frame */
    release_producer(second, release);
    CU_ASSERT(stop_server_binary(server, server_out));
}

static CU_TestInfo server_tests[] = {
    {"start_rejects_bad_options", test_start_rejects_bad_options},
    {"bind_failure_reports_enet_with_reason", test_bind_failure_reports_enet_with_reason},
    {"snapshot_is_503_before_first_frame", test_snapshot_is_503_before_first_frame},
    {"snapshot_decodes_to_frame_size", test_snapshot_decodes_to_frame_size},
    {"mjpeg_parts_decode_to_frame_size", test_mjpeg_parts_decode_to_frame_size},
    {"mjpeg_single_frame_is_followed_by_next_part_headers",
     test_mjpeg_single_frame_is_followed_by_next_part_headers},
    {"unknown_paths_are_404_and_never_the_filesystem",
     test_unknown_paths_are_404_and_never_the_filesystem},
    {"healthz_turns_503_when_producer_closes_ring", test_healthz_turns_503_when_producer_closes_ring},
    {"stats_json_parses_with_key_fields", test_stats_json_parses_with_key_fields},
    {"input_frame_walk_is_ordered_in_stats", test_input_frame_walk_is_ordered_in_stats},
    {"ws_frames_arrive_in_order_with_increasing_seq", test_ws_frames_arrive_in_order_with_increasing_seq},
    {"ws_ack_credit_bounds_frames_in_flight", test_ws_ack_credit_bounds_frames_in_flight},
    {"encoded_count_equals_published_with_1_client", test_encoded_count_equals_published_with_1_client},
    {"encoded_count_equals_published_with_32_clients",
     test_encoded_count_equals_published_with_32_clients},
    {"faster_than_max_fps_is_coalesced_not_encoded", test_faster_than_max_fps_is_coalesced_not_encoded},
    {"unchanged_frame_is_sent_once_then_still_once", test_unchanged_frame_is_sent_once_then_still_once},
    {"ws_events_land_in_queue_with_mapped_coordinates",
     test_ws_events_land_in_queue_with_mapped_coordinates},
    {"malformed_messages_close_with_the_right_code", test_malformed_messages_close_with_the_right_code},
    {"event_rate_abuse_is_dropped_then_closed_with_1008",
     test_event_rate_abuse_is_dropped_then_closed_with_1008},
    {"non_reading_clients_do_not_stall_a_fast_one", test_non_reading_clients_do_not_stall_a_fast_one},
    {"viewer_that_stops_draining_is_closed_after_send_timeout",
     test_viewer_that_stops_draining_is_closed_after_send_timeout},
    {"destroy_does_not_wait_out_a_blocked_write", test_destroy_does_not_wait_out_a_blocked_write},
    {"max_clients_refuses_extra_connections_with_503",
     test_max_clients_refuses_extra_connections_with_503},
    {"stop_sends_1001_to_websocket_viewers", test_stop_sends_1001_to_websocket_viewers},
    {"connect_disconnect_cycles_leave_no_client_behind",
     test_connect_disconnect_cycles_leave_no_client_behind},
    {"loopback_server_refuses_foreign_host_headers", test_loopback_server_refuses_foreign_host_headers},
    {"token_required_on_every_endpoint", test_token_required_on_every_endpoint},
    {"ws_foreign_origin_is_refused", test_ws_foreign_origin_is_refused},
    {"binary_help_exits_0_and_bad_flags_exit_2", test_binary_help_exits_0_and_bad_flags_exit_2},
    {"binary_serves_frames_of_a_shm_producer_process",
     test_binary_serves_frames_of_a_shm_producer_process},
    {"binary_waits_for_producer_and_reattaches_to_a_new_one",
     test_binary_waits_for_producer_and_reattaches_to_a_new_one},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"server", st_suite_init, NULL, NULL, NULL, server_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
