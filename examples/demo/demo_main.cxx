/* streambridge-demo: serves one demo scene (basic | network | science) to web browsers, or all
 * three on one port (--scene all: a window each, one server, the stream picker at "/").
 *
 *   streambridge-demo --scene network --port 8001
 *   streambridge-demo --scene all --port 8000
 *
 * The window is an ordinary VTK window with an ordinary interactor; three streambridge calls
 * make it a web viewer: sb_stream_create (serve = 1), interactor Start(), sb_stream_destroy
 * (the window and the stream: sbdemo::DemoWindow, demo_window.h, shared with the tests).
 * SIGINT/SIGTERM set a flag that a repeating interactor timer turns into TerminateApp(), so the
 * stream is destroyed (server stopped, shm segments unlinked) before the process exits. */
#include "demo_window.h"

#include "streambridge/streambridge.h"

#include <vtkCallbackCommand.h>
#include <vtkNew.h>

#include <getopt.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int sig) { g_stop_signal = sig; }

/* --scene all: every scene, each a stream on one server. */
const char *const kAllScenes = "all";
const char *const kSceneNames[] = {"basic", "network", "science"};

struct DemoOptions {
    sbdemo::SceneOptions scene;
    sbdemo::StreamSettings stream;
    int width = 640, height = 480;
};

void Usage(FILE *out)
{
    std::fprintf(out,
        "usage: streambridge-demo [options]\n"
        "Serves a VTK demo scene to web browsers (open the printed URL).\n"
        "  --scene NAME       basic | network | science | all (default basic); all: the three\n"
        "                     scenes on one port, a picker at /, each at /v/NAME/\n"
        "  --port N           TCP port (default 8000; 0 = any free port, printed)\n"
        "  --bind ADDR        address to listen on (default 127.0.0.1, loopback only)\n"
        "  --token T          require this access token on every request (?token=T)\n"
        "  --allow-origin O   public origin of a reverse proxy in front (https://hub.example.org):\n"
        "                     its Host and Origin are accepted (repeatable, as streambridge-server's)\n"
        "  --size WxH         window/frame size (default 640x480)\n"
        "  --shm NAME         put the frame ring and event queue in shared memory\n"
        "                     (/dev/shm/streambridge-NAME-*) so streambridge-server can attach\n"
        "  --no-serve         do not start the built-in web server (use with --shm)\n"
        "  --nodes N          network: nodes of the generated scale-free graph (default 2000)\n"
        "  --edges-per-node M network: Barabasi-Albert edges per new node (default 2)\n"
        "  --seed S           network: random seed (default 1)\n"
        "  --graph FILE       network: edge list instead (one \"a b\" pair per line, '#' comments)\n"
        "  --max-iterations N network: layout iteration cap (default 1500)\n"
        "  --help             this text\n");
}

/* A decimal number in [min, max] into *out; false for anything else (sign, junk, overflow). */
template <typename T>
bool ParseNumber(const char *text, unsigned long min, unsigned long max, T *out)
{
    char *end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(text, &end, 10);
    if (errno || end == text || *end != '\0' || text[0] == '-' || v < min || v > max)
        return false;
    *out = static_cast<T>(v);
    return true;
}

bool ParseSize(const char *text, DemoOptions *o)
{
    unsigned w = 0, h = 0;
    char tail = 0;
    if (std::sscanf(text, "%ux%u%c", &w, &h, &tail) != 2 || w < 16 || h < 16 || w > 3840 ||
        h > 2160)
        return false;
    o->width = static_cast<int>(w);
    o->height = static_cast<int>(h);
    return true;
}

/* One command-line option: how it is spelt, what an error message calls it, and how its value
 * lands in DemoOptions (false: invalid value). */
struct OptionSpec {
    const char *name;
    int has_arg;
    const char *what;
    bool (*apply)(const char *value, DemoOptions *o);
};

