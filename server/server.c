/* server.c - sb_server_create/destroy/get_port/get_stats, option validation, the civetweb context, the
 * HTTP endpoints (/, /video.mjpeg, /snapshot.jpg, /stats, /healthz) and the client registry.
 * The WebSocket endpoint lives in ws.c, the encoder in encoder.c. */
#include "server_internal.h"

#include "conn_socket.h"
#include "http_guard.h"
#include "sb_error_internal.h"
#include "web_assets.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SB_SNAPSHOT_WAIT_MS 2000
#define SB_MJPEG_BOUNDARY "sbframe"

/* ---- small HTTP helpers ---------------------------------------------------------------------- */

void sb__http_reply(struct mg_connection *conn, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len)
{
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\n"
              "Content-Type: %s\r\n"
              "Content-Length: %zu\r\n"
              "Cache-Control: no-store\r\n"
              "X-Content-Type-Options: nosniff\r\n"
              "Connection: close\r\n"
              "%s\r\n",
              status, mg_get_response_code_text(conn, status), content_type, len,
              extra_headers ? extra_headers : "");
    if (len)
        mg_write(conn, body, len);
}

static void reply_text(struct mg_connection *conn, int status, const char *text)
{
    sb__http_reply(conn, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

/* A growable text buffer for the /stats JSON. */
typedef struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

/* ---- clients --------------------------------------------------------------------------------- */

sb_client *sb__client_new(sb_server *srv, sb_client_kind kind, struct mg_connection *conn)
{
    sb_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    c->kind = kind;
    c->conn = conn;
    c->id = atomic_fetch_add(&srv->next_client_id, 1) + 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (ri) {
        snprintf(c->remote, sizeof c->remote, "%s:%d", ri->remote_addr, ri->remote_port);
        snprintf(c->address, sizeof c->address, "%s", ri->remote_addr);
    }
    c->tokens = srv->opts.max_events_per_second;
    c->connected_ns = sb__monotonic_ns();
    atomic_init(&c->close_sent, false);
    return c;
}

void sb__client_free(sb_client *c)
{
    if (!c)
        return;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Clients connected from address (under clients_mu). Linear: at most max_clients (1024). */
static int clients_from(const sb_server *srv, const char *address)
{
    int n = 0;
    for (const sb_client *o = srv->clients; o; o = o->next)
        n += strcmp(o->address, address) == 0;
    return n;
}

bool sb__client_register(sb_server *srv, sb_client *c)
{
    pthread_mutex_lock(&srv->clients_mu);
    c->refused_why = NULL;
    if (atomic_load(&srv->stopping))
        c->refused_why = "server stopping";
    else if (atomic_load(&srv->client_count) >= srv->opts.max_clients)
        c->refused_why = "too many clients";
    /* One address must not be able to take every slot and lock everyone else out. */
    else if (srv->opts.max_clients_per_address > 0 &&
             clients_from(srv, c->address) >= srv->opts.max_clients_per_address)
        c->refused_why = "too many clients from this address";
    if (!c->refused_why) {
        c->next = srv->clients;
        srv->clients = c;
        atomic_fetch_add(&srv->client_count, 1);
    }
    pthread_mutex_unlock(&srv->clients_mu);
    if (c->refused_why)
        atomic_fetch_add(&srv->clients_refused, 1);
    return !c->refused_why;
}

void sb__client_unregister(sb_server *srv, sb_client *c)
{
    pthread_mutex_lock(&srv->clients_mu);
    for (sb_client **p = &srv->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            atomic_fetch_sub(&srv->client_count, 1);
            break;
        }
    }
    pthread_mutex_unlock(&srv->clients_mu);
}

void sb__clients_announce(sb_server *srv)
{
    pthread_mutex_lock(&srv->clients_mu);
    for (sb_client *c = srv->clients; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        c->wake = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&srv->clients_mu);
}

#define SB_STOP_CLOSE_WAIT_MS 1000

/* Tells every client to stop and waits (at most SB_STOP_CLOSE_WAIT_MS in all) for the WebSocket
 * senders to finish: each sends its client a 1001 close on the way out, and civetweb refuses
 * every write once mg_stop() has raised its stop flag. A sender stuck on a full socket is not
 * waited for beyond the bound. */
static void close_all_clients(sb_server *srv)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += SB_STOP_CLOSE_WAIT_MS / 1000;
    pthread_mutex_lock(&srv->clients_mu);
    for (sb_client *c = srv->clients; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        c->closing = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    for (sb_client *c = srv->clients; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        while (c->kind == SB_CLIENT_WS && c->sender_started && !c->sender_done) {
            if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&srv->clients_mu);
}

sb_encoded_frame *sb__client_next_frame(sb_client *c)
{
    sb_server *srv = c->srv;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->closing || c->dead || atomic_load(&srv->stopping))
            break;
        bool has_credit = c->kind != SB_CLIENT_WS || c->in_flight < SB_CLIENT_MAX_IN_FLIGHT;
        if (has_credit) {
            sb_encoded_frame *f = sb__latest_frame(srv);
            if (f && f->id != c->last_sent_id) {
                /* Every distinct frame between the last one sent and this one was skipped. */
                if (c->last_distinct_no && f->distinct_no > c->last_distinct_no + 1) {
                    uint64_t gap = f->distinct_no - c->last_distinct_no - 1;
                    atomic_fetch_add(&c->skipped, gap);
                    atomic_fetch_add(&srv->frames_skipped, gap);
                }
                c->last_sent_id = f->id;
                c->last_distinct_no = f->distinct_no;
                if (c->kind == SB_CLIENT_WS) {
                    c->in_flight_seq[c->in_flight] = f->seq;
                    c->in_flight_send_ns[c->in_flight] = sb__realtime_ns();
                    c->in_flight_since_ns[c->in_flight] = sb__monotonic_ns();
                    c->in_flight++;
                }
                pthread_mutex_unlock(&c->mu);
                return f;
            }
            sb__frame_unref(f);
        }
        c->wake = false;
        /* Timed so a missed stop can never hang a thread for good. */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &deadline);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- endpoints ------------------------------------------------------------------------------- */

static bool check_access(sb_server *srv, struct mg_connection *conn)
{
    if (!sb__host_allowed(srv, conn)) {
        reply_text(conn, 403, "403 forbidden: Host not allowed\n");
        return false;
    }
    sb_auth_result r = sb__auth_check(srv, conn);
    if (r == SB_AUTH_OK)
        return true;
    /* The body says only what the status says: nothing about the token. */
    reply_text(conn, (int)r, r == SB_AUTH_MISSING ? "401 unauthorized\n" : "403 forbidden\n");
    return false;
}

static void serve_asset(sb_server *srv, struct mg_connection *conn, const sb_web_asset *a)
{
    char headers[1024];
    headers[0] = '\0';
    if (strcmp(a->path, "/") == 0 && sb__auth_token_in_query(srv, conn)) {
        /* Lets the page's own <img src="/video.mjpeg"> and fetches authenticate without the
         * token in every URL. Strict same-site: a foreign page cannot make us send it. */
        snprintf(headers, sizeof headers,
                 "Set-Cookie: sb_token=%s; Path=/; HttpOnly; SameSite=Strict\r\n",
                 srv->access_token);
    }
    sb__http_reply(conn, 200, a->content_type, headers, a->data, a->size);
}

static void serve_snapshot(sb_server *srv, struct mg_connection *conn)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t t = (uint64_t)deadline.tv_nsec + (uint64_t)SB_SNAPSHOT_WAIT_MS * 1000000ull;
    deadline.tv_sec += (time_t)(t / 1000000000ull);
    deadline.tv_nsec = (long)(t % 1000000000ull);
    pthread_mutex_lock(&srv->latest_mu);
    while (!srv->latest && !atomic_load(&srv->stopping)) {
        if (pthread_cond_timedwait(&srv->latest_cv, &srv->latest_mu, &deadline) == ETIMEDOUT)
            break;
    }
    sb_encoded_frame *f = srv->latest;
    if (f)
        sb__frame_ref(f);
    pthread_mutex_unlock(&srv->latest_mu);
    if (!f) {
        reply_text(conn, 503, "no frame has been published yet\n");
        return;
    }
    char headers[128];
    snprintf(headers, sizeof headers, "X-Frame-Seq: %llu\r\n", (unsigned long long)f->seq);
    sb__http_reply(conn, 200, "image/jpeg", headers, f->jpeg, f->jpeg_len);
    atomic_fetch_add(&srv->bytes_sent, f->jpeg_len);
    sb__frame_unref(f);
}

static void serve_mjpeg(sb_server *srv, struct mg_connection *conn)
{
    sb_client *c = sb__client_new(srv, SB_CLIENT_MJPEG, conn);
    if (!c) {
        reply_text(conn, 503, "out of memory\n");
        return;
    }
    if (!sb__client_register(srv, c)) {
        char text[64];
        snprintf(text, sizeof text, "%s\n", c->refused_why);
        reply_text(conn, 503, text);
        sb__client_free(c);
        return;
    }
    /* Chromium shows a part only once the NEXT part's header block has arrived (it finishes a
     * part when it parses the following part's headers), so each frame is followed at once by
     * the boundary and the next part's headers; a still scene's last frame then shows without
     * waiting for another frame. The next frame's length and seq are not known then: parts are
     * delimited by the boundary alone (no Content-Length, no X-Frame-Seq). */
    static const char part_head[] = "--" SB_MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n\r\n";
    static const char part_end[] =
        "\r\n--" SB_MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n\r\n";
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\n"
              "Content-Type: multipart/x-mixed-replace; boundary=" SB_MJPEG_BOUNDARY "\r\n"
              "Cache-Control: no-store\r\n"
              "Pragma: no-cache\r\n"
              "X-Content-Type-Options: nosniff\r\n"
              "Connection: close\r\n\r\n"
              "%s", part_head);
    /* On a still scene nothing is written for a long time, and a write is how a sender notices
     * a hang-up: the guard watches the socket and sets c->closing when the viewer goes, so its
     * slot (max_clients) frees at once. Without the socket, the next frame's write notices. */
    int fd = sb__conn_socket(conn);
    if (fd >= 0)
        sb__http_guard_watch_mjpeg(srv->guard, c, fd);
    sb_encoded_frame *f;
    while ((f = sb__client_next_frame(c))) {
        bool ok = mg_write(conn, f->jpeg, f->jpeg_len) == (int)f->jpeg_len &&
                  mg_write(conn, part_end, sizeof part_end - 1) == (int)(sizeof part_end - 1);
        if (ok) {
            size_t bytes = f->jpeg_len + sizeof part_end - 1;
            atomic_fetch_add(&c->sent, 1);
            atomic_fetch_add(&c->bytes, bytes);
            atomic_fetch_add(&srv->frames_sent, 1);
            atomic_fetch_add(&srv->bytes_sent, bytes);
        }
        sb__frame_unref(f);
        if (!ok)
            break;
    }
    if (fd >= 0)
        sb__http_guard_unwatch_mjpeg(srv->guard, c);
    sb__client_unregister(srv, c);
    sb__client_free(c);
}

