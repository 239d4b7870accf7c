/* sb_test_http.c - see sb_test_http.h. */
#include "sb_test_http.h"

#include "sb_clock.h" /* the library's own clocks: receive times compare with the server's */

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

int st_suite_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    mg_init_library(0);
    return 0;
}

void st_response_free(st_response *r)
{
    free(r->body);
    r->body = NULL;
}

int st_http_get(int port, const char *path, const char *extra_headers,
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

int st_http_status(int port, const char *path, const char *extra_headers)
{
    st_response r;
    if (st_http_get(port, path, extra_headers, 1 << 20, &r) != 0)
        return -1;
    st_response_free(&r);
    return r.status;
}

/* Whether GET path answers status with a body containing needle (NULL: any body). */
static bool st_http_answers(int port, const char *path, int status, const char *needle)
{
    st_response r;
    if (st_http_get(port, path, NULL, 1 << 20, &r) != 0)
        return false;
    bool ok = r.status == status && (!needle || strstr(r.body, needle));
    st_response_free(&r);
    return ok;
}

bool st_http_until(int port, const char *path, int status, const char *needle, int timeout_ms)
{
    bool ok;
    ST_WAIT_UNTIL(ok, st_http_answers(port, path, status, needle), timeout_ms);
    return ok;
}

void st_ws_ack(st_ws *w, uint64_t seq)
{
    unsigned char ack[12] = {2, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        ack[4 + i] = (unsigned char)(seq >> (8 * i));
    mg_websocket_client_write(w->conn, MG_WEBSOCKET_OPCODE_BINARY, (const char *)ack, sizeof ack);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A VIDEO FRAME's header (under w->mu): counts, and whether the stream stayed gap-free. */
static void st_ws_note_video(st_ws *w, const unsigned char *h)
{
    bool key = h[13] & 1;
    uint32_t stream = get_u32(h + 48), no = get_u32(h + 52);
    if (w->video_frames == 0) {
        w->first_video_key = key;
    } else {
        bool continues = stream == w->stream_id && no == w->frame_no + 1;
        if (!continues && !key)
            w->video_in_order = false;
    }
    w->stream_id = stream;
    w->frame_no = no;
    w->last_codec = h[12];
    w->coded_width = get_u32(h + 56);
    w->coded_height = get_u32(h + 60);
    memcpy(w->codec_string, h + 64, 24);
    w->codec_string[24] = '\0';
    w->video_frames++;
    w->keyframes += key;
}

static int st_ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *user)
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
        w->last_type = h[1];
        bool video = h[1] == 2 && len >= 88;
        if (video) {
            st_ws_note_video(w, h);
        } else {
            w->last_quality = h[12];
            w->last_still = h[13] & 1;
            w->jpeg_frames++;
        }
        w->frames++;
        pthread_cond_broadcast(&w->cv);
        bool ack = w->auto_ack;
        st_ws_video_fn on_message = video ? w->on_video : w->on_jpeg;
        void *message_user = video ? w->on_video_user : w->on_jpeg_user;
        pthread_mutex_unlock(&w->mu);
        if (on_message)
            on_message(message_user, h, len);
        if (ack && w->conn)
            st_ws_ack(w, seq);
        return 1;
    }
    if (opcode == MG_WEBSOCKET_OPCODE_BINARY && len == 8 && (unsigned char)data[0] == 0x53 &&
        (unsigned char)data[1] == 3) {
        w->answers++;
        w->answer_codec = (unsigned char)data[4];
        w->answer_reason = (unsigned char)data[5];
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
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

static void st_ws_closed(const struct mg_connection *conn, void *user)
{
    st_ws *w = user;
    (void)conn;
    pthread_mutex_lock(&w->mu);
    w->closed = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int st_ws_connect(st_ws *w, int port, const char *path, const char *origin, bool auto_ack)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->auto_ack = auto_ack;
    w->in_order = true;
    w->video_in_order = true;
    w->first_video_key = -1;
    /* The ack callback may run before conn is stored: hold the lock across the connect. */
    pthread_mutex_lock(&w->mu);
    w->conn = mg_connect_websocket_client("127.0.0.1", port, 0, w->error, sizeof w->error,
                                          path ? path : "/ws", origin, st_ws_data, st_ws_closed, w);
    pthread_mutex_unlock(&w->mu);
    return w->conn ? 0 : -1;
}

void st_ws_close(st_ws *w)
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

void st_nodelay_all_sockets(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name), one = 1;
        struct stat st;
        if (fd > 2 && fd != dirfd(d) && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on non-TCP: fine */
    }
    if (d)
        closedir(d);
}

int st_ws_send(st_ws *w, const void *data, size_t len, int opcode)
{
    return mg_websocket_client_write(w->conn, opcode, (const char *)data, len);
}

int st_ws_wait_frames(st_ws *w, int n, int timeout_ms)
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

void st_ws_codec(st_ws *w, int wanted, unsigned decodable)
{
    unsigned char m[8];
    st_codec_msg(m, wanted, decodable);
    st_ws_send(w, m, sizeof m, MG_WEBSOCKET_OPCODE_BINARY);
}

void st_ws_keyframe_request(st_ws *w)
{
    unsigned char m[4];
    st_keyframe_request_msg(m);
    st_ws_send(w, m, sizeof m, MG_WEBSOCKET_OPCODE_BINARY);
}

/* Waits until *count >= n (read under w->mu) or the connection closed; returns *count. */
static int st_ws_wait_count(st_ws *w, const int *count, int n, int timeout_ms)
{
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
    pthread_mutex_lock(&w->mu);
    while (*count < n && !w->closed && sb__monotonic_ns() < deadline) {
        pthread_mutex_unlock(&w->mu);
        st_sleep_ms(ST_POLL_MS);
        pthread_mutex_lock(&w->mu);
    }
    int got = *count;
    pthread_mutex_unlock(&w->mu);
    return got;
}

int st_ws_wait_answers(st_ws *w, int n, int timeout_ms)
{
    return st_ws_wait_count(w, &w->answers, n, timeout_ms);
}

int st_ws_wait_video_frames(st_ws *w, int n, int timeout_ms)
{
    return st_ws_wait_count(w, &w->video_frames, n, timeout_ms);
}

uint64_t st_ws_last_seq(st_ws *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t seq = w->frames ? w->last_seq : 0;
    pthread_mutex_unlock(&w->mu);
    return seq;
}

bool st_ws_wait_closed(st_ws *w, int timeout_ms)
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

void st_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void st_put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    st_put_u32(p, u);
}

void st_hello(unsigned char m[12], uint32_t view_w, uint32_t view_h)
{
    memset(m, 0, 12);
    m[0] = 1;
    m[1] = 1;
    st_put_u32(m + 4, view_w);
    st_put_u32(m + 8, view_h);
}

void st_codec_msg(unsigned char m[8], int wanted, unsigned decodable)
{
    memset(m, 0, 8);
    m[0] = 4;
    m[1] = (unsigned char)wanted;
    m[2] = (unsigned char)decodable;
}

void st_keyframe_request_msg(unsigned char m[4])
{
    memset(m, 0, 4);
    m[0] = 5;
}

void st_event(unsigned char m[80], int type, int button, float x, float y,
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

int st_raw_connect(int port)
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

int st_raw_request_status(int fd, const char *request)
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

int st_mjpeg_viewer_open(int port)
{
    int fd = st_raw_connect(port);
    if (fd < 0)
        return -1;
    if (st_raw_request_status(fd, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") != 200) {
        close(fd);
        return -1;
    }
    return fd;
}

void st_ws_upgrade_request(char *out, size_t size, int port, const char *path,
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

int st_ws_upgrade_status(int port, const char *path, const char *origin)
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
