/* test_ws_hostile.c - the /ws endpoint against hostile clients (issue #8): frame headers refused
 * before their payload is read (declared lengths, masking, control frames, RSV bits, opcodes),
 * clients that never ack or never speak, one address taking every slot. The frame header rules
 * and the message decoder are pure functions and are tested alone first. Raw sockets on
 * 127.0.0.1 (civetweb's client cannot send a bad frame), a real server on an ephemeral port. */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_cunit.h"

#include "wire.h"
#include "ws_frame.h"
#include "ws_message.h"

#include <poll.h>
#include <sys/socket.h>
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

/* ---- raw WebSocket client -------------------------------------------------------------------- */

/* Opens /ws on a raw socket and reads the reply's header block byte by byte (so no frame byte
 * after it is consumed). Returns the fd after a 101, else -1; *status gets the status. */
static int raw_ws_open(int port, int *status, char *body, size_t body_size)
{
    *status = -1;
    if (body)
        body[0] = '\0';
    int fd = st_raw_connect(port);
    if (fd < 0)
        return -1;
    char req[768];
    st_ws_upgrade_request(req, sizeof req, port, "/ws", NULL, NULL);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {ST_DEADLINE_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char head[2048];
    size_t n = 0;
    while (n + 1 < sizeof head && !(n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)) {
        if (recv(fd, head + n, 1, 0) != 1)
            break;
        n++;
    }
    head[n] = '\0';
    if (sscanf(head, "HTTP/1.%*d %d", status) != 1)
        *status = -1;
    if (*status != 101) {
        if (body) {
            ssize_t r = recv(fd, body, body_size - 1, 0);
            body[r > 0 ? r : 0] = '\0';
        }
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends a frame with byte 0 = b0, the given mask bit, and the DECLARED length (minimally
 * encoded); only the n bytes of payload are sent after the header (masked when masked). */
static bool raw_send_frame(int fd, uint8_t b0, bool masked, uint64_t declared, const void *payload,
                           size_t n)
{
    uint8_t h[14];
    size_t hn = 0;
    h[hn++] = b0;
    uint8_t mbit = masked ? 0x80 : 0;
    if (declared < 126) {
        h[hn++] = (uint8_t)(mbit | declared);
    } else if (declared <= 0xFFFF) {
        h[hn++] = mbit | 126;
        h[hn++] = (uint8_t)(declared >> 8);
        h[hn++] = (uint8_t)declared;
    } else {
        h[hn++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            h[hn++] = (uint8_t)(declared >> (8 * i));
    }
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) {
        memcpy(h + hn, key, 4);
        hn += 4;
    }
    if (send(fd, h, hn, MSG_NOSIGNAL) != (ssize_t)hn)
        return false;
    uint8_t buf[4096];
    const uint8_t *p = payload;
    size_t off = 0;
    while (off < n) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        memcpy(buf, p + off, k);
        if (masked)
            for (size_t i = 0; i < k; i++)
                buf[i] ^= key[(off + i) & 3];
        ssize_t w = send(fd, buf, k, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    return true;
}

static bool recv_exact(int fd, void *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)dst + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Reads one server frame (unmasked). Its payload goes to buf (truncated at cap, the rest is
 * skipped). false on EOF, error or the receive timeout. */
static bool raw_read_frame(int fd, int *opcode, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t h[10];
    if (!recv_exact(fd, h, 2))
        return false;
    *opcode = h[0] & 0x0f;
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        if (!recv_exact(fd, h + 2, 2))
            return false;
        n = (uint64_t)h[2] << 8 | h[3];
    } else if (n == 127) {
        if (!recv_exact(fd, h + 2, 8))
            return false;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | h[2 + i];
    }
    *len = (size_t)n;
    for (uint64_t at = 0; at < n;) {
        uint8_t skip[4096];
        size_t k = n - at < sizeof skip ? (size_t)(n - at) : sizeof skip;
        if (!recv_exact(fd, skip, k))
            return false;
        if (at < cap)
            memcpy(buf + at, skip, at + k <= cap ? k : cap - (size_t)at);
        at += k;
    }
    return true;
}

/* The code of the server's close frame (skipping other frames), or -1 when the connection ended
 * without one. */
static int raw_wait_close_code(int fd)
{
    struct timeval tv = {ST_DEADLINE_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        int op;
        uint8_t p[128];
        size_t n;
        if (!raw_read_frame(fd, &op, p, sizeof p, &n))
            return -1;
        if (op == SB_WS_OP_CLOSE)
            return n >= 2 ? p[0] << 8 | p[1] : 1005;
    }
}

/* Opens /ws raw, sends one frame, expects the server to close with code; the server keeps
 * serving a normal client meanwhile. */
static void expect_frame_closes_with(st_server *f, uint8_t b0, bool masked, const void *payload,
                                     size_t n, int code)
{
    int status;
    int fd = raw_ws_open(f->port, &status, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(status, 101);
    CU_ASSERT(raw_send_frame(fd, b0, masked, n, payload, n));
    int got = raw_wait_close_code(fd);
    if (got != code)
        fprintf(stderr, "\n  frame 0x%02x (masked %d, %zu bytes): close %d, expected %d\n", b0,
                masked, n, got, code);
    CU_ASSERT_EQUAL(got, code);
    close(fd);
}

/* Resident set size of this process (server and clients both live here), bytes. */
static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static bool wait_clients(st_server *f, uint32_t n)
{
    bool ok;
    ST_WAIT_UNTIL(ok, st_server_stats(f->srv).clients == n, ST_DEADLINE_MS);
    return ok;
}

/* ---- the frame header rules (pure) ------------------------------------------------------------ */

static void test_header_decode_waits_for_every_length_form(void)
{
    sb_ws_frame_header h;
    size_t need = 0;
    uint8_t b[14] = {0x82, 0x80 | 5, 1, 2, 3, 4};
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b, 1, &h, &need), 0);
    CU_ASSERT_EQUAL(need, 2);
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b, 2, &h, &need), 0);
    CU_ASSERT_EQUAL(need, 6); /* the mask follows */
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b, 6, &h, &need), 6);
    CU_ASSERT(h.fin && h.masked && h.opcode == SB_WS_OP_BINARY && h.payload_len == 5);
    CU_ASSERT_EQUAL(h.mask[3], 4);

    uint8_t b16[8] = {0x82, 0x80 | 126, 0x01, 0x00, 9, 9, 9, 9};
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b16, 3, &h, &need), 0);
    CU_ASSERT_EQUAL(need, 8);
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b16, 8, &h, &need), 8);
    CU_ASSERT_EQUAL(h.payload_len, 256);
    CU_ASSERT(h.minimal_length);

    uint8_t b64[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4}; /* 2^30 */
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b64, 13, &h, &need), 0);
    CU_ASSERT_EQUAL(need, 14);
    CU_ASSERT_EQUAL(sb__ws_frame_header_decode(b64, 14, &h, &need), 14);
    CU_ASSERT_EQUAL(h.payload_len, 1ull << 30);
    CU_ASSERT(h.minimal_length);
    b64[2] = 0x80; /* the top bit must be 0 */
    sb__ws_frame_header_decode(b64, 14, &h, &need);
    CU_ASSERT_FALSE(h.minimal_length);
}

