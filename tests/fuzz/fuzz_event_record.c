/* fuzz_event_record.c - fuzz target event_record: sb_event_validate() on arbitrary 80-byte
 * records, and the validated ones through a heap event queue (push, pop, the drop-oldest-move
 * policy when full), against a model of what the headers promise.
 *
 * Input: byte 0 picks the queue capacity (2 + b % 15: small, so full queues are common), then
 * operations until the input ends, each an op byte:
 *   op % 4 == 0  push the next 80 bytes as a record, as they are (zero-padded at the end of the
 *                input): the queue must accept it exactly when the documented rules do
 *   op % 4 == 1  the same record brought into the documented ranges first: it must validate
 *   op % 4 == 2  pop up to (op >> 2) % 20 records
 *   op % 4 == 3  drain the queue
 * tests/fuzz/make_event_record_seeds.py writes the seed corpus in this format.
 *
 * Invariants (abort() when broken, so libFuzzer saves the input):
 *   - sb_event_validate() accepts a record iff the rules of streambridge/events.h and
 *     docs/wire-protocol.md accept it (valid_by_the_docs() below), never changes it, and says
 *     why it refused;
 *   - push accepts exactly the valid records; when full it drops the OLDEST pointer move, and
 *     refuses with SB_EFULL only when no move is queued; nothing else is ever dropped or changed;
 *   - pop returns min(max, depth) records, byte for byte what was pushed, in push order;
 *   - the stats count every push, pop, drop and refusal; wait(0) sees a non-empty queue. */
#include "sb_fuzz.h"

#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/events.h"

#include <math.h>
#include <string.h>

#define RECORD_SIZE sizeof(sb_event)
#define MAX_CAPACITY 16
#define MAX_COORD 16384 /* docs/wire-protocol.md: positions and sizes */

/* The validity rules as the public docs state them, written independently of events.c. */
static int valid_by_the_docs(const sb_event *e)
{
    int press_or_release = e->type == SB_EVENT_BUTTON_PRESS || e->type == SB_EVENT_BUTTON_RELEASE;
    if (e->type < SB_EVENT_POINTER_MOVE || e->type > SB_EVENT_RESIZE)
        return 0;
    if (e->button > SB_BUTTON_RIGHT || (press_or_release && e->button == SB_BUTTON_NONE))
        return 0;
    if ((e->modifiers | SB_MOD_ALL) != SB_MOD_ALL)
        return 0;
    if (labs((long)e->x) > MAX_COORD || labs((long)e->y) > MAX_COORD)
        return 0;
    if (e->type == SB_EVENT_RESIZE &&
        !(e->width >= 1 && e->width <= MAX_COORD && e->height >= 1 && e->height <= MAX_COORD))
        return 0;
    if (e->type == SB_EVENT_WHEEL &&
        !(isfinite(e->wheel_delta) && e->wheel_delta != 0.0f && fabsf(e->wheel_delta) < 1000.0f))
        return 0;
    if (strnlen(e->keysym, SB_KEYSYM_MAX) == SB_KEYSYM_MAX)
        return 0;
    return e->key_code <= 0x10FFFF;
}

/* Brings any record into the documented ranges, keeping as much of it as possible. */
static void tame(sb_event *e)
{
    e->type = SB_EVENT_POINTER_MOVE + e->type % (SB_EVENT_TYPE_COUNT - 1);
    e->button %= SB_BUTTON_RIGHT + 1;
    if ((e->type == SB_EVENT_BUTTON_PRESS || e->type == SB_EVENT_BUTTON_RELEASE) &&
        e->button == SB_BUTTON_NONE)
        e->button = SB_BUTTON_LEFT;
    e->modifiers &= SB_MOD_ALL;
    e->x %= MAX_COORD + 1;
    e->y %= MAX_COORD + 1;
    if (e->type == SB_EVENT_RESIZE) {
        e->width = 1 + (int32_t)((uint32_t)e->width % MAX_COORD);
        e->height = 1 + (int32_t)((uint32_t)e->height % MAX_COORD);
    }
    if (!(e->wheel_delta > -1000.0f && e->wheel_delta < 1000.0f) || e->wheel_delta == 0.0f)
        e->wheel_delta = 1.0f;
    e->keysym[SB_KEYSYM_MAX - 1] = '\0';
    e->key_code %= 0x110000;
}

