/* test_view_token.c - view-only viewers (sb_server_options.view_token, issue #13): the options
 * rules, the pure token check (server/auth.h: both tokens compared, each in every place a token
 * may travel), and the server: a view-token viewer watches but its input is refused and counted
 * while a full viewer's lands in the queue; /access; the page cookie never upgrades a viewer. */
#include "auth.h"
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_test_wait.h"
#include "sb_cunit.h"

#include "streambridge/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define W 320
#define H 240
#define FULL "full-Token_1"
#define VIEW "view-Token_2"

/* ---- options --------------------------------------------------------------------------------- */

static void test_view_token_options_are_checked(void)
{
    struct { const char *access, *view; int rc; const char *says; } cases[] = {
        {FULL, VIEW, SB_OK, NULL},
        {FULL, NULL, SB_OK, NULL},
        {FULL, "", SB_OK, NULL},
        {NULL, NULL, SB_OK, NULL},
        {NULL, VIEW, SB_EINVAL, "view_token needs an access_token"},
        {"", VIEW, SB_EINVAL, "view_token needs an access_token"},
        {FULL, FULL, SB_EINVAL, "view_token must differ from access_token"},
        {FULL, "has space", SB_EINVAL, "view_token must be at most 256 characters"},
        {FULL, "a&b", SB_EINVAL, "view_token must be"},
    };
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&ro, &ring), SB_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb_server_options o = SB_SERVER_OPTIONS_INIT;
        o.port = 0;
        o.num_threads = 4;
        o.access_token = cases[i].access;
        o.view_token = cases[i].view;
        sb_server *srv = NULL;
        int rc = sb_server_create(ring, NULL, &o, &srv);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (cases[i].says && !strstr(sb_last_error(), cases[i].says))
            fprintf(stderr, "case %zu: %s\n", i, sb_last_error());
        if (cases[i].says)
            CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), cases[i].says));
        /* The message never echoes a token. */
        if (rc != SB_OK)
            CU_ASSERT_PTR_NULL(strstr(sb_last_error(), FULL));
        sb_server_destroy(srv);
    }
    /* A long token: 256 characters are fine, 257 are not. */
    char long_token[258];
    memset(long_token, 'v', sizeof long_token - 1);
    long_token[257] = '\0';
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.port = 0;
    o.num_threads = 4;
    o.access_token = FULL;
    o.view_token = long_token;
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &o, &srv), SB_EINVAL);
    long_token[256] = '\0';
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &o, &srv), SB_OK);
    sb_server_destroy(srv);
    sb_frame_ring_destroy(ring);
}

/* streambridge-server refuses the same options with the library's words and exit status 2. */
static void test_binary_refuses_a_view_token_equal_to_the_token(void)
{
    int pfd[2];
    CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execl(SB_SERVER_BINARY, SB_SERVER_BINARY, "--name", "nobody", "--token", "same",
              "--view-token", "same", NULL);
        _exit(127);
    }
    close(pfd[1]);
    char out[2048];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof out && (r = read(pfd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "view_token must differ from access_token"));
}

/* ---- the pure check -------------------------------------------------------------------------- */

static const sb_auth_config both = {
    .access_token = FULL, .token_len = sizeof FULL - 1, .bind_address = "127.0.0.1",
    .view_token = VIEW, .view_token_len = sizeof VIEW - 1,
};

static void test_each_token_in_each_place_gives_its_access(void)
{
    struct { const char *token; sb_auth_result want; } tokens[] = {
        {FULL, SB_AUTH_OK},
        {VIEW, SB_AUTH_VIEW_ONLY},
        {"view-Token_", SB_AUTH_WRONG},    /* a prefix */
        {"view-Token_22", SB_AUTH_WRONG},  /* one more character */
        {"VIEW-TOKEN_2", SB_AUTH_WRONG},   /* case matters */
        {"full-Token_1view-Token_2", SB_AUTH_WRONG},
        {"", SB_AUTH_WRONG},
    };
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        const char *t = tokens[i].token;
        char bearer[64], query[64], cookie[64];
        snprintf(bearer, sizeof bearer, "Bearer %s", t);
        snprintf(query, sizeof query, "a=1&token=%s", t);
        snprintf(cookie, sizeof cookie, "x=y; sb_token=%s", t);
        sb_auth_request places[] = {
            {.token_header = t}, {.authorization = bearer}, {.query_string = query},
            {.cookie = cookie},
        };
        for (size_t k = 0; k < sizeof places / sizeof places[0]; k++) {
            sb_auth_result got = sb__auth_check_request(&both, &places[k]);
            if (got != tokens[i].want)
                fprintf(stderr, "token '%s' in place %zu: %d\n", t, k, (int)got);
            CU_ASSERT_EQUAL(got, tokens[i].want);
        }
    }
}