/* Decodes b[0..n) and checks it against a 4096-byte limit; the close code, or 0 if accepted. */
static int check_code(const uint8_t *b, size_t n)
{
    sb_ws_frame_header h;
    sb_ws_close why = {0, ""};
    if (sb__ws_frame_header_decode(b, n, &h, NULL) == 0)
        return -1;
    if (sb__ws_frame_header_check(&h, 4096, &why))
        return 0;
    CU_ASSERT(strlen(why.reason) > 0);
    return why.code;
}

static void test_header_check_refuses_what_rfc6455_and_we_forbid(void)
{
    const uint8_t m = 0x80; /* mask bit */
    uint8_t ok[6] = {0x82, m | 12};
    CU_ASSERT_EQUAL(check_code(ok, 6), 0);
    uint8_t ping[6] = {0x89, m | 125};
    CU_ASSERT_EQUAL(check_code(ping, 6), 0);
    uint8_t unmasked[2] = {0x82, 12};
    CU_ASSERT_EQUAL(check_code(unmasked, 2), 1002);
    uint8_t big_control[8] = {0x89, m | 126, 0, 200};
    CU_ASSERT_EQUAL(check_code(big_control, 8), 1002);
    uint8_t fragmented_control[6] = {0x09, m | 1};
    CU_ASSERT_EQUAL(check_code(fragmented_control, 6), 1002);
    uint8_t rsv[6] = {0x82 | 0x40, m | 12};
    CU_ASSERT_EQUAL(check_code(rsv, 6), 1002);
    uint8_t continuation[6] = {0x80, m | 12};
    CU_ASSERT_EQUAL(check_code(continuation, 6), 1002);
    for (uint8_t op = 3; op <= 0xF; op++) {
        if (op == SB_WS_OP_CLOSE || op == SB_WS_OP_PING || op == SB_WS_OP_PONG)
            continue;
        uint8_t unknown[6] = {(uint8_t)(0x80 | op), m | 1};
        CU_ASSERT_EQUAL(check_code(unknown, 6), 1002);
    }
    uint8_t not_minimal[8] = {0x82, m | 126, 0, 12};
    CU_ASSERT_EQUAL(check_code(not_minimal, 8), 1002);
    uint8_t huge[14] = {0x82, m | 127, 0, 0, 0, 0, 0x40, 0, 0, 0};
    CU_ASSERT_EQUAL(check_code(huge, 14), 1009);
    uint8_t just_over[8] = {0x82, m | 126, 0x10, 0x01}; /* 4097 */
    CU_ASSERT_EQUAL(check_code(just_over, 8), 1009);
    uint8_t at_limit[8] = {0x82, m | 126, 0x10, 0x00};
    CU_ASSERT_EQUAL(check_code(at_limit, 8), 0);
    uint8_t fragmented[6] = {0x02, m | 12};
    CU_ASSERT_EQUAL(check_code(fragmented, 6), 1003);
    uint8_t text[6] = {0x81, m | 12};
    CU_ASSERT_EQUAL(check_code(text, 6), 1003);
}

