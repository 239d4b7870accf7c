/* test_multistream.c - many named streams on one server (issue #12, docs/wire-protocol.md
 * "Streams"): the /streams list, /v/NAME/ endpoints whose frames and events stay their own,
 * streams added and removed while clients watch, 404 for unknown and hostile names, the
 * token/Origin/Host rules per stream, the server-wide client limits, and the API's checks. */
#include "sb_cunit.h"
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_test_wait.h"
#include "server_internal.h" /* a stream's references (removal waits for requests) */
#include "streambridge/event_queue.h"
#include "streambridge/events.h"
#include "streambridge/server.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Three streams of different sizes, so a frame shows which stream it came from. */
typedef struct named {
    const char *name;
    uint32_t w, h;
    bool view_only;
    sb_frame_ring *ring;
    sb_event_queue *queue;
} named;

typedef struct multi {
    sb_server *srv;
    int port;
    named s[3];
} multi;

static sb_frame_ring *new_ring(uint32_t w, uint32_t h)
{
    sb_frame_ring_options ro;
    sb_frame_ring_options_init(&ro, SB_FRAME_RING_OPTIONS_VERSION);
    ro.max_width = w;
    ro.max_height = h;
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&ro, &ring), SB_OK);
    return ring;
}

static sb_event_queue *new_queue(void)
{
    sb_event_queue *q = NULL;
    CU_ASSERT_EQUAL(sb_event_queue_create(NULL, &q), SB_OK);
    return q;
}

/* A server with no default stream, then alpha (320x240), beta (160x120) and the view-only
 * gamma (96x64) added to it. opts: NULL = defaults (port 0 always). */
static int multi_start(multi *m, sb_server_options *opts)
{
    memset(m, 0, sizeof *m);
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    if (opts)
        o = *opts;
    o.port = 0;
    int rc = sb_server_create(NULL, NULL, &o, &m->srv);
    if (rc != SB_OK) {
        fprintf(stderr, "sb_server_create: %s\n", sb_last_error());
        return rc;
    }
    sb_server_get_port(m->srv, &m->port);
    named defs[3] = {{"alpha", 320, 240, false, NULL, NULL},
                     {"beta", 160, 120, false, NULL, NULL},
                     {"gamma", 96, 64, true, NULL, NULL}};
    for (int i = 0; i < 3; i++) {
        m->s[i] = defs[i];
        m->s[i].ring = new_ring(defs[i].w, defs[i].h);
        m->s[i].queue = defs[i].view_only ? NULL : new_queue();
        rc = sb_server_add_stream(m->srv, defs[i].name, m->s[i].ring, m->s[i].queue);
        if (rc != SB_OK) {
            fprintf(stderr, "sb_server_add_stream %s: %s\n", defs[i].name, sb_last_error());
            return rc;
        }
    }
    return SB_OK;
}

static void multi_stop(multi *m)
{
    sb_server_destroy(m->srv); /* NULL: destroyed by the test already */
    for (int i = 0; i < 3; i++) {
        sb_event_queue_destroy(m->s[i].queue);
        sb_frame_ring_destroy(m->s[i].ring);
    }
}

static int ws_path(char *out, size_t size, const char *name, const char *query)
{
    return snprintf(out, size, "/v/%s/ws%s", name, query ? query : "");
}

/* The JSON body of GET path (NULL on any failure); free() it. */
static char *get_body(int port, const char *path, int *status)
{
    st_response r;
    if (st_http_get(port, path, NULL, 1 << 20, &r) != 0)
        return NULL;
    *status = r.status;
    char *body = r.body ? strndup(r.body, r.len) : strdup("");
    st_response_free(&r);
    return body;
}

static bool listed(int port, const char *name)
{
    int status = 0;
    char *body = get_body(port, "/streams", &status);
    char key[96];
    snprintf(key, sizeof key, "\"name\":\"%s\"", name);
    bool found = body && status == 200 && strstr(body, key) != NULL;
    free(body);
    return found;
}

