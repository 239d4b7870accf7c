/* streambridge-demo: serves one demo scene (basic | network | science) to web browsers.
 *
 *   streambridge-demo --scene network --port 8001
 *
 * The window is an ordinary VTK window with an ordinary interactor; three streambridge calls
 * make it a web viewer: sb_stream_create (serve = 1), interactor Start(), sb_stream_destroy.
 * SIGINT/SIGTERM set a flag that a repeating interactor timer turns into TerminateApp(), so the
 * stream is destroyed (server stopped, shm segments unlinked) before the process exits. */
#include "scene.h"

#include "layout.h" /* sbnet::StepLatch: the selftest's stalled layout worker */

#include "streambridge/streambridge.h"

#include <vtkCallbackCommand.h>
#include <vtkCamera.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkNew.h>
#include <vtkObjectFactory.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>

#include <getopt.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int sig) { g_stop_signal = sig; }

struct DemoOptions {
    sbdemo::SceneOptions scene;
    std::string bind = "127.0.0.1";
    int port = 8000;
    std::string token;
    std::string shm;
    bool serve = true;
    int width = 640, height = 480;
    bool selftest = false;
    int selftest_frames = 10;
};

/* The selftest waits for conditions (new frames, a moved camera, changed positions), never for
 * a time: this is how long it waits before it calls a condition failed. Generous, so a loaded
 * machine (sanitizers, parallel tests) is merely slow, never failing. */
constexpr int kSelftestDeadlineMs = 60000;

void Usage(FILE *out)
{
    std::fprintf(out,
        "usage: streambridge-demo [options]\n"
        "Serves a VTK demo scene to web browsers (open the printed URL).\n"
        "  --scene NAME       basic | network | science (default basic)\n"
        "  --port N           TCP port (default 8000; 0 = any free port, printed)\n"
        "  --bind ADDR        address to listen on (default 127.0.0.1, loopback only)\n"
        "  --token T          require this access token on every request (?token=T)\n"
        "  --size WxH         window/frame size (default 640x480)\n"
        "  --shm NAME         put the frame ring and event queue in shared memory\n"
        "                     (/dev/shm/streambridge-NAME-*) so streambridge-server can attach\n"
        "  --no-serve         do not start the built-in web server (use with --shm)\n"
        "  --nodes N          network: nodes of the generated scale-free graph (default 2000)\n"
        "  --edges-per-node M network: Barabasi-Albert edges per new node (default 2)\n"
        "  --seed S           network: random seed (default 1)\n"
        "  --graph FILE       network: edge list instead (one \"a b\" pair per line, '#' comments)\n"
        "  --max-iterations N network: layout iteration cap (default 1500)\n"
        "  --selftest         render, replay a scripted drag/zoom/'r' through the public API,\n"
        "                     check the frames, print figures and exit (0 = pass)\n"
        "  --selftest-frames N  selftest: new frames to see during the drag (default 10)\n"
        "  --selftest-stall-layout  network selftest (tests only): hold the layout worker at a\n"
        "                     latch during the drag, so frames must come without the layout\n"
        "  --help             this text\n");
}

