/* frame_ring.c - the frame ring (streambridge/frame_ring.h) over one segment layout shared by
 * the heap and shm backends. Byte layout and protocols: docs/shm-layout.md. */
#include "streambridge/frame_ring.h"

#include "futex.h"
#include "sb_error_internal.h"
#include "shm_segment.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "SBRING01" as a little-endian uint64: the file starts with the ASCII bytes S B R I N G 0 1. */
#define RING_MAGIC 0x3130474E49524253ull
#define RING_LAYOUT_VERSION 1u
#define RING_HEADER_SIZE 256u
#define RING_SLOT_HEADER_SIZE 64u
#define RING_PAGE 4096u
/* Largest frame side accepted (OpenGL's usual texture limit), so sizes never overflow. */
#define RING_MAX_SIDE 16384u
/* How often a waiting reader re-checks that the writer process still runs. */
#define RING_LIVENESS_PERIOD_NS (200ull * 1000 * 1000)
/* latest = seq << 8 | slot: one atomic word names the newest slot and its seq together. */
#define LATEST_SLOT_BITS 8
#define LATEST_SLOT_MASK 0xffull

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
    uint64_t reserved[2];         /* 48..63 */
} ring_slot;

_Static_assert(sizeof(ring_header) == RING_HEADER_SIZE, "ring header layout");
_Static_assert(sizeof(ring_slot) == RING_SLOT_HEADER_SIZE, "slot header layout");
_Static_assert(offsetof(ring_header, latest) == 96, "ring header layout");
_Static_assert(offsetof(ring_header, overwritten_held) == 128, "ring header layout");
_Static_assert(offsetof(ring_slot, capture_ns) == 40, "slot header layout");

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
    /* Writer state (creator only). */
    int writing;
    uint32_t write_slot;
    uint32_t write_width, write_height, write_stride, write_format;
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

static void bind_layout(sb_frame_ring *r)
{
    r->hdr = (ring_header *)(void *)r->seg.base;
    r->count = r->hdr->buffer_count;
    r->max_width = r->hdr->max_width;
    r->max_height = r->hdr->max_height;
    r->capacity = r->hdr->slot_capacity;
    r->slot_stride = r->hdr->slot_pixel_stride;
    r->slots = (ring_slot *)(void *)(r->seg.base + r->hdr->slots_offset);
    r->pixels = r->seg.base + r->hdr->pixels_offset;
    r->writing = 0;
}

static uint8_t *slot_pixels(const sb_frame_ring *r, uint32_t slot)
{
    return r->pixels + (size_t)slot * r->slot_stride;
}

