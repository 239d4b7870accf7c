/* ws.c - the /ws endpoint: per-client sender threads with ack credit (frames out), and our own
 * reader of the client's frames (hello, ack, input events in). Wire format and the limits
 * enforced: docs/wire-protocol.md.
 *
 * Threads per WebSocket client: civetweb's worker thread runs ws_ready, which reads the socket
 * itself (read_client) until the connection ends, then ws_close; our sender thread writes
 * frames. Why our own reader: civetweb 1.15 allocates and reads a frame's whole declared payload
 * (up to 2 GiB) before any callback could refuse it, so a few hostile clients could take
 * gigabytes; read_client refuses a frame on its header, never buffers more than
 * max_message_bytes, and closes clients that never ack or never speak. Every write (frames,
 * pong, close) goes through civetweb under mg_lock_connection. A socket that stops draining
 * blocks only its own sender (for at most send_timeout_ms, then the client is closed). */
#include "server_internal.h"

#include "conn_socket.h"
#include "sb_error_internal.h"
#include "wire.h"
#include "ws_frame.h"
#include "ws_message.h"

#include <civetweb.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* A client's first message (normally HELLO) must arrive within this of the upgrade: a
 * connection that says nothing only holds a slot. */
#define SB_WS_FIRST_MESSAGE_MS 10000
/* A frame, once its first byte arrived, must be complete within this (a trickled frame only
 * holds a slot). */
#define SB_WS_FRAME_COMPLETE_MS 10000
/* A peer silent this long gets a ping (what civetweb's own reader did: keeps NATs and proxies
 * from dropping a still scene's connection). Its pong is not required. */
#define SB_WS_PING_IDLE_MS 10000
/* After our close frame, the peer's data is read and dropped for at most this long, waiting for
 * its close frame: closing the socket on unread data would send a reset that can destroy our
 * close frame before the peer reads it. */
#define SB_WS_CLOSE_LINGER_MS 2000
/* The reader wakes at least this often to notice a stop, a dead sender and the time bounds. */
#define SB_WS_POLL_MS 100
/* CODEC and KEYFRAME REQUEST per client: a bucket of this many, refilled at this rate per
 * second. Over it a KEYFRAME REQUEST is counted (requests_ignored) and ignored, a CODEC still
 * answered; dropping more than ABUSE within one second closes the client (1008). */
#define SB_WS_VIDEO_CONTROL_BURST 8.0
#define SB_WS_VIDEO_CONTROL_RATE 4.0
#define SB_WS_VIDEO_CONTROL_ABUSE 200u

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

/* Writes one small message (a control frame, a CODEC ANSWER) unless a close frame went out
 * already (nothing may follow one); a close frame marks that. */
static bool write_control(sb_client *c, int opcode, const void *payload, size_t len)
{
    bool ok = false;
    mg_lock_connection(c->conn);
    if (!atomic_load(&c->close_sent)) {
        ok = mg_websocket_write(c->conn, opcode, (const char *)payload, len) >= 0;
        if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
            atomic_store(&c->close_sent, true);
    }
    mg_unlock_connection(c->conn);
    return ok;
}

static void write_close(sb_client *c, uint16_t code, const char *reason)
{
    sb_ws_close why;
    sb__ws_close_set(&why, code, reason);
    uint8_t payload[2 + SB_WS_MAX_CLOSE_REASON];
    size_t n = sb__ws_close_payload(&why, payload);
    write_control(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, n);
}

/* The header of a JPEG frame message (docs/wire-protocol.md); its first 48 bytes are also the
 * start of a video frame's. Returns the header length. */
