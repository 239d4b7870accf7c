/* bench_server.c - the web server under load: a synthetic 1280x720 BGRA producer (content changes
 * every frame) at ~60 fps, and 1, 8, 32 acking WebSocket clients in a forked process (so the
 * server process's CPU time is the server's, minus the producer thread's own, measured apart).
 *
 * Prints per configuration: delivered fps per client, server CPU ms per delivered frame, and
 * publish -> client-has-the-whole-JPEG latency p50/p99 next to the bare encode time.
 * Figures only; it never fails on them. Usage: bench_server [seconds per run, default 4] */
#include "sb_test_http.h"
#include "sb_test_server.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define BW 1280
#define BH 720

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t process_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* Resident set size of this (the server's) process, KiB; 0 if /proc is unreadable. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Child: n clients; reports "frames_min frames_total p50_us p99_us" on fd after stop. */
static void run_clients(int port, int n, int ready_fd, int stop_fd, int result_fd)
{
    st_ws *ws = calloc((size_t)n, sizeof *ws);
    for (int i = 0; i < n; i++)
        if (st_ws_connect(&ws[i], port, "/ws", NULL, true) != 0)
            _exit(1);
    st_nodelay_all_sockets();
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1)
        _exit(1);
    if (read(stop_fd, &c, 1) < 0)
        _exit(1);
    size_t total = 0;
    int fmin = ST_MAX_SEQS;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&ws[i].mu);
        int f = ws[i].frames < ST_MAX_SEQS ? ws[i].frames : ST_MAX_SEQS;
        total += (size_t)f;
        if (f < fmin)
            fmin = f;
    }
    uint64_t *lat = malloc((total + 1) * sizeof *lat);
    uint64_t *srvlat = malloc((total + 1) * sizeof *srvlat);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int f = ws[i].frames < ST_MAX_SEQS ? ws[i].frames : ST_MAX_SEQS;
        for (int j = 1; j < f; j++) { /* the first frame may predate the run */
            srvlat[k] = ws[i].server_ns[j];
            lat[k++] = ws[i].latency_ns[j];
        }
        pthread_mutex_unlock(&ws[i].mu);
    }
    qsort(lat, k, sizeof *lat, cmp_u64);
    qsort(srvlat, k, sizeof *srvlat, cmp_u64);
    char line[160];
    int len = snprintf(line, sizeof line, "%d %zu %llu %llu %llu\n", fmin, total,
                       (unsigned long long)(k ? lat[k / 2] / 1000 : 0),
                       (unsigned long long)(k ? lat[(k * 99) / 100] / 1000 : 0),
                       (unsigned long long)(k ? srvlat[k / 2] / 1000 : 0));
    if (write(result_fd, line, (size_t)len) != len)
        _exit(1);
    for (int i = 0; i < n; i++)
        st_ws_close(&ws[i]);
    _exit(0);
}