static void test_message_decoder_validates_each_type(void)
{
    sb_wire_client_msg msg;
    sb_ws_close why;
    unsigned char hello[12], ev[80];
    st_hello(hello, 640, 480);
    CU_ASSERT(sb__wire_decode_client_message(hello, 12, &msg, &why));
    CU_ASSERT_EQUAL(msg.type, SB_WIRE_MSG_HELLO);
    CU_ASSERT_EQUAL(msg.view_w, 640);
    CU_ASSERT_FALSE(sb__wire_decode_client_message(hello, 11, &msg, &why));
    CU_ASSERT_EQUAL(why.code, 1007);
    hello[1] = 9;
    CU_ASSERT_FALSE(sb__wire_decode_client_message(hello, 12, &msg, &why));
    CU_ASSERT_EQUAL(why.code, 1003);

    unsigned char ack[12] = {2, 0, 0, 0, 7};
    CU_ASSERT(sb__wire_decode_client_message(ack, 12, &msg, &why));
    CU_ASSERT_EQUAL(msg.ack_seq, 7);

    st_event(ev, SB_EVENT_BUTTON_PRESS, SB_BUTTON_LEFT, 10.5f, 20.0f, 640, 480);
    CU_ASSERT(sb__wire_decode_client_message(ev, 80, &msg, &why));
    CU_ASSERT(msg.positional);
    CU_ASSERT_EQUAL(msg.event.type, SB_EVENT_BUTTON_PRESS);
    CU_ASSERT_EQUAL(msg.x, 10.5f);
    st_event(ev, SB_EVENT_POINTER_MOVE, 0, 1, 1, 20000, 480);
    CU_ASSERT_FALSE(sb__wire_decode_client_message(ev, 80, &msg, &why));
    CU_ASSERT_EQUAL(why.code, 1007);
    st_event(ev, SB_EVENT_BUTTON_PRESS, 0, 1, 1, 640, 480); /* press without a button */
    CU_ASSERT_FALSE(sb__wire_decode_client_message(ev, 80, &msg, &why));
    CU_ASSERT_EQUAL(why.code, 1007);
    CU_ASSERT_PTR_NOT_NULL(strstr(why.reason, "event: "));

    unsigned char unknown[12] = {0x7f};
    CU_ASSERT_FALSE(sb__wire_decode_client_message(unknown, 12, &msg, &why));
    CU_ASSERT_EQUAL(why.code, 1003);
    CU_ASSERT_FALSE(sb__wire_decode_client_message(unknown, 0, &msg, &why));
    CU_ASSERT_EQUAL(why.code, 1007);
}