static void test_a_token_in_the_wrong_place_is_no_token(void)
{
    /* Not where a token travels: parameters and cookies of other names, a non-Bearer scheme. */
    sb_auth_request wrong[] = {
        {.query_string = "view_token=" VIEW},
        {.query_string = "access_token=" FULL},
        {.cookie = "token=" VIEW},
        {.authorization = "Basic " VIEW},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        CU_ASSERT_EQUAL(sb__auth_check_request(&both, &wrong[i]), SB_AUTH_MISSING);
    /* The first place present wins: the header's view token decides even with the full token
     * in the query (a viewer cannot upgrade itself by adding a guess elsewhere). */
    sb_auth_request mixed = {.token_header = VIEW, .query_string = "token=" FULL};
    CU_ASSERT_EQUAL(sb__auth_check_request(&both, &mixed), SB_AUTH_VIEW_ONLY);
    sb_auth_request wrong_first = {.token_header = "nope", .query_string = "token=" VIEW};
    CU_ASSERT_EQUAL(sb__auth_check_request(&both, &wrong_first), SB_AUTH_WRONG);
    /* Without a view token configured, the view token is just a wrong token. */
    sb_auth_config full_only = both;
    full_only.view_token = NULL;
    full_only.view_token_len = 0;
    sb_auth_request view = {.token_header = VIEW};
    CU_ASSERT_EQUAL(sb__auth_check_request(&full_only, &view), SB_AUTH_WRONG);
}

/* ---- the server ------------------------------------------------------------------------------ */

static int start(st_server *f)
{
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.access_token = FULL;
    o.view_token = VIEW;
    return st_server_start(f, &o, W, H);
}

/* /stats "events_refused_view_only", -1 when unreadable. */
static long long refused_view_only(int port)
{
    st_response r;
    if (st_http_get(port, "/stats?token=" FULL, NULL, 1 << 20, &r) != 0)
        return -1;
    const char *p = r.body ? strstr(r.body, "\"events_refused_view_only\":") : NULL;
    long long v = p ? atoll(p + strlen("\"events_refused_view_only\":")) : -1;
    st_response_free(&r);
    return v;
}

typedef struct refused_at_least {
    int port;
    long long n;
} refused_at_least;

static bool refused_reached(void *arg)
{
    refused_at_least *w = arg;
    return refused_view_only(w->port) >= w->n;
}

static void send_event(st_ws *ws, int type)
{
    unsigned char ev[80];
    st_event(ev, type, SB_BUTTON_LEFT, 10.0f, 10.0f, W, H);
    if (type == SB_EVENT_RESIZE) {
        st_put_u32(ev + 28, 800);
        st_put_u32(ev + 32, 600);
    }
    CU_ASSERT(st_ws_send(ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY) > 0);
}

static void test_view_viewer_input_is_refused_and_counted_full_viewer_drives(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(start(&f), 0);
    st_ws view, full;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&view, f.port, "/ws?token=" VIEW, NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&full, f.port, "/ws", NULL, true), -1); /* no token */
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&full, f.port, "/ws?token=" FULL, NULL, true), 0);
    st_publish_one(f.ring, W, H);
    /* Both watch. */
    CU_ASSERT_EQUAL(st_ws_wait_frames(&view, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&full, 1, ST_DEADLINE_MS), 1);

    uint64_t received = st_server_stats(f.srv).events_received;
    const int types[] = {SB_EVENT_BUTTON_PRESS, SB_EVENT_POINTER_MOVE, SB_EVENT_BUTTON_RELEASE,
                         SB_EVENT_KEY_PRESS, SB_EVENT_RESIZE};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        send_event(&view, types[i]);
    refused_at_least want = {f.port, (long long)(sizeof types / sizeof types[0])};
    CU_ASSERT_FATAL(st_wait_until(refused_reached, &want, ST_DEADLINE_MS));
    /* Counted, not queued, not received; the view-only viewer stays connected and watching. */
    sb_event got[8];
    size_t n = 99;
    CU_ASSERT_EQUAL(sb_event_queue_pop(f.queue, got, 8, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(st_server_stats(f.srv).events_received, received);
    CU_ASSERT_FALSE(view.closed);
    int before = st_ws_wait_frames(&view, 0, 0);
    st_publish_one(f.ring, W, H);
    CU_ASSERT(st_ws_wait_frames(&view, before + 1, ST_DEADLINE_MS) > before);

    /* The full viewer's input lands in the queue. */
    send_event(&full, SB_EVENT_KEY_PRESS);
    n = 0;
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (n == 0 && sb__monotonic_ns() < deadline) {
        sb_event_queue_wait(f.queue, 100);
        sb_event_queue_pop(f.queue, got, 8, &n);
    }
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(got[0].type, SB_EVENT_KEY_PRESS);
    CU_ASSERT_EQUAL(refused_view_only(f.port), (long long)want.n);
    st_ws_close(&view);
    st_ws_close(&full);
    st_server_stop(&f);
}

static void test_view_token_watches_every_endpoint(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(start(&f), 0);
    st_publish_one(f.ring, W, H);
    const char *paths[] = {"/", "/client.js", "/favicon.svg", "/stats", "/healthz",
                           "/snapshot.jpg"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "%s?token=" VIEW, paths[i]);
        CU_ASSERT_EQUAL(st_http_status(f.port, url, NULL), 200);
        CU_ASSERT_EQUAL(st_http_status(f.port, paths[i], "Cookie: sb_token=" VIEW "\r\n"), 200);
    }
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/video.mjpeg?token=" VIEW, NULL, 4096, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    st_response_free(&r);
    st_server_stop(&f);
}

