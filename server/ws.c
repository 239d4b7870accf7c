/* ws.c - the /ws endpoint: per-client sender threads with ack credit (frames out) and the
 * binary client-message parser (hello, ack, input events in). Wire format:
 * docs/wire-protocol.md; the byte offsets below are the ones documented there.
 *
 * Threads per WebSocket client: civetweb's worker thread reads the socket and runs
 * ws_data/ws_close; our sender thread writes frames. A socket that stops draining blocks only
 * its own sender (for at most send_timeout_ms, then the client is marked dead and closed). */
#include "server_internal.h"

#include "sb_error_internal.h"
#include "wire.h"

#include <civetweb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- frames out ------------------------------------------------------------------------------ */

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}
static float get_f32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Writes one binary WebSocket message made of our header and the shared JPEG, framing it
 * ourselves so the JPEG is never copied per client (server frames are unmasked, RFC 6455 5.1). */
static bool send_frame(sb_client *c, const sb_encoded_frame *f, uint32_t ack_rtt_us)
{
    unsigned char hdr[SB_WIRE_FRAME_HEADER_LEN];
    memset(hdr, 0, sizeof hdr);
    hdr[0] = SB_WIRE_FRAME_MAGIC;
    hdr[1] = SB_WIRE_MSG_FRAME;
    put_u16(hdr + 2, SB_WIRE_FRAME_HEADER_LEN);
    put_u32(hdr + 4, f->width);
    put_u32(hdr + 8, f->height);
    hdr[12] = (unsigned char)f->quality;
    hdr[13] = f->still ? SB_WIRE_FRAME_FLAG_STILL : 0;
    put_u64(hdr + 16, f->seq);
    put_u64(hdr + 24, f->capture_ns);
    put_u64(hdr + 32, sb__realtime_ns());
    put_u32(hdr + 40, (uint32_t)f->jpeg_len);
    put_u32(hdr + 44, ack_rtt_us);

    uint64_t payload = sizeof hdr + f->jpeg_len;
    unsigned char ws[10];
    size_t wsn;
    ws[0] = 0x82; /* FIN | binary */
    if (payload < 126) {
        ws[1] = (unsigned char)payload;
        wsn = 2;
    } else if (payload <= 0xFFFF) {
        ws[1] = 126;
        ws[2] = (unsigned char)(payload >> 8);
        ws[3] = (unsigned char)payload;
        wsn = 4;
    } else {
        ws[1] = 127;
        for (int i = 0; i < 8; i++)
            ws[2 + i] = (unsigned char)(payload >> (56 - 8 * i));
        wsn = 10;
    }
    mg_lock_connection(c->conn);
    bool ok = mg_write(c->conn, ws, wsn) == (int)wsn &&
              mg_write(c->conn, hdr, sizeof hdr) == (int)sizeof hdr &&
              mg_write(c->conn, f->jpeg, f->jpeg_len) == (int)f->jpeg_len;
    mg_unlock_connection(c->conn);
    if (ok) {
        sb_server *srv = c->srv;
        uint64_t bytes = wsn + payload;
        atomic_fetch_add(&c->sent, 1);
        atomic_fetch_add(&c->bytes, bytes);
        atomic_fetch_add(&srv->frames_sent, 1);
        atomic_fetch_add(&srv->bytes_sent, bytes);
    }
    return ok;
}

static void *sender_main(void *arg)
{
    sb_client *c = arg;
    sb_encoded_frame *f;
    while ((f = sb__client_next_frame(c))) {
        pthread_mutex_lock(&c->mu);
        uint32_t rtt = c->last_ack_rtt_us;
        pthread_mutex_unlock(&c->mu);
        uint64_t t0 = sb__monotonic_ns();
        bool ok = send_frame(c, f, rtt);
        sb__frame_unref(f);
        if (!ok) {
            pthread_mutex_lock(&c->mu);
            bool closing = c->closing;
            c->dead = true;
            pthread_mutex_unlock(&c->mu);
            /* A write that failed fast is a peer that went away (normal); one that failed after
             * the send timeout is a client that stopped reading. */
            uint64_t blocked_ms = (sb__monotonic_ns() - t0) / 1000000u;
            if (!closing && !atomic_load(&c->srv->stopping) &&
                blocked_ms >= (uint64_t)c->srv->opts.send_timeout_ms / 2)
                sb__log("server: client %u (%s) stopped draining its socket for %llu ms: closing it",
                        c->id, c->remote, (unsigned long long)blocked_ms);
            break;
        }
    }
    /* The server is stopping: say so (1001 going away). The peer answers with its own close
     * frame, which ends civetweb's read of this connection at once; otherwise that read would
     * notice the stop only at its next poll timeout (2 s). */
    pthread_mutex_lock(&c->mu);
    bool dead = c->dead;
    pthread_mutex_unlock(&c->mu);
    if (!dead && atomic_load(&c->srv->stopping)) {
        static const char reason[] = "server stopping";
        char payload[2 + sizeof reason - 1];
        payload[0] = (char)(SB_WS_CLOSE_GOING_AWAY >> 8);
        payload[1] = (char)(SB_WS_CLOSE_GOING_AWAY & 0xff);
        memcpy(payload + 2, reason, sizeof reason - 1);
        mg_lock_connection(c->conn);
        mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, sizeof payload);
        mg_unlock_connection(c->conn);
    }
    pthread_mutex_lock(&c->mu);
    c->sender_done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- messages in ----------------------------------------------------------------------------- */

