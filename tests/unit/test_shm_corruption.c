/* test_shm_corruption.c - garbage written into live shm headers by another process: the event
 * queue's lock word, its indices, the ring header and slot headers. Nothing may wedge (a reader
 * waiting forever, a lock nobody gives back, a server that no longer stops), spin, crash or
 * show absurd counters; corruption is reported (docs/shm-layout.md, "Validated on every read"). */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_test_transport.h"
#include "sb_cunit.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define W 64
#define H 48
#define QUEUE_LOCK_OFFSET 128 /* the lock word, docs/shm-layout.md */
#define QUEUE_HEAD_OFFSET 64
#define QUEUE_COUNT_OFFSET 68
#define RING_MAX_WIDTH_OFFSET 48
#define RING_LATEST_OFFSET 96
#define RING_SLOTS_OFFSET 256
#define RING_SLOT_SIZE 128 /* docs/shm-layout.md: slot header, layout version 2 */

static sb_event key_event(int x)
{
    sb_event e;
    memset(&e, 0, sizeof e);
    e.type = SB_EVENT_KEY_PRESS;
    e.key_code = 'a';
    e.x = x;
    return e;
}

static sb_event_queue *create_queue(const char *name, uint32_t capacity)
{
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    o.shm_name = name;
    o.capacity = capacity;
    sb_event_queue *q = NULL;
    return sb_event_queue_create(&o, &q) == SB_OK ? q : NULL;
}

static void put_u32(uint8_t *map, size_t off, uint32_t v)
{
    memcpy(map + off, &v, sizeof v);
}

static void test_garbage_in_the_queue_lock_word_is_taken_over(void)
{
    const char *name = tt_name("qlock-garbage");
    sb_event_queue *consumer = create_queue(name, 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    sb_event_queue *producer = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_attach(name, &producer), SB_OK);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "events", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    /* Values no live thread can have (above any pid_max), then random bytes over the word. */
    uint32_t garbage[] = {0xdeadbeefu, 0x7fffffffu, 0xffffffffu};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        put_u32(map, QUEUE_LOCK_OFFSET, garbage[i]);
        sb_event e = key_event((int)i);
        CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_OK);
    }
    srand(7);
    for (int i = 0; i < 64; i++)
        map[QUEUE_LOCK_OFFSET + i] = (uint8_t)rand();
    sb_event e = key_event(3);
    int rc = sb_event_queue_push(producer, &e);
    /* Random bytes can name a live thread (then the bound applies), never a hang. */
    CU_ASSERT(rc == SB_OK || rc == SB_ETIMEDOUT);
    put_u32(map, QUEUE_LOCK_OFFSET, 0xdeadbeefu);
    sb_event out[8];
    size_t n = 0;
    CU_ASSERT_EQUAL(sb_event_queue_pop(consumer, out, 8, &n), SB_OK);
    CU_ASSERT(n >= 3);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(out[i].x, (int)i);
    munmap(map, size);
    sb_event_queue_destroy(producer);
    sb_event_queue_destroy(consumer);
}

static int nothing_to_set_up(void *arg)
{
    (void)arg;
    return 1;
}

static void test_queue_lock_held_by_a_live_stopped_process_gives_up_then_recovers(void)
{
    const char *name = tt_name("qlock-live");
    sb_event_queue *consumer = create_queue(name, 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    sb_event_queue *producer = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_attach(name, &producer), SB_OK);
    sb_event e = key_event(1);
    CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_OK);
    int ready = 0;
    pid_t holder = tt_fork_ready_then_pause(nothing_to_set_up, NULL, &ready);
    CU_ASSERT_FATAL(holder > 0);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "events", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    /* A live process (stopped, or garbage that happens to name it) "holds" the lock. */
    put_u32(map, QUEUE_LOCK_OFFSET, (uint32_t)holder);
    e.x = 2;
    CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "giving up"));
    CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_ETIMEDOUT);
    sb_event out[8];
    size_t n = 0;
    CU_ASSERT_EQUAL(sb_event_queue_pop(consumer, out, 8, &n), SB_ETIMEDOUT);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(sb_event_queue_check(producer), SB_EBADSEG);
    /* The holder goes away: the next calls take the lock over and nothing queued is lost. */
    kill(holder, SIGKILL);
    tt_wait_child(holder);
    CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_OK);
    CU_ASSERT_EQUAL(sb_event_queue_pop(consumer, out, 8, &n), SB_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(out[0].x, 1);
    CU_ASSERT_EQUAL(out[1].x, 2);
    CU_ASSERT_EQUAL(sb_event_queue_check(producer), SB_OK);
    munmap(map, size);
    sb_event_queue_destroy(producer);
    sb_event_queue_destroy(consumer);
}

