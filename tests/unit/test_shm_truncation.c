/* test_shm_truncation.c - a process that truncates a stream's shm segment while others have it
 * mapped must not kill them (SIGBUS): the frame writer (the user's application) and the readers
 * (the server) report the stream broken and go on (docs/shm-layout.md, "SIGBUS policy"). */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_test_transport.h"
#include "sb_cunit.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define W 64
#define H 48

/* Shrinks the stream's segment file the way a hostile or buggy peer would. */
static int truncate_segment(const char *name, const char *suffix, off_t size)
{
    int fd = shm_open(tt_shm_path(name, suffix), O_RDWR, 0);
    if (fd < 0)
        return -1;
    int rc = ftruncate(fd, size);
    close(fd);
    return rc;
}

static sb_frame_ring *create_ring(const char *name)
{
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = W;
    o.max_height = H;
    o.shm_name = name;
    sb_frame_ring *r = NULL;
    return sb_frame_ring_create(&o, &r) == SB_OK ? r : NULL;
}

static void exit_42_on_sigbus(int sig)
{
    (void)sig;
    _exit(42);
}

/* In a child: a SIGBUS outside our mappings (a file of the application's own, truncated under
 * its mapping) after the guard was installed. with_handler: the application had its own SIGBUS
 * handler first. Returns only if the fault was swallowed. */
static void fault_outside_our_mappings(bool with_handler)
{
    if (with_handler) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = exit_42_on_sigbus;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, NULL);
    }
    sb_frame_ring *r = create_ring(tt_name("chain")); /* installs the guard */
    char path[] = "/tmp/sb-sigbus-XXXXXX";
    int fd = mkstemp(path);
    if (!r || fd < 0 || ftruncate(fd, 4096) != 0)
        _exit(3);
    unlink(path);
    volatile uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
        _exit(4);
    sb_frame_ring_destroy(r);
    p[0] = 1; /* SIGBUS */
    _exit(0);
}

/* Must run before any test of this binary creates a segment: the guard is installed once per
 * process, and the children must install it after their own handler. */
static void test_faults_outside_our_mappings_still_reach_the_previous_handler(void)
{
    pid_t child = fork();
    if (child == 0)
        fault_outside_our_mappings(true);
    CU_ASSERT_EQUAL(tt_wait_child(child), 42);
    child = fork();
    if (child == 0)
        fault_outside_our_mappings(false);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
    /* Killed by SIGBUS as without the guard (or, under ASan, reported and aborted by its
     * handler, the previous one): never swallowed. */
    CU_ASSERT(WIFSIGNALED(status));
}

static void test_writer_copying_into_a_truncated_ring_is_not_killed(void)
{
    const char *name = tt_name("trunc-w");
    sb_frame_ring *r = create_ring(name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    uint8_t *px = NULL;
    uint32_t stride = 0;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_begin_write(r, W, H, SB_PIXEL_RGBA, &px, &stride), SB_OK);
    /* Truncated between begin_write and the copy (e.g. while glReadPixels fills the slot):
     * the copy faults, the SIGBUS guard puts zero pages under it and the copy completes. */
    CU_ASSERT_EQUAL_FATAL(truncate_segment(name, "ring", 0), 0);
    memset(px, 0xab, (size_t)stride * H);
    CU_ASSERT_EQUAL(sb_frame_ring_commit(r, 0, 0, NULL), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "truncated"));
    /* Broken for good: every later write is refused at once, nothing is published. */
    uint8_t frame[W * H * 4] = {0};
    sb_frame_info info = {0};
    info.width = W;
    info.height = H;
    info.format = SB_PIXEL_RGBA;
    CU_ASSERT_EQUAL(sb_frame_ring_publish(r, &info, frame, 0, NULL), SB_EBADSEG);
    CU_ASSERT_EQUAL(sb_frame_ring_check(r), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "broken"));
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(r, &st);
    CU_ASSERT_EQUAL(st.broken, 1);
    CU_ASSERT_EQUAL(st.published, 0);
    sb_frame_ring_destroy(r);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
}

/* In a child: creates the ring named arg and publishes one frame. */
static int create_ring_and_publish_one(void *name)
{
    sb_frame_ring *r = create_ring(name);
    if (!r)
        return 0;
    st_publish_one(r, W, H);
    return 1; /* the handle stays open until the child is killed */
}

