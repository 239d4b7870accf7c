// test_vtk_replay.cxx - replay of queued events into VTK: trackball-camera gestures, keys,
// resize, coalescing, one render per batch, invalid events, the interactor timer.
#include "sb_cunit.h"
#include "vtk_test_scene.h"

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkRenderWindowInteractor.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Fixture {
    TestScene scene = MakeScene(true);
    sb_stream *stream = nullptr;
    Fixture()
    {
        scene.window->Render();
        sb_stream_options o;
        sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
        if (sb_stream_create(scene.window, &o, &stream) != SB_OK)
            std::fprintf(stderr, "sb_stream_create: %s\n", sb_last_error());
    }
    ~Fixture() { sb_stream_destroy(stream); }
    vtkCamera *Camera() { return scene.renderer->GetActiveCamera(); }
    sb_stream_stats Stats()
    {
        sb_stream_stats st{};
        st.version = SB_STREAM_STATS_VERSION;
        sb_stream_get_stats(stream, &st);
        return st;
    }
};

const int cx = kSceneW / 2, cy = kSceneH / 2;

void test_left_drag_right_rotates_camera_azimuth()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    const double d0 = CameraDistance(f.scene.renderer);
    PushDrag(f.stream, SB_BUTTON_LEFT, 0, cx, cy, cx + 60, cy);
    CU_ASSERT(sb_stream_pump(f.stream, 0) >= 3);
    double pos[3];
    f.Camera()->GetPosition(pos);
    // Dragging right turns the scene right: the camera swings to -x around the focal point,
    // at the same distance and height.
    CU_ASSERT(pos[0] < -1.0);
    CU_ASSERT(std::fabs(pos[1]) < 1e-6);
    CU_ASSERT(std::fabs(CameraDistance(f.scene.renderer) - d0) < 1e-6);
}

void test_left_drag_down_rotates_camera_elevation()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    PushDrag(f.stream, SB_BUTTON_LEFT, 0, cx, cy, cx, cy + 40);
    CU_ASSERT(sb_stream_pump(f.stream, 0) >= 3);
    double pos[3];
    f.Camera()->GetPosition(pos);
    // Dragging down (top-left coordinates: y grows) tilts the scene's top towards the viewer:
    // the camera rises above it. Proves the y flip.
    CU_ASSERT(pos[1] > 1.0);
}

void test_wheel_forward_zooms_in_backward_out()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    const double d0 = CameraDistance(f.scene.renderer);
    sb_event e = MakeEvent(SB_EVENT_WHEEL, cx, cy);
    e.wheel_delta = 1.0f;
    Push(f.stream, e);
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 1);
    const double d1 = CameraDistance(f.scene.renderer);
    CU_ASSERT(d1 < d0);
    e.wheel_delta = -1.0f;
    Push(f.stream, e);
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 1);
    CU_ASSERT(std::fabs(CameraDistance(f.scene.renderer) - d0) < 1e-6);
}

void test_wheel_delta_counts_notches()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    const double d0 = CameraDistance(f.scene.renderer);
    sb_event e = MakeEvent(SB_EVENT_WHEEL, cx, cy);
    e.wheel_delta = 1.0f;
    Push(f.stream, e);
    sb_stream_pump(f.stream, 0);
    const double one_notch_ratio = CameraDistance(f.scene.renderer) / d0;
    const double d1 = CameraDistance(f.scene.renderer);
    e.wheel_delta = 3.0f;
    Push(f.stream, e);
    sb_stream_pump(f.stream, 0);
    const double three_notch_ratio = CameraDistance(f.scene.renderer) / d1;
    CU_ASSERT(std::fabs(three_notch_ratio - std::pow(one_notch_ratio, 3)) < 1e-9);
}

void test_right_drag_up_dollies_in()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    const double d0 = CameraDistance(f.scene.renderer);
    PushDrag(f.stream, SB_BUTTON_RIGHT, 0, cx, cy, cx, cy - 50);
    sb_stream_pump(f.stream, 0);
    double dir[3];
    f.Camera()->GetDirectionOfProjection(dir);
    CU_ASSERT(CameraDistance(f.scene.renderer) < d0 * 0.9);
    CU_ASSERT(std::fabs(dir[2] + 1.0) < 1e-6); // still looking straight down -z: no rotation
}