static void test_streams_are_listed_and_served_under_their_names(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    st_publish_one(m.s[0].ring, 320, 240);
    st_publish_one(m.s[1].ring, 160, 120);
    st_publish_one(m.s[2].ring, 96, 64);
    int status = 0;
    char *body = get_body(m.port, "/streams", &status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(status, 200);
    for (int i = 0; i < 3; i++) {
        char want[160];
        snprintf(want, sizeof want, "\"name\":\"%s\"", m.s[i].name);
        CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
        snprintf(want, sizeof want, "\"view_url\":\"v/%s/\"", m.s[i].name);
        CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
        snprintf(want, sizeof want, "\"thumbnail_url\":\"v/%s/thumbnail.jpg\"", m.s[i].name);
        CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"view_only\":true")); /* gamma */
    free(body);
    /* Each stream's snapshot and thumbnail are its own picture (sizes differ). */
    for (int i = 0; i < 3; i++) {
        char path[96];
        snprintf(path, sizeof path, "/v/%s/snapshot.jpg", m.s[i].name);
        st_response r;
        CU_ASSERT_EQUAL_FATAL(st_http_get(m.port, path, NULL, 1 << 22, &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        int w = 0, h = 0;
        CU_ASSERT(st_decode_jpeg(r.body, r.len, &w, &h) >= 0);
        CU_ASSERT_EQUAL(w, (int)m.s[i].w);
        CU_ASSERT_EQUAL(h, (int)m.s[i].h);
        st_response_free(&r);
        snprintf(path, sizeof path, "/v/%s/thumbnail.jpg", m.s[i].name);
        CU_ASSERT_EQUAL_FATAL(st_http_get(m.port, path, NULL, 1 << 22, &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        w = h = 0;
        st_decode_jpeg(r.body, r.len, &w, &h);
        CU_ASSERT(w > 0 && w <= (int)m.s[i].w && w <= 320);
        st_response_free(&r);
        /* Its page, its stats (naming it), its health. */
        snprintf(path, sizeof path, "/v/%s/", m.s[i].name);
        CU_ASSERT_EQUAL(st_http_status(m.port, path, NULL), 200);
        snprintf(path, sizeof path, "/v/%s/client.js", m.s[i].name);
        CU_ASSERT_EQUAL(st_http_status(m.port, path, NULL), 200);
        snprintf(path, sizeof path, "/v/%s/healthz", m.s[i].name);
        CU_ASSERT_EQUAL(st_http_status(m.port, path, NULL), 200);
        snprintf(path, sizeof path, "/v/%s/stats", m.s[i].name);
        body = get_body(m.port, path, &status);
        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        char want[96];
        snprintf(want, sizeof want, "\"name\":\"%s\"", m.s[i].name);
        CU_ASSERT_PTR_NOT_NULL(strstr(body, want));
        CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"frames_published\":1,"));
        free(body);
    }
    /* /v/NAME without the slash: redirected (the page's relative URLs need it). */
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(m.port, "/v/alpha", NULL, 1 << 16, &r), 0);
    CU_ASSERT_EQUAL(r.status, 301);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "/v/alpha/"));
    st_response_free(&r);
    /* No default stream: "/" is the picker, the top-level stream endpoints say so (404);
     * /stats lists the streams. */
    CU_ASSERT_EQUAL_FATAL(st_http_get(m.port, "/", NULL, 1 << 20, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "picker.js"));
    st_response_free(&r);
    CU_ASSERT_EQUAL(st_http_status(m.port, "/snapshot.jpg", NULL), 404);
    CU_ASSERT_EQUAL(st_http_status(m.port, "/video.mjpeg", NULL), 404);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/ws", NULL), 404);
    CU_ASSERT_EQUAL(st_http_status(m.port, "/healthz", NULL), 200);
    body = get_body(m.port, "/stats", &status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"streams\":[{\"name\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"name\":\"beta\""));
    free(body);
    multi_stop(&m);
}