static void test_page_cookie_carries_the_granted_token_only(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(start(&f), 0);
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/?token=" VIEW, NULL, 1 << 20, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "sb_token=" VIEW));
    CU_ASSERT_PTR_NULL(strstr(r.headers, FULL));
    CU_ASSERT_PTR_NULL(strstr(r.body, FULL));
    st_response_free(&r);
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/?token=" FULL, NULL, 1 << 20, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "sb_token=" FULL));
    st_response_free(&r);
    st_server_stop(&f);
}

/* GET /access: status and the body's exact JSON. */
static void expect_access(int port, const char *path, const char *headers, int status,
                          const char *body)
{
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(port, path, headers, 4096, &r), 0);
    if (r.status != status || !r.body || strcmp(r.body, body) != 0)
        fprintf(stderr, "%s: %d %s\n", path, r.status, r.body ? r.body : "(no body)");
    CU_ASSERT_EQUAL(r.status, status);
    CU_ASSERT(r.body && strcmp(r.body, body) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.headers, "application/json"));
    st_response_free(&r);
}

/* The same over a raw connection with our own Host header (civetweb's client sets its own). */
static void expect_raw_access(int port, const char *path, const char *host, const char *status,
                              const char *body)
{
    int fd = st_raw_connect(port);
    CU_ASSERT_FATAL(fd >= 0);
    char req[512], reply[4096];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    CU_ASSERT(write(fd, req, (size_t)len) == len);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof reply && (r = read(fd, reply + n, sizeof reply - 1 - n)) > 0)
        n += (size_t)r;
    reply[n] = '\0';
    close(fd);
    char first[32];
    snprintf(first, sizeof first, "HTTP/1.1 %s ", status);
    CU_ASSERT(strncmp(reply, first, strlen(first)) == 0);
    const char *end = strstr(reply, "\r\n\r\n");
    CU_ASSERT(end && strcmp(end + 4, body) == 0);
}

static void test_access_endpoint_says_full_view_or_why_denied(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.access_token = FULL;
    o.view_token = VIEW;
    o.allowed_origins = "https://proxy.example";
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    char own[128];
    snprintf(own, sizeof own, "/access?token=" FULL "&origin=http%%3A%%2F%%2F127.0.0.1%%3A%d",
             f.port);
    expect_access(f.port, "/access?token=" FULL, NULL, 200, "{\"access\":\"full\"}\n");
    expect_access(f.port, own, NULL, 200, "{\"access\":\"full\"}\n");
    expect_access(f.port, "/access?token=" VIEW, NULL, 200, "{\"access\":\"view\"}\n");
    expect_access(f.port, "/access", "Cookie: sb_token=" VIEW "\r\n", 200,
                  "{\"access\":\"view\"}\n");
    expect_access(f.port, "/access?token=" FULL "&origin=https%3A%2F%2Fproxy.example", NULL,
                  200, "{\"access\":\"full\"}\n");
    /* Denied: the reason is the category the status text already tells, never the token. */
    expect_access(f.port, "/access", NULL, 401,
                  "{\"access\":\"denied\",\"reason\":\"token\"}\n");
    expect_access(f.port, "/access?token=view-Token_", NULL, 403,
                  "{\"access\":\"denied\",\"reason\":\"token\"}\n");
    expect_access(f.port, "/access?token=" FULL "&origin=http%3A%2F%2Fevil.example", NULL, 403,
                  "{\"access\":\"denied\",\"reason\":\"origin\"}\n");
    /* A real Origin header wins over the claimed one. */
    expect_access(f.port, "/access?token=" FULL "&origin=https%3A%2F%2Fproxy.example",
                  "Origin: http://evil.example\r\n", 403,
                  "{\"access\":\"denied\",\"reason\":\"origin\"}\n");
    expect_raw_access(f.port, "/access?token=" FULL, "evil.example", "403",
                      "{\"access\":\"denied\",\"reason\":\"host\"}\n");
    /* Host is checked before the token: a rebinding page learns nothing about tokens. */
    expect_raw_access(f.port, "/access", "evil.example", "403",
                      "{\"access\":\"denied\",\"reason\":\"host\"}\n");
    st_server_stop(&f);
}