bool ParseUnsigned(const char *text, unsigned long max, unsigned long *out)
{
    char *end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(text, &end, 10);
    if (errno || end == text || *end != '\0' || text[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

/* 0 = run, 1 = --help printed, 2 = usage error (printed). */
int ParseArgs(int argc, char **argv, DemoOptions *o)
{
    enum { kScene = 1000, kPort, kBind, kToken, kSize, kShm, kNoServe, kNodes, kEdges, kSeed,
           kGraph, kMaxIter, kSelftest, kSelftestFrames, kStallLayout, kHelp };
    static const option longopts[] = {
        {"scene", required_argument, nullptr, kScene},
        {"port", required_argument, nullptr, kPort},
        {"bind", required_argument, nullptr, kBind},
        {"token", required_argument, nullptr, kToken},
        {"size", required_argument, nullptr, kSize},
        {"shm", required_argument, nullptr, kShm},
        {"no-serve", no_argument, nullptr, kNoServe},
        {"nodes", required_argument, nullptr, kNodes},
        {"edges-per-node", required_argument, nullptr, kEdges},
        {"seed", required_argument, nullptr, kSeed},
        {"graph", required_argument, nullptr, kGraph},
        {"max-iterations", required_argument, nullptr, kMaxIter},
        {"selftest", no_argument, nullptr, kSelftest},
        {"selftest-frames", required_argument, nullptr, kSelftestFrames},
        {"selftest-stall-layout", no_argument, nullptr, kStallLayout},
        {"help", no_argument, nullptr, kHelp},
        {nullptr, 0, nullptr, 0}};
    int c;
    unsigned long v;
    auto bad = [&](const char *what, const char *value) {
        std::fprintf(stderr, "streambridge-demo: invalid %s '%s' (see --help)\n", what, value);
        return 2;
    };
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
        switch (c) {
        case kScene:
            o->scene.name = optarg;
            if (o->scene.name != "basic" && o->scene.name != "network" &&
                o->scene.name != "science")
                return bad("--scene", optarg);
            break;
        case kPort:
            if (!ParseUnsigned(optarg, 65535, &v))
                return bad("--port", optarg);
            o->port = static_cast<int>(v);
            break;
        case kBind: o->bind = optarg; break;
        case kToken: o->token = optarg; break;
        case kShm: o->shm = optarg; break;
        case kNoServe: o->serve = false; break;
        case kSize: {
            unsigned w = 0, h = 0;
            char tail = 0;
            if (std::sscanf(optarg, "%ux%u%c", &w, &h, &tail) != 2 || w < 16 || h < 16 ||
                w > 3840 || h > 2160)
                return bad("--size (WxH, 16x16 .. 3840x2160)", optarg);
            o->width = static_cast<int>(w);
            o->height = static_cast<int>(h);
            break;
        }
        case kNodes:
            if (!ParseUnsigned(optarg, 5000000, &v) || v < 3)
                return bad("--nodes (3 .. 5000000)", optarg);
            o->scene.nodes = static_cast<uint32_t>(v);
            break;
        case kEdges:
            if (!ParseUnsigned(optarg, 50, &v) || v < 1)
                return bad("--edges-per-node (1 .. 50)", optarg);
            o->scene.edges_per_node = static_cast<uint32_t>(v);
            break;
        case kSeed:
            if (!ParseUnsigned(optarg, ~0ul, &v))
                return bad("--seed", optarg);
            o->scene.seed = v;
            break;
        case kGraph: o->scene.graph_file = optarg; break;
        case kMaxIter:
            if (!ParseUnsigned(optarg, 1000000, &v))
                return bad("--max-iterations", optarg);
            o->scene.max_iterations = static_cast<uint32_t>(v);
            break;
        case kSelftest: o->selftest = true; break;
        case kSelftestFrames:
            if (!ParseUnsigned(optarg, 10000, &v) || v < 1)
                return bad("--selftest-frames (1 .. 10000)", optarg);
            o->selftest_frames = static_cast<int>(v);
            break;
        case kStallLayout: o->scene.stall_layout = true; break;
        case kHelp: Usage(stdout); return 1;
        default:
            std::fprintf(stderr, "streambridge-demo: unknown or incomplete option '%s' (see --help)\n",
                         argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "streambridge-demo: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->scene.stall_layout && !o->selftest) {
        std::fprintf(stderr, "streambridge-demo: --selftest-stall-layout is for --selftest only\n");
        return 2;
    }
    if (!o->serve && o->shm.empty() && !o->selftest) {
        std::fprintf(stderr, "streambridge-demo: --no-serve needs --shm (nobody could see the frames)\n");
        return 2;
    }
    return 0;
}

std::unique_ptr<sbdemo::Scene> MakeScene(const sbdemo::SceneOptions &o)
{
    if (o.name == "network")
        return sbdemo::MakeNetworkScene(o);
    if (o.name == "science")
        return sbdemo::MakeScienceScene();
    return sbdemo::MakeBasicScene();
}

/* ---- selftest: drives the stream through its public C API only ---------------------------- */

struct Grab {
    uint64_t seq = 0;
    uint32_t width = 0, height = 0;
    std::vector<uint8_t> pixels;
};

bool GrabNewest(sb_frame_ring *ring, Grab *g)
{
    sb_frame f;
    if (sb_frame_ring_acquire(ring, &f) != SB_OK)
        return false;
    unsigned bpp = sb_pixel_format_size(f.info.format);
    g->seq = f.info.seq;
    g->width = f.info.width;
    g->height = f.info.height;
    g->pixels.resize(static_cast<size_t>(f.info.width) * bpp * f.info.height);
    for (uint32_t y = 0; y < f.info.height; y++)
        std::memcpy(&g->pixels[static_cast<size_t>(y) * f.info.width * bpp],
                    f.pixels + static_cast<size_t>(y) * f.info.stride,
                    static_cast<size_t>(f.info.width) * bpp);
    return sb_frame_ring_release(ring, &f) == SB_OK;
}

double DifferingFraction(const Grab &a, const Grab &b)
{
    if (a.pixels.size() != b.pixels.size() || a.pixels.empty())
        return 1.0;
    size_t differ = 0;
    for (size_t i = 0; i < a.pixels.size(); i++)
        differ += std::abs(int(a.pixels[i]) - int(b.pixels[i])) > 8;
    return static_cast<double>(differ) / static_cast<double>(a.pixels.size());
}

sb_event MakeEvent(uint32_t type, int x, int y, uint32_t button)
{
    sb_event e;
    std::memset(&e, 0, sizeof e);
    e.type = type;
    e.x = x;
    e.y = y;
    e.button = button;
    return e;
}

/* Replays everything queued (the stream renders once per batch). */
void PumpUntilDrained(sb_stream *s)
{
    sb_event_queue *q = sb_stream_event_queue(s);
    for (int i = 0; i < 200; i++) {
        sb_event_queue_stats st{};
        st.version = SB_EVENT_QUEUE_STATS_VERSION;
        sb_event_queue_get_stats(q, &st);
        if (st.depth == 0 && sb_stream_pump(s, 0) == 0)
            return;
        sb_stream_pump(s, 10);
    }
}

void PushDrag(sb_event_queue *q, int x0, int y0, int dx, int dy, int steps)
{
    sb_event hover = MakeEvent(SB_EVENT_POINTER_MOVE, x0, y0, 0);
    sb_event_queue_push(q, &hover);
    sb_event press = MakeEvent(SB_EVENT_BUTTON_PRESS, x0, y0, SB_BUTTON_LEFT);
    sb_event_queue_push(q, &press);
    for (int i = 1; i <= steps; i++) {
        sb_event move = MakeEvent(SB_EVENT_POINTER_MOVE, x0 + dx * i / steps, y0 + dy * i / steps,
                                  SB_BUTTON_LEFT);
        sb_event_queue_push(q, &move);
    }
    sb_event release = MakeEvent(SB_EVENT_BUTTON_RELEASE, x0 + dx, y0 + dy, SB_BUTTON_LEFT);
    sb_event_queue_push(q, &release);
}

void PushKey(sb_event_queue *q, char key, int x, int y)
{
    for (uint32_t type : {SB_EVENT_KEY_PRESS, SB_EVENT_CHAR, SB_EVENT_KEY_RELEASE}) {
        sb_event e = MakeEvent(type, x, y, 0);
        e.key_code = static_cast<uint32_t>(key);
        e.keysym[0] = key;
        sb_event_queue_push(q, &e);
    }
}

int g_failures = 0;
void Check(bool ok, const char *what)
{
    std::printf("selftest: %-58s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        g_failures++;
}

int RunSelftest(const DemoOptions &o, sb_stream *s, sbdemo::Scene *scene, vtkRenderer *renderer)
{
    sb_frame_ring *ring = sb_stream_frame_ring(s);
    sb_event_queue *q = sb_stream_event_queue(s);
    vtkCamera *camera = renderer->GetActiveCamera();
    const int cx = o.width / 2, cy = o.height / 2;

    if (sb_stream_render(s) != SB_OK) {
        std::printf("selftest: sb_stream_render: %s\n", sb_last_error());
        return 1;
    }
    Grab before, after;
    Check(GrabNewest(ring, &before), "a frame is captured after a render");
    Check(before.width == uint32_t(o.width) && before.height == uint32_t(o.height),
          "the frame has the window's size");

    if (o.scene.name != "network") {
        double d0 = camera->GetDistance();
        double p0[3];
        camera->GetPosition(p0);
        PushDrag(q, cx, cy, 160, 50, 12);
        PumpUntilDrained(s);
        double p1[3];
        camera->GetPosition(p1);
        Check(std::fabs(p1[0] - p0[0]) + std::fabs(p1[1] - p0[1]) + std::fabs(p1[2] - p0[2]) > 1e-3,
              "a replayed left-button drag rotates the camera");
        Check(GrabNewest(ring, &after) && after.seq > before.seq, "the drag produced new frames");
        double diff = DifferingFraction(before, after);
        std::printf("selftest: pixels changed by the drag: %.1f %%\n", 100 * diff);
        Check(diff > 0.01, "the drag changed the picture");

        for (int i = 0; i < 4; i++) {
            sb_event wheel = MakeEvent(SB_EVENT_WHEEL, cx, cy, 0);
            wheel.wheel_delta = 1.0f;
            sb_event_queue_push(q, &wheel);
        }
        PumpUntilDrained(s);
        double d1 = camera->GetDistance();
        std::printf("selftest: camera distance %.3f -> %.3f after 4 wheel notches\n", d0, d1);
        Check(d1 < d0 * 0.95, "wheel forward zooms in");

        PushKey(q, 'r', cx, cy);
        PumpUntilDrained(s);
        double d2 = camera->GetDistance();
        std::printf("selftest: camera distance %.3f after 'r'\n", d2);
        Check(std::fabs(d2 - d0) < d0 * 0.01, "'r' resets the camera to fit the scene");
        return g_failures;
    }

    /* network: drag while the layout runs. With --selftest-stall-layout the layout worker is
     * held at a latch in the middle of its work for the whole drag: frames and replayed input
     * must keep coming all the same, which proves by construction that the render thread never
     * waits for the layout (no clock involved). Every wait below is for a condition, bounded
     * by a generous deadline. */
    using Clock = std::chrono::steady_clock;
    sbnet::StepLatch *latch = scene->LayoutLatch();
    if (latch) {
        Check(latch->wait_holding(kSelftestDeadlineMs), "the layout worker is stalled at the test latch");
        scene->Tick();  /* take whatever was published before the stall */
    }
    double digest0 = scene->PositionDigest();
    double pos0[3];
    camera->GetPosition(pos0);
    auto camera_moved = [&] {
        double p[3];
        camera->GetPosition(p);
        return std::fabs(p[0] - pos0[0]) + std::fabs(p[1] - pos0[1]) + std::fabs(p[2] - pos0[2]) > 1e-3;
    };
    const uint64_t seq0 = sb_frame_ring_latest_seq(ring);
    auto new_frames = [&] { return sb_frame_ring_latest_seq(ring) - seq0; };
    std::printf("selftest: layout worker %s; dragging until %d new frames\n",
                latch ? "held at the test latch" : "running", o.selftest_frames);
    bool held_throughout = true;
    int x = cx;
    sb_event press = MakeEvent(SB_EVENT_BUTTON_PRESS, x, cy, SB_BUTTON_LEFT);
    sb_event_queue_push(q, &press);
    const auto deadline = Clock::now() + std::chrono::milliseconds(kSelftestDeadlineMs);
    for (int step = 0; (new_frames() < uint64_t(o.selftest_frames) || !camera_moved()) &&
                       Clock::now() < deadline;
         step++) {
        x = cx + static_cast<int>(100 * std::sin(static_cast<double>(step) / 10.0));
        sb_event move = MakeEvent(SB_EVENT_POINTER_MOVE, x, cy, SB_BUTTON_LEFT);
        sb_event_queue_push(q, &move);
        sb_stream_pump(s, 5);
        if (scene->Tick())
            sb_stream_render(s);
        if (latch)
            held_throughout = held_throughout && latch->holding();
    }
    sb_event release = MakeEvent(SB_EVENT_BUTTON_RELEASE, x, cy, SB_BUTTON_LEFT);
    sb_event_queue_push(q, &release);
    PumpUntilDrained(s);
    std::printf("selftest: %llu new frames during the drag\n",
                static_cast<unsigned long long>(new_frames()));
    Check(new_frames() >= uint64_t(o.selftest_frames), latch
              ? "frames keep coming while the layout worker is stalled"
              : "frames keep coming while the layout runs");
    Check(camera_moved(), "replayed drag rotates the camera while the layout runs");
    if (latch) {
        Check(held_throughout, "the layout worker stayed stalled throughout (render never waited)");
        latch->open();
    }
    /* The layout goes on: wait for a snapshot with other positions to be drawn. */
    const auto layout_deadline = Clock::now() + std::chrono::milliseconds(kSelftestDeadlineMs);
    while (scene->PositionDigest() == digest0 && Clock::now() < layout_deadline) {
        if (scene->Tick())
            sb_stream_render(s);
        else
            sb_stream_pump(s, 10); /* poll interval: also sleeps when there is no event */
    }
    Check(scene->PositionDigest() != digest0, "node positions change between frames");
    Grab last;
    Check(GrabNewest(ring, &last) && DifferingFraction(before, last) > 0.01,
          "the picture changed");
    return g_failures;
}

/* ---- the interactive run ------------------------------------------------------------------- */

/* The trackball-camera style moves the camera on pointer events only; but while it holds the
 * focus (a button is down) VTK hands it every timer event, and vtkInteractorStyle::OnTimer()
 * repeats the last pointer delta and renders: the scene would keep turning at the demo's tick
 * rate while the button is held still. */
class DemoStyle : public vtkInteractorStyleTrackballCamera {
public:
    static DemoStyle *New();
    vtkTypeMacro(DemoStyle, vtkInteractorStyleTrackballCamera);
    void OnTimer() override {}
};
vtkStandardNewMacro(DemoStyle);

struct TickContext {
    vtkRenderWindowInteractor *iren;
    vtkRenderWindow *window;
    sbdemo::Scene *scene;
    int timer_id;
};

void OnTick(vtkObject *, unsigned long, void *client, void *call)
{
    auto *ctx = static_cast<TickContext *>(client);
    if (!call || *static_cast<int *>(call) != ctx->timer_id)
        return;
    if (g_stop_signal) {
        ctx->iren->TerminateApp();
        return;
    }
    if (ctx->scene->Tick())
        ctx->window->Render();
}

}  // namespace

int main(int argc, char **argv)
{
    DemoOptions o;
    int parsed = ParseArgs(argc, argv, &o);
    if (parsed)
        return parsed == 1 ? 0 : 2;

    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    int status = 0;
    {
        vtkNew<vtkRenderer> renderer;
        renderer->GradientBackgroundOn();
        renderer->SetBackground(0.06, 0.07, 0.10);
        renderer->SetBackground2(0.20, 0.24, 0.32);
        renderer->UseFXAAOn();
        vtkNew<vtkRenderWindow> window;
        window->SetMultiSamples(0);  /* FXAA instead: a multisampled read-back costs far more */
        window->SetSize(o.width, o.height);
        window->SetWindowName(("streambridge demo: " + o.scene.name).c_str());
        window->AddRenderer(renderer);
        vtkNew<vtkRenderWindowInteractor> iren;
        vtkNew<DemoStyle> style;
        iren->SetInteractorStyle(style);
        iren->SetRenderWindow(window);

        std::unique_ptr<sbdemo::Scene> scene = MakeScene(o.scene);
        std::string error;
        if (!scene->Build(renderer, &error)) {
            std::fprintf(stderr, "streambridge-demo: %s", error.c_str());
            if (error.empty() || error.back() != '\n')
                std::fputc('\n', stderr);
            return 2;
        }
        renderer->ResetCamera();
        iren->Initialize();

        sb_stream_options so;
        sb_stream_options_init(&so, SB_STREAM_OPTIONS_VERSION);
        so.max_width = static_cast<uint32_t>(std::max(o.width, 1920));
        so.max_height = static_cast<uint32_t>(std::max(o.height, 1080));
        so.serve = o.serve ? 1 : 0;
        so.server.bind_address = o.bind.c_str();
        so.server.port = o.port;
        so.server.access_token = o.token.empty() ? nullptr : o.token.c_str();
        so.shm_name = o.shm.empty() ? nullptr : o.shm.c_str();
        sb_stream *stream = nullptr;
        if (sb_stream_create(window, &so, &stream) != SB_OK) {
            std::fprintf(stderr, "streambridge-demo: %s\n", sb_last_error());
            scene->Stop();
            return 1;
        }
        scene->AttachInteractor(iren);

        sb_server *server = sb_stream_server(stream);
        if (server) {
            std::string host = o.bind == "0.0.0.0" ? "127.0.0.1" : o.bind;
            if (host.find(':') != std::string::npos)
                host = "[" + host + "]";
            int port = 0;
            sb_server_get_port(server, &port);
            std::printf("streambridge-demo: scene %s at http://%s:%d/%s\n", o.scene.name.c_str(),
                        host.c_str(), port,
                        o.token.empty() ? "" : ("?token=" + o.token).c_str());
        }
        if (!o.shm.empty())
            std::printf("streambridge-demo: shared memory stream '%s'\n", o.shm.c_str());
        std::fflush(stdout);

        if (o.selftest) {
            status = RunSelftest(o, stream, scene.get(), renderer) ? 1 : 0;
            std::printf("selftest: %s\n", status ? "FAILED" : "passed");
        } else {
            window->Render();
            TickContext ctx{iren, window, scene.get(), 0};
            vtkNew<vtkCallbackCommand> tick;
            tick->SetCallback(OnTick);
            tick->SetClientData(&ctx);
            /* Passive: VTK runs passive observers even while the style holds the interactor's
             * focus (from a button press to its release), when it hands timer events to the
             * style alone; an ordinary observer would miss SIGTERM and the scene's updates
             * for as long as a button is held. The style ignores the ticks (DemoStyle). */
            tick->PassiveObserverOn();
            iren->AddObserver(vtkCommand::TimerEvent, tick);
            ctx.timer_id = iren->CreateRepeatingTimer(33);
            if (!g_stop_signal)
                iren->Start();
            iren->DestroyTimer(ctx.timer_id);
            iren->RemoveObserver(tick);
            if (g_stop_signal)
                std::printf("streambridge-demo: %s, stopping\n", strsignal(g_stop_signal));
        }
        scene->Stop();
        sb_stream_destroy(stream);
        scene.reset();
        window->Finalize();
    }
    std::fflush(stdout);
    return status;
}
