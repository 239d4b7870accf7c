/* encoder.c - the server's one encoder thread (encoder.h).
 *
 * Quality policy (docs/wire-protocol.md, "Quality"): a frame published within still_delay_ms of
 * the last input event is encoded at interactive quality, and once input has been idle for
 * still_delay_ms the current frame is re-encoded once at still quality. A frame published with
 * no input in the last still_delay_ms (an animation, a programmatic update) is encoded at still
 * quality directly, so it never needs a second encode. */
#include "encoder.h"

#include "codec.h"
#include "sb_clock.h"
#include "sb_error_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SB_POOL_MAX 6
/* The fps cap's token bucket holds this many encodes (see encoder_thread_init). */
#define SB_FPS_BURST 2.0
/* Without a still re-encode owed, the encoder looks at the stop flag this often (the stop also
 * wakes it through the ring). */
#define SB_ENCODER_IDLE_WAIT_MS 500
/* An encode owed without a new frame (a first consumer's, a keyframe asked for) that found no
 * frame is not tried again sooner than this. */
#define SB_ON_DEMAND_RETRY_NS 100000000ull

/* ---- frame objects and their pool ---------------------------------------------------------- */

void sb__frame_ref(sb_encoded_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static void frame_destroy(sb_encoded_frame *f)
{
    if (f) {
        free(f->data);
        free(f);
    }
}

void sb__frame_unref(sb_encoded_frame *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (f->codec != SB_CODEC_JPEG) {
        frame_destroy(f); /* video packets are sized to fit: never pooled, never locked */
        return;
    }
    sb_encoder *enc = f->enc;
    pthread_mutex_lock(&enc->mu);
    if (enc->pool_size < SB_POOL_MAX) {
        f->next_free = enc->pool;
        enc->pool = f;
        enc->pool_size++;
        f = NULL;
    }
    pthread_mutex_unlock(&enc->mu);
    frame_destroy(f);
}

/* A frame with a buffer of enc->jpeg_capacity bytes, from the pool when one is free. */
static sb_encoded_frame *frame_obtain(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    sb_encoded_frame *f = enc->pool;
    if (f) {
        enc->pool = f->next_free;
        enc->pool_size--;
    }
    pthread_mutex_unlock(&enc->mu);
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f)
            return NULL;
        f->data = malloc(enc->jpeg_capacity);
        if (!f->data) {
            free(f);
            return NULL;
        }
        f->capacity = enc->jpeg_capacity;
        f->enc = enc;
    }
    atomic_store(&f->refs, 1);
    f->next_free = NULL;
    return f;
}

sb_encoded_frame *sb__encoder_latest(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    sb_encoded_frame *f = enc->latest;
    if (f)
        sb__frame_ref(f);
    pthread_mutex_unlock(&enc->mu);
    return f;
}

static struct timespec deadline_in(uint64_t ns)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t t = (uint64_t)deadline.tv_nsec + ns;
    deadline.tv_sec += (time_t)(t / 1000000000ull);
    deadline.tv_nsec = (long)(t % 1000000000ull);
    return deadline;
}

sb_encoded_frame *sb__encoder_video_still(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    sb_encoded_frame *f = enc->latest;
    if (f && f->id == enc->video_still_id)
        sb__frame_ref(f);
    else
        f = NULL;
    pthread_mutex_unlock(&enc->mu);
    return f;
}

sb_encoded_frame *sb__encoder_wait_latest(sb_encoder *enc, int timeout_ms)
{
    struct timespec deadline = deadline_in((uint64_t)timeout_ms * 1000000ull);
    /* The JPEG of this frame or a newer one (0: the first frame to come). */
    uint64_t wanted_seq = sb_frame_ring_latest_seq(enc->cfg.ring);
    sb__encoder_jpeg_join(enc);
    pthread_mutex_lock(&enc->mu);
    while (!(enc->latest && enc->latest->seq >= wanted_seq) && !atomic_load(&enc->stopping)) {
        if (pthread_cond_timedwait(&enc->cv, &enc->mu, &deadline) == ETIMEDOUT)
            break;
    }
    sb_encoded_frame *f = enc->latest;
    if (f)
        sb__frame_ref(f);
    pthread_mutex_unlock(&enc->mu);
    sb__encoder_jpeg_leave(enc);
    return f;
}

void sb__encoder_note_input(sb_encoder *enc)
{
    atomic_store(&enc->last_input_ns, sb__monotonic_ns());
}

void sb__encoder_frame_size(sb_encoder *enc, uint32_t *w, uint32_t *h)
{
    *w = atomic_load(&enc->frame_w);
    *h = atomic_load(&enc->frame_h);
}

/* Makes f the newest JPEG frame (its reference moves to enc->latest) and tells the layer
 * above. video_still: f is also the still offered to video clients (sb__encoder_video_still),
 * set before any sender is woken. */
static void publish(sb_encoder *enc, sb_encoded_frame *f, bool video_still)
{
    pthread_mutex_lock(&enc->mu);
    sb_encoded_frame *old = enc->latest;
    enc->latest = f;
    if (video_still)
        enc->video_still_id = f->id;
    pthread_cond_broadcast(&enc->cv);
    pthread_mutex_unlock(&enc->mu);
    sb__frame_unref(old);
    if (enc->cfg.on_new_frame)
        enc->cfg.on_new_frame(enc->cfg.user_data);
}

/* A newer frame was handled without a JPEG: the JPEG of an older one must never reach a JPEG
 * consumer joining later (it waits for the JPEG of the newest frame instead). */
static void drop_latest(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    sb_encoded_frame *old = enc->latest;
    enc->latest = NULL;
    pthread_mutex_unlock(&enc->mu);
    sb__frame_unref(old);
}

static bool jpeg_consumed(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    bool used = enc->jpeg_users > 0;
    pthread_mutex_unlock(&enc->mu);
    return used;
}

/* Whether any video codec has a consumer (whether or not its encoder works). */
static bool video_consumed(sb_encoder *enc)
{
    bool used = false;
    pthread_mutex_lock(&enc->mu);
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++)
        used = used || enc->video[id].users > 0;
    pthread_mutex_unlock(&enc->mu);
    return used;
}

/* ---- encoding -------------------------------------------------------------------------------- */

/* Sleeps up to ns; returns early (true) when the encoder is stopping. */
static bool sleep_unless_stopping(sb_encoder *enc, uint64_t ns)
{
    struct timespec deadline = deadline_in(ns);
    pthread_mutex_lock(&enc->mu);
    while (!atomic_load(&enc->stopping)) {
        if (pthread_cond_timedwait(&enc->cv, &enc->mu, &deadline) == ETIMEDOUT)
            break;
    }
    bool stopping = atomic_load(&enc->stopping);
    pthread_mutex_unlock(&enc->mu);
    return stopping;
}

