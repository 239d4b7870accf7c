/* bench_latency.c - input to new frame over /ws, measured in parts (issue #10, "Latency,
 * measured in parts"; the target in DESIGN.md: p50 <= render + capture + encode + 5 ms).
 *
 * Starts the demo (streambridge-demo --scene basic --size 640x480, its own process: the VTK
 * window, the stream and the server), connects one acking WebSocket client as a browser would
 * (TCP_NODELAY), presses the left button and then sends one pointer move at a time, each after
 * a random pause of 0..16 ms (so the moves meet the render thread's timer at every phase). For
 * each move it waits for the first frame whose metadata says it contains that move: /stats
 * "recent_frames" lists each frame's times (docs/wire-protocol.md), and the first frame whose
 * input_ns (the server's receive time of the newest input in it) is at or after the move's send
 * time is that frame. It prints p50/p90/max of each part of the walk and of the total
 * (move sent -> that frame received), and the demo's idle CPU (no input, one viewer connected)
 * before and after the run, from /proc/PID/stat.
 *
 *   tests/xvfb-run.sh build/bench/bench_latency [--iters N] [--codec jpeg|h264|vp8]
 *                                               [--demo PATH] [--port N]
 *
 * --port drives a server that already runs (a scene of your own) instead of starting the demo
 * (no idle CPU figure then). --codec other than jpeg sends the CODEC message of the video wire
 * (docs/wire-protocol.md) first; a server without video closes the connection, which is said.
 * Figures only: it never fails on them. */
#include "sb_test_http.h"

#include "sb_clock.h"
#include "streambridge/events.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define VIEW_W 640
#define VIEW_H 480
/* How long one move may wait for its frame before the bench gives up on it. */
#define MOVE_DEADLINE_MS 5000
#define IDLE_SECONDS 3

/* One frame's walk as /stats "recent_frames" lists it (CLOCK_REALTIME ns, 0 = unknown). */
typedef struct walk {
    unsigned long long seq, input_ns, replay_ns, render_start_ns, render_end_ns, capture_ns,
        encode_start_ns, encode_end_ns, send_ns;
} walk;

/* The parts printed, in the walk's order. */
enum {
    P_CLIENT_TO_SERVER,
    P_RECEIVED_TO_REPLAYED,
    P_REPLAY_TO_RENDER,
    P_RENDER,
    P_CAPTURE,
    P_CAPTURE_TO_ENCODE,
    P_ENCODE,
    P_SEND,
    P_SEND_TO_CLIENT,
    P_TOTAL,
    P_COUNT
};
static const char *const part_names[P_COUNT] = {
    "move sent -> server received",
    "received -> replayed (the drain)",
    "replayed -> render start",
    "render (StartEvent -> EndEvent)",
    "capture (EndEvent -> commit)",
    "commit -> encode start",
    "encode",
    "encoded -> sent (first byte)",
    "sent -> client has the frame",
    "total: move sent -> frame received",
};

static double *samples[P_COUNT];
static int nsamples;

