/* sb_test_server.h - a streambridge server under test: synthetic frames and producers (a thread,
 * or another process over shm), a heap ring + queue + server on an ephemeral port, decoding the
 * JPEGs it sends, reading streambridge-server's announced port. For the server tests, the shm
 * tests that run a server and bench/. */
#ifndef SB_TEST_SERVER_H
#define SB_TEST_SERVER_H

#include "sb_clock.h" /* the library's own clocks: timestamps compare with the server's */
#include "sb_test_wait.h"
#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"
#include "streambridge/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- synthetic frames ------------------------------------------------------------------------ */

/* The gray level of the marker square drawn for seq: a checksum region that survives JPEG. */
unsigned st_marker_value(uint64_t seq);

/* BGRA gradient (noisy when noise != 0, to make large JPEGs) with a 64x64 marker square at the
 * top-left whose gray level encodes seq. */
void st_fill_frame(uint8_t *px, uint32_t w, uint32_t h, uint32_t stride, uint64_t seq, int noise);

typedef struct st_producer {
    sb_frame_ring *ring;
    uint32_t width, height;
    int count;        /* frames to publish */
    int interval_ms;
    int noise;
    atomic_int published;
    atomic_bool stop;
    pthread_t thread;
    uint64_t publish_ns[4096]; /* CLOCK_REALTIME publish time per seq (seq < 4096) */
} st_producer;

/* The producer thread's body (arg: st_producer *); may also run on the caller's thread. */
void *st_producer_main(void *arg);

/* Starts a thread publishing count frames interval_ms apart on ring. */
void st_producer_start(st_producer *p, sb_frame_ring *ring, uint32_t w, uint32_t h,
                       int count, int interval_ms);

/* Waits until the producer thread is done. */
void st_producer_join(st_producer *p);

/* Publishes count frames interval_ms apart on a producer thread and waits until it is done. */
void st_produce(sb_frame_ring *ring, uint32_t w, uint32_t h, int count, int interval_ms);

/* Publishes one frame synchronously. */
uint64_t st_publish_one(sb_frame_ring *ring, uint32_t w, uint32_t h);

/* ---- a producer in another process ----------------------------------------------------------- */

/* Forks a process that creates the w x h shm ring NAME (and the event queue NAME when
 * with_event_queue), publishes nframes, then waits until *release_fd is written to (or closed)
 * and destroys both (unlinking the segments). The producer lives in another process, as with
 * streambridge-server. */
pid_t st_fork_shm_producer(const char *name, uint32_t w, uint32_t h,
                           bool with_event_queue, int nframes, int *release_fd);

/* ---- a heap ring + queue + server on an ephemeral port --------------------------------------- */

typedef struct st_server {
    sb_frame_ring *ring;
    sb_event_queue *queue;
    sb_server *srv;
    int port;
} st_server;

/* Starts *srv with options o (port forced to 0) on ring and queue (NULL: none), e.g. handles
 * attached to a producer's shm; SB_OK or the error, which it prints. */
int st_server_start_on(sb_frame_ring *ring, sb_event_queue *queue, sb_server_options *o,
                       sb_server **srv);

/* Starts a server with options o (port forced to 0) on a fresh max_w x max_h heap ring. */
int st_server_start(st_server *f, sb_server_options *o, uint32_t max_w, uint32_t max_h);

/* Destroys the server, then the queue and the ring. */
void st_server_stop(st_server *f);

/* The server's stats now. */
sb_server_stats st_server_stats(sb_server *srv);

/* Clients connected now. */
uint32_t st_server_clients(st_server *f);

/* ---- JPEG ------------------------------------------------------------------------------------ */

/* Decodes; fills width/height; returns the mean gray of the inner 32x32 of the marker square,
 * or -1 when the data is not a JPEG. */
int st_decode_jpeg(const void *data, size_t len, int *width, int *height);

/* ---- streambridge-server --------------------------------------------------------------------- */

/* The port at the end of a streambridge-server's first output line ("...:PORT") read from fd,
 * 0 if there is none. */
int st_read_announced_port(int fd);

#endif /* SB_TEST_SERVER_H */
