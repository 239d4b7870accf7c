/* test_http_hostile.c - the HTTP side against hostile clients: viewers that hang up on a still
 * scene, slow header senders, odd methods, civetweb's own error pages, duplicate Host headers.
 * Every wait is a condition with a generous deadline, never a speed assertion. */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_cunit.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define W 320
#define H 240

/* Sends request on a fresh connection and reads the reply's header block (up to the blank
 * line, or what came before the server closed). Returns the status, -1 if none. */
static int raw_exchange(int port, const char *request, size_t request_len, char *head, size_t size)
{
    head[0] = '\0';
    int fd = st_raw_connect(port);
    if (fd < 0)
        return -1;
    if (write(fd, request, request_len) != (ssize_t)request_len) {
        close(fd);
        return -1;
    }
    struct timeval tv = {ST_DEADLINE_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = 0;
    while (n + 1 < size && !strstr(head, "\r\n\r\n")) {
        ssize_t r = read(fd, head + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        head[n] = '\0';
    }
    close(fd);
    int status = -1;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* How often needle occurs in the header block head (up to its blank line), case-insensitive. */
static int header_occurrences(const char *head, const char *needle)
{
    const char *end = strstr(head, "\r\n\r\n");
    size_t limit = end ? (size_t)(end - head) : strlen(head);
    int count = 0;
    for (const char *p = head; (p = strcasestr(p, needle)) && (size_t)(p - head) < limit; p++)
        count++;
    return count;
}

/* ---- viewers that hang up ------------------------------------------------------------------ */

/* On a still scene an MJPEG handler has nothing to write, so a hang-up used to go unnoticed until
 * the next frame: 70 quick open/close viewers held all 64 client slots and every new viewer got
 * 503. Now the hang-up frees the slot without any frame. */
static void test_closed_mjpeg_viewers_free_their_slots_on_a_still_scene(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_publish_one(f.ring, W, H); /* then nothing: a still scene */
    static const char request[] = "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    int served = 0;
    for (int i = 0; i < 70; i++) {
        int fd = st_raw_connect(f.port);
        CU_ASSERT_FATAL(fd >= 0);
        served += st_raw_request_status(fd, request) == 200;
        close(fd);
    }
    CU_ASSERT(served > 0);
    bool slots_freed;
    ST_WAIT_UNTIL(slots_freed, st_server_clients(&f) == 0, ST_DEADLINE_MS);
    CU_ASSERT(slots_freed);
    /* New viewers of both kinds are served, and the WebSocket one gets the still frame. */
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS), 1);
    int fd = st_raw_connect(f.port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(st_raw_request_status(fd, request), 200);
    close(fd);
    st_ws_close(&ws);
    st_server_stop(&f);
}

/* ---- slow header senders (slowloris) ------------------------------------------------------- */

#define SLOW_SOCKETS 100

typedef struct slowloris {
    int port;
    int fds[SLOW_SOCKETS];
    size_t sent[SLOW_SOCKETS];
    atomic_int closed_by_server; /* how many of the slow connections the server closed */
    atomic_int open;             /* slow connections open now */
    atomic_int rounds;           /* passes over all connections (one byte each) so far */
    atomic_bool reconnect;       /* an attacker that reconnects at once (until told to stop) */
    atomic_bool stop;
    pthread_t thread;
} slowloris;

/* One byte of an endless request header: a request line, then one never-ending header. */
static char slow_byte(size_t i)
{
    static const char prefix[] = "GET /healthz HTTP/1.1\r\nX-Slow: ";
    return i < sizeof prefix - 1 ? prefix[i] : 'a';
}

/* Whether the server closed fd (EOF, reset, or a reply such as a timeout error). */
static bool closed_by_server(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return false;
    char buf[512];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
           (p.revents & (POLLHUP | POLLERR | POLLRDHUP));
}

static void *slowloris_main(void *arg)
{
    slowloris *s = arg;
    while (!atomic_load(&s->stop)) {
        for (int i = 0; i < SLOW_SOCKETS; i++) {
            if (s->fds[i] < 0 || closed_by_server(s->fds[i])) {
                if (s->fds[i] >= 0) {
                    close(s->fds[i]);
                    s->fds[i] = -1;
                    atomic_fetch_add(&s->closed_by_server, 1);
                    atomic_fetch_sub(&s->open, 1);
                }
                if (!atomic_load(&s->reconnect))
                    continue;
                s->fds[i] = st_raw_connect(s->port);
                s->sent[i] = 0;
                if (s->fds[i] < 0)
                    continue;
                atomic_fetch_add(&s->open, 1);
            }
            char b = slow_byte(s->sent[i]++);
            if (send(s->fds[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1 && errno != EAGAIN) {
                close(s->fds[i]);
                s->fds[i] = -1;
                atomic_fetch_add(&s->closed_by_server, 1);
                atomic_fetch_sub(&s->open, 1);
            }
        }
        atomic_fetch_add(&s->rounds, 1);
        st_sleep_ms(1000); /* one header byte a second per connection */
    }
    return NULL;
}

/* 100 connections that send one header byte a second (and reconnect when closed) must not keep a
 * legitimate /healthz from being served, and the server closes every one of them, but not a
 * viewer that is watching meanwhile. Before, each
 * held a worker thread for the whole request timeout; with more of them than threads, a normal
 * request waited in the queue behind them for good. */
static void test_slow_header_senders_do_not_lock_out_healthz(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_clients = 8; /* 16 worker threads: fewer than the attacker's connections */
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    /* A viewer already watching, whose connection outlives every header deadline. */
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, true), 0);
    st_publish_one(f.ring, W, H);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS), 1);
    slowloris *s = calloc(1, sizeof *s);
    CU_ASSERT_FATAL(s != NULL);
    s->port = f.port;
    atomic_store(&s->reconnect, true);
    for (int i = 0; i < SLOW_SOCKETS; i++)
        s->fds[i] = -1; /* the thread connects them */
    CU_ASSERT_EQUAL_FATAL(pthread_create(&s->thread, NULL, slowloris_main, s), 0);
    /* The attack has taken hold once every connection was opened and sent its second byte. */
    bool attacking;
    ST_WAIT_UNTIL(attacking, atomic_load(&s->rounds) >= 2, ST_DEADLINE_MS);
    CU_ASSERT(attacking);

    bool healthz;
    ST_WAIT_UNTIL(healthz, st_http_status(f.port, "/healthz", NULL) == 200, ST_DEADLINE_MS);
    CU_ASSERT(healthz);

    /* The attacker stops reconnecting: every connection it still has gets closed. */
    atomic_store(&s->reconnect, false);
    bool all_closed;
    ST_WAIT_UNTIL(all_closed, atomic_load(&s->open) == 0, ST_DEADLINE_MS);
    CU_ASSERT(all_closed);
    CU_ASSERT(atomic_load(&s->closed_by_server) >= SLOW_SOCKETS);
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < SLOW_SOCKETS; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    free(s);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/healthz", NULL), 200);
    /* And says so in /stats. */
    st_response r;
    CU_ASSERT_EQUAL_FATAL(st_http_get(f.port, "/stats", NULL, 1 << 20, &r), 0);
    const char *field = strstr(r.body, "\"slow_connections_closed\":");
    CU_ASSERT_PTR_NOT_NULL(field);
    if (field)
        CU_ASSERT(strtoull(field + strlen("\"slow_connections_closed\":"), NULL, 10) > 0);
    st_response_free(&r);
    /* The viewer was never taken for a slow header sender: it is still served. */
    int before = st_ws_wait_frames(&ws, 0, 0);
    st_publish_one(f.ring, W, H);
    CU_ASSERT(st_ws_wait_frames(&ws, before + 1, ST_DEADLINE_MS) > before);
    CU_ASSERT_FALSE(ws.closed);
    st_ws_close(&ws);
    st_server_stop(&f);
}