const OptionSpec kOptions[] = {
    {"scene", required_argument, "--scene",
     [](const char *v, DemoOptions *o) {
         o->scene.name = v;
         return sbdemo::IsSceneName(v) || o->scene.name == kAllScenes;
     }},
    {"port", required_argument, "--port",
     [](const char *v, DemoOptions *o) { return ParseNumber(v, 0, 65535, &o->stream.port); }},
    {"bind", required_argument, "--bind",
     [](const char *v, DemoOptions *o) { o->stream.bind = v; return true; }},
    {"token", required_argument, "--token",
     [](const char *v, DemoOptions *o) { o->stream.token = v; return true; }},
    {"allow-origin", required_argument, "--allow-origin",
     [](const char *v, DemoOptions *o) {
         std::string &list = o->stream.allowed_origins;
         list += (list.empty() ? "" : ",") + std::string(v);
         return true;
     }},
    {"size", required_argument, "--size (WxH, 16x16 .. 3840x2160)", ParseSize},
    {"shm", required_argument, "--shm",
     [](const char *v, DemoOptions *o) { o->stream.shm = v; return true; }},
    {"no-serve", no_argument, "--no-serve",
     [](const char *, DemoOptions *o) { o->stream.serve = false; return true; }},
    {"nodes", required_argument, "--nodes (3 .. 5000000)",
     [](const char *v, DemoOptions *o) { return ParseNumber(v, 3, 5000000, &o->scene.nodes); }},
    {"edges-per-node", required_argument, "--edges-per-node (1 .. 50)",
     [](const char *v, DemoOptions *o) { return ParseNumber(v, 1, 50, &o->scene.edges_per_node); }},
    {"seed", required_argument, "--seed",
     [](const char *v, DemoOptions *o) { return ParseNumber(v, 0, ~0ul, &o->scene.seed); }},
    {"graph", required_argument, "--graph",
     [](const char *v, DemoOptions *o) { o->scene.graph_file = v; return true; }},
    {"max-iterations", required_argument, "--max-iterations",
     [](const char *v, DemoOptions *o) {
         return ParseNumber(v, 0, 1000000, &o->scene.max_iterations);
     }},
};
constexpr int kOptionCount = sizeof kOptions / sizeof kOptions[0];
/* getopt_long returns these for kOptions[i] (kFirstOption + i) and --help: clear of its '?'. */
constexpr int kFirstOption = 1000;
constexpr int kHelpOption = kFirstOption + kOptionCount;

/* getopt_long's table for kOptions plus --help. */
std::vector<option> LongOptions()
{
    std::vector<option> longopts;
    for (int i = 0; i < kOptionCount; i++)
        longopts.push_back({kOptions[i].name, kOptions[i].has_arg, nullptr, kFirstOption + i});
    longopts.push_back({"help", no_argument, nullptr, kHelpOption});
    longopts.push_back({nullptr, 0, nullptr, 0});
    return longopts;
}