static void test_access_endpoint_without_tokens_is_full(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    expect_access(f.port, "/access", NULL, 200, "{\"access\":\"full\"}\n");
    expect_access(f.port, "/access?token=anything", NULL, 200, "{\"access\":\"full\"}\n");
    st_server_stop(&f);
}

/* A named stream (/v/NAME/, issue #12): the same tokens, the same refusal; /access under any
 * /v/NAME/ answers the same whether NAME exists or not. */
static void test_named_stream_view_viewer_is_refused_too(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(start(&f), 0);
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = W;
    ro.max_height = H;
    sb_frame_ring *ring = NULL;
    sb_event_queue *queue = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&ro, &ring), SB_OK);
    sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_create(&qo, &queue), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_server_add_stream(f.srv, "side", ring, queue), SB_OK);
    expect_access(f.port, "/v/side/access?token=" VIEW, NULL, 200, "{\"access\":\"view\"}\n");
    expect_access(f.port, "/v/nosuch/access?token=" VIEW, NULL, 200, "{\"access\":\"view\"}\n");
    expect_access(f.port, "/v/nosuch/access", NULL, 401,
                  "{\"access\":\"denied\",\"reason\":\"token\"}\n");

    st_ws view;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&view, f.port, "/v/side/ws?token=" VIEW, NULL, true), 0);
    st_publish_one(ring, W, H);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&view, 1, ST_DEADLINE_MS), 1);
    send_event(&view, SB_EVENT_BUTTON_PRESS);
    send_event(&view, SB_EVENT_KEY_PRESS);
    /* Counted in that stream's /stats. */
    bool refused = false;
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (!refused && sb__monotonic_ns() < deadline) {
        st_response r;
        if (st_http_get(f.port, "/v/side/stats?token=" FULL, NULL, 1 << 20, &r) == 0 && r.body)
            refused = strstr(r.body, "\"events_refused_view_only\":2,") != NULL;
        st_response_free(&r);
    }
    CU_ASSERT(refused);
    sb_event got[4];
    size_t n = 99;
    CU_ASSERT_EQUAL(sb_event_queue_pop(queue, got, 4, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 0);
    st_ws_close(&view);
    CU_ASSERT_EQUAL(sb_server_remove_stream(f.srv, "side"), SB_OK);
    sb_event_queue_destroy(queue);
    sb_frame_ring_destroy(ring);
    st_server_stop(&f);
}

static CU_TestInfo options_tests[] = {
    {"view_token_options_are_checked", test_view_token_options_are_checked},
    {"binary_refuses_a_view_token_equal_to_the_token",
     test_binary_refuses_a_view_token_equal_to_the_token},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo auth_tests[] = {
    {"each_token_in_each_place_gives_its_access", test_each_token_in_each_place_gives_its_access},
    {"a_token_in_the_wrong_place_is_no_token", test_a_token_in_the_wrong_place_is_no_token},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo server_tests[] = {
    {"view_viewer_input_is_refused_and_counted_full_viewer_drives",
     test_view_viewer_input_is_refused_and_counted_full_viewer_drives},
    {"view_token_watches_every_endpoint", test_view_token_watches_every_endpoint},
    {"page_cookie_carries_the_granted_token_only", test_page_cookie_carries_the_granted_token_only},
    {"access_endpoint_says_full_view_or_why_denied",
     test_access_endpoint_says_full_view_or_why_denied},
    {"access_endpoint_without_tokens_is_full", test_access_endpoint_without_tokens_is_full},
    {"named_stream_view_viewer_is_refused_too", test_named_stream_view_viewer_is_refused_too},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"view_token_options", NULL, NULL, NULL, NULL, options_tests},
    {"view_token_auth", NULL, NULL, NULL, NULL, auth_tests},
    {"view_token_server", st_suite_init, NULL, NULL, NULL, server_tests},
    CU_SUITE_INFO_NULL,
};
SB_CUNIT_MAIN(suites)