static void test_reader_of_a_ring_truncated_while_held_is_not_killed(void)
{
    const char *name = tt_name("trunc-r");
    int ready = 0;
    pid_t writer = tt_fork_ready_then_pause(create_ring_and_publish_one, (void *)name, &ready);
    CU_ASSERT_FATAL(writer > 0);
    CU_ASSERT_FATAL(ready);
    sb_frame_ring *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &reader), SB_OK);
    sb_frame f;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_acquire(reader, &f), SB_OK);
    CU_ASSERT_EQUAL_FATAL(truncate_segment(name, "ring", 0), 0);
    /* Reading the held pixels faults; the guard lets the reads complete (on zero pages). */
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)f.info.stride * f.info.height; i++)
        sum += f.pixels[i];
    CU_ASSERT_EQUAL(sum, 0);
    CU_ASSERT_EQUAL(sb_frame_ring_release(reader, &f), SB_EBADSEG); /* not the frame: discard */
    CU_ASSERT_EQUAL(sb_frame_ring_acquire(reader, &f), SB_EBADSEG);
    CU_ASSERT_EQUAL(sb_frame_ring_wait(reader, 0, ST_DEADLINE_MS, NULL), SB_EBADSEG);
    CU_ASSERT_EQUAL(sb_frame_ring_check(reader), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "truncated"));
    sb_frame_ring_destroy(reader);
    kill(writer, SIGKILL);
    CU_ASSERT_EQUAL(tt_wait_child(writer), -1); /* killed by us, not by SIGBUS */
    tt_unlink(name, "ring");
}

/* The producer process: creates ring + queue NAME, says 'r' on report_fd, publishes a frame
 * every few ms until a publish fails, says 'B' (SB_EBADSEG naming the truncation) or 'x' (any
 * other failure), then waits for release_fd and destroys everything. Exit 0 = all as expected. */
static void producer_main(const char *name, int report_fd, int release_fd)
{
    sb_frame_ring *ring = create_ring(name);
    sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
    qo.shm_name = name;
    sb_event_queue *q = NULL;
    if (!ring || sb_event_queue_create(&qo, &q) != SB_OK)
        _exit(3);
    if (write(report_fd, "r", 1) != 1)
        _exit(4);
    static uint8_t px[W * H * 4];
    sb_frame_info info = {0};
    info.width = W;
    info.height = H;
    info.format = SB_PIXEL_RGBA;
    int rc;
    for (unsigned n = 0;; n++) {
        memset(px, (int)(n * 37), sizeof px);
        if ((rc = sb_frame_ring_publish(ring, &info, px, 0, NULL)) != SB_OK)
            break;
        st_sleep_ms(5); /* pace: a frame every few ms, like an application */
    }
    char verdict = rc == SB_EBADSEG && strstr(sb_last_error(), "truncated") ? 'B' : 'x';
    if (verdict != 'B')
        fprintf(stderr, "producer: publish failed unexpectedly: %s\n", sb_last_error());
    /* It stays broken: the next publish fails at once too. */
    if (sb_frame_ring_publish(ring, &info, px, 0, NULL) != SB_EBADSEG)
        verdict = 'x';
    if (write(report_fd, &verdict, 1) != 1)
        _exit(5);
    char x;
    if (read(release_fd, &x, 1) < 0)
        _exit(6);
    sb_event_queue_destroy(q);
    sb_frame_ring_destroy(ring);
    _exit(0);
}

/* Reads one byte from fd within timeout_ms; 0 on timeout or EOF. */
static char read_byte(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c = 0;
    if (poll(&p, 1, timeout_ms) == 1 && read(fd, &c, 1) == 1)
        return c;
    return 0;
}

static void truncation_under_producer_process_and_server(off_t new_size)
{
    const char *name = tt_name("trunc-s");
    int report[2], release[2];
    CU_ASSERT_FATAL(pipe(report) == 0 && pipe(release) == 0);
    pid_t producer = fork();
    if (producer == 0) {
        close(report[0]);
        close(release[1]);
        producer_main(name, report[1], release[0]);
    }
    close(report[1]);
    close(release[0]);
    CU_ASSERT_EQUAL_FATAL(read_byte(report[0], ST_DEADLINE_MS), 'r');

    /* The server side, as streambridge-server runs it: attached handles in another process. */
    sb_frame_ring *ring = NULL;
    sb_event_queue *queue = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_attach(name, &ring), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_attach(name, &queue), SB_OK);
    sb_server_options so = SB_SERVER_OPTIONS_INIT;
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL_FATAL(st_server_start_on(ring, queue, &so, &srv), SB_OK);
    int port = 0;
    sb_server_get_port(srv, &port);
    CU_ASSERT(st_http_until(port, "/healthz", 200, NULL, ST_DEADLINE_MS));
    CU_ASSERT(st_http_until(port, "/snapshot.jpg", 200, NULL, ST_DEADLINE_MS));

    CU_ASSERT_EQUAL_FATAL(truncate_segment(name, "ring", new_size), 0);

    /* Both sides notice, neither dies. */
    CU_ASSERT_EQUAL(read_byte(report[0], ST_DEADLINE_MS), 'B');
    CU_ASSERT(st_http_until(port, "/healthz", 503, "stream broken", ST_DEADLINE_MS));
    CU_ASSERT(st_http_until(port, "/healthz", 503, "truncated", ST_DEADLINE_MS));
    CU_ASSERT(st_http_until(port, "/stats", 200, "\"stream_ok\":false", ST_DEADLINE_MS));
    CU_ASSERT_EQUAL(st_http_status(port, "/", NULL), 200); /* the rest still serves */
    sb_event e = {0};
    e.type = SB_EVENT_KEY_PRESS;
    e.key_code = 'a';
    CU_ASSERT_EQUAL(sb_event_queue_push(queue, &e), SB_OK); /* the queue's segment is intact */

    CU_ASSERT_EQUAL(write(release[1], "x", 1), 1);
    CU_ASSERT_EQUAL(tt_wait_child(producer), 0); /* exited normally: no SIGBUS */
    close(report[0]);
    close(release[1]);
    sb_server_destroy(srv);
    sb_event_queue_destroy(queue);
    sb_frame_ring_destroy(ring);
    CU_ASSERT(!tt_segment_exists(name, "ring"));
}