static void test_queue_indices_out_of_range_are_clamped_and_reported(void)
{
    const char *name = tt_name("qindex");
    sb_event_queue *consumer = create_queue(name, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "events", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    put_u32(map, QUEUE_HEAD_OFFSET, 0xfffffff0u);
    put_u32(map, QUEUE_COUNT_OFFSET, 0x7fffffffu);
    CU_ASSERT_EQUAL(sb_event_queue_check(consumer), SB_EBADSEG);
    sb_event_queue_stats st = SB_EVENT_QUEUE_STATS_INIT;
    sb_event_queue_get_stats(consumer, &st);
    CU_ASSERT(st.depth <= st.capacity);
    /* No more records than the queue holds, all from inside it (the consumer validates them). */
    sb_event out[16];
    size_t n = 99;
    CU_ASSERT_EQUAL(sb_event_queue_pop(consumer, out, 16, &n), SB_OK);
    CU_ASSERT(n <= 8);
    sb_event_queue_get_stats(consumer, &st);
    CU_ASSERT(st.corrupt_reads > 0);
    CU_ASSERT_EQUAL(sb_event_queue_check(consumer), SB_OK); /* repaired */
    sb_event e = key_event(5);
    CU_ASSERT_EQUAL(sb_event_queue_push(consumer, &e), SB_OK);
    CU_ASSERT_EQUAL(sb_event_queue_pop(consumer, out, 16, &n), SB_OK);
    CU_ASSERT_EQUAL(n, 1);
    munmap(map, size);
    sb_event_queue_destroy(consumer);
}

/* ---- the standalone server with a wedged queue lock ------------------------------------------ */

/* waitpid with a deadline: the exit status, -1 if it died of a signal, -2 if still running. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    uint64_t deadline = st_now_ms() + (uint64_t)timeout_ms;
    do {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        st_sleep_ms(20); /* poll interval */
    } while (st_now_ms() < deadline);
    return -2;
}

static void test_server_binary_stops_on_sigterm_while_the_queue_lock_is_wedged(void)
{
    const char *name = tt_name("qlock-srv");
    int release = -1;
    pid_t producer = st_fork_shm_producer(name, W, H, true, 1, &release);
    CU_ASSERT_FATAL(producer > 0);
    int out[2];
    CU_ASSERT_FATAL(pipe(out) == 0);
    pid_t server = fork();
    if (server == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(SB_SERVER_BINARY, SB_SERVER_BINARY, "--name", name, "--port", "0", NULL);
        _exit(127);
    }
    close(out[1]);
    int port = st_read_announced_port(out[0]);
    CU_ASSERT_FATAL(port > 0);

    int ready = 0;
    pid_t holder = tt_fork_ready_then_pause(nothing_to_set_up, NULL, &ready);
    CU_ASSERT_FATAL(holder > 0);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "events", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    put_u32(map, QUEUE_LOCK_OFFSET, (uint32_t)holder);

    /* A viewer's input now runs into the wedged lock on the server's threads. */
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, port, "/ws", NULL, true), 0);
    unsigned char hello[12], ev[80];
    st_hello(hello, W, H);
    st_ws_send(&ws, hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    for (int i = 0; i < 5; i++) {
        st_event(ev, SB_EVENT_BUTTON_PRESS, SB_BUTTON_LEFT, 10.0f + (float)i, 10.0f, W, H);
        st_ws_send(&ws, ev, sizeof ev, MG_WEBSOCKET_OPCODE_BINARY);
    }
    CU_ASSERT_EQUAL(st_http_status(port, "/stats", NULL), 200); /* still serving */

    kill(server, SIGTERM);
    int status = wait_exit(server, ST_DEADLINE_MS);
    CU_ASSERT_EQUAL(status, 0);
    if (status == -2) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
    }
    st_ws_close(&ws);
    close(out[0]);
    kill(holder, SIGKILL);
    tt_wait_child(holder);
    munmap(map, size);
    CU_ASSERT_EQUAL(write(release, "x", 1), 1);
    close(release);
    CU_ASSERT_EQUAL(tt_wait_child(producer), 0);
}

/* The W x H shm ring NAME, as a producer creates it. */
static int create_shm_ring(const char *name, sb_frame_ring **writer)
{
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = W;
    ro.max_height = H;
    ro.shm_name = name;
    return sb_frame_ring_create(&ro, writer);
}