void test_shift_left_drag_pans()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    PushDrag(f.stream, SB_BUTTON_LEFT, SB_MOD_SHIFT, cx, cy, cx + 50, cy);
    sb_stream_pump(f.stream, 0);
    double fp[3], dir[3];
    f.Camera()->GetFocalPoint(fp);
    f.Camera()->GetDirectionOfProjection(dir);
    // Pan drags the scene with the pointer: the camera and its focal point move to -x, the
    // view direction is unchanged.
    CU_ASSERT(fp[0] < -0.5);
    CU_ASSERT(std::fabs(dir[2] + 1.0) < 1e-6);
}

void test_ctrl_left_drag_spins()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    // A quarter turn around the centre, starting right of it.
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_PRESS, cx + 50, cy, SB_BUTTON_LEFT, SB_MOD_CTRL));
    Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, cx, cy - 50, SB_BUTTON_LEFT, SB_MOD_CTRL));
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_RELEASE, cx, cy - 50, SB_BUTTON_LEFT, SB_MOD_CTRL));
    sb_stream_pump(f.stream, 0);
    double up[3], pos[3];
    f.Camera()->GetViewUp(up);
    f.Camera()->GetPosition(pos);
    CU_ASSERT(std::fabs(up[0]) > 0.9); // view-up turned by about 90 degrees
    CU_ASSERT(std::fabs(pos[0]) < 1e-6 && std::fabs(pos[1]) < 1e-6); // position unchanged
}

// Moves the camera 200 units out (far from where a reset puts it), then queues these events
// and pumps them; returns what sb_stream_pump() returns.
int PumpWithCameraMovedAway(Fixture &f, std::initializer_list<sb_event> events)
{
    f.Camera()->SetPosition(0, 0, 200);
    for (const sb_event &e : events)
        Push(f.stream, e);
    return sb_stream_pump(f.stream, 0);
}

void test_key_r_resets_camera()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    CU_ASSERT_EQUAL(PumpWithCameraMovedAway(f, {MakeKey(SB_EVENT_KEY_PRESS, 'r', "r"),
                                                MakeKey(SB_EVENT_KEY_RELEASE, 'r', "r")}),
                    2);
    CU_ASSERT(CameraDistance(f.scene.renderer) < 50.0);
}

void test_char_event_alone_resets_camera()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    CU_ASSERT_EQUAL(PumpWithCameraMovedAway(f, {MakeKey(SB_EVENT_CHAR, 'r', "r")}), 1);
    CU_ASSERT(CameraDistance(f.scene.renderer) < 50.0);
}

void test_key_release_alone_does_not_type()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    CU_ASSERT_EQUAL(PumpWithCameraMovedAway(f, {MakeKey(SB_EVENT_KEY_RELEASE, 'r', "r")}), 1);
    CU_ASSERT(CameraDistance(f.scene.renderer) > 150.0);
}

struct Seen {
    std::vector<unsigned long> events;
    int x = -1, y = -1, ctrl = -1, shift = -1, alt = -1;
    char key_code = 0;
    std::string keysym;
};

void RecordEvent(vtkObject *caller, unsigned long eid, void *client_data, void *)
{
    auto *seen = static_cast<Seen *>(client_data);
    auto *iren = static_cast<vtkRenderWindowInteractor *>(caller);
    seen->events.push_back(eid);
    seen->x = iren->GetEventPosition()[0];
    seen->y = iren->GetEventPosition()[1];
    seen->ctrl = iren->GetControlKey();
    seen->shift = iren->GetShiftKey();
    seen->alt = iren->GetAltKey();
    seen->key_code = iren->GetKeyCode();
    seen->keysym = iren->GetKeySym() ? iren->GetKeySym() : "";
}

void Observe(vtkRenderWindowInteractor *iren, Seen *seen, std::initializer_list<unsigned long> ids)
{
    vtkNew<vtkCallbackCommand> cb;
    cb->SetCallback(RecordEvent);
    cb->SetClientData(seen);
    for (unsigned long id : ids)
        iren->AddObserver(id, cb);
}

