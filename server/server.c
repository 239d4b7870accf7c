/* server.c - sb_server_create/destroy/get_port/get_stats, the civetweb context and the HTTP
 * endpoints (/, /video.mjpeg, /snapshot.jpg, /stats, /healthz, /thumbnail.jpg, /streams; /access
 * is auth.c's), each
 * endpoints (/, /video.mjpeg, /snapshot.jpg, /stats, /healthz, /thumbnail.jpg, /streams,
 * /webrtc.json), each
 * at the top level for the default stream and under /v/NAME/ for every stream. The WebSocket
 * endpoint lives in ws.c, the streams in streams.c, the client registry in clients.c, the
 * encoder in encoder.c, option validation in options.c (server_internal.h: how they fit). */
#include "server_internal.h"

#include "conn_socket.h"
#include "http_guard.h"
#include "server_attach.h"
#include "rtp.h"
#include "sb_error_internal.h"
#include "server_options.h"
#include "web_assets.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
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

static void serve_asset(sb_server *srv, struct mg_connection *conn, const sb_web_asset *a,
                        sb_access level)
{
    char headers[1024];
    headers[0] = '\0';
    if (strncmp(a->content_type, "text/html", 9) == 0 && sb__auth_token_in_query(srv, conn)) {
        /* Lets the page's own <img src="/video.mjpeg"> and fetches authenticate without the
         * token in every URL. Strict same-site: a foreign page cannot make us send it. The
         * cookie is the token that was granted, never a stronger one: a view-only viewer's
         * cookie holds the view token. */
        snprintf(headers, sizeof headers,
                 "Set-Cookie: sb_token=%s; Path=/; HttpOnly; SameSite=Strict\r\n",
                 level == SB_ACCESS_VIEW ? srv->view_token : srv->access_token);
    }
    sb__http_reply(conn, 200, a->content_type, headers, a->data, a->size);
}

static void serve_snapshot(sb_server_stream *st, struct mg_connection *conn)
{
    sb_encoded_frame *f = sb__encoder_wait_latest(&st->encoder, SB_SNAPSHOT_WAIT_MS);
    if (!f) {
        sb__http_reply_text(conn, 503, "no frame has been published yet\n");
        return;
    }
    char headers[128];
    snprintf(headers, sizeof headers, "X-Frame-Seq: %llu\r\n", (unsigned long long)f->seq);
    sb__http_reply(conn, 200, "image/jpeg", headers, f->data, f->len);
    SB_STATS_ADD(&st->stats, bytes_sent, f->len);
    sb__frame_unref(f);
}

/* The picker's small picture of a stream (rate-limited re-encode: streams.c). */
static void serve_thumbnail(sb_server_stream *st, struct mg_connection *conn)
{
    unsigned long len = 0;
    uint64_t seq = 0;
    int status = 0;
    unsigned char *jpeg = sb__stream_thumbnail(st, &len, &seq, &status);
    if (!jpeg) {
        sb__http_reply_text(conn, status, status == 503 ? "no frame has been published yet\n"
                                                        : "cannot make the thumbnail\n");
        return;
    }
    char headers[128];
    snprintf(headers, sizeof headers, "X-Frame-Seq: %llu\r\n", (unsigned long long)seq);
    sb__http_reply(conn, 200, "image/jpeg", headers, jpeg, len);
    SB_STATS_ADD(&st->stats, bytes_sent, len);
    free(jpeg);
}