static void test_truncated_to_a_header_producer_and_server_report_broken(void)
{
    truncation_under_producer_process_and_server(4096); /* header page left, pixels gone */
}

static void test_truncated_to_nothing_producer_and_server_report_broken(void)
{
    truncation_under_producer_process_and_server(0);
}

static void test_event_queue_truncated_under_producer_is_reported(void)
{
    const char *name = tt_name("trunc-q");
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    o.shm_name = name;
    o.capacity = 64;
    sb_event_queue *consumer = NULL, *producer = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_create(&o, &consumer), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_attach(name, &producer), SB_OK);
    sb_event e = {0};
    e.type = SB_EVENT_KEY_PRESS;
    e.key_code = 'a';
    CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_OK);
    CU_ASSERT_EQUAL_FATAL(truncate_segment(name, "events", 0), 0);
    CU_ASSERT_EQUAL(sb_event_queue_push(producer, &e), SB_EBADSEG);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "truncated"));
    sb_event out[4];
    size_t n = 9;
    CU_ASSERT_EQUAL(sb_event_queue_pop(consumer, out, 4, &n), SB_EBADSEG);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(sb_event_queue_check(consumer), SB_EBADSEG);
    sb_event_queue_stats st = SB_EVENT_QUEUE_STATS_INIT;
    sb_event_queue_get_stats(producer, &st);
    CU_ASSERT_EQUAL(st.broken, 1);
    sb_event_queue_destroy(producer);
    sb_event_queue_destroy(consumer);
    CU_ASSERT(!tt_segment_exists(name, "events"));
}

/* Stats of a broken segment say so without replacing the caller's sb_last_error(). */
static void test_reading_the_stats_of_truncated_segments_leaves_the_last_error_alone(void)
{
    const char *name = tt_name("trunc-stats");
    sb_frame_ring *ring = create_ring(name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ring);
    sb_event_queue_options o = SB_EVENT_QUEUE_OPTIONS_INIT;
    o.shm_name = name;
    sb_event_queue *queue = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_event_queue_create(&o, &queue), SB_OK);
    CU_ASSERT_EQUAL_FATAL(truncate_segment(name, "ring", 0), 0);
    CU_ASSERT_EQUAL_FATAL(truncate_segment(name, "events", 0), 0);
    /* The checks see the truncation: both handles are known broken from here on. */
    CU_ASSERT_EQUAL(sb_frame_ring_check(ring), SB_EBADSEG);
    CU_ASSERT_EQUAL(sb_event_queue_check(queue), SB_EBADSEG);

    const char *marker = tt_set_marker_error();
    sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
    CU_ASSERT_EQUAL(sb_frame_ring_get_stats(ring, &rs), SB_OK);
    CU_ASSERT_EQUAL(rs.broken, 1);
    CU_ASSERT_STRING_EQUAL(sb_last_error(), marker);
    marker = tt_set_marker_error();
    sb_event_queue_stats qs = SB_EVENT_QUEUE_STATS_INIT;
    CU_ASSERT_EQUAL(sb_event_queue_get_stats(queue, &qs), SB_OK);
    CU_ASSERT_EQUAL(qs.broken, 1);
    CU_ASSERT_STRING_EQUAL(sb_last_error(), marker);

    sb_event_queue_destroy(queue);
    sb_frame_ring_destroy(ring);
}

static CU_TestInfo truncation_tests[] = {
    {"faults_outside_our_mappings_still_reach_the_previous_handler",
     test_faults_outside_our_mappings_still_reach_the_previous_handler},
    {"writer_copying_into_a_truncated_ring_is_not_killed",
     test_writer_copying_into_a_truncated_ring_is_not_killed},
    {"reader_of_a_ring_truncated_while_held_is_not_killed",
     test_reader_of_a_ring_truncated_while_held_is_not_killed},
    {"truncated_to_a_header_producer_and_server_report_broken",
     test_truncated_to_a_header_producer_and_server_report_broken},
    {"truncated_to_nothing_producer_and_server_report_broken",
     test_truncated_to_nothing_producer_and_server_report_broken},
    {"event_queue_truncated_under_producer_is_reported",
     test_event_queue_truncated_under_producer_is_reported},
    {"reading_the_stats_of_truncated_segments_leaves_the_last_error_alone",
     test_reading_the_stats_of_truncated_segments_leaves_the_last_error_alone},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"shm_truncation", NULL, NULL, NULL, NULL, truncation_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