void test_app_observers_see_flipped_position_and_modifiers()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    Seen seen;
    Observe(f.scene.window->GetInteractor(), &seen, {vtkCommand::MiddleButtonPressEvent});
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_PRESS, 10, 20, SB_BUTTON_MIDDLE,
                             SB_MOD_CTRL | SB_MOD_ALT));
    sb_stream_pump(f.stream, 0);
    CU_ASSERT_EQUAL(seen.events.size(), 1u);
    CU_ASSERT_EQUAL(seen.x, 10);
    CU_ASSERT_EQUAL(seen.y, kSceneH - 1 - 20);
    CU_ASSERT_EQUAL(seen.ctrl, 1);
    CU_ASSERT_EQUAL(seen.shift, 0);
    CU_ASSERT_EQUAL(seen.alt, 1);
}

void test_key_press_gives_keypress_and_char_with_keysym()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    Seen seen;
    Observe(f.scene.window->GetInteractor(), &seen,
            {vtkCommand::KeyPressEvent, vtkCommand::CharEvent, vtkCommand::KeyReleaseEvent});
    sb_event e = MakeKey(SB_EVENT_KEY_PRESS, 'x', "x");
    e.modifiers = SB_MOD_SHIFT;
    Push(f.stream, e);
    sb_stream_pump(f.stream, 0);
    CU_ASSERT_EQUAL_FATAL(seen.events.size(), 2u);
    CU_ASSERT_EQUAL(seen.events[0], vtkCommand::KeyPressEvent);
    CU_ASSERT_EQUAL(seen.events[1], vtkCommand::CharEvent);
    CU_ASSERT_EQUAL(seen.key_code, 'x');
    CU_ASSERT_EQUAL(seen.keysym, "x");
    CU_ASSERT_EQUAL(seen.shift, 1);
    // A non-printable key: press only, keysym carried, no character.
    seen.events.clear();
    Push(f.stream, MakeKey(SB_EVENT_KEY_PRESS, 0, "Left"));
    Push(f.stream, MakeKey(SB_EVENT_KEY_RELEASE, 0, "Left"));
    sb_stream_pump(f.stream, 0);
    CU_ASSERT_EQUAL_FATAL(seen.events.size(), 2u);
    CU_ASSERT_EQUAL(seen.events[0], vtkCommand::KeyPressEvent);
    CU_ASSERT_EQUAL(seen.events[1], vtkCommand::KeyReleaseEvent);
    CU_ASSERT_EQUAL(seen.keysym, "Left");
}

void test_consecutive_moves_coalesced()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    Seen seen;
    Observe(f.scene.window->GetInteractor(), &seen, {vtkCommand::MouseMoveEvent});
    for (int i = 0; i < 10; i++)
        Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, 10 + i, 10));
    // A different modifier starts a new run; the press in between ends one too.
    Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, 30, 10, 0, SB_MOD_SHIFT));
    Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, 31, 10, 0, SB_MOD_SHIFT));
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_PRESS, 31, 10, SB_BUTTON_RIGHT));
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_RELEASE, 31, 10, SB_BUTTON_RIGHT));
    // (Moves while a style holds a button go to the style alone: VTK's focus grab.)
    for (int i = 0; i < 3; i++)
        Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, 40 + i, 10));
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 5);
    CU_ASSERT_EQUAL(seen.events.size(), 3u);
    CU_ASSERT_EQUAL(f.Stats().events_replayed, 5u);
}

void test_one_render_per_batch_none_when_empty()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    const sb_stream_stats s0 = f.Stats();
    PushDrag(f.stream, SB_BUTTON_LEFT, 0, cx, cy, cx + 30, cy, 1);
    PushDrag(f.stream, SB_BUTTON_LEFT, 0, cx, cy, cx - 30, cy + 10, 1);
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 6);
    const sb_stream_stats s1 = f.Stats();
    CU_ASSERT_EQUAL(s1.frames_captured - s0.frames_captured, 1u);
    CU_ASSERT_EQUAL(s1.renders_requested - s0.renders_requested, 1u);
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 0);
    const sb_stream_stats s2 = f.Stats();
    CU_ASSERT_EQUAL(s2.frames_captured, s1.frames_captured);
    CU_ASSERT_EQUAL(s2.renders_requested, s1.renders_requested);
}