/* A registered MJPEG client for conn, or NULL after a 503 saying why not. */
static sb_client *admit_viewer(sb_server_stream *st, struct mg_connection *conn)
{
    sb_client *c = sb__client_new(&st->clients, st->srv, st, SB_CLIENT_MJPEG, conn);
    if (!c) {
        sb__http_reply_text(conn, 503, "out of memory\n");
        return NULL;
    }
    if (!sb__client_register(&st->clients, c)) {
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
static void send_mjpeg_parts(sb_server_stream *st, sb_client *c)
{
    const size_t end_len = sizeof mjpeg_part_end - 1;
    sb_encoded_frame *f;
    while ((f = sb__client_next_frame(c))) {
        bool ok;
        if (c->fd >= 0) {
            /* The frame and the next part's head in one sendmsg (conn_socket.h). */
            struct iovec iov[2] = {{(void *)f->data, f->len}, {(void *)mjpeg_part_end, end_len}};
            ok = sb__sock_write_all(c->fd, iov, 2, st->srv->opts.send_timeout_ms, &st->stopping);
        } else {
            ok = mg_write(c->conn, f->data, f->len) == (int)f->len &&
                 mg_write(c->conn, mjpeg_part_end, end_len) == (int)end_len;
        }
        if (ok) {
            size_t bytes = f->len + end_len;
            atomic_fetch_add(&c->sent, 1);
            atomic_fetch_add(&c->bytes, bytes);
            sb__stats_record_sent(&st->stats, bytes);
            SB_CODEC_STATS_ADD(&st->stats, SB_CODEC_JPEG, frames_sent, 1);
            SB_CODEC_STATS_ADD(&st->stats, SB_CODEC_JPEG, bytes_sent, bytes);
        }
        sb__frame_unref(f);
        if (!ok)
            break;
    }
}

static void serve_mjpeg(sb_server_stream *st, struct mg_connection *conn)
{
    sb_server *srv = st->srv;
    sb_client *c = admit_viewer(st, conn);
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
    c->fd = fd;
    if (fd >= 0)
        sb__http_guard_watch_mjpeg(srv->guard, c, fd);
    send_mjpeg_parts(st, c);
    if (fd >= 0)
        sb__http_guard_unwatch_mjpeg(srv->guard, c);
    sb__client_unregister(&st->clients, c);
    sb__client_free(c);
}

static void serve_healthz(sb_server_stream *st, struct mg_connection *conn)
{
    /* A truncated or overwritten shm segment ends the stream as surely as a dead producer. */
    if (sb_frame_ring_check(st->ring) != SB_OK) {
        char text[640];
        snprintf(text, sizeof text, "stream broken: %s\n", sb_last_error());
        sb__http_reply_text(conn, 503, text);
        return;
    }
    sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(st->ring, &rs);
    if (rs.writer_alive)
        sb__http_reply_text(conn, 200, "ok\n");
    else
        sb__http_reply_text(conn, 503, "producer gone\n");
}

/* The stream's health, as /healthz sees it, for a JSON string: quotes, backslashes and control
 * characters are replaced (the reason names a stream and numbers only). "" = healthy. */
static void stream_fault(sb_server_stream *st, char *fault, size_t size)
{
    fault[0] = '\0';
    if (sb_frame_ring_check(st->ring) == SB_OK)
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
static void latency_json(const sb_server_stream *st, strbuf *b)
{
    sb_latency_report *r = malloc(sizeof *r);
    if (!r) {
        b->failed = true;
        return;
    }
    sb__stats_latency(&st->stats, r);
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
static void codecs_json(sb_server_stream *st, strbuf *b)
{
    const sb_server *srv = st->srv;
    unsigned users[SB_CODEC_COUNT] = {0};
    int video_users = 0;
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++) {
        int n = sb__encoder_video_users(&st->encoder, id);
        if (st->rtp && sb__rtp_sender_codec(st->rtp) == id && n > 0)
            n--; /* the RTP sender is a user of its codec, not a client ("rtp" says it) */
        video_users += n;
        users[id] = (unsigned)n;
    }
    int jpeg_users = sb__clients_count(&st->clients) - video_users;
    users[SB_CODEC_JPEG] = jpeg_users > 0 ? (unsigned)jpeg_users : 0u; /* MJPEG included */
    sb_printf(b, "\"codecs\":{");
    for (int id = 0; id < SB_CODEC_COUNT; id++) {
        sb_codec_snapshot cs;
        sb__stats_codec(&st->stats, id, &cs);
        sb_printf(b, "%s\"%s\":{\"available\":%s,\"allowed\":%s,\"clients\":%u,", id ? "," : "",
                  sb__codec_name(id),
                  sb__encoder_codec_available(&st->encoder, id) ? "true" : "false",
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

/* "rtp":{...} (docs/webrtc.md, /stats): null for a stream without an RTP sender. */
static void rtp_json(sb_server_stream *st, strbuf *b)
{
    if (!st->rtp) {
        sb_printf(b, ",\"rtp\":null");
        return;
    }
    const sb_server *srv = st->srv;
    sb_rtp_snapshot r;
    sb__rtp_sender_snapshot(st->rtp, &r);
    sb_printf(b, ",\"rtp\":{\"codec\":\"%s\",\"host\":\"%s\",\"port\":%d,\"rtcp_port\":%d",
              sb__codec_name(sb__rtp_sender_codec(st->rtp)), srv->rtp_host, srv->opts.rtp_port,
              srv->opts.rtp_rtcp_port);
#define SB_RTP_JSON_(name, text) sb_printf(b, ",\"" #name "\":%llu", (unsigned long long)r.name);
    SB_RTP_COUNTER_MAP(SB_RTP_JSON_)
#undef SB_RTP_JSON_
    sb_printf(b, "}");
}

/* /webrtc.json: where the page's WebRTC mode watches (docs/webrtc.md). The mountpoint carries
 * the default stream: 404 for another stream, or without rtp_janus_url. The URL was checked to
 * need no JSON escaping (options.c). */
static void serve_webrtc_config(sb_server *srv, sb_server_stream *st, struct mg_connection *conn)
{
    const char *why = !srv->rtp_janus_url ? "WebRTC is not set up on this server (rtp_janus_url)"
                      : strcmp(st->name, SB_SERVER_DEFAULT_STREAM_NAME) != 0
                          ? "WebRTC carries the default stream only"
                          : NULL;
    char body[700];
    int n;
    if (why)
        n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", why);
    else
        n = snprintf(body, sizeof body,
                     "{\"janus_url\":\"%s\",\"mountpoint\":%d,\"codec\":\"%s\",\"rtp\":%s}\n",
                     srv->rtp_janus_url, srv->opts.rtp_mountpoint_id,
                     st->rtp ? sb__codec_name(sb__rtp_sender_codec(st->rtp)) : srv->rtp_codec,
                     st->rtp ? "true" : "false");
    sb__http_reply(conn, why ? 404 : 200, "application/json", NULL, body, (size_t)n);
}

/* One stream's counters as sb_server_stats (clients: that stream's). */
static void stream_stats(sb_server_stream *st, sb_server_stats *out)
{
    memset(out, 0, sizeof *out);
    sb__stats_fill(&st->stats, (uint32_t)sb__clients_count(&st->clients), out);
}

/* /stats "streams": one short entry per stream (each one's whole report: /v/NAME/stats).
 * Under streams_mu (lock order 0). */
static void streams_stats_json(sb_server *srv, strbuf *b)
{
    sb_printf(b, "\"streams\":[");
    pthread_mutex_lock(&srv->streams_mu);
    for (sb_server_stream *st = srv->streams; st; st = st->next) {
        sb_server_stats s;
        stream_stats(st, &s);
        uint32_t w = 0, h = 0;
        sb__encoder_frame_size(&st->encoder, &w, &h);
        sb_printf(b, "%s{\"name\":\"%s\",\"width\":%u,\"height\":%u,", st == srv->streams ? "" : ",",
                  st->name, w, h);
#define SB_STATS_JSON_(name, text) \
        sb_printf(b, "\"" #name "\":%llu,", (unsigned long long)s.name);
        SB_SERVER_COUNTER_MAP(SB_STATS_JSON_)
#undef SB_STATS_JSON_
        sb_printf(b, "\"clients\":%u,\"delivered_fps\":%.2f}", s.clients, s.delivered_fps);
    }
    pthread_mutex_unlock(&srv->streams_mu);
    sb_printf(b, "]");
}

/* /stats (top level: the default stream, plus "streams") and /v/NAME/stats (that stream; its
 * "name" says which). With no default stream the top level has only the server-wide fields
 * and "streams". */
static void serve_stats(sb_server *srv, sb_server_stream *st, bool named,
                        struct mg_connection *conn)
{
    strbuf b = {0};
    sb_printf(&b, "{");
    if (st) {
        sb_server_stats s;
        stream_stats(st, &s);
        sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
        sb_frame_ring_get_stats(st->ring, &rs);
        char fault[600];
        stream_fault(st, fault, sizeof fault);
#define SB_STATS_JSON_(name, text) \
        sb_printf(&b, "\"" #name "\":%llu,", (unsigned long long)s.name);
        SB_SERVER_COUNTER_MAP(SB_STATS_JSON_)
#undef SB_STATS_JSON_
        sb_printf(&b,
                  "\"clients\":%u,\"encode_ms_mean\":%.3f,\"encode_ms_p50\":%.3f,"
                  "\"encode_ms_p99\":%.3f,\"delivered_fps\":%.2f,\"producer_alive\":%s,"
                  "\"slow_connections_closed\":%llu,\"stream_ok\":%s,\"stream_error\":\"%s\","
                  "\"stream_corrupt_reads\":%llu,\"events_refused_view_only\":%llu,",
                  s.clients, s.encode_ms_mean, s.encode_ms_p50, s.encode_ms_p99, s.delivered_fps,
                  rs.writer_alive ? "true" : "false", sb__http_guard_slow_closed(srv->guard),
                  fault[0] ? "false" : "true", fault, (unsigned long long)rs.corrupt_reads,
                  (unsigned long long)atomic_load(&st->stats.events_refused_view_only));
        latency_json(st, &b);
        sb_printf(&b, "\"client_list\":[");
        if (!b.failed)
            sb__clients_foreach(&st->clients, client_json, &b);
        sb_printf(&b, "],");
        codecs_json(st, &b);
        rtp_json(st, &b);
        sb_printf(&b, ",\"name\":\"%s\"", st->name);
    } else {
        sb_printf(&b, "\"clients\":%d,\"slow_connections_closed\":%llu,\"name\":null",
                  sb__admission_count(&srv->admission), sb__http_guard_slow_closed(srv->guard));
    }
    if (!named) {
        sb_printf(&b, ",\"clients_all_streams\":%d,", sb__admission_count(&srv->admission));
        streams_stats_json(srv, &b);
    }
    sb_printf(&b, "}\n");
    if (b.failed)
        sb__http_reply_text(conn, 500, "out of memory\n");
    else
        sb__http_reply(conn, 200, "application/json", NULL, b.data, b.len);
    free(b.data);
}

static void serve_streams(sb_server *srv, struct mg_connection *conn)
{
    size_t len = 0;
    char *json = sb__streams_json(srv, &len);
    if (!json) {
        sb__http_reply_text(conn, 500, "out of memory\n");
        return;
    }
    sb__http_reply(conn, 200, "application/json", NULL, json, len);
    free(json);
}

static const sb_web_asset *find_asset(const char *path)
{
    for (size_t i = 0; i < sb__web_asset_count; i++)
        if (strcmp(path, sb__web_assets[i].path) == 0)
            return &sb__web_assets[i];
    return NULL;
}

/* "/v/NAME" without its slash: the page's relative URLs (ws, client.js) need the slash. */
static void redirect_to_slash(struct mg_connection *conn, const char *path)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *query = ri->query_string;
    char headers[SB_SERVER_STREAM_NAME_MAX + 1400];
    /* path is "/v/NAME" with a checked NAME; the query is echoed only when it is short and
     * has no byte that could end the header line. */
    bool query_ok = query && strlen(query) < 1024 && !strpbrk(query, "\r\n");
    snprintf(headers, sizeof headers, "Location: %s/%s%s\r\n", path, query_ok ? "?" : "",
             query_ok ? query : "");
    sb__http_reply(conn, 301, "text/plain; charset=utf-8", headers, "moved\n", 6);
}

/* The endpoints of one stream (st; NULL = the top level of a server with no default stream),
 * at path rest ("/", "/ws", ...). named: under /v/NAME/. Returns the status. */
static int serve_stream_path(sb_server *srv, sb_server_stream *st, bool named, const char *rest,
                             sb_access level, struct mg_connection *conn)
{
    if (!named && strcmp(rest, "/streams") == 0) {
        serve_streams(srv, conn);
        return 200;
    }
    if (strcmp(rest, "/stats") == 0) {
        serve_stats(srv, st, named, conn);
        return 200;
    }
    if (!named && strcmp(rest, "/") == 0) {
        /* A server with one stream, the default, is what it always was: its viewer at "/".
         * Any other set of streams gets the picker there (the viewers: /v/NAME/). */
        bool viewer = st && sb__streams_count(srv) == 1;
        serve_asset(srv, conn, find_asset(viewer ? "/" : "/picker.html"), level);
        return 200;
    }
    if (!named && !st && strcmp(rest, "/healthz") == 0) {
        sb__http_reply_text(conn, 200, "ok (no default stream: see /streams)\n");
        return 200;
    }
    bool needs_stream = strcmp(rest, "/video.mjpeg") == 0 || strcmp(rest, "/snapshot.jpg") == 0 ||
                        strcmp(rest, "/thumbnail.jpg") == 0 || strcmp(rest, "/healthz") == 0 ||
                        strcmp(rest, "/ws") == 0 || strcmp(rest, "/") == 0 ||
                        strcmp(rest, "/index.html") == 0 || strcmp(rest, "/webrtc.json") == 0;
    if (needs_stream && !st) {
        sb__http_reply_text(conn, 404, "no default stream on this server: see /streams\n");
        return 404;
    }
    if (strcmp(rest, "/video.mjpeg") == 0)
        serve_mjpeg(st, conn);
    else if (strcmp(rest, "/snapshot.jpg") == 0)
        serve_snapshot(st, conn);
    else if (strcmp(rest, "/thumbnail.jpg") == 0)
        serve_thumbnail(st, conn);
    else if (strcmp(rest, "/healthz") == 0)
        serve_healthz(st, conn);
    else if (strcmp(rest, "/webrtc.json") == 0)
        serve_webrtc_config(srv, st, conn);
    else if (strcmp(rest, "/ws") == 0)
        sb__http_reply_text(conn, 426, "WebSocket upgrade required\n");
    else {
        const sb_web_asset *a = find_asset(strcmp(rest, "/index.html") == 0 ? "/" : rest);
        if (!a) {
            sb__http_reply_text(conn, 404, "not found\n");
            return 404;
        }
        serve_asset(srv, conn, a, level);
    }
    return 200;
}

/* /access and /v/ANY/access: the access answer is the server's (tokens, Host and Origin rules
 * are not per stream), so it never tells whether a stream of that name exists. */
static bool is_access_path(const char *path)
{
    size_t n = strlen(path);
    return strcmp(path, "/access") == 0 ||
           (n > 10 && memcmp(path, "/v/", 3) == 0 && strcmp(path + n - 7, "/access") == 0);
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
    if (is_access_path(path)) {
        sb__serve_access(srv, conn); /* answers refusals itself, as JSON */
        return 200;
    }
    sb_access level = sb__access_check(srv, conn, false, NULL);
    if (level == SB_ACCESS_DENIED)
        return 403;
    sb_server_stream *st = NULL;
    const char *rest = path;
    bool named = false;
    if (!sb__stream_resolve(srv, path, &st, &rest, &named)) {
        sb__http_reply_text(conn, 404, "not found: not a stream name\n");
        return 404;
    }
    int status;
    if (named && !st) {
        sb__http_reply_text(conn, 404, "no such stream (the list: /streams)\n");
        status = 404;
    } else if (named && rest[0] == '\0') {
        redirect_to_slash(conn, path);
        status = 301;
    } else {
        status = serve_stream_path(srv, st, named, rest, level, conn);
    }
    sb__stream_unref(st);
    return status;
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
    srv->view_token = o->view_token && *o->view_token ? strdup(o->view_token) : NULL;
    srv->allowed_origins =
        o->allowed_origins && *o->allowed_origins ? strdup(o->allowed_origins) : NULL;
    srv->video_codecs = o->video_codecs && *o->video_codecs ? strdup(o->video_codecs) : NULL;
    srv->default_codec_name = strdup(sb__codec_name(sb__server_default_codec(o)));
    srv->rtp_host = o->rtp_host && *o->rtp_host ? strdup(o->rtp_host) : NULL;
    srv->rtp_codec = strdup(o->rtp_codec && *o->rtp_codec ? o->rtp_codec : SB_SERVER_DEFAULT_RTP_CODEC);
    srv->rtp_janus_url = o->rtp_janus_url && *o->rtp_janus_url ? strdup(o->rtp_janus_url) : NULL;
    if (!srv->bind_address || (o->access_token && *o->access_token && !srv->access_token) ||
        (o->view_token && *o->view_token && !srv->view_token) ||
        (o->allowed_origins && *o->allowed_origins && !srv->allowed_origins) ||
        (o->video_codecs && *o->video_codecs && !srv->video_codecs) || !srv->default_codec_name ||
        (o->rtp_host && *o->rtp_host && !srv->rtp_host) || !srv->rtp_codec ||
        (o->rtp_janus_url && *o->rtp_janus_url && !srv->rtp_janus_url))
        return SB_FAIL(SB_ENOMEM, "cannot copy the options");
    srv->allowed_codecs = sb__server_allowed_codecs(o);
    srv->default_codec = sb__server_default_codec(o);
    srv->opts.video_codecs = srv->video_codecs;
    srv->opts.default_codec = srv->default_codec_name;
    srv->token_len = srv->access_token ? strlen(srv->access_token) : 0;
    srv->view_token_len = srv->view_token ? strlen(srv->view_token) : 0;
    srv->opts.view_token = srv->view_token;
    srv->opts.bind_address = srv->bind_address;
    srv->opts.access_token = srv->access_token;
    srv->opts.allowed_origins = srv->allowed_origins;
    srv->opts.rtp_host = srv->rtp_host;
    srv->opts.rtp_codec = srv->rtp_codec;
    srv->opts.rtp_janus_url = srv->rtp_janus_url;
    if (srv->opts.num_threads == 0)
        srv->opts.num_threads = srv->opts.max_clients + 8;
    return SB_OK;
}

/* The server's own state: options, the admission limits, the (empty) stream list. */
static int server_new(const sb_server_options *o, sb_server **out)
{
    sb_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the server");
    atomic_init(&srv->stopping, false);
    atomic_init(&srv->next_client_id, 0);
    sb__admission_init(&srv->admission, o->max_clients, o->max_clients_per_address);
    pthread_mutex_init(&srv->streams_mu, NULL);
    pthread_cond_init(&srv->streams_cv, NULL);
    *out = srv;
    return copy_options(srv, o);
}

/* Frees what server_new made; every thread is stopped (or never started), every stream freed. */
static void server_free(sb_server *srv)
{
    sb__admission_destroy(&srv->admission);
    pthread_cond_destroy(&srv->streams_cv);
    pthread_mutex_destroy(&srv->streams_mu);
    free(srv->bind_address);
    free(srv->access_token);
    free(srv->view_token);
    free(srv->allowed_origins);
    free(srv->video_codecs);
    free(srv->default_codec_name);
    free(srv->rtp_host);
    free(srv->rtp_codec);
    free(srv->rtp_janus_url);
    free(srv);
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
    srv->guard = sb__http_guard_start();
    if (!srv->guard)
        return SB_EIO;
    int rc = start_civetweb(srv);
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
    if (!ring && queue)
        return SB_FAIL(SB_EINVAL, "ring is NULL but queue is not (NULL, NULL: a server with no "
                                  "default stream)");
    sb_server_options full;
    int rc = sb__server_options_complete(opts, "sb_server_create", &full);
    if (rc != SB_OK)
        return rc;
    sb_server *srv = NULL;
    rc = server_new(&full, &srv);
    if (rc == SB_OK && ring)
        rc = sb__server_stream_add(srv, SB_SERVER_DEFAULT_STREAM_NAME, ring, queue,
                                   "sb_server_create");
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
    if (!srv || srv->destroyed)
        return;
    atomic_store(&srv->stopping, true);
    /* Ends every encoder's sleeps and the snapshot waits at once, and each WebSocket sender
     * says 1001 before civetweb refuses writes (mg_stop); the encoder threads are joined last,
     * when no client holds a frame any more. */
    sb__streams_request_stop(srv);
    /* mg_stop closes every connection and waits for every worker; WebSocket close handlers
     * join the clients' sender threads (which have sent each client a 1001 close). */
    if (srv->ctx)
        stop_civetweb(srv);
    srv->ctx = NULL;
    sb__http_guard_stop(srv->guard); /* after civetweb: no callback uses it any more */
    srv->guard = NULL;
    sb__streams_free_all(srv);
    pthread_mutex_lock(&srv->streams_mu);
    srv->destroyed = true;
    int holds = srv->holds;
    pthread_mutex_unlock(&srv->streams_mu);
    if (holds > 0) {
        /* Their sb_stream_destroy still calls into this server: it must stay valid memory. */
        sb__log("sb_server_destroy: %d stream(s) made with sb_stream_create_on_server are "
                "still attached: they are no longer served; destroy them (the server's memory "
                "goes with the last one)", holds);
        return;
    }
    server_free(srv);
}

void sb__server_hold(sb_server *srv)
{
    pthread_mutex_lock(&srv->streams_mu);
    srv->holds++;
    pthread_mutex_unlock(&srv->streams_mu);
}

void sb__server_release(sb_server *srv)
{
    pthread_mutex_lock(&srv->streams_mu);
    bool last = --srv->holds == 0 && srv->destroyed;
    pthread_mutex_unlock(&srv->streams_mu);
    if (last)
        server_free(srv);
}

bool sb__server_destroyed(sb_server *srv)
{
    pthread_mutex_lock(&srv->streams_mu);
    bool destroyed = srv->destroyed;
    pthread_mutex_unlock(&srv->streams_mu);
    return destroyed;
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
    memset(&full, 0, sizeof full);
    sb_server *s = (sb_server *)srv; /* the lookup takes a reference: no state changes */
    sb_server_stream *st = sb__stream_default(s);
    if (st) {
        stream_stats(st, &full);
        sb__stream_unref(st);
    } else {
        /* No default stream: every stream's counters summed (the means and rates are per
         * stream: /v/NAME/stats). */
        pthread_mutex_lock(&s->streams_mu);
        for (st = s->streams; st; st = st->next) {
            sb_server_stats one;
            stream_stats(st, &one);
#define SB_STATS_SUM_(name, text) full.name += one.name;
            SB_SERVER_COUNTER_MAP(SB_STATS_SUM_)
#undef SB_STATS_SUM_
            full.clients += one.clients;
        }
        pthread_mutex_unlock(&s->streams_mu);
    }
    memcpy(stats, &full, size);
    stats->version = version;
    return SB_OK;
}
