/* stats.c - the server's counters and their read-only snapshot (stats.h). */
#include "stats.h"

#include "sb_clock.h"

#include <stdlib.h>
#include <string.h>

void sb__stats_init(sb_stats *st)
{
    memset(st, 0, sizeof *st);
#define SB_STATS_INIT_(name, text) atomic_init(&st->name, 0);
    SB_SERVER_COUNTER_MAP(SB_STATS_INIT_)
#undef SB_STATS_INIT_
    atomic_init(&st->events_refused_view_only, 0);
    for (int c = 0; c < SB_CODEC_COUNT; c++) {
#define SB_CODEC_STATS_INIT_(name, text) atomic_init(&st->codecs[c].name, 0);
        SB_CODEC_COUNTER_MAP(SB_CODEC_STATS_INIT_)
#undef SB_CODEC_STATS_INIT_
    }
    st->started_ns = sb__monotonic_ns();
    pthread_mutex_init(&st->mu, NULL);
}

void sb__stats_destroy(sb_stats *st)
{
    pthread_mutex_destroy(&st->mu);
}

void sb__stats_record_encode(sb_stats *st, int codec, double ms)
{
    sb_codec_stats *c = &st->codecs[codec];
    pthread_mutex_lock(&st->mu);
    c->encode_ms[c->encode_count % SB_ENCODE_SAMPLES] = ms;
    c->encode_count++;
    if (c->encode_samples < SB_ENCODE_SAMPLES)
        c->encode_samples++;
    c->encode_ms_total += ms;
    pthread_mutex_unlock(&st->mu);
}

/* Whole seconds since st was initialised. */
static uint64_t second_now(const sb_stats *st)
{
    return (sb__monotonic_ns() - st->started_ns) / 1000000000ull;
}