/* The encoder thread's own state. */
typedef struct encoder_state {
    sb_encoder *enc;
    sb_codec *jpeg;
    uint64_t last_seq;         /* newest ring seq handled (encoded, coalesced or unwatched) */
    uint64_t seen_seq;         /* newest ring seq counted in frames_published */
    uint64_t encoded_seq;      /* seq of the newest frame we encoded (with any codec) */
    uint64_t jpeg_seq;         /* seq of the newest frame a JPEG was made (or failed) for */
    bool encoded_interactive;  /* that encode used interactive quality: a still one is owed */
    bool jpeg_missing;         /* encoded_seq has no JPEG (only video consumers watched it) */
    /* Video clients get a still-quality JPEG of the frame the scene rests on. A frame encoded
     * at still quality directly (its render came after the input window: renders lag behind
     * input under load, even after the still of an earlier frame was sent) needs no re-encode,
     * but is offered to them once no newer frame came for still_delay_ms: the last frame, not
     * the first late one. Which input a frame renders is unknown here, so no input is required. */
    bool rest_owed;
    uint64_t rest_due_ns;      /* CLOCK_MONOTONIC: encoded_seq's encode + still_delay_ms */
    uint64_t next_id;
    uint64_t distinct_no;
    double fps_credit;         /* fps cap: encodes allowed now (token bucket, see below) */
    uint64_t credit_mono;      /* when fps_credit was last refilled */
    bool logged_error;
    /* Video: one instance per codec in use, the frame in I420 (converted once for all). */
    sb_codec *video[SB_CODEC_COUNT];
    sb_i420 i420;
    uint64_t video_seq[SB_CODEC_COUNT];    /* ring seq each codec encoded last */
    uint64_t video_key_ns[SB_CODEC_COUNT]; /* CLOCK_MONOTONIC of each codec's last keyframe */
    uint64_t on_demand_after_ns; /* an encode owed without a new frame found none: not before */
} encoder_state;

/* One encode failure: counted, logged once per encoder, the frame counted as handled. */
static void encode_failed(encoder_state *st, uint64_t seq, const char *why)
{
    if (!st->logged_error) {
        sb__log("server: frame %llu: %s", (unsigned long long)seq, why);
        st->logged_error = true;
    }
    SB_STATS_ADD(st->enc->cfg.stats, encode_errors, 1);
    st->last_seq = seq;
    st->jpeg_seq = seq; /* not tried again for a JPEG consumer joining later */
}

/* Interactive quality while input flows (never for the still re-encode). */
static bool input_is_recent(const sb_encoder *enc, bool still_only)
{
    uint64_t input_ns = atomic_load(&enc->last_input_ns);
    uint64_t still_delay_ns = (uint64_t)enc->cfg.still_delay_ms * 1000000ull;
    return !still_only && input_ns != 0 && sb__monotonic_ns() - input_ns < still_delay_ns;
}

/* The acquired frame as a picture for a codec. */
static sb_codec_picture ring_picture(const sb_frame *frame)
{
    sb_codec_picture pic;
    memset(&pic, 0, sizeof pic);
    pic.planes[0] = frame->pixels;
    pic.strides[0] = frame->info.stride;
    pic.width = frame->info.width;
    pic.height = frame->info.height;
    pic.format = frame->info.format;
    pic.bottom_up = frame->info.bottom_up != 0;
    return pic;
}

/* Compresses the acquired frame into ef (the caller releases the frame). SB_OK, or the codec
 * failed (logged and counted). */
static int compress(encoder_state *st, const sb_frame *frame, int quality, sb_encoded_frame *ef,
                    double *ms)
{
    sb_codec_picture pic = ring_picture(frame);
    sb_codec_packet out = {.data = ef->data, .capacity = ef->capacity, .fixed = true};
    ef->encode_start_ns = sb__realtime_ns();
    uint64_t t0 = sb__monotonic_ns();
    int rc = st->jpeg->vt->encode(st->jpeg, &pic, quality, false, &out);
    *ms = (double)(sb__monotonic_ns() - t0) / 1e6;
    ef->encode_end_ns = sb__realtime_ns();
    if (rc != SB_OK) {
        encode_failed(st, frame->info.seq, st->jpeg->error);
        return rc;
    }
    ef->len = (unsigned long)out.len;
    return SB_OK;
}

/* ---- video ----------------------------------------------------------------------------------- */

static bool key_allowed(const sb_encoder *enc, const sb_video_stream *vs, uint64_t now)
{
    uint64_t interval = (uint64_t)enc->cfg.keyframe_min_interval_ms * 1000000ull;
    return !vs->forced_ever || now - vs->last_forced_ns >= interval;
}

/* Empties vs's packet ring into drop[] (unreferenced by the caller after unlocking). */
static int ring_clear_locked(sb_video_stream *vs, sb_encoded_frame **drop)
{
    int n = 0;
    for (int i = 0; i < SB_VIDEO_RING; i++) {
        if (vs->ring[i])
            drop[n++] = vs->ring[i];
        vs->ring[i] = NULL;
    }
    vs->count = 0;
    return n;
}

static void unref_all(sb_encoded_frame **drop, int n)
{
    for (int i = 0; i < n; i++)
        sb__frame_unref(drop[i]);
}

/* The video codecs to encode now (SB_CODEC_BIT each): those with users that have not failed.
 * Frees the encoders and packets of codecs nobody uses any more. */
static unsigned video_wanted(encoder_state *st)
{
    sb_encoder *enc = st->enc;
    unsigned mask = 0;
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++) {
        sb_encoded_frame *drop[SB_VIDEO_RING];
        int dropped = 0;
        pthread_mutex_lock(&enc->mu);
        sb_video_stream *vs = &enc->video[id];
        bool unused = vs->users == 0;
        if (unused) {
            dropped = ring_clear_locked(vs, drop);
            vs->failed = false;
            vs->key_pending = false;
        } else if (!vs->failed) {
            mask |= SB_CODEC_BIT(id);
        }
        pthread_mutex_unlock(&enc->mu);
        unref_all(drop, dropped);
        if (unused && st->video[id]) {
            st->video[id]->vt->destroy(st->video[id]);
            st->video[id] = NULL;
        }
    }
    return mask;
}

/* The codec failed (cannot be created for this size, or an encode failed): its clients fall
 * back to JPEG (clients.c sees vs->failed), and it is not tried again until nobody uses it. */
