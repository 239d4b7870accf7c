// test_vtk_remote_exit.cxx - browser input never ends the application unless it opts in.
//
// VTK's interactor styles answer the characters q, Q, e and E with rwi->ExitCallback(), which
// invokes ExitEvent when the interactor has an ExitEvent observer and calls TerminateApp()
// otherwise. These tests replay those keys through the stream and check who hears about it:
// nobody by default, the application with allow_remote_exit = 1, and a local (not replayed)
// key exactly as before.
#include "sb_cunit.h"
#include "vtk_test_scene.h"

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkOutputWindow.h>
#include <vtkRenderWindowInteractor.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

const char kExitKeys[] = {'q', 'e', 'Q', 'E'};

// A stream on an offscreen window without an interactor: the stream makes a generic one with
// VTK's trackball-camera style (a vtkInteractorStyle, whose OnChar() has the exit keys).
struct Fixture {
    TestScene scene = MakeScene(true);
    sb_stream *stream = nullptr;
    explicit Fixture(int allow_remote_exit = 0)
    {
        scene.window->Render();
        sb_stream_options o;
        sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
        o.allow_remote_exit = allow_remote_exit;
        if (sb_stream_create(scene.window, &o, &stream) != SB_OK)
            std::fprintf(stderr, "sb_stream_create: %s\n", sb_last_error());
    }
    ~Fixture() { sb_stream_destroy(stream); }
    vtkRenderWindowInteractor *Interactor() { return scene.window->GetInteractor(); }
};

// Every way a browser can type c: a press (KeyPress + Char), a bare Char, a release.
void PushAllKeyEventsFor(sb_stream *s, char c)
{
    const char keysym[2] = {c, '\0'};
    Push(s, MakeKey(SB_EVENT_KEY_PRESS, c, keysym));
    Push(s, MakeKey(SB_EVENT_CHAR, c, keysym));
    Push(s, MakeKey(SB_EVENT_KEY_RELEASE, c, keysym));
}

// Each exit key, typed by a press and by a bare char: 2 exit requests per key.
constexpr int kExitRequestsPerKey = 2;

struct ExitSeen {
    int count = 0;
};

void CountExit(vtkObject *, unsigned long, void *client_data, void *)
{
    static_cast<ExitSeen *>(client_data)->count++;
}

unsigned long ObserveExit(vtkRenderWindowInteractor *iren, ExitSeen *seen, float priority)
{
    vtkNew<vtkCallbackCommand> cb;
    cb->SetCallback(CountExit);
    cb->SetClientData(seen);
    return iren->AddObserver(vtkCommand::ExitEvent, cb, priority);
}

// Types c on the interactor itself, as its X event loop does for a local key.
void TypeLocally(vtkRenderWindowInteractor *iren, char c)
{
    const char keysym[2] = {c, '\0'};
    iren->SetKeyEventInformation(0, 0, c, 0, keysym);
    iren->InvokeEvent(vtkCommand::KeyPressEvent, nullptr);
    iren->InvokeEvent(vtkCommand::CharEvent, nullptr);
    iren->InvokeEvent(vtkCommand::KeyReleaseEvent, nullptr);
}

void test_replayed_exit_keys_never_terminate_by_default()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    vtkRenderWindowInteractor *iren = f.Interactor();
    CU_ASSERT_FATAL(iren != nullptr);
    for (char c : kExitKeys) {
        PushAllKeyEventsFor(f.stream, c);
        CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 3);
        CU_ASSERT_FALSE(iren->GetDone()); // TerminateApp() was never called
    }
    // A local exit key still does what VTK does with no ExitEvent observer: TerminateApp().
    TypeLocally(iren, 'q');
    CU_ASSERT_TRUE(iren->GetDone());
}

void test_replayed_exit_keys_never_reach_app_exit_observers()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    vtkRenderWindowInteractor *iren = f.Interactor();
    CU_ASSERT_FATAL(iren != nullptr);
    ExitSeen normal, eager;
    const unsigned long t1 = ObserveExit(iren, &normal, 0.0f);
    const unsigned long t2 = ObserveExit(iren, &eager, 1000.0f); // ahead of the styles, too
    for (char c : kExitKeys)
        PushAllKeyEventsFor(f.stream, c);
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 3 * 4);
    CU_ASSERT_EQUAL(normal.count, 0);
    CU_ASSERT_EQUAL(eager.count, 0);
    CU_ASSERT_FALSE(iren->GetDone());
    // The application's observers are still there and still hear a local key.
    TypeLocally(iren, 'q');
    CU_ASSERT_EQUAL(normal.count, 1);
    CU_ASSERT_EQUAL(eager.count, 1);
    iren->RemoveObserver(t1);
    iren->RemoveObserver(t2);
}

void test_allow_remote_exit_lets_replayed_exit_keys_through()
{
    {
        Fixture f(1);
        CU_ASSERT_FATAL(f.stream != nullptr);
        vtkRenderWindowInteractor *iren = f.Interactor();
        CU_ASSERT_FATAL(iren != nullptr);
        ExitSeen seen;
        const unsigned long tag = ObserveExit(iren, &seen, 0.0f);
        for (char c : kExitKeys)
            PushAllKeyEventsFor(f.stream, c);
        CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 3 * 4);
        CU_ASSERT_EQUAL(seen.count, kExitRequestsPerKey * 4);
        iren->RemoveObserver(tag);
    }
    {
        // Without an application observer, VTK ends the event loop: TerminateApp().
        Fixture f(1);
        CU_ASSERT_FATAL(f.stream != nullptr);
        PushAllKeyEventsFor(f.stream, 'q');
        CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 3);
        CU_ASSERT_TRUE(f.Interactor()->GetDone());
    }
}