void test_resize_event_changes_frame_size_clamped_to_max()
{
    TestScene scene = MakeScene(true);
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.max_width = 400;
    o.max_height = 300;
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, &o, &s) == SB_OK);
    sb_event e = MakeEvent(SB_EVENT_RESIZE, 0, 0);
    e.width = 200;
    e.height = 150;
    Push(s, e);
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 1);
    Rgb c{};
    sb_frame_info info{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), 100, 75, &c, &info));
    CU_ASSERT_EQUAL(info.width, 200u);
    CU_ASSERT_EQUAL(info.height, 150u);
    CU_ASSERT(IsColour(c, 255, 0, 0));
    e.width = 5000;
    e.height = 100;
    Push(s, e);
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 1);
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), 0, 0, &c, &info));
    CU_ASSERT_EQUAL(info.width, 400u);
    CU_ASSERT_EQUAL(info.height, 100u);
    sb_stream_destroy(s);
}

void test_out_of_window_events_counted_and_skipped()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    double pos0[3];
    f.Camera()->GetPosition(pos0);
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_PRESS, kSceneW + 100, 10, SB_BUTTON_LEFT));
    Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, -5, 10, SB_BUTTON_LEFT));
    sb_event w = MakeEvent(SB_EVENT_WHEEL, 10, kSceneH);
    w.wheel_delta = 1.0f;
    Push(f.stream, w);
    Push(f.stream, MakeEvent(SB_EVENT_POINTER_MOVE, 10, 10)); // a good one after them
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 1);
    CU_ASSERT_EQUAL(f.Stats().events_invalid, 3u);
    double pos1[3];
    f.Camera()->GetPosition(pos1);
    CU_ASSERT(pos0[0] == pos1[0] && pos0[1] == pos1[1] && pos0[2] == pos1[2]);
}

void test_release_outside_window_still_ends_drag()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    auto *style = vtkInteractorStyle::SafeDownCast(
        f.scene.window->GetInteractor()->GetInteractorStyle());
    CU_ASSERT_FATAL(style != nullptr);
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_PRESS, cx, cy, SB_BUTTON_LEFT));
    Push(f.stream, MakeEvent(SB_EVENT_BUTTON_RELEASE, kSceneW + 50, cy, SB_BUTTON_LEFT));
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 2);
    CU_ASSERT_EQUAL(style->GetState(), VTKIS_NONE);
}

void test_pump_waits_for_first_event()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    sb_event_queue *q = sb_stream_event_queue(f.stream);
    std::thread producer([q] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        sb_event e = MakeEvent(SB_EVENT_POINTER_MOVE, 5, 5);
        sb_event_queue_push(q, &e);
    });
    // Generous timeout: the pump returns as soon as the event arrives, with it replayed.
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 10000), 1);
    producer.join();
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 0);
}

// The application runs the real X interactor's event loop (iren->Start()); our timer drains the
// queue: a replayed key makes the application's own observer end the loop.
struct LoopState {
    vtkRenderWindowInteractor *iren = nullptr;
    int app_timer = 0;
    std::vector<int> timer_ids_seen;
    bool key_seen = false;
};

void OnAppKey(vtkObject *, unsigned long, void *client_data, void *)
{
    auto *st = static_cast<LoopState *>(client_data);
    if (st->iren->GetKeySym() && std::string(st->iren->GetKeySym()) == "x") {
        st->key_seen = true;
        st->iren->TerminateApp();
    }
}

void OnAppTimer(vtkObject *, unsigned long, void *client_data, void *call_data)
{
    auto *st = static_cast<LoopState *>(client_data);
    const int id = call_data ? *static_cast<int *>(call_data) : -1;
    st->timer_ids_seen.push_back(id);
    if (id == st->app_timer)
        st->iren->TerminateApp(); // the safety net: the test fails instead of hanging
}