static void video_failed(encoder_state *st, int id, const char *why)
{
    sb_encoder *enc = st->enc;
    sb__log("server: %s: %s: its clients fall back to JPEG", sb__codec_name(id), why);
    SB_CODEC_STATS_ADD(enc->cfg.stats, id, encode_errors, 1);
    sb_encoded_frame *drop[SB_VIDEO_RING];
    pthread_mutex_lock(&enc->mu);
    enc->video[id].failed = true;
    int n = ring_clear_locked(&enc->video[id], drop);
    pthread_mutex_unlock(&enc->mu);
    unref_all(drop, n);
    if (st->video[id]) {
        st->video[id]->vt->destroy(st->video[id]);
        st->video[id] = NULL;
    }
}

/* An encoder instance of codec id for the picture's size: a new one (new stream_id, its first
 * packet a keyframe; *fresh set) when there is none or the size changed. false when the codec
 * failed. */
static bool video_instance(encoder_state *st, int id, uint32_t w, uint32_t h, bool *fresh)
{
    sb_codec *c = st->video[id];
    *fresh = false;
    if (c && c->width == w && c->height == h)
        return true;
    *fresh = true;
    if (c)
        c->vt->destroy(c);
    sb_encoder *enc = st->enc;
    sb_codec_settings s = {.width = w, .height = h, .crf = enc->cfg.video_crf,
                           .max_kbps = enc->cfg.video_max_kbps, .fps = enc->cfg.max_fps};
    char why[160];
    st->video[id] = sb__codec_vtable((sb_codec_id)id)->create(&s, why, sizeof why);
    if (!st->video[id]) {
        video_failed(st, id, why);
        return false;
    }
    /* Packets of the old instance are useless to anyone after a keyframe of the new one: the
     * ring starts over (clients wait for the new stream's keyframe, its first packet). */
    sb_encoded_frame *drop[SB_VIDEO_RING];
    pthread_mutex_lock(&enc->mu);
    sb_video_stream *vs = &enc->video[id];
    int n = ring_clear_locked(vs, drop);
    vs->stream_id = ++enc->last_stream_id;
    vs->next_frame_no = 0;
    pthread_mutex_unlock(&enc->mu);
    unref_all(drop, n);
    return true;
}

/* Puts packet p into codec id's ring (the oldest drops out) and settles the keyframe state. */
static void video_publish(encoder_state *st, int id, sb_encoded_frame *p, bool forced,
                          uint64_t now)
{
    sb_encoder *enc = st->enc;
    sb_encoded_frame *old = NULL;
    pthread_mutex_lock(&enc->mu);
    sb_video_stream *vs = &enc->video[id];
    p->stream_id = vs->stream_id;
    p->frame_no = vs->next_frame_no++;
    sb_encoded_frame **slot = &vs->ring[p->frame_no % SB_VIDEO_RING];
    old = *slot;
    *slot = p;
    if (vs->count < SB_VIDEO_RING)
        vs->count++;
    if (p->keyframe)
        vs->key_pending = false; /* any keyframe serves every client waiting for one */
    if (forced) { /* the attempt counts, keyframe or not: never a loop of forced encodes */
        vs->forced_ever = true;
        vs->last_forced_ns = now;
    }
    pthread_mutex_unlock(&enc->mu);
    sb__frame_unref(old);
}

/* Encodes the I420 picture with codec id into a new packet of the frame info describes.
 * Keyframe when a client asked (rate-limited), when keyframe_interval_ms passed, or when the
 * instance is new. */
static void video_encode(encoder_state *st, int id, const sb_frame_info *info,
                         uint64_t encode_id)
{
    sb_encoder *enc = st->enc;
    sb_stats *stats = enc->cfg.stats;
    bool fresh;
    if (!video_instance(st, id, info->width, info->height, &fresh))
        return;
    uint64_t now = sb__monotonic_ns();
    /* A new instance starts with a keyframe of its own: nothing is forced (nor rate-limited). */
    pthread_mutex_lock(&enc->mu);
    bool forced = !fresh && enc->video[id].key_pending && key_allowed(enc, &enc->video[id], now);
    pthread_mutex_unlock(&enc->mu);
    uint64_t period = (uint64_t)enc->cfg.keyframe_interval_ms * 1000000ull;
    bool periodic = period && now - st->video_key_ns[id] >= period;

    sb_codec *c = st->video[id];
    sb_codec_picture pic = sb__i420_picture(&st->i420);
    sb_codec_packet out = {0};
    uint64_t encode_start_ns = sb__realtime_ns();
    uint64_t t0 = sb__monotonic_ns();
    int rc = c->vt->encode(c, &pic, 0, forced || periodic, &out);
    double ms = (double)(sb__monotonic_ns() - t0) / 1e6;
    uint64_t encode_end_ns = sb__realtime_ns();
    sb_encoded_frame *p = rc == SB_OK ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        free(out.data);
        video_failed(st, id, rc == SB_OK ? "out of memory" : c->error);
        return;
    }
    atomic_init(&p->refs, 1);
    p->enc = enc;
    p->id = encode_id;
    p->codec = id;
    p->data = out.data;
    p->encode_start_ns = encode_start_ns;
    p->encode_end_ns = encode_end_ns;
    p->len = (unsigned long)out.len;
    p->capacity = (unsigned long)out.capacity;
    p->keyframe = out.keyframe;
    p->seq = info->seq;
    p->capture_ns = info->capture_ns;
    p->width = info->width;
    p->height = info->height;
    p->coded_width = c->coded_width;
    p->coded_height = c->coded_height;
    memcpy(p->codec_string, c->codec_string, sizeof p->codec_string);

    sb__stats_record_encode(stats, id, ms);
    if (info->seq == st->video_seq[id])
        SB_CODEC_STATS_ADD(stats, id, reencodes, 1);
    else
        SB_CODEC_STATS_ADD(stats, id, frames, 1);
    st->video_seq[id] = info->seq;
    SB_CODEC_STATS_ADD(stats, id, bytes, out.len);
    if (p->keyframe) {
        SB_CODEC_STATS_ADD(stats, id, keyframes, 1);
        st->video_key_ns[id] = now;
        if (forced)
            SB_CODEC_STATS_ADD(stats, id, keyframes_forced, 1);
    }
    video_publish(st, id, p, forced, now);
}

/* Converts the acquired frame to I420 once for every video codec. */
static bool video_convert(encoder_state *st, const sb_frame *frame, unsigned mask)
{
    sb_codec_picture pic = ring_picture(frame);
    char why[160];
    int rc = sb__i420_convert(&st->i420, &pic, why, sizeof why);
    if (rc != SB_OK) {
        for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++)
            if (mask & SB_CODEC_BIT(id))
                video_failed(st, id, why);
        return false;
    }
    return true;
}