/* Closes the connection with a WebSocket close code; counted and logged once per client. */
static int reject(sb_client *c, struct mg_connection *conn, uint16_t code, const char *why)
{
    sb_server *srv = c->srv;
    atomic_fetch_add(&srv->messages_rejected, 1);
    if (!c->logged) {
        c->logged = true;
        sb__log("server: client %u (%s): %s: closing with %u", c->id, c->remote, why, code);
    }
    unsigned char payload[2 + 96];
    payload[0] = (unsigned char)(code >> 8);
    payload[1] = (unsigned char)code;
    size_t n = strlen(why);
    if (n > sizeof payload - 2)
        n = sizeof payload - 2;
    memcpy(payload + 2, why, n);
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    mg_lock_connection(conn);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)payload, 2 + n);
    mg_unlock_connection(conn);
    return 0; /* civetweb closes the connection */
}

static int handle_ack(sb_client *c, struct mg_connection *conn, const unsigned char *m)
{
    if (m[1] || m[2] || m[3])
        return reject(c, conn, SB_WS_CLOSE_INVALID, "ack: reserved bytes not zero");
    uint64_t seq = get_u64(m + 4);
    pthread_mutex_lock(&c->mu);
    int found = -1;
    for (int i = 0; i < c->in_flight; i++) {
        if (c->in_flight_seq[i] == seq) {
            found = i;
            break;
        }
    }
    if (found >= 0) {
        uint64_t now = sb__realtime_ns();
        uint64_t sent = c->in_flight_send_ns[found];
        c->last_ack_rtt_us = now > sent ? (uint32_t)((now - sent) / 1000u) : 0u;
        for (int i = found; i + 1 < c->in_flight; i++) {
            c->in_flight_seq[i] = c->in_flight_seq[i + 1];
            c->in_flight_send_ns[i] = c->in_flight_send_ns[i + 1];
        }
        c->in_flight--;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (found < 0)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "ack for a frame that is not in flight");
    return 1;
}

static int handle_hello(sb_client *c, struct mg_connection *conn, const unsigned char *m)
{
    if (m[1] != SB_WIRE_PROTOCOL_VERSION)
        return reject(c, conn, SB_WS_CLOSE_UNSUPPORTED, "hello: unsupported protocol version");
    if (m[2] || m[3])
        return reject(c, conn, SB_WS_CLOSE_INVALID, "hello: reserved bytes not zero");
    uint32_t w = get_u32(m + 4), h = get_u32(m + 8);
    if (w < 1 || h < 1 || w > SB_WIRE_MAX_VIEW || h > SB_WIRE_MAX_VIEW)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "hello: view size out of range");
    c->view_w = w;
    c->view_h = h;
    c->hello_seen = true;
    return 1;
}

/* Token bucket per client; false = over the rate (drop). Abuse (dropping more than a second's
 * worth of events within one second) closes the connection. */
static bool take_event_token(sb_client *c, bool *abusive)
{
    sb_server *srv = c->srv;
    double rate = srv->opts.max_events_per_second;
    uint64_t now = sb__monotonic_ns();
    if (c->bucket_ns)
        c->tokens += (double)(now - c->bucket_ns) / 1e9 * rate;
    c->bucket_ns = now;
    if (c->tokens > rate)
        c->tokens = rate;
    *abusive = false;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        return true;
    }
    if (now - c->abuse_window_ns > 1000000000ull) {
        c->abuse_window_ns = now;
        c->abuse_drops = 0;
    }
    c->abuse_drops++;
    *abusive = c->abuse_drops > (uint32_t)srv->opts.max_events_per_second;
    return false;
}

