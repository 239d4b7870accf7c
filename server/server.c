/* server.c - sb_server_create/destroy/get_port/get_stats, the civetweb context and the HTTP
 * endpoints (/, /video.mjpeg, /snapshot.jpg, /stats, /healthz). The WebSocket endpoint lives in
 * ws.c, the client registry in clients.c, the encoder in encoder.c, option validation in
 * options.c (server_internal.h: how they fit). */
#include "server_internal.h"

#include "conn_socket.h"
#include "http_guard.h"
#include "sb_error_internal.h"
#include "server_options.h"
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

void sb__http_reply_text(struct mg_connection *conn, int status, const char *text)
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

/* ---- endpoints ------------------------------------------------------------------------------- */

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
    sb_encoded_frame *f = sb__encoder_wait_latest(&srv->encoder, SB_SNAPSHOT_WAIT_MS);
    if (!f) {
        sb__http_reply_text(conn, 503, "no frame has been published yet\n");
        return;
    }
    char headers[128];
    snprintf(headers, sizeof headers, "X-Frame-Seq: %llu\r\n", (unsigned long long)f->seq);
    sb__http_reply(conn, 200, "image/jpeg", headers, f->data, f->len);
    SB_STATS_ADD(&srv->stats, bytes_sent, f->len);
    sb__frame_unref(f);
}

/* A registered MJPEG client for conn, or NULL after a 503 saying why not. */
static sb_client *admit_viewer(sb_server *srv, struct mg_connection *conn)
{
    sb_client *c = sb__client_new(&srv->clients, srv, SB_CLIENT_MJPEG, conn);
    if (!c) {
        sb__http_reply_text(conn, 503, "out of memory\n");
        return NULL;
    }
    if (!sb__client_register(&srv->clients, c)) {
        char text[64];
        snprintf(text, sizeof text, "%s\n", c->refused_why);
        sb__http_reply_text(conn, 503, text);
        sb__client_free(c);
        return NULL;
    }
    return c;
}

/* Chromium shows a part only once the NEXT part's header block has arrived (it finishes a part
 * when it parses the following part's headers), so each frame is followed at once by the
 * boundary and the next part's headers; a still scene's last frame then shows without waiting
 * for another frame. The next frame's length and seq are not known then: parts are delimited by
 * the boundary alone (no Content-Length, no X-Frame-Seq). */
static const char mjpeg_part_head[] = "--" SB_MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n\r\n";
static const char mjpeg_part_end[] =
    "\r\n--" SB_MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n\r\n";

/* Writes every new frame as one part until the client goes or the server stops. */
static void send_mjpeg_parts(sb_server *srv, sb_client *c)
{
    const size_t end_len = sizeof mjpeg_part_end - 1;
    sb_encoded_frame *f;
    while ((f = sb__client_next_frame(c))) {
        bool ok = mg_write(c->conn, f->data, f->len) == (int)f->len &&
                  mg_write(c->conn, mjpeg_part_end, end_len) == (int)end_len;
        if (ok) {
            size_t bytes = f->len + end_len;
            atomic_fetch_add(&c->sent, 1);
            atomic_fetch_add(&c->bytes, bytes);
            sb__stats_record_sent(&srv->stats, bytes);
            SB_CODEC_STATS_ADD(&srv->stats, SB_CODEC_JPEG, frames_sent, 1);
            SB_CODEC_STATS_ADD(&srv->stats, SB_CODEC_JPEG, bytes_sent, bytes);
        }
        sb__frame_unref(f);
        if (!ok)
            break;
    }
}