static double ms_between(unsigned long long from, unsigned long long to)
{
    return to >= from ? (double)(to - from) / 1e6 : -(double)(from - to) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static double pct(const double *sorted, int n, double q)
{
    int r = (int)ceil(q * n);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return sorted[r - 1];
}

/* Parses /stats "recent_frames" into out (at most max); returns how many. */
static int parse_walks(const char *json, walk *out, int max)
{
    const char *p = strstr(json, "\"recent_frames\":[");
    int n = 0;
    while (p && n < max && (p = strstr(p, "{\"seq\":")) != NULL) {
        walk *w = &out[n];
        if (sscanf(p,
                   "{\"seq\":%llu,\"input_ns\":%llu,\"replay_ns\":%llu,\"render_start_ns\":%llu,"
                   "\"render_end_ns\":%llu,\"capture_ns\":%llu,\"encode_start_ns\":%llu,"
                   "\"encode_end_ns\":%llu,\"send_ns\":%llu}",
                   &w->seq, &w->input_ns, &w->replay_ns, &w->render_start_ns, &w->render_end_ns,
                   &w->capture_ns, &w->encode_start_ns, &w->encode_end_ns, &w->send_ns) == 9)
            n++;
        p++;
    }
    return n;
}

/* When the client received seq (the first time), 0 if it has not. */
static uint64_t received_at(st_ws *ws, uint64_t seq, int from_index)
{
    uint64_t at = 0;
    pthread_mutex_lock(&ws->mu);
    int n = ws->frames < ST_MAX_SEQS ? ws->frames : ST_MAX_SEQS;
    for (int i = from_index; i < n && !at; i++)
        if (ws->seqs[i] == seq)
            at = ws->recv_ns[i];
    pthread_mutex_unlock(&ws->mu);
    return at;
}

static int frame_count(st_ws *ws)
{
    pthread_mutex_lock(&ws->mu);
    int n = ws->frames;
    pthread_mutex_unlock(&ws->mu);
    return n;
}

static void send_pointer(st_ws *ws, int type, float x, float y)
{
    unsigned char m[80];
    st_event(m, type, SB_BUTTON_LEFT, x, y, VIEW_W, VIEW_H);
    st_ws_send(ws, m, sizeof m, MG_WEBSOCKET_OPCODE_BINARY);
}

/* One move and the frame that shows it: adds a sample to every part. false = no such frame
 * within MOVE_DEADLINE_MS (or the connection closed). */
static bool measure_move(st_ws *ws, int port, float x, float y)
{
    int first_index = frame_count(ws);
    uint64_t sent_ns = sb__realtime_ns();
    send_pointer(ws, SB_EVENT_POINTER_MOVE, x, y);
    uint64_t give_up = st_now_ms() + MOVE_DEADLINE_MS;
    int seen = first_index;
    walk walks[64];
    while (st_now_ms() < give_up) {
        if (st_ws_wait_frames(ws, seen + 1, (int)(give_up - st_now_ms())) <= seen)
            return false;
        seen = frame_count(ws);
        st_response r;
        if (st_http_get(port, "/stats", NULL, 1 << 20, &r) != 0)
            continue;
        int n = r.status == 200 && r.body ? parse_walks(r.body, walks, 64) : 0;
        st_response_free(&r);
        for (int i = 0; i < n; i++) {
            walk *w = &walks[i];
            if (w->input_ns < sent_ns || w->send_ns == 0)
                continue;
            uint64_t got = received_at(ws, w->seq, first_index);
            if (!got)
                continue;
            double v[P_COUNT] = {
                ms_between(sent_ns, w->input_ns),
                ms_between(w->input_ns, w->replay_ns),
                ms_between(w->replay_ns, w->render_start_ns),
                ms_between(w->render_start_ns, w->render_end_ns),
                ms_between(w->render_end_ns, w->capture_ns),
                ms_between(w->capture_ns, w->encode_start_ns),
                ms_between(w->encode_start_ns, w->encode_end_ns),
                ms_between(w->encode_end_ns, w->send_ns),
                ms_between(w->send_ns, got),
                ms_between(sent_ns, got),
            };
            for (int p = 0; p < P_COUNT; p++)
                samples[p][nsamples] = v[p];
            nsamples++;
            return true;
        }
    }
    return false;
}

/* utime + stime of pid, in clock ticks (fields 14 and 15 of /proc/PID/stat); -1 if unreadable. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[len] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

/* The demo's CPU over IDLE_SECONDS with nothing happening, % of one core (-1: unknown). */
static double idle_cpu_percent(pid_t pid)
{
    if (pid <= 0)
        return -1;
    long long before = cpu_ticks(pid);
    uint64_t t0 = sb__monotonic_ns();
    sleep(IDLE_SECONDS);
    long long after = cpu_ticks(pid);
    double seconds = (double)(sb__monotonic_ns() - t0) / 1e9;
    if (before < 0 || after < 0)
        return -1;
    return 100.0 * (double)(after - before) / (double)sysconf(_SC_CLK_TCK) / seconds;
}

/* A port nobody listens on now (the demo binds it a moment later). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* The demo's output (VTK's warnings among it) goes here, not into the table. */
static char demo_log[] = "/tmp/bench_latency-demo.XXXXXX";

static pid_t start_demo(const char *demo, int port)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    int log_fd = mkstemp(demo_log);
    pid_t pid = fork();
    if (pid == 0) {
        if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
        }
        execl(demo, demo, "--scene", "basic", "--size", "640x480", "--port", port_text,
              (char *)NULL);
        fprintf(stderr, "bench_latency: cannot run %s: %s\n", demo, strerror(errno));
        _exit(127);
    }
    if (log_fd >= 0)
        close(log_fd);
    return pid;
}

static void stop_demo(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
}

/* The demo beside this program in the build tree: BUILD/bench/bench_latency ->
 * BUILD/examples/streambridge-demo. */
static void default_demo(const char *argv0, char *out, size_t size)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, size, "%s", argv0);
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, size, "%s/../examples/streambridge-demo", self);
}

static int codec_id(const char *name)
{
    if (strcmp(name, "jpeg") == 0)
        return 0;
    if (strcmp(name, "h264") == 0)
        return 1;
    if (strcmp(name, "vp8") == 0)
        return 2;
    return -1;
}

static void print_table(const char *codec, int iters, double idle_before, double idle_after,
                        double busy)
{
    printf("\n%s, 640x480, basic demo scene: %d of %d left-drag moves matched to their frame\n\n",
           codec, nsamples, iters);
    printf("| part | p50 ms | p90 ms | max ms |\n|---|---:|---:|---:|\n");
    double p50[P_COUNT];
    for (int p = 0; p < P_COUNT; p++) {
        qsort(samples[p], (size_t)nsamples, sizeof(double), cmp_double);
        p50[p] = nsamples ? pct(samples[p], nsamples, 0.5) : 0;
        printf("| %s | %.2f | %.2f | %.2f |\n", part_names[p], p50[p],
               nsamples ? pct(samples[p], nsamples, 0.9) : 0,
               nsamples ? samples[p][nsamples - 1] : 0);
    }
    printf("\ntarget (DESIGN.md): total p50 %.2f ms <= render + capture + encode + 5 = %.2f ms: %s\n",
           p50[P_TOTAL], p50[P_RENDER] + p50[P_CAPTURE] + p50[P_ENCODE] + 5.0,
           p50[P_TOTAL] <= p50[P_RENDER] + p50[P_CAPTURE] + p50[P_ENCODE] + 5.0 ? "met"
                                                                                 : "missed");
    if (idle_before >= 0)
        printf("demo process CPU while idle (one viewer, no input, %d s): %.2f%% of a core "
               "before the run, %.2f%% after\n",
               IDLE_SECONDS, idle_before, idle_after);
    if (busy >= 0)
        printf("demo process CPU during the moves: %.1f%% of a core\n", busy);
}