static void serve_healthz(sb_server *srv, struct mg_connection *conn)
{
    /* A truncated or overwritten shm segment ends the stream as surely as a dead producer. */
    if (sb_frame_ring_check(srv->ring) != SB_OK) {
        char text[640];
        snprintf(text, sizeof text, "stream broken: %s\n", sb_last_error());
        reply_text(conn, 503, text);
        return;
    }
    sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(srv->ring, &rs);
    if (rs.writer_alive)
        reply_text(conn, 200, "ok\n");
    else
        reply_text(conn, 503, "producer gone\n");
}

static void serve_stats(sb_server *srv, struct mg_connection *conn)
{
    sb_server_stats s;
    sb_server_get_stats(srv, &s);
    sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(srv->ring, &rs);
    /* The stream's health, as /healthz sees it; the reason goes into a JSON string, so quotes,
     * backslashes and control characters are replaced (it names a stream and numbers only). */
    char fault[600] = "";
    if (sb_frame_ring_check(srv->ring) != SB_OK) {
        snprintf(fault, sizeof fault, "%s", sb_last_error());
        for (char *p = fault; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                *p = *p == '"' ? '\'' : ' ';
    }
    strbuf b = {0};
    sb_printf(&b,
              "{\"frames_published\":%llu,\"frames_encoded\":%llu,\"frames_encoded_still\":%llu,"
              "\"frames_coalesced\":%llu,\"frames_sent\":%llu,\"frames_skipped\":%llu,"
              "\"bytes_sent\":%llu,\"events_received\":%llu,\"events_dropped\":%llu,"
              "\"events_rate_limited\":%llu,\"messages_rejected\":%llu,\"clients_refused\":%llu,"
              "\"encode_errors\":%llu,\"clients\":%u,\"encode_ms_mean\":%.3f,"
              "\"encode_ms_p50\":%.3f,\"encode_ms_p99\":%.3f,\"delivered_fps\":%.2f,"
              "\"producer_alive\":%s,\"slow_connections_closed\":%llu,\"stream_ok\":%s,"
              "\"stream_error\":\"%s\",\"stream_corrupt_reads\":%llu,\"client_list\":[",
              (unsigned long long)s.frames_published, (unsigned long long)s.frames_encoded,
              (unsigned long long)s.frames_encoded_still, (unsigned long long)s.frames_coalesced,
              (unsigned long long)s.frames_sent, (unsigned long long)s.frames_skipped,
              (unsigned long long)s.bytes_sent, (unsigned long long)s.events_received,
              (unsigned long long)s.events_dropped, (unsigned long long)s.events_rate_limited,
              (unsigned long long)s.messages_rejected, (unsigned long long)s.clients_refused,
              (unsigned long long)s.encode_errors, s.clients, s.encode_ms_mean, s.encode_ms_p50,
              s.encode_ms_p99, s.delivered_fps, rs.writer_alive ? "true" : "false",
              sb__http_guard_slow_closed(srv->guard), fault[0] ? "false" : "true", fault,
              (unsigned long long)rs.corrupt_reads);
    pthread_mutex_lock(&srv->clients_mu);
    bool first = true;
    for (sb_client *c = srv->clients; c; c = c->next) {
        /* remote is "addr:port" from civetweb: digits, dots, colons only, safe in JSON. */
        sb_printf(&b, "%s{\"id\":%u,\"kind\":\"%s\",\"remote\":\"%s\",\"sent\":%llu,"
                      "\"skipped\":%llu,\"bytes\":%llu}",
                  first ? "" : ",", c->id, c->kind == SB_CLIENT_WS ? "ws" : "mjpeg", c->remote,
                  (unsigned long long)atomic_load(&c->sent),
                  (unsigned long long)atomic_load(&c->skipped),
                  (unsigned long long)atomic_load(&c->bytes));
        first = false;
    }
    pthread_mutex_unlock(&srv->clients_mu);
    sb_printf(&b, "]}\n");
    if (b.failed)
        reply_text(conn, 500, "out of memory\n");
    else
        sb__http_reply(conn, 200, "application/json", NULL, b.data, b.len);
    free(b.data);
}

/* Every HTTP request lands here (registered for "**"): exact paths only, never the filesystem. */
static int http_dispatch(struct mg_connection *conn, void *cbdata)
{
    sb_server *srv = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *path = ri->local_uri ? ri->local_uri : "";
    if (strcmp(ri->request_method, "GET") != 0) {
        /* HEAD too: every endpoint is GET only (docs/wire-protocol.md), and a HEAD served
         * like its GET would start an endless MJPEG stream or a snapshot wait. */
        sb__http_reply(conn, 405, "text/plain; charset=utf-8", "Allow: GET\r\n",
                       "method not allowed\n", strlen("method not allowed\n"));
        return 405;
    }
    if (!check_access(srv, conn))
        return 403;
    if (strcmp(path, "/video.mjpeg") == 0)
        serve_mjpeg(srv, conn);
    else if (strcmp(path, "/snapshot.jpg") == 0)
        serve_snapshot(srv, conn);
    else if (strcmp(path, "/stats") == 0)
        serve_stats(srv, conn);
    else if (strcmp(path, "/healthz") == 0)
        serve_healthz(srv, conn);
    else if (strcmp(path, "/ws") == 0)
        reply_text(conn, 426, "WebSocket upgrade required\n");
    else {
        for (size_t i = 0; i < sb__web_asset_count; i++) {
            if (strcmp(path, sb__web_assets[i].path) == 0 ||
                (strcmp(path, "/index.html") == 0 && strcmp(sb__web_assets[i].path, "/") == 0)) {
                serve_asset(srv, conn, &sb__web_assets[i]);
                return 200;
            }
        }
        reply_text(conn, 404, "not found\n");
        return 404;
    }
    return 200;
}

/* Number of request headers named name (case-insensitive). */
static int header_count(const struct mg_request_info *ri, const char *name)
{
    int n = 0;
    for (int i = 0; i < ri->num_headers; i++)
        if (ri->http_headers[i].name && strcasecmp(ri->http_headers[i].name, name) == 0)
            n++;
    return n;
}

/* civetweb calls this for every request (WebSocket upgrades too) once its headers are complete,
 * before any handler: the checks every endpoint shares that are not about access. */
static int begin_request(struct mg_connection *conn)
{
    sb_server *srv = mg_get_user_data(mg_get_context(conn));
    sb__http_guard_request_started(srv->guard, conn);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    /* RFC 7230 5.4: more than one Host is a 400. civetweb would use the first, a proxy in
     * front might use another: the Host check (DNS rebinding) must see the only one. */
    if (ri && header_count(ri, "Host") > 1) {
        reply_text(conn, 400, "400 bad request: more than one Host header\n");
        return 400;
    }
    return 0;
}

static int init_connection(const struct mg_connection *conn, void **conn_data)
{
    (void)conn_data; /* stays NULL: ws.c sets the connection data of WebSocket clients */
    sb_server *srv = mg_get_user_data(mg_get_context(conn));
    sb__http_guard_conn_opened(srv->guard);
    return 0;
}

static void connection_close(const struct mg_connection *conn)
{
    sb_server *srv = mg_get_user_data(mg_get_context(conn));
    sb__http_guard_conn_closing(srv->guard, conn);
}

/* civetweb's own diagnostics go through our log, once per line. */
static int log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    sb__log("server: civetweb: %s", message);
    return 1;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static pthread_once_t civetweb_once = PTHREAD_ONCE_INIT;
static void civetweb_init(void)
{
    /* Initialized once for the process and never torn down: other civetweb users (tests'
     * client calls, a second server) share it. */
    mg_init_library(MG_FEATURES_DEFAULT);
}

static bool valid_bind_address(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 45)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
              ch == '.' || ch == ':'))
            return false;
    }
    return true;
}