static void test_frames_and_events_stay_with_their_stream(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    st_ws a, b;
    char path[64];
    ws_path(path, sizeof path, "alpha", NULL);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&a, m.port, path, NULL, true), 0);
    ws_path(path, sizeof path, "beta", NULL);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&b, m.port, path, NULL, true), 0);
    for (int i = 0; i < 3; i++)
        st_publish_one(m.s[0].ring, 320, 240);
    st_publish_one(m.s[1].ring, 160, 120);
    bool got;
    ST_WAIT_UNTIL(got, st_ws_last_seq(&a) == 3, ST_DEADLINE_MS);
    CU_ASSERT(got);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&b, 1, ST_DEADLINE_MS), 1);
    pthread_mutex_lock(&a.mu);
    CU_ASSERT_EQUAL(a.width, 320);
    pthread_mutex_unlock(&a.mu);
    pthread_mutex_lock(&b.mu);
    CU_ASSERT_EQUAL(b.width, 160);
    CU_ASSERT_EQUAL(b.last_seq, 1); /* alpha's frames never reached it */
    pthread_mutex_unlock(&b.mu);

    /* Input on alpha's socket lands in alpha's queue only. */
    unsigned char hello[12], ev[80];
    st_hello(hello, 320, 240);
    st_ws_send(&a, hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, 10.0f, 20.0f, 320, 240);
    CU_ASSERT(st_ws_send(&a, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY) > 0);
    sb_event e;
    size_t k = 0;
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    while (k == 0 && st_now_ms() < deadline) {
        sb_event_queue_wait(m.s[0].queue, 100);
        sb_event_queue_pop(m.s[0].queue, &e, 1, &k);
    }
    CU_ASSERT_EQUAL(k, 1);
    size_t other = 0;
    sb_event_queue_pop(m.s[1].queue, &e, 1, &other);
    CU_ASSERT_EQUAL(other, 0);
    st_ws_close(&a);
    st_ws_close(&b);
    multi_stop(&m);
}

static void test_removed_stream_closes_its_clients_and_disappears(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    st_publish_one(m.s[0].ring, 320, 240);
    st_publish_one(m.s[1].ring, 160, 120);
    st_ws a, b;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&a, m.port, "/v/alpha/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&b, m.port, "/v/beta/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&b, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&a, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT(listed(m.port, "beta"));

    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, "beta"), SB_OK);
    /* Its viewer got a clean close (1001); the server no longer touches its ring. */
    CU_ASSERT(st_ws_wait_closed(&b, ST_DEADLINE_MS));
    CU_ASSERT_EQUAL(b.close_code, 1001);
    sb_frame_ring_destroy(m.s[1].ring);
    sb_event_queue_destroy(m.s[1].queue);
    m.s[1].ring = NULL;
    m.s[1].queue = NULL;
    CU_ASSERT(!listed(m.port, "beta"));
    CU_ASSERT(listed(m.port, "alpha"));
    CU_ASSERT_EQUAL(st_http_status(m.port, "/v/beta/snapshot.jpg", NULL), 404);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/beta/ws", NULL), 404);
    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, "beta"), SB_ENOENT);

    /* The others go on. */
    st_publish_one(m.s[0].ring, 320, 240);
    bool got;
    ST_WAIT_UNTIL(got, st_ws_last_seq(&a) == 2, ST_DEADLINE_MS);
    CU_ASSERT(got);
    CU_ASSERT(!a.closed);

    /* The name can come back, on a new ring. */
    m.s[1].ring = new_ring(160, 120);
    CU_ASSERT_EQUAL(sb_server_add_stream(m.srv, "beta", m.s[1].ring, NULL), SB_OK);
    st_publish_one(m.s[1].ring, 160, 120);
    CU_ASSERT(st_http_until(m.port, "/v/beta/snapshot.jpg", 200, NULL, ST_DEADLINE_MS));
    st_ws_close(&a);
    st_ws_close(&b);
    multi_stop(&m);
}

/* An MJPEG viewer of a removed stream sees its response end. */
static void test_removed_stream_ends_its_mjpeg_viewers(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    st_publish_one(m.s[2].ring, 96, 64);
    int fd = st_raw_connect(m.port);
    CU_ASSERT_FATAL(fd >= 0);
    char req[256];
    snprintf(req, sizeof req, "GET /v/gamma/video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
             m.port);
    CU_ASSERT_EQUAL(st_raw_request_status(fd, req), 200);
    bool registered;
    ST_WAIT_UNTIL(registered, st_server_stats(m.srv).clients == 1, ST_DEADLINE_MS);
    CU_ASSERT(registered);
    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, "gamma"), SB_OK);
    /* Reads until the server closes the connection. */
    char buf[4096];
    bool closed = false;
    uint64_t deadline = st_now_ms() + ST_DEADLINE_MS;
    while (!closed && st_now_ms() < deadline) {
        ssize_t n = read(fd, buf, sizeof buf);
        closed = n <= 0;
    }
    CU_ASSERT(closed);
    close(fd);
    multi_stop(&m);
}