int main(int argc, char **argv)
{
    int iters = 300, port = 0;
    const char *codec = "jpeg";
    char demo[4200];
    default_demo(argv[0], demo, sizeof demo);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--codec") == 0 && i + 1 < argc)
            codec = argv[++i];
        else if (strcmp(argv[i], "--demo") == 0 && i + 1 < argc)
            snprintf(demo, sizeof demo, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: bench_latency [--iters N] [--codec jpeg|h264|vp8] "
                            "[--demo PATH] [--port N]\n");
            return 2;
        }
    }
    if (iters < 1 || iters > ST_MAX_SEQS / 4 || codec_id(codec) < 0) {
        fprintf(stderr, "bench_latency: --iters 1..%d, --codec jpeg|h264|vp8\n", ST_MAX_SEQS / 4);
        return 2;
    }
    st_suite_init();
    pid_t demo_pid = 0;
    if (port == 0) {
        port = free_port();
        demo_pid = start_demo(demo, port);
        if (!st_http_until(port, "/healthz", 200, NULL, ST_DEADLINE_MS)) {
            fprintf(stderr, "bench_latency: the demo (%s) did not come up on port %d (its "
                            "output: %s)\n", demo, port, demo_log);
            stop_demo(demo_pid);
            return 1;
        }
    }
    for (int p = 0; p < P_COUNT; p++)
        samples[p] = calloc((size_t)iters, sizeof(double));

    st_ws ws;
    if (st_ws_connect(&ws, port, "/ws", NULL, true) != 0) {
        fprintf(stderr, "bench_latency: /ws: %s\n", ws.error);
        stop_demo(demo_pid);
        return 1;
    }
    st_nodelay_all_sockets();
    unsigned char hello[12];
    st_hello(hello, VIEW_W, VIEW_H);
    st_ws_send(&ws, hello, sizeof hello, MG_WEBSOCKET_OPCODE_BINARY);
    if (codec_id(codec) != 0) {
        unsigned char m[8] = {0x04, (unsigned char)codec_id(codec), 0x07, 0, 0, 0, 0, 0};
        st_ws_send(&ws, m, sizeof m, MG_WEBSOCKET_OPCODE_BINARY);
    }
    if (st_ws_wait_frames(&ws, 1, ST_DEADLINE_MS) < 1) {
        fprintf(stderr, "bench_latency: no frame (closed with %d: %s)\n", ws.close_code,
                codec_id(codec) ? "no video in this server?" : "?");
        st_ws_close(&ws);
        stop_demo(demo_pid);
        return 1;
    }
    /* Whatever the start still does (the still re-encode, the first frames) settles first. */
    sleep(1);
    double idle_before = idle_cpu_percent(demo_pid);

    long long busy_ticks = demo_pid > 0 ? cpu_ticks(demo_pid) : -1;
    uint64_t busy_t0 = sb__monotonic_ns();
    send_pointer(&ws, SB_EVENT_BUTTON_PRESS, VIEW_W / 2.0f, VIEW_H / 2.0f);
    unsigned rng = 12345;
    int lost = 0;
    for (int i = 0; i < iters; i++) {
        rng = rng * 1103515245u + 12345u;
        usleep((useconds_t)((rng >> 8) % 16000));
        /* Back and forth: the camera turns, the picture changes, and the scene stays in view. */
        float x = VIEW_W / 2.0f + ((i & 1) ? 12.0f : -12.0f);
        if (!measure_move(&ws, port, x, VIEW_H / 2.0f))
            lost++;
    }
    send_pointer(&ws, SB_EVENT_BUTTON_RELEASE, VIEW_W / 2.0f, VIEW_H / 2.0f);
    double busy = -1;
    if (busy_ticks >= 0 && cpu_ticks(demo_pid) >= 0)
        busy = 100.0 * (double)(cpu_ticks(demo_pid) - busy_ticks) /
               (double)sysconf(_SC_CLK_TCK) / ((double)(sb__monotonic_ns() - busy_t0) / 1e9);
    sleep(1); /* the still re-encode after input stops */
    double idle_after = idle_cpu_percent(demo_pid);
    print_table(codec, iters, idle_before, idle_after, busy);
    if (lost)
        printf("%d moves got no matching frame within %d ms\n", lost, MOVE_DEADLINE_MS);
    st_ws_close(&ws);
    stop_demo(demo_pid);
    if (demo_pid > 0)
        unlink(demo_log);
    return 0;
}