/* What the queue must hold and must have counted. */
typedef struct model {
    sb_event records[MAX_CAPACITY];
    uint32_t depth, capacity;
    sb_event_queue_stats stats;
} model;

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_validate(const sb_event *e)
{
    sb_event before = *e;
    int rc = sb_event_validate(e);
    int expected = valid_by_the_docs(e);
    SB_FUZZ_CHECK(memcmp(&before, e, RECORD_SIZE) == 0, "sb_event_validate changed the record");
    SB_FUZZ_CHECK((rc == SB_OK) == expected, "sb_event_validate says %d (%s), the docs say %s",
                  rc, rc == SB_OK ? "" : sb_last_error(), expected ? "valid" : "invalid");
    SB_FUZZ_CHECK(rc == SB_OK || rc == SB_EINVAL, "sb_event_validate returned %d", rc);
    if (rc != SB_OK)
        SB_FUZZ_CHECK(starts_with(sb_last_error(), "sb_event_validate(): ") &&
                          strlen(sb_last_error()) > strlen("sb_event_validate(): "),
                      "refusal without a reason: \"%s\"", sb_last_error());
    const char *name = sb_event_type_name(e->type);
    SB_FUZZ_CHECK(name && (strcmp(name, "invalid") != 0) == (e->type < SB_EVENT_TYPE_COUNT),
                  "sb_event_type_name(%u) = \"%s\"", e->type, name ? name : "(null)");
}

static void check_push(sb_event_queue *q, model *m, const sb_event *e)
{
    check_validate(e);
    sb_event before = *e;
    int rc = sb_event_queue_push(q, e);
    SB_FUZZ_CHECK(memcmp(&before, e, RECORD_SIZE) == 0, "push changed the caller's record");
    if (!valid_by_the_docs(e)) {
        SB_FUZZ_CHECK(rc == SB_EINVAL, "push of an invalid record returned %d", rc);
        SB_FUZZ_CHECK(starts_with(sb_last_error(), "sb_event_queue_push(): rejected: "),
                      "push's refusal: \"%s\"", sb_last_error());
        m->stats.rejected_invalid++;
        return;
    }
    if (m->depth == m->capacity) {
        uint32_t oldest_move = 0;
        while (oldest_move < m->depth && m->records[oldest_move].type != SB_EVENT_POINTER_MOVE)
            oldest_move++;
        if (oldest_move == m->depth) {
            SB_FUZZ_CHECK(rc == SB_EFULL, "push into a queue full of non-moves returned %d", rc);
            if (e->type == SB_EVENT_POINTER_MOVE)
                m->stats.dropped_moves++;
            else
                m->stats.dropped_other++;
            return;
        }
        memmove(&m->records[oldest_move], &m->records[oldest_move + 1],
                (m->depth - oldest_move - 1) * RECORD_SIZE);
        m->depth--;
        m->stats.dropped_moves++;
    }
    SB_FUZZ_CHECK(rc == SB_OK, "push of a valid record returned %d: %s", rc, sb_last_error());
    m->records[m->depth++] = *e;
    m->stats.pushed++;
}

