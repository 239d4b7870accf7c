/* clients.c - the registry of connected viewers (clients.h). */
#include "clients.h"

#include "sb_clock.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sb__admission_init(sb_admission *a, int max_clients, int max_per_address)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    atomic_init(&a->count, 0);
    a->max_clients = max_clients;
    a->max_per_address = max_per_address;
}

void sb__admission_destroy(sb_admission *a)
{
    pthread_mutex_destroy(&a->mu);
}

int sb__admission_count(const sb_admission *a)
{
    return atomic_load(&a->count);
}

void sb__clients_init(sb_clients *cl, sb_admission *admission, atomic_uint *next_id,
                      sb_encoder *encoder, sb_stats *stats, const atomic_bool *stopping)
{
    memset(cl, 0, sizeof *cl);
    pthread_mutex_init(&cl->mu, NULL);
    atomic_init(&cl->count, 0);
    cl->next_id = next_id;
    cl->admission = admission;
    cl->encoder = encoder;
    cl->stats = stats;
    cl->stopping = stopping;
}

void sb__clients_destroy(sb_clients *cl)
{
    pthread_mutex_destroy(&cl->mu);
}

sb_client *sb__client_new(sb_clients *cl, struct sb_server *srv,
                          struct sb_server_stream *stream, sb_client_kind kind,
                          struct mg_connection *conn)
{
    sb_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->registry = cl;
    c->srv = srv;
    c->stream = stream;
    c->kind = kind;
    c->conn = conn;
    c->fd = -1;
    c->id = atomic_fetch_add(cl->next_id, 1) + 1;
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
    c->connected_ns = sb__monotonic_ns();
    c->codec = SB_CODEC_JPEG;
    atomic_init(&c->codec_now, SB_CODEC_JPEG);
    c->answer_reason = -1;
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

/* Clients connected from address, all streams (under a->mu). Linear: at most max_clients
 * (1024). */
static int clients_from(const sb_admission *a, const char *address)
{
    int n = 0;
    for (const sb_client *o = a->list; o; o = o->admitted_next)
        n += strcmp(o->address, address) == 0;
    return n;
}

/* Why c may not join now, or NULL (under cl->mu and a->mu). */
static const char *refusal(const sb_clients *cl, const sb_admission *a, const sb_client *c)
{
    if (atomic_load(cl->stopping))
        return "stream stopping";
    if (atomic_load(&a->count) >= a->max_clients)
        return "too many clients";
    /* One address must not be able to take every slot and lock everyone else out. */
    if (a->max_per_address > 0 && clients_from(a, c->address) >= a->max_per_address)
        return "too many clients from this address";
    return NULL;
}

bool sb__client_register(sb_clients *cl, sb_client *c)
{
    sb_admission *a = cl->admission;
    pthread_mutex_lock(&cl->mu);
    pthread_mutex_lock(&a->mu);
    c->refused_why = refusal(cl, a, c);
    if (!c->refused_why) {
        c->next = cl->list;
        cl->list = c;
        atomic_fetch_add(&cl->count, 1);
        c->admitted_next = a->list;
        a->list = c;
        atomic_fetch_add(&a->count, 1);
    }
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_unlock(&cl->mu);
    if (c->refused_why) {
        SB_STATS_ADD(cl->stats, clients_refused, 1);
        return false;
    }
    sb__encoder_jpeg_join(cl->encoder); /* every viewer starts on JPEG (c->codec) */
    return true;
}

void sb__client_unregister(sb_clients *cl, sb_client *c)
{
    sb__client_set_codec(c, SB_CODEC_JPEG); /* the codec's encoder goes with its last user */
    sb__encoder_jpeg_leave(cl->encoder);
    pthread_mutex_lock(&cl->mu);
    for (sb_client **p = &cl->list; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            atomic_fetch_sub(&cl->count, 1);
            sb_admission *a = cl->admission;
            pthread_mutex_lock(&a->mu);
            for (sb_client **q = &a->list; *q; q = &(*q)->admitted_next) {
                if (*q == c) {
                    *q = c->admitted_next;
                    atomic_fetch_sub(&a->count, 1);
                    break;
                }
            }
            pthread_mutex_unlock(&a->mu);
            break;
        }
    }
    pthread_mutex_unlock(&cl->mu);
}