void sb__stats_record_sent(sb_stats *st, uint64_t bytes)
{
    SB_STATS_ADD(st, frames_sent, 1);
    SB_STATS_ADD(st, bytes_sent, bytes);
    uint64_t second = second_now(st);
    unsigned i = (unsigned)(second % SB_FPS_BUCKETS);
    pthread_mutex_lock(&st->mu);
    if (st->sent_second[i] != second) { /* a bucket last used SB_FPS_BUCKETS or more s ago */
        st->sent_second[i] = second;
        st->sent_frames[i] = 0;
    }
    st->sent_frames[i]++;
    pthread_mutex_unlock(&st->mu);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Frames sent per second per client over the last SB_FPS_WINDOW_SECONDS whole seconds (fewer
 * just after start). Under st->mu. Changes only when a second completes or a frame is sent. */
static double delivered_fps_locked(const sb_stats *st, uint64_t second, uint32_t clients)
{
    uint64_t whole = second < SB_FPS_WINDOW_SECONDS ? second : SB_FPS_WINDOW_SECONDS;
    if (whole == 0)
        return 0.0;
    uint64_t frames = 0;
    for (unsigned i = 0; i < SB_FPS_BUCKETS; i++) {
        uint64_t s = st->sent_second[i];
        if (s < second && s >= second - whole)
            frames += st->sent_frames[i];
    }
    return (double)frames / (double)whole / (clients ? (double)clients : 1.0);
}

/* Mean, p50 and p99 of a codec's encode times. */
static void encode_times(const sb_stats *st, int codec, double *mean, double *p50, double *p99)
{
    const sb_codec_stats *c = &st->codecs[codec];
    double samples[SB_ENCODE_SAMPLES];
    /* The mutex is the one thing a reader changes, and only for the moment of the copy. */
    pthread_mutex_t *mu = (pthread_mutex_t *)&st->mu;
    pthread_mutex_lock(mu);
    unsigned n = c->encode_samples;
    memcpy(samples, c->encode_ms, n * sizeof samples[0]);
    *mean = c->encode_count ? c->encode_ms_total / (double)c->encode_count : 0.0;
    pthread_mutex_unlock(mu);
    *p50 = *p99 = 0.0;
    if (n) {
        qsort(samples, n, sizeof samples[0], cmp_double);
        *p50 = samples[(n - 1) / 2];
        *p99 = samples[(size_t)((n - 1) * 0.99)];
    }
}

void sb__stats_codec(const sb_stats *st, int codec, sb_codec_snapshot *out)
{
    memset(out, 0, sizeof *out);
#define SB_CODEC_STATS_LOAD_(name, text) \
    out->name = atomic_load_explicit(&st->codecs[codec].name, memory_order_relaxed);
    SB_CODEC_COUNTER_MAP(SB_CODEC_STATS_LOAD_)
#undef SB_CODEC_STATS_LOAD_
    encode_times(st, codec, &out->encode_ms_mean, &out->encode_ms_p50, &out->encode_ms_p99);
}

void sb__stats_fill(const sb_stats *st, uint32_t clients, sb_server_stats *out)
{
    memset(out, 0, sizeof *out);
    out->version = SB_SERVER_STATS_VERSION;
#define SB_STATS_LOAD_(name, text) \
    out->name = atomic_load_explicit(&st->name, memory_order_relaxed);
    SB_SERVER_COUNTER_MAP(SB_STATS_LOAD_)
#undef SB_STATS_LOAD_
    out->clients = clients;
    uint64_t second = second_now(st);
    pthread_mutex_t *mu = (pthread_mutex_t *)&st->mu;
    pthread_mutex_lock(mu);
    out->delivered_fps = delivered_fps_locked(st, second, clients);
    pthread_mutex_unlock(mu);
    encode_times(st, SB_CODEC_JPEG, &out->encode_ms_mean, &out->encode_ms_p50,
                 &out->encode_ms_p99);
}

/* ---- the frames' walks ------------------------------------------------------------------------ */

/* Adds the part from -> to of w when both ends are known and in order. Under st->mu. */
static void add_part_locked(sb_stats *st, sb_latency_part part, uint64_t from, uint64_t to)
{
    if (from != 0 && to != 0 && from <= to)
        sb__samples_add(&st->latency[part], (double)(to - from) / 1e6);
}

void sb__stats_record_walk(sb_stats *st, const sb_frame_walk *w)
{
    pthread_mutex_lock(&st->mu);
    /* The send parts wait for the send (send_ns is 0 here, so they are skipped). */
#define SB_LATENCY_ADD_(name, from, to) add_part_locked(st, SB_LATENCY_##name, w->from, w->to);
    SB_LATENCY_PART_MAP(SB_LATENCY_ADD_)
#undef SB_LATENCY_ADD_
    sb_frame_walk *kept = &st->walks[st->walk_count % SB_WALK_HISTORY];
    *kept = *w;
    kept->send_ns = 0;
    st->walk_count++;
    pthread_mutex_unlock(&st->mu);
}

void sb__stats_record_walk_sent(sb_stats *st, uint64_t encode_id, uint64_t send_ns)
{
    pthread_mutex_lock(&st->mu);
    unsigned held = st->walk_count < SB_WALK_HISTORY ? (unsigned)st->walk_count : SB_WALK_HISTORY;
    for (unsigned i = 0; i < held; i++) {
        sb_frame_walk *w = &st->walks[(st->walk_count - 1 - i) % SB_WALK_HISTORY];
        if (w->encode_id != encode_id)
            continue;
        if (w->send_ns == 0) {
            w->send_ns = send_ns;
            add_part_locked(st, SB_LATENCY_send, w->encode_end_ns, w->send_ns);
            add_part_locked(st, SB_LATENCY_input_to_send, w->input_ns, w->send_ns);
        }
        break;
    }
    pthread_mutex_unlock(&st->mu);
}

const char *sb__latency_part_name(sb_latency_part part)
{
    switch (part) {
#define SB_LATENCY_NAME_(name, from, to) \
    case SB_LATENCY_##name: return #name;
        SB_LATENCY_PART_MAP(SB_LATENCY_NAME_)
#undef SB_LATENCY_NAME_
    default: return "unknown";
    }
}

void sb__stats_latency(const sb_stats *st, sb_latency_report *out)
{
    memset(out, 0, sizeof *out);
    /* Copied under the lock, sorted outside it; on the heap (civetweb workers' stacks are
     * modest). Without memory the report stays empty. */
    sb_samples *copy = malloc(sizeof st->latency);
    pthread_mutex_t *mu = (pthread_mutex_t *)&st->mu;
    pthread_mutex_lock(mu);
    if (copy)
        memcpy(copy, st->latency, sizeof st->latency);
    unsigned held = st->walk_count < SB_WALK_HISTORY ? (unsigned)st->walk_count : SB_WALK_HISTORY;
    for (unsigned i = 0; i < held; i++)
        out->walks[i] = st->walks[(st->walk_count - held + i) % SB_WALK_HISTORY];
    out->walk_count = held;
    pthread_mutex_unlock(mu);
    if (!copy)
        return;
    for (int p = 0; p < SB_LATENCY_PARTS; p++)
        sb__samples_summary(&copy[p], &out->parts[p]);
    free(copy);
}
