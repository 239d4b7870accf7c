// test_vtk_async_readback.cxx - the asynchronous readback (sb_stream_options.readback =
// SB_STREAM_READBACK_ASYNC): each render's frame reaches the ring, in order, as the frame it was
// (its own colour, size and render times), never more than one render late; the last frame is
// published once rendering stops (the replay's timer tick, sb_stream_pump, sb_stream_render);
// resizes while a frame waits; and the option's validation and its conversion from version 2.
#include "sb_cunit.h"
#include "vtk_test_scene.h"

extern "C" {
#include "sb_test_wait.h"
}

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkRenderWindowInteractor.h>

#include <cstddef>
#include <ctime>
#include <cstdio>
#include <string>

namespace {

// The background of render n (1..26): n's base-3 digits as channel levels 0, 120, 240, so any
// two renders differ by 120 in some channel, far past the pixel tolerance, and the frame tells
// which render it came from.
Rgb ColourOf(int n)
{
    return Rgb{(n % 3) * 120, (n / 3 % 3) * 120, (n / 9 % 3) * 120};
}

void SetBackground(TestScene &scene, int n)
{
    const Rgb c = ColourOf(n);
    scene.renderer->SetBackground(c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

// Which render (1..n_max) the newest frame shows, judged by its corner pixel; 0 = none matches.
int RenderShown(sb_frame_ring *ring, int n_max, sb_frame_info *info = nullptr)
{
    Rgb c{};
    if (!NewestPixel(ring, 2, 2, &c, info))
        return 0;
    for (int n = n_max; n >= 1; n--) {
        const Rgb want = ColourOf(n);
        if (IsColour(c, want.r, want.g, want.b))
            return n;
    }
    return 0;
}

sb_stream *AsyncStream(TestScene &scene)
{
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.readback = SB_STREAM_READBACK_ASYNC;
    sb_stream *s = nullptr;
    CU_ASSERT_EQUAL(sb_stream_create(scene.window, &o, &s), SB_OK);
    return s;
}

// Counts the window's EndEvents: VTK may finish more than one frame in a Render() (a fresh
// window's second render does), and each finished frame is one frame for the stream.
struct EndCounter {
    uint64_t ends = 0;
    static void On(vtkObject *, unsigned long, void *client_data, void *)
    {
        static_cast<EndCounter *>(client_data)->ends++;
    }
};

// Frame k is published when frame k+1 ends: after each plain Render() every finished frame but
// the newest is in the ring, and the newest frame there shows the previous render (or this one,
// when VTK finished two frames of it), with that frame's own render times.
void AssertOneLatePerRender(bool offscreen)
{
    TestScene scene = MakeScene(offscreen);
    // From before the stream: attaching renders once (its interactor's initialisation).
    EndCounter counter;
    vtkNew<vtkCallbackCommand> end_cb;
    end_cb->SetCallback(EndCounter::On);
    end_cb->SetClientData(&counter);
    scene.window->AddObserver(vtkCommand::EndEvent, end_cb);
    sb_stream *s = AsyncStream(scene);
    CU_ASSERT_FATAL(s != nullptr);
    sb_frame_ring *ring = sb_stream_frame_ring(s);
    const uint64_t seq0 = sb_frame_ring_latest_seq(ring);
    constexpr int kRenders = 12;
    for (int n = 1; n <= kRenders; n++) {
        SetBackground(scene, n);
        scene.window->Render();
        CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(ring) - seq0, counter.ends - 1);
        if (n == 1)
            continue;
        sb_frame_info info{};
        const int shown = RenderShown(ring, kRenders, &info);
        if (shown != n - 1 && shown != n)
            std::fprintf(stderr, "after render %d the ring shows render %d\n", n, shown);
        CU_ASSERT(shown == n - 1 || shown == n);
        // Its own render's times: rendered, then published.
        CU_ASSERT(info.render_start_ns != 0 && info.render_start_ns <= info.render_end_ns);
        CU_ASSERT(info.render_end_ns <= info.capture_ns);
    }
    // Rendering stops: the next pump publishes the last render, once.
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 0);
    CU_ASSERT_EQUAL(RenderShown(ring, kRenders), kRenders);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(ring) - seq0, counter.ends);
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 0);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(ring) - seq0, counter.ends);
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    CU_ASSERT_EQUAL(st.frames_captured, counter.ends);
    scene.window->RemoveObserver(end_cb);
    sb_stream_destroy(s);
}

void test_offscreen_frame_published_one_render_late()
{
    AssertOneLatePerRender(true);
}