static size_t frame_header(const sb_encoded_frame *f, uint32_t ack_rtt_us, uint64_t send_ns,
                           unsigned char hdr[SB_WIRE_VIDEO_HEADER_LEN])
{
    bool video = f->codec != SB_CODEC_JPEG;
    size_t len = video ? SB_WIRE_VIDEO_HEADER_LEN : SB_WIRE_FRAME_HEADER_LEN;
    memset(hdr, 0, SB_WIRE_VIDEO_HEADER_LEN);
    hdr[0] = SB_WIRE_FRAME_MAGIC;
    hdr[1] = video ? SB_WIRE_MSG_VIDEO_FRAME : SB_WIRE_MSG_FRAME;
    put_u16(hdr + 2, (uint16_t)len);
    put_u32(hdr + 4, f->width);
    put_u32(hdr + 8, f->height);
    if (video) {
        hdr[12] = (unsigned char)f->codec;
        hdr[13] = f->keyframe ? SB_WIRE_VIDEO_FLAG_KEY : 0;
    } else {
        hdr[12] = (unsigned char)f->quality;
        hdr[13] = f->still ? SB_WIRE_FRAME_FLAG_STILL : 0;
    }
    put_u64(hdr + 16, f->seq);
    put_u64(hdr + 24, f->capture_ns);
    put_u64(hdr + 32, send_ns);
    put_u32(hdr + 40, (uint32_t)f->len);
    put_u32(hdr + 44, ack_rtt_us);
    if (video) {
        put_u32(hdr + 48, f->stream_id);
        put_u32(hdr + 52, f->frame_no);
        put_u32(hdr + 56, f->coded_width);
        put_u32(hdr + 60, f->coded_height);
        memcpy(hdr + 64, f->codec_string, SB_WIRE_VIDEO_CODEC_STRING_LEN);
        hdr[64 + SB_WIRE_VIDEO_CODEC_STRING_LEN - 1] = 0;
    }
    return len;
}

/* Writes one binary WebSocket message made of our header and the shared JPEG or video packet,
 * framing it ourselves so the payload is never copied per client (server frames are unmasked,
 * RFC 6455 5.1). */
static bool send_frame(sb_client *c, const sb_encoded_frame *f, uint32_t ack_rtt_us)
{
    unsigned char hdr[SB_WIRE_VIDEO_HEADER_LEN];
    uint64_t send_ns = sb__realtime_ns();
    size_t hlen = frame_header(f, ack_rtt_us, send_ns, hdr);
    uint64_t payload = hlen + f->len;
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
    bool ok = !atomic_load(&c->close_sent); /* the reader closed: nothing may follow */
    if (ok && c->fd >= 0) {
        /* One sendmsg: one wake-up of the viewer per frame, not three (conn_socket.h). */
        struct iovec iov[3] = {{ws, wsn}, {hdr, hlen}, {(void *)f->data, f->len}};
        ok = sb__sock_write_all(c->fd, iov, 3, c->srv->opts.send_timeout_ms,
                                &c->stream->stopping);
    } else if (ok) {
        ok = mg_write(c->conn, ws, wsn) == (int)wsn && mg_write(c->conn, hdr, hlen) == (int)hlen &&
             mg_write(c->conn, f->data, f->len) == (int)f->len;
    }
    mg_unlock_connection(c->conn);
    if (ok) {
        uint64_t bytes = wsn + payload;
        atomic_fetch_add(&c->sent, 1);
        atomic_fetch_add(&c->bytes, bytes);
        sb_stats *st = &c->stream->stats;
        sb__stats_record_sent(st, bytes);
        sb__stats_record_walk_sent(st, f->id, send_ns);
        SB_CODEC_STATS_ADD(st, f->codec, frames_sent, 1);
        SB_CODEC_STATS_ADD(st, f->codec, bytes_sent, bytes);
        if (f->codec != SB_CODEC_JPEG && f->keyframe)
            SB_CODEC_STATS_ADD(st, f->codec, keyframes_sent, 1);
    }
    return ok;
}

/* CODEC ANSWER: the codec c will be sent and why (docs/wire-protocol.md). */
static bool send_codec_answer(sb_client *c, int codec, int reason)
{
    unsigned char m[SB_WIRE_CODEC_ANSWER_LEN];
    memset(m, 0, sizeof m);
    m[0] = SB_WIRE_FRAME_MAGIC;
    m[1] = SB_WIRE_MSG_CODEC_ANSWER;
    put_u16(m + 2, SB_WIRE_CODEC_ANSWER_LEN);
    m[4] = (unsigned char)codec;
    m[5] = (unsigned char)reason;
    return write_control(c, MG_WEBSOCKET_OPCODE_BINARY, m, sizeof m);
}

