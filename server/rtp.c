/* rtp.c - the RTP sender (rtp.h): one thread, one UDP socket. The thread sleeps in poll() on the
 * socket (RTCP from the gateway) and an eventfd (the encoder published: sb__rtp_sender_wake);
 * it sends every packet of its codec in order, a sender report every SB_RTCP_INTERVAL_MS (which
 * also tells the gateway where to send its feedback), and asks for keyframes when the gateway
 * or the period wants one. */
#include "rtp.h"

#include "codec.h"
#include "rtp_packet.h"
#include "sb_clock.h"
#include "sb_error_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sender reports: often enough that a gateway restarted (or a mountpoint recreated) learns our
 * feedback address again within a couple of seconds. */
#define SB_RTCP_INTERVAL_MS 2000
/* After the codec failed (a size it refuses), the sender leaves it and tries again this late. */
#define SB_RTP_REJOIN_MS 1000
/* RTP clock rate of video (RFC 6184, RFC 7741). */
#define SB_RTP_CLOCK_HZ 90000u

struct sb_rtp_sender {
    /* Fixed after create. */
    int codec;
    int fd;      /* UDP, unconnected: RTP to rtp_port, RTCP to rtcp_port of the same host */
    int wake_fd; /* eventfd */
    struct sockaddr_storage rtp_addr, rtcp_addr;
    socklen_t addr_len;
    bool has_rtcp;
    int keyframe_interval_ms;
    char host[64];

    sb_encoder *enc;
    pthread_t thread;
    bool started;
    atomic_bool stopping;

    /* The thread's own. */
    sb_rtp_packetizer pk;
    uint32_t ts_offset;   /* random start of the RTP clock (RFC 3550 5.1) */
    uint32_t last_ts;
    bool sent_any;
    uint32_t packets, octets; /* for the sender report (payload octets) */

#define SB_RTP_ATOMIC_(name, text) atomic_uint_fast64_t name;
    SB_RTP_COUNTER_MAP(SB_RTP_ATOMIC_)
#undef SB_RTP_ATOMIC_
};

#define RTP_ADD(s, name, n) atomic_fetch_add_explicit(&(s)->name, (n), memory_order_relaxed)

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint32_t)sb__monotonic_ns() * 2654435761u;
    return v;
}

/* RTP timestamp of a CLOCK_REALTIME instant (90 kHz, from the random offset). */
static uint32_t rtp_clock(const sb_rtp_sender *s, uint64_t realtime_ns)
{
    return s->ts_offset + (uint32_t)(realtime_ns / 100000ull * (SB_RTP_CLOCK_HZ / 10000u));
}

static int resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int sb__rtp_sender_create(const sb_server_options *o, const char *func, sb_rtp_sender **out)
{
    *out = NULL;
    sb_rtp_sender *s = calloc(1, sizeof *s);
    if (!s)
        return sb__set_error(SB_ENOMEM, func, "cannot allocate the RTP sender");
    s->fd = s->wake_fd = -1;
    s->codec = o->rtp_codec && *o->rtp_codec ? sb__codec_by_name(o->rtp_codec, strlen(o->rtp_codec))
                                             : SB_CODEC_H264;
    snprintf(s->host, sizeof s->host, "%s", o->rtp_host);
    s->keyframe_interval_ms = o->rtp_keyframe_interval_ms;
    if (resolve(o->rtp_host, o->rtp_port, &s->rtp_addr, &s->addr_len) != 0) {
        free(s);
        return sb__set_error(SB_EINVAL, func, "rtp_host \"%.64s\" is not a numeric address",
                             o->rtp_host);
    }
    s->has_rtcp = o->rtp_rtcp_port > 0;
    socklen_t rtcp_len = 0;
    if (s->has_rtcp)
        resolve(o->rtp_host, o->rtp_rtcp_port, &s->rtcp_addr, &rtcp_len);
    s->fd = socket(s->rtp_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->fd < 0 || s->wake_fd < 0) {
        int err = errno;
        sb__rtp_sender_destroy(s);
        return sb__set_error(SB_EIO, func, "cannot open the RTP socket: %s", strerror(err));
    }
    s->pk.codec = s->codec;
    s->pk.payload_type = (uint8_t)o->rtp_payload_type;
    s->pk.mtu = (size_t)o->rtp_mtu;
    s->pk.ssrc = random32();
    s->pk.seq = (uint16_t)random32();
    s->pk.picture_id = (uint16_t)(random32() & 0x7fff);
    s->ts_offset = random32();
    atomic_init(&s->stopping, false);
#define SB_RTP_INIT_(name, text) atomic_init(&s->name, 0);
    SB_RTP_COUNTER_MAP(SB_RTP_INIT_)
#undef SB_RTP_INIT_
    *out = s;
    return SB_OK;
}