static void test_unknown_and_hostile_names_are_404(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    const char *paths[] = {
        "/v/nope/", "/v/nope/ws", "/v/nope/snapshot.jpg", "/v/", "/v//ws", "/v/a%20b/",
        "/v/%3Cscript%3E/", "/v/..%2F..%2Fetc/", "/v/al%2Fpha/snapshot.jpg",
        "/v/ALPHA/", /* names are case-sensitive */
        "/v/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", /* 65 */
        "/v/alpha/nope",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int status = st_http_status(m.port, paths[i], NULL);
        if (status != 404)
            fprintf(stderr, "%s: %d\n", paths[i], status);
        CU_ASSERT_EQUAL(status, 404);
    }
    /* civetweb decodes %00 into the end of the path: /v/alpha, which is redirected. */
    CU_ASSERT_EQUAL(st_http_status(m.port, "/v/alpha%00/snapshot.jpg", NULL), 301);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/nope/ws", NULL), 404);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/a%2Fb/ws", NULL), 404);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/alpha/snapshot.jpg", NULL), 404);
    /* A dot segment resolves before the lookup: /v/x/../alpha/ is /v/alpha/. */
    CU_ASSERT_EQUAL(st_http_status(m.port, "/v/x/../alpha/healthz", NULL), 200);
    /* The server goes on serving. */
    st_publish_one(m.s[0].ring, 320, 240);
    CU_ASSERT_EQUAL(st_http_status(m.port, "/v/alpha/snapshot.jpg", NULL), 200);

    /* The API refuses bad names with a reason, and a name in use. */
    sb_frame_ring *ring = new_ring(64, 64);
    const char *bad[] = {"", ".", "..", "a/b", "a b", "x\n", "<i>", "caf\xc3\xa9",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(sb_server_add_stream(m.srv, bad[i], ring, NULL), SB_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "name"));
    }
    CU_ASSERT_EQUAL(sb_server_add_stream(m.srv, NULL, ring, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_server_add_stream(m.srv, "delta", NULL, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_server_add_stream(NULL, "delta", ring, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_server_add_stream(m.srv, "alpha", ring, NULL), SB_EEXIST);
    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, "nope"), SB_ENOENT);
    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, NULL), SB_EINVAL);
    const char *good = "A-z_0.9";
    CU_ASSERT_EQUAL(sb_server_add_stream(m.srv, good, ring, NULL), SB_OK);
    CU_ASSERT(listed(m.port, good));
    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, good), SB_OK);
    sb_frame_ring_destroy(ring);
    multi_stop(&m);
}