void test_onscreen_frame_published_one_render_late()
{
    AssertOneLatePerRender(false);
}

// sb_stream_render promises the frame in the ring on return, whatever the readback.
void test_stream_render_publishes_its_own_frame()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = AsyncStream(scene);
    CU_ASSERT_FATAL(s != nullptr);
    for (int n = 1; n <= 4; n++) {
        SetBackground(scene, n);
        CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
        CU_ASSERT_EQUAL(RenderShown(sb_stream_frame_ring(s), 4), n);
    }
    Rgb c{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, kSceneH / 2, &c));
    CU_ASSERT(IsColour(c, 255, 0, 0)); // the scene itself, not only the background
    sb_stream_destroy(s);
}

// The application runs the X interactor's loop and stops rendering: the replay's timer tick
// publishes the frame still waiting in its pixel buffer.
// CLOCK_REALTIME (the clock of sb_frame_info) of the window's last StartEvent.
struct StartClock {
    uint64_t last_start_ns = 0;
    static void On(vtkObject *, unsigned long, void *client_data, void *)
    {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        static_cast<StartClock *>(client_data)->last_start_ns =
            static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    }
};

struct IdleLoop {
    vtkRenderWindowInteractor *iren = nullptr;
    sb_frame_ring *ring = nullptr;
    const StartClock *clock = nullptr;
    int safety_timer = 0;
    bool published = false;
};

void OnIdleTimer(vtkObject *, unsigned long, void *client_data, void *call_data)
{
    auto *st = static_cast<IdleLoop *>(client_data);
    const int id = call_data ? *static_cast<int *>(call_data) : -1;
    if (id == st->safety_timer)
        st->iren->TerminateApp(); // the test fails instead of hanging
}

void OnAnyTimer(vtkObject *, unsigned long, void *client_data, void *)
{
    auto *st = static_cast<IdleLoop *>(client_data);
    // The newest frame in the ring is the window's last render (the loop may render too: the
    // window's first Expose): it ended after the last render started, which no earlier one did.
    sb_frame_info info{};
    Rgb c{};
    if (NewestPixel(st->ring, 2, 2, &c, &info) && info.render_end_ns >= st->clock->last_start_ns) {
        st->published = true;
        st->iren->TerminateApp();
    }
}

void test_last_frame_published_when_rendering_stops()
{
    TestScene scene = MakeScene(false);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    iren->Initialize();
    StartClock clock;
    vtkNew<vtkCallbackCommand> start_cb;
    start_cb->SetCallback(StartClock::On);
    start_cb->SetClientData(&clock);
    scene.window->AddObserver(vtkCommand::StartEvent, start_cb);
    sb_stream *s = AsyncStream(scene);
    CU_ASSERT_FATAL(s != nullptr);
    sb_frame_ring *ring = sb_stream_frame_ring(s);
    for (int n = 1; n <= 3; n++) {
        SetBackground(scene, n);
        scene.window->Render();
    }
    CU_ASSERT_EQUAL(RenderShown(ring, 3), 2); // render 3 waits in its pixel buffer

    IdleLoop st;
    st.iren = iren;
    st.ring = ring;
    st.clock = &clock;
    vtkNew<vtkCallbackCommand> timer_cb;
    timer_cb->SetCallback(OnIdleTimer);
    timer_cb->SetClientData(&st);
    iren->AddObserver(vtkCommand::TimerEvent, timer_cb);
    // Checked at every timer tick, the stream's own included (which the stream hides from
    // ordinary observers): passive, after the stream's passive observer (lower priority). Not
    // AnyEvent: an interactor with a StartEvent observer leaves its loop to the application.
    vtkNew<vtkCallbackCommand> any_cb;
    any_cb->SetCallback(OnAnyTimer);
    any_cb->SetClientData(&st);
    any_cb->PassiveObserverOn();
    iren->AddObserver(vtkCommand::TimerEvent, any_cb, -1.0f);
    st.safety_timer = iren->CreateOneShotTimer(ST_DEADLINE_MS);
    iren->Start();
    iren->RemoveObserver(any_cb);
    iren->RemoveObserver(timer_cb);
    scene.window->RemoveObserver(start_cb);
    CU_ASSERT(st.published);
    CU_ASSERT_EQUAL(RenderShown(ring, 3), 3);
    iren->DestroyTimer(st.safety_timer);
    sb_stream_destroy(s);
}

