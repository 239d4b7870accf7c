/* encoder.c - the server's one encoder thread: waits on the frame ring, encodes each new frame
 * ONCE into a refcounted JPEG shared by every client, and re-encodes the current frame once at
 * still quality when input goes idle.
 *
 * Quality policy (docs/wire-protocol.md, "Quality"): a frame published within still_delay_ms of
 * the last input event is encoded at interactive quality, and once input has been idle for
 * still_delay_ms the current frame is re-encoded once at still quality. A frame published with
 * no input in the last still_delay_ms (an animation, a programmatic update) is encoded at still
 * quality directly, so it never needs a second encode. */
#include "server_internal.h"

#include "sb_error_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

#define SB_POOL_MAX 6

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
    sb_server *srv = f->srv;
    pthread_mutex_lock(&srv->latest_mu);
    if (srv->pool_size < SB_POOL_MAX) {
        f->next_free = srv->pool;
        srv->pool = f;
        srv->pool_size++;
        f = NULL;
    }
    pthread_mutex_unlock(&srv->latest_mu);
    frame_destroy(f);
}

/* A frame with a buffer of srv->jpeg_capacity bytes, from the pool when one is free. */
static sb_encoded_frame *frame_obtain(sb_server *srv)
{
    pthread_mutex_lock(&srv->latest_mu);
    sb_encoded_frame *f = srv->pool;
    if (f) {
        srv->pool = f->next_free;
        srv->pool_size--;
    }
    pthread_mutex_unlock(&srv->latest_mu);
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f)
            return NULL;
        f->jpeg = malloc(srv->jpeg_capacity);
        if (!f->jpeg) {
            free(f);
            return NULL;
        }
        f->capacity = srv->jpeg_capacity;
        f->srv = srv;
    }
    atomic_store(&f->refs, 1);
    f->next_free = NULL;
    return f;
}

sb_encoded_frame *sb__latest_frame(sb_server *srv)
{
    pthread_mutex_lock(&srv->latest_mu);
    sb_encoded_frame *f = srv->latest;
    if (f)
        sb__frame_ref(f);
    pthread_mutex_unlock(&srv->latest_mu);
    return f;
}

void sb__encoder_free_frames(sb_server *srv)
{
    sb_encoded_frame *latest = srv->latest;
    srv->latest = NULL;
    sb__frame_unref(latest);
    while (srv->pool) {
        sb_encoded_frame *f = srv->pool;
        srv->pool = f->next_free;
        frame_destroy(f);
    }
    srv->pool_size = 0;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static int tj_pixel_format(uint32_t format)
{
    switch (format) {
    case SB_PIXEL_BGRA: return TJPF_BGRA;
    case SB_PIXEL_RGBA: return TJPF_RGBA;
    case SB_PIXEL_RGB: return TJPF_RGB;
    default: return -1;
    }
}

static void record_encode_time(sb_server *srv, double ms)
{
    pthread_mutex_lock(&srv->stats_mu);
    srv->encode_ms[srv->encode_count % SB_ENCODE_SAMPLES] = ms;
    srv->encode_count++;
    if (srv->encode_samples < SB_ENCODE_SAMPLES)
        srv->encode_samples++;
    srv->encode_ms_total += ms;
    pthread_mutex_unlock(&srv->stats_mu);
}

/* Sleeps up to ms milliseconds; returns early (true) when the server is stopping. */
static bool sleep_unless_stopping(sb_server *srv, uint64_t ns)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t t = (uint64_t)deadline.tv_nsec + ns;
    deadline.tv_sec += (time_t)(t / 1000000000ull);
    deadline.tv_nsec = (long)(t % 1000000000ull);
    pthread_mutex_lock(&srv->stop_mu);
    while (!atomic_load(&srv->stopping)) {
        if (pthread_cond_timedwait(&srv->stop_cv, &srv->stop_mu, &deadline) == ETIMEDOUT)
            break;
    }
    bool stopping = atomic_load(&srv->stopping);
    pthread_mutex_unlock(&srv->stop_mu);
    return stopping;
}