static bool valid_token(const char *s)
{
    size_t n = strlen(s);
    if (n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        /* Unreserved URL characters only: the token travels in URLs, cookies and headers. */
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_' || ch == '.' || ch == '~'))
            return false;
    }
    return true;
}

/* Option errors are reported as sb_server_start's, the function the caller called. */
#define OPT_FAIL(code, ...) sb__set_error((code), "sb_server_create", __VA_ARGS__)

/* Bytes of sb_server_options each version has: a caller built against an older header passes a
 * shorter struct, of which only these bytes may be read. */
static size_t options_size(unsigned int version)
{
    switch (version) {
    case 1: return offsetof(sb_server_options, max_clients_per_address);
    case 2: return sizeof(sb_server_options);
    default: return 0;
    }
}

int sb_server_options_init(sb_server_options *opts, unsigned int version)
{
    if (!opts)
        return SB_FAIL(SB_EINVAL, "opts is NULL");
    size_t size = options_size(version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "options version %u is not 1..%d", version,
                       SB_SERVER_OPTIONS_VERSION);
    const sb_server_options defaults = SB_SERVER_OPTIONS_INIT;
    memcpy(opts, &defaults, size);
    opts->version = version;
    return SB_OK;
}

/* The caller's options of any known version, completed with the defaults of the fields its
 * version lacks, in *full. */