void sb__client_close(sb_client *c)
{
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void sb__clients_on_new_frame(void *clients)
{
    sb_clients *cl = clients;
    pthread_mutex_lock(&cl->mu);
    for (sb_client *c = cl->list; c; c = c->next) {
        /* Under c->mu: a sender between its look at the latest frame and its wait cannot miss
         * this signal. */
        pthread_mutex_lock(&c->mu);
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&cl->mu);
}

/* Each WebSocket sender sends its client a 1001 close on the way out, and civetweb refuses
 * every write once mg_stop() has raised its stop flag: so wait for them before it. A sender
 * stuck on a full socket is not waited for beyond the bound. */
void sb__clients_close_all(sb_clients *cl, int wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    pthread_mutex_lock(&cl->mu);
    for (sb_client *c = cl->list; c; c = c->next)
        sb__client_close(c);
    for (sb_client *c = cl->list; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        while (c->kind == SB_CLIENT_WS && c->sender_started && !c->sender_done) {
            if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&cl->mu);
}

int sb__clients_count(const sb_clients *cl)
{
    return atomic_load(&cl->count);
}

void sb__clients_foreach(sb_clients *cl, void (*fn)(const sb_client *c, void *arg), void *arg)
{
    pthread_mutex_lock(&cl->mu);
    for (const sb_client *c = cl->list; c; c = c->next)
        fn(c, arg);
    pthread_mutex_unlock(&cl->mu);
}

/* c takes f (under c->mu): skips counted, the ack credit used. */
static void take_frame(sb_client *c, const sb_encoded_frame *f)
{
    if (f->codec == SB_CODEC_JPEG) {
        /* Every distinct frame between the last one sent and this one was skipped. */
        if (c->last_distinct_no && f->distinct_no > c->last_distinct_no + 1) {
            uint64_t gap = f->distinct_no - c->last_distinct_no - 1;
            atomic_fetch_add(&c->skipped, gap);
            SB_STATS_ADD(c->registry->stats, frames_skipped, gap);
        }
        c->last_sent_id = f->id;
        c->last_distinct_no = f->distinct_no;
    } else {
        /* A video packet replaces the still on the client's screen, even one of the same seq (a
         * keyframe re-encode of a still scene): the still is owed again (still_refinement). */
        c->last_sent_id = 0;
    }
    if (c->kind == SB_CLIENT_WS) {
        c->in_flight_seq[c->in_flight] = f->seq;
        c->in_flight_send_ns[c->in_flight] = sb__realtime_ns();
        c->in_flight_since_ns[c->in_flight] = sb__monotonic_ns();
        c->in_flight++;
    }
}

/* Under c->mu. */
static void set_codec_locked(sb_client *c, int codec)
{
    sb_encoder *enc = c->registry->encoder;
    if (codec == c->codec)
        return;
    /* Join the new codec before leaving the old: the frame on the way is never unconsumed. */
    if (codec != SB_CODEC_JPEG)
        sb__encoder_video_join(enc, codec, &c->video);
    else
        sb__encoder_jpeg_join(enc);
    if (c->codec != SB_CODEC_JPEG)
        sb__encoder_video_leave(enc, c->codec);
    else
        sb__encoder_jpeg_leave(enc);
    c->codec = codec;
    atomic_store(&c->codec_now, codec);
    pthread_cond_signal(&c->cv);
}

void sb__client_set_codec(sb_client *c, int codec)
{
    pthread_mutex_lock(&c->mu);
    set_codec_locked(c, codec);
    pthread_mutex_unlock(&c->mu);
}

void sb__client_request_key(sb_client *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->codec != SB_CODEC_JPEG)
        sb__encoder_video_request_key(c->registry->encoder, c->codec, &c->video);
    pthread_mutex_unlock(&c->mu);
}

/* Still-quality refinement for a video client that is up to date (under c->mu): once input
 * has gone idle and the scene rests, the still-quality JPEG of the very frame it shows
 * (docs/wire-protocol.md, "Still-quality refinement"), once after its last video packet. NULL
 * when there is none. */
static sb_encoded_frame *still_refinement(sb_client *c)
{
    sb_encoded_frame *f = sb__encoder_video_still(c->registry->encoder);
    if (f && f->seq == c->video_seq && f->id != c->last_sent_id && c->video.synced)
        return f;
    sb__frame_unref(f);
    return NULL;
}

int sb__client_credit(const sb_client *c)
{
    return c->codec == SB_CODEC_JPEG ? SB_CLIENT_MAX_IN_FLIGHT : SB_CLIENT_MAX_IN_FLIGHT_VIDEO;
}

/* The next thing for c, or NULL (under c->mu). */
static sb_encoded_frame *next_for(sb_client *c)
{
    sb_encoder *enc = c->registry->encoder;
    if (c->codec != SB_CODEC_JPEG) {
        bool failed = false;
        sb_encoded_frame *f = sb__encoder_video_next(enc, c->codec, &c->video, &failed);
        if (f)
            c->video_seq = f->seq;
        if (!failed)
            return f ? f : still_refinement(c);
        /* The codec failed on the server: JPEG from now on, and the client is told why. */
        set_codec_locked(c, SB_CODEC_JPEG);
        c->answer_reason = 3;
    }
    sb_encoded_frame *f = sb__encoder_latest(enc);
    if (f && f->id != c->last_sent_id)
        return f;
    sb__frame_unref(f);
    return NULL;
}

sb_encoded_frame *sb__client_next_frame(sb_client *c)
{
    sb_clients *cl = c->registry;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->closing || c->dead || atomic_load(cl->stopping))
            break;
        if (c->kind != SB_CLIENT_WS || c->in_flight < sb__client_credit(c)) {
            sb_encoded_frame *f = next_for(c);
            if (f) {
                take_frame(c, f);
                pthread_mutex_unlock(&c->mu);
                return f;
            }
        }
        /* Timed so a missed stop can never hang a thread for good. */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &deadline);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

bool sb__client_newer_waits(sb_client *c)
{
    sb_encoder *enc = c->registry->encoder;
    pthread_mutex_lock(&c->mu);
    bool newer;
    if (c->codec != SB_CODEC_JPEG) {
        newer = sb__encoder_video_has_newer(enc, c->codec, &c->video);
    } else {
        sb_encoded_frame *f = sb__encoder_latest(enc);
        newer = f && f->id != c->last_sent_id;
        sb__frame_unref(f); /* encoder.mu under client.mu: the lock order allows it */
    }
    pthread_mutex_unlock(&c->mu);
    return newer;
}