typedef struct encoder_state {
    tjhandle tj;
    uint64_t last_seq;         /* newest ring seq handled (encoded or coalesced) */
    uint64_t encoded_seq;      /* seq of the newest frame we encoded */
    bool encoded_interactive;  /* that encode used interactive quality: a still one is owed */
    uint64_t next_id;
    uint64_t distinct_no;
    double fps_credit;         /* fps cap: encodes allowed now (token bucket, see below) */
    uint64_t credit_mono;      /* when fps_credit was last refilled */
    bool logged_error;
} encoder_state;

/* Encodes the ring's newest frame. still_only: only if it is still encoded_seq (the still
 * re-encode of the current frame). Returns true when a frame was published to clients. */
static bool encode_newest(sb_server *srv, encoder_state *st, bool still_only)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        sb_frame frame;
        if (sb_frame_ring_acquire(srv->ring, &frame) != SB_OK)
            return false;
        if (still_only && frame.info.seq != st->encoded_seq) {
            sb_frame_ring_release(srv->ring, &frame);
            return false; /* a newer frame arrived: the normal path handles it */
        }
        int pf = tj_pixel_format(frame.info.format);
        if (pf < 0 || frame.info.width == 0 || frame.info.height == 0) {
            sb_frame_ring_release(srv->ring, &frame);
            if (!st->logged_error) {
                sb__log("server: frame %llu has unsupported format %u",
                        (unsigned long long)frame.info.seq, frame.info.format);
                st->logged_error = true;
            }
            atomic_fetch_add(&srv->encode_errors, 1);
            st->last_seq = frame.info.seq;
            return false;
        }
        uint64_t input_ns = atomic_load(&srv->last_input_ns);
        uint64_t now = sb__monotonic_ns();
        uint64_t still_delay_ns = (uint64_t)srv->opts.still_delay_ms * 1000000ull;
        bool interactive = !still_only && input_ns != 0 && now - input_ns < still_delay_ns;
        int quality = interactive ? srv->opts.jpeg_quality_interactive : srv->opts.jpeg_quality_still;

        sb_encoded_frame *ef = frame_obtain(srv);
        if (!ef) {
            sb_frame_ring_release(srv->ring, &frame);
            atomic_fetch_add(&srv->encode_errors, 1);
            return false;
        }
        unsigned char *buf = ef->jpeg;
        unsigned long size = ef->capacity;
        int flags = TJFLAG_NOREALLOC | (frame.info.bottom_up ? TJFLAG_BOTTOMUP : 0);
        uint64_t t0 = sb__monotonic_ns();
        int rc = tjCompress2(st->tj, frame.pixels, (int)frame.info.width, (int)frame.info.stride,
                             (int)frame.info.height, pf, &buf, &size, TJSAMP_420, quality, flags);
        uint64_t t1 = sb__monotonic_ns();
        int rel = sb_frame_ring_release(srv->ring, &frame);
        if (rc != 0) {
            if (!st->logged_error) {
                sb__log("server: tjCompress2 failed for frame %llu: %s",
                        (unsigned long long)frame.info.seq, tjGetErrorStr2(st->tj));
                st->logged_error = true;
            }
            sb__frame_unref(ef);
            atomic_fetch_add(&srv->encode_errors, 1);
            st->last_seq = frame.info.seq;
            return false;
        }
        if (rel == SB_ESTALE) {
            /* The writer reused the slot mid-encode: the JPEG may be torn. Try the newest. */
            sb__frame_unref(ef);
            continue;
        }
        record_encode_time(srv, (double)(t1 - t0) / 1e6);

        /* Everything published since the last handled seq and not encoded was coalesced. */
        if (!still_only) {
            uint64_t newly = frame.info.seq > st->last_seq ? frame.info.seq - st->last_seq : 0;
            if (newly > 1)
                atomic_fetch_add(&srv->frames_coalesced, newly - 1);
            atomic_fetch_add(&srv->frames_encoded, 1);
            st->distinct_no++;
        } else {
            atomic_fetch_add(&srv->frames_encoded_still, 1);
        }
        st->last_seq = frame.info.seq;
        st->encoded_seq = frame.info.seq;
        st->encoded_interactive = interactive;

        ef->id = ++st->next_id;
        ef->distinct_no = st->distinct_no;
        ef->seq = frame.info.seq;
        ef->width = frame.info.width;
        ef->height = frame.info.height;
        ef->quality = (uint32_t)quality;
        ef->still = interactive ? 0u : 1u;
        ef->capture_ns = frame.info.capture_ns;
        ef->encoded_ns = sb__realtime_ns();
        ef->jpeg_len = size;

        atomic_store(&srv->frame_w, frame.info.width);
        atomic_store(&srv->frame_h, frame.info.height);
        pthread_mutex_lock(&srv->latest_mu);
        sb_encoded_frame *old = srv->latest;
        srv->latest = ef;
        pthread_cond_broadcast(&srv->latest_cv);
        pthread_mutex_unlock(&srv->latest_mu);
        sb__frame_unref(old);
        sb__clients_announce(srv);
        return true;
    }
    return false;
}