void test_interactor_timer_replays_during_start()
{
    TestScene scene = MakeScene(false);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    vtkNew<vtkInteractorStyleTrackballCamera> style;
    iren->SetInteractorStyle(style);
    iren->Initialize();
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);

    LoopState st;
    st.iren = iren;
    vtkNew<vtkCallbackCommand> key_cb;
    key_cb->SetCallback(OnAppKey);
    key_cb->SetClientData(&st);
    iren->AddObserver(vtkCommand::KeyPressEvent, key_cb);
    vtkNew<vtkCallbackCommand> timer_cb;
    timer_cb->SetCallback(OnAppTimer);
    timer_cb->SetClientData(&st);
    iren->AddObserver(vtkCommand::TimerEvent, timer_cb);
    st.app_timer = iren->CreateOneShotTimer(20000);

    Push(s, MakeKey(SB_EVENT_KEY_PRESS, 'x', "x"));
    iren->Start();
    CU_ASSERT(st.key_seen);
    // Our timer's ticks are hidden from the application's timer observers.
    for (int id : st.timer_ids_seen)
        CU_ASSERT_EQUAL(id, st.app_timer);
    iren->DestroyTimer(st.app_timer);
    sb_stream_destroy(s);
}

// A drag arriving the way a network client sends it: the press, the moves and the release each
// land in the queue at a different timer tick while the application runs iren->Start().
// The trackball style grabs the interactor's focus on the press; from then on VTK hands every
// TimerEvent to the focus holder alone. If our tick observer were an ordinary one, the queue would
// never be drained again: the release would never be replayed, the style would stay in its
// rotate state and re-render on every tick, and the application's own timers would starve.
struct DragLoop {
    vtkRenderWindowInteractor *iren = nullptr;
    vtkCamera *camera = nullptr;
    sb_frame_ring *ring = nullptr;
    std::chrono::steady_clock::time_point start;
    // Samples (render thread, from a passive timer observer, which VTK calls whatever the focus).
    std::atomic<int> phase{0};   // set by the producer thread: 1 = holding still, 2 = released
    std::atomic<bool> finished{false};  // set by the producer thread: end the event loop
    uint64_t seq_hold_start = 0, seq_hold_end = 0, seq_quiet_start = 0, seq_quiet_end = 0;
    double pos_hold_start[3] = {0, 0, 0}, pos_hold_end[3] = {0, 0, 0};
    std::atomic<int> hold_samples{0}, quiet_samples{0};
    double deadline_s = 0;  // safety net only: the loop ends even if the producer never finishes
};

void OnDragLoopTick(vtkObject *, unsigned long, void *client_data, void *)
{
    auto *st = static_cast<DragLoop *>(client_data);
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - st->start).count();
    const uint64_t seq = sb_frame_ring_latest_seq(st->ring);
    const int phase = st->phase.load();
    if (phase == 1) {
        // The producer holds the button still: from 100 ms after the last move on, nothing
        // may move or render.
        if (st->hold_samples == 0) {
            st->seq_hold_start = seq;
            st->camera->GetPosition(st->pos_hold_start);
        }
        st->seq_hold_end = seq;
        st->camera->GetPosition(st->pos_hold_end);
        st->hold_samples++;
    } else if (phase == 2) {
        if (st->quiet_samples == 0)
            st->seq_quiet_start = seq;
        st->seq_quiet_end = seq;
        st->quiet_samples++;
    }
    if (st->finished.load() || t > st->deadline_s)
        st->iren->TerminateApp();
}