void test_local_exit_key_still_reaches_exit_callback()
{
    Fixture f;
    CU_ASSERT_FATAL(f.stream != nullptr);
    vtkRenderWindowInteractor *iren = f.Interactor();
    CU_ASSERT_FATAL(iren != nullptr);
    // A replayed batch first, so the stream has been through its guard at least once.
    PushAllKeyEventsFor(f.stream, 'q');
    CU_ASSERT_EQUAL(sb_stream_pump(f.stream, 0), 3);
    CU_ASSERT_FALSE(iren->GetDone());
    ExitSeen seen;
    const unsigned long tag = ObserveExit(iren, &seen, 0.0f);
    TypeLocally(iren, 'e');
    CU_ASSERT_EQUAL(seen.count, 1);
    iren->RemoveObserver(tag);
    // No observer at all: the local key terminates as VTK always did.
    TypeLocally(iren, 'q');
    CU_ASSERT_TRUE(iren->GetDone());
}

// Counts VTK's "Passive observer should not call AddObserver or RemoveObserver in callback"
// warnings while it lives.
struct PassiveWarnings {
    int count = 0;
    unsigned long tag = 0;
    PassiveWarnings()
    {
        vtkNew<vtkCallbackCommand> cb;
        cb->SetCallback([](vtkObject *, unsigned long, void *client_data, void *call_data) {
            const char *text = static_cast<const char *>(call_data);
            if (text && std::strstr(text, "Passive observer"))
                static_cast<PassiveWarnings *>(client_data)->count++;
        });
        cb->SetClientData(this);
        tag = vtkOutputWindow::GetInstance()->AddObserver(vtkCommand::WarningEvent, cb);
    }
    ~PassiveWarnings() { vtkOutputWindow::GetInstance()->RemoveObserver(tag); }
};

// The real X interactor's event loop (iren->Start()), with no ExitEvent observer, as in most
// applications: there, an exit key reaching ExitCallback() calls TerminateApp() and Start()
// returns. Replayed exit keys must not end the loop. The last replayed key's release queues one
// more key, 'x', which can only be replayed at a later tick of the loop; the application ends
// the loop itself when it sees 'x'. Had any exit key terminated the loop, 'x' would never be
// seen.
struct LoopState {
    vtkRenderWindowInteractor *iren = nullptr;
    sb_stream *stream = nullptr;
    int safety_timer = 0;
    bool x_queued = false;
    bool x_seen = false;
};

void OnLoopKeyRelease(vtkObject *, unsigned long, void *client_data, void *)
{
    auto *st = static_cast<LoopState *>(client_data);
    const char *keysym = st->iren->GetKeySym();
    if (keysym && std::string(keysym) == "E" && !st->x_queued) {
        st->x_queued = true;
        Push(st->stream, MakeKey(SB_EVENT_KEY_PRESS, 'x', "x"));
    }
}

void OnLoopKeyPress(vtkObject *, unsigned long, void *client_data, void *)
{
    auto *st = static_cast<LoopState *>(client_data);
    const char *keysym = st->iren->GetKeySym();
    if (keysym && std::string(keysym) == "x") {
        st->x_seen = true;
        st->iren->TerminateApp();
    }
}

void OnLoopTimer(vtkObject *, unsigned long, void *client_data, void *call_data)
{
    auto *st = static_cast<LoopState *>(client_data);
    if (call_data && *static_cast<int *>(call_data) == st->safety_timer)
        st->iren->TerminateApp(); // the test fails instead of hanging
}

void test_replayed_exit_keys_keep_x_event_loop_running()
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
    st.stream = s;
    auto observe = [&](unsigned long event, void (*fn)(vtkObject *, unsigned long, void *, void *)) {
        vtkNew<vtkCallbackCommand> cb;
        cb->SetCallback(fn);
        cb->SetClientData(&st);
        return iren->AddObserver(event, cb);
    };
    observe(vtkCommand::KeyReleaseEvent, OnLoopKeyRelease);
    observe(vtkCommand::KeyPressEvent, OnLoopKeyPress);
    observe(vtkCommand::TimerEvent, OnLoopTimer);
    // Generous: the loop normally ends within a few ticks.
    st.safety_timer = iren->CreateOneShotTimer(30000);

    // The batches run inside the stream's passive timer observer, where VTK warns about every
    // observer added or removed ("Passive observer should not call AddObserver or RemoveObserver
    // in callback"): the exit guard must not be one of them.
    PassiveWarnings warnings;
    for (char c : kExitKeys)
        PushAllKeyEventsFor(s, c);
    iren->Start();
    CU_ASSERT_TRUE(st.x_queued);
    CU_ASSERT_TRUE(st.x_seen);
    CU_ASSERT_EQUAL(warnings.count, 0);
    iren->DestroyTimer(st.safety_timer);
    sb_stream_destroy(s);
}

CU_TestInfo remote_exit_tests[] = {
    {"replayed_exit_keys_never_terminate_by_default",
     test_replayed_exit_keys_never_terminate_by_default},
    {"replayed_exit_keys_never_reach_app_exit_observers",
     test_replayed_exit_keys_never_reach_app_exit_observers},
    {"allow_remote_exit_lets_replayed_exit_keys_through",
     test_allow_remote_exit_lets_replayed_exit_keys_through},
    {"local_exit_key_still_reaches_exit_callback", test_local_exit_key_still_reaches_exit_callback},
    {"replayed_exit_keys_keep_x_event_loop_running",
     test_replayed_exit_keys_keep_x_event_loop_running},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"vtk_remote_exit", nullptr, nullptr, nullptr, nullptr, remote_exit_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