/* A consistent forgery in the mapped ring: slot's header and latest both claim seq. */
static void forge_latest(uint8_t *map, uint32_t slot, uint64_t seq)
{
    uint64_t latest = seq << 8 | slot;
    memcpy(map + RING_SLOTS_OFFSET + RING_SLOT_SIZE * slot + 8, &seq, 8);
    memcpy(map + RING_LATEST_OFFSET, &latest, 8);
}

/* ---- garbage in the ring header -------------------------------------------------------------- */

typedef struct vandal {
    uint8_t *map;
    size_t bytes;          /* how much of the segment start to scribble over */
    atomic_bool stop;
    atomic_uint rounds;
    pthread_t thread;
} vandal;

/* Keeps writing random bytes over the ring header and the slot headers, as a buggy or hostile
 * process that maps the segment would. */
static void *vandal_main(void *arg)
{
    vandal *v = arg;
    unsigned seed = 12345;
    while (!atomic_load(&v->stop)) {
        for (size_t i = 0; i < v->bytes; i += 4) {
            uint32_t r = (uint32_t)rand_r(&seed) << 16 ^ (uint32_t)rand_r(&seed);
            memcpy(v->map + i, &r, 4);
        }
        atomic_fetch_add(&v->rounds, 1);
        st_sleep_ms(1); /* pace: the vandal leaves the CPU to the others now and then */
    }
    return NULL;
}

static void test_repeated_garbage_in_the_ring_header_is_reported_and_the_stream_recovers(void)
{
    const char *name = tt_name("ring-garbage");
    sb_frame_ring *writer = NULL, *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(create_shm_ring(name, &writer), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    st_producer producer;
    st_producer_start(&producer, writer, W, H, 1 << 30, 5); /* until stopped */
    sb_server_options so = SB_SERVER_OPTIONS_INIT;
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL_FATAL(st_server_start_on(reader, NULL, &so, &srv), SB_OK);
    int port = 0;
    sb_server_get_port(srv, &port);
    int viewer = st_mjpeg_viewer_open(port); /* JPEG is encoded while someone consumes it */
    CU_ASSERT_FATAL(viewer >= 0);
    CU_ASSERT(st_http_until(port, "/healthz", 200, NULL, ST_DEADLINE_MS));

    vandal v = {0};
    size_t size = 0;
    v.map = tt_map_segment(name, "ring", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v.map);
    v.bytes = RING_SLOTS_OFFSET + 3 * RING_SLOT_SIZE; /* ring header + the 3 slot headers */
    pthread_create(&v.thread, NULL, vandal_main, &v);

    /* Reported while it lasts, and the server keeps answering. */
    CU_ASSERT(st_http_until(port, "/healthz", 503, "corrupted", ST_DEADLINE_MS));
    CU_ASSERT(st_http_until(port, "/stats", 200, "\"stream_ok\":false", ST_DEADLINE_MS));
    /* Readers come back from every call, whatever they find. */
    for (int i = 0; i < 200; i++) {
        sb_frame f;
        int rc = sb_frame_ring_acquire(reader, &f);
        CU_ASSERT(rc == SB_OK || rc == SB_EBADSEG || rc == SB_EAGAIN);
        if (rc == SB_OK) {
            CU_ASSERT(f.info.width <= W && f.info.height <= H);
            sb_frame_ring_release(reader, &f);
        }
        rc = sb_frame_ring_wait(reader, sb_frame_ring_latest_seq(reader), 100, NULL);
        CU_ASSERT(rc == SB_OK || rc == SB_EBADSEG || rc == SB_ETIMEDOUT || rc == SB_EGONE);
    }
    atomic_store(&v.stop, true);
    pthread_join(v.thread, NULL);
    CU_ASSERT(atomic_load(&v.rounds) > 0);

    /* Once the garbage stops, the writer's next publishes put the header right: healthy again,
     * new frames encoded, and every counter shown stays within what really happened. */
    CU_ASSERT(st_http_until(port, "/healthz", 200, "ok", ST_DEADLINE_MS));
    sb_server_stats before = st_server_stats(srv);
    bool encoded;
    ST_WAIT_UNTIL(encoded, st_server_stats(srv).frames_encoded >= before.frames_encoded + 3,
                  ST_DEADLINE_MS);
    CU_ASSERT(encoded);
    atomic_store(&producer.stop, true);
    st_producer_join(&producer);
    sb_frame_ring_stats ws = SB_FRAME_RING_STATS_INIT, rs = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(writer, &ws);
    sb_frame_ring_get_stats(reader, &rs);
    sb_server_stats after = st_server_stats(srv);
    uint64_t real = sb_frame_ring_latest_seq(writer);
    CU_ASSERT(after.frames_published <= real);
    CU_ASSERT(after.frames_encoded <= real);
    CU_ASSERT(rs.published <= real);
    CU_ASSERT(rs.overwritten_held <= rs.published);
    CU_ASSERT(rs.corrupt_reads > 0);
    CU_ASSERT_EQUAL(rs.corrupted, 0);
    CU_ASSERT_EQUAL(sb_frame_ring_check(reader), SB_OK);

    munmap(v.map, size);
    close(viewer);
    sb_server_destroy(srv);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(writer);
}

static void test_a_forged_newer_seq_is_reported_when_the_real_one_returns(void)
{
    const char *name = tt_name("ring-forged");
    sb_frame_ring *writer = NULL, *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(create_shm_ring(name, &writer), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    st_publish_one(writer, W, H);
    uint64_t seq = 0;
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 0, ST_DEADLINE_MS, &seq), SB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "ring", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);

    /* A seq no stream reaches (the ~7e16 of issue #8) is refused outright. */
    uint64_t latest = (uint64_t)281474976710655ull << 8;
    memcpy(map + RING_LATEST_OFFSET, &latest, 8);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1, ST_DEADLINE_MS, NULL), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "corrupted"));

    /* A consistent forgery (latest and its slot agree on seq 1000) cannot be told from a real
     * frame, but when the writer's next real frame (seq 2) follows, the reader is told that the
     * sequence went back instead of waiting for seq 1001 forever. */
    uint64_t forged = 1000;
    uint32_t slot = 2;
    forge_latest(map, slot, forged);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1, ST_DEADLINE_MS, &seq), SB_OK);
    CU_ASSERT_EQUAL(seq, 1000);
    st_publish_one(writer, W, H);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1000, ST_DEADLINE_MS, &seq), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "went back"));
    /* Reported to every later waiter still asking for a forged seq (e.g. the server's encoder,
     * when its /healthz thread met the drop first), not just to the first reader. */
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1000, ST_DEADLINE_MS, &seq), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "resynchronise"));
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(reader), 2);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 1, ST_DEADLINE_MS, &seq), SB_OK); /* followed again */
    CU_ASSERT_EQUAL(seq, 2);
    sb_frame f;
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL(f.info.seq, 2);
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_OK);

    /* An odd generation on the newest slot while latest stays put: reported, not retried. */
    uint64_t raw;
    memcpy(&raw, map + RING_LATEST_OFFSET, 8);
    uint32_t newest = (uint32_t)(raw & 0xff);
    uint64_t odd = 77;
    memcpy(map + RING_SLOTS_OFFSET + RING_SLOT_SIZE * newest, &odd, 8);
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(reader, &f), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "being written"));
    st_publish_one(writer, W, H); /* the writer moves on: fine again */
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_OK);

    munmap(map, size);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(writer);
}