static int complete_options(const sb_server_options *o, sb_server_options *full)
{
    size_t size = options_size(o->version);
    if (size == 0)
        return OPT_FAIL(SB_EVERSION, "options version %u is not 1..%d (use SB_SERVER_OPTIONS_INIT "
                        "or sb_server_options_init)", o->version, SB_SERVER_OPTIONS_VERSION);
    const sb_server_options defaults = SB_SERVER_OPTIONS_INIT;
    *full = defaults;
    memcpy(full, o, size);
    full->version = SB_SERVER_OPTIONS_VERSION;
    return SB_OK;
}

static int validate_options(const sb_server_options *o)
{
    if (o->bind_address && !valid_bind_address(o->bind_address))
        return OPT_FAIL(SB_EINVAL, "bind_address \"%.64s\" is not a numeric IPv4/IPv6 address",
                       o->bind_address);
    if (o->port < 0 || o->port > 65535)
        return OPT_FAIL(SB_EINVAL, "port %d is outside 0..65535", o->port);
    if (o->jpeg_quality_interactive < 1 || o->jpeg_quality_interactive > 100)
        return OPT_FAIL(SB_EINVAL, "jpeg_quality_interactive %d is outside 1..100",
                       o->jpeg_quality_interactive);
    if (o->jpeg_quality_still < 1 || o->jpeg_quality_still > 100)
        return OPT_FAIL(SB_EINVAL, "jpeg_quality_still %d is outside 1..100", o->jpeg_quality_still);
    if (o->still_delay_ms < 0 || o->still_delay_ms > 60000)
        return OPT_FAIL(SB_EINVAL, "still_delay_ms %d is outside 0..60000", o->still_delay_ms);
    if (!(o->max_fps > 0.0 && o->max_fps <= 1000.0)) /* also rejects NaN */
        return OPT_FAIL(SB_EINVAL, "max_fps %g is outside (0, 1000]", o->max_fps);
    if (o->access_token && !valid_token(o->access_token))
        return OPT_FAIL(SB_EINVAL, "access_token must be at most 256 characters of "
                                  "[A-Za-z0-9-_.~]");
    if (o->allowed_origins && strlen(o->allowed_origins) > 4096)
        return OPT_FAIL(SB_EINVAL, "allowed_origins is longer than 4096 characters");
    if (o->max_clients < 1 || o->max_clients > 1024)
        return OPT_FAIL(SB_EINVAL, "max_clients %d is outside 1..1024", o->max_clients);
    if (o->max_message_bytes < 128 || o->max_message_bytes > 1048576)
        return OPT_FAIL(SB_EINVAL, "max_message_bytes %d is outside 128..1048576",
                       o->max_message_bytes);
    if (o->max_events_per_second < 1 || o->max_events_per_second > 100000)
        return OPT_FAIL(SB_EINVAL, "max_events_per_second %d is outside 1..100000",
                       o->max_events_per_second);
    if (o->num_threads < 0 || o->num_threads > 2048)
        return OPT_FAIL(SB_EINVAL, "num_threads %d is outside 0..2048 (0 = max_clients + 8)",
                       o->num_threads);
    if (o->send_timeout_ms < 100 || o->send_timeout_ms > 600000)
        return OPT_FAIL(SB_EINVAL, "send_timeout_ms %d is outside 100..600000", o->send_timeout_ms);
    if (o->max_clients_per_address < 0 || o->max_clients_per_address > 1024)
        return OPT_FAIL(SB_EINVAL, "max_clients_per_address %d is outside 0..1024 (0 = no cap)",
                       o->max_clients_per_address);
    if (o->ack_timeout_ms < 100 || o->ack_timeout_ms > 3600000)
        return OPT_FAIL(SB_EINVAL, "ack_timeout_ms %d is outside 100..3600000", o->ack_timeout_ms);
    return SB_OK;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void server_free(sb_server *srv)
{
    sb__encoder_free_frames(srv);
    pthread_mutex_destroy(&srv->stop_mu);
    pthread_cond_destroy(&srv->stop_cv);
    pthread_mutex_destroy(&srv->latest_mu);
    pthread_cond_destroy(&srv->latest_cv);
    pthread_mutex_destroy(&srv->clients_mu);
    pthread_mutex_destroy(&srv->stats_mu);
    free(srv->bind_address);
    free(srv->access_token);
    free(srv->allowed_origins);
    free(srv);
}

int sb_server_create(sb_frame_ring *ring, sb_event_queue *queue, const sb_server_options *opts,
                     sb_server **out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    if (!ring)
        return SB_FAIL(SB_EINVAL, "ring is NULL");
    sb_server_options full = SB_SERVER_OPTIONS_INIT;
    if (opts) {
        int rc = complete_options(opts, &full);
        if (rc != SB_OK)
            return rc;
    }
    opts = &full;
    int rc = validate_options(opts);
    if (rc != SB_OK)
        return rc;

    sb_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the server");
    srv->opts = *opts;
    srv->ring = ring;
    srv->queue = queue;
    srv->bind_address = strdup(opts->bind_address ? opts->bind_address : "127.0.0.1");
    srv->access_token = dup_or_null(opts->access_token);
    srv->allowed_origins = dup_or_null(opts->allowed_origins);
    srv->token_len = srv->access_token ? strlen(srv->access_token) : 0;
    srv->opts.bind_address = srv->bind_address;
    srv->opts.access_token = srv->access_token;
    srv->opts.allowed_origins = srv->allowed_origins;
    if (srv->opts.num_threads == 0)
        srv->opts.num_threads = srv->opts.max_clients + 8;
    pthread_mutex_init(&srv->stop_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->stop_cv, &attr);
    pthread_cond_init(&srv->latest_cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&srv->latest_mu, NULL);
    pthread_mutex_init(&srv->clients_mu, NULL);
    pthread_mutex_init(&srv->stats_mu, NULL);
    srv->started_ns = sb__monotonic_ns();
    if (!srv->bind_address || (opts->access_token && *opts->access_token && !srv->access_token) ||
        (opts->allowed_origins && *opts->allowed_origins && !srv->allowed_origins)) {
        server_free(srv);
        return SB_FAIL(SB_ENOMEM, "cannot copy the options");
    }

    rc = sb__encoder_start(srv);
    if (rc != SB_OK) {
        server_free(srv);
        return rc;
    }
    srv->guard = sb__http_guard_start();
    if (!srv->guard) {
        atomic_store(&srv->stopping, true);
        sb__encoder_join(srv);
        server_free(srv);
        return SB_EIO;
    }

    pthread_once(&civetweb_once, civetweb_init);
    char listen[80], threads[16], send_timeout[16];
    if (strchr(srv->bind_address, ':'))
        snprintf(listen, sizeof listen, "[%s]:%d", srv->bind_address, opts->port);
    else
        snprintf(listen, sizeof listen, "%s:%d", srv->bind_address, opts->port);
    snprintf(threads, sizeof threads, "%d", srv->opts.num_threads);
    snprintf(send_timeout, sizeof send_timeout, "%d", srv->opts.send_timeout_ms);
    const char *cw_options[] = {
        "listening_ports", listen,
        "num_threads", threads,
        /* Bounds every blocking socket write (mg_write) without progress and, from the
         * connection's pickup, the read of a request's headers; http_guard.c bounds the
         * latter tighter (SB_HEADER_DEADLINE_MS) and per address. */
        "request_timeout_ms", send_timeout,
        /* On civetweb's own replies (its 400 for a malformed request, the 101 of an upgrade);
         * ours write their headers themselves (sb__http_reply), so it is never doubled. */
        "additional_header", "X-Content-Type-Options: nosniff",
        /* Idle WebSocket reads wake up this often; civetweb then pings the client. */
        "websocket_timeout_ms", "10000",
        "enable_websocket_ping_pong", "yes",
        "enable_keep_alive", "no",
        "tcp_nodelay", "1",
        NULL, NULL,
    };
    struct mg_callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.log_message = log_message;
    callbacks.begin_request = begin_request;
    callbacks.init_connection = init_connection;
    callbacks.connection_close = connection_close;
    struct mg_init_data init = {&callbacks, srv, cw_options};
    char errtext[256] = "";
    unsigned errcode = 0;
    struct mg_error_data err = {&errcode, errtext, sizeof errtext};
    srv->ctx = mg_start2(&init, &err);
    if (!srv->ctx) {
        atomic_store(&srv->stopping, true);
        sb__http_guard_stop(srv->guard);
        sb__encoder_join(srv);
        server_free(srv);
        return SB_FAIL(SB_ENET, "cannot serve on %s: %s", listen,
                       errtext[0] ? errtext : "civetweb failed to start");
    }
    struct mg_server_port ports[1];
    memset(ports, 0, sizeof ports);
    if (mg_get_server_ports(srv->ctx, 1, ports) < 1) {
        sb_server_destroy(srv);
        return SB_FAIL(SB_ENET, "cannot read the bound port of %s", listen);
    }
    srv->port = ports[0].port;
    sb__http_guard_set_port(srv->guard, srv->port);
    mg_set_request_handler(srv->ctx, "**", http_dispatch, srv);
    sb__ws_install(srv);
    *out = srv;
    return SB_OK;
}

/* mg_stop() raises civetweb's stop flag and waits for its master thread, which sees the flag only
 * when its poll() on the listening sockets returns: at a connection, or after its fixed 2 s
 * quantum (SOCKET_TIMEOUT_QUANTUM). This thread connects to our own port until mg_stop() has
 * returned, so the master wakes at once; a connection accepted just before the flag went up
 * is closed without a request and ends as soon as a worker reads it. */
typedef struct stop_waker {
    pthread_t thread;
    atomic_bool done;
    struct sockaddr_storage addr;
    socklen_t addr_len;
} stop_waker;

static void *stop_waker_main(void *arg)
{
    stop_waker *w = arg;
    while (!atomic_load(&w->done)) {
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL); /* let mg_stop() raise the flag first */
        int fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        (void)connect(fd, (const struct sockaddr *)&w->addr, w->addr_len);
        close(fd);
    }
    return NULL;
}

