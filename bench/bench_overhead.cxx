// bench_overhead - what streaming costs the application: its render rate bare and streamed, with
// 0, 1 and 8 viewers, at 640x480, 1280x720 and 1920x1080 (issue #14). Run under Xvfb:
//   tests/xvfb-run.sh build/bench/bench_overhead [--seconds S] [--rounds R] [--sizes WxH,...]
//                                                [--readback sync|async|both]
//
// The application is a fixed scene rendered the way an interactive app renders: an on-screen
// window (Mesa llvmpipe under Xvfb, the window's default multisampling) with three translucent
// spheres, the camera turned a step before each Render(), as fast as the machine allows (a
// measured run is one full turn from the same view: Run, CalibrateTurn; --seconds sets its
// length through the bare render rate); a streamed run attaches the stream through the public
// C API exactly as an application (or the autoload plugin) does (serve = 1) and calls
// sb_stream_pump(s, 0) after each render as an application's own loop would (not with the
// asynchronous readback: see Run). Viewers are real clients in a separate process (this
// program run with --viewers): WebSocket clients that ack every frame as the browser client
// does, and MJPEG clients reading /video.mjpeg; each reads every byte of every frame.
//
// Configurations per size, in one round: bare, streamed with 0 viewers, 1 WebSocket viewer,
// 1 MJPEG viewer, 8 viewers (4 WebSocket + 4 MJPEG); each streamed one for every readback asked
// for. Rounds interleave everything (round 1 runs every configuration of every size, then round
// 2, ...) so a burst of load from elsewhere lands on one round, not on one configuration. Within
// a round a bare run sits between any two streamed runs, and each streamed run's ratio is taken
// against the mean of the bare runs right before and right after it: on a shared machine the bare
// rate alone drifts by 10-15% within a minute, and only neighbours seconds apart cancel that.
//
// Printed per configuration: renders/s and ratio vs bare (median [min-max] over rounds), frames
// delivered per viewer per second, the render-end -> publish time of the capture (server /stats
// latency_ms.capture p50/p99: what the asynchronous readback adds), and the CPU time of each
// thread group of this process per delivered frame (a distinct frame encoded and sent to the
// viewers), from /proc/self/task/*/schedstat (nanoseconds; stat's utime/stime tick at 10 ms)
// grouped by thread name (/proc/self/task/*/comm: the server names its threads sb-*). The
// render thread's own CPU is per render. Figures only: it never fails on them.
extern "C" {
#include "sb_test_http.h"
}

#include "streambridge/streambridge.h"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkNew.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkSphereSource.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

// ---- the viewer process ------------------------------------------------------------------------

// The viewers are one thread polling raw sockets, so that they cost the machine (which they share
// with the application here; a real viewer sits elsewhere) as little as a client can: each byte
// is read once, only the few header bytes a client needs are looked at.
struct Viewer {
    int fd = -1;
    bool ws = false;
    bool upgraded = false; // WebSocket: the 101 reply has been read
    std::vector<uint8_t> buf = std::vector<uint8_t>(1 << 22);
    size_t len = 0;
    long frames = 0;
    size_t boundary_tail = 0; // MJPEG: bytes of "\r\n--" matched at the end of the last read
};

