/* streams.c - the server's named streams (server_internal.h): sb_server_add_stream /
 * sb_server_remove_stream, finding a stream by name or by request path (/v/NAME/...), the
 * /streams list and the picker's thumbnails. Each stream has its own encoder, client registry
 * and counters; the civetweb instance, the port, the options and the admission limits are the
 * server's. */
#include "server_internal.h"

#include "rtp.h"
#include "sb_error_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* A thumbnail is re-encoded at most this often per stream (the picker polls): the rest of the
 * time everyone gets the cached one. */
#define SB_THUMB_INTERVAL_MS 1000
#define SB_THUMB_QUALITY 75
/* One size for everyone (the picker's cards): a caller cannot force re-encodes by asking for
 * ever other sizes. */
#define SB_THUMB_MAX_WIDTH 320

/* ---- names ----------------------------------------------------------------------------------- */

bool sb__stream_name_valid(const char *name, size_t len, const char **why)
{
    if (len == 0 || len > SB_SERVER_STREAM_NAME_MAX) {
        *why = "a stream name has 1..64 characters";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-';
        if (!ok) {
            *why = "a stream name has only the characters A-Z a-z 0-9 . _ -";
            return false;
        }
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
        *why = "\".\" and \"..\" are not stream names";
        return false;
    }
    return true;
}

/* ---- references ------------------------------------------------------------------------------ */

void sb__stream_ref(sb_server_stream *st)
{
    pthread_mutex_lock(&st->srv->streams_mu);
    st->refs++;
    pthread_mutex_unlock(&st->srv->streams_mu);
}

void sb__stream_unref(sb_server_stream *st)
{
    if (!st)
        return;
    sb_server *srv = st->srv;
    pthread_mutex_lock(&srv->streams_mu);
    st->refs--;
    pthread_cond_broadcast(&srv->streams_cv);
    pthread_mutex_unlock(&srv->streams_mu);
}

/* Under streams_mu. */
static sb_server_stream *find_locked(sb_server *srv, const char *name, size_t len)
{
    for (sb_server_stream *st = srv->streams; st; st = st->next)
        if (strlen(st->name) == len && memcmp(st->name, name, len) == 0)
            return st;
    return NULL;
}

sb_server_stream *sb__stream_find(sb_server *srv, const char *name, size_t len)
{
    pthread_mutex_lock(&srv->streams_mu);
    sb_server_stream *st = find_locked(srv, name, len);
    if (st)
        st->refs++;
    pthread_mutex_unlock(&srv->streams_mu);
    return st;
}

sb_server_stream *sb__stream_default(sb_server *srv)
{
    return sb__stream_find(srv, SB_SERVER_DEFAULT_STREAM_NAME,
                           strlen(SB_SERVER_DEFAULT_STREAM_NAME));
}

bool sb__stream_resolve(sb_server *srv, const char *path, sb_server_stream **stream,
                        const char **rest, bool *named)
{
    *stream = NULL;
    *named = false;
    if (strncmp(path, "/v/", 3) != 0) {
        *rest = path;
        *stream = sb__stream_default(srv);
        return true;
    }
    *named = true;
    const char *name = path + 3;
    const char *slash = strchr(name, '/');
    size_t len = slash ? (size_t)(slash - name) : strlen(name);
    const char *why;
    if (!sb__stream_name_valid(name, len, &why))
        return false;
    *rest = slash ? slash : ""; /* "": /v/NAME without the slash (the caller redirects) */
    *stream = sb__stream_find(srv, name, len);
    return true;
}