static void test_token_origin_and_host_hold_per_stream(void)
{
    multi m;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.access_token = "multi-Token";
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, &o), SB_OK);
    st_publish_one(m.s[0].ring, 320, 240);
    /* Refused before the name is looked at: an unknown name says 401 too, not 404. */
    const char *paths[] = {"/streams", "/", "/v/alpha/", "/v/alpha/snapshot.jpg",
                           "/v/alpha/thumbnail.jpg", "/v/alpha/stats", "/v/nope/"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char url[128];
        CU_ASSERT_EQUAL(st_http_status(m.port, paths[i], NULL), 401);
        snprintf(url, sizeof url, "%s?token=wrong", paths[i]);
        CU_ASSERT_EQUAL(st_http_status(m.port, url, NULL), 403);
        int ok = strcmp(paths[i], "/v/nope/") == 0 ? 404 : 200;
        CU_ASSERT_EQUAL(st_http_status(m.port, paths[i], "X-Streambridge-Token: multi-Token\r\n"),
                        ok);
    }
    /* A stream page loaded with the token sets the cookie for every path. */
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(m.port, "/v/alpha/?token=multi-Token", NULL, 1 << 20, &r),
                          0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "sb_token=multi-Token; Path=/"));
    st_response_free(&r);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/alpha/ws", NULL), 401);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/nope/ws", NULL), 401);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/alpha/ws?token=multi-Token",
                                         "http://evil.example"),
                    403);
    char own[64];
    snprintf(own, sizeof own, "http://127.0.0.1:%d", m.port);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/alpha/ws?token=multi-Token", own), 101);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/nope/ws?token=multi-Token", own), 404);
    /* DNS rebinding: a foreign Host is refused on a stream path too. */
    int fd = st_raw_connect(m.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(st_raw_request_status(fd, "GET /v/alpha/snapshot.jpg?token=multi-Token "
                                              "HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
                    403);
    close(fd);
    multi_stop(&m);
}

/* max_clients counts every stream's clients: the limit protects the shared threads. */
static void test_client_limits_are_server_wide(void)
{
    multi m;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_clients = 2;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, &o), SB_OK);
    st_ws a, b;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&a, m.port, "/v/alpha/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&b, m.port, "/v/beta/ws", NULL, true), 0);
    bool two;
    ST_WAIT_UNTIL(two, st_server_stats(m.srv).clients == 2, ST_DEADLINE_MS);
    CU_ASSERT(two);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/gamma/ws", NULL), 503);
    st_ws_close(&b);
    bool one;
    ST_WAIT_UNTIL(one, st_server_stats(m.srv).clients == 1, ST_DEADLINE_MS);
    CU_ASSERT(one);
    CU_ASSERT_EQUAL(st_ws_upgrade_status(m.port, "/v/gamma/ws", NULL), 101);
    st_ws_close(&a);
    multi_stop(&m);
}

/* A single-stream server is what it always was ("/" is its viewer); a second stream makes "/"
 * the picker while the top-level endpoints keep serving the default stream. */
static void test_default_stream_keeps_the_top_level(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, 320, 240), 0);
    st_publish_one(f.ring, 320, 240);
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/", NULL, 1 << 20, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "client.js"));
    CU_ASSERT_PTR_NULL(r.body && strstr(r.body, "picker.js"));
    st_response_free(&r);
    CU_ASSERT(listed(f.port, SB_SERVER_DEFAULT_STREAM_NAME));

    sb_frame_ring *other = new_ring(160, 120);
    CU_ASSERT_EQUAL_FATAL(sb_server_add_stream(f.srv, "other", other, NULL), SB_OK);
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/", NULL, 1 << 20, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "picker.js"));
    st_response_free(&r);
    st_ws top, named_default;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&top, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&named_default, f.port, "/v/default/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&top, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&named_default, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(top.width, 320);
    /* /stats: the default stream's fields at the top, and every stream listed. */
    int status = 0;
    char *body = get_body(f.port, "/stats", &status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"frames_published\":1,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"name\":\"default\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"name\":\"other\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"client_list\":["));
    free(body);
    /* The C stats are the default stream's. */
    CU_ASSERT_EQUAL(st_server_stats(f.srv).frames_published, 1);
    st_ws_close(&top);
    st_ws_close(&named_default);
    CU_ASSERT_EQUAL(sb_server_remove_stream(f.srv, "other"), SB_OK);
    sb_frame_ring_destroy(other);
    st_server_stop(&f);
}

/* Streams added from other threads while clients come and go: nothing is lost or crashes. */
static void test_add_remove_churn_while_serving(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    st_publish_one(m.s[0].ring, 320, 240);
    for (int round = 0; round < 8; round++) {
        sb_frame_ring *ring = new_ring(64, 64);
        CU_ASSERT_EQUAL_FATAL(sb_server_add_stream(m.srv, "churn", ring, NULL), SB_OK);
        st_publish_one(ring, 64, 64);
        st_ws w;
        CU_ASSERT_EQUAL_FATAL(st_ws_connect(&w, m.port, "/v/churn/ws", NULL, true), 0);
        CU_ASSERT_EQUAL(st_ws_wait_frames(&w, 1, ST_DEADLINE_MS), 1);
        CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, "churn"), SB_OK);
        CU_ASSERT(st_ws_wait_closed(&w, ST_DEADLINE_MS));
        st_ws_close(&w);
        sb_frame_ring_destroy(ring);
    }
    CU_ASSERT_EQUAL(st_http_status(m.port, "/v/alpha/snapshot.jpg", NULL), 200);
    multi_stop(&m);
}