static bool is_positional(uint32_t type)
{
    return type == SB_EVENT_POINTER_MOVE || type == SB_EVENT_BUTTON_PRESS ||
           type == SB_EVENT_BUTTON_RELEASE || type == SB_EVENT_WHEEL;
}

/* Maps a view coordinate (0..view) to frame pixels (0..frame); rounds toward the pixel the
 * pointer is over. */
static int32_t map_coord(float v, uint32_t view, uint32_t frame)
{
    double p = floor((double)v * (double)frame / (double)view);
    if (p < -SB_WIRE_MAX_VIEW)
        p = -SB_WIRE_MAX_VIEW;
    if (p > SB_WIRE_MAX_VIEW)
        p = SB_WIRE_MAX_VIEW;
    return (int32_t)p;
}

static int handle_event(sb_client *c, struct mg_connection *conn, const unsigned char *m)
{
    sb_server *srv = c->srv;
    sb_event e;
    memset(&e, 0, sizeof e);
    e.type = m[1];
    e.button = m[2];
    e.modifiers = m[3];
    float x = get_f32(m + 4), y = get_f32(m + 8);
    uint32_t view_w = get_u32(m + 12), view_h = get_u32(m + 16);
    e.wheel_delta = get_f32(m + 20);
    e.key_code = get_u32(m + 24);
    uint32_t width = get_u32(m + 28), height = get_u32(m + 32);
    uint32_t reserved = get_u32(m + 36);
    e.timestamp_ns = get_u64(m + 40);
    memcpy(e.keysym, m + 48, SB_KEYSYM_MAX);
    e.producer_id = c->id;

    if (reserved)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "event: reserved field not zero");
    if (e.type == SB_EVENT_NONE || e.type >= SB_EVENT_TYPE_COUNT)
        return reject(c, conn, SB_WS_CLOSE_UNSUPPORTED, "event: unknown event type");
    if (!isfinite(x) || !isfinite(y) || fabsf(x) > 1e6f || fabsf(y) > 1e6f)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "event: position is not a finite number");
    if (width > SB_WIRE_MAX_VIEW || height > SB_WIRE_MAX_VIEW)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "event: size out of range");
    if (view_w == 0 && view_h == 0 && c->hello_seen) {
        view_w = c->view_w;
        view_h = c->view_h;
    }
    if (is_positional(e.type) &&
        (view_w < 1 || view_h < 1 || view_w > SB_WIRE_MAX_VIEW || view_h > SB_WIRE_MAX_VIEW))
        return reject(c, conn, SB_WS_CLOSE_INVALID, "event: view size out of range");
    if (e.type == SB_EVENT_RESIZE) {
        e.width = (int32_t)width;
        e.height = (int32_t)height;
    }
    uint32_t fw = atomic_load(&srv->frame_w), fh = atomic_load(&srv->frame_h);
    if (is_positional(e.type) && fw && fh) {
        e.x = map_coord(x, view_w, fw);
        e.y = map_coord(y, view_h, fh);
    }
    if (e.type != SB_EVENT_WHEEL && e.wheel_delta != 0.0f)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "event: wheel delta on a non-wheel event");
    if (sb_event_validate(&e) != SB_OK) {
        char why[120];
        snprintf(why, sizeof why, "event: %.100s", sb_last_error());
        return reject(c, conn, SB_WS_CLOSE_INVALID, why);
    }

    bool abusive;
    if (!take_event_token(c, &abusive)) {
        atomic_fetch_add(&srv->events_rate_limited, 1);
        atomic_fetch_add(&srv->messages_rejected, 1);
        if (abusive) {
            atomic_fetch_sub(&srv->messages_rejected, 1); /* reject() counts this one */
            return reject(c, conn, SB_WS_CLOSE_POLICY, "event rate far above the limit");
        }
        return 1;
    }
    atomic_fetch_add(&srv->events_received, 1);
    atomic_store(&srv->last_input_ns, sb__monotonic_ns());
    if (is_positional(e.type) && !(fw && fh)) {
        atomic_fetch_add(&srv->events_dropped, 1); /* no frame yet: nothing to point at */
        return 1;
    }
    if (srv->queue && sb_event_queue_push(srv->queue, &e) != SB_OK)
        atomic_fetch_add(&srv->events_dropped, 1);
    return 1;
}

/* ---- civetweb callbacks ---------------------------------------------------------------------- */