static void *sender_main(void *arg)
{
    sb_client *c = arg;
    pthread_setname_np(pthread_self(), "sb-ws-sender");
    sb_encoded_frame *f;
    while ((f = sb__client_next_frame(c))) {
        pthread_mutex_lock(&c->mu);
        uint32_t rtt = c->last_ack_rtt_us;
        int answer = c->answer_reason, codec = c->codec;
        c->answer_reason = -1;
        pthread_mutex_unlock(&c->mu);
        uint64_t t0 = sb__monotonic_ns();
        /* A codec that failed on the server: the client learns it falls back before the JPEG. */
        bool ok = answer < 0 || send_codec_answer(c, codec, answer);
        ok = ok && send_frame(c, f, rtt);
        sb__frame_unref(f);
        if (!ok) {
            pthread_mutex_lock(&c->mu);
            bool closing = c->closing;
            c->dead = true;
            pthread_mutex_unlock(&c->mu);
            /* A write that failed fast is a peer that went away (normal); one that failed after
             * the send timeout is a client that stopped reading. */
            uint64_t blocked_ms = (sb__monotonic_ns() - t0) / 1000000u;
            if (!closing && !atomic_load(&c->stream->stopping) &&
                blocked_ms >= (uint64_t)c->srv->opts.send_timeout_ms / 2)
                sb__log("server: client %u (%s) stopped draining its socket for %llu ms: closing it",
                        c->id, c->remote, (unsigned long long)blocked_ms);
            break;
        }
    }
    /* The server is stopping or the stream was removed: say so (1001 going away). The peer
     * answers with its own close frame, which ends civetweb's read of this connection at once;
     * otherwise that read would notice the stop only at its next poll timeout (2 s). */
    pthread_mutex_lock(&c->mu);
    bool dead = c->dead;
    pthread_mutex_unlock(&c->mu);
    if (!dead && atomic_load(&c->stream->stopping))
        write_close(c, SB_WS_CLOSE_GOING_AWAY,
                    atomic_load(&c->srv->stopping) ? "server stopping" : "stream removed");
    pthread_mutex_lock(&c->mu);
    c->sender_done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- messages in ----------------------------------------------------------------------------- */

/* Closes the connection with a WebSocket close code: sets closing (the sender stops), sends the
 * close frame, logs once per client; counted in messages_rejected when the client sent
 * something bad (count), not when it only ran out of time. Returns 0: "stop reading". */
static int close_client(sb_client *c, uint16_t code, const char *why, bool count)
{
    if (count)
        SB_STATS_ADD(&c->stream->stats, messages_rejected, 1);
    if (!c->logged) {
        c->logged = true;
        sb__log("server: client %u (%s): %s: closing with %u", c->id, c->remote, why, code);
    }
    sb__client_close(c);
    write_close(c, code, why);
    return 0;
}

static int reject(sb_client *c, uint16_t code, const char *why)
{
    return close_client(c, code, why, true);
}

static int handle_ack(sb_client *c, uint64_t seq)
{
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
            c->in_flight_since_ns[i] = c->in_flight_since_ns[i + 1];
        }
        /* Only a sender out of credit waits for an ack; one with credit left waits for a new
         * frame, and waking it here would only send it back to sleep (a wake-up per frame per
         * viewer for nothing). */
        if (c->in_flight-- >= sb__client_credit(c))
            pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (found < 0)
        return reject(c, SB_WS_CLOSE_INVALID, "ack for a frame that is not in flight");
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

static int handle_event(sb_client *c, sb_wire_client_msg *msg)
{
    sb_server_stream *st = c->stream;
    if (c->view_only) {
        /* Watching only: every event (resize too, which would change what everyone sees) is
         * counted and dropped, never queued; the connection stays. A flood is still closed by
         * the rate limit, as anyone's. */
        bool abusive;
        if (!take_event_token(c, &abusive) && abusive)
            return reject(c, SB_WS_CLOSE_POLICY, "event rate far above the limit");
        SB_STATS_ADD(&st->stats, events_refused_view_only, 1);
        return 1;
    }
    sb_event e = msg->event;
    e.producer_id = c->id;
    /* The record carries our receive time, not the client's clock (informational, another
     * machine's): the frame that shows this input reports it as input_ns (docs/wire-protocol.md). */
    e.timestamp_ns = sb__realtime_ns();
    uint32_t view_w = msg->view_w, view_h = msg->view_h;
    if (view_w == 0 && view_h == 0 && c->hello_seen) {
        view_w = c->view_w;
        view_h = c->view_h;
    }
    if (msg->positional && (view_w < 1 || view_h < 1))
        return reject(c, SB_WS_CLOSE_INVALID, "event: view size out of range");
    uint32_t fw, fh;
    sb__encoder_frame_size(&st->encoder, &fw, &fh);
    if (msg->positional && fw && fh) {
        e.x = map_coord(msg->x, view_w, fw);
        e.y = map_coord(msg->y, view_h, fh);
    }

    bool abusive;
    if (!take_event_token(c, &abusive)) {
        SB_STATS_ADD(&st->stats, events_rate_limited, 1);
        if (abusive)
            return reject(c, SB_WS_CLOSE_POLICY, "event rate far above the limit");
        SB_STATS_ADD(&st->stats, messages_rejected, 1);
        return 1;
    }
    SB_STATS_ADD(&st->stats, events_received, 1);
    sb__encoder_note_input(&st->encoder);
    if (msg->positional && !(fw && fh)) {
        SB_STATS_ADD(&st->stats, events_dropped, 1); /* no frame yet: nothing to point at */
        return 1;
    }
    if (st->queue && sb_event_queue_push(st->queue, &e) != SB_OK)
        SB_STATS_ADD(&st->stats, events_dropped, 1);
    return 1;
}

/* Token bucket for CODEC and KEYFRAME REQUEST (SB_WS_VIDEO_CONTROL_*): true = within the rate.
 * *abusive: dropping more than SB_WS_VIDEO_CONTROL_ABUSE within one second. */
static bool take_video_token(sb_client *c, bool *abusive)
{
    uint64_t now = sb__monotonic_ns();
    if (c->video_bucket_ns)
        c->video_tokens += (double)(now - c->video_bucket_ns) / 1e9 * SB_WS_VIDEO_CONTROL_RATE;
    else
        c->video_tokens = SB_WS_VIDEO_CONTROL_BURST;
    c->video_bucket_ns = now;
    if (c->video_tokens > SB_WS_VIDEO_CONTROL_BURST)
        c->video_tokens = SB_WS_VIDEO_CONTROL_BURST;
    *abusive = false;
    if (c->video_tokens >= 1.0) {
        c->video_tokens -= 1.0;
        return true;
    }
    if (now - c->video_abuse_window_ns > 1000000000ull) {
        c->video_abuse_window_ns = now;
        c->video_abuse_drops = 0;
    }
    *abusive = ++c->video_abuse_drops > SB_WS_VIDEO_CONTROL_ABUSE;
    return false;
}

/* The codec a CODEC message gets and why (docs/wire-protocol.md, CODEC ANSWER). */
static int choose_codec(const sb_server_stream *st, int wanted, unsigned decodable, int *reason)
{
    *reason = SB_WIRE_REASON_AS_ASKED;
    if (wanted == SB_WIRE_CODEC_NO_PREFERENCE)
        wanted = st->srv->default_codec;
    if (wanted == SB_CODEC_JPEG)
        return SB_CODEC_JPEG;
    if (wanted >= SB_CODEC_COUNT || !sb__encoder_codec_available(&st->encoder, wanted))
        *reason = SB_WIRE_REASON_UNAVAILABLE;
    else if (!(st->srv->allowed_codecs & SB_CODEC_BIT(wanted)))
        *reason = SB_WIRE_REASON_NOT_ALLOWED;
    else if (!(decodable & SB_CODEC_BIT(wanted)))
        *reason = SB_WIRE_REASON_NOT_DECODABLE;
    return *reason == SB_WIRE_REASON_AS_ASKED ? wanted : SB_CODEC_JPEG;
}

static int handle_codec(sb_client *c, const sb_wire_client_msg *msg)
{
    bool abusive;
    if (!take_video_token(c, &abusive)) {
        SB_STATS_ADD(&c->stream->stats, messages_rejected, 1);
        if (abusive)
            return reject(c, SB_WS_CLOSE_POLICY, "codec changes far above the limit");
    }
    int reason;
    int codec = choose_codec(c->stream, msg->codec_wanted, msg->codec_decodable | 1u, &reason);
    /* The answer goes out before the switch: every video frame of the new codec follows it. */
    send_codec_answer(c, codec, reason);
    sb__client_set_codec(c, codec);
    return 1;
}

static int handle_keyframe_request(sb_client *c)
{
    bool abusive;
    if (!take_video_token(c, &abusive)) {
        /* Counted and ignored: a client's spam never forces the encoder. */
        pthread_mutex_lock(&c->mu);
        int codec = c->codec;
        pthread_mutex_unlock(&c->mu);
        SB_CODEC_STATS_ADD(&c->stream->stats, codec, requests_ignored, 1);
        if (abusive)
            return reject(c, SB_WS_CLOSE_POLICY, "keyframe requests far above the limit");
        return 1;
    }
    sb__client_request_key(c);
    return 1;
}

/* One whole binary message from the client: 1 = keep reading, 0 = the connection is closing. */
static int handle_message(sb_client *c, const uint8_t *m, size_t len)
{
    sb_wire_client_msg msg;
    sb_ws_close why;
    if (!sb__wire_decode_client_message(m, len, &msg, &why))
        return reject(c, why.code, why.reason);
    c->spoke = true;
    switch (msg.type) {
    case SB_WIRE_MSG_HELLO:
        c->view_w = msg.view_w;
        c->view_h = msg.view_h;
        c->hello_seen = true;
        return 1;
    case SB_WIRE_MSG_ACK: return handle_ack(c, msg.ack_seq);
    case SB_WIRE_MSG_CODEC: return handle_codec(c, &msg);
    case SB_WIRE_MSG_KEYFRAME_REQUEST: return handle_keyframe_request(c);
    default: return handle_event(c, &msg);
    }
}

/* ---- the reader ------------------------------------------------------------------------------ */

/* State of read_client: one frame at a time, read exactly (never past the frame's end). */
typedef struct ws_reader {
    sb_client *c;
    uint8_t header[SB_WS_MAX_HEADER_LEN];
    size_t header_have;
    bool in_payload;            /* header complete, reading its payload */
    sb_ws_frame_header h;
    uint64_t payload_have;
    uint8_t control[SB_WS_MAX_CONTROL_PAYLOAD];
    uint8_t *message;           /* max_message_bytes: the one data message being read */
    bool closing;               /* our close frame is out: read only to find the peer's */
    uint64_t frame_start_ns;    /* first byte of the current frame */
    uint64_t last_rx_ns, last_ping_ns, linger_until_ns;
} ws_reader;

/* Ends normal reading after close_client() refused something: from now on frames are parsed
 * but their payloads dropped, until the peer's close frame, EOF or the linger bound. */
static void start_closing(ws_reader *r)
{
    r->closing = true;
    r->linger_until_ns = sb__monotonic_ns() + (uint64_t)SB_WS_CLOSE_LINGER_MS * 1000000ull;
}

/* The time bounds of a connection that is reading normally: true = still within them. */
static bool within_time_bounds(ws_reader *r, uint64_t now)
{
    sb_client *c = r->c;
    sb_server *srv = c->srv;
    int ack_ms = srv->opts.ack_timeout_ms;
    char why[96];
    if (!c->spoke && now - c->connected_ns > (uint64_t)SB_WS_FIRST_MESSAGE_MS * 1000000ull) {
        snprintf(why, sizeof why, "no message within %d ms of connecting", SB_WS_FIRST_MESSAGE_MS);
        close_client(c, SB_WS_CLOSE_POLICY, why, false);
        return false;
    }
    if ((r->header_have || r->in_payload) &&
        now - r->frame_start_ns > (uint64_t)SB_WS_FRAME_COMPLETE_MS * 1000000ull) {
        snprintf(why, sizeof why, "frame not complete within %d ms", SB_WS_FRAME_COMPLETE_MS);
        close_client(c, SB_WS_CLOSE_POLICY, why, false);
        return false;
    }
    /* Owing an ack matters only while a newer frame waits for the credit: a viewer of a still
     * scene has nothing newer to get, however long it sits. */
    pthread_mutex_lock(&c->mu);
    bool overdue = c->in_flight > 0 &&
                   now - c->in_flight_since_ns[0] > (uint64_t)ack_ms * 1000000ull;
    pthread_mutex_unlock(&c->mu);
    if (overdue) {
        if (sb__client_newer_waits(c)) {
            snprintf(why, sizeof why, "no ack for %d ms while frames wait", ack_ms);
            close_client(c, SB_WS_CLOSE_POLICY, why, false);
            return false;
        }
    }
    return true;
}

/* A whole frame is in: act on it. false = stop reading. */
static bool frame_complete(ws_reader *r)
{
    sb_client *c = r->c;
    const sb_ws_frame_header *h = &r->h;
    if (r->closing)
        return h->opcode != SB_WS_OP_CLOSE; /* the peer's close: the handshake is done */
    uint8_t *payload = (h->opcode & 0x08) ? r->control : r->message;
    sb__ws_unmask(payload, (size_t)h->payload_len, h->mask, 0);
    switch (h->opcode) {
    case SB_WS_OP_CLOSE:
        /* The peer closes first: answer (RFC 6455 5.5.1), then the server closes the TCP
         * connection. */
        write_close(c, SB_WS_CLOSE_NORMAL, "");
        return false;
    case SB_WS_OP_PING:
        write_control(c, MG_WEBSOCKET_OPCODE_PONG, payload, (size_t)h->payload_len);
        return true;
    case SB_WS_OP_PONG: return true;
    default: /* binary: sb__ws_frame_header_check let nothing else through */
        if (!handle_message(c, payload, (size_t)h->payload_len))
            start_closing(r);
        return true;
    }
}

/* Consumes n bytes just read into the current frame. false = stop reading. */
static bool consume(ws_reader *r, size_t n)
{
    if (!r->in_payload) {
        r->header_have += n;
        if (sb__ws_frame_header_decode(r->header, r->header_have, &r->h, NULL) == 0)
            return true;
        r->in_payload = true;
        r->payload_have = 0;
        sb_ws_close why;
        if (!r->closing &&
            !sb__ws_frame_header_check(&r->h, (uint64_t)r->c->srv->opts.max_message_bytes, &why)) {
            reject(r->c, why.code, why.reason); /* before a single payload byte is read */
            start_closing(r);
        }
    } else {
        r->payload_have += n;
    }
    if (r->payload_have < r->h.payload_len)
        return true;
    bool go_on = frame_complete(r);
    r->header_have = 0;
    r->in_payload = false;
    return go_on;
}

/* Where the next bytes go and how many to ask for: exactly the rest of the header or payload. */
static size_t next_read(ws_reader *r, uint8_t *scratch, size_t scratch_len, uint8_t **dst)
{
    if (!r->in_payload) {
        size_t need = 2;
        sb_ws_frame_header unused;
        sb__ws_frame_header_decode(r->header, r->header_have, &unused, &need);
        *dst = r->header + r->header_have;
        return need - r->header_have;
    }
    uint64_t left = r->h.payload_len - r->payload_have;
    if (r->closing) {
        *dst = scratch; /* dropped */
        return left < scratch_len ? (size_t)left : scratch_len;
    }
    *dst = ((r->h.opcode & 0x08) ? r->control : r->message) + r->payload_have;
    return (size_t)left; /* <= 125 or <= max_message_bytes: the header check saw to it */
}

/* Before each poll: whether to go on reading (the stop, the linger bound, a closed client,
 * the time bounds), and a ping to an idle peer. */
static bool reader_keeps_going(ws_reader *r, uint64_t now)
{
    sb_client *c = r->c;
    if (atomic_load(&c->stream->stopping))
        return false; /* the sender says 1001 */
    if (r->closing)
        return now < r->linger_until_ns;
    pthread_mutex_lock(&c->mu);
    bool gone = c->dead || c->closing;
    pthread_mutex_unlock(&c->mu);
    if (gone)
        return false;
    if (!within_time_bounds(r, now)) {
        start_closing(r);
        return true;
    }
    if (now - r->last_rx_ns > (uint64_t)SB_WS_PING_IDLE_MS * 1000000ull &&
        now - r->last_ping_ns > (uint64_t)SB_WS_PING_IDLE_MS * 1000000ull) {
        r->last_ping_ns = now;
        write_control(c, MG_WEBSOCKET_OPCODE_PING, "", 0);
    }
    return true;
}

typedef enum { READ_MORE, READ_IDLE, READ_END } read_step;

/* Waits up to SB_WS_POLL_MS for bytes and consumes what arrived. */
static read_step read_some(ws_reader *r, int fd, uint8_t *scratch, size_t scratch_len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int pr = poll(&p, 1, SB_WS_POLL_MS);
    if (pr < 0 && errno != EINTR)
        return READ_END;
    if (pr <= 0)
        return READ_IDLE;
    if (p.revents & (POLLERR | POLLNVAL))
        return READ_END;
    uint8_t *dst;
    size_t want = next_read(r, scratch, scratch_len, &dst);
    ssize_t n = recv(fd, dst, want, MSG_DONTWAIT);
    if (n == 0)
        return READ_END; /* the peer closed its side */
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? READ_IDLE : READ_END;
    r->last_rx_ns = sb__monotonic_ns();
    if (!r->in_payload && r->header_have == 0)
        r->frame_start_ns = r->last_rx_ns;
    return consume(r, (size_t)n) ? READ_MORE : READ_END;
}

/* Reads the client's frames from its socket until the connection ends: the peer closes, we
 * close it (bad input, a time bound, a dead sender) or the server stops. */
static void read_client(sb_client *c, int fd)
{
    ws_reader r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.message = malloc((size_t)c->srv->opts.max_message_bytes);
    if (!r.message) {
        close_client(c, SB_WS_CLOSE_TRY_AGAIN, "out of memory", false);
        return;
    }
    uint8_t scratch[4096];
    r.last_rx_ns = r.last_ping_ns = sb__monotonic_ns();
    while (reader_keeps_going(&r, sb__monotonic_ns()) &&
           read_some(&r, fd, scratch, sizeof scratch) != READ_END) {
    }
    free(r.message);
}

/* ---- civetweb callbacks ---------------------------------------------------------------------- */

/* The stream an upgrade to path asks for, with a reference (NULL: none; answered 404). */
static sb_server_stream *ws_stream(sb_server *srv, struct mg_connection *conn, const char *path)
{
    sb_server_stream *st = NULL;
    const char *rest = path;
    bool named = false;
    bool ok = sb__stream_resolve(srv, path, &st, &rest, &named);
    if (ok && st && strcmp(rest, "/ws") == 0)
        return st;
    sb__stream_unref(st);
    sb__http_reply_text(conn, 404, !ok || named ? "no such stream (the list: /streams)\n"
                        : strcmp(rest, "/ws") == 0 ? "no default stream on this server: see "
                                                     "/streams\n"
                                                   : "not found\n");
    return NULL;
}

static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
    sb_server *srv = cbdata;
    /* civetweb hands a const pointer to the same connection we may answer on. */
    struct mg_connection *conn = (struct mg_connection *)(uintptr_t)cconn;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *path = ri && ri->local_uri ? ri->local_uri : "";
    /* Access first: a refused caller learns nothing about the stream names. Its refusal is
     * counted in the stream it asked for (if it exists). */
    sb_server_stream *counted = NULL;
    const char *rest;
    bool named;
    (void)sb__stream_resolve(srv, path, &counted, &rest, &named);
    sb_access level = sb__access_check(srv, conn, true, counted ? &counted->stats : NULL);
    sb__stream_unref(counted);
    if (level == SB_ACCESS_DENIED)
        return 1;
    sb_server_stream *st = ws_stream(srv, conn, path);
    if (!st)
        return 1;
    sb_client *c = sb__client_new(&st->clients, srv, st, SB_CLIENT_WS, conn);
    if (!c || !sb__client_register(&st->clients, c)) {
        char text[64];
        snprintf(text, sizeof text, "503 %s\n", c ? c->refused_why : "out of memory");
        sb__client_free(c);
        sb__stream_unref(st);
        sb__http_reply(conn, 503, "text/plain; charset=utf-8", "Retry-After: 5\r\n", text,
                       strlen(text));
        return 1;
    }
    /* The client holds st's reference until ws_close: removal waits for it. */
    c->tokens = srv->opts.max_events_per_second;
    c->view_only = level == SB_ACCESS_VIEW;
    mg_set_user_connection_data(conn, c);
    return 0;
}