void test_drag_over_many_ticks_ends_and_goes_quiet_during_start()
{
    TestScene scene = MakeScene(false);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    vtkNew<vtkInteractorStyleTrackballCamera> style;
    iren->SetInteractorStyle(style);
    iren->Initialize();
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    scene.window->Render();

    DragLoop st;
    st.iren = iren;
    st.camera = scene.renderer->GetActiveCamera();
    st.ring = sb_stream_frame_ring(s);
    st.deadline_s = 120.0;
    double pos0[3];
    st.camera->GetPosition(pos0);
    vtkNew<vtkCallbackCommand> sampler;
    sampler->SetCallback(OnDragLoopTick);
    sampler->SetClientData(&st);
    sampler->PassiveObserverOn();
    // No timer of its own: an application timer reaches a focus holder too, and the trackball
    // style renders on every tick of it during a drag (plain VTK does the same). The sampler
    // runs on the stream's ticks.
    iren->AddObserver(vtkCommand::TimerEvent, sampler);

    const int pushed = 2 + 8 + 1;
    // The producer paces the drag by conditions, not by a clock: each event is pushed once the
    // previous one was taken from the queue (so each lands in a different tick), and each phase
    // lasts until the sampler has seen enough ticks of it. A loaded machine is only slower.
    sb_event_queue *queue = sb_stream_event_queue(s);
    std::thread producer([&st, s, queue] {
        auto wait_for = [](const std::function<bool()> &cond) {
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (!cond() && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(5)); // poll interval
        };
        auto drained = [queue] {
            sb_event_queue_stats qs{};
            qs.version = SB_EVENT_QUEUE_STATS_VERSION;
            sb_event_queue_get_stats(queue, &qs);
            return qs.depth == 0;
        };
        auto push_alone = [&](const sb_event &e) {
            Push(s, e);
            wait_for(drained);
        };
        push_alone(MakeEvent(SB_EVENT_POINTER_MOVE, cx, cy));
        push_alone(MakeEvent(SB_EVENT_BUTTON_PRESS, cx, cy, SB_BUTTON_LEFT));
        for (int i = 1; i <= 8; i++)
            push_alone(MakeEvent(SB_EVENT_POINTER_MOVE, cx + 8 * i, cy + 2 * i, SB_BUTTON_LEFT));
        st.phase = 1; // the button is held, the pointer does not move
        wait_for([&st] { return st.hold_samples.load() > 10; });
        st.phase = 0;
        push_alone(MakeEvent(SB_EVENT_BUTTON_RELEASE, cx + 64, cy + 16, SB_BUTTON_LEFT));
        st.phase = 2; // released: the scene is at rest
        wait_for([&st] { return st.quiet_samples.load() > 25; });
        st.finished = true;
    });
    st.start = std::chrono::steady_clock::now();
    iren->Start();
    producer.join();
    iren->RemoveObserver(sampler);

    sb_stream_stats stats{};

    stats.version = SB_STREAM_STATS_VERSION;
    sb_stream_get_stats(s, &stats);
    double pos1[3];
    st.camera->GetPosition(pos1);
    std::printf("\n  replayed %llu of %d, frames during hold %llu, after release %llu (%d/%d samples)\n",
                static_cast<unsigned long long>(stats.events_replayed), pushed,
                static_cast<unsigned long long>(st.seq_hold_end - st.seq_hold_start),
                static_cast<unsigned long long>(st.seq_quiet_end - st.seq_quiet_start),
                st.hold_samples.load(), st.quiet_samples.load());
    // Every event, the release included, was replayed while the style held the focus: the queue
    // is empty and the style is out of its rotate state.
    sb_event_queue_stats qs{};
    qs.version = SB_EVENT_QUEUE_STATS_VERSION;
    sb_event_queue_get_stats(sb_stream_event_queue(s), &qs);
    CU_ASSERT_EQUAL(qs.depth, 0u);
    CU_ASSERT_EQUAL(style->GetState(), 0); // VTKIS_NONE
    CU_ASSERT(std::fabs(pos1[0] - pos0[0]) > 0.5); // the drag rotated the camera
    CU_ASSERT(st.hold_samples > 10);
    CU_ASSERT(st.quiet_samples > 25);
    // Holding the button still neither moves the camera (our ticks are no pointer motion) nor
    // renders.
    CU_ASSERT(std::fabs(st.pos_hold_end[0] - st.pos_hold_start[0]) < 1e-9);
    CU_ASSERT(std::fabs(st.pos_hold_end[1] - st.pos_hold_start[1]) < 1e-9);
    CU_ASSERT_EQUAL(st.seq_hold_end, st.seq_hold_start);
    // After the release: no new frame for the rest of the run (over 25 ticks).
    CU_ASSERT_EQUAL(st.seq_quiet_end, st.seq_quiet_start);
    sb_stream_destroy(s);
}