static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
    sb_server *srv = cbdata;
    /* civetweb hands a const pointer to the same connection we may answer on. */
    struct mg_connection *conn = (struct mg_connection *)(uintptr_t)cconn;
    if (!sb__host_allowed(srv, conn)) {
        atomic_fetch_add(&srv->clients_refused, 1);
        const char *text = "403 forbidden: Host not allowed\n";
        sb__http_reply(conn, 403, "text/plain; charset=utf-8", NULL, text, strlen(text));
        return 1;
    }
    sb_auth_result auth = sb__auth_check(srv, conn);
    if (auth != SB_AUTH_OK) {
        atomic_fetch_add(&srv->clients_refused, 1);
        const char *text = auth == SB_AUTH_MISSING ? "401 unauthorized\n" : "403 forbidden\n";
        sb__http_reply(conn, (int)auth, "text/plain; charset=utf-8", NULL, text, strlen(text));
        return 1;
    }
    if (!sb__origin_allowed(srv, conn)) {
        atomic_fetch_add(&srv->clients_refused, 1);
        const char *text = "403 forbidden: origin not allowed\n";
        sb__http_reply(conn, 403, "text/plain; charset=utf-8", NULL, text, strlen(text));
        return 1;
    }
    sb_client *c = sb__client_new(srv, SB_CLIENT_WS, conn);
    if (!c || !sb__client_register(srv, c)) {
        sb__client_free(c);
        const char *text = "503 too many clients\n";
        sb__http_reply(conn, 503, "text/plain; charset=utf-8", "Retry-After: 5\r\n", text,
                       strlen(text));
        return 1;
    }
    mg_set_user_connection_data(conn, c);
    return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    sb_client *c = mg_get_user_connection_data(conn);
    if (!c)
        return;
    c->conn = conn;
    /* Under mu: sb_server_stop reads sender_started from another thread. */
    pthread_mutex_lock(&c->mu);
    if (pthread_create(&c->sender, NULL, sender_main, c) == 0) {
        c->sender_started = true;
    } else {
        sb__log("server: client %u: cannot start its sender thread", c->id);
        c->dead = true;
    }
    pthread_mutex_unlock(&c->mu);
}

static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cbdata)
{
    sb_server *srv = cbdata;
    sb_client *c = mg_get_user_connection_data(conn);
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    bool dead = c->dead || c->closing;
    pthread_mutex_unlock(&c->mu);
    if (dead || atomic_load(&srv->stopping))
        return 0;
    int opcode = flags & 0x0f;
    bool fin = (flags & 0x80) != 0;
    switch (opcode) {
    case MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE: return 0;
    case MG_WEBSOCKET_OPCODE_PING:
    case MG_WEBSOCKET_OPCODE_PONG: return 1;
    case MG_WEBSOCKET_OPCODE_BINARY: break;
    case MG_WEBSOCKET_OPCODE_TEXT:
        return reject(c, conn, SB_WS_CLOSE_UNSUPPORTED, "text messages are not part of the protocol");
    default: return reject(c, conn, SB_WS_CLOSE_UNSUPPORTED, "fragmented or unknown frame");
    }
    if (len > (size_t)srv->opts.max_message_bytes)
        return reject(c, conn, SB_WS_CLOSE_TOO_BIG, "message larger than max_message_bytes");
    if (!fin)
        return reject(c, conn, SB_WS_CLOSE_UNSUPPORTED, "fragmented messages are not supported");
    if (len < 1)
        return reject(c, conn, SB_WS_CLOSE_INVALID, "empty message");
    const unsigned char *m = (const unsigned char *)data;
    switch (m[0]) {
    case SB_WIRE_MSG_HELLO:
        if (len != SB_WIRE_HELLO_LEN)
            return reject(c, conn, SB_WS_CLOSE_INVALID, "hello: wrong length");
        return handle_hello(c, conn, m);
    case SB_WIRE_MSG_ACK:
        if (len != SB_WIRE_ACK_LEN)
            return reject(c, conn, SB_WS_CLOSE_INVALID, "ack: wrong length");
        return handle_ack(c, conn, m);
    case SB_WIRE_MSG_EVENT:
        if (len != SB_WIRE_EVENT_LEN)
            return reject(c, conn, SB_WS_CLOSE_INVALID, "event: wrong length");
        return handle_event(c, conn, m);
    default: return reject(c, conn, SB_WS_CLOSE_UNSUPPORTED, "unknown message type");
    }
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    sb_server *srv = cbdata;
    sb_client *c = mg_get_user_connection_data(conn);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->sender_started)
        pthread_join(c->sender, NULL);
    sb__client_unregister(srv, c);
    mg_set_user_connection_data(conn, NULL);
    sb__client_free(c);
}

void sb__ws_install(sb_server *srv)
{
    mg_set_websocket_handler(srv->ctx, "/ws", ws_connect, ws_ready, ws_data, ws_close, srv);
}