/* Runs in civetweb's worker thread right after the 101 response, before civetweb's own reader
 * (read_websocket) would start: starts the sender, then reads the client's frames here until the
 * connection ends. Shutting the socket down afterwards makes civetweb's reader return at once,
 * and ws_close runs as for any connection. */
static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    sb_client *c = mg_get_user_connection_data(conn);
    if (!c)
        return;
    c->conn = conn;
    /* Before the sender starts: it writes frames to the socket directly when it is known. */
    int fd = sb__conn_socket(conn);
    c->fd = fd;
    /* Under mu: sb__clients_close_all reads sender_started from another thread. */
    pthread_mutex_lock(&c->mu);
    if (pthread_create(&c->sender, NULL, sender_main, c) == 0) {
        c->sender_started = true;
    } else {
        sb__log("server: client %u: cannot start its sender thread", c->id);
        c->dead = true;
    }
    pthread_mutex_unlock(&c->mu);

    if (fd < 0) {
        /* Not expected; civetweb's reader then serves this client through ws_data, without
         * the header-first size check or the time bounds. */
        sb__log("server: client %u (%s): socket not found (reset by the peer already?): "
                "civetweb's reader serves it", c->id, c->remote);
        return;
    }
    /* Bytes a client sent before it had our 101 (RFC 6455 4.1 forbids that) are in civetweb's
     * buffer, out of our reach: the frames read here then start mid-stream and are refused, or
     * those first frames are lost. Browsers and civetweb's client wait for the 101. */
    read_client(c, fd);
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv);
    bool started = c->sender_started;
    pthread_mutex_unlock(&c->mu);
    /* The sender's last write (its 1001 on a stop) must be out before the socket closes. */
    if (started) {
        pthread_join(c->sender, NULL);
        c->sender_joined = true;
    }
    shutdown(fd, SHUT_RDWR);
    /* Bytes the peer sent before the shutdown are still queued, and civetweb's reader would
     * parse them (a declared length included): drop them. After the shutdown the kernel
     * answers new data with a reset, so this ends at once. */
    uint8_t sink[4096];
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
}