/* ---- methods, civetweb's own replies, Host ------------------------------------------------- */

static void test_non_get_methods_get_405_with_allow_get(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    static const char *const requests[] = {
        "HEAD /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "HEAD /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        char head[4096];
        CU_ASSERT_EQUAL(raw_exchange(f.port, requests[i], strlen(requests[i]), head, sizeof head),
                        405);
        CU_ASSERT_EQUAL(header_occurrences(head, "\r\nAllow: GET\r\n"), 1);
    }
    st_server_stop(&f);
}

/* civetweb answers a malformed request itself; that reply carries nosniff too, and ours (which
 * write the header themselves) carry it exactly once. */
static void test_every_reply_carries_nosniff_exactly_once(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_publish_one(f.ring, W, H);
    char head[4096];
    static const char malformed[] = "GET\r\n\r\n";
    int status = raw_exchange(f.port, malformed, sizeof malformed - 1, head, sizeof head);
    CU_ASSERT(status >= 400 && status < 500);
    CU_ASSERT_EQUAL(header_occurrences(head, "X-Content-Type-Options: nosniff"), 1);

    static const char *const ours[] = {
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        CU_ASSERT(raw_exchange(f.port, ours[i], strlen(ours[i]), head, sizeof head) > 0);
        CU_ASSERT_EQUAL(header_occurrences(head, "X-Content-Type-Options: nosniff"), 1);
    }
    char upgrade[768];
    st_ws_upgrade_request(upgrade, sizeof upgrade, f.port, "/ws", NULL, NULL);
    CU_ASSERT_EQUAL(raw_exchange(f.port, upgrade, strlen(upgrade), head, sizeof head), 101);
    CU_ASSERT(header_occurrences(head, "X-Content-Type-Options: nosniff") <= 1);
    st_server_stop(&f);
}