/* Encodes the I420 picture with every codec in mask; encode_id: the frame's walk (0: none, a
 * keyframe of a frame already sent). */
static void video_encode_all(encoder_state *st, unsigned mask, const sb_frame_info *info,
                             uint64_t encode_id)
{
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++)
        if (mask & SB_CODEC_BIT(id))
            video_encode(st, id, info, encode_id);
    if (mask && st->enc->cfg.on_new_frame)
        st->enc->cfg.on_new_frame(st->enc->cfg.user_data);
}

/* The video codecs owed an encode without a new frame: a first user (no instance yet) or a
 * keyframe asked for and allowed by the rate limit. *wait_ms: how long until the next one is
 * due (-1: none), for the encoder's wait. */
static unsigned video_due(encoder_state *st, int *wait_ms)
{
    sb_encoder *enc = st->enc;
    unsigned mask = 0;
    *wait_ms = -1;
    if (sb_frame_ring_latest_seq(enc->cfg.ring) == 0)
        return 0; /* nothing to encode yet: the first frame takes the normal path */
    uint64_t now = sb__monotonic_ns();
    if (now < st->on_demand_after_ns) { /* the last try found no frame to encode */
        *wait_ms = (int)((st->on_demand_after_ns - now + 999999) / 1000000);
        return 0;
    }
    uint64_t interval = (uint64_t)enc->cfg.keyframe_min_interval_ms * 1000000ull;
    pthread_mutex_lock(&enc->mu);
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++) {
        const sb_video_stream *vs = &enc->video[id];
        if (vs->users == 0 || vs->failed)
            continue;
        int due_ms = -1;
        if (!st->video[id] || (vs->key_pending && key_allowed(enc, vs, now)))
            due_ms = 0;
        else if (vs->key_pending)
            due_ms = (int)((vs->last_forced_ns + interval - now + 999999) / 1000000);
        if (due_ms == 0)
            mask |= SB_CODEC_BIT(id);
        else if (due_ms > 0 && (*wait_ms < 0 || due_ms < *wait_ms))
            *wait_ms = due_ms;
    }
    pthread_mutex_unlock(&enc->mu);
    if (mask)
        *wait_ms = 0;
    return mask;
}

/* Times around the encodes of one frame (CLOCK_REALTIME, as the frame's walk). */
typedef struct encode_times {
    uint64_t start_ns, end_ns;
} encode_times;

/* A distinct frame's walk (a still re-encode is not on any input's path), under encode_id (the
 * id its JPEG and video packets carry). */
static void record_walk(encoder_state *st, const sb_frame_info *info, uint64_t encode_id,
                        encode_times times)
{
    sb_frame_walk walk = {
        .encode_id = encode_id, .seq = info->seq, .input_ns = info->input_ns,
        .replay_ns = info->replay_ns, .render_start_ns = info->render_start_ns,
        .render_end_ns = info->render_end_ns, .capture_ns = info->capture_ns,
        .encode_start_ns = times.start_ns, .encode_end_ns = times.end_ns};
    sb__stats_record_walk(st->enc->cfg.stats, &walk);
}

/* Counts the encode of info's frame and settles what is owed after it, before anyone is sent
 * it (a client that has a frame finds it counted). distinct: the first encode of this frame
 * (with any codec); its walk is recorded here when times.end_ns is known, else by the caller
 * (record_walk) once the encodes are done. */
static void account_encode(encoder_state *st, const sb_frame_info *info, bool still_only,
                           bool distinct, bool interactive, uint64_t encode_id,
                           encode_times times)
{
    sb_stats *stats = st->enc->cfg.stats;
    if (distinct) {
        /* Everything published since the last handled seq and not encoded was coalesced. */
        uint64_t newly = info->seq > st->last_seq ? info->seq - st->last_seq : 0;
        if (newly > 1)
            SB_STATS_ADD(stats, frames_coalesced, newly - 1);
        SB_STATS_ADD(stats, frames_encoded, 1);
        if (times.end_ns)
            record_walk(st, info, encode_id, times);
    } else if (still_only) {
        SB_STATS_ADD(stats, frames_encoded_still, 1);
    }
    st->last_seq = info->seq;
    st->encoded_seq = info->seq;
    /* Input ranges (ws.c) map through the size of the newest frame encoded. */
    atomic_store(&st->enc->frame_w, info->width);
    atomic_store(&st->enc->frame_h, info->height);
    st->encoded_interactive = interactive;
    /* A still re-encode is published as the video clients' still at once (encode_once). */
    st->rest_owed = !still_only && !interactive;
    st->rest_due_ns = sb__monotonic_ns() + (uint64_t)st->enc->cfg.still_delay_ms * 1000000ull;
}

/* Fills ef's description of the frame it was encoded from. */
static void describe_jpeg(encoder_state *st, const sb_frame_info *info, bool interactive,
                          int quality, sb_encoded_frame *ef)
{
    ef->id = ++st->next_id;
    ef->distinct_no = st->distinct_no;
    ef->seq = info->seq;
    ef->width = info->width;
    ef->height = info->height;
    ef->quality = (uint32_t)quality;
    ef->still = interactive ? 0u : 1u;
    ef->capture_ns = info->capture_ns;
}

typedef enum { ENCODE_PUBLISHED, ENCODE_SKIPPED, ENCODE_RETRY } encode_result;

static bool encodable(const sb_frame_info *info)
{
    uint32_t fmt = info->format;
    return (fmt == SB_PIXEL_BGRA || fmt == SB_PIXEL_RGBA || fmt == SB_PIXEL_RGB) &&
           info->width != 0 && info->height != 0;
}

/* Nobody consumes anything: the ring's newest frame is handled without an encode. */
static void skip_unwatched(encoder_state *st)
{
    uint64_t newest = sb_frame_ring_latest_seq(st->enc->cfg.ring);
    if (newest > st->last_seq)
        st->last_seq = newest;
    st->encoded_interactive = false;
    st->rest_owed = false;
    st->jpeg_missing = false;
    drop_latest(st->enc);
}

/* One attempt at encoding the ring's newest frame (see encode_newest) with every codec someone
 * consumes that has not encoded it yet: the JPEG, and the I420 picture for the video codecs,
 * read from the slot before it is released; the video encodes then run from the I420 copy. */