/* 0 = run, 1 = --help printed, 2 = usage error (printed). */
int ParseArgs(int argc, char **argv, DemoOptions *o)
{
    const std::vector<option> longopts = LongOptions();
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts.data(), nullptr)) != -1) {
        if (c == kHelpOption) {
            Usage(stdout);
            return 1;
        }
        if (c < kFirstOption || c > kHelpOption) {
            std::fprintf(stderr, "streambridge-demo: unknown or incomplete option '%s' (see --help)\n",
                         argv[optind - 1]);
            return 2;
        }
        const OptionSpec &spec = kOptions[c - kFirstOption];
        if (!spec.apply(optarg, o)) {
            std::fprintf(stderr, "streambridge-demo: invalid %s '%s' (see --help)\n", spec.what, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "streambridge-demo: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!o->stream.serve && o->scene.name == kAllScenes) {
        std::fprintf(stderr, "streambridge-demo: --no-serve serves one scene (--scene all shares "
                             "the built-in server)\n");
        return 2;
    }
    if (!o->stream.serve && o->stream.shm.empty()) {
        std::fprintf(stderr, "streambridge-demo: --no-serve needs --shm (nobody could see the frames)\n");
        return 2;
    }
    return 0;
}

void InstallStopHandlers()
{
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

/* The line tests and demo.sh wait for: "scene NAME at http://HOST:PORT/[?token=T]". */
void PrintWhereServed(const DemoOptions &o, sb_stream *stream)
{
    sb_server *server = sb_stream_server(stream);
    if (server) {
        std::string host = o.stream.bind == "0.0.0.0" ? "127.0.0.1" : o.stream.bind;
        if (host.find(':') != std::string::npos)
            host = "[" + host + "]";
        int port = 0;
        sb_server_get_port(server, &port);
        std::printf("streambridge-demo: scene %s at http://%s:%d/%s\n", o.scene.name.c_str(),
                    host.c_str(), port,
                    o.stream.token.empty() ? "" : ("?token=" + o.stream.token).c_str());
    }
    if (!o.stream.shm.empty())
        std::printf("streambridge-demo: shared memory stream '%s'\n", o.stream.shm.c_str());
    std::fflush(stdout);
}

struct TickContext {
    std::vector<sbdemo::DemoWindow *> windows;
    int timer_id;
};

void OnTick(vtkObject *, unsigned long, void *client, void *call)
{
    auto *ctx = static_cast<TickContext *>(client);
    if (!call || *static_cast<int *>(call) != ctx->timer_id)
        return;
    if (g_stop_signal) {
        /* VTK's X event loop ends once every interactor in it was told to. */
        for (sbdemo::DemoWindow *w : ctx->windows)
            w->interactor()->TerminateApp();
        return;
    }
    for (sbdemo::DemoWindow *w : ctx->windows)
        if (w->scene()->Tick())
            w->window()->Render();
}

/* The interactors' event loop (the first one's Start() serves every window), with a tick that
 * animates the scenes and ends the loop on SIGINT/SIGTERM. */
void RunUntilStopped(const std::vector<sbdemo::DemoWindow *> &windows)
{
    vtkRenderWindowInteractor *iren = windows.front()->interactor();
    for (sbdemo::DemoWindow *w : windows)
        w->window()->Render();
    TickContext ctx{windows, 0};
    vtkNew<vtkCallbackCommand> tick;
    tick->SetCallback(OnTick);
    tick->SetClientData(&ctx);
    /* Passive: VTK runs passive observers even while the style holds the interactor's focus
     * (from a button press to its release), when it hands timer events to the style alone; an
     * ordinary observer would miss SIGTERM and the scene's updates for as long as a button is
     * held. The style ignores the ticks (DemoStyle in demo_window.cxx). */
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

}  // namespace

/* --scene all: one server (no default stream: "/" is the picker), each scene a window and a
 * stream on it named after the scene. */
int RunAllScenes(const DemoOptions &o)
{
    sb_stream_options so = sbdemo::StreamOptions(o.stream, o.width, o.height);
    sb_server *server = nullptr;
    if (sb_server_create(nullptr, nullptr, &so.server, &server) != SB_OK) {
        std::fprintf(stderr, "streambridge-demo: %s\n", sb_last_error());
        return 1;
    }
    int status = 0;
    {
        std::vector<std::unique_ptr<sbdemo::DemoWindow>> windows;
        for (const char *name : kSceneNames) {
            sbdemo::SceneOptions scene = o.scene;
            scene.name = name;
            sbdemo::StreamSettings settings = o.stream;
            if (!settings.shm.empty())
                settings.shm += std::string("-") + name;
            auto w = std::make_unique<sbdemo::DemoWindow>(o.width, o.height,
                                                          std::string("streambridge demo: ") + name);
            std::string error;
            if (!w->BuildScene(scene, &error) || !w->StartStream(settings, &error, server, name)) {
                std::fprintf(stderr, "streambridge-demo: scene %s: %s\n", name, error.c_str());
                status = error.find("unknown") != std::string::npos ? 2 : 1;
                break;
            }
            windows.push_back(std::move(w));
        }
        if (status == 0) {
            std::string host = o.stream.bind == "0.0.0.0" ? "127.0.0.1" : o.stream.bind;
            if (host.find(':') != std::string::npos)
                host = "[" + host + "]";
            int port = 0;
            sb_server_get_port(server, &port);
            const std::string query = o.stream.token.empty() ? "" : "?token=" + o.stream.token;
            std::printf("streambridge-demo: scenes basic, network, science at http://%s:%d/%s\n",
                        host.c_str(), port, query.c_str());
            for (const char *name : kSceneNames)
                std::printf("streambridge-demo: scene %s at http://%s:%d/v/%s/%s\n", name,
                            host.c_str(), port, name, query.c_str());
            std::fflush(stdout);
            std::vector<sbdemo::DemoWindow *> run;
            for (auto &w : windows)
                run.push_back(w.get());
            RunUntilStopped(run);
        }
        /* The windows (and their streams) go first: the server must outlive its streams. */
    }
    sb_server_destroy(server);
    std::fflush(stdout);
    return status;
}

int main(int argc, char **argv)
{
    DemoOptions o;
    int parsed = ParseArgs(argc, argv, &o);
    if (parsed)
        return parsed == 1 ? 0 : 2;
    InstallStopHandlers();
    if (o.scene.name == kAllScenes)
        return RunAllScenes(o);
    {
        sbdemo::DemoWindow w(o.width, o.height, "streambridge demo: " + o.scene.name);
        std::string error;
        if (!w.BuildScene(o.scene, &error)) {
            std::fprintf(stderr, "streambridge-demo: %s", error.c_str());
            if (error.empty() || error.back() != '\n')
                std::fputc('\n', stderr);
            return 2;
        }
        if (!w.StartStream(o.stream, &error)) {
            std::fprintf(stderr, "streambridge-demo: %s\n", error.c_str());
            return 1;
        }
        PrintWhereServed(o, w.stream());
        RunUntilStopped({&w});
    }
    std::fflush(stdout);
    return 0;
}