static void test_server_encoder_resynchronises_after_a_forged_seq(void)
{
    const char *name = tt_name("ring-forged-srv");
    sb_frame_ring *writer = NULL, *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(create_shm_ring(name, &writer), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    sb_server_options so = SB_SERVER_OPTIONS_INIT;
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL_FATAL(st_server_start_on(reader, NULL, &so, &srv), SB_OK);
    int port = 0;
    sb_server_get_port(srv, &port);
    int viewer = st_mjpeg_viewer_open(port); /* JPEG is encoded while someone consumes it */
    CU_ASSERT_FATAL(viewer >= 0);
    st_publish_one(writer, W, H);
    CU_ASSERT(st_http_until(port, "/snapshot.jpg", 200, NULL, ST_DEADLINE_MS));

    /* A consistent forgery of seq 1000 in a slot the writer does not hold as its newest. */
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "ring", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);
    uint64_t raw;
    memcpy(&raw, map + RING_LATEST_OFFSET, 8);
    uint32_t slot = (uint32_t)((raw & 0xff) + 1) % 3;
    uint64_t forged = 1000;
    forge_latest(map, slot, forged);
    bool forgery_seen;
    ST_WAIT_UNTIL(forgery_seen, st_server_stats(srv).frames_published >= 1000, ST_DEADLINE_MS);
    CU_ASSERT(forgery_seen);
    /* The real frames that follow (seq 2, 3, ...) are still encoded: the encoder does not wait
     * for seq 1001. The writer keeps publishing until they are. */
    uint64_t encoded_before = st_server_stats(srv).frames_encoded;
    bool encoded;
    ST_WAIT_UNTIL(encoded,
                  (st_publish_one(writer, W, H), st_server_stats(srv).frames_encoded >= encoded_before + 3),
                  ST_DEADLINE_MS);
    CU_ASSERT(encoded);
    sb_server_stats s = st_server_stats(srv);
    CU_ASSERT(s.frames_published <= 1000 + sb_frame_ring_latest_seq(writer));
    munmap(map, size);
    close(viewer);
    sb_server_destroy(srv);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(writer);
}

