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

/* ---- frame objects and their pool ---------------------------------------------------------- */

void sb__frame_ref(sb_encoded_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static void frame_destroy(sb_encoded_frame *f)
{
    if (f) {
        free(f->jpeg);
        free(f);
    }
}

void sb__frame_unref(sb_encoded_frame *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
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
        f->jpeg = malloc(enc->jpeg_capacity);
        if (!f->jpeg) {
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

sb_encoded_frame *sb__encoder_wait_latest(sb_encoder *enc, int timeout_ms)
{
    struct timespec deadline = deadline_in((uint64_t)timeout_ms * 1000000ull);
    pthread_mutex_lock(&enc->mu);
    while (!enc->latest && !atomic_load(&enc->stopping)) {
        if (pthread_cond_timedwait(&enc->cv, &enc->mu, &deadline) == ETIMEDOUT)
            break;
    }
    sb_encoded_frame *f = enc->latest;
    if (f)
        sb__frame_ref(f);
    pthread_mutex_unlock(&enc->mu);
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

/* Makes f the newest frame (its reference moves to enc->latest) and tells the layer above. */
static void publish(sb_encoder *enc, sb_encoded_frame *f)
{
    atomic_store(&enc->frame_w, f->width);
    atomic_store(&enc->frame_h, f->height);
    pthread_mutex_lock(&enc->mu);
    sb_encoded_frame *old = enc->latest;
    enc->latest = f;
    pthread_cond_broadcast(&enc->cv);
    pthread_mutex_unlock(&enc->mu);
    sb__frame_unref(old);
    if (enc->cfg.on_new_frame)
        enc->cfg.on_new_frame(enc->cfg.user_data);
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
    uint64_t last_seq;         /* newest ring seq handled (encoded or coalesced) */
    uint64_t seen_seq;         /* newest ring seq counted in frames_published */
    uint64_t encoded_seq;      /* seq of the newest frame we encoded */
    bool encoded_interactive;  /* that encode used interactive quality: a still one is owed */
    uint64_t next_id;
    uint64_t distinct_no;
    double fps_credit;         /* fps cap: encodes allowed now (token bucket, see below) */
    uint64_t credit_mono;      /* when fps_credit was last refilled */
    bool logged_error;
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

/* Compresses the acquired frame into ef and releases it. Returns the ring's release result
 * (SB_ESTALE: the writer reused the slot mid-encode) or, when the codec fails, COMPRESS_FAILED. */
#define COMPRESS_FAILED 1
static int compress(encoder_state *st, sb_frame *frame, int quality, sb_encoded_frame *ef)
{
    sb_codec_picture pic = ring_picture(frame);
    sb_codec_packet out = {.data = ef->jpeg, .capacity = ef->capacity, .fixed = true};
    uint64_t t0 = sb__monotonic_ns();
    int rc = st->jpeg->vt->encode(st->jpeg, &pic, quality, false, &out);
    uint64_t t1 = sb__monotonic_ns();
    int rel = sb_frame_ring_release(st->enc->cfg.ring, frame);
    if (rc != SB_OK) {
        encode_failed(st, frame->info.seq, st->jpeg->error);
        return COMPRESS_FAILED;
    }
    if (rel != SB_ESTALE)
        sb__stats_record_encode(st->enc->cfg.stats, (double)(t1 - t0) / 1e6);
    ef->jpeg_len = (unsigned long)out.len;
    return rel;
}

/* Counts the encode and fills ef's description of the frame. */
static void account_encode(encoder_state *st, const sb_frame_info *info, bool still_only,
                           bool interactive, int quality, sb_encoded_frame *ef)
{
    sb_stats *stats = st->enc->cfg.stats;
    /* Everything published since the last handled seq and not encoded was coalesced. */
    if (!still_only) {
        uint64_t newly = info->seq > st->last_seq ? info->seq - st->last_seq : 0;
        if (newly > 1)
            SB_STATS_ADD(stats, frames_coalesced, newly - 1);
        SB_STATS_ADD(stats, frames_encoded, 1);
        st->distinct_no++;
    } else {
        SB_STATS_ADD(stats, frames_encoded_still, 1);
    }
    st->last_seq = info->seq;
    st->encoded_seq = info->seq;
    st->encoded_interactive = interactive;

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

/* One attempt at encoding the ring's newest frame (see encode_newest). */
static encode_result encode_once(encoder_state *st, bool still_only)
{
    sb_encoder *enc = st->enc;
    sb_frame frame;
    if (sb_frame_ring_acquire(enc->cfg.ring, &frame) != SB_OK)
        return ENCODE_SKIPPED;
    if (still_only && frame.info.seq != st->encoded_seq) {
        sb_frame_ring_release(enc->cfg.ring, &frame);
        return ENCODE_SKIPPED; /* a newer frame arrived: the normal path handles it */
    }
    uint32_t fmt = frame.info.format;
    if ((fmt != SB_PIXEL_BGRA && fmt != SB_PIXEL_RGBA && fmt != SB_PIXEL_RGB) ||
        frame.info.width == 0 || frame.info.height == 0) {
        sb_frame_ring_release(enc->cfg.ring, &frame);
        char why[64];
        snprintf(why, sizeof why, "unsupported format %u", frame.info.format);
        encode_failed(st, frame.info.seq, why);
        return ENCODE_SKIPPED;
    }
    bool interactive = input_is_recent(enc, still_only);
    int quality = interactive ? enc->cfg.jpeg_quality_interactive : enc->cfg.jpeg_quality_still;
    sb_encoded_frame *ef = frame_obtain(enc);
    if (!ef) {
        sb_frame_ring_release(enc->cfg.ring, &frame);
        SB_STATS_ADD(enc->cfg.stats, encode_errors, 1);
        return ENCODE_SKIPPED;
    }
    sb_frame_info info = frame.info; /* frame is released inside compress */
    int rc = compress(st, &frame, quality, ef);
    if (rc == COMPRESS_FAILED || rc == SB_ESTALE) {
        sb__frame_unref(ef);
        /* SB_ESTALE: the writer reused the slot mid-encode, the JPEG may be torn: try the
         * newest frame again. */
        return rc == SB_ESTALE ? ENCODE_RETRY : ENCODE_SKIPPED;
    }
    account_encode(st, &info, still_only, interactive, quality, ef);
    publish(enc, ef);
    return ENCODE_PUBLISHED;
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

/* The wait for a newer frame: until the still deadline when a still re-encode is owed, else
 * SB_ENCODER_IDLE_WAIT_MS. Returns the ring's result (SB_ETIMEDOUT without waiting when the
 * still deadline has passed). */
static int wait_for_frame(encoder_state *st, uint64_t *newest)
{
    int timeout_ms = SB_ENCODER_IDLE_WAIT_MS;
    if (st->encoded_interactive) {
        uint64_t due = still_due_ns(st->enc), now = sb__monotonic_ns();
        timeout_ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
    }
    if (timeout_ms == 0)
        return SB_ETIMEDOUT;
    return sb_frame_ring_wait(st->enc->cfg.ring, st->last_seq, timeout_ms, newest);
}

/* No newer frame: the still re-encode, once it is due. */
static void still_if_due(encoder_state *st)
{
    if (st->encoded_interactive && sb__monotonic_ns() >= still_due_ns(st->enc)) {
        if (!encode_newest(st, true))
            st->encoded_interactive = false; /* nothing to improve any more */
    }
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
    encoder_state st;
    if (!encoder_thread_init(enc, &st))
        return NULL;
    while (!atomic_load(&enc->stopping) && encoder_step(&st)) {
    }
    st.jpeg->vt->destroy(st.jpeg);
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
    while (enc->pool) {
        sb_encoded_frame *f = enc->pool;
        enc->pool = f->next_free;
        frame_destroy(f);
    }
    enc->pool_size = 0;
    pthread_cond_destroy(&enc->cv);
    pthread_mutex_destroy(&enc->mu);
}