/* Destroying the server with viewers on several streams: each gets its 1001. */
static void test_destroy_closes_every_stream_s_viewers(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    st_publish_one(m.s[0].ring, 320, 240);
    st_publish_one(m.s[1].ring, 160, 120);
    st_ws a, b;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&a, m.port, "/v/alpha/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&b, m.port, "/v/beta/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&a, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&b, 1, ST_DEADLINE_MS), 1);
    sb_server_destroy(m.srv);
    m.srv = NULL;
    CU_ASSERT(st_ws_wait_closed(&a, ST_DEADLINE_MS));
    CU_ASSERT(st_ws_wait_closed(&b, ST_DEADLINE_MS));
    CU_ASSERT_EQUAL(a.close_code, 1001);
    CU_ASSERT_EQUAL(b.close_code, 1001);
    st_ws_close(&a);
    st_ws_close(&b);
    multi_stop(&m);
}

/* References held on the stream name by requests and clients (the server's private count). */
static int stream_refs(sb_server *srv, const char *name)
{
    sb_server_stream *st = sb__stream_find(srv, name, strlen(name));
    if (!st)
        return -1;
    pthread_mutex_lock(&srv->streams_mu);
    int refs = st->refs - 1; /* not ours */
    pthread_mutex_unlock(&srv->streams_mu);
    sb__stream_unref(st);
    return refs;
}

typedef struct snapshot_call {
    int port;
    int status;
    pthread_t thread;
} snapshot_call;

static void *get_snapshot(void *arg)
{
    snapshot_call *call = arg;
    call->status = st_http_status(call->port, "/v/gamma/snapshot.jpg", NULL);
    return NULL;
}

/* A request waiting on a stream (a snapshot before any frame) when it is removed: the removal
 * waits for it, the request gets its answer, nothing touches the freed stream. */
static void test_removal_waits_for_requests_in_flight(void)
{
    multi m;
    CU_ASSERT_EQUAL_FATAL(multi_start(&m, NULL), SB_OK);
    snapshot_call call = {m.port, 0, 0};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&call.thread, NULL, get_snapshot, &call), 0);
    /* The request holds the stream (it waits for a first frame that never comes). */
    bool held;
    ST_WAIT_UNTIL(held, stream_refs(m.srv, "gamma") >= 1, ST_DEADLINE_MS);
    CU_ASSERT_FATAL(held);
    CU_ASSERT_EQUAL(sb_server_remove_stream(m.srv, "gamma"), SB_OK);
    pthread_join(call.thread, NULL);
    CU_ASSERT_EQUAL(call.status, 503); /* its wait ended with the stream, answered */
    CU_ASSERT_EQUAL(st_http_status(m.port, "/v/gamma/snapshot.jpg", NULL), 404);
    multi_stop(&m);
}

static CU_TestInfo multistream_tests[] = {
    {"streams_are_listed_and_served_under_their_names",
     test_streams_are_listed_and_served_under_their_names},
    {"frames_and_events_stay_with_their_stream", test_frames_and_events_stay_with_their_stream},
    {"removed_stream_closes_its_clients_and_disappears",
     test_removed_stream_closes_its_clients_and_disappears},
    {"removed_stream_ends_its_mjpeg_viewers", test_removed_stream_ends_its_mjpeg_viewers},
    {"unknown_and_hostile_names_are_404", test_unknown_and_hostile_names_are_404},
    {"token_origin_and_host_hold_per_stream", test_token_origin_and_host_hold_per_stream},
    {"client_limits_are_server_wide", test_client_limits_are_server_wide},
    {"default_stream_keeps_the_top_level", test_default_stream_keeps_the_top_level},
    {"add_remove_churn_while_serving", test_add_remove_churn_while_serving},
    {"destroy_closes_every_stream_s_viewers", test_destroy_closes_every_stream_s_viewers},
    {"removal_waits_for_requests_in_flight", test_removal_waits_for_requests_in_flight},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"multistream", st_suite_init, NULL, NULL, NULL, multistream_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