/* civetweb's reader calls this only when ws_ready could not read the socket itself, and for
 * bytes it had buffered before (ignored: the connection is closing by then). */
static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cbdata)
{
    sb_server *srv = cbdata;
    sb_client *c = mg_get_user_connection_data(conn);
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    bool dead = c->dead || c->closing;
    pthread_mutex_unlock(&c->mu);
    if (dead || atomic_load(&c->stream->stopping))
        return 0;
    int opcode = flags & 0x0f;
    bool fin = (flags & 0x80) != 0;
    switch (opcode) {
    case MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE: return 0;
    case MG_WEBSOCKET_OPCODE_PING:
    case MG_WEBSOCKET_OPCODE_PONG: return 1;
    case MG_WEBSOCKET_OPCODE_BINARY: break;
    case MG_WEBSOCKET_OPCODE_TEXT:
        return reject(c, SB_WS_CLOSE_UNSUPPORTED, "text messages are not part of the protocol");
    default: return reject(c, SB_WS_CLOSE_UNSUPPORTED, "fragmented or unknown frame");
    }
    if (len > (size_t)srv->opts.max_message_bytes)
        return reject(c, SB_WS_CLOSE_TOO_BIG, "message larger than max_message_bytes");
    if (!fin)
        return reject(c, SB_WS_CLOSE_UNSUPPORTED, "fragmented messages are not supported");
    return handle_message(c, (const uint8_t *)data, len);
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    sb_client *c = mg_get_user_connection_data(conn);
    if (!c)
        return;
    sb__client_close(c);
    if (c->sender_started && !c->sender_joined)
        pthread_join(c->sender, NULL);
    sb_server_stream *st = c->stream;
    sb__client_unregister(&st->clients, c);
    mg_set_user_connection_data(conn, NULL);
    sb__client_free(c);
    sb__stream_unref(st);
}

void sb__ws_install(sb_server *srv)
{
    /* Every upgrade comes here: /ws (the default stream) and /v/NAME/ws; ws_connect answers
     * 404 for any other path, and for unknown or malformed names. */
    mg_set_websocket_handler(srv->ctx, "**", ws_connect, ws_ready, ws_data, ws_close, srv);
}
