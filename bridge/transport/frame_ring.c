/* frame_ring.c - the frame ring (streambridge/frame_ring.h) over one segment layout shared by
 * the heap and shm backends. Byte layout and protocols: docs/shm-layout.md. */
#include "streambridge/frame_ring.h"

#include "futex.h"
#include "sb_error_internal.h"
#include "shm_segment.h"

#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "SBRING01" as a little-endian uint64: the file starts with the ASCII bytes S B R I N G 0 1. */
#define RING_MAGIC 0x3130474E49524253ull
/* Version 2 (0.2): the slot header grew from 64 to 128 bytes to carry the frame's times. */
#define RING_LAYOUT_VERSION 2u
#define RING_HEADER_SIZE 256u
#define RING_SLOT_HEADER_SIZE 128u
#define RING_PAGE 4096u
/* How often a waiting reader re-checks that the writer process still runs. */
#define RING_LIVENESS_PERIOD_NS (200ull * 1000 * 1000)
/* latest = seq << 8 | slot: one atomic word names the newest slot and its seq together. */
#define LATEST_SLOT_BITS 8
#define LATEST_SLOT_MASK 0xffull
/* No real stream reaches this seq (35 years at 1000 frames/s): a larger one is garbage, and
 * rejecting it keeps a forged seq from inflating every counter derived from it. */
#define RING_MAX_SEQ (1ull << 40)

typedef struct ring_header {
    sb_shm_common_header common;        /*   0 */
    uint32_t max_width;                 /*  48 */
    uint32_t max_height;                /*  52 */
    uint32_t buffer_count;              /*  56 */
    uint32_t slot_header_size;          /*  60 */
    uint64_t slot_capacity;             /*  64: pixel bytes usable per slot */
    uint64_t slots_offset;              /*  72: first slot header */
    uint64_t pixels_offset;             /*  80: first slot's pixels, page-aligned */
    uint64_t slot_pixel_stride;         /*  88: distance between two slots' pixels */
    _Atomic uint64_t latest;            /*  96: seq << 8 | slot, 0 before the first frame */
    _Atomic uint32_t wake_seq;          /* 104: futex word, +1 on publish, close, wake_all */
    _Atomic uint32_t interrupt_count;   /* 108: +1 on wake_all */
    _Atomic uint64_t published;         /* 112 */
    _Atomic uint64_t refused_too_big;   /* 120 */
    _Atomic uint64_t overwritten_held;  /* 128 */
    uint64_t reserved[15];              /* 136..255: zero */
} ring_header;

typedef struct ring_slot {
    _Atomic uint64_t generation;  /*  0: seqlock, odd while the writer fills the slot */
    _Atomic uint64_t seq;         /*  8 */
    _Atomic uint32_t width;       /* 16 */
    _Atomic uint32_t height;      /* 20 */
    _Atomic uint32_t stride;      /* 24 */
    _Atomic uint32_t format;      /* 28 */
    _Atomic uint32_t bottom_up;   /* 32 */
    _Atomic uint32_t holders;     /* 36: readers holding the slot (a hint for the writer) */
    _Atomic uint64_t capture_ns;  /* 40 */
    /* Where the frame's time went (sb_frame_info), CLOCK_REALTIME ns, 0 = unknown. */
    _Atomic uint64_t input_ns;        /* 48 */
    _Atomic uint64_t replay_ns;       /* 56 */
    _Atomic uint64_t render_start_ns; /* 64 */
    _Atomic uint64_t render_end_ns;   /* 72 */
    uint64_t reserved[6];             /* 80..127 */
} ring_slot;

_Static_assert(sizeof(ring_header) == RING_HEADER_SIZE, "ring header layout");
_Static_assert(sizeof(ring_slot) == RING_SLOT_HEADER_SIZE, "slot header layout");
_Static_assert(offsetof(ring_header, latest) == 96, "ring header layout");
_Static_assert(offsetof(ring_header, overwritten_held) == 128, "ring header layout");
_Static_assert(offsetof(ring_slot, capture_ns) == 40, "slot header layout");
_Static_assert(offsetof(ring_slot, render_end_ns) == 72, "slot header layout");

struct sb_frame_ring {
    sb_shm_segment seg;
    ring_header *hdr;
    ring_slot *slots;
    uint8_t *pixels;
    /* Geometry copied from the header once validated: another process writing garbage into
     * the shared header later must not make this process read outside its mapping. */
    uint32_t count;
    uint32_t max_width, max_height;
    uint64_t capacity;
    uint64_t slot_stride;
    /* The geometry words of the header as validated, compared on every sb_frame_ring_check()
     * to notice a header overwritten later. */
    uint64_t slots_offset, pixels_offset;
    /* Writer state (creator only). Everything the writer needs to continue is private, never
     * read back from the shared header: garbage written there by another process is corrected
     * by the next publish instead of being carried on (a huge seq, an odd generation). */
    int writing;
    uint32_t write_slot;
    uint32_t write_width, write_height, write_stride, write_format;
    uint64_t write_seq;                              /* seq of the last commit */
    int newest_slot;                                 /* -1 before the first commit */
    uint64_t slot_gen[SB_FRAME_RING_MAX_BUFFERS];    /* each slot's generation */
    uint64_t slot_seq[SB_FRAME_RING_MAX_BUFFERS];    /* seq of the frame in each slot */
    uint64_t refused_too_big, overwritten_held;      /* stored into the header, never added to */
    /* Reader state: the highest seq validated by this handle (a newest seq going backwards is
     * reported as corruption once, then followed) and how many reads found the header
     * inconsistent. Updated from const accessors too, hence atomics. */
    _Atomic uint64_t sane_seq;
    _Atomic uint64_t corrupt_reads;
    /* The highest seq ever seen before the sequence went back: seqs up to it were named by a
     * corrupted header, and a waiter still asking for one is told so (whichever thread of the
     * process noticed the drop first). */
    _Atomic uint64_t dropped_from;
};