int sb__streams_count(sb_server *srv)
{
    int n = 0;
    pthread_mutex_lock(&srv->streams_mu);
    for (sb_server_stream *st = srv->streams; st; st = st->next)
        n++;
    pthread_mutex_unlock(&srv->streams_mu);
    return n;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* The encoder's on_new_frame: every consumer that waits for packets looks again. */
static void on_new_frame(void *arg)
{
    sb_server_stream *st = arg;
    sb__clients_on_new_frame(&st->clients);
    sb__rtp_sender_wake(st->rtp);
}

/* The default stream with rtp_host: its RTP sender (rtp.h), made before the encoder starts (its
 * wake-up is then ready for the first frame) and started after (it joins the encoder as a
 * consumer). One mountpoint, one stream: named streams have none. */
static int create_rtp_sender(sb_server_stream *st)
{
    sb_server *srv = st->srv;
    if (!srv->rtp_host || strcmp(st->name, SB_SERVER_DEFAULT_STREAM_NAME) != 0)
        return SB_OK;
    int codec = sb__codec_by_name(srv->rtp_codec, strlen(srv->rtp_codec));
    if (!sb__codec_available((sb_codec_id)codec))
        return SB_FAIL(SB_EINVAL, "rtp_codec %s is not available in this build's libavcodec",
                       srv->rtp_codec);
    return sb__rtp_sender_create(&srv->opts, "sb_server_create", &st->rtp);
}

static int start_encoder(sb_server_stream *st)
{
    const sb_server_options *o = &st->srv->opts;
    sb_encoder_config cfg = {
        .ring = st->ring,
        .stats = &st->stats,
        .jpeg_quality_interactive = o->jpeg_quality_interactive,
        .jpeg_quality_still = o->jpeg_quality_still,
        .still_delay_ms = o->still_delay_ms,
        .max_fps = o->max_fps,
        .video_crf = o->video_crf,
        .video_max_kbps = o->video_max_kbps,
        .keyframe_min_interval_ms = o->keyframe_min_interval_ms,
        .keyframe_interval_ms = o->keyframe_interval_ms,
        .on_new_frame = on_new_frame,
        .user_data = st,
    };
    int rc = create_rtp_sender(st);
    if (rc == SB_OK)
        rc = sb__encoder_start(&st->encoder, &cfg);
    if (rc == SB_OK && st->rtp)
        rc = sb__rtp_sender_start(st->rtp, &st->encoder);
    return rc;
}

/* Frees what stream_new made; its encoder is stopped and no client or request holds it. */
static void stream_free(sb_server_stream *st)
{
    /* The sender's thread before the encoder (it gives its packets back and leaves the codec);
     * the sender itself after (the encoder thread may wake it until it is joined). */
    sb__rtp_sender_stop(st->rtp);
    sb__encoder_stop(&st->encoder);
    sb__rtp_sender_destroy(st->rtp);
    st->rtp = NULL;
    sb__clients_destroy(&st->clients);
    sb__stats_destroy(&st->stats);
    pthread_mutex_destroy(&st->thumb_mu);
    tjFree(st->thumb);
    free(st);
}

static int stream_new(sb_server *srv, const char *name, sb_frame_ring *ring,
                      sb_event_queue *queue, sb_server_stream **out)
{
    sb_server_stream *st = calloc(1, sizeof *st);
    if (!st)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the stream");
    st->srv = srv;
    snprintf(st->name, sizeof st->name, "%s", name);
    st->ring = ring;
    st->queue = queue;
    atomic_init(&st->stopping, false);
    sb__stats_init(&st->stats);
    sb__clients_init(&st->clients, &srv->admission, &srv->next_client_id, &st->encoder,
                     &st->stats, &st->stopping);
    pthread_mutex_init(&st->thumb_mu, NULL);
    int rc = start_encoder(st);
    if (rc != SB_OK) {
        stream_free(st);
        return rc;
    }
    *out = st;
    return SB_OK;
}

int sb__server_stream_add(sb_server *srv, const char *name, sb_frame_ring *ring,
                          sb_event_queue *queue, const char *func)
{
    const char *why;
    if (!name)
        return sb__set_error(SB_EINVAL, func, "name is NULL");
    if (!sb__stream_name_valid(name, strlen(name), &why))
        return sb__set_error(SB_EINVAL, func, "bad stream name \"%.80s\": %s", name, why);
    if (!ring)
        return sb__set_error(SB_EINVAL, func, "ring is NULL");
    if (srv->destroyed)
        return sb__set_error(SB_ESTATE, func, "the server was destroyed");
    /* A cheap early answer; the check that counts is under the lock below. */
    sb_server_stream *dup = sb__stream_find(srv, name, strlen(name));
    sb__stream_unref(dup);
    if (dup)
        return sb__set_error(SB_EEXIST, func, "a stream called \"%s\" exists already", name);
    sb_server_stream *st = NULL;
    int rc = stream_new(srv, name, ring, queue, &st);
    if (rc != SB_OK)
        return rc;
    pthread_mutex_lock(&srv->streams_mu);
    bool taken = find_locked(srv, name, strlen(name)) != NULL;
    if (!taken) {
        st->next = srv->streams;
        srv->streams = st;
        srv->streams_changed++;
    }
    pthread_mutex_unlock(&srv->streams_mu);
    if (taken) {
        sb__encoder_request_stop(&st->encoder);
        stream_free(st);
        return sb__set_error(SB_EEXIST, func, "a stream called \"%s\" exists already", name);
    }
    return SB_OK;
}

/* Tells st's clients and waiters to go (1001), without waiting. */
static void stream_request_stop(sb_server_stream *st)
{
    atomic_store(&st->stopping, true);
    sb__encoder_request_stop(&st->encoder);
}

#define SB_STREAM_CLOSE_WAIT_MS 1000

int sb_server_add_stream(sb_server *srv, const char *name, sb_frame_ring *ring,
                         sb_event_queue *queue)
{
    if (!srv)
        return sb__set_error(SB_EINVAL, "sb_server_add_stream", "server is NULL");
    return sb__server_stream_add(srv, name, ring, queue, "sb_server_add_stream");
}

int sb_server_remove_stream(sb_server *srv, const char *name)
{
    static const char *const func = "sb_server_remove_stream";
    if (!srv || !name)
        return sb__set_error(SB_EINVAL, func, "%s is NULL", !srv ? "server" : "name");
    pthread_mutex_lock(&srv->streams_mu);
    sb_server_stream *st = find_locked(srv, name, strlen(name));
    if (st) {
        for (sb_server_stream **p = &srv->streams; *p; p = &(*p)->next) {
            if (*p == st) {
                *p = st->next;
                break;
            }
        }
        srv->streams_changed++;
    }
    pthread_mutex_unlock(&srv->streams_mu);
    if (!st)
        return sb__set_error(SB_ENOENT, func, "no stream called \"%.80s\"", name);
    /* Unlinked: no new request finds it. Its clients get a 1001 and go; requests that hold it
     * (a snapshot wait, an MJPEG stream, a WebSocket's reader) end soon after. */
    stream_request_stop(st);
    sb__clients_close_all(&st->clients, SB_STREAM_CLOSE_WAIT_MS);
    pthread_mutex_lock(&srv->streams_mu);
    while (st->refs > 0)
        pthread_cond_wait(&srv->streams_cv, &srv->streams_mu);
    pthread_mutex_unlock(&srv->streams_mu);
    stream_free(st);
    return SB_OK;
}

void sb__streams_request_stop(sb_server *srv)
{
    /* The list does not change meanwhile: add/remove never run during destroy (server.h). */
    pthread_mutex_lock(&srv->streams_mu);
    for (sb_server_stream *st = srv->streams; st; st = st->next)
        stream_request_stop(st);
    pthread_mutex_unlock(&srv->streams_mu);
    /* Not under streams_mu: close_all waits for the senders. */
    for (sb_server_stream *st = srv->streams; st; st = st->next)
        sb__clients_close_all(&st->clients, SB_STREAM_CLOSE_WAIT_MS);
}

void sb__streams_free_all(sb_server *srv)
{
    pthread_mutex_lock(&srv->streams_mu);
    sb_server_stream *list = srv->streams;
    srv->streams = NULL;
    pthread_mutex_unlock(&srv->streams_mu);
    while (list) {
        sb_server_stream *next = list->next;
        stream_free(list);
        list = next;
    }
}

/* ---- /streams -------------------------------------------------------------------------------- */

char *sb__streams_json(sb_server *srv, size_t *len)
{
    pthread_mutex_lock(&srv->streams_mu);
    size_t n = 0;
    for (sb_server_stream *st = srv->streams; st; st = st->next)
        n++;
    /* Names are [A-Za-z0-9._-]: safe in JSON and in a URL as they are. */
    size_t cap = 128 + n * (4 * SB_SERVER_STREAM_NAME_MAX + 320);
    char *out = malloc(cap);
    if (!out) {
        pthread_mutex_unlock(&srv->streams_mu);
        return NULL;
    }
    size_t at = (size_t)snprintf(out, cap, "{\"generation\":%llu,\"streams\":[",
                                 (unsigned long long)srv->streams_changed);
    /* Oldest first: the order they were added in (the list is newest first). */
    sb_server_stream **order = calloc(n ? n : 1, sizeof *order);
    if (!order) {
        pthread_mutex_unlock(&srv->streams_mu);
        free(out);
        return NULL;
    }
    size_t i = n;
    for (sb_server_stream *st = srv->streams; st; st = st->next)
        order[--i] = st;
    for (i = 0; i < n; i++) {
        sb_server_stream *st = order[i];
        uint32_t w = 0, h = 0;
        sb__encoder_frame_size(&st->encoder, &w, &h);
        sb_encoded_frame *f = sb__encoder_latest(&st->encoder);
        unsigned long long seq = f ? (unsigned long long)f->seq : 0ull;
        sb__frame_unref(f);
        sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
        sb_frame_ring_get_stats(st->ring, &rs);
        at += (size_t)snprintf(
            out + at, cap - at,
            "%s{\"name\":\"%s\",\"default\":%s,\"width\":%u,\"height\":%u,\"last_seq\":%llu,"
            "\"clients\":%d,\"producer_alive\":%s,\"view_only\":%s,\"view_url\":\"v/%s/\","
            "\"thumbnail_url\":\"v/%s/thumbnail.jpg\",\"stats_url\":\"v/%s/stats\"}",
            i ? "," : "", st->name,
            strcmp(st->name, SB_SERVER_DEFAULT_STREAM_NAME) == 0 ? "true" : "false", w, h, seq,
            sb__clients_count(&st->clients), rs.writer_alive ? "true" : "false",
            st->queue ? "false" : "true", st->name, st->name, st->name);
    }
    pthread_mutex_unlock(&srv->streams_mu);
    free(order);
    at += (size_t)snprintf(out + at, cap - at, "]}\n");
    *len = at;
    return out;
}

/* ---- thumbnails ------------------------------------------------------------------------------ */

/* The biggest libjpeg-turbo scaling factor that makes width at most max_width (the smallest
 * one when none does): decoding at that scale is cheaper than decoding whole. */
static tjscalingfactor thumb_scale(int width, int max_width)
{
    int count = 0;
    tjscalingfactor *factors = tjGetScalingFactors(&count);
    tjscalingfactor best = {1, 8};
    int best_w = 0;
    for (int i = 0; factors && i < count; i++) {
        if (factors[i].num > factors[i].denom)
            continue; /* never enlarge */
        int w = TJSCALED(width, factors[i]);
        if (w <= max_width && w > best_w) {
            best = factors[i];
            best_w = w;
        }
    }
    return best;
}

/* Decodes jpeg at a reduced scale and encodes that again: the new thumbnail in *out. */
static int make_thumbnail(const sb_encoded_frame *f, int max_width, unsigned char **out,
                          unsigned long *out_len)
{
    int rc = -1;
    tjhandle dec = tjInitDecompress(), enc = tjInitCompress();
    unsigned char *pixels = NULL;
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (!dec || !enc ||
        tjDecompressHeader3(dec, f->data, f->len, &w, &h, &subsamp, &colorspace) != 0)
        goto done;
    tjscalingfactor s = thumb_scale(w, max_width);
    int tw = TJSCALED(w, s), th = TJSCALED(h, s);
    pixels = malloc((size_t)tw * (size_t)th * 3u);
    if (!pixels ||
        tjDecompress2(dec, f->data, f->len, pixels, tw, 0, th, TJPF_RGB, TJFLAG_FASTDCT) != 0)
        goto done;
    *out = NULL;
    *out_len = 0;
    if (tjCompress2(enc, pixels, tw, 0, th, TJPF_RGB, out, out_len, TJSAMP_420,
                    SB_THUMB_QUALITY, TJFLAG_FASTDCT) != 0)
        goto done;
    rc = 0;
done:
    free(pixels);
    if (dec)
        tjDestroy(dec);
    if (enc)
        tjDestroy(enc);
    return rc;
}

unsigned char *sb__stream_thumbnail(sb_server_stream *st, unsigned long *len, uint64_t *seq,
                                    int *status)
{
    sb_encoded_frame *f = sb__encoder_latest(&st->encoder);
    if (!f) {
        *status = 503;
        return NULL;
    }
    unsigned char *copy = NULL;
    pthread_mutex_lock(&st->thumb_mu);
    uint64_t now = sb__monotonic_ns();
    bool stale = !st->thumb ||
                 (st->thumb_seq != f->seq &&
                  now - st->thumb_made_ns >= (uint64_t)SB_THUMB_INTERVAL_MS * 1000000u);
    if (stale) {
        unsigned char *fresh = NULL;
        unsigned long fresh_len = 0;
        if (make_thumbnail(f, SB_THUMB_MAX_WIDTH, &fresh, &fresh_len) == 0) {
            tjFree(st->thumb);
            st->thumb = fresh;
            st->thumb_len = fresh_len;
            st->thumb_seq = f->seq;
            st->thumb_made_ns = now;
        } else {
            tjFree(fresh);
        }
    }
    if (st->thumb) {
        copy = malloc(st->thumb_len);
        if (copy) {
            memcpy(copy, st->thumb, st->thumb_len);
            *len = st->thumb_len;
            *seq = st->thumb_seq;
        }
    }
    pthread_mutex_unlock(&st->thumb_mu);
    sb__frame_unref(f);
    if (!copy)
        *status = 500;
    return copy;
}
