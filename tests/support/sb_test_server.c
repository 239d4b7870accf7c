/* sb_test_server.c - see sb_test_server.h. */
#include "sb_test_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

unsigned st_marker_value(uint64_t seq)
{
    return (unsigned)((seq * 37u) % 200u) + 28u;
}

void st_fill_frame(uint8_t *px, uint32_t w, uint32_t h, uint32_t stride, uint64_t seq, int noise)
{
    uint32_t rng = (uint32_t)seq * 2654435761u + 1u;
    unsigned m = st_marker_value(seq);
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *row = px + (size_t)y * stride;
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = row + 4 * x;
            if (x < 64 && y < 64) {
                p[0] = p[1] = p[2] = (uint8_t)m;
            } else {
                unsigned v = (x + y + (unsigned)seq * 3u) & 0xff;
                if (noise) {
                    rng = rng * 1103515245u + 12345u;
                    v = (v + (rng >> 24)) & 0xff;
                }
                p[0] = (uint8_t)v;
                p[1] = (uint8_t)(x * 255u / w);
                p[2] = (uint8_t)(y * 255u / h);
            }
            p[3] = 255;
        }
    }
}

void *st_producer_main(void *arg)
{
    st_producer *p = arg;
    for (int i = 0; i < p->count && !atomic_load(&p->stop); i++) {
        uint8_t *px;
        uint32_t stride;
        if (sb_frame_ring_begin_write(p->ring, p->width, p->height, SB_PIXEL_BGRA, &px, &stride) !=
            SB_OK)
            break;
        uint64_t next = sb_frame_ring_latest_seq(p->ring) + 1;
        st_fill_frame(px, p->width, p->height, stride, next, p->noise);
        uint64_t now = sb__realtime_ns();
        uint64_t seq = 0;
        if (sb_frame_ring_commit(p->ring, 0, now, &seq) != SB_OK)
            break;
        if (seq < 4096)
            p->publish_ns[seq] = now;
        atomic_fetch_add(&p->published, 1);
        if (p->interval_ms)
            st_sleep_ms(p->interval_ms);
    }
    return NULL;
}

void st_producer_start(st_producer *p, sb_frame_ring *ring, uint32_t w, uint32_t h,
                       int count, int interval_ms)
{
    memset(p, 0, sizeof *p);
    p->ring = ring;
    p->width = w;
    p->height = h;
    p->count = count;
    p->interval_ms = interval_ms;
    pthread_create(&p->thread, NULL, st_producer_main, p);
}

void st_producer_join(st_producer *p)
{
    pthread_join(p->thread, NULL);
}

void st_produce(sb_frame_ring *ring, uint32_t w, uint32_t h, int count, int interval_ms)
{
    st_producer p;
    st_producer_start(&p, ring, w, h, count, interval_ms);
    st_producer_join(&p);
}

uint64_t st_publish_one(sb_frame_ring *ring, uint32_t w, uint32_t h)
{
    uint8_t *px;
    uint32_t stride;
    if (sb_frame_ring_begin_write(ring, w, h, SB_PIXEL_BGRA, &px, &stride) != SB_OK)
        return 0;
    uint64_t next = sb_frame_ring_latest_seq(ring) + 1;
    st_fill_frame(px, w, h, stride, next, 0);
    uint64_t seq = 0;
    sb_frame_ring_commit(ring, 0, 0, &seq);
    return seq;
}

pid_t st_fork_shm_producer(const char *name, uint32_t w, uint32_t h,
                           bool with_event_queue, int nframes, int *release_fd)
{
    int ready[2], done[2];
    if (pipe(ready) || pipe(done))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(done[1]);
        close(ready[0]);
        sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
        ro.max_width = w;
        ro.max_height = h;
        ro.shm_name = name;
        sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
        qo.shm_name = name;
        sb_frame_ring *ring = NULL;
        sb_event_queue *q = NULL;
        char ok = sb_frame_ring_create(&ro, &ring) == SB_OK &&
                          (!with_event_queue || sb_event_queue_create(&qo, &q) == SB_OK)
                      ? 'y'
                      : 'n';
        for (int i = 0; i < nframes && ok == 'y'; i++)
            st_publish_one(ring, w, h);
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        char x;
        if (read(done[0], &x, 1) < 0)
            _exit(1);
        sb_event_queue_destroy(q);
        sb_frame_ring_destroy(ring);
        _exit(0);
    }
    close(done[0]);
    close(ready[1]);
    char ok = 0;
    if (read(ready[0], &ok, 1) != 1 || ok != 'y') {
        close(ready[0]);
        close(done[1]);
        waitpid(pid, NULL, 0);
        return -1;
    }
    close(ready[0]);
    *release_fd = done[1];
    return pid;
}

int st_server_start_on(sb_frame_ring *ring, sb_event_queue *queue, sb_server_options *o,
                       sb_server **srv)
{
    o->port = 0;
    int rc = sb_server_create(ring, queue, o, srv);
    if (rc != SB_OK)
        fprintf(stderr, "sb_server_create: %s\n", sb_last_error());
    return rc;
}

int st_server_start(st_server *f, sb_server_options *o, uint32_t max_w, uint32_t max_h)
{
    memset(f, 0, sizeof *f);
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = max_w;
    ro.max_height = max_h;
    sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
    if (sb_frame_ring_create(&ro, &f->ring) != SB_OK || sb_event_queue_create(&qo, &f->queue) != SB_OK)
        return -1;
    int rc = st_server_start_on(f->ring, f->queue, o, &f->srv);
    if (rc != SB_OK)
        return rc;
    sb_server_get_port(f->srv, &f->port);
    return 0;
}

void st_server_stop(st_server *f)
{
    sb_server_destroy(f->srv);
    sb_event_queue_destroy(f->queue);
    sb_frame_ring_destroy(f->ring);
}

sb_server_stats st_server_stats(sb_server *srv)
{
    sb_server_stats s = SB_SERVER_STATS_INIT;
    sb_server_get_stats(srv, &s);
    return s;
}

uint32_t st_server_clients(st_server *f)
{
    return st_server_stats(f->srv).clients;
}

int st_decode_jpeg(const void *data, size_t len, int *width, int *height)
{
    tjhandle tj = tjInitDecompress();
    int w = 0, h = 0, ss = 0, cs = 0;
    int result = -1;
    if (tjDecompressHeader3(tj, (const unsigned char *)data, (unsigned long)len, &w, &h, &ss, &cs) ==
        0) {
        unsigned char *rgb = malloc((size_t)w * (size_t)h * 3);
        if (rgb && tjDecompress2(tj, (const unsigned char *)data, (unsigned long)len, rgb, w, 0, h,
                                 TJPF_RGB, 0) == 0) {
            unsigned long sum = 0, n = 0;
            for (int y = 16; y < 48 && y < h; y++)
                for (int x = 16; x < 48 && x < w; x++) {
                    sum += rgb[((size_t)y * (size_t)w + (size_t)x) * 3 + 1];
                    n++;
                }
            result = n ? (int)(sum / n) : 0;
        }
        free(rgb);
    }
    tjDestroy(tj);
    if (width)
        *width = w;
    if (height)
        *height = h;
    return result;
}

int st_read_announced_port(int fd)
{
    char line[256] = "";
    size_t n = 0;
    while (n + 1 < sizeof line && !strchr(line, '\n')) {
        ssize_t r = read(fd, line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    const char *colon = strrchr(line, ':');
    return colon ? atoi(colon + 1) : 0;
}