static void serve_mjpeg(sb_server *srv, struct mg_connection *conn)
{
    sb_client *c = admit_viewer(srv, conn);
    if (!c)
        return;
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\n"
              "Content-Type: multipart/x-mixed-replace; boundary=" SB_MJPEG_BOUNDARY "\r\n"
              "Cache-Control: no-store\r\n"
              "Pragma: no-cache\r\n"
              "X-Content-Type-Options: nosniff\r\n"
              "Connection: close\r\n\r\n"
              "%s", mjpeg_part_head);
    /* On a still scene nothing is written for a long time, and a write is how a sender notices
     * a hang-up: the guard watches the socket and closes c when the viewer goes, so its slot
     * (max_clients) frees at once. Without the socket, the next frame's write notices. */
    int fd = sb__conn_socket(conn);
    if (fd >= 0)
        sb__http_guard_watch_mjpeg(srv->guard, c, fd);
    send_mjpeg_parts(srv, c);
    if (fd >= 0)
        sb__http_guard_unwatch_mjpeg(srv->guard, c);
    sb__client_unregister(&srv->clients, c);
    sb__client_free(c);
}

static void serve_healthz(sb_server *srv, struct mg_connection *conn)
{
    /* A truncated or overwritten shm segment ends the stream as surely as a dead producer. */
    if (sb_frame_ring_check(srv->ring) != SB_OK) {
        char text[640];
        snprintf(text, sizeof text, "stream broken: %s\n", sb_last_error());
        sb__http_reply_text(conn, 503, text);
        return;
    }
    sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(srv->ring, &rs);
    if (rs.writer_alive)
        sb__http_reply_text(conn, 200, "ok\n");
    else
        sb__http_reply_text(conn, 503, "producer gone\n");
}

/* The stream's health, as /healthz sees it, for a JSON string: quotes, backslashes and control
 * characters are replaced (the reason names a stream and numbers only). "" = healthy. */