static encode_result encode_once(encoder_state *st, bool still_only)
{
    sb_encoder *enc = st->enc;
    bool jpeg_used = jpeg_consumed(enc);
    unsigned vmask = still_only ? 0 : video_wanted(st);
    if (!jpeg_used && !vmask && !(still_only && video_consumed(enc))) {
        if (!still_only)
            skip_unwatched(st);
        return ENCODE_SKIPPED;
    }
    sb_frame frame;
    if (sb_frame_ring_acquire(enc->cfg.ring, &frame) != SB_OK)
        return ENCODE_SKIPPED;
    uint64_t seq = frame.info.seq;
    if (still_only && seq != st->encoded_seq) {
        sb_frame_ring_release(enc->cfg.ring, &frame);
        return ENCODE_SKIPPED; /* a newer frame arrived: the normal path handles it */
    }
    /* A codec that has this frame already (a JPEG consumer joined after the video codecs
     * encoded it) is not asked again. */
    bool jpeg = still_only || (jpeg_used && seq != st->jpeg_seq);
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++)
        if (st->video_seq[id] == seq)
            vmask &= ~SB_CODEC_BIT(id);
    if (!jpeg && !vmask) {
        sb_frame_ring_release(enc->cfg.ring, &frame);
        return ENCODE_SKIPPED;
    }
    if (!encodable(&frame.info)) {
        sb_frame_ring_release(enc->cfg.ring, &frame);
        char why[64];
        snprintf(why, sizeof why, "unsupported format %u", frame.info.format);
        encode_failed(st, seq, why);
        return ENCODE_SKIPPED;
    }
    bool distinct = !still_only && seq != st->encoded_seq;
    bool interactive = input_is_recent(enc, still_only);
    int quality = interactive ? enc->cfg.jpeg_quality_interactive : enc->cfg.jpeg_quality_still;
    sb_encoded_frame *ef = NULL;
    double ms = 0;
    int rc = SB_OK;
    if (jpeg) {
        ef = frame_obtain(enc);
        if (!ef) {
            sb_frame_ring_release(enc->cfg.ring, &frame);
            SB_STATS_ADD(enc->cfg.stats, encode_errors, 1);
            return ENCODE_SKIPPED;
        }
        rc = compress(st, &frame, quality, ef, &ms);
    }
    encode_times times = {.start_ns = ef ? ef->encode_start_ns : sb__realtime_ns()};
    if (rc == SB_OK && vmask && !video_convert(st, &frame, vmask))
        vmask = 0;
    sb_frame_info info = frame.info;
    int rel = sb_frame_ring_release(enc->cfg.ring, &frame);
    if (rc != SB_OK || rel == SB_ESTALE) {
        sb__frame_unref(ef);
        /* SB_ESTALE: the writer reused the slot mid-encode, the JPEG may be torn: try the
         * newest frame again. */
        return rel == SB_ESTALE && rc == SB_OK ? ENCODE_RETRY : ENCODE_SKIPPED;
    }
    if (ef) {
        sb__stats_record_encode(enc->cfg.stats, SB_CODEC_JPEG, ms);
        SB_CODEC_STATS_ADD(enc->cfg.stats, SB_CODEC_JPEG, bytes, ef->len);
        SB_CODEC_STATS_ADD(enc->cfg.stats, SB_CODEC_JPEG, keyframes, 1);
        if (still_only)
            SB_CODEC_STATS_ADD(enc->cfg.stats, SB_CODEC_JPEG, reencodes, 1);
        else
            SB_CODEC_STATS_ADD(enc->cfg.stats, SB_CODEC_JPEG, frames, 1);
        st->jpeg_seq = seq;
        times.end_ns = ef->encode_end_ns;
        if (distinct)
            st->distinct_no++; /* before describe_jpeg: ef carries its frame's number */
        describe_jpeg(st, &info, interactive, quality, ef);
        account_encode(st, &info, still_only, distinct, interactive, ef->id, times);
        st->jpeg_missing = false;
        publish(enc, ef, still_only);
        video_encode_all(st, vmask, &info, ef->id);
    } else {
        uint64_t encode_id = ++st->next_id;
        if (distinct) {
            st->distinct_no++;
            drop_latest(enc);
        }
        account_encode(st, &info, false, distinct, interactive, encode_id, times);
        if (distinct)
            st->jpeg_missing = true;
        video_encode_all(st, vmask, &info, encode_id);
        times.end_ns = sb__realtime_ns();
        if (distinct)
            record_walk(st, &info, encode_id, times);
    }
    return ENCODE_PUBLISHED;
}

/* The video-only encode of the ring's newest frame (no new frame came): a first user's
 * encoder, a keyframe asked for on a still scene. The JPEG clients have that frame already. */
static void encode_video_only(encoder_state *st, unsigned mask)
{
    sb_encoder *enc = st->enc;
    for (int attempt = 0; attempt < 4; attempt++) {
        sb_frame frame;
        encode_times times = {.start_ns = sb__realtime_ns()};
        if (sb_frame_ring_acquire(enc->cfg.ring, &frame) != SB_OK)
            break;
        bool ok = encodable(&frame.info) && video_convert(st, &frame, mask);
        sb_frame_info info = frame.info;
        if (sb_frame_ring_release(enc->cfg.ring, &frame) == SB_ESTALE)
            continue; /* torn picture: the newest frame again */
        if (!ok)
            break;
        /* A frame no codec encoded yet (it came after the wait ended, or nobody watched it):
         * its first encode, counted and walked as encode_once does (the normal path then finds
         * it done). Else a re-encode of a frame sent already (no walk). */
        bool distinct = info.seq > st->encoded_seq;
        uint64_t encode_id = distinct ? ++st->next_id : 0;
        if (distinct) {
            st->distinct_no++;
            drop_latest(enc);
            account_encode(st, &info, false, true, input_is_recent(enc, false), encode_id, times);
            st->jpeg_missing = true;
        }
        video_encode_all(st, mask, &info, encode_id);
        if (distinct) {
            times.end_ns = sb__realtime_ns();
            record_walk(st, &info, encode_id, times);
        }
        return;
    }
    /* No frame to encode (the producer is gone, a bad segment, an unencodable frame): what is
     * owed stays owed, tried again in a while or with the next frame, never in a busy loop. */
    st->on_demand_after_ns = sb__monotonic_ns() + SB_ON_DEMAND_RETRY_NS;
}

/* Encodes the ring's newest frame. still_only: only if it is still encoded_seq (the still
 * re-encode of the current frame). Returns true when a frame was published to clients. */
static bool encode_newest(encoder_state *st, bool still_only)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        encode_result r = encode_once(st, still_only);
        if (r != ENCODE_RETRY)
            return r == ENCODE_PUBLISHED;
    }
    return false;
}

/* ---- the thread ------------------------------------------------------------------------------ */

/* When the still re-encode is due (CLOCK_MONOTONIC). */
static uint64_t still_due_ns(const sb_encoder *enc)
{
    return atomic_load(&enc->last_input_ns) + (uint64_t)enc->cfg.still_delay_ms * 1000000ull;
}