static void check_pop(sb_event_queue *q, model *m, size_t max)
{
    sb_event out[MAX_CAPACITY + 4];
    size_t got = 12345;
    /* Filled with a pattern: records the queue did not write must not look like events. */
    memset(out, 0xA5, sizeof out);
    int rc = sb_event_queue_pop(q, max ? out : NULL, max, &got);
    size_t expected = m->depth < max ? m->depth : max;
    SB_FUZZ_CHECK(rc == SB_OK, "pop returned %d: %s", rc, sb_last_error());
    SB_FUZZ_CHECK(got == expected, "pop of up to %zu from %u records gave %zu", max, m->depth, got);
    for (size_t i = 0; i < got; i++)
        SB_FUZZ_CHECK(memcmp(&out[i], &m->records[i], RECORD_SIZE) == 0,
                      "popped record %zu of %zu is not the one pushed", i, got);
    for (size_t i = got; i < sizeof out / sizeof out[0]; i++)
        SB_FUZZ_CHECK(((const uint8_t *)&out[i])[0] == 0xA5, "pop wrote past the %zu records", got);
    memmove(&m->records[0], &m->records[got], (m->depth - got) * RECORD_SIZE);
    m->depth -= (uint32_t)got;
    m->stats.popped += got;
}

static void check_stats(sb_event_queue *q, const model *m)
{
    sb_event_queue_stats s = SB_EVENT_QUEUE_STATS_INIT;
    sb_event_queue_get_stats(q, &s);
    SB_FUZZ_CHECK(s.pushed == m->stats.pushed && s.popped == m->stats.popped &&
                      s.dropped_moves == m->stats.dropped_moves &&
                      s.dropped_other == m->stats.dropped_other &&
                      s.rejected_invalid == m->stats.rejected_invalid && s.depth == m->depth &&
                      s.capacity == m->capacity,
                  "stats pushed %llu popped %llu dropped %llu/%llu rejected %llu depth %u/%u, "
                  "expected %llu %llu %llu/%llu %llu %u/%u",
                  (unsigned long long)s.pushed, (unsigned long long)s.popped,
                  (unsigned long long)s.dropped_moves, (unsigned long long)s.dropped_other,
                  (unsigned long long)s.rejected_invalid, s.depth, s.capacity,
                  (unsigned long long)m->stats.pushed, (unsigned long long)m->stats.popped,
                  (unsigned long long)m->stats.dropped_moves,
                  (unsigned long long)m->stats.dropped_other,
                  (unsigned long long)m->stats.rejected_invalid, m->depth, m->capacity);
    int rc = sb_event_queue_wait(q, 0);
    SB_FUZZ_CHECK(rc == (m->depth ? SB_OK : SB_ETIMEDOUT), "wait(0) with %u queued returned %d",
                  m->depth, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    model m;
    memset(&m, 0, sizeof m);
    m.capacity = 2 + data[0] % (MAX_CAPACITY - 1);
    sb_event_queue_options opts = SB_EVENT_QUEUE_OPTIONS_INIT;
    opts.capacity = m.capacity;
    sb_event_queue *q = NULL;
    int rc = sb_event_queue_create(&opts, &q);
    SB_FUZZ_CHECK(rc == SB_OK, "cannot create a heap queue of %u: %s", m.capacity, sb_last_error());

    for (size_t at = 1; at < size;) {
        uint8_t op = data[at++];
        switch (op % 4) {
        case 0:
        case 1: {
            sb_event e;
            size_t n = size - at < RECORD_SIZE ? size - at : RECORD_SIZE;
            memset(&e, 0, sizeof e);
            memcpy(&e, data + at, n);
            at += n;
            if (op % 4 == 1) {
                tame(&e);
                SB_FUZZ_CHECK(sb_event_validate(&e) == SB_OK,
                              "a record in the documented ranges was refused: %s", sb_last_error());
            }
            check_push(q, &m, &e);
            break;
        }
        case 2:
            check_pop(q, &m, (size_t)(op >> 2) % 20);
            break;
        default:
            check_pop(q, &m, MAX_CAPACITY);
            SB_FUZZ_CHECK(m.depth == 0, "the queue kept %u records after a drain", m.depth);
            break;
        }
        check_stats(q, &m);
    }
    sb_event_queue_destroy(q);
    return 0;
}