unsigned sb_pixel_format_size(uint32_t format)
{
    switch (format) {
    case SB_PIXEL_RGBA:
    case SB_PIXEL_BGRA: return 4;
    case SB_PIXEL_RGB: return 3;
    default: return 0;
    }
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* Copies the (validated) geometry into the handle: from here on only the copies are used. */
static void bind_layout(sb_frame_ring *r, const ring_header *valid)
{
    r->hdr = (ring_header *)(void *)r->seg.base;
    r->count = valid->buffer_count;
    r->max_width = valid->max_width;
    r->max_height = valid->max_height;
    r->capacity = valid->slot_capacity;
    r->slot_stride = valid->slot_pixel_stride;
    r->slots_offset = valid->slots_offset;
    r->pixels_offset = valid->pixels_offset;
    r->slots = (ring_slot *)(void *)(r->seg.base + valid->slots_offset);
    r->pixels = r->seg.base + valid->pixels_offset;
    r->writing = 0;
    r->newest_slot = -1;
}

/* Who learns of a shared header found inconsistent. A read reports it: counted in the handle's
 * corrupt_reads, the reason in the caller's sb_last_error(). An observer (get_stats, which must
 * change no state: reading the counters must not move them) only gets SB_EBADSEG back. */
typedef enum check_mode { CHECK_REPORTS, CHECK_OBSERVES } check_mode;

/* The shared header is inconsistent: SB_EBADSEG, counted and explained when mode reports. */
static int corrupt(const sb_frame_ring *r, check_mode mode, const char *func, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static int corrupt(const sb_frame_ring *r, check_mode mode, const char *func, const char *fmt,
                   ...)
{
    if (mode == CHECK_OBSERVES)
        return SB_EBADSEG;
    sb_frame_ring *mut = (sb_frame_ring *)(uintptr_t)r;
    atomic_fetch_add_explicit(&mut->corrupt_reads, 1, memory_order_relaxed);
    char what[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sb__set_error(SB_EBADSEG, func, "ring \"%s\" has a corrupted header (written by "
                         "another process?): %s", r->seg.stream_name, what);
}

/* Reads `latest` and checks it against the slot it names: the slot index must be in range and
 * that slot must hold exactly that seq (the writer stores the slot's seq before `latest`, and
 * never reuses the newest slot), and seq must not go backwards. A slot that disagrees while
 * `latest` still names it is corruption, not a race. *seq = 0 when nothing was published yet.
 * SB_OK, SB_EAGAIN (the writer kept moving; rare) or SB_EBADSEG. An observer checks the header
 * as it is now and leaves the sequence history (sane_seq, dropped_from) to the reads. */
static int load_latest(const sb_frame_ring *r, check_mode mode, const char *func, uint64_t *seq,
                       uint32_t *slot)
{
    const ring_header *h = r->hdr;
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t latest = atomic_load_explicit(&h->latest, memory_order_acquire);
        *seq = latest >> LATEST_SLOT_BITS;
        *slot = (uint32_t)(latest & LATEST_SLOT_MASK);
        if (latest == 0)
            return SB_OK;
        if (*slot >= r->count)
            return corrupt(r, mode, func, "latest names slot %u of %u", *slot, r->count);
        if (*seq >= RING_MAX_SEQ)
            return corrupt(r, mode, func, "latest names seq %llu, beyond any real stream",
                           (unsigned long long)*seq);
        uint64_t slot_seq = atomic_load_explicit(&r->slots[*slot].seq, memory_order_acquire);
        if (slot_seq != *seq) {
            if (atomic_load_explicit(&h->latest, memory_order_acquire) != latest)
                continue; /* the writer moved on and reused the slot: look again */
            return corrupt(r, mode, func, "latest names seq %llu in slot %u, which holds seq "
                           "%llu", (unsigned long long)*seq, *slot, (unsigned long long)slot_seq);
        }
        if (mode == CHECK_OBSERVES)
            return SB_OK;
        sb_frame_ring *mut = (sb_frame_ring *)(uintptr_t)r;
        uint64_t sane = atomic_load_explicit(&mut->sane_seq, memory_order_relaxed);
        while (sane < *seq && !atomic_compare_exchange_weak_explicit(
                                  &mut->sane_seq, &sane, *seq, memory_order_relaxed,
                                  memory_order_relaxed)) {
        }
        if (*seq < sane) {
            /* Another thread of this handle may have validated a newer `latest` since we read
             * ours: only a `latest` that is still current and older than what was seen is a
             * sequence that went back. */
            if (atomic_load_explicit(&h->latest, memory_order_acquire) != latest)
                continue;
            /* Report it once, then follow the new sequence (a consistent forgery before, or
             * one now: either way, readers must resynchronise, not wait for the old one). */
            if (atomic_compare_exchange_strong(&mut->sane_seq, &sane, *seq)) {
                uint64_t from = atomic_load(&mut->dropped_from);
                while (from < sane && !atomic_compare_exchange_weak(&mut->dropped_from, &from,
                                                                    sane)) {
                }
                return corrupt(r, mode, func, "newest seq went back from %llu to %llu",
                               (unsigned long long)sane, (unsigned long long)*seq);
            }
        }
        return SB_OK;
    }
    if (mode == CHECK_OBSERVES)
        return SB_EAGAIN;
    return sb__set_error(SB_EAGAIN, func, "the writer kept moving; try again");
}

static uint8_t *slot_pixels(const sb_frame_ring *r, uint32_t slot)
{
    return r->pixels + (size_t)slot * r->slot_stride;
}

/* Bytes of sb_frame_ring_options each version has: a caller built against an older header
 * passes a shorter struct, of which only these bytes may be read. 0: unknown version. */
static size_t options_size(unsigned int version)
{
    switch (version) {
    case 1: return sizeof(sb_frame_ring_options);
    default: return 0;
    }
}

static const sb_frame_ring_options default_options = SB_FRAME_RING_OPTIONS_INIT;

int sb_frame_ring_options_init(sb_frame_ring_options *opts, unsigned int version)
{
    if (!opts)
        return SB_FAIL(SB_EINVAL, "opts is NULL");
    size_t size = options_size(version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "options version %u is not 1..%d", version,
                       SB_FRAME_RING_OPTIONS_VERSION);
    memcpy(opts, &default_options, size);
    opts->version = version;
    return SB_OK;
}

/* The caller's options of any known version (NULL: defaults), completed with the defaults its
 * version lacks, then checked. */
static int complete_options(const sb_frame_ring_options *caller_opts, const char *func,
                            sb_frame_ring_options *opts)
{
    *opts = default_options;
    if (caller_opts) {
        size_t size = options_size(caller_opts->version);
        if (size == 0)
            return sb__set_error(SB_EVERSION, func, "options version %u is not 1..%d (use "
                                 "SB_FRAME_RING_OPTIONS_INIT or sb_frame_ring_options_init)",
                                 caller_opts->version, SB_FRAME_RING_OPTIONS_VERSION);
        memcpy(opts, caller_opts, size);
        opts->version = SB_FRAME_RING_OPTIONS_VERSION;
    }
    if (opts->max_width < 1 || opts->max_height < 1 || opts->max_width > SB_MAX_FRAME_SIDE ||
        opts->max_height > SB_MAX_FRAME_SIDE)
        return sb__set_error(SB_EINVAL, func, "max size %ux%u outside 1x1..%dx%d",
                             opts->max_width, opts->max_height, SB_MAX_FRAME_SIDE,
                             SB_MAX_FRAME_SIDE);
    if (opts->buffer_count < 2 || opts->buffer_count > SB_FRAME_RING_MAX_BUFFERS)
        return sb__set_error(SB_EINVAL, func, "buffer_count %u outside 2..%d",
                             opts->buffer_count, SB_FRAME_RING_MAX_BUFFERS);
    if (opts->shm_name && opts->shm_name[0])
        return sb__validate_stream_name(func, opts->shm_name);
    return SB_OK;
}

/* Where a new ring's parts go (docs/shm-layout.md): the header, the slot headers, then each
 * slot's pixels on its own pages. */
typedef struct ring_geometry {
    uint64_t capacity;      /* pixel bytes per slot: the largest frame, 4 bytes a pixel */
    uint64_t slot_stride;   /* distance between two slots' pixels */
    uint64_t pixels_offset; /* first slot's pixels */
    uint64_t total;         /* bytes of the whole segment */
} ring_geometry;

static int plan_geometry(const sb_frame_ring_options *opts, const char *func, ring_geometry *g)
{
    g->capacity = (uint64_t)opts->max_width * opts->max_height * 4u;
    g->slot_stride = align_up(g->capacity, RING_PAGE);
    g->pixels_offset =
        align_up(RING_HEADER_SIZE + (uint64_t)opts->buffer_count * RING_SLOT_HEADER_SIZE,
                 RING_PAGE);
    g->total = g->pixels_offset + g->slot_stride * opts->buffer_count;
    if (g->total > (uint64_t)SIZE_MAX / 2)
        return sb__set_error(SB_ENOMEM, func, "ring of %llu bytes does not fit the address space",
                             (unsigned long long)g->total);
    return SB_OK;
}

/* The header's geometry words of a created segment, before sb__segment_publish(). */
static void write_geometry(ring_header *h, const sb_frame_ring_options *opts,
                           const ring_geometry *g)
{
    h->max_width = opts->max_width;
    h->max_height = opts->max_height;
    h->buffer_count = opts->buffer_count;
    h->slot_header_size = RING_SLOT_HEADER_SIZE;
    h->slot_capacity = g->capacity;
    h->slots_offset = RING_HEADER_SIZE;
    h->pixels_offset = g->pixels_offset;
    h->slot_pixel_stride = g->slot_stride;
}

int sb_frame_ring_create(const sb_frame_ring_options *caller_opts, sb_frame_ring **out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    sb_frame_ring_options opts;
    ring_geometry geometry;
    int rc = complete_options(caller_opts, __func__, &opts);
    if (rc == SB_OK)
        rc = plan_geometry(&opts, __func__, &geometry);
    if (rc != SB_OK)
        return rc;
    sb_frame_ring *r = calloc(1, sizeof *r);
    if (!r)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the ring handle");
    rc = sb__segment_create(__func__, opts.shm_name, "ring", RING_MAGIC, (size_t)geometry.total,
                            &r->seg);
    if (rc != SB_OK) {
        free(r);
        return rc;
    }
    ring_header *h = (ring_header *)(void *)r->seg.base;
    write_geometry(h, &opts, &geometry);
    sb__segment_publish(&r->seg, RING_MAGIC, RING_LAYOUT_VERSION, RING_HEADER_SIZE);
    bind_layout(r, h);
    *out = r;
    return SB_OK;
}

int sb_frame_ring_attach(const char *shm_name, sb_frame_ring **out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    if (!shm_name)
        return SB_FAIL(SB_EINVAL, "shm_name is NULL");
    sb_frame_ring *r = calloc(1, sizeof *r);
    if (!r)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the ring handle");
    int rc = sb__segment_attach(__func__, shm_name, "ring", RING_MAGIC, RING_LAYOUT_VERSION,
                                RING_HEADER_SIZE, &r->seg);
    if (rc != SB_OK) {
        free(r);
        return rc;
    }
    /* Everything derived from the header must agree with the file before any offset is used.
     * A snapshot is validated and bound, so a concurrent writer of garbage cannot slip a value
     * in between the check and the use. */
    ring_header snapshot;
    memcpy(&snapshot, r->seg.base, sizeof snapshot);
    const ring_header *h = &snapshot;
    const char *path = r->seg.shm_path;
    uint64_t capacity = (uint64_t)h->max_width * h->max_height * 4u;
    uint64_t slots_end = h->slots_offset + (uint64_t)h->buffer_count * RING_SLOT_HEADER_SIZE;
    if (h->max_width < 1 || h->max_height < 1 || h->max_width > SB_MAX_FRAME_SIDE ||
        h->max_height > SB_MAX_FRAME_SIDE)
        rc = SB_FAIL(SB_EBADSEG, "/dev/shm%s: max size %ux%u out of range", path, h->max_width,
                     h->max_height);
    else if (h->buffer_count < 2 || h->buffer_count > SB_FRAME_RING_MAX_BUFFERS)
        rc = SB_FAIL(SB_EBADSEG, "/dev/shm%s: buffer count %u out of range", path,
                     h->buffer_count);
    else if (h->slot_header_size != RING_SLOT_HEADER_SIZE)
        rc = SB_FAIL(SB_EBADSEG, "/dev/shm%s: slot header size %u, expected %u", path,
                     h->slot_header_size, RING_SLOT_HEADER_SIZE);
    else if (h->slot_capacity != capacity)
        rc = SB_FAIL(SB_EBADSEG, "/dev/shm%s: slot capacity %llu, %ux%ux4 is %llu", path,
                     (unsigned long long)h->slot_capacity, h->max_width, h->max_height,
                     (unsigned long long)capacity);
    else if (h->slots_offset < RING_HEADER_SIZE || h->slots_offset % 64 != 0 ||
             slots_end > h->pixels_offset || h->pixels_offset % RING_PAGE != 0 ||
             h->slot_pixel_stride < capacity ||
             h->pixels_offset + h->slot_pixel_stride * h->buffer_count != r->seg.size)
        rc = SB_FAIL(SB_EBADSEG,
                     "/dev/shm%s: offsets (slots %llu, pixels %llu, stride %llu x %u) do not "
                     "match the segment size %zu",
                     path, (unsigned long long)h->slots_offset,
                     (unsigned long long)h->pixels_offset,
                     (unsigned long long)h->slot_pixel_stride, h->buffer_count, r->seg.size);
    if (rc == SB_OK)
        rc = sb__segment_check(&r->seg, __func__); /* truncated while we read the header */
    if (rc != SB_OK) {
        sb__segment_destroy(&r->seg);
        free(r);
        return rc;
    }
    bind_layout(r, h);
    *out = r;
    return SB_OK;
}

static void wake_readers(sb_frame_ring *r)
{
    atomic_fetch_add_explicit(&r->hdr->wake_seq, 1, memory_order_release);
    sb__futex_wake_all(&r->hdr->wake_seq, r->seg.is_shm);
}

void sb_frame_ring_destroy(sb_frame_ring *ring)
{
    if (!ring)
        return;
    if (ring->seg.is_creator && ring->seg.creator_pid == (int32_t)getpid()) {
        /* Readers in other processes keep their mapping after the unlink: tell them it's over. */
        atomic_store_explicit(&ring->hdr->common.closed, 1, memory_order_release);
        wake_readers(ring);
    }
    sb__segment_destroy(&ring->seg);
    free(ring);
}

const char *sb_frame_ring_name(const sb_frame_ring *ring)
{
    return ring ? ring->seg.stream_name : "";
}

uint32_t sb_frame_ring_max_width(const sb_frame_ring *ring)
{
    return ring ? ring->max_width : 0;
}

uint32_t sb_frame_ring_max_height(const sb_frame_ring *ring)
{
    return ring ? ring->max_height : 0;
}

/* ---- writer -------------------------------------------------------------------------------- */

static int check_writer(const sb_frame_ring *r, const char *func)
{
    if (!r)
        return sb__set_error(SB_EINVAL, func, "ring is NULL");
    if (!r->seg.is_creator)
        return sb__set_error(SB_ESTATE, func, "ring \"%s\" was attached as a reader; only its "
                             "creator writes", r->seg.stream_name);
    return SB_OK;
}

static int check_frame_size(sb_frame_ring *r, const char *func, uint32_t width, uint32_t height,
                            uint32_t format)
{
    unsigned bpp = sb_pixel_format_size(format);
    if (bpp == 0)
        return sb__set_error(SB_EINVAL, func, "unknown pixel format %u", format);
    if (width == 0 || height == 0)
        return sb__set_error(SB_EINVAL, func, "frame size %ux%u has a zero side", width, height);
    uint64_t bytes = (uint64_t)width * height * bpp;
    if (width > r->max_width || height > r->max_height || bytes > r->capacity) {
        atomic_store_explicit(&r->hdr->refused_too_big, ++r->refused_too_big,
                              memory_order_relaxed);
        return sb__set_error(SB_ETOOBIG, func,
                             "frame %ux%u (%llu bytes) exceeds the ring's capacity %ux%u "
                             "(%llu bytes)",
                             width, height, (unsigned long long)bytes, r->max_width,
                             r->max_height, (unsigned long long)r->capacity);
    }
    return SB_OK;
}

/* The writer never waits: it takes the oldest slot no reader holds, other than the newest
 * frame's; when readers hold all of them it takes the oldest anyway (they will see SB_ESTALE). */
static uint32_t pick_slot(sb_frame_ring *r)
{
    int newest = r->newest_slot;
    int best_free = -1, best_any = -1;
    uint64_t best_free_seq = UINT64_MAX, best_any_seq = UINT64_MAX;
    for (uint32_t i = 0; i < r->count; i++) {
        if ((int)i == newest)
            continue;
        uint64_t seq = r->slot_seq[i];
        if (seq < best_any_seq) {
            best_any_seq = seq;
            best_any = (int)i;
        }
        if (atomic_load_explicit(&r->slots[i].holders, memory_order_seq_cst) == 0 &&
            seq < best_free_seq) {
            best_free_seq = seq;
            best_free = (int)i;
        }
    }
    if (best_free >= 0)
        return (uint32_t)best_free;
    atomic_store_explicit(&r->hdr->overwritten_held, ++r->overwritten_held,
                          memory_order_relaxed);
    return (uint32_t)best_any;
}

int sb_frame_ring_begin_write(sb_frame_ring *ring, uint32_t width, uint32_t height,
                              uint32_t format, uint8_t **pixels, uint32_t *stride)
{
    int rc = check_writer(ring, __func__);
    if (rc != SB_OK)
        return rc;
    if (!pixels || !stride)
        return SB_FAIL(SB_EINVAL, "pixels and stride must not be NULL");
    if (ring->writing)
        return SB_FAIL(SB_ESTATE, "a write is already open; commit or abort it first");
    if ((rc = check_frame_size(ring, __func__, width, height, format)) != SB_OK)
        return rc;
    /* A truncated file is refused here, before the caller writes into it (one fstat). */
    if ((rc = sb__segment_check(&ring->seg, __func__)) != SB_OK)
        return rc;
    uint32_t slot = pick_slot(ring);
    /* Odd generation: readers that look now, or that held the slot, know it is being rewritten.
     * The value comes from our own count (never read back from the shared slot); the seq_cst
     * exchange orders it after the holders check above and before the pixel writes. */
    ring->slot_gen[slot] += 1 + (ring->slot_gen[slot] & 1);
    atomic_exchange_explicit(&ring->slots[slot].generation, ring->slot_gen[slot],
                             memory_order_seq_cst);
    ring->writing = 1;
    ring->write_slot = slot;
    ring->write_width = width;
    ring->write_height = height;
    ring->write_format = format;
    ring->write_stride = width * sb_pixel_format_size(format);
    *pixels = slot_pixels(ring, slot);
    *stride = ring->write_stride;
    return SB_OK;
}

/* Writer: puts back the header's constant words when another process wrote over them, so that
 * once the garbage stops, the next publish leaves a header every reader accepts again. */
static void restore_header(sb_frame_ring *r)
{
    ring_header *h = r->hdr;
    sb_shm_common_header *c = &h->common;
    if (c->layout_version != RING_LAYOUT_VERSION || c->header_size != RING_HEADER_SIZE ||
        c->total_size != r->seg.size || c->creator_pid != r->seg.creator_pid ||
        c->creator_start_time != r->seg.creator_start_time ||
        atomic_load_explicit(&c->closed, memory_order_relaxed) != 0 ||
        h->max_width != r->max_width || h->max_height != r->max_height ||
        h->buffer_count != r->count || h->slot_header_size != RING_SLOT_HEADER_SIZE ||
        h->slot_capacity != r->capacity || h->slots_offset != r->slots_offset ||
        h->pixels_offset != r->pixels_offset || h->slot_pixel_stride != r->slot_stride) {
        c->layout_version = RING_LAYOUT_VERSION;
        c->header_size = RING_HEADER_SIZE;
        c->total_size = r->seg.size;
        c->creator_pid = r->seg.creator_pid;
        c->creator_start_time = r->seg.creator_start_time;
        atomic_store_explicit(&c->closed, 0, memory_order_relaxed);
        h->max_width = r->max_width;
        h->max_height = r->max_height;
        h->buffer_count = r->count;
        h->slot_header_size = RING_SLOT_HEADER_SIZE;
        h->slot_capacity = r->capacity;
        h->slots_offset = r->slots_offset;
        h->pixels_offset = r->pixels_offset;
        h->slot_pixel_stride = r->slot_stride;
    }
    if (atomic_load_explicit(&c->magic, memory_order_relaxed) != RING_MAGIC)
        atomic_store_explicit(&c->magic, RING_MAGIC, memory_order_release);
}

int sb_frame_ring_commit(sb_frame_ring *ring, uint32_t bottom_up, uint64_t capture_ns,
                         uint64_t *seq_out)
{
    sb_frame_info info;
    memset(&info, 0, sizeof info);
    info.bottom_up = bottom_up;
    info.capture_ns = capture_ns;
    return sb_frame_ring_commit_info(ring, &info, seq_out);
}

int sb_frame_ring_commit_info(sb_frame_ring *ring, const sb_frame_info *info, uint64_t *seq_out)
{
    int rc = check_writer(ring, __func__);
    if (rc != SB_OK)
        return rc;
    if (!ring->writing)
        return SB_FAIL(SB_ESTATE, "no write is open (call sb_frame_ring_begin_write first)");
    if (!info)
        return SB_FAIL(SB_EINVAL, "info is NULL");
    ring_header *h = ring->hdr;
    ring_slot *s = &ring->slots[ring->write_slot];
    /* The caller's copy into the slot may have faulted on a truncated file (the SIGBUS guard
     * then put zero pages under it): nothing of this frame is published. */
    if ((rc = sb__segment_check(&ring->seg, __func__)) != SB_OK) {
        ring->writing = 0;
        return rc;
    }
    restore_header(ring);
    uint64_t seq = ring->write_seq + 1;
    uint64_t capture_ns = info->capture_ns ? info->capture_ns : sb__realtime_ns();
    atomic_store_explicit(&s->seq, seq, memory_order_relaxed);
    atomic_store_explicit(&s->width, ring->write_width, memory_order_relaxed);
    atomic_store_explicit(&s->height, ring->write_height, memory_order_relaxed);
    atomic_store_explicit(&s->stride, ring->write_stride, memory_order_relaxed);
    atomic_store_explicit(&s->format, ring->write_format, memory_order_relaxed);
    atomic_store_explicit(&s->bottom_up, info->bottom_up ? 1u : 0u, memory_order_relaxed);
    atomic_store_explicit(&s->capture_ns, capture_ns, memory_order_relaxed);
    atomic_store_explicit(&s->input_ns, info->input_ns, memory_order_relaxed);
    atomic_store_explicit(&s->replay_ns, info->replay_ns, memory_order_relaxed);
    atomic_store_explicit(&s->render_start_ns, info->render_start_ns, memory_order_relaxed);
    atomic_store_explicit(&s->render_end_ns, info->render_end_ns, memory_order_relaxed);
    /* Even again: the slot's pixels and metadata are complete (release publishes them). */
    ring->slot_gen[ring->write_slot]++;
    atomic_store_explicit(&s->generation, ring->slot_gen[ring->write_slot], memory_order_release);
    atomic_store_explicit(&h->latest, seq << LATEST_SLOT_BITS | ring->write_slot,
                          memory_order_release);
    /* Stored, not incremented: the count is ours (== seq), whatever was written over it. */
    atomic_store_explicit(&h->published, seq, memory_order_relaxed);
    ring->write_seq = seq;
    ring->newest_slot = (int)ring->write_slot;
    ring->slot_seq[ring->write_slot] = seq;
    atomic_store_explicit(&h->common.heartbeat_ns, sb__realtime_ns(), memory_order_relaxed);
    ring->writing = 0;
    wake_readers(ring);
    if (seq_out)
        *seq_out = seq;
    return SB_OK;
}

void sb_frame_ring_abort_write(sb_frame_ring *ring)
{
    if (!ring || !ring->seg.is_creator || !ring->writing)
        return;
    /* The slot's content is now garbage; its generation still moves to even so the slot can be
     * reused, but a reader that held it sees a changed generation. latest never pointed here. */
    ring->slot_gen[ring->write_slot]++;
    atomic_store_explicit(&ring->slots[ring->write_slot].generation,
                          ring->slot_gen[ring->write_slot], memory_order_release);
    atomic_store_explicit(&ring->slots[ring->write_slot].seq, 0, memory_order_relaxed);
    ring->slot_seq[ring->write_slot] = 0;
    ring->writing = 0;
}

int sb_frame_ring_publish(sb_frame_ring *ring, const sb_frame_info *info, const void *pixels,
                          uint32_t src_stride, uint64_t *seq_out)
{
    int rc = check_writer(ring, __func__);
    if (rc != SB_OK)
        return rc;
    if (!info || !pixels)
        return SB_FAIL(SB_EINVAL, "info and pixels must not be NULL");
    if (ring->writing)
        return SB_FAIL(SB_ESTATE, "a zero-copy write is open; commit or abort it first");
    unsigned bpp = sb_pixel_format_size(info->format);
    if (bpp == 0)
        return SB_FAIL(SB_EINVAL, "unknown pixel format %u", info->format);
    uint64_t row = (uint64_t)info->width * bpp;
    if (src_stride == 0)
        src_stride = (uint32_t)(row > UINT32_MAX ? 0 : row);
    if ((rc = check_frame_size(ring, __func__, info->width, info->height, info->format)) != SB_OK)
        return rc;
    if (src_stride < row)
        return SB_FAIL(SB_EINVAL, "source stride %u is shorter than a row of %llu bytes",
                       src_stride, (unsigned long long)row);
    uint8_t *dst;
    uint32_t dst_stride;
    if ((rc = sb_frame_ring_begin_write(ring, info->width, info->height, info->format, &dst,
                                        &dst_stride)) != SB_OK)
        return rc;
    if (src_stride == dst_stride) {
        memcpy(dst, pixels, (size_t)dst_stride * info->height);
    } else {
        const uint8_t *src = pixels;
        for (uint32_t y = 0; y < info->height; y++)
            memcpy(dst + (size_t)y * dst_stride, src + (size_t)y * src_stride, dst_stride);
    }
    return sb_frame_ring_commit_info(ring, info, seq_out);
}

void sb_frame_ring_heartbeat(sb_frame_ring *ring)
{
    if (!ring || !ring->seg.is_creator)
        return;
    atomic_store_explicit(&ring->hdr->common.heartbeat_ns, sb__realtime_ns(),
                          memory_order_relaxed);
}

/* ---- readers ------------------------------------------------------------------------------- */

static void drop_hold(ring_slot *s)
{
    /* Never below zero, even if a buggy caller releases twice. */
    uint32_t h = atomic_load_explicit(&s->holders, memory_order_relaxed);
    while (h > 0 && !atomic_compare_exchange_weak_explicit(&s->holders, &h, h - 1,
                                                           memory_order_release,
                                                           memory_order_relaxed)) {
    }
}

/* The slot's metadata, each word loaded relaxed: only the generation check that follows (the
 * seqlock) tells whether they form one frame's. */
static void copy_slot_info(const ring_slot *s, sb_frame_info *fi)
{
    fi->seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    fi->width = atomic_load_explicit(&s->width, memory_order_relaxed);
    fi->height = atomic_load_explicit(&s->height, memory_order_relaxed);
    fi->stride = atomic_load_explicit(&s->stride, memory_order_relaxed);
    fi->format = atomic_load_explicit(&s->format, memory_order_relaxed);
    fi->bottom_up = atomic_load_explicit(&s->bottom_up, memory_order_relaxed);
    fi->reserved_ = 0;
    fi->capture_ns = atomic_load_explicit(&s->capture_ns, memory_order_relaxed);
    fi->input_ns = atomic_load_explicit(&s->input_ns, memory_order_relaxed);
    fi->replay_ns = atomic_load_explicit(&s->replay_ns, memory_order_relaxed);
    fi->render_start_ns = atomic_load_explicit(&s->render_start_ns, memory_order_relaxed);
    fi->render_end_ns = atomic_load_explicit(&s->render_end_ns, memory_order_relaxed);
}

/* What is wrong with metadata copied consistently from the slot `latest` names as seq, NULL if
 * nothing. It must be self-consistent too: a hostile or corrupted segment must not make us
 * hand out a pointer past the slot, nor a size the encoder trips on. */
static const char *slot_info_fault(const sb_frame_ring *r, const sb_frame_info *fi,
                                   uint64_t seq)
{
    unsigned bpp = sb_pixel_format_size(fi->format);
    uint64_t bytes = (uint64_t)fi->stride * fi->height;
    if (fi->seq != seq)
        return "has another seq";
    if (bpp == 0)
        return "has an unknown pixel format";
    if (fi->width == 0 || fi->height == 0 || fi->width > r->max_width ||
        fi->height > r->max_height)
        return "has a size outside the ring's";
    if (fi->stride != fi->width * bpp || bytes > r->capacity)
        return "has a stride that does not match its width";
    return NULL;
}

int sb_frame_ring_acquire(sb_frame_ring *ring, sb_frame *frame)
{
    if (!ring || !frame)
        return SB_FAIL(SB_EINVAL, "ring and frame must not be NULL");
    memset(frame, 0, sizeof *frame);
    int rc = sb__segment_check(&ring->seg, __func__);
    if (rc != SB_OK)
        return rc;
    const ring_header *h = ring->hdr;
    /* Only a writer that laps this reader thousands of times in a row could exhaust this; a
     * slot found inconsistent while `latest` still names it is corruption and ends the loop. */
    for (int attempt = 0; attempt < 10000; attempt++) {
        uint64_t seq;
        uint32_t slot;
        if ((rc = load_latest(ring, CHECK_REPORTS, __func__, &seq, &slot)) == SB_EAGAIN)
            continue;
        if (rc != SB_OK)
            return rc;
        if (seq == 0)
            return SB_FAIL(SB_EAGAIN, "no frame has been published yet");
        uint64_t latest = seq << LATEST_SLOT_BITS | slot;
        ring_slot *s = &ring->slots[slot];
        atomic_fetch_add_explicit(&s->holders, 1, memory_order_seq_cst);
        uint64_t gen = atomic_load_explicit(&s->generation, memory_order_seq_cst);
        const char *bad = "is being written";
        if ((gen & 1) == 0) {
            copy_slot_info(s, &frame->info);
            /* Seqlock read side: the copy happens before the generation is read again. */
            atomic_thread_fence(memory_order_acquire);
            uint64_t again = atomic_load_explicit(&s->generation, memory_order_relaxed);
            bad = again != gen ? "changed while read" : slot_info_fault(ring, &frame->info, seq);
            if (!bad) {
                frame->pixels = slot_pixels(ring, slot);
                frame->slot_ = slot;
                frame->gen_ = gen;
                return SB_OK;
            }
        }
        drop_hold(s);
        /* The writer never touches the slot `latest` names, so if `latest` has not moved, what
         * we saw there is not a race with it. */
        if (atomic_load_explicit(&h->latest, memory_order_acquire) == latest) {
            memset(frame, 0, sizeof *frame);
            return corrupt(ring, CHECK_REPORTS, __func__, "newest slot %u (seq %llu) %s", slot,
                           (unsigned long long)seq, bad);
        }
        if (attempt % 16 == 15)
            sched_yield();
    }
    memset(frame, 0, sizeof *frame);
    return SB_FAIL(SB_EAGAIN, "the writer kept overwriting the newest slot; try again");
}

int sb_frame_ring_release(sb_frame_ring *ring, sb_frame *frame)
{
    if (!ring || !frame)
        return SB_FAIL(SB_EINVAL, "ring and frame must not be NULL");
    if (!frame->pixels)
        return SB_FAIL(SB_EINVAL, "frame is not acquired (already released?)");
    if (frame->slot_ >= ring->count)
        return SB_FAIL(SB_EINVAL, "frame slot %u out of range", frame->slot_);
    ring_slot *s = &ring->slots[frame->slot_];
    /* Seqlock read side: every pixel read by the caller happens before this generation check. */
    atomic_thread_fence(memory_order_acquire);
    uint64_t gen = atomic_load_explicit(&s->generation, memory_order_relaxed);
    drop_hold(s);
    frame->pixels = NULL;
    /* The pixels may have been read from zero pages the SIGBUS guard put under a truncated
     * file: then they are not the frame. */
    int rc = sb__segment_check_cached(&ring->seg, __func__);
    if (rc != SB_OK)
        return rc;
    if (gen != frame->gen_)
        return SB_FAIL(SB_ESTALE, "frame %llu was overwritten while held (slot %u)",
                       (unsigned long long)frame->info.seq, frame->slot_);
    return SB_OK;
}

int sb_frame_ring_wait(sb_frame_ring *ring, uint64_t after_seq, int timeout_ms,
                       uint64_t *seq_out)
{
    if (!ring)
        return SB_FAIL(SB_EINVAL, "ring is NULL");
    ring_header *h = ring->hdr;
    uint64_t now = sb__monotonic_ns();
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000u;
    uint64_t next_liveness_check = now;
    uint32_t interrupts = atomic_load_explicit(&h->interrupt_count, memory_order_acquire);
    for (;;) {
        /* Read the futex word BEFORE the condition: a publish in between changes the word, so
         * the futex call returns at once instead of sleeping through it. */
        uint32_t word = atomic_load_explicit(&h->wake_seq, memory_order_acquire);
        uint64_t seq = 0;
        uint32_t slot;
        int rc = sb__segment_check_cached(&ring->seg, __func__);
        if (rc == SB_OK)
            rc = load_latest(ring, CHECK_REPORTS, __func__, &seq, &slot);
        if (rc == SB_EBADSEG)
            return rc; /* corrupted or broken: report it, never wait on garbage */
        if (rc == SB_OK && seq > after_seq) {
            if (seq_out)
                *seq_out = seq;
            return SB_OK;
        }
        if (rc == SB_OK && seq < after_seq && after_seq <= atomic_load(&ring->dropped_from))
            return corrupt(ring, CHECK_REPORTS, __func__, "waiting for a frame after seq %llu, "
                           "a seq only a corrupted header named (the newest is %llu): "
                           "resynchronise", (unsigned long long)after_seq,
                           (unsigned long long)seq);
        if (atomic_load_explicit(&h->common.closed, memory_order_acquire) == 1)
            return SB_FAIL(SB_EGONE, "the writer closed ring \"%s\"", ring->seg.stream_name);
        now = sb__monotonic_ns();
        if (now >= next_liveness_check) {
            /* Also the moment to notice a file truncated while nobody touched it. */
            if ((rc = sb__segment_check(&ring->seg, __func__)) != SB_OK)
                return rc;
            if (!sb__segment_creator_alive(&ring->seg))
                return SB_FAIL(SB_EGONE, "writer process %d of ring \"%s\" is gone",
                               (int)ring->seg.creator_pid, ring->seg.stream_name);
            next_liveness_check = now + RING_LIVENESS_PERIOD_NS;
        }
        if (atomic_load_explicit(&h->interrupt_count, memory_order_acquire) != interrupts)
            return SB_FAIL(SB_EWOKEN, "woken by sb_frame_ring_wake_all before a frame after "
                           "seq %llu", (unsigned long long)after_seq);
        if (now >= deadline)
            return SB_FAIL(SB_ETIMEDOUT, "no frame after seq %llu within %d ms",
                           (unsigned long long)after_seq, timeout_ms);
        uint64_t slice = deadline - now;
        if (ring->seg.is_shm && slice > RING_LIVENESS_PERIOD_NS)
            slice = RING_LIVENESS_PERIOD_NS;
        sb__futex_wait(&h->wake_seq, word, slice > INT64_MAX ? -1 : (int64_t)slice,
                       ring->seg.is_shm);
    }
}

uint64_t sb_frame_ring_latest_seq(const sb_frame_ring *ring)
{
    if (!ring)
        return 0;
    uint64_t seq = 0;
    uint32_t slot;
    if (sb__segment_check_cached(&ring->seg, __func__) != SB_OK ||
        load_latest(ring, CHECK_REPORTS, __func__, &seq, &slot) != SB_OK)
        return atomic_load_explicit(&((sb_frame_ring *)(uintptr_t)ring)->sane_seq,
                                    memory_order_relaxed);
    return seq;
}

void sb_frame_ring_wake_all(sb_frame_ring *ring)
{
    if (!ring)
        return;
    atomic_fetch_add_explicit(&ring->hdr->interrupt_count, 1, memory_order_release);
    wake_readers(ring);
}

/* Compares the header's geometry words with the validated copies in the handle. */
static int check_header(const sb_frame_ring *r, check_mode mode, const char *func)
{
    const ring_header *h = r->hdr;
    const sb_shm_common_header *c = &h->common;
    if (atomic_load_explicit(&c->magic, memory_order_relaxed) != RING_MAGIC ||
        c->layout_version != RING_LAYOUT_VERSION || c->header_size != RING_HEADER_SIZE ||
        c->total_size != r->seg.size)
        return corrupt(r, mode, func, "magic, layout version, header size or total size "
                       "changed");
    if (h->max_width != r->max_width || h->max_height != r->max_height ||
        h->buffer_count != r->count || h->slot_header_size != RING_SLOT_HEADER_SIZE ||
        h->slot_capacity != r->capacity || h->slots_offset != r->slots_offset ||
        h->pixels_offset != r->pixels_offset || h->slot_pixel_stride != r->slot_stride)
        return corrupt(r, mode, func, "geometry changed (max %ux%u, %u buffers; attached as "
                       "%ux%u, %u buffers)", h->max_width, h->max_height, h->buffer_count,
                       r->max_width, r->max_height, r->count);
    uint32_t closed = atomic_load_explicit(&c->closed, memory_order_relaxed);
    if (closed > 1)
        return corrupt(r, mode, func, "closed flag is %u", closed);
    uint64_t seq;
    uint32_t slot;
    int rc = load_latest(r, mode, func, &seq, &slot);
    return rc == SB_EAGAIN ? SB_OK : rc;
}

int sb_frame_ring_check(const sb_frame_ring *ring)
{
    if (!ring)
        return SB_FAIL(SB_EINVAL, "ring is NULL");
    int rc = sb__segment_check((sb_shm_segment *)(uintptr_t)&ring->seg, __func__);
    if (rc != SB_OK)
        return rc;
    return check_header(ring, CHECK_REPORTS, __func__);
}

/* Bytes of sb_frame_ring_stats each version has (the caller's struct may be that short). */
static size_t stats_size(unsigned int version)
{
    switch (version) {
    case 1: return sizeof(sb_frame_ring_stats);
    default: return 0;
    }
}

int sb_frame_ring_get_stats(const sb_frame_ring *ring, sb_frame_ring_stats *out)
{
    if (!out)
        return SB_FAIL(SB_EINVAL, "stats is NULL");
    size_t size = stats_size(out->version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "stats version %u is not 1..%d (use "
                       "SB_FRAME_RING_STATS_VERSION)", out->version, SB_FRAME_RING_STATS_VERSION);
    if (!ring)
        return SB_FAIL(SB_EINVAL, "ring is NULL");
    /* Filled whole here, handed out as the prefix the caller's version has. */
    sb_frame_ring_stats full;
    memset(&full, 0, sizeof full);
    sb_frame_ring_stats *stats = &full;
    stats->version = out->version;
    const ring_header *h = ring->hdr;
    stats->writer_pid = ring->seg.creator_pid;
    /* From the identity copied at attach: still meaningful once the mapping is zero pages. */
    stats->writer_alive = (uint32_t)sb__segment_creator_alive(&ring->seg);
    stats->broken = (uint32_t)sb__segment_is_broken(&ring->seg);
    if (stats->broken) {
        /* The mapping is zero pages now: nothing in it means anything. */
        stats->corrupt_reads = atomic_load_explicit(&ring->corrupt_reads, memory_order_relaxed);
        memcpy(out, &full, size);
        return SB_OK;
    }
    stats->published = atomic_load_explicit(&h->published, memory_order_relaxed);
    stats->refused_too_big = atomic_load_explicit(&h->refused_too_big, memory_order_relaxed);
    stats->overwritten_held = atomic_load_explicit(&h->overwritten_held, memory_order_relaxed);
    stats->heartbeat_ns = atomic_load_explicit(&h->common.heartbeat_ns, memory_order_relaxed);
    /* Shown counters stay plausible whatever was written over them: one frame is published per
     * seq, and no more publishes can have overwritten a held slot than were published. The
     * header is only observed: reading the stats must not count what it shows. */
    uint64_t newest;
    uint32_t slot;
    if (load_latest(ring, CHECK_OBSERVES, __func__, &newest, &slot) != SB_OK)
        newest = atomic_load_explicit(&ring->sane_seq, memory_order_relaxed);
    stats->corrupted = check_header(ring, CHECK_OBSERVES, __func__) != SB_OK;
    if (stats->published > newest) {
        stats->published = newest;
        stats->corrupted = 1;
    }
    if (stats->overwritten_held > stats->published) {
        stats->overwritten_held = stats->published;
        stats->corrupted = 1;
    }
    stats->corrupt_reads = atomic_load_explicit(&ring->corrupt_reads, memory_order_relaxed);
    memcpy(out, &full, size);
    return SB_OK;
}
