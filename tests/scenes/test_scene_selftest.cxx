// test_scene_selftest.cxx - each demo scene end to end through the public C API, in the demo's own
// window setup (sbdemo::DemoWindow, the library streambridge-demo serves): a replayed drag, wheel
// and 'r' change the camera and the picture; the network scene renders and takes input while its
// layout worker is held at a latch, and a 12,000-node graph lays out while it is dragged.
// One CUnit test per ctest (tests/scenes/CMakeLists.txt passes the name).
#include "sb_cunit.h"

#include "demo_window.h"
#include "layout.h" /* sbnet::StepLatch: the network scene's stalled layout worker */

#include <vtkCamera.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr int kWidth = 640, kHeight = 480;
/* Every wait is for a condition (new frames, a moved camera, changed positions), never for a
 * time: this is how long a condition may take before it counts as failed. Generous, so a loaded
 * machine (sanitizers, parallel tests) is merely slow, never failing. */
constexpr int kConditionDeadlineMs = 60000;
/* New frames the network drag must see. */
constexpr uint64_t kDragFrames = 10;

/* A named check: prints "selftest: WHAT ok|FAILED" (the figures around it tell the story in the
 * ctest log) and records a CUnit failure under WHAT. */
void Check(bool ok, const char *what, int line = __builtin_LINE())
{
    std::printf("selftest: %-58s %s\n", what, ok ? "ok" : "FAILED");
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, static_cast<unsigned>(line), what, __FILE__,
                            "", CU_FALSE);
}

/* Runs step() until done() holds; false when kConditionDeadlineMs passed first. step() waits a
 * little itself (sb_stream_pump with a timeout): that is the poll interval. */