static void stream_fault(sb_server *srv, char *fault, size_t size)
{
    fault[0] = '\0';
    if (sb_frame_ring_check(srv->ring) == SB_OK)
        return;
    snprintf(fault, size, "%s", sb_last_error());
    for (char *p = fault; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = *p == '"' ? '\'' : ' ';
}

static void client_json(const sb_client *c, void *arg)
{
    strbuf *b = arg;
    /* remote is "addr:port" from civetweb: digits, dots, colons only, safe in JSON. */
    sb_printf(b, "%s{\"id\":%u,\"kind\":\"%s\",\"remote\":\"%s\",\"codec\":\"%s\","
                 "\"sent\":%llu,\"skipped\":%llu,\"bytes\":%llu}",
              b->data[b->len - 1] == '[' ? "" : ",", c->id,
              c->kind == SB_CLIENT_WS ? "ws" : "mjpeg", c->remote,
              sb__codec_name(atomic_load(&c->codec_now)),
              (unsigned long long)atomic_load(&c->sent),
              (unsigned long long)atomic_load(&c->skipped),
              (unsigned long long)atomic_load(&c->bytes));
}

/* /stats "latency_ms" (each part's percentiles) and "recent_frames" (the newest walks). */
static void latency_json(const sb_server *srv, strbuf *b)
{
    sb_latency_report *r = malloc(sizeof *r);
    if (!r) {
        b->failed = true;
        return;
    }
    sb__stats_latency(&srv->stats, r);
    sb_printf(b, "\"latency_ms\":{");
    for (int p = 0; p < SB_LATENCY_PARTS; p++) {
        const sb_sample_summary *q = &r->parts[p];
        sb_printf(b, "%s\"%s\":{\"n\":%u,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
                  p ? "," : "", sb__latency_part_name((sb_latency_part)p), q->n, q->p50, q->p90,
                  q->p99, q->max);
    }
    sb_printf(b, "},\"recent_frames\":[");
    for (unsigned i = 0; i < r->walk_count; i++) {
        const sb_frame_walk *w = &r->walks[i];
        sb_printf(b, "%s{\"seq\":%llu,\"input_ns\":%llu,\"replay_ns\":%llu,"
                     "\"render_start_ns\":%llu,\"render_end_ns\":%llu,\"capture_ns\":%llu,"
                     "\"encode_start_ns\":%llu,\"encode_end_ns\":%llu,\"send_ns\":%llu}",
                  i ? "," : "", (unsigned long long)w->seq, (unsigned long long)w->input_ns,
                  (unsigned long long)w->replay_ns, (unsigned long long)w->render_start_ns,
                  (unsigned long long)w->render_end_ns, (unsigned long long)w->capture_ns,
                  (unsigned long long)w->encode_start_ns, (unsigned long long)w->encode_end_ns,
                  (unsigned long long)w->send_ns);
    }
    sb_printf(b, "],");
    free(r);
}

/* "codecs":{"jpeg":{...},"h264":{...},"vp8":{...}} (docs/wire-protocol.md, /stats). */
static void codecs_json(sb_server *srv, strbuf *b)
{
    unsigned users[SB_CODEC_COUNT] = {0};
    int video_users = 0;
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++)
        video_users += users[id] = (unsigned)sb__encoder_video_users(&srv->encoder, id);
    int jpeg_users = sb__clients_count(&srv->clients) - video_users;
    users[SB_CODEC_JPEG] = jpeg_users > 0 ? (unsigned)jpeg_users : 0u; /* MJPEG included */
    sb_printf(b, "\"codecs\":{");
    for (int id = 0; id < SB_CODEC_COUNT; id++) {
        sb_codec_snapshot cs;
        sb__stats_codec(&srv->stats, id, &cs);
        sb_printf(b, "%s\"%s\":{\"available\":%s,\"allowed\":%s,\"clients\":%u,", id ? "," : "",
                  sb__codec_name(id),
                  sb__encoder_codec_available(&srv->encoder, id) ? "true" : "false",
                  srv->allowed_codecs & SB_CODEC_BIT(id) ? "true" : "false", users[id]);
#define SB_CODEC_JSON_(name, text) \
        sb_printf(b, "\"" #name "\":%llu,", (unsigned long long)cs.name);
        SB_CODEC_COUNTER_MAP(SB_CODEC_JSON_)
#undef SB_CODEC_JSON_
        sb_printf(b, "\"encode_ms_mean\":%.3f,\"encode_ms_p50\":%.3f,\"encode_ms_p99\":%.3f}",
                  cs.encode_ms_mean, cs.encode_ms_p50, cs.encode_ms_p99);
    }
    sb_printf(b, "}");
}

static void serve_stats(sb_server *srv, struct mg_connection *conn)
{
    sb_server_stats s = {.version = SB_SERVER_STATS_VERSION};
    sb_server_get_stats(srv, &s);
    sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(srv->ring, &rs);
    char fault[600];
    stream_fault(srv, fault, sizeof fault);
    strbuf b = {0};
    sb_printf(&b, "{");
#define SB_STATS_JSON_(name, text) \
    sb_printf(&b, "\"" #name "\":%llu,", (unsigned long long)s.name);
    SB_SERVER_COUNTER_MAP(SB_STATS_JSON_)
#undef SB_STATS_JSON_
    sb_printf(&b,
              "\"clients\":%u,\"encode_ms_mean\":%.3f,\"encode_ms_p50\":%.3f,"
              "\"encode_ms_p99\":%.3f,\"delivered_fps\":%.2f,\"producer_alive\":%s,"
              "\"slow_connections_closed\":%llu,\"stream_ok\":%s,\"stream_error\":\"%s\","
              "\"stream_corrupt_reads\":%llu,",
              s.clients, s.encode_ms_mean, s.encode_ms_p50, s.encode_ms_p99, s.delivered_fps,
              rs.writer_alive ? "true" : "false", sb__http_guard_slow_closed(srv->guard),
              fault[0] ? "false" : "true", fault, (unsigned long long)rs.corrupt_reads);
    latency_json(srv, &b);
    sb_printf(&b, "\"client_list\":[");
    if (!b.failed)
        sb__clients_foreach(&srv->clients, client_json, &b);
    sb_printf(&b, "],");
    codecs_json(srv, &b);
    sb_printf(&b, "}\n");
    if (b.failed)
        sb__http_reply_text(conn, 500, "out of memory\n");
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
    if (!sb__access_allowed(srv, conn, false))
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
        sb__http_reply_text(conn, 426, "WebSocket upgrade required\n");
    else {
        for (size_t i = 0; i < sb__web_asset_count; i++) {
            if (strcmp(path, sb__web_assets[i].path) == 0 ||
                (strcmp(path, "/index.html") == 0 && strcmp(sb__web_assets[i].path, "/") == 0)) {
                serve_asset(srv, conn, &sb__web_assets[i]);
                return 200;
            }
        }
        sb__http_reply_text(conn, 404, "not found\n");
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
        sb__http_reply_text(conn, 400, "400 bad request: more than one Host header\n");
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

/* Copies the (valid, complete) options and makes srv->opts point at the copies. */
static int copy_options(sb_server *srv, const sb_server_options *o)
{
    srv->opts = *o;
    srv->bind_address = strdup(o->bind_address ? o->bind_address : SB_SERVER_DEFAULT_BIND_ADDRESS);
    srv->access_token = o->access_token && *o->access_token ? strdup(o->access_token) : NULL;
    srv->allowed_origins =
        o->allowed_origins && *o->allowed_origins ? strdup(o->allowed_origins) : NULL;
    srv->video_codecs = o->video_codecs && *o->video_codecs ? strdup(o->video_codecs) : NULL;
    srv->default_codec_name = strdup(sb__codec_name(sb__server_default_codec(o)));
    if (!srv->bind_address || (o->access_token && *o->access_token && !srv->access_token) ||
        (o->allowed_origins && *o->allowed_origins && !srv->allowed_origins) ||
        (o->video_codecs && *o->video_codecs && !srv->video_codecs) || !srv->default_codec_name)
        return SB_FAIL(SB_ENOMEM, "cannot copy the options");
    srv->allowed_codecs = sb__server_allowed_codecs(o);
    srv->default_codec = sb__server_default_codec(o);
    srv->opts.video_codecs = srv->video_codecs;
    srv->opts.default_codec = srv->default_codec_name;
    srv->token_len = srv->access_token ? strlen(srv->access_token) : 0;
    srv->opts.bind_address = srv->bind_address;
    srv->opts.access_token = srv->access_token;
    srv->opts.allowed_origins = srv->allowed_origins;
    if (srv->opts.num_threads == 0)
        srv->opts.num_threads = srv->opts.max_clients + 8;
    return SB_OK;
}

/* The server's own state: options, counters, the (empty) client registry. */
static int server_new(sb_frame_ring *ring, sb_event_queue *queue, const sb_server_options *o,
                      sb_server **out)
{
    sb_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the server");
    srv->ring = ring;
    srv->queue = queue;
    atomic_init(&srv->stopping, false);
    sb__stats_init(&srv->stats);
    sb__clients_init(&srv->clients, o->max_clients, o->max_clients_per_address, &srv->encoder,
                     &srv->stats, &srv->stopping);
    *out = srv;
    return copy_options(srv, o);
}

/* Frees what server_new made; every thread is stopped (or never started). */
static void server_free(sb_server *srv)
{
    sb__clients_destroy(&srv->clients);
    sb__stats_destroy(&srv->stats);
    free(srv->bind_address);
    free(srv->access_token);
    free(srv->allowed_origins);
    free(srv->video_codecs);
    free(srv->default_codec_name);
    free(srv);
}

static int start_encoder(sb_server *srv)
{
    sb_encoder_config cfg = {
        .ring = srv->ring,
        .stats = &srv->stats,
        .jpeg_quality_interactive = srv->opts.jpeg_quality_interactive,
        .jpeg_quality_still = srv->opts.jpeg_quality_still,
        .still_delay_ms = srv->opts.still_delay_ms,
        .max_fps = srv->opts.max_fps,
        .video_crf = srv->opts.video_crf,
        .video_max_kbps = srv->opts.video_max_kbps,
        .keyframe_min_interval_ms = srv->opts.keyframe_min_interval_ms,
        .keyframe_interval_ms = srv->opts.keyframe_interval_ms,
        .on_new_frame = sb__clients_on_new_frame,
        .user_data = &srv->clients,
    };
    return sb__encoder_start(&srv->encoder, &cfg);
}

/* Starts civetweb on the configured address with our callbacks. */
static int start_civetweb(sb_server *srv)
{
    pthread_once(&civetweb_once, civetweb_init);
    char listen[80], threads[16], send_timeout[16];
    if (strchr(srv->bind_address, ':'))
        snprintf(listen, sizeof listen, "[%s]:%d", srv->bind_address, srv->opts.port);
    else
        snprintf(listen, sizeof listen, "%s:%d", srv->bind_address, srv->opts.port);
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
    if (!srv->ctx)
        return SB_FAIL(SB_ENET, "cannot serve on %s: %s", listen,
                       errtext[0] ? errtext : "civetweb failed to start");
    return SB_OK;
}

/* The bound port (the system's choice for port 0), then the handlers. */
static int open_endpoints(sb_server *srv)
{
    struct mg_server_port ports[1];
    memset(ports, 0, sizeof ports);
    if (mg_get_server_ports(srv->ctx, 1, ports) < 1)
        return SB_FAIL(SB_ENET, "cannot read the bound port of %s:%d", srv->bind_address,
                       srv->opts.port);
    srv->port = ports[0].port;
    sb__http_guard_set_port(srv->guard, srv->port);
    mg_set_request_handler(srv->ctx, "**", http_dispatch, srv);
    sb__ws_install(srv);
    return SB_OK;
}

/* Each step of sb_server_create; a failed step leaves what the earlier ones made for
 * sb_server_destroy (which copes with any prefix of them). */
static int server_start(sb_server *srv)
{
    int rc = start_encoder(srv);
    if (rc != SB_OK)
        return rc;
    srv->guard = sb__http_guard_start();
    if (!srv->guard)
        return SB_EIO;
    rc = start_civetweb(srv);
    if (rc != SB_OK)
        return rc;
    return open_endpoints(srv);
}

int sb_server_create(sb_frame_ring *ring, sb_event_queue *queue, const sb_server_options *opts,
                     sb_server **out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    if (!ring)
        return SB_FAIL(SB_EINVAL, "ring is NULL");
    sb_server_options full;
    int rc = sb__server_options_complete(opts, "sb_server_create", &full);
    if (rc != SB_OK)
        return rc;
    sb_server *srv = NULL;
    rc = server_new(ring, queue, &full, &srv);
    if (rc == SB_OK)
        rc = server_start(srv);
    if (rc != SB_OK) {
        /* Keeps the failed step's error text: destroy sets none. */
        sb_server_destroy(srv);
        return rc;
    }
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
    pthread_setname_np(pthread_self(), "sb-stop-waker");
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

#define SB_STOP_CLOSE_WAIT_MS 1000

void sb_server_destroy(sb_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    /* Ends the encoder's sleeps and the snapshot waits at once; the encoder thread is joined
     * last, when no client holds a frame any more. */
    sb__encoder_request_stop(&srv->encoder);
    /* Each WebSocket sender says 1001 before civetweb refuses writes (mg_stop). */
    sb__clients_close_all(&srv->clients, SB_STOP_CLOSE_WAIT_MS);
    /* mg_stop closes every connection and waits for every worker; WebSocket close handlers
     * join the clients' sender threads (which have sent each client a 1001 close). */
    if (srv->ctx)
        stop_civetweb(srv);
    srv->ctx = NULL;
    sb__http_guard_stop(srv->guard); /* after civetweb: no callback uses it any more */
    srv->guard = NULL;
    sb__encoder_stop(&srv->encoder);
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

/* Bytes of sb_server_stats each version has (0: unknown). */
static size_t stats_size(unsigned int version)
{
    switch (version) {
    case 1: return sizeof(sb_server_stats);
    default: return 0;
    }
}

int sb_server_get_stats(const sb_server *srv, sb_server_stats *stats)
{
    if (!srv || !stats)
        return SB_FAIL(SB_EINVAL, "%s is NULL", !srv ? "server" : "stats");
    unsigned int version = stats->version;
    size_t size = stats_size(version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "stats version %u is not 1..%d (use SB_SERVER_STATS_INIT)",
                       version, SB_SERVER_STATS_VERSION);
    sb_server_stats full;
    sb__stats_fill(&srv->stats, (uint32_t)sb__clients_count(&srv->clients), &full);
    memcpy(stats, &full, size);
    stats->version = version;
    return SB_OK;
}