// A resize between a frame's read and its publish: the pending frame keeps its own size, the
// next one has the new size, each with its own picture.
void test_resize_while_a_frame_waits()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = AsyncStream(scene);
    CU_ASSERT_FATAL(s != nullptr);
    sb_frame_ring *ring = sb_stream_frame_ring(s);
    const int sizes[][2] = {{kSceneW, kSceneH}, {400, 300}, {200, 150}, {400, 300}, {kSceneW, kSceneH}};
    constexpr int kCount = sizeof sizes / sizeof sizes[0];
    for (int n = 1; n <= kCount; n++) {
        scene.window->SetSize(sizes[n - 1][0], sizes[n - 1][1]);
        SetBackground(scene, n);
        scene.window->Render();
        if (n == 1)
            continue;
        sb_frame_info info{};
        const int shown = RenderShown(ring, kCount, &info);
        CU_ASSERT_FATAL(shown == n - 1 || shown == n);
        // The size it was rendered at, whatever the window's size now.
        CU_ASSERT_EQUAL(info.width, static_cast<uint32_t>(sizes[shown - 1][0]));
        CU_ASSERT_EQUAL(info.height, static_cast<uint32_t>(sizes[shown - 1][1]));
        // The scene's sphere sits at the centre of every size.
        Rgb c{};
        CU_ASSERT(NewestPixel(ring, static_cast<int>(info.width) / 2,
                              static_cast<int>(info.height) / 2, &c));
        CU_ASSERT(IsColour(c, 255, 0, 0));
    }
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 0);
    sb_frame_info info{};
    CU_ASSERT_EQUAL(RenderShown(ring, kCount, &info), kCount);
    CU_ASSERT_EQUAL(info.width, static_cast<uint32_t>(kSceneW));
    sb_stream_destroy(s);
}

// A window grown past the ring's maximum while a frame waits: the waiting frame is still
// published, the oversize one refused (counted), and streaming resumes when it shrinks.
void test_oversize_render_publishes_the_waiting_frame()
{
    TestScene scene = MakeScene(true);
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.readback = SB_STREAM_READBACK_ASYNC;
    o.max_width = kSceneW;
    o.max_height = kSceneH;
    EndCounter counter;
    vtkNew<vtkCallbackCommand> end_cb;
    end_cb->SetCallback(EndCounter::On);
    end_cb->SetClientData(&counter);
    scene.window->AddObserver(vtkCommand::EndEvent, end_cb);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, &o, &s) == SB_OK);
    sb_frame_ring *ring = sb_stream_frame_ring(s);
    SetBackground(scene, 1);
    scene.window->Render();
    scene.window->SetSize(kSceneW * 2, kSceneH);
    SetBackground(scene, 2);
    scene.window->Render();
    CU_ASSERT_EQUAL(RenderShown(ring, 3), 1);
    scene.window->SetSize(kSceneW, kSceneH);
    SetBackground(scene, 3);
    scene.window->Render();
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 0);
    CU_ASSERT_EQUAL(RenderShown(ring, 3), 3);
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    CU_ASSERT_EQUAL(st.frames_refused_too_big, 1u);
    CU_ASSERT_EQUAL(st.frames_captured, counter.ends - 1); // all but the oversize one
    scene.window->RemoveObserver(end_cb);
    sb_stream_destroy(s);
}

// Destroying the stream while a frame waits, and the window before the stream, are both clean.
void test_destroy_with_a_frame_waiting()
{
    {
        TestScene scene = MakeScene(true);
        sb_stream *s = AsyncStream(scene);
        CU_ASSERT_FATAL(s != nullptr);
        scene.window->Render();
        sb_stream_destroy(s);
        scene.window->Render(); // no observer left
    }
    sb_stream *s = nullptr;
    {
        TestScene scene = MakeScene(true);
        s = AsyncStream(scene);
        CU_ASSERT_FATAL(s != nullptr);
        scene.window->Render();
    }
    // The stream's own interactor keeps the window alive; either way nothing breaks.
    const int rc = sb_stream_pump(s, 0);
    CU_ASSERT(rc == 0 || rc == SB_ESTATE);
    sb_stream_destroy(s);
}

bool LastErrorHas(const char *text)
{
    return std::string(sb_last_error()).find(text) != std::string::npos;
}