static void *encoder_main(void *arg)
{
    sb_server *srv = arg;
    encoder_state st;
    memset(&st, 0, sizeof st);
    st.tj = tjInitCompress();
    if (!st.tj) {
        sb__log("server: tjInitCompress failed: %s", tjGetErrorStr2(NULL));
        return NULL;
    }
    /* Frames published before the server started count from the newest one on: it is the one
     * we encode first. */
    uint64_t start_seq = sb_frame_ring_latest_seq(srv->ring);
    st.last_seq = start_seq ? start_seq - 1 : 0;
    uint64_t seen_seq = st.last_seq;
    /* The fps cap is a token bucket refilled at max_fps with room for 2 encodes: the average
     * rate never exceeds max_fps, yet a producer running at exactly max_fps with some jitter is
     * not delayed by up to a whole period (a strict minimum interval phase-locks the encoder
     * late and adds latency). */
    const double fps_burst = 2.0;
    st.fps_credit = fps_burst;
    st.credit_mono = sb__monotonic_ns();

    while (!atomic_load(&srv->stopping)) {
        /* Wake at the still deadline when a still re-encode is owed, else poll the stop flag
         * twice a second (sb_server_destroy also wakes us through the ring). */
        int timeout_ms = 500;
        bool still_owed = st.encoded_interactive;
        if (still_owed) {
            uint64_t due = atomic_load(&srv->last_input_ns) +
                           (uint64_t)srv->opts.still_delay_ms * 1000000ull;
            uint64_t now = sb__monotonic_ns();
            timeout_ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
        }
        uint64_t newest = 0;
        int rc = timeout_ms > 0 ? sb_frame_ring_wait(srv->ring, st.last_seq, timeout_ms, &newest)
                                : SB_ETIMEDOUT;
        if (atomic_load(&srv->stopping))
            break;
        if (rc == SB_EGONE) {
            /* The producer is gone (healthz reports it); nothing new will come until it is. */
            if (sleep_unless_stopping(srv, 200000000ull))
                break;
            continue;
        }
        if (rc == SB_ETIMEDOUT) {
            if (still_owed) {
                uint64_t due = atomic_load(&srv->last_input_ns) +
                               (uint64_t)srv->opts.still_delay_ms * 1000000ull;
                if (sb__monotonic_ns() >= due) {
                    if (!encode_newest(srv, &st, true))
                        st.encoded_interactive = false; /* nothing to improve any more */
                }
            }
            continue;
        }
        if (rc == SB_EBADSEG) {
            /* Truncated or overwritten segment (/healthz and /stats say which). Never wait for a
             * seq that garbage made up: resynchronise with what the ring now validates as its
             * newest frame, and look again a little later. */
            uint64_t latest = sb_frame_ring_latest_seq(srv->ring);
            if (st.last_seq > latest)
                st.last_seq = latest;
            if (seen_seq > latest)
                seen_seq = latest;
            if (sleep_unless_stopping(srv, 100000000ull))
                break;
            continue;
        }
        if (rc != SB_OK) {
            if (sleep_unless_stopping(srv, 10000000ull))
                break;
            continue;
        }
        if (newest > seen_seq) {
            atomic_fetch_add(&srv->frames_published, newest - seen_seq);
            seen_seq = newest;
        }
        /* fps cap: frames arriving faster are coalesced to the newest one. */
        uint64_t now = sb__monotonic_ns();
        st.fps_credit += (double)(now - st.credit_mono) / 1e9 * srv->opts.max_fps;
        st.credit_mono = now;
        if (st.fps_credit > fps_burst)
            st.fps_credit = fps_burst;
        if (st.fps_credit < 1.0) {
            /* Over the cap: this frame is skipped if a newer one arrives within one cap period
             * (that one then finds the credit and goes at once), and encoded after that period
             * otherwise, so the last frame of a burst is never lost. Waiting for the credit and
             * then encoding every frame would, with a producer a little faster than max_fps,
             * delay each frame a little more than the one before, up to a whole period before
             * one is coalesced: half a period of latency on average (bench_server measured
             * publish -> sent p50 ~9 ms at 60 fps that way). */
            int period_ms = (int)(1000.0 / srv->opts.max_fps) + 1;
            int wrc = sb_frame_ring_wait(srv->ring, seen_seq, period_ms, NULL);
            if (atomic_load(&srv->stopping))
                break;
            if (wrc != SB_ETIMEDOUT)
                continue; /* a newer frame (or a ring condition the top of the loop handles) */
            now = sb__monotonic_ns();
            st.fps_credit += (double)(now - st.credit_mono) / 1e9 * srv->opts.max_fps;
            st.credit_mono = now;
            if (st.fps_credit > fps_burst)
                st.fps_credit = fps_burst;
            if (st.fps_credit < 1.0)
                st.fps_credit = 1.0; /* the wait was rounded to whole milliseconds */
        }
        st.fps_credit -= 1.0;
        uint64_t latest = sb_frame_ring_latest_seq(srv->ring);
        if (latest > seen_seq) {
            atomic_fetch_add(&srv->frames_published, latest - seen_seq);
            seen_seq = latest;
        }
        encode_newest(srv, &st, false);
    }
    tjDestroy(st.tj);
    return NULL;
}

int sb__encoder_start(sb_server *srv)
{
    uint32_t w = sb_frame_ring_max_width(srv->ring), h = sb_frame_ring_max_height(srv->ring);
    unsigned long cap = tjBufSize((int)w, (int)h, TJSAMP_420);
    if (cap == (unsigned long)-1 || cap == 0)
        return sb__set_error(SB_EINVAL, "sb_server_create", "ring capacity %ux%u is not encodable: %s", w, h,
                       tjGetErrorStr2(NULL));
    srv->jpeg_capacity = cap;
    int err = pthread_create(&srv->encoder, NULL, encoder_main, srv);
    if (err != 0)
        return sb__set_error(SB_EIO, "sb_server_create", "cannot start the encoder thread: %s", strerror(err));
    srv->encoder_started = true;
    return SB_OK;
}

void sb__encoder_join(sb_server *srv)
{
    if (srv->encoder_started) {
        sb_frame_ring_wake_all(srv->ring);
        pthread_join(srv->encoder, NULL);
        srv->encoder_started = false;
    }
}