/* ---- frames on a real server ----------------------------------------------------------------- */

typedef struct bulk_writer {
    int fd;
    size_t bytes;
    pthread_t thread;
} bulk_writer;

/* Sends bytes of payload (already past the header) until done or the server hangs up. */
static void *bulk_writer_main(void *arg)
{
    bulk_writer *b = arg;
    static const uint8_t chunk[65536]; /* zeros: masked or not, the server must not keep them */
    size_t sent = 0;
    while (sent < b->bytes) {
        ssize_t w = send(b->fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    return NULL;
}

/* civetweb 1.15 allocated the declared length and read the whole payload before our callback
 * could refuse it: four clients declaring 2^30 bytes took the server past 1 GB. */
static void test_declared_huge_length_closes_1009_before_any_payload_is_kept(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    st_publish_one(f.ring, W, H);
    st_ws good;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&good, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&good, 1, ST_DEADLINE_MS), 1);
    uint64_t rejected = st_server_stats(f.srv).messages_rejected;

    enum { CONNS = 4 };
    const size_t per_conn = 8u << 20;
    int fds[CONNS];
    bulk_writer writers[CONNS];
    long rss_before = rss_bytes();
    for (int i = 0; i < CONNS; i++) {
        int status;
        fds[i] = raw_ws_open(f.port, &status, NULL, 0);
        CU_ASSERT_EQUAL_FATAL(status, 101);
        CU_ASSERT(raw_send_frame(fds[i], 0x82, true, 1ull << 30, NULL, 0));
        writers[i].fd = fds[i];
        writers[i].bytes = per_conn;
        pthread_create(&writers[i].thread, NULL, bulk_writer_main, &writers[i]);
    }
    /* The writers end when the server has taken (or refused) their 8 MiB. */
    for (int i = 0; i < CONNS; i++)
        pthread_join(writers[i].thread, NULL);
    long grown = rss_bytes() - rss_before;
    printf("\n  RSS growth after %d clients declared 2^30 bytes and sent %zu MiB each: %.1f MiB\n",
           CONNS, per_conn >> 20, (double)grown / (1 << 20));
    CU_ASSERT(grown < 16l << 20);
    for (int i = 0; i < CONNS; i++) {
        CU_ASSERT_EQUAL(raw_wait_close_code(fds[i]), 1009);
        close(fds[i]);
    }
    CU_ASSERT(st_server_stats(f.srv).messages_rejected >= rejected + CONNS);
    /* Everyone else keeps streaming. */
    st_publish_one(f.ring, W, H);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&good, 2, ST_DEADLINE_MS), 2);
    CU_ASSERT_FALSE(good.closed);
    st_ws_close(&good);
    st_server_stop(&f);
}