/* RFC 7230 5.4: a request with more than one Host header is a 400, whichever comes first, on
 * plain requests and WebSocket upgrades alike. */
static void test_two_host_headers_are_400(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    char head[4096];
    static const char *const requests[] = {
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nhost: 127.0.0.1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        CU_ASSERT_EQUAL(raw_exchange(f.port, requests[i], strlen(requests[i]), head, sizeof head),
                        400);
    char upgrade[768];
    st_ws_upgrade_request(upgrade, sizeof upgrade, f.port, "/ws", NULL, "Host: evil.example\r\n");
    CU_ASSERT_EQUAL(raw_exchange(f.port, upgrade, strlen(upgrade), head, sizeof head), 400);
    /* One Host is still fine. */
    CU_ASSERT_EQUAL(st_http_status(f.port, "/healthz", NULL), 200);
    st_server_stop(&f);
}

/* Found by fuzz_http_auth (tests/fuzz): "%00" in ?token= decodes to a NUL inside the supplied
 * token. Its length then differs from the C string's; the check compares the decoded length, so
 * a token with a NUL appended (or inside) never passes for the real one. */
static void test_token_with_a_decoded_nul_is_refused(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.access_token = "s3cr3t-Token_1.~";
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/healthz?token=s3cr3t-Token_1.%7e", NULL), 200);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/healthz?token=s3cr3t-Token_1.~%00", NULL), 403);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/healthz?token=s3cr3t-Token_1.%00~", NULL), 403);
    CU_ASSERT_EQUAL(st_http_status(f.port, "/healthz?token=%00s3cr3t-Token_1.~", NULL), 403);
    st_server_stop(&f);
}

static CU_TestInfo hostile_tests[] = {
    {"closed_mjpeg_viewers_free_their_slots_on_a_still_scene",
     test_closed_mjpeg_viewers_free_their_slots_on_a_still_scene},
    {"slow_header_senders_do_not_lock_out_healthz", test_slow_header_senders_do_not_lock_out_healthz},
    {"non_get_methods_get_405_with_allow_get", test_non_get_methods_get_405_with_allow_get},
    {"every_reply_carries_nosniff_exactly_once", test_every_reply_carries_nosniff_exactly_once},
    {"two_host_headers_are_400", test_two_host_headers_are_400},
    {"token_with_a_decoded_nul_is_refused", test_token_with_a_decoded_nul_is_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"http_hostile", st_suite_init, NULL, NULL, NULL, hostile_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