/* Where to connect to reach our listening socket: the bound address, loopback for a wildcard. */
static bool stop_waker_address(const sb_server *srv, stop_waker *w)
{
    memset(&w->addr, 0, sizeof w->addr);
    if (strchr(srv->bind_address, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&w->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)srv->port);
        if (inet_pton(AF_INET6, srv->bind_address, &a->sin6_addr) != 1)
            return false;
        if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
            a->sin6_addr = in6addr_loopback;
        w->addr_len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&w->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)srv->port);
        if (inet_pton(AF_INET, srv->bind_address, &a->sin_addr) != 1)
            return false;
        if (a->sin_addr.s_addr == htonl(INADDR_ANY))
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        w->addr_len = sizeof *a;
    }
    return true;
}

static void stop_civetweb(sb_server *srv)
{
    stop_waker w;
    atomic_init(&w.done, false);
    bool waking = srv->port > 0 && stop_waker_address(srv, &w) &&
                  pthread_create(&w.thread, NULL, stop_waker_main, &w) == 0;
    mg_stop(srv->ctx);
    if (waking) {
        atomic_store(&w.done, true);
        pthread_join(w.thread, NULL);
    }
}

void sb_server_destroy(sb_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->stop_mu);
    atomic_store(&srv->stopping, true);
    pthread_cond_broadcast(&srv->stop_cv);
    pthread_mutex_unlock(&srv->stop_mu);
    pthread_mutex_lock(&srv->latest_mu);
    pthread_cond_broadcast(&srv->latest_cv);
    pthread_mutex_unlock(&srv->latest_mu);
    close_all_clients(srv);
    /* mg_stop closes every connection and waits for every worker; WebSocket close handlers
     * join the clients' sender threads (which have sent each client a 1001 close). */
    if (srv->ctx)
        stop_civetweb(srv);
    srv->ctx = NULL;
    sb__http_guard_stop(srv->guard); /* after civetweb: no callback uses it any more */
    srv->guard = NULL;
    sb__encoder_join(srv);
    server_free(srv);
}