void sb__rtp_sender_wake(sb_rtp_sender *s)
{
    if (!s)
        return;
    uint64_t one = 1;
    /* EAGAIN (the counter is full) still leaves it readable: the wake-up is not lost. */
    ssize_t n = write(s->wake_fd, &one, sizeof one);
    (void)n;
}

static int emit_packet(void *user, const uint8_t *pkt, size_t len)
{
    sb_rtp_sender *s = user;
    ssize_t n = sendto(s->fd, pkt, len, 0, (const struct sockaddr *)&s->rtp_addr, s->addr_len);
    if (n != (ssize_t)len) {
        /* Nobody listening (ICMP port unreachable comes back as ECONNREFUSED on a later send),
         * or the socket buffer is full: this packet is lost, the viewers' PLI repairs it. */
        RTP_ADD(s, send_errors, 1);
        return 0;
    }
    RTP_ADD(s, packets_sent, 1);
    RTP_ADD(s, bytes_sent, len);
    s->packets++;
    s->octets += (uint32_t)(len - SB_RTP_HEADER_BYTES);
    return 0;
}

static void send_frame(sb_rtp_sender *s, const sb_encoded_frame *f)
{
    uint64_t at = f->capture_ns ? f->capture_ns : sb__realtime_ns();
    uint32_t ts = rtp_clock(s, at);
    /* A re-encode of the same picture (a forced keyframe on a still scene) is a new frame for
     * the receiver: its timestamp must move on. */
    if (s->sent_any && (int32_t)(ts - s->last_ts) <= 0)
        ts = s->last_ts + SB_RTP_CLOCK_HZ / 1000u;
    s->last_ts = ts;
    s->sent_any = true;
    if (sb__rtp_packetize(&s->pk, f->data, f->len, ts, emit_packet, s) > 0) {
        RTP_ADD(s, frames_sent, 1);
        if (f->keyframe)
            RTP_ADD(s, keyframes_sent, 1);
    }
}

static void send_sender_report(sb_rtp_sender *s)
{
    if (!s->has_rtcp)
        return;
    uint8_t buf[32];
    uint64_t now = sb__realtime_ns();
    size_t len = sb__rtcp_sender_report(buf, s->pk.ssrc, now, rtp_clock(s, now), s->packets,
                                        s->octets);
    ssize_t n = sendto(s->fd, buf, len, 0, (const struct sockaddr *)&s->rtcp_addr, s->addr_len);
    if (n == (ssize_t)len)
        RTP_ADD(s, rtcp_sent, 1);
    else
        RTP_ADD(s, send_errors, 1);
}

static void request_key(sb_rtp_sender *s)
{
    RTP_ADD(s, keyframes_requested, 1);
    sb__encoder_video_want_key(s->enc, s->codec);
}

/* Whether from (a datagram's source) is the gateway: its address, any port. */
static bool from_gateway(const sb_rtp_sender *s, const struct sockaddr_storage *from)
{
    if (from->ss_family != s->rtp_addr.ss_family)
        return false;
    if (from->ss_family == AF_INET)
        return ((const struct sockaddr_in *)from)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&s->rtp_addr)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr,
                  &((const struct sockaddr_in6 *)&s->rtp_addr)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

/* Reads every datagram waiting on the socket: the gateway's RTCP feedback. */
static void read_feedback(sb_rtp_sender *s)
{
    for (;;) {
        uint8_t buf[1500];
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(s->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN, or an ICMP error of an earlier send (counted there) */
        }
        sb_rtcp_feedback fb;
        if (!from_gateway(s, &from) || !sb__rtcp_parse(buf, (size_t)n, &fb)) {
            RTP_ADD(s, rtcp_rejected, 1);
            continue;
        }
        RTP_ADD(s, rtcp_received, 1);
        RTP_ADD(s, pli_received, fb.pli);
        RTP_ADD(s, fir_received, fb.fir);
        RTP_ADD(s, nack_received, fb.nack);
        if (fb.pli || fb.fir)
            request_key(s); /* merged and rate-limited by the encoder */
    }
}