static void test_protocol_violations_close_with_the_rfc6455_code(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    unsigned char hello[12];
    st_hello(hello, W, H);
    uint8_t big[200];
    memset(big, 'p', sizeof big);
    expect_frame_closes_with(&f, 0x82, false, hello, sizeof hello, 1002); /* unmasked */
    expect_frame_closes_with(&f, 0x89, true, big, sizeof big, 1002);      /* 200-byte ping */
    expect_frame_closes_with(&f, 0x09, true, big, 4, 1002);               /* fragmented ping */
    expect_frame_closes_with(&f, 0xC2, true, hello, sizeof hello, 1002);  /* RSV1 */
    expect_frame_closes_with(&f, 0x80, true, hello, sizeof hello, 1002);  /* continuation */
    expect_frame_closes_with(&f, 0x83, true, hello, sizeof hello, 1002);  /* opcode 3 */
    expect_frame_closes_with(&f, 0x02, true, hello, sizeof hello, 1003);  /* no FIN */
    expect_frame_closes_with(&f, 0x81, true, "hi", 2, 1003);             /* text */
    /* The message decoder's codes come through the same reader. */
    hello[2] = 1;
    expect_frame_closes_with(&f, 0x82, true, hello, sizeof hello, 1007);
    CU_ASSERT(st_server_stats(f.srv).messages_rejected >= 9);
    st_server_stop(&f);
}