/* Whether a still is owed to video clients (the re-encode of an interactive frame, or the offer
 * of a frame already at still quality), and *due_ns: from when (CLOCK_MONOTONIC). */
static bool still_owed(const encoder_state *st, uint64_t *due_ns)
{
    uint64_t idle = still_due_ns(st->enc);
    if (st->encoded_interactive) {
        *due_ns = idle;
        return true;
    }
    if (st->rest_owed) {
        *due_ns = st->rest_due_ns > idle ? st->rest_due_ns : idle;
        return true;
    }
    return false;
}

/* The scene rests on encoded_seq, already encoded at still quality: its JPEG becomes the still
 * offered to video clients (no encode), and their senders are woken for it. */
static void offer_still_to_video(encoder_state *st)
{
    sb_encoder *enc = st->enc;
    st->rest_owed = false;
    pthread_mutex_lock(&enc->mu);
    bool offered = enc->latest && enc->latest->seq == st->encoded_seq;
    if (offered)
        enc->video_still_id = enc->latest->id;
    pthread_mutex_unlock(&enc->mu);
    if (offered && enc->cfg.on_new_frame)
        enc->cfg.on_new_frame(enc->cfg.user_data);
}

/* Counts frames_published up to the ring seq newest. */
static void count_published(encoder_state *st, uint64_t newest)
{
    if (newest > st->seen_seq) {
        SB_STATS_ADD(st->enc->cfg.stats, frames_published, newest - st->seen_seq);
        st->seen_seq = newest;
    }
}

static void refill_credit(encoder_state *st)
{
    uint64_t now = sb__monotonic_ns();
    st->fps_credit += (double)(now - st->credit_mono) / 1e9 * st->enc->cfg.max_fps;
    st->credit_mono = now;
    if (st->fps_credit > SB_FPS_BURST)
        st->fps_credit = SB_FPS_BURST;
}

/* The fps cap, before encoding the newest frame: true = encode now, false = not this frame
 * (a newer one came, or a ring condition / the stop that the loop's top handles).
 *
 * Over the cap, this frame is skipped if a newer one arrives within one cap period (that one
 * then finds the credit and goes at once), and encoded after that period otherwise, so the last
 * frame of a burst is never lost. Waiting for the credit and then encoding every frame would,
 * with a producer a little faster than max_fps, delay each frame a little more than the one
 * before, up to a whole period before one is coalesced: half a period of latency on average
 * (bench_server measured publish -> sent p50 ~9 ms at 60 fps that way). */
static bool take_fps_credit(encoder_state *st)
{
    sb_encoder *enc = st->enc;
    refill_credit(st);
    if (st->fps_credit < 1.0) {
        int period_ms = (int)(1000.0 / enc->cfg.max_fps) + 1;
        int rc = sb_frame_ring_wait(enc->cfg.ring, st->seen_seq, period_ms, NULL);
        if (atomic_load(&enc->stopping))
            return false;
        /* SB_EWOKEN (woken with nothing newer) is the early SB_ETIMEDOUT: nothing came. */
        if (rc != SB_ETIMEDOUT && rc != SB_EWOKEN)
            return false;
        refill_credit(st);
        if (st->fps_credit < 1.0)
            st->fps_credit = 1.0; /* the wait was rounded to whole milliseconds */
    }
    st->fps_credit -= 1.0;
    return true;
}

/* A JPEG consumer came after the newest frame was handled without a JPEG (only video consumers,
 * or nobody, watched it): its JPEG is owed now, not with the next frame. */
static bool jpeg_due(encoder_state *st)
{
    return st->last_seq != 0 && st->jpeg_seq != st->last_seq &&
           sb__monotonic_ns() >= st->on_demand_after_ns && jpeg_consumed(st->enc);
}

/* The wait for a newer frame: until the still deadline when a still re-encode is owed, else
 * SB_ENCODER_IDLE_WAIT_MS. Returns the ring's result (SB_ETIMEDOUT without waiting when the
 * still deadline has passed). */
static int wait_for_frame(encoder_state *st, uint64_t *newest)
{
    int timeout_ms = SB_ENCODER_IDLE_WAIT_MS;
    uint64_t due;
    if (still_owed(st, &due)) {
        uint64_t now = sb__monotonic_ns();
        timeout_ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
        if (timeout_ms > SB_ENCODER_IDLE_WAIT_MS)
            timeout_ms = SB_ENCODER_IDLE_WAIT_MS;
    }
    int video_ms;
    video_due(st, &video_ms);
    if (video_ms >= 0 && video_ms < timeout_ms)
        timeout_ms = video_ms;
    if (jpeg_due(st))
        timeout_ms = 0;
    /* Something is due now, but a newer frame takes the normal path first: it serves the
     * video codecs too (a joining client's keyframe included), one encode each. */
    if (timeout_ms == 0 && sb_frame_ring_latest_seq(st->enc->cfg.ring) <= st->last_seq)
        return SB_ETIMEDOUT;
    return sb_frame_ring_wait(st->enc->cfg.ring, st->last_seq, timeout_ms ? timeout_ms : 1,
                              newest);
}

/* No newer frame: the still owed to video clients (the re-encode, which JPEG clients get too,
 * or the offer), once it is due. */
static void still_if_due(encoder_state *st)
{
    uint64_t due;
    if (!still_owed(st, &due) || sb__monotonic_ns() < due)
        return;
    if (!st->encoded_interactive && !st->jpeg_missing) {
        offer_still_to_video(st);
    } else if (!encode_newest(st, true)) {
        /* Nothing to improve any more, or nobody left to show it to. */
        st->encoded_interactive = false;
        st->rest_owed = false;
    }
}

/* No newer frame: the JPEG owed to a JPEG consumer that just came (jpeg_due). */
static void jpeg_if_due(encoder_state *st)
{
    if (jpeg_due(st) && !encode_newest(st, false))
        st->on_demand_after_ns = sb__monotonic_ns() + SB_ON_DEMAND_RETRY_NS;
}

/* No newer frame: the video encodes owed without one (video_due). */
static void video_if_due(encoder_state *st)
{
    int wait_ms;
    /* video_wanted first: it also frees the encoders whose last user left (the wake-up). */
    unsigned mask = video_wanted(st) & video_due(st, &wait_ms);
    if (mask)
        encode_video_only(st, mask);
}

/* Truncated or overwritten segment (/healthz and /stats say which). Never wait for a seq that
 * garbage made up: resynchronise with what the ring now validates as its newest frame. */
static void resync_after_bad_segment(encoder_state *st)
{
    uint64_t latest = sb_frame_ring_latest_seq(st->enc->cfg.ring);
    if (st->last_seq > latest)
        st->last_seq = latest;
    if (st->seen_seq > latest)
        st->seen_seq = latest;
}