void test_readback_option_checked()
{
    TestScene scene = MakeScene(true);
    sb_stream_options o;
    CU_ASSERT_EQUAL(sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION), SB_OK);
    CU_ASSERT_EQUAL(o.readback, SB_STREAM_DEFAULT_READBACK);
    for (int bad : {0, 3, -1}) {
        o.readback = bad;
        sb_stream *s = nullptr;
        CU_ASSERT_EQUAL(sb_stream_create(scene.window, &o, &s), SB_EINVAL);
        CU_ASSERT(s == nullptr);
        CU_ASSERT(LastErrorHas(("readback " + std::to_string(bad) + " must be").c_str()));
    }
    for (int good : {SB_STREAM_READBACK_SYNC, SB_STREAM_READBACK_ASYNC}) {
        o.readback = good;
        sb_stream *s = nullptr;
        CU_ASSERT_EQUAL(sb_stream_create(scene.window, &o, &s), SB_OK);
        CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
        sb_stream_destroy(s);
    }
}

// sb_stream_options as 0.2 defined it (version 2): readback did not exist, .server last.
struct StreamOptions02 {
    unsigned int version;
    uint32_t max_width, max_height, buffer_count;
    const char *shm_name;
    int serve;
    int timer_interval_ms;
    int allow_remote_exit;
    sb_server_options server;
};

// A version-2 struct is read field by field at its own offsets, takes the default readback, and
// its server options (by their own version) reach the server.
void test_version_2_options_converted()
{
    TestScene scene = MakeScene(true);
    StreamOptions02 v2{};
    v2.version = 2;
    v2.max_width = 640;
    v2.max_height = 400;
    v2.buffer_count = 4;
    v2.serve = 1;
    v2.timer_interval_ms = 10;
    v2.allow_remote_exit = 0;
    CU_ASSERT_EQUAL_FATAL(sb_server_options_init(&v2.server, SB_SERVER_OPTIONS_VERSION), SB_OK);
    v2.server.port = 0;
    sb_stream *s = nullptr;
    CU_ASSERT_EQUAL_FATAL(
        sb_stream_create(scene.window, reinterpret_cast<const sb_stream_options *>(&v2), &s),
        SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_max_width(sb_stream_frame_ring(s)), 640u);
    CU_ASSERT_EQUAL(sb_frame_ring_max_height(sb_stream_frame_ring(s)), 400u);
    CU_ASSERT_FATAL(sb_stream_server(s) != nullptr);
    int port = 0;
    CU_ASSERT_EQUAL(sb_server_get_port(sb_stream_server(s), &port), SB_OK);
    CU_ASSERT(port > 0);
    // The default readback: with it the render's frame is in the ring at once (sync) or after
    // the next pump (async); either way the ring has it after a render and a pump.
    scene.window->Render();
    sb_stream_pump(s, 0);
    CU_ASSERT(sb_frame_ring_latest_seq(sb_stream_frame_ring(s)) >= 1);
    sb_stream_destroy(s);
    // Its allow_remote_exit and server fields are checked where they sit in the v2 layout.
    v2.allow_remote_exit = 2;
    CU_ASSERT_EQUAL(sb_stream_create(scene.window,
                                     reinterpret_cast<const sb_stream_options *>(&v2), &s),
                    SB_EINVAL);
    CU_ASSERT(LastErrorHas("allow_remote_exit 2"));
    v2.allow_remote_exit = 0;
    v2.server.jpeg_quality_still = 101;
    CU_ASSERT_EQUAL(sb_stream_create(scene.window,
                                     reinterpret_cast<const sb_stream_options *>(&v2), &s),
                    SB_EINVAL);
    CU_ASSERT(LastErrorHas("jpeg_quality_still 101"));
    v2.server.jpeg_quality_still = 90;
    v2.server.version = 99;
    CU_ASSERT_EQUAL(sb_stream_create(scene.window,
                                     reinterpret_cast<const sb_stream_options *>(&v2), &s),
                    SB_EVERSION);
    CU_ASSERT(LastErrorHas("server options version 99"));
    CU_ASSERT(s == nullptr);
}

CU_TestInfo async_tests[] = {
    {"offscreen_frame_published_one_render_late", test_offscreen_frame_published_one_render_late},
    {"onscreen_frame_published_one_render_late", test_onscreen_frame_published_one_render_late},
    {"stream_render_publishes_its_own_frame", test_stream_render_publishes_its_own_frame},
    {"last_frame_published_when_rendering_stops", test_last_frame_published_when_rendering_stops},
    {"resize_while_a_frame_waits", test_resize_while_a_frame_waits},
    {"oversize_render_publishes_the_waiting_frame",
     test_oversize_render_publishes_the_waiting_frame},
    {"destroy_with_a_frame_waiting", test_destroy_with_a_frame_waiting},
    {"readback_option_checked", test_readback_option_checked},
    {"version_2_options_converted", test_version_2_options_converted},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"vtk_async_readback", nullptr, nullptr, nullptr, nullptr, async_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