static void test_ping_is_answered_with_pong_and_a_close_with_a_close(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    int status;
    int fd = raw_ws_open(f.port, &status, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(status, 101);
    CU_ASSERT(raw_send_frame(fd, 0x89, true, 5, "hello", 5));
    struct timeval tv = {ST_DEADLINE_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int op = -1;
    uint8_t p[128];
    size_t n = 0;
    CU_ASSERT(raw_read_frame(fd, &op, p, sizeof p, &n));
    CU_ASSERT_EQUAL(op, SB_WS_OP_PONG);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT(memcmp(p, "hello", 5) == 0);
    /* Still open and served: a hello is accepted after it. */
    unsigned char hello[12];
    st_hello(hello, W, H);
    CU_ASSERT(raw_send_frame(fd, 0x82, true, sizeof hello, hello, sizeof hello));
    const uint8_t normal[2] = {0x03, 0xe8};
    CU_ASSERT(raw_send_frame(fd, 0x88, true, 2, normal, 2));
    CU_ASSERT_EQUAL(raw_wait_close_code(fd), 1000);
    char eof;
    CU_ASSERT_EQUAL(recv(fd, &eof, 1, 0), 0); /* then the server closes the TCP connection */
    close(fd);
    CU_ASSERT(wait_clients(&f, 0));
    CU_ASSERT_EQUAL(st_server_stats(f.srv).messages_rejected, 0);
    st_server_stop(&f);
}

/* ---- clients that hold a slot without taking part --------------------------------------------- */

static void test_never_acking_clients_are_closed_and_their_slots_reused(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_clients = 3;
    o.ack_timeout_ms = 500;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    enum { LAZY = 3 };
    st_ws lazy[LAZY];
    unsigned char hello[12];
    st_hello(hello, W, H);
    for (int i = 0; i < LAZY; i++) {
        CU_ASSERT_EQUAL_FATAL(st_ws_connect(&lazy[i], f.port, "/ws", NULL, false), 0);
        st_ws_send(&lazy[i], hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    }
    CU_ASSERT_EQUAL(st_ws_upgrade_status(f.port, "/ws", NULL), 503); /* all slots taken */
    /* Each lazy client gets its 2 frames of credit (published one at a time, each waited for, so
     * no frame waits while a busy sender has not sent the previous one yet), then owes acks
     * while a newer frame waits. */
    for (int n = 1; n <= 2; n++) {
        st_publish_one(f.ring, W, H);
        for (int i = 0; i < LAZY; i++)
            CU_ASSERT_EQUAL(st_ws_wait_frames(&lazy[i], n, ST_DEADLINE_MS), n);
    }
    st_publish_one(f.ring, W, H); /* newer than their credit allows */
    for (int i = 0; i < LAZY; i++) {
        CU_ASSERT(st_ws_wait_closed(&lazy[i], ST_DEADLINE_MS));
        CU_ASSERT_EQUAL(lazy[i].close_code, 1008);
        CU_ASSERT_EQUAL(lazy[i].frames, 2);
    }
    CU_ASSERT(wait_clients(&f, 0));
    /* A client that acks takes a freed slot and keeps streaming. Each frame is published once the
     * previous one arrived (the client acks each one as it arrives), so a frame never waits behind
     * an ack a busy machine is still delivering: only a client that never acks is closed. */
    st_ws fresh;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&fresh, f.port, "/ws", NULL, true), 0);
    for (int i = 1; i <= 5; i++) {
        st_publish_one(f.ring, W, H);
        CU_ASSERT(st_ws_wait_frames(&fresh, i, ST_DEADLINE_MS) >= i);
    }
    CU_ASSERT_FALSE(fresh.closed);
    st_ws_close(&fresh);
    for (int i = 0; i < LAZY; i++)
        st_ws_close(&lazy[i]);
    st_server_stop(&f);
}

/* A viewer of a still scene has nothing newer to get: it is never closed for owing an ack, nor
 * for sending nothing after its hello. */
static void test_still_scene_viewer_is_not_closed_for_idleness(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.ack_timeout_ms = 200;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_ws acking, silent;
    unsigned char hello[12];
    st_hello(hello, W, H);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&acking, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&silent, f.port, "/ws", NULL, false), 0);
    st_ws_send(&acking, hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    st_ws_send(&silent, hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    st_publish_one(f.ring, W, H);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&acking, 1, ST_DEADLINE_MS), 1);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&silent, 1, ST_DEADLINE_MS), 1); /* never acked */
    st_sleep_ms(2000); /* grace: ten ack timeouts with nothing newer to send */
    CU_ASSERT_FALSE(acking.closed);
    CU_ASSERT_FALSE(silent.closed);
    CU_ASSERT_EQUAL(st_server_stats(f.srv).clients, 2);
    st_ws_close(&acking);
    st_ws_close(&silent);
    st_server_stop(&f);
}