static void bench(int nclients, double seconds)
{
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = BW;
    ro.max_height = BH;
    sb_frame_ring *ring = NULL;
    if (sb_frame_ring_create(&ro, &ring) != SB_OK) {
        fprintf(stderr, "ring: %s\n", sb_last_error());
        exit(1);
    }
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    o.port = 0;
    o.still_delay_ms = 150;
    o.max_clients_per_address = 0; /* up to 64 clients, all from 127.0.0.1 */
    sb_server *srv = NULL;
    if (sb_server_create(ring, NULL, &o, &srv) != SB_OK) {
        fprintf(stderr, "server: %s\n", sb_last_error());
        exit(1);
    }
    int port = 0;
    sb_server_get_port(srv, &port);
    /* Warm up without clients (encoder buffers, frame pool), so the RSS growth measured while
     * the clients are connected is what the clients themselves cost. */
    for (int i = 0; i < 10; i++) {
        uint8_t *px;
        uint32_t stride;
        if (sb_frame_ring_begin_write(ring, BW, BH, SB_PIXEL_BGRA, &px, &stride) != SB_OK)
            exit(1);
        st_fill_frame(px, BW, BH, stride, sb_frame_ring_latest_seq(ring) + 1, 0);
        sb_frame_ring_commit(ring, 0, sb__realtime_ns(), NULL);
        st_sleep_ms(17);
    }
    st_sleep_ms(200);
    long rss_before = rss_kib();
    sb_server_stats warm = SB_SERVER_STATS_INIT;
    sb_server_get_stats(srv, &warm);
    int ready[2], stop[2], result[2];
    if (pipe(ready) || pipe(stop) || pipe(result))
        exit(1);
    pid_t pid = fork();
    if (pid == 0)
        run_clients(port, nclients, ready[1], stop[0], result[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) {
        fprintf(stderr, "clients failed to connect\n");
        exit(1);
    }

    /* Paced at 60 fps: publish, then sleep the rest of the 16.7 ms period. */
    uint64_t cpu0 = process_cpu_ns();
    uint64_t t0 = sb__monotonic_ns();
    uint64_t producer_cpu_ns = 0;
    int published = 0;
    while (sb__monotonic_ns() - t0 < (uint64_t)(seconds * 1e9)) {
        uint64_t due = t0 + (uint64_t)published * 16666667ull;
        uint64_t now = sb__monotonic_ns();
        if (due > now)
            st_sleep_ms((long)((due - now) / 1000000ull));
        uint64_t c0 = thread_cpu_ns();
        uint8_t *px;
        uint32_t stride;
        if (sb_frame_ring_begin_write(ring, BW, BH, SB_PIXEL_BGRA, &px, &stride) != SB_OK)
            break;
        st_fill_frame(px, BW, BH, stride, sb_frame_ring_latest_seq(ring) + 1, 0);
        sb_frame_ring_commit(ring, 0, sb__realtime_ns(), NULL);
        producer_cpu_ns += thread_cpu_ns() - c0;
        published++;
    }
    st_sleep_ms(200); /* let the last frames drain */
    long rss_with_clients = rss_kib();
    uint64_t elapsed = sb__monotonic_ns() - t0;
    uint64_t server_cpu = process_cpu_ns() - cpu0 - producer_cpu_ns;
    if (write(stop[1], "s", 1) != 1)
        exit(1);
    char line[160] = "";
    ssize_t n = read(result[0], line, sizeof line - 1);
    if (n > 0)
        line[n] = '\0';
    int status;
    waitpid(pid, &status, 0);
    int fmin = 0;
    unsigned long total = 0;
    unsigned long long p50 = 0, p99 = 0, srv50 = 0;
    sscanf(line, "%d %lu %llu %llu %llu", &fmin, &total, &p50, &p99, &srv50);
    sb_server_stats s = SB_SERVER_STATS_INIT;
    sb_server_get_stats(srv, &s);
    double secs = (double)elapsed / 1e9;
    printf("%7d | %9d | %7llu | %8.1f | %8.1f | %11.3f | %7.2f | %7.2f | %8.2f | %7.2f | %7.2f | %9.0f\n",
           nclients,
           published, (unsigned long long)(s.frames_encoded - warm.frames_encoded), (double)total / nclients / secs,
           (double)fmin / secs, total ? (double)server_cpu / 1e6 / (double)total : 0.0,
           (double)p50 / 1000.0, (double)p99 / 1000.0, (double)srv50 / 1000.0, s.encode_ms_p50,
           s.encode_ms_p99, (double)(rss_with_clients - rss_before) / nclients);
    fflush(stdout);
    sb_server_destroy(srv);
    sb_frame_ring_destroy(ring);
    close(ready[0]);
    close(ready[1]);
    close(stop[0]);
    close(stop[1]);
    close(result[0]);
    close(result[1]);
}

/* How long sb_server_destroy takes with a WebSocket and an MJPEG viewer connected. A stop that sat
 * out civetweb's poll quantum would take 2000 ms or more; the server wakes its master thread and
 * closes the clients instead. Measured here, not asserted in tests/ (a loaded machine can take
 * that long anyway): tests/README.md. */
static void bench_stop(void)
{
    for (int run = 0; run < 3; run++) {
        sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
        sb_frame_ring *ring = NULL;
        sb_server_options o = SB_SERVER_OPTIONS_INIT;
        o.port = 0;
        sb_server *srv = NULL;
        if (sb_frame_ring_create(&ro, &ring) != SB_OK || sb_server_create(ring, NULL, &o, &srv) != SB_OK) {
            fprintf(stderr, "stop bench: %s\n", sb_last_error());
            exit(1);
        }
        int port = 0;
        sb_server_get_port(srv, &port);
        st_publish_one(ring, 320, 240);
        st_ws ws;
        int mj = st_raw_connect(port);
        if (st_ws_connect(&ws, port, "/ws", NULL, true) != 0 || mj < 0 ||
            st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS) < 1 ||
            st_raw_request_status(mj, "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") != 200) {
            fprintf(stderr, "stop bench: viewers did not connect\n");
            exit(1);
        }
        uint64_t t0 = sb__monotonic_ns();
        sb_server_destroy(srv);
        double ms = (double)(sb__monotonic_ns() - t0) / 1e6;
        printf("sb_server_destroy with a WebSocket and an MJPEG viewer: %6.1f ms (run %d; >= 2000 "
               "would mean it waited out civetweb's poll)\n", ms, run + 1);
        st_ws_wait_closed(&ws, ST_DEADLINE_MS);
        st_ws_close(&ws);
        close(mj);
        sb_frame_ring_destroy(ring);
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 4.0;
    if (!(seconds > 0.5 && seconds < 600)) {
        fprintf(stderr, "usage: bench_server [seconds per run, 0.5..600]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    mg_init_library(0);
    printf("bench_server: %dx%d BGRA, producer paced at 60 fps, %.1f s per run, quality 60/90\n",
           BW, BH, seconds);
    printf("clients | published | encoded | fps/cli  | min fps  | srv ms/frame | lat p50 | lat p99 | send p50 | enc p50 | enc p99 | RSS/client\n");
    printf("        |           |         | (mean)   | (worst)  | (CPU, sent)  | (ms)    | (ms)    | (ms)     | (ms)    | (ms)    | (KiB)\n");
    int configs[] = {1, 8, 32};
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        bench(configs[i], seconds);
    printf("\n");
    bench_stop();
    return 0;
}