// A record that is not a valid event can only reach the replay through a corrupted shared
// segment (push validates). Corrupt one in place and check it is counted and skipped.
void test_corrupted_unknown_event_counted_not_fatal()
{
    TestScene scene = MakeScene(true);
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.shm_name = "";
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, &o, &s) == SB_OK);
    const uint64_t marker = 0x5B5B0DDEC0DEF00Dull;
    sb_event bad = MakeEvent(SB_EVENT_POINTER_MOVE, 3, 3);
    bad.timestamp_ns = marker;
    Push(s, bad);
    Push(s, MakeEvent(SB_EVENT_POINTER_MOVE, 7, 7, 0, SB_MOD_SHIFT)); // a good one after it

    const std::string path = std::string("/dev/shm/streambridge-") +
                             sb_event_queue_name(sb_stream_event_queue(s)) + "-events";
    int fd = open(path.c_str(), O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    struct stat st;
    fstat(fd, &st);
    auto *base = static_cast<uint8_t *>(
        mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    close(fd);
    CU_ASSERT_FATAL(base != MAP_FAILED);
    bool corrupted = false;
    for (size_t off = 0; off + sizeof(sb_event) <= static_cast<size_t>(st.st_size); off += 8) {
        sb_event *rec = reinterpret_cast<sb_event *>(base + off);
        if (rec->timestamp_ns == marker && rec->type == SB_EVENT_POINTER_MOVE && rec->x == 3) {
            rec->type = 99; // unknown
            corrupted = true;
            break;
        }
    }
    munmap(base, static_cast<size_t>(st.st_size));
    CU_ASSERT_FATAL(corrupted);

    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 1);
    sb_stream_stats stats{};
    stats.version = SB_STREAM_STATS_VERSION;
    sb_stream_get_stats(s, &stats);
    CU_ASSERT_EQUAL(stats.events_invalid, 1u);
    CU_ASSERT_EQUAL(stats.events_replayed, 1u);
    sb_stream_destroy(s);
}

CU_TestInfo replay_tests[] = {
    {"left_drag_right_rotates_camera_azimuth", test_left_drag_right_rotates_camera_azimuth},
    {"left_drag_down_rotates_camera_elevation", test_left_drag_down_rotates_camera_elevation},
    {"wheel_forward_zooms_in_backward_out", test_wheel_forward_zooms_in_backward_out},
    {"wheel_delta_counts_notches", test_wheel_delta_counts_notches},
    {"right_drag_up_dollies_in", test_right_drag_up_dollies_in},
    {"shift_left_drag_pans", test_shift_left_drag_pans},
    {"ctrl_left_drag_spins", test_ctrl_left_drag_spins},
    {"key_r_resets_camera", test_key_r_resets_camera},
    {"char_event_alone_resets_camera", test_char_event_alone_resets_camera},
    {"key_release_alone_does_not_type", test_key_release_alone_does_not_type},
    {"app_observers_see_flipped_position_and_modifiers",
     test_app_observers_see_flipped_position_and_modifiers},
    {"key_press_gives_keypress_and_char_with_keysym",
     test_key_press_gives_keypress_and_char_with_keysym},
    {"consecutive_moves_coalesced", test_consecutive_moves_coalesced},
    {"one_render_per_batch_none_when_empty", test_one_render_per_batch_none_when_empty},
    {"resize_event_changes_frame_size_clamped_to_max",
     test_resize_event_changes_frame_size_clamped_to_max},
    {"out_of_window_events_counted_and_skipped", test_out_of_window_events_counted_and_skipped},
    {"release_outside_window_still_ends_drag", test_release_outside_window_still_ends_drag},
    {"pump_waits_for_first_event", test_pump_waits_for_first_event},
    {"corrupted_unknown_event_counted_not_fatal", test_corrupted_unknown_event_counted_not_fatal},
    {"interactor_timer_replays_during_start", test_interactor_timer_replays_during_start},
    {"drag_over_many_ticks_ends_and_goes_quiet_during_start",
     test_drag_over_many_ticks_ends_and_goes_quiet_during_start},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"vtk_replay", nullptr, nullptr, nullptr, nullptr, replay_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