/* One turn of the loop. false = stop. */
static bool encoder_step(encoder_state *st)
{
    sb_encoder *enc = st->enc;
    uint64_t newest = 0;
    int rc = wait_for_frame(st, &newest);
    if (atomic_load(&enc->stopping))
        return false;
    switch (rc) {
    case SB_OK: break;
    case SB_ETIMEDOUT:
    case SB_EWOKEN: /* woken with nothing newer: as a timeout, re-check and wait again */
        still_if_due(st);
        video_if_due(st);
        jpeg_if_due(st);
        return true;
    case SB_EGONE:
        /* The producer is gone (healthz reports it); nothing new will come until it is. */
        return !sleep_unless_stopping(enc, 200000000ull);
    case SB_EBADSEG:
        resync_after_bad_segment(st);
        return !sleep_unless_stopping(enc, 100000000ull);
    default: return !sleep_unless_stopping(enc, 10000000ull);
    }
    count_published(st, newest);
    if (!take_fps_credit(st))
        return !atomic_load(&enc->stopping);
    count_published(st, sb_frame_ring_latest_seq(enc->cfg.ring));
    encode_newest(st, false);
    return true;
}

static bool encoder_thread_init(sb_encoder *enc, encoder_state *st)
{
    memset(st, 0, sizeof *st);
    st->enc = enc;
    char why[160];
    sb_codec_settings jpeg_settings = {.width = 0, .height = 0, .crf = -1};
    st->jpeg = sb__codec_jpeg.create(&jpeg_settings, why, sizeof why);
    if (!st->jpeg) {
        sb__log("server: %s", why);
        return false;
    }
    /* Frames published before the server started count from the newest one on: it is the one
     * we encode first. */
    uint64_t start_seq = sb_frame_ring_latest_seq(enc->cfg.ring);
    st->last_seq = start_seq ? start_seq - 1 : 0;
    st->seen_seq = st->last_seq;
    /* The fps cap is a token bucket refilled at max_fps with room for SB_FPS_BURST encodes: the
     * average rate never exceeds max_fps, yet a producer running at exactly max_fps with some
     * jitter is not delayed by up to a whole period (a strict minimum interval phase-locks the
     * encoder late and adds latency). */
    st->fps_credit = SB_FPS_BURST;
    st->credit_mono = sb__monotonic_ns();
    return true;
}