int sb_frame_ring_create(const sb_frame_ring_options *opts, sb_frame_ring **out)
{
    static const sb_frame_ring_options defaults = SB_FRAME_RING_OPTIONS_INIT;
    if (!out)
        return SB_FAIL(SB_EINVAL, "out is NULL");
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->version != SB_FRAME_RING_OPTIONS_VERSION)
        return SB_FAIL(SB_EVERSION, "options version %u, this library knows version %u",
                       opts->version, SB_FRAME_RING_OPTIONS_VERSION);
    if (opts->max_width < 1 || opts->max_height < 1 || opts->max_width > RING_MAX_SIDE ||
        opts->max_height > RING_MAX_SIDE)
        return SB_FAIL(SB_EINVAL, "max size %ux%u outside 1x1..%ux%u", opts->max_width,
                       opts->max_height, RING_MAX_SIDE, RING_MAX_SIDE);
    if (opts->buffer_count < 2 || opts->buffer_count > SB_FRAME_RING_MAX_BUFFERS)
        return SB_FAIL(SB_EINVAL, "buffer_count %u outside 2..%d", opts->buffer_count,
                       SB_FRAME_RING_MAX_BUFFERS);
    if (opts->shm_name && opts->shm_name[0]) {
        int rc = sb__validate_stream_name(__func__, opts->shm_name);
        if (rc != SB_OK)
            return rc;
    }

    uint64_t capacity = (uint64_t)opts->max_width * opts->max_height * 4u;
    uint64_t slot_stride = align_up(capacity, RING_PAGE);
    uint64_t pixels_offset =
        align_up(RING_HEADER_SIZE + (uint64_t)opts->buffer_count * RING_SLOT_HEADER_SIZE,
                 RING_PAGE);
    uint64_t total = pixels_offset + slot_stride * opts->buffer_count;
    if (total > (uint64_t)SIZE_MAX / 2)
        return SB_FAIL(SB_ENOMEM, "ring of %llu bytes does not fit the address space",
                       (unsigned long long)total);

    sb_frame_ring *r = calloc(1, sizeof *r);
    if (!r)
        return SB_FAIL(SB_ENOMEM, "cannot allocate the ring handle");
    int rc = sb__segment_create(__func__, opts->shm_name, "ring", RING_MAGIC, (size_t)total,
                                &r->seg);
    if (rc != SB_OK) {
        free(r);
        return rc;
    }
    ring_header *h = (ring_header *)(void *)r->seg.base;
    h->max_width = opts->max_width;
    h->max_height = opts->max_height;
    h->buffer_count = opts->buffer_count;
    h->slot_header_size = RING_SLOT_HEADER_SIZE;
    h->slot_capacity = capacity;
    h->slots_offset = RING_HEADER_SIZE;
    h->pixels_offset = pixels_offset;
    h->slot_pixel_stride = slot_stride;
    sb__segment_publish(&r->seg, RING_MAGIC, RING_LAYOUT_VERSION, RING_HEADER_SIZE);
    bind_layout(r);
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
    /* Everything derived from the header must agree with the file before any offset is used. */
    const ring_header *h = (const ring_header *)(void *)r->seg.base;
    const char *path = r->seg.shm_path;
    uint64_t capacity = (uint64_t)h->max_width * h->max_height * 4u;
    uint64_t slots_end = h->slots_offset + (uint64_t)h->buffer_count * RING_SLOT_HEADER_SIZE;
    if (h->max_width < 1 || h->max_height < 1 || h->max_width > RING_MAX_SIDE ||
        h->max_height > RING_MAX_SIDE)
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
    if (rc != SB_OK) {
        sb__segment_destroy(&r->seg);
        free(r);
        return rc;
    }
    bind_layout(r);
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
    if (ring->seg.is_creator && ring->hdr->common.creator_pid == (int32_t)getpid()) {
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
        atomic_fetch_add_explicit(&r->hdr->refused_too_big, 1, memory_order_relaxed);
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
    uint64_t latest = atomic_load_explicit(&r->hdr->latest, memory_order_relaxed);
    int newest = latest ? (int)(latest & LATEST_SLOT_MASK) : -1;
    int best_free = -1, best_any = -1;
    uint64_t best_free_seq = UINT64_MAX, best_any_seq = UINT64_MAX;
    for (uint32_t i = 0; i < r->count; i++) {
        if ((int)i == newest)
            continue;
        uint64_t seq = atomic_load_explicit(&r->slots[i].seq, memory_order_relaxed);
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
    atomic_fetch_add_explicit(&r->hdr->overwritten_held, 1, memory_order_relaxed);
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
    uint32_t slot = pick_slot(ring);
    /* Odd generation: readers that look now, or that held the slot, know it is being rewritten.
     * seq_cst orders this after the holders check above and before the pixel writes. */
    atomic_fetch_add_explicit(&ring->slots[slot].generation, 1, memory_order_seq_cst);
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

int sb_frame_ring_commit(sb_frame_ring *ring, uint32_t bottom_up, uint64_t capture_ns,
                         uint64_t *seq_out)
{
    int rc = check_writer(ring, __func__);
    if (rc != SB_OK)
        return rc;
    if (!ring->writing)
        return SB_FAIL(SB_ESTATE, "no write is open (call sb_frame_ring_begin_write first)");
    ring_header *h = ring->hdr;
    ring_slot *s = &ring->slots[ring->write_slot];
    uint64_t seq = (atomic_load_explicit(&h->latest, memory_order_relaxed) >> LATEST_SLOT_BITS) + 1;
    if (capture_ns == 0)
        capture_ns = sb__realtime_ns();
    atomic_store_explicit(&s->seq, seq, memory_order_relaxed);
    atomic_store_explicit(&s->width, ring->write_width, memory_order_relaxed);
    atomic_store_explicit(&s->height, ring->write_height, memory_order_relaxed);
    atomic_store_explicit(&s->stride, ring->write_stride, memory_order_relaxed);
    atomic_store_explicit(&s->format, ring->write_format, memory_order_relaxed);
    atomic_store_explicit(&s->bottom_up, bottom_up ? 1u : 0u, memory_order_relaxed);
    atomic_store_explicit(&s->capture_ns, capture_ns, memory_order_relaxed);
    /* Even again: the slot's pixels and metadata are complete (release publishes them). */
    atomic_fetch_add_explicit(&s->generation, 1, memory_order_release);
    atomic_store_explicit(&h->latest, seq << LATEST_SLOT_BITS | ring->write_slot,
                          memory_order_release);
    atomic_fetch_add_explicit(&h->published, 1, memory_order_relaxed);
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
    atomic_fetch_add_explicit(&ring->slots[ring->write_slot].generation, 1, memory_order_release);
    atomic_store_explicit(&ring->slots[ring->write_slot].seq, 0, memory_order_relaxed);
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
    return sb_frame_ring_commit(ring, info->bottom_up, info->capture_ns, seq_out);
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

int sb_frame_ring_acquire(sb_frame_ring *ring, sb_frame *frame)
{
    if (!ring || !frame)
        return SB_FAIL(SB_EINVAL, "ring and frame must not be NULL");
    memset(frame, 0, sizeof *frame);
    ring_header *h = ring->hdr;
    /* Only a writer that laps this reader thousands of times in a row could exhaust this. */
    for (int attempt = 0; attempt < 10000; attempt++) {
        uint64_t latest = atomic_load_explicit(&h->latest, memory_order_acquire);
        if (latest == 0)
            return SB_FAIL(SB_EAGAIN, "no frame has been published yet");
        uint32_t slot = (uint32_t)(latest & LATEST_SLOT_MASK);
        if (slot >= ring->count)
            return SB_FAIL(SB_EBADSEG, "latest slot %u >= buffer count %u: corrupted segment",
                           slot, ring->count);
        ring_slot *s = &ring->slots[slot];
        atomic_fetch_add_explicit(&s->holders, 1, memory_order_seq_cst);
        uint64_t gen = atomic_load_explicit(&s->generation, memory_order_seq_cst);
        if ((gen & 1) == 0) {
            sb_frame_info *fi = &frame->info;
            fi->seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
            fi->width = atomic_load_explicit(&s->width, memory_order_relaxed);
            fi->height = atomic_load_explicit(&s->height, memory_order_relaxed);
            fi->stride = atomic_load_explicit(&s->stride, memory_order_relaxed);
            fi->format = atomic_load_explicit(&s->format, memory_order_relaxed);
            fi->bottom_up = atomic_load_explicit(&s->bottom_up, memory_order_relaxed);
            fi->reserved_ = 0;
            fi->capture_ns = atomic_load_explicit(&s->capture_ns, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            uint64_t again = atomic_load_explicit(&s->generation, memory_order_relaxed);
            /* The metadata must be self-consistent too: a hostile or corrupted segment must
             * not make us hand out a pointer past the slot. */
            uint64_t bytes = (uint64_t)fi->stride * fi->height;
            if (again == gen && fi->seq >= (latest >> LATEST_SLOT_BITS) &&
                bytes <= ring->capacity && sb_pixel_format_size(fi->format) != 0) {
                frame->pixels = slot_pixels(ring, slot);
                frame->slot_ = slot;
                frame->gen_ = gen;
                return SB_OK;
            }
        }
        drop_hold(s);
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
        uint64_t seq = atomic_load_explicit(&h->latest, memory_order_acquire) >> LATEST_SLOT_BITS;
        if (seq > after_seq) {
            if (seq_out)
                *seq_out = seq;
            return SB_OK;
        }
        if (atomic_load_explicit(&h->common.closed, memory_order_acquire))
            return SB_FAIL(SB_EGONE, "the writer closed ring \"%s\"", ring->seg.stream_name);
        now = sb__monotonic_ns();
        if (now >= next_liveness_check) {
            if (!sb__segment_creator_alive(&ring->seg))
                return SB_FAIL(SB_EGONE, "writer process %d of ring \"%s\" is gone",
                               (int)h->common.creator_pid, ring->seg.stream_name);
            next_liveness_check = now + RING_LIVENESS_PERIOD_NS;
        }
        if (atomic_load_explicit(&h->interrupt_count, memory_order_acquire) != interrupts)
            return SB_FAIL(SB_ETIMEDOUT, "woken by sb_frame_ring_wake_all before a new frame");
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
    return atomic_load_explicit(&ring->hdr->latest, memory_order_acquire) >> LATEST_SLOT_BITS;
}

void sb_frame_ring_wake_all(sb_frame_ring *ring)
{
    if (!ring)
        return;
    atomic_fetch_add_explicit(&ring->hdr->interrupt_count, 1, memory_order_release);
    wake_readers(ring);
}

void sb_frame_ring_get_stats(const sb_frame_ring *ring, sb_frame_ring_stats *stats)
{
    if (!stats)
        return;
    memset(stats, 0, sizeof *stats);
    if (!ring)
        return;
    const ring_header *h = ring->hdr;
    stats->published = atomic_load_explicit(&h->published, memory_order_relaxed);
    stats->refused_too_big = atomic_load_explicit(&h->refused_too_big, memory_order_relaxed);
    stats->overwritten_held = atomic_load_explicit(&h->overwritten_held, memory_order_relaxed);
    stats->writer_pid = h->common.creator_pid;
    stats->writer_alive = (uint32_t)sb__segment_creator_alive(&ring->seg);
    stats->heartbeat_ns = atomic_load_explicit(&h->common.heartbeat_ns, memory_order_relaxed);
}