/* ---- reading the stats changes nothing ------------------------------------------------------- */

/* Two stats reads of a ring whose header is corrupted, after a marker error: both succeed and
 * show the corruption, neither counts it (the same corrupt_reads) nor replaces the marker. */
static void check_stats_reads_change_nothing(const sb_frame_ring *ring)
{
    const char *marker = tt_set_marker_error();
    sb_frame_ring_stats first = SB_FRAME_RING_STATS_INIT, second = SB_FRAME_RING_STATS_INIT;
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(ring, &first), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(ring, &second), SB_OK);
    CU_ASSERT_EQUAL(first.corrupted, 1);
    CU_ASSERT_EQUAL(second.corrupted, 1);
    CU_ASSERT_EQUAL(first.corrupt_reads, second.corrupt_reads);
    CU_ASSERT_STRING_EQUAL(sb_last_error(), marker);
}

static void test_reading_the_stats_of_a_corrupted_ring_changes_nothing(void)
{
    const char *name = tt_name("ring-stats");
    sb_frame_ring *writer = NULL, *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(create_shm_ring(name, &writer), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    st_publish_one(writer, W, H);
    size_t size = 0;
    uint8_t *map = tt_map_segment(name, "ring", &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(map);

    /* `latest` names a slot the ring does not have. */
    uint64_t real_latest, bad_latest = (uint64_t)1 << 8 | 200;
    memcpy(&real_latest, map + RING_LATEST_OFFSET, 8);
    memcpy(map + RING_LATEST_OFFSET, &bad_latest, 8);
    check_stats_reads_change_nothing(reader);
    check_stats_reads_change_nothing(writer);
    /* A read still counts what it meets, and the stats show that count. */
    sb_frame_ring_stats before = SB_FRAME_RING_STATS_INIT, after = SB_FRAME_RING_STATS_INIT;
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(reader, &before), SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_check(reader), SB_EBADSEG);
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(reader, &after), SB_OK);
    CU_ASSERT_EQUAL(after.corrupt_reads, before.corrupt_reads + 1);

    /* A geometry word overwritten, `latest` sound again. */
    memcpy(map + RING_LATEST_OFFSET, &real_latest, 8);
    put_u32(map, RING_MAX_WIDTH_OFFSET, W + 1);
    check_stats_reads_change_nothing(reader);
    check_stats_reads_change_nothing(writer);

    munmap(map, size);
    sb_frame_ring_destroy(reader);
    sb_frame_ring_destroy(writer);
}

static CU_TestInfo corruption_tests[] = {
    {"garbage_in_the_queue_lock_word_is_taken_over",
     test_garbage_in_the_queue_lock_word_is_taken_over},
    {"queue_lock_held_by_a_live_stopped_process_gives_up_then_recovers",
     test_queue_lock_held_by_a_live_stopped_process_gives_up_then_recovers},
    {"queue_indices_out_of_range_are_clamped_and_reported",
     test_queue_indices_out_of_range_are_clamped_and_reported},
    {"server_binary_stops_on_sigterm_while_the_queue_lock_is_wedged",
     test_server_binary_stops_on_sigterm_while_the_queue_lock_is_wedged},
    {"repeated_garbage_in_the_ring_header_is_reported_and_the_stream_recovers",
     test_repeated_garbage_in_the_ring_header_is_reported_and_the_stream_recovers},
    {"a_forged_newer_seq_is_reported_when_the_real_one_returns",
     test_a_forged_newer_seq_is_reported_when_the_real_one_returns},
    {"server_encoder_resynchronises_after_a_forged_seq",
     test_server_encoder_resynchronises_after_a_forged_seq},
    {"reading_the_stats_of_a_corrupted_ring_changes_nothing",
     test_reading_the_stats_of_a_corrupted_ring_changes_nothing},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"shm_corruption", NULL, NULL, NULL, NULL, corruption_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