int ConnectViewer(int port, bool ws)
{
    int fd = st_raw_connect(port);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // as browsers do
    char request[320];
    if (ws)
        snprintf(request, sizeof request,
                 "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 port);
    else
        snprintf(request, sizeof request,
                 "GET /video.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    const size_t n = strlen(request);
    if (write(fd, request, n) != static_cast<ssize_t>(n)) {
        close(fd);
        return -1;
    }
    return fd;
}

// ACK of a JPEG FRAME (docs/wire-protocol.md) as a masked client frame (mask 0: legal, and the
// payload stays as is).
void SendAck(int fd, const uint8_t *seq_le)
{
    uint8_t m[2 + 4 + 12] = {0x82, 0x80 | 12, 0, 0, 0, 0, 2, 0, 0, 0};
    memcpy(m + 10, seq_le, 8);
    if (write(fd, m, sizeof m) != static_cast<ssize_t>(sizeof m)) {
        // A viewer the server closed stops counting; the figures show it.
    }
}

// Consumes whole WebSocket frames in v.buf; acks each JPEG FRAME.
void ParseWs(Viewer &v)
{
    size_t at = 0;
    if (!v.upgraded) {
        const char *end = static_cast<const char *>(memmem(v.buf.data(), v.len, "\r\n\r\n", 4));
        if (!end)
            return;
        at = static_cast<size_t>(end - reinterpret_cast<const char *>(v.buf.data())) + 4;
        v.upgraded = true;
    }
    for (;;) {
        if (v.len - at < 2)
            break;
        const uint8_t *h = v.buf.data() + at;
        uint64_t payload = h[1] & 0x7f;
        size_t head = 2;
        if (payload == 126) {
            if (v.len - at < 4)
                break;
            payload = static_cast<uint64_t>(h[2]) << 8 | h[3];
            head = 4;
        } else if (payload == 127) {
            if (v.len - at < 10)
                break;
            payload = 0;
            for (int i = 0; i < 8; i++)
                payload = payload << 8 | h[2 + i];
            head = 10;
        }
        if (v.len - at < head + payload)
            break;
        const uint8_t *msg = h + head;
        if ((h[0] & 0x0f) == 2 && payload >= 48 && msg[0] == 0x53 && msg[1] == 1) {
            v.frames++;
            SendAck(v.fd, msg + 16);
        }
        at += head + static_cast<size_t>(payload);
    }
    memmove(v.buf.data(), v.buf.data() + at, v.len - at);
    v.len -= at;
}

// Counts MJPEG parts by their boundary (parts carry no length), across reads.
void ParseMjpeg(Viewer &v)
{
    static const char boundary[] = "\r\n--";
    constexpr size_t kB = sizeof boundary - 1;
    for (size_t i = 0; i < v.len; i++) {
        const char c = static_cast<char>(v.buf[i]);
        if (c == boundary[v.boundary_tail]) {
            if (++v.boundary_tail == kB) {
                v.frames++;
                v.boundary_tail = 0;
            }
        } else {
            v.boundary_tail = c == boundary[0] ? 1 : 0;
        }
    }
    v.len = 0;
}

// bench_overhead --viewers PORT NWS NMJPEG: connects, says "ready" on stdout, reads frames until
// stdin closes, then prints the frames each viewer received.
int RunViewers(int port, int n_ws, int n_mjpeg)
{
    signal(SIGPIPE, SIG_IGN);
    std::vector<Viewer> viewers(static_cast<size_t>(n_ws + n_mjpeg));
    for (size_t i = 0; i < viewers.size(); i++) {
        viewers[i].ws = static_cast<int>(i) < n_ws;
        viewers[i].fd = ConnectViewer(port, viewers[i].ws);
        if (viewers[i].fd < 0) {
            fprintf(stderr, "viewer: cannot connect to port %d\n", port);
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    std::vector<pollfd> fds(viewers.size() + 1);
    for (;;) {
        for (size_t i = 0; i < viewers.size(); i++)
            fds[i] = {viewers[i].fd, POLLIN, 0};
        fds[viewers.size()] = {STDIN_FILENO, POLLIN, 0};
        if (poll(fds.data(), fds.size(), 1000) < 0)
            break;
        if (fds[viewers.size()].revents)
            break; // stdin closed (or wrote): the run is over
        for (size_t i = 0; i < viewers.size(); i++) {
            Viewer &v = viewers[i];
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)) || v.fd < 0)
                continue;
            if (v.len == v.buf.size()) // a frame larger than the buffer: grow
                v.buf.resize(v.buf.size() * 2);
            ssize_t n = read(v.fd, v.buf.data() + v.len, v.buf.size() - v.len);
            if (n <= 0) {
                close(v.fd);
                v.fd = -1;
                continue;
            }
            v.len += static_cast<size_t>(n);
            if (v.ws)
                ParseWs(v);
            else
                ParseMjpeg(v);
        }
    }
    for (const Viewer &v : viewers)
        printf("%s %ld\n", v.ws ? "ws" : "mjpeg", v.frames);
    fflush(stdout);
    for (Viewer &v : viewers)
        if (v.fd >= 0)
            close(v.fd);
    return 0;
}

struct ViewerProcess {
    pid_t pid = -1;
    int to_child = -1;   // closing it ends the viewers
    int from_child = -1; // "ready", then the counts
};

bool ReadLine(int fd, std::string *line, int timeout_ms)
{
    line->clear();
    for (;;) {
        pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        char c;
        if (read(fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            return true;
        *line += c;
    }
}

bool StartViewers(int port, int n_ws, int n_mjpeg, ViewerProcess *vp)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return false;
    const std::string port_s = std::to_string(port), ws_s = std::to_string(n_ws),
                      mj_s = std::to_string(n_mjpeg);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        execl("/proc/self/exe", "bench_overhead", "--viewers", port_s.c_str(), ws_s.c_str(),
              mj_s.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    vp->pid = pid;
    vp->to_child = in[1];
    vp->from_child = out[0];
    std::string line;
    return pid > 0 && ReadLine(vp->from_child, &line, ST_DEADLINE_MS) && line == "ready";
}

// Ends the viewers; their frame counts and the process's CPU seconds.
std::vector<long> StopViewers(ViewerProcess *vp, double *cpu_s)
{
    std::vector<long> counts;
    close(vp->to_child);
    std::string line;
    while (ReadLine(vp->from_child, &line, ST_DEADLINE_MS)) {
        long n = 0;
        if (sscanf(line.c_str(), "%*s %ld", &n) == 1)
            counts.push_back(n);
    }
    close(vp->from_child);
    int status = 0;
    rusage ru{};
    wait4(vp->pid, &status, 0, &ru);
    *cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return counts;
}

// ---- threads of this process -------------------------------------------------------------------

// CPU nanoseconds per thread id, with the thread's name and how many times it was given a CPU
// (schedstat's timeslices: for a thread that mostly sleeps, its wake-ups).
struct ThreadCpu {
    std::string name;
    unsigned long long ns = 0;
    unsigned long long slices = 0;
};

std::map<long, ThreadCpu> SampleThreads()
{
    std::map<long, ThreadCpu> out;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return out;
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        const long tid = strtol(e->d_name, nullptr, 10);
        const std::string dir = std::string("/proc/self/task/") + e->d_name;
        ThreadCpu t;
        if (FILE *f = fopen((dir + "/comm").c_str(), "r")) {
            char name[64] = "";
            if (fgets(name, sizeof name, f))
                name[strcspn(name, "\n")] = '\0';
            t.name = name;
            fclose(f);
        }
        if (FILE *f = fopen((dir + "/schedstat").c_str(), "r")) {
            unsigned long long waited = 0;
            if (fscanf(f, "%llu %llu %llu", &t.ns, &waited, &t.slices) != 3)
                t.ns = t.slices = 0;
            fclose(f);
        }
        out[tid] = t;
    }
    closedir(d);
    return out;
}

// The group a thread's CPU is reported under: the render thread, llvmpipe's rasterizer threads,
// each streambridge thread kind, civetweb's threads; the rest as "other".
std::string ThreadGroup(long tid, const std::string &name)
{
    if (tid == static_cast<long>(getpid()))
        return "render";
    if (name.rfind("llvmpipe", 0) == 0)
        return "llvmpipe";
    if (name.rfind("sb-", 0) == 0 || name.rfind("civetweb", 0) == 0)
        return name;
    return "other";
}

// CPU ms per group between two samples (threads that came or went in between count from zero
// or not at all), and the wake-ups of streambridge's own threads (sb-*, civetweb-*) in *wakes.
std::map<std::string, double> CpuMsByGroup(const std::map<long, ThreadCpu> &before,
                                           const std::map<long, ThreadCpu> &after, double *wakes)
{
    std::map<std::string, double> out;
    *wakes = 0;
    for (const auto &[tid, t] : after) {
        auto it = before.find(tid);
        const bool known = it != before.end();
        const std::string group = ThreadGroup(tid, t.name);
        out[group] += static_cast<double>(t.ns - (known ? it->second.ns : 0)) / 1e6;
        if (group.rfind("sb-", 0) == 0 || group.rfind("civetweb", 0) == 0)
            *wakes += static_cast<double>(t.slices - (known ? it->second.slices : 0));
    }
    return out;
}

// ---- the application ---------------------------------------------------------------------------

struct Scene {
    vtkSmartPointer<vtkRenderWindow> window;
    vtkSmartPointer<vtkRenderer> renderer;
    vtkSmartPointer<vtkCamera> start; // every measured window starts from this view
    long turn_renders = 0;            // renders per measured window: one full turn of the camera
};

Scene MakeScene(int w, int h)
{
    Scene s;
    s.window = vtkSmartPointer<vtkRenderWindow>::New();
    s.window->SetSize(w, h);
    s.window->SetWindowName("bench_overhead");
    s.renderer = vtkSmartPointer<vtkRenderer>::New();
    s.renderer->SetBackground(0.1, 0.1, 0.2);
    const double centers[3][3] = {{-0.6, 0, 0}, {0.6, 0, 0}, {0, 0.7, 0.3}};
    const double colors[3][3] = {{0.9, 0.3, 0.2}, {0.2, 0.8, 0.3}, {0.3, 0.4, 0.9}};
    for (int i = 0; i < 3; i++) {
        vtkNew<vtkSphereSource> sphere;
        sphere->SetCenter(centers[i][0], centers[i][1], centers[i][2]);
        sphere->SetRadius(0.7);
        sphere->SetThetaResolution(64);
        sphere->SetPhiResolution(64);
        vtkNew<vtkPolyDataMapper> mapper;
        mapper->SetInputConnection(sphere->GetOutputPort());
        vtkNew<vtkActor> actor;
        actor->SetMapper(mapper);
        actor->GetProperty()->SetColor(colors[i][0], colors[i][1], colors[i][2]);
        actor->GetProperty()->SetOpacity(0.5);
        s.renderer->AddActor(actor);
    }
    s.window->AddRenderer(s.renderer);
    s.window->Render();
    s.renderer->ResetCamera();
    s.start = vtkSmartPointer<vtkCamera>::New();
    s.start->DeepCopy(s.renderer->GetActiveCamera());
    return s;
}

// How many renders one measured window takes: as many as the bare scene renders in `seconds`
// (at least 24), one full turn of the camera in that many steps.
long CalibrateTurn(Scene &scene, double seconds)
{
    vtkCamera *camera = scene.renderer->GetActiveCamera();
    long renders = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
        camera->Azimuth(1.0);
        scene.window->Render();
        renders++;
    }
    return std::max(24L, renders);
}

struct Config {
    std::string name;
    bool streamed;
    int n_ws, n_mjpeg;
    int readback; // SB_STREAM_READBACK_*
};

struct RunResult {
    double renders_per_s = 0;
    double delivered_per_viewer_s = 0; // frames each viewer got per second (mean over viewers)
    double distinct_frames = 0;        // frames encoded (each one went to the viewers)
    double render_ms_per_render = 0;   // the render thread's CPU
    double process_ms_per_render = 0;  // every thread of this process
    std::map<std::string, double> cpu_ms; // per group, whole run
    double sb_wakes = 0;                  // times streambridge's threads got a CPU, whole run
    double viewer_cpu_ms = 0;
    double capture_p50 = -1, capture_p99 = -1; // render end -> publish (server /stats)
    bool ok = true;
};

// latency_ms."capture" p50/p99 from /stats.
void ReadCaptureLatency(int port, double *p50, double *p99)
{
    st_response r{};
    if (st_http_get(port, "/stats", nullptr, 1 << 20, &r) != 0 || !r.body)
        return;
    if (const char *at = strstr(r.body, "\"capture\":{"))
        sscanf(at, "\"capture\":{\"n\":%*u,\"p50\":%lf,\"p90\":%*f,\"p99\":%lf", p50, p99);
    st_response_free(&r);
}

// One measured window: scene.turn_renders renders turning the camera once around from the same
// start, so that every window (bare or streamed) renders the very same pictures: the cost of a
// view of translucent spheres depends on the angle, and windows of equal time that start at
// different angles would differ by that alone.
RunResult Run(Scene &scene, const Config &c)
{
    RunResult res;
    sb_stream *stream = nullptr;
    int port = 0;
    if (c.streamed) {
        sb_stream_options o;
        sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
        o.serve = 1;
        o.server.port = 0;
        o.readback = c.readback;
        if (sb_stream_create(scene.window, &o, &stream) != SB_OK) {
            fprintf(stderr, "sb_stream_create: %s\n", sb_last_error());
            res.ok = false;
            return res;
        }
        sb_server_get_port(sb_stream_server(stream), &port);
        // Attaching rendered once (the stream's interactor); an application's event loop would
        // publish that frame at its next tick, which this loop's pump stands for.
        sb_stream_pump(stream, 0);
    }
    vtkCamera *camera = scene.renderer->GetActiveCamera();
    const double step = 360.0 / static_cast<double>(scene.turn_renders);
    // The synchronous runs pump after each render as an application's loop would. The
    // asynchronous ones do not: a pump publishes the frame still waiting in its pixel buffer at
    // once (docs/bridge.md, "Readback"), which right after a render would map the buffer the
    // moment its read was queued; left to the next render, frame N is read while N+1 renders,
    // the pipelining the option exists for, and its capture latency column shows what that
    // costs: one render interval.
    const bool pump = c.readback != SB_STREAM_READBACK_ASYNC;
    auto render = [&] {
        camera->Azimuth(step);
        scene.window->Render();
        if (stream && pump)
            sb_stream_pump(stream, 0);
    };
    ViewerProcess vp;
    const int viewers = c.n_ws + c.n_mjpeg;
    if (viewers > 0 && !StartViewers(port, c.n_ws, c.n_mjpeg, &vp)) {
        fprintf(stderr, "viewers did not start\n");
        res.ok = false;
    }
    // Until every viewer is connected and has frames flowing (the server's first-client set-up
    // is not part of the steady state measured).
    sb_server *server = stream ? sb_stream_server(stream) : nullptr;
    const auto setup_deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(ST_DEADLINE_MS);
    for (int i = 0; res.ok; i++) {
        render();
        if (!server) {
            if (i >= 10)
                break;
            continue;
        }
        sb_server_stats st{};
        st.version = SB_SERVER_STATS_VERSION;
        sb_server_get_stats(server, &st);
        if (i >= 10 && st.clients == static_cast<uint32_t>(viewers) &&
            (viewers == 0 || st.frames_sent >= static_cast<uint64_t>(viewers) * 5))
            break;
        if (std::chrono::steady_clock::now() > setup_deadline) {
            fprintf(stderr, "viewers never got frames\n");
            res.ok = false;
        }
    }
    sb_server_stats s0{}, s1{};
    s0.version = s1.version = SB_SERVER_STATS_VERSION;
    if (server)
        sb_server_get_stats(server, &s0);
    camera->DeepCopy(scene.start);
    const auto cpu0 = SampleThreads();
    const auto t0 = std::chrono::steady_clock::now();
    long renders = 0;
    while (res.ok && renders < scene.turn_renders) {
        render();
        renders++;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto cpu1 = SampleThreads();
    if (server) {
        sb_server_get_stats(server, &s1);
        ReadCaptureLatency(port, &res.capture_p50, &res.capture_p99);
    }
    if (viewers > 0 && vp.pid > 0) {
        double cpu_s = 0;
        std::vector<long> counts = StopViewers(&vp, &cpu_s);
        res.viewer_cpu_ms = cpu_s * 1000.0;
        (void)counts; // the server's frames_sent over the measured window is used below
    }
    sb_stream_destroy(stream);
    res.renders_per_s = static_cast<double>(renders) / elapsed;
    res.cpu_ms = CpuMsByGroup(cpu0, cpu1, &res.sb_wakes);
    res.render_ms_per_render = res.cpu_ms["render"] / static_cast<double>(renders);
    double total_ms = 0;
    for (const auto &[group, ms] : res.cpu_ms)
        total_ms += ms;
    res.process_ms_per_render = total_ms / static_cast<double>(renders);
    res.distinct_frames = static_cast<double>(s1.frames_encoded - s0.frames_encoded);
    if (viewers > 0)
        res.delivered_per_viewer_s =
            static_cast<double>(s1.frames_sent - s0.frames_sent) / viewers / elapsed;
    return res;
}

// ---- output ------------------------------------------------------------------------------------

struct Spread {
    double median, min, max;
};

Spread SpreadOf(std::vector<double> v)
{
    if (v.empty())
        return {0, 0, 0};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.front(), v.back()};
}

void Usage()
{
    fprintf(stderr, "usage: bench_overhead [--seconds S] [--rounds R] [--sizes WxH,...] "
                    "[--readback sync|async|both]\n");
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--viewers") == 0)
        return RunViewers(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    double seconds = 4;
    int rounds = 3;
    std::string sizes_arg = "640x480,1280x720,1920x1080";
    std::string readback_arg = "both";
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            Usage();
            return 2;
        }
        if (a == "--seconds")
            seconds = atof(argv[++i]);
        else if (a == "--rounds")
            rounds = atoi(argv[++i]);
        else if (a == "--sizes")
            sizes_arg = argv[++i];
        else if (a == "--readback")
            readback_arg = argv[++i];
        else {
            Usage();
            return 2;
        }
    }
    std::vector<std::pair<int, int>> sizes;
    for (size_t at = 0; at < sizes_arg.size();) {
        int w = 0, h = 0;
        if (sscanf(sizes_arg.c_str() + at, "%dx%d", &w, &h) != 2 || w < 16 || h < 16) {
            Usage();
            return 2;
        }
        sizes.emplace_back(w, h);
        const size_t comma = sizes_arg.find(',', at);
        at = comma == std::string::npos ? sizes_arg.size() : comma + 1;
    }
    std::vector<std::pair<std::string, int>> readbacks;
    if (readback_arg == "sync" || readback_arg == "both")
        readbacks.emplace_back("sync", SB_STREAM_READBACK_SYNC);
    if (readback_arg == "async" || readback_arg == "both")
        readbacks.emplace_back("async", SB_STREAM_READBACK_ASYNC);
    if (readbacks.empty()) {
        Usage();
        return 2;
    }
    std::vector<Config> configs = {{"bare", false, 0, 0, 0}};
    const struct {
        const char *name;
        int ws, mjpeg;
    } viewer_sets[] = {{"0 viewers", 0, 0}, {"1 ws", 1, 0}, {"1 mjpeg", 0, 1}, {"8 (4ws+4mj)", 4, 4}};
    for (const auto &vs : viewer_sets)
        for (const auto &rb : readbacks)
            configs.push_back({std::string(vs.name) + " " + rb.first, true, vs.ws, vs.mjpeg,
                               rb.second});
    signal(SIGPIPE, SIG_IGN);

    // results[size][config][round]; for config 0 (bare) one entry per bare window. bare_around
    // [size][config][round]: the mean renders/s and process CPU per render of the two bare
    // windows right before and right after that run.
    std::vector<std::vector<std::vector<RunResult>>> results(
        sizes.size(), std::vector<std::vector<RunResult>>(configs.size()));
    std::vector<std::vector<std::vector<std::pair<double, double>>>> bare_around(
        sizes.size(), std::vector<std::vector<std::pair<double, double>>>(configs.size()));
    auto log_run = [&](int r, size_t si, size_t ci, const RunResult &x) {
        fprintf(stderr, "round %d %dx%d %-20s %.1f renders/s\n", r + 1, sizes[si].first,
                sizes[si].second, configs[ci].name.c_str(), x.renders_per_s);
    };
    std::vector<long> turn_renders(sizes.size(), 0);
    for (int r = 0; r < rounds; r++) {
        for (size_t si = 0; si < sizes.size(); si++) {
            Scene scene = MakeScene(sizes[si].first, sizes[si].second);
            if (turn_renders[si] == 0)
                turn_renders[si] = CalibrateTurn(scene, seconds);
            scene.turn_renders = turn_renders[si];
            // A new window's first turn is slower (Mesa's caches, first allocations): not measured.
            Run(scene, configs[0]);
            // Bare, streamed, bare, streamed, ..., bare: each streamed run is compared with the
            // bare runs on either side of it, seconds away, so that the machine's own drift
            // (other load, a neighbour on the host) cancels out instead of landing on one ratio.
            RunResult before = Run(scene, configs[0]);
            log_run(r, si, 0, before);
            results[si][0].push_back(before);
            for (size_t ci = 1; ci < configs.size(); ci++) {
                RunResult x = Run(scene, configs[ci]);
                log_run(r, si, ci, x);
                RunResult after = Run(scene, configs[0]);
                log_run(r, si, 0, after);
                results[si][ci].push_back(x);
                results[si][0].push_back(after);
                bare_around[si][ci].emplace_back(
                    (before.renders_per_s + after.renders_per_s) / 2,
                    (before.process_ms_per_render + after.process_ms_per_render) / 2);
                before = after;
            }
        }
    }

    const char *groups[] = {"sb-encoder", "sb-ws-sender", "civetweb-worker", "civetweb-master",
                            "sb-http-guard", "llvmpipe", "other"};
    printf("bench_overhead: %d rounds, each streamed run between two bare runs; a run is one "
           "full turn of the camera from the same view (renders per turn, calibrated to ~%.1f s "
           "bare:",
           rounds, seconds);
    for (size_t si = 0; si < sizes.size(); si++)
        printf(" %ld at %dx%d", turn_renders[si], sizes[si].first, sizes[si].second);
    printf("); median [min-max] over rounds (bare: over all its runs)\n");
    printf("ratio vs bare: renders/s against the mean of the bare runs right before and after; "
           "cpu ratio: this "
           "process's CPU per render, bare / streamed (what the rate would be on a machine the "
           "application saturates alone; the viewers, elsewhere in real life, excluded)\n");
    printf("CPU ms per delivered frame (a distinct frame encoded and sent), medians; render = "
           "the render thread's CPU per render; viewers = the viewer process per delivered "
           "frame; sb wakes = times streambridge's threads (sb-*, civetweb-*) got a CPU per "
           "delivered frame\n");
    for (size_t si = 0; si < sizes.size(); si++) {
        printf("\n%dx%d\n", sizes[si].first, sizes[si].second);
        printf("%-20s %-20s %-20s %-20s %9s %13s | %7s", "config", "renders/s", "ratio vs bare",
               "cpu ratio vs bare", "fps/viewer", "capture p50/p99", "render");
        for (const char *g : groups)
            printf(" %9.9s", g);
        printf(" %8s %8s\n", "viewers", "sb wakes");
        for (size_t ci = 0; ci < configs.size(); ci++) {
            std::vector<double> rate, ratio, cpu_ratio, fps, cap50, cap99, render_ms, viewer_ms,
                wakes;
            std::map<std::string, std::vector<double>> per_group;
            for (size_t r = 0; r < results[si][ci].size(); r++) {
                const RunResult &x = results[si][ci][r];
                rate.push_back(x.renders_per_s);
                if (ci > 0) {
                    const auto [bare_rate, bare_cpu] = bare_around[si][ci][r];
                    if (bare_rate > 0)
                        ratio.push_back(x.renders_per_s / bare_rate);
                    if (x.process_ms_per_render > 0)
                        cpu_ratio.push_back(bare_cpu / x.process_ms_per_render);
                } else {
                    ratio.push_back(1.0);
                    cpu_ratio.push_back(1.0);
                }
                fps.push_back(x.delivered_per_viewer_s);
                cap50.push_back(x.capture_p50);
                cap99.push_back(x.capture_p99);
                render_ms.push_back(x.render_ms_per_render);
                if (x.distinct_frames > 0) {
                    for (const char *g : groups) {
                        auto it = x.cpu_ms.find(g);
                        per_group[g].push_back(it != x.cpu_ms.end() ? it->second / x.distinct_frames
                                                                    : 0.0);
                    }
                    viewer_ms.push_back(x.viewer_cpu_ms / x.distinct_frames);
                    wakes.push_back(x.sb_wakes / x.distinct_frames);
                }
            }
            const Spread sr = SpreadOf(rate), sq = SpreadOf(ratio), sc = SpreadOf(cpu_ratio);
            char rate_s[32], ratio_s[32], cpu_ratio_s[32], cap_s[32];
            snprintf(cpu_ratio_s, sizeof cpu_ratio_s, "%.3f [%.2f-%.2f]", sc.median, sc.min,
                     sc.max);
            snprintf(rate_s, sizeof rate_s, "%.1f [%.1f-%.1f]", sr.median, sr.min, sr.max);
            snprintf(ratio_s, sizeof ratio_s, "%.3f [%.2f-%.2f]", sq.median, sq.min, sq.max);
            if (configs[ci].streamed && SpreadOf(cap50).median >= 0)
                snprintf(cap_s, sizeof cap_s, "%.2f/%.2f", SpreadOf(cap50).median,
                         SpreadOf(cap99).median);
            else
                snprintf(cap_s, sizeof cap_s, "-");
            printf("%-20s %-20s %-20s %-20s %9.1f %13s | %7.2f", configs[ci].name.c_str(), rate_s,
                   ratio_s, cpu_ratio_s, SpreadOf(fps).median, cap_s,
                   SpreadOf(render_ms).median);
            for (const char *g : groups) {
                if (per_group[g].empty())
                    printf(" %9s", "-");
                else
                    printf(" %9.3f", SpreadOf(per_group[g]).median);
            }
            if (viewer_ms.empty())
                printf(" %8s %8s\n", "-", "-");
            else
                printf(" %8.3f %8.1f\n", SpreadOf(viewer_ms).median, SpreadOf(wakes).median);
        }
    }
    return 0;
}