template <typename Done, typename Step>
bool RepeatUntil(Done done, Step step)
{
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kConditionDeadlineMs);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        step();
    }
    return true;
}

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
bool PumpUntilDrained(sb_stream *s)
{
    sb_event_queue *q = sb_stream_event_queue(s);
    auto drained = [&] {
        sb_event_queue_stats st{};
        st.version = SB_EVENT_QUEUE_STATS_VERSION;
        CU_ASSERT_EQUAL_FATAL(sb_event_queue_get_stats(q, &st), SB_OK);
        return st.depth == 0 && sb_stream_pump(s, 0) == 0;
    };
    return RepeatUntil(drained, [&] { sb_stream_pump(s, 10); });
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

void PushWheel(sb_event_queue *q, int x, int y, int notches)
{
    for (int i = 0; i < notches; i++) {
        sb_event wheel = MakeEvent(SB_EVENT_WHEEL, x, y, 0);
        wheel.wheel_delta = 1.0f;
        sb_event_queue_push(q, &wheel);
    }
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

double Moved(const double a[3], const double b[3])
{
    return std::fabs(a[0] - b[0]) + std::fabs(a[1] - b[1]) + std::fabs(a[2] - b[2]);
}

/* A scene in the demo's window, streamed (no web server: serving is serve_test.mjs's part),
 * with one frame rendered and checked. */
struct SceneRun {
    sbdemo::DemoWindow w{kWidth, kHeight, "test_scene_selftest"};
    bool started = false;
    Grab first;

    explicit SceneRun(const sbdemo::SceneOptions &options)
    {
        sbdemo::StreamSettings settings;
        settings.serve = false;
        std::string error;
        if (!w.BuildScene(options, &error) || !w.StartStream(settings, &error)) {
            std::printf("selftest: %s\n", error.c_str());
            return;
        }
        started = true;
        Check(sb_stream_render(w.stream()) == SB_OK, "a render through the stream succeeds");
        Check(GrabNewest(ring(), &first), "a frame is captured after a render");
        Check(first.width == uint32_t(kWidth) && first.height == uint32_t(kHeight),
              "the frame has the window's size");
    }
    sb_stream *stream() { return w.stream(); }
    sb_frame_ring *ring() { return sb_stream_frame_ring(w.stream()); }
    sb_event_queue *queue() { return sb_stream_event_queue(w.stream()); }
    vtkCamera *camera() { return w.renderer()->GetActiveCamera(); }
};

/* basic, science: a drag rotates the camera and changes the picture, the wheel zooms in, 'r'
 * fits the camera to the scene again. */
void CheckDragZoomReset(const char *scene_name)
{
    sbdemo::SceneOptions options;
    options.name = scene_name;
    SceneRun run(options);
    CU_ASSERT_FATAL(run.started);
    const int cx = kWidth / 2, cy = kHeight / 2;
    const double d0 = run.camera()->GetDistance();
    double p0[3], p1[3];
    run.camera()->GetPosition(p0);

    PushDrag(run.queue(), cx, cy, 160, 50, 12);
    Check(PumpUntilDrained(run.stream()), "the replayed drag is consumed");
    run.camera()->GetPosition(p1);
    Check(Moved(p0, p1) > 1e-3, "a replayed left-button drag rotates the camera");
    Grab after;
    Check(GrabNewest(run.ring(), &after) && after.seq > run.first.seq, "the drag produced new frames");
    double diff = DifferingFraction(run.first, after);
    std::printf("selftest: pixels changed by the drag: %.1f %%\n", 100 * diff);
    Check(diff > 0.01, "the drag changed the picture");

    PushWheel(run.queue(), cx, cy, 4);
    Check(PumpUntilDrained(run.stream()), "the replayed wheel notches are consumed");
    const double d1 = run.camera()->GetDistance();
    std::printf("selftest: camera distance %.3f -> %.3f after 4 wheel notches\n", d0, d1);
    Check(d1 < d0 * 0.95, "wheel forward zooms in");

    PushKey(run.queue(), 'r', cx, cy);
    Check(PumpUntilDrained(run.stream()), "the replayed 'r' is consumed");
    const double d2 = run.camera()->GetDistance();
    std::printf("selftest: camera distance %.3f after 'r'\n", d2);
    Check(std::fabs(d2 - d0) < d0 * 0.01, "'r' resets the camera to fit the scene");
}

void test_basic_drag_zoom_reset() { CheckDragZoomReset("basic"); }
void test_science_drag_zoom_reset() { CheckDragZoomReset("science"); }

/* A left-button drag back and forth across the middle (the stream pumped and the scene ticked
 * between moves, as the demo's loop does) until done(). Returns whether latch, if any, held the
 * layout worker at every step. */
template <typename Done>
bool DragBackAndForthUntil(SceneRun &run, sbnet::StepLatch *latch, Done done)
{
    sb_stream *s = run.stream();
    sbdemo::Scene *scene = run.w.scene();
    const int cx = kWidth / 2, cy = kHeight / 2;
    bool held_throughout = true;
    int x = cx, step = 0;
    sb_event press = MakeEvent(SB_EVENT_BUTTON_PRESS, x, cy, SB_BUTTON_LEFT);
    sb_event_queue_push(run.queue(), &press);
    RepeatUntil(done, [&] {
        x = cx + static_cast<int>(100 * std::sin(static_cast<double>(step++) / 10.0));
        sb_event move = MakeEvent(SB_EVENT_POINTER_MOVE, x, cy, SB_BUTTON_LEFT);
        sb_event_queue_push(run.queue(), &move);
        sb_stream_pump(s, 5);
        if (scene->Tick())
            sb_stream_render(s);
        if (latch)
            held_throughout = held_throughout && latch->holding();
    });
    sb_event release = MakeEvent(SB_EVENT_BUTTON_RELEASE, x, cy, SB_BUTTON_LEFT);
    sb_event_queue_push(run.queue(), &release);
    Check(PumpUntilDrained(s), "the replayed release is consumed");
    return held_throughout;
}

/* The layout goes on: waits for a snapshot with positions other than digest0 to be drawn. */
void WaitForNewPositions(SceneRun &run, double digest0)
{
    sbdemo::Scene *scene = run.w.scene();
    RepeatUntil([&] { return scene->PositionDigest() != digest0; }, [&] {
        if (scene->Tick())
            sb_stream_render(run.stream());
        else
            sb_stream_pump(run.stream(), 10); /* poll interval: also sleeps when there is no event */
    });
    Check(scene->PositionDigest() != digest0, "node positions change between frames");
}

/* network: drag while the layout runs, until kDragFrames new frames came and the camera moved.
 * With stall_layout the layout worker is held at a latch in the middle of its work for the whole
 * drag: frames and replayed input must keep coming all the same, which proves by construction
 * that the render thread never waits for the layout (no clock involved). Once the drag is over
 * (and the latch open), the layout goes on: node positions change and so does the picture. */
void CheckNetworkDrag(uint32_t nodes, bool stall_layout)
{
    sbdemo::SceneOptions options;
    options.name = "network";
    options.nodes = nodes;
    options.stall_layout = stall_layout;
    SceneRun run(options);
    CU_ASSERT_FATAL(run.started);
    sbdemo::Scene *scene = run.w.scene();
    sbnet::StepLatch *latch = scene->LayoutLatch();
    CU_ASSERT_FATAL((latch != nullptr) == stall_layout);
    if (latch) {
        Check(latch->wait_holding(kConditionDeadlineMs), "the layout worker is stalled at the test latch");
        scene->Tick();  /* take whatever was published before the stall */
    }
    const double digest0 = scene->PositionDigest();
    double pos0[3];
    run.camera()->GetPosition(pos0);
    auto camera_moved = [&] {
        double p[3];
        run.camera()->GetPosition(p);
        return Moved(pos0, p) > 1e-3;
    };
    const uint64_t seq0 = sb_frame_ring_latest_seq(run.ring());
    auto new_frames = [&] { return sb_frame_ring_latest_seq(run.ring()) - seq0; };
    std::printf("selftest: layout worker %s; dragging until %llu new frames\n",
                latch ? "held at the test latch" : "running",
                static_cast<unsigned long long>(kDragFrames));

    bool held_throughout = DragBackAndForthUntil(
        run, latch, [&] { return new_frames() >= kDragFrames && camera_moved(); });
    std::printf("selftest: %llu new frames during the drag\n",
                static_cast<unsigned long long>(new_frames()));
    Check(new_frames() >= kDragFrames, latch ? "frames keep coming while the layout worker is stalled"
                                             : "frames keep coming while the layout runs");
    Check(camera_moved(), "replayed drag rotates the camera while the layout runs");
    if (latch) {
        Check(held_throughout, "the layout worker stayed stalled throughout (render never waited)");
        latch->open();
    }

    WaitForNewPositions(run, digest0);
    Grab last;
    Check(GrabNewest(run.ring(), &last) && DifferingFraction(run.first, last) > 0.01,
          "the picture changed");
}

void test_network_render_never_waits_for_layout() { CheckNetworkDrag(2000, true); }
void test_network_12000_nodes() { CheckNetworkDrag(12000, false); }

}  // namespace

static CU_TestInfo scene_tests[] = {
    {"basic_drag_zoom_reset", test_basic_drag_zoom_reset},
    {"science_drag_zoom_reset", test_science_drag_zoom_reset},
    {"network_render_never_waits_for_layout", test_network_render_never_waits_for_layout},
    {"network_12000_nodes", test_network_12000_nodes},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"scenes", nullptr, nullptr, nullptr, nullptr, scene_tests},
                                CU_SUITE_INFO_NULL};
SB_CUNIT_MAIN(suites)