/* Sends every packet the encoder has for us. false: the codec failed. */
static bool drain(sb_rtp_sender *s, sb_video_cursor *cur)
{
    for (;;) {
        bool failed = false;
        sb_encoded_frame *f = sb__encoder_video_next(s->enc, s->codec, cur, &failed);
        if (failed)
            return false;
        if (!f)
            return true;
        send_frame(s, f);
        sb__frame_unref(f);
    }
}

static int ms_until(uint64_t now, uint64_t due)
{
    return due > now ? (int)((due - now + 999999ull) / 1000000ull) : 0;
}

static void *sender_main(void *arg)
{
    sb_rtp_sender *s = arg;
    sb_video_cursor cur;
    sb__encoder_video_join(s->enc, s->codec, &cur); /* a new user starts at a keyframe */
    bool joined = true, failure_logged = false;
    uint64_t now = sb__monotonic_ns();
    uint64_t next_report = now, rejoin_at = 0;
    uint64_t period = (uint64_t)s->keyframe_interval_ms * 1000000ull;
    uint64_t next_key = period ? now + period : UINT64_MAX;
    while (!atomic_load(&s->stopping)) {
        now = sb__monotonic_ns();
        if (now >= next_report) {
            send_sender_report(s);
            next_report = now + SB_RTCP_INTERVAL_MS * 1000000ull;
        }
        if (joined && now >= next_key) {
            request_key(s);
            next_key = now + period;
        }
        if (!joined && now >= rejoin_at) {
            sb__encoder_video_join(s->enc, s->codec, &cur);
            joined = true;
        }
        if (joined && !drain(s, &cur)) {
            /* The codec failed for this picture size: the encoder retries it only once nobody
             * uses it, so leave, and come back in a while. */
            if (!failure_logged)
                sb__log("server: rtp: %s failed for the stream to %s; retrying every %d ms",
                        sb__codec_name(s->codec), s->host, SB_RTP_REJOIN_MS);
            failure_logged = true;
            RTP_ADD(s, codec_failures, 1);
            sb__encoder_video_leave(s->enc, s->codec);
            joined = false;
            rejoin_at = now + SB_RTP_REJOIN_MS * 1000000ull;
        }
        uint64_t due = next_report;
        if (joined && next_key < due)
            due = next_key;
        if (!joined && rejoin_at < due)
            due = rejoin_at;
        struct pollfd fds[2] = {{.fd = s->wake_fd, .events = POLLIN},
                                {.fd = s->fd, .events = POLLIN}};
        int rc = poll(fds, 2, ms_until(sb__monotonic_ns(), due));
        if (rc <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            uint64_t count;
            ssize_t n = read(s->wake_fd, &count, sizeof count);
            (void)n;
        }
        if (fds[1].revents & (POLLIN | POLLERR))
            read_feedback(s);
    }
    if (joined)
        sb__encoder_video_leave(s->enc, s->codec);
    return NULL;
}

int sb__rtp_sender_start(sb_rtp_sender *s, sb_encoder *enc)
{
    s->enc = enc;
    int err = pthread_create(&s->thread, NULL, sender_main, s);
    if (err != 0)
        return SB_FAIL(SB_EIO, "cannot start the RTP sender thread: %s", strerror(err));
    s->started = true;
    return SB_OK;
}

void sb__rtp_sender_stop(sb_rtp_sender *s)
{
    if (!s || !s->started)
        return;
    atomic_store(&s->stopping, true);
    sb__rtp_sender_wake(s);
    pthread_join(s->thread, NULL);
    s->started = false;
}

void sb__rtp_sender_destroy(sb_rtp_sender *s)
{
    if (!s)
        return;
    sb__rtp_sender_stop(s);
    if (s->fd >= 0)
        close(s->fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    free(s);
}

void sb__rtp_sender_snapshot(const sb_rtp_sender *s, sb_rtp_snapshot *out)
{
#define SB_RTP_READ_(name, text) out->name = atomic_load(&s->name);
    SB_RTP_COUNTER_MAP(SB_RTP_READ_)
#undef SB_RTP_READ_
}

int sb__rtp_sender_codec(const sb_rtp_sender *s)
{
    return s->codec;
}