int sb_server_get_port(const sb_server *srv, int *port)
{
    if (!port)
        return SB_FAIL(SB_EINVAL, "port is NULL");
    *port = 0;
    if (!srv)
        return SB_FAIL(SB_EINVAL, "server is NULL");
    *port = srv->port;
    return SB_OK;
}

/* ---- deprecated names (0.1), one release ---------------------------------------------------- */

int sb_server_start(sb_frame_ring *ring, sb_event_queue *queue, const sb_server_options *opts,
                    sb_server **out)
{
    return sb_server_create(ring, queue, opts, out);
}

void sb_server_stop(sb_server *srv)
{
    sb_server_destroy(srv);
}

int sb_server_port(const sb_server *srv)
{
    int port = 0;
    int rc = sb_server_get_port(srv, &port);
    return rc != SB_OK ? rc : port;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int sb_server_get_stats(sb_server *srv, sb_server_stats *s)
{
    if (!srv || !s)
        return SB_FAIL(SB_EINVAL, "%s is NULL", !srv ? "server" : "stats");
    memset(s, 0, sizeof *s);
    s->frames_published = atomic_load(&srv->frames_published);
    s->frames_encoded = atomic_load(&srv->frames_encoded);
    s->frames_encoded_still = atomic_load(&srv->frames_encoded_still);
    s->frames_coalesced = atomic_load(&srv->frames_coalesced);
    s->frames_sent = atomic_load(&srv->frames_sent);
    s->frames_skipped = atomic_load(&srv->frames_skipped);
    s->bytes_sent = atomic_load(&srv->bytes_sent);
    s->events_received = atomic_load(&srv->events_received);
    s->events_dropped = atomic_load(&srv->events_dropped);
    s->events_rate_limited = atomic_load(&srv->events_rate_limited);
    s->messages_rejected = atomic_load(&srv->messages_rejected);
    s->clients_refused = atomic_load(&srv->clients_refused);
    s->encode_errors = atomic_load(&srv->encode_errors);
    s->clients = (uint32_t)atomic_load(&srv->client_count);

    double samples[SB_ENCODE_SAMPLES];
    pthread_mutex_lock(&srv->stats_mu);
    unsigned n = srv->encode_samples;
    memcpy(samples, srv->encode_ms, n * sizeof samples[0]);
    s->encode_ms_mean = srv->encode_count ? srv->encode_ms_total / (double)srv->encode_count : 0.0;
    pthread_mutex_unlock(&srv->stats_mu);
    if (n) {
        qsort(samples, n, sizeof samples[0], cmp_double);
        s->encode_ms_p50 = samples[(n - 1) / 2];
        s->encode_ms_p99 = samples[(size_t)((n - 1) * 0.99)];
    }

    /* Recent delivery rate: frames sent since the previous call (at least 0.5 s ago), per
     * connected client; the first call averages since start. */
    uint64_t now = sb__monotonic_ns();
    pthread_mutex_lock(&srv->stats_mu);
    static const uint64_t window_ns = 500000000ull;
    if (srv->fps_mark_ns == 0) {
        srv->fps_mark_ns = srv->started_ns;
        srv->fps_mark_sent = 0;
    }
    if (now - srv->fps_mark_ns >= window_ns) {
        double secs = (double)(now - srv->fps_mark_ns) / 1e9;
        double clients = s->clients ? (double)s->clients : 1.0;
        srv->fps_value = (double)(s->frames_sent - srv->fps_mark_sent) / secs / clients;
        srv->fps_mark_ns = now;
        srv->fps_mark_sent = s->frames_sent;
    }
    s->delivered_fps = srv->fps_value;
    pthread_mutex_unlock(&srv->stats_mu);
    return SB_OK;
}