/* A connection that says nothing, or starts a frame and never finishes it, only holds a slot. */
static void test_silent_or_stalled_clients_are_closed(void)
{
    st_server f;
    CU_ASSERT_EQUAL_FATAL(fixture_start(&f), 0);
    int status;
    int silent = raw_ws_open(f.port, &status, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(status, 101);
    int stalled = raw_ws_open(f.port, &status, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(status, 101);
    unsigned char hello[12];
    st_hello(hello, W, H);
    CU_ASSERT(raw_send_frame(stalled, 0x82, true, sizeof hello, hello, sizeof hello));
    const uint8_t half_header[3] = {0x82, 0x80 | 12, 0x12}; /* the mask never completes */
    CU_ASSERT(send(stalled, half_header, sizeof half_header, MSG_NOSIGNAL) == 3);
    uint64_t t0 = sb__monotonic_ns();
    CU_ASSERT_EQUAL(raw_wait_close_code(silent), 1008); /* the 10 s first-message bound */
    CU_ASSERT_EQUAL(raw_wait_close_code(stalled), 1008); /* the 10 s frame bound */
    printf("\n  silent and stalled clients closed after %.1f s\n",
           (double)(sb__monotonic_ns() - t0) / 1e9);
    close(silent);
    close(stalled);
    CU_ASSERT(wait_clients(&f, 0));
    CU_ASSERT_EQUAL(st_server_stats(f.srv).messages_rejected, 0); /* out of time is not bad input */
    st_server_stop(&f);
}

/* ---- one address, many slots ------------------------------------------------------------------ */

static void test_per_address_cap_refuses_with_503_then_a_freed_slot_works(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.max_clients_per_address = 2; /* every test client is 127.0.0.1 */
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    st_publish_one(f.ring, W, H);
    st_ws a, b;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&a, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&b, f.port, "/ws", NULL, true), 0);
    uint64_t refused = st_server_stats(f.srv).clients_refused;
    int status;
    char body[256];
    CU_ASSERT_EQUAL(raw_ws_open(f.port, &status, body, sizeof body), -1);
    CU_ASSERT_EQUAL(status, 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "too many clients from this address"));
    st_response r;
    CU_ASSERT_EQUAL(st_http_get(f.port, "/video.mjpeg", NULL, 4096, &r), 0);
    CU_ASSERT_EQUAL(r.status, 503);
    CU_ASSERT_PTR_NOT_NULL(r.body ? strstr(r.body, "from this address") : NULL);
    st_response_free(&r);
    CU_ASSERT_EQUAL(st_server_stats(f.srv).clients_refused, refused + 2);
    /* Other endpoints are not clients: still served. */
    CU_ASSERT_EQUAL(st_http_status(f.port, "/snapshot.jpg", NULL), 200);

    st_ws_close(&a);
    CU_ASSERT(wait_clients(&f, 1));
    st_ws c;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&c, f.port, "/ws", NULL, true), 0);
    CU_ASSERT_EQUAL(st_ws_wait_frames(&c, 1, ST_DEADLINE_MS), 1);
    st_ws_close(&b);
    st_ws_close(&c);
    st_server_stop(&f);
}

static void test_options_bound_the_new_limits(void)
{
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&ro, &ring), SB_OK);
    sb_server *srv = NULL;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL(o.max_clients_per_address, 16);
    CU_ASSERT_EQUAL(o.ack_timeout_ms, 30000);
    o.port = 0;
    o.max_clients_per_address = -1;
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &o, &srv), SB_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "max_clients_per_address"));
    o.max_clients_per_address = 0;
    o.ack_timeout_ms = 10;
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &o, &srv), SB_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "ack_timeout_ms"));
    sb_frame_ring_destroy(ring);
}

static CU_TestInfo pure_tests[] = {
    {"header_decode_waits_for_every_length_form", test_header_decode_waits_for_every_length_form},
    {"header_check_refuses_what_rfc6455_and_we_forbid",
     test_header_check_refuses_what_rfc6455_and_we_forbid},
    {"message_decoder_validates_each_type", test_message_decoder_validates_each_type},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo server_tests[] = {
    {"declared_huge_length_closes_1009_before_any_payload_is_kept",
     test_declared_huge_length_closes_1009_before_any_payload_is_kept},
    {"protocol_violations_close_with_the_rfc6455_code",
     test_protocol_violations_close_with_the_rfc6455_code},
    {"ping_is_answered_with_pong_and_a_close_with_a_close",
     test_ping_is_answered_with_pong_and_a_close_with_a_close},
    {"never_acking_clients_are_closed_and_their_slots_reused",
     test_never_acking_clients_are_closed_and_their_slots_reused},
    {"still_scene_viewer_is_not_closed_for_idleness",
     test_still_scene_viewer_is_not_closed_for_idleness},
    {"silent_or_stalled_clients_are_closed", test_silent_or_stalled_clients_are_closed},
    {"per_address_cap_refuses_with_503_then_a_freed_slot_works",
     test_per_address_cap_refuses_with_503_then_a_freed_slot_works},
    {"options_bound_the_new_limits", test_options_bound_the_new_limits},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ws_frame_rules", NULL, NULL, NULL, NULL, pure_tests},
    {"ws_hostile", st_suite_init, NULL, NULL, NULL, server_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