static void *encoder_main(void *arg)
{
    sb_encoder *enc = arg;
    /* Named so a profiler or /proc/PID/task shows whose CPU it is (bench_overhead reads it). */
    pthread_setname_np(pthread_self(), "sb-encoder");
    encoder_state st;
    if (!encoder_thread_init(enc, &st))
        return NULL;
    while (!atomic_load(&enc->stopping) && encoder_step(&st)) {
    }
    st.jpeg->vt->destroy(st.jpeg);
    for (int id = 0; id < SB_CODEC_COUNT; id++)
        if (st.video[id])
            st.video[id]->vt->destroy(st.video[id]);
    sb__i420_free(&st.i420);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

int sb__encoder_start(sb_encoder *enc, const sb_encoder_config *cfg)
{
    memset(enc, 0, sizeof *enc);
    atomic_init(&enc->stopping, false);
    atomic_init(&enc->last_input_ns, 0);
    atomic_init(&enc->frame_w, 0);
    atomic_init(&enc->frame_h, 0);
    enc->cfg = *cfg;
    uint32_t w = sb_frame_ring_max_width(cfg->ring), h = sb_frame_ring_max_height(cfg->ring);
    unsigned long cap = sb__jpeg_buffer_size(w, h);
    if (cap == 0)
        return sb__set_error(SB_EINVAL, "sb_server_create", "ring capacity %ux%u is not "
                             "encodable as JPEG", w, h);
    enc->jpeg_capacity = cap;
    enc->available = SB_CODEC_BIT(SB_CODEC_JPEG);
    for (int id = SB_CODEC_JPEG + 1; id < SB_CODEC_COUNT; id++)
        if (sb__codec_available((sb_codec_id)id))
            enc->available |= SB_CODEC_BIT(id);
    pthread_mutex_init(&enc->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&enc->cv, &attr);
    pthread_condattr_destroy(&attr);
    int err = pthread_create(&enc->thread, NULL, encoder_main, enc);
    if (err != 0) {
        pthread_cond_destroy(&enc->cv);
        pthread_mutex_destroy(&enc->mu);
        return sb__set_error(SB_EIO, "sb_server_create", "cannot start the encoder thread: %s",
                             strerror(err));
    }
    enc->started = true;
    return SB_OK;
}

void sb__encoder_request_stop(sb_encoder *enc)
{
    if (!enc->started)
        return;
    pthread_mutex_lock(&enc->mu);
    atomic_store(&enc->stopping, true);
    pthread_cond_broadcast(&enc->cv);
    pthread_mutex_unlock(&enc->mu);
}

void sb__encoder_stop(sb_encoder *enc)
{
    if (!enc->started)
        return;
    sb__encoder_request_stop(enc);
    sb_frame_ring_wake_all(enc->cfg.ring);
    pthread_join(enc->thread, NULL);
    enc->started = false;
    sb_encoded_frame *latest = enc->latest;
    enc->latest = NULL;
    sb__frame_unref(latest);
    for (int id = 0; id < SB_CODEC_COUNT; id++) {
        sb_encoded_frame *drop[SB_VIDEO_RING];
        unref_all(drop, ring_clear_locked(&enc->video[id], drop));
    }
    while (enc->pool) {
        sb_encoded_frame *f = enc->pool;
        enc->pool = f->next_free;
        frame_destroy(f);
    }
    enc->pool_size = 0;
    pthread_cond_destroy(&enc->cv);
    pthread_mutex_destroy(&enc->mu);
}

/* ---- video: the clients' side ---------------------------------------------------------------- */

bool sb__encoder_codec_available(const sb_encoder *enc, int codec)
{
    return codec >= 0 && codec < SB_CODEC_COUNT && (enc->available & SB_CODEC_BIT(codec));
}

/* The encoder thread may owe an encode now (a first user, a keyframe asked for): wake its wait
 * on the ring (it re-checks, as after any early wake-up). */
static void wake_encoder(sb_encoder *enc)
{
    sb_frame_ring_wake_all(enc->cfg.ring);
}

int sb__encoder_video_users(sb_encoder *enc, int codec)
{
    pthread_mutex_lock(&enc->mu);
    int n = enc->video[codec].users;
    pthread_mutex_unlock(&enc->mu);
    return n;
}

void sb__encoder_video_join(sb_encoder *enc, int codec, sb_video_cursor *cur)
{
    memset(cur, 0, sizeof *cur);
    pthread_mutex_lock(&enc->mu);
    enc->video[codec].users++;
    pthread_mutex_unlock(&enc->mu);
    wake_encoder(enc);
}

void sb__encoder_video_leave(sb_encoder *enc, int codec)
{
    pthread_mutex_lock(&enc->mu);
    bool last = --enc->video[codec].users == 0;
    pthread_mutex_unlock(&enc->mu);
    if (last)
        wake_encoder(enc); /* frees the codec's encoder and packets now */
}

void sb__encoder_jpeg_join(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    bool first = enc->jpeg_users++ == 0;
    pthread_mutex_unlock(&enc->mu);
    if (first)
        wake_encoder(enc); /* the newest frame may have no JPEG yet */
}

void sb__encoder_jpeg_leave(sb_encoder *enc)
{
    pthread_mutex_lock(&enc->mu);
    enc->jpeg_users--;
    pthread_mutex_unlock(&enc->mu);
}

/* One keyframe wanted by a client (under enc->mu): merged into a pending one, else pending
 * until the rate limit allows forcing it. true when it is newly pending: only then is the
 * encoder woken (so requests, however many, cannot wake it more often than keyframes come). */
static bool request_key_locked(sb_encoder *enc, int codec)
{
    sb_video_stream *vs = &enc->video[codec];
    SB_CODEC_STATS_ADD(enc->cfg.stats, codec, keyframes_requested, 1);
    if (vs->key_pending) {
        SB_CODEC_STATS_ADD(enc->cfg.stats, codec, requests_merged, 1);
        return false;
    }
    vs->key_pending = true;
    return true;
}

/* Whether packet (stream_id, frame_no) is at or after cur's waiting position. */
static bool at_or_after(const sb_video_cursor *cur, uint32_t stream_id, uint32_t frame_no)
{
    return stream_id > cur->stream_id || (stream_id == cur->stream_id && frame_no >= cur->frame_no);
}

/* cur waits for the next keyframe of the current stream, which is requested; true when the
 * encoder needs waking (request_key_locked). */
static bool wait_for_next_key_locked(sb_encoder *enc, int codec, sb_video_cursor *cur)
{
    const sb_video_stream *vs = &enc->video[codec];
    cur->synced = false;
    cur->waiting = true;
    cur->stream_id = vs->stream_id;
    cur->frame_no = vs->next_frame_no;
    return request_key_locked(enc, codec);
}

/* Where a cursor that is not synced starts waiting (under enc->mu); true when the encoder needs
 * waking for the keyframe requested. A joining client takes the newest packet if it is a
 * keyframe, else the next. */
static bool position_locked(sb_encoder *enc, int codec, sb_video_cursor *cur)
{
    const sb_video_stream *vs = &enc->video[codec];
    if (cur->synced) {
        if (cur->stream_id == vs->stream_id) {
            /* Behind by more than the ring holds: the packets it needs are gone. */
            return wait_for_next_key_locked(enc, codec, cur);
        }
        /* A new stream (size change): its first packet is a keyframe, maybe still in the
         * ring; any keyframe of a newer stream will do. */
        cur->synced = false;
        cur->waiting = true;
        cur->frame_no = UINT32_MAX;
        return false;
    }
    if (cur->waiting)
        return false;
    cur->waiting = true;
    if (vs->count == 0) { /* no packet yet: the first one (a keyframe) will do */
        cur->stream_id = 0;
        cur->frame_no = 0;
        return request_key_locked(enc, codec);
    }
    uint32_t newest = vs->next_frame_no - 1;
    if (vs->ring[newest % SB_VIDEO_RING]->keyframe) {
        cur->stream_id = vs->stream_id;
        cur->frame_no = newest;
        return false;
    }
    return wait_for_next_key_locked(enc, codec, cur);
}

sb_encoded_frame *sb__encoder_video_next(sb_encoder *enc, int codec, sb_video_cursor *cur,
                                         bool *failed)
{
    sb_encoded_frame *f = NULL;
    bool wake = false;
    pthread_mutex_lock(&enc->mu);
    sb_video_stream *vs = &enc->video[codec];
    *failed = vs->failed;
    uint32_t next = vs->next_frame_no, oldest = next - vs->count;
    if (vs->failed) {
        /* nothing: the caller falls back to JPEG */
    } else if (cur->synced && cur->stream_id == vs->stream_id && cur->frame_no >= oldest &&
               cur->frame_no - oldest <= vs->count) {
        /* In order: the next packet it needs is in the ring (or not made yet). */
        if (cur->frame_no < next) {
            f = vs->ring[cur->frame_no % SB_VIDEO_RING];
            cur->frame_no++;
        }
    } else {
        wake = position_locked(enc, codec, cur);
        for (uint32_t no = oldest; no != next; no++) {
            sb_encoded_frame *p = vs->ring[no % SB_VIDEO_RING];
            if (p->keyframe && at_or_after(cur, vs->stream_id, no)) {
                f = p;
                cur->synced = true;
                cur->waiting = false;
                cur->stream_id = vs->stream_id;
                cur->frame_no = no + 1;
                break;
            }
        }
        if (!f && vs->count && vs->stream_id > cur->stream_id && oldest > 0) {
            /* The new stream's first keyframe is gone already: the next one, then. */
            wake = wait_for_next_key_locked(enc, codec, cur);
        }
    }
    if (f)
        sb__frame_ref(f);
    pthread_mutex_unlock(&enc->mu);
    if (wake)
        wake_encoder(enc);
    return f;
}

bool sb__encoder_video_has_newer(sb_encoder *enc, int codec, const sb_video_cursor *cur)
{
    pthread_mutex_lock(&enc->mu);
    const sb_video_stream *vs = &enc->video[codec];
    bool newer = vs->count > 0 && (!cur->synced || cur->stream_id != vs->stream_id ||
                                   cur->frame_no < vs->next_frame_no);
    pthread_mutex_unlock(&enc->mu);
    return newer;
}

void sb__encoder_video_request_key(sb_encoder *enc, int codec, sb_video_cursor *cur)
{
    pthread_mutex_lock(&enc->mu);
    bool wake = wait_for_next_key_locked(enc, codec, cur);
    pthread_mutex_unlock(&enc->mu);
    if (wake)
        wake_encoder(enc);
}

void sb__encoder_video_want_key(sb_encoder *enc, int codec)
{
    pthread_mutex_lock(&enc->mu);
    bool wake = request_key_locked(enc, codec);
    pthread_mutex_unlock(&enc->mu);
    if (wake)
        wake_encoder(enc);
}
