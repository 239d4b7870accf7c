// vtk_replay.cxx - see vtk_replay.h.
#include "vtk_replay.h"

#include "sb_clock.h"
#include "sb_error_internal.h"
#include "streambridge/events.h"

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkNew.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace sb {

namespace {

// One drain takes at most this many events, so producers pushing faster than we replay cannot
// keep the render thread in the drain forever; the rest waits for the next tick.
constexpr size_t kMaxEventsPerDrain = 4096;
constexpr size_t kPopChunk = 256;
// A wheel record carries notches; more than this in one record is a broken client, not a wheel.
constexpr int kMaxWheelNotches = 50;
// While input flows, a second, fast timer drains the queue every kFastTickMs, so an event waits
// about a millisecond for the render thread instead of up to a whole timer_interval_ms tick
// (bench_latency measured that wait at p50 4.9 / p90 9.2 / max 23 ms with the 10 ms default:
// VTK 9.1's X interactor fires a 10 ms timer every 10..20 ms). It runs only until no input has
// come for kFastLingerNs, so an idle window costs what it did before.
constexpr unsigned long kFastTickMs = 1;
constexpr uint64_t kFastLingerNs = 500ull * 1000 * 1000;
// Our timer observer runs before interactor styles (priority 0) so it can hide our ticks.
constexpr float kTimerObserverPriority = 100.0f;
// Our ExitEvent observer runs before any the application has (VTK calls higher priorities
// first), so it can abort the event before them.
constexpr float kExitGuardPriority = std::numeric_limits<float>::max();
// What our passive observer watches: our ticks, and every event the interactor's event loop
// dispatches after them (each ends a tick's hiding). Neither StartEvent nor ExitEvent: the
// interactor changes behaviour when those have observers.
constexpr unsigned long kPassiveEvents[] = {
    vtkCommand::TimerEvent,
    vtkCommand::MouseMoveEvent,
    vtkCommand::LeftButtonPressEvent,
    vtkCommand::LeftButtonReleaseEvent,
    vtkCommand::MiddleButtonPressEvent,
    vtkCommand::MiddleButtonReleaseEvent,
    vtkCommand::RightButtonPressEvent,
    vtkCommand::RightButtonReleaseEvent,
    vtkCommand::MouseWheelForwardEvent,
    vtkCommand::MouseWheelBackwardEvent,
    vtkCommand::KeyPressEvent,
    vtkCommand::KeyReleaseEvent,
    vtkCommand::CharEvent,
    vtkCommand::EnterEvent,
    vtkCommand::LeaveEvent,
    vtkCommand::ExposeEvent,
    vtkCommand::ConfigureEvent,
};

bool SameMoveRun(const sb_event &a, const sb_event &b)
{
    return a.type == SB_EVENT_POINTER_MOVE && b.type == SB_EVENT_POINTER_MOVE &&
           a.button == b.button && a.modifiers == b.modifiers;
}

unsigned long PressEventFor(uint32_t button)
{
    switch (button) {
    case SB_BUTTON_LEFT: return vtkCommand::LeftButtonPressEvent;
    case SB_BUTTON_MIDDLE: return vtkCommand::MiddleButtonPressEvent;
    default: return vtkCommand::RightButtonPressEvent;
    }
}

unsigned long ReleaseEventFor(uint32_t button)
{
    switch (button) {
    case SB_BUTTON_LEFT: return vtkCommand::LeftButtonReleaseEvent;
    case SB_BUTTON_MIDDLE: return vtkCommand::MiddleButtonReleaseEvent;
    default: return vtkCommand::RightButtonReleaseEvent;
    }
}

// Where e happens in a w x h window; false when it cannot be there: a move, press or wheel
// outside is not a place a real pointer could be in this window. Releases and keys outside are
// kept (a button must never stay stuck because the release happened off the edge) at the
// nearest pixel inside.
bool PlaceInWindow(const sb_event &e, int w, int h, int *x, int *y)
{
    const bool outside = e.x < 0 || e.y < 0 || e.x >= w || e.y >= h;
    const bool pointer = e.type == SB_EVENT_POINTER_MOVE || e.type == SB_EVENT_BUTTON_PRESS ||
                         e.type == SB_EVENT_WHEEL;
    if (outside && pointer)
        return false;
    *x = std::clamp(e.x, 0, std::max(w - 1, 0));
    *y = std::clamp(e.y, 0, std::max(h - 1, 0));
    return true;
}

// Gives the interactor what VTK's event handlers read about e, at (x, y) in window pixels:
// position, modifiers, key code and key symbol.
void SetEventInformation(vtkRenderWindowInteractor *iren, const sb_event &e, int x, int y)
{
    const int ctrl = (e.modifiers & SB_MOD_CTRL) ? 1 : 0;
    const int shift = (e.modifiers & SB_MOD_SHIFT) ? 1 : 0;
    const int alt = (e.modifiers & SB_MOD_ALT) ? 1 : 0;
    const bool is_key = e.type == SB_EVENT_KEY_PRESS || e.type == SB_EVENT_KEY_RELEASE ||
                        e.type == SB_EVENT_CHAR;
    // VTK's key code is one char: ASCII only, as an X server's XLookupString gives it.
    const char key_code = (is_key && e.key_code < 128) ? static_cast<char>(e.key_code) : 0;
    char derived_keysym[2] = {key_code, '\0'};
    const char *keysym = nullptr;
    if (is_key)
        keysym = e.keysym[0] ? e.keysym : (key_code > 32 && key_code < 127 ? derived_keysym : "");
    iren->SetEventInformationFlipY(x, y, ctrl, shift, key_code, 0, keysym);
    iren->SetAltKey(alt);
}

} // namespace

VtkReplay::VtkReplay(vtkRenderWindow *window, sb_event_queue *queue, uint32_t max_w,
                     uint32_t max_h, int timer_interval_ms, bool allow_remote_exit)
    : window_(window), queue_(queue), max_w_(max_w), max_h_(max_h),
      timer_interval_ms_(timer_interval_ms), allow_remote_exit_(allow_remote_exit)
{
}

VtkReplay::~VtkReplay()
{
    Detach();
}

int VtkReplay::Attach()
{
    vtkRenderWindow *win = window_;
    if (!win)
        return SB_FAIL(SB_ESTATE, "the render window is gone");
    vtkRenderWindowInteractor *iren = win->GetInteractor();
    if (!iren) {
        // No interactor and hence no event loop: a generic one routes events to a standard
        // style, and Pump() drives it.
        auto generic = vtkSmartPointer<vtkGenericRenderWindowInteractor>::New();
        vtkNew<vtkInteractorStyleTrackballCamera> style;
        generic->SetInteractorStyle(style);
        generic->SetRenderWindow(win);
        generic->Initialize();
        own_interactor_ = generic;
        iren = generic;
    }
    interactor_ = iren;
    iren_delete_tag_ = iren->AddObserver(vtkCommand::DeleteEvent, this, &VtkReplay::OnObjectDeleted);
    InstallExitGuard(iren);
    window_delete_tag_ =
        win->AddObserver(vtkCommand::DeleteEvent, this, &VtkReplay::OnObjectDeleted);
    if (!own_interactor_) {
        // The application's interactor runs an event loop (Start()) that fires timers.
        // Draining happens in a passive observer: VTK calls passive observers first and always,
        // whereas while an observer holds the interactor's focus (the trackball style from a
        // button press to its release, a widget being dragged) every other observer of the
        // event is skipped, and a drain behind that focus could never replay the release.
        passive_command_ = vtkSmartPointer<vtkCallbackCommand>::New();
        passive_command_->SetCallback(&VtkReplay::OnAnyEventPassive);
        passive_command_->SetClientData(this);
        passive_command_->PassiveObserverOn();
        // Not AnyEvent: an AnyEvent observer also "observes" StartEvent, and Start() then hands
        // the event loop to that observer instead of running it.
        for (unsigned long event : kPassiveEvents)
            passive_tags_.push_back(iren->AddObserver(event, passive_command_));
        // And an ordinary observer ahead of the styles, which hides our ticks from everyone
        // when no observer holds the focus.
        timer_tag_ = iren->AddObserver(vtkCommand::TimerEvent, this, &VtkReplay::OnTimer,
                                       kTimerObserverPriority);
        timer_id_ = iren->CreateRepeatingTimer(static_cast<unsigned long>(timer_interval_ms_));
        if (timer_id_ == 0)
            sb__log("the window's %s made no timer: events are replayed only by sb_stream_pump()",
                    iren->GetClassName());
    }
    return SB_OK;
}

void VtkReplay::Detach()
{
    if (vtkRenderWindowInteractor *iren = interactor_) {
        EndTickHiding();
        RemoveExitGuard();
        for (unsigned long tag : passive_tags_)
            iren->RemoveObserver(tag);
        if (timer_tag_)
            iren->RemoveObserver(timer_tag_);
        if (timer_id_)
            iren->DestroyTimer(timer_id_);
        if (fast_timer_id_)
            iren->DestroyTimer(fast_timer_id_);
        if (iren_delete_tag_)
            iren->RemoveObserver(iren_delete_tag_);
    }
    timer_tag_ = 0;
    passive_tags_.clear();
    timer_id_ = 0;
    fast_timer_id_ = 0;
    iren_delete_tag_ = 0;
    interactor_ = nullptr;
    if (vtkRenderWindow *win = window_) {
        if (window_delete_tag_)
            win->RemoveObserver(window_delete_tag_);
        // Our interactor is about to go: the window must not keep pointing at it.
        if (own_interactor_ && win->GetInteractor() == own_interactor_)
            win->SetInteractor(nullptr);
    }
    window_delete_tag_ = 0;
    window_ = nullptr;
    // Last: releasing our interactor may release the window's last reference.
    own_interactor_ = nullptr;
}

void VtkReplay::OnObjectDeleted(vtkObject *caller, unsigned long, void *)
{
    // DeleteEvent fires before destruction starts, and the object removes all its observers
    // right after; forget it now so Detach() never touches it mid-destruction.
    if (caller == static_cast<vtkObject *>(interactor_.GetPointer())) {
        interactor_ = nullptr;
        timer_tag_ = 0;
        passive_tags_.clear();
        hiding_tick_ = false;
        exit_guard_tag_ = 0;
        timer_id_ = 0;
        fast_timer_id_ = 0;
        iren_delete_tag_ = 0;
    }
    if (caller == static_cast<vtkObject *>(window_.GetPointer())) {
        window_ = nullptr;
        window_delete_tag_ = 0;
    }
}

bool VtkReplay::IsOurTick(unsigned long event, void *call_data) const
{
    if (event != vtkCommand::TimerEvent || !call_data)
        return false;
    const int id = *static_cast<int *>(call_data);
    return id != 0 && (id == timer_id_ || id == fast_timer_id_);
}

// Starts the fast timer when input came, stops it once input stopped. A timer is never
// destroyed from its own tick: VTK 9.1's X interactor walks its timer map while it fires them,
// and erasing the entry being fired invalidates that walk; so the fast timer is destroyed from
// the regular timer's tick only (and created from either, which a map insert allows).
void VtkReplay::PaceTimers(int tick_id)
{
    vtkRenderWindowInteractor *iren = interactor_;
    if (!iren || timer_id_ == 0)
        return;
    const bool input_flows =
        last_input_mono_ns_ != 0 && sb__monotonic_ns() - last_input_mono_ns_ < kFastLingerNs;
    if (input_flows && fast_timer_id_ == 0)
        fast_timer_id_ = iren->CreateRepeatingTimer(kFastTickMs);
    else if (!input_flows && fast_timer_id_ != 0 && tick_id == timer_id_) {
        iren->DestroyTimer(fast_timer_id_);
        fast_timer_id_ = 0;
    }
}

void VtkReplay::OnAnyEventPassive(vtkObject *, unsigned long event, void *client_data,
                                  void *call_data)
{
    auto *self = static_cast<VtkReplay *>(client_data);
    // Whatever the interactor dispatches after one of our ticks ends that tick's hiding.
    self->EndTickHiding();
    if (!self->IsOurTick(event, call_data))
        return;
    if (self->tick_observer_)
        self->tick_observer_();
    self->DrainAndReplay();
    self->PaceTimers(*static_cast<int *>(call_data));
    self->BeginTickHiding();
}

// Our tick carries no input, yet a focus holder receives it before anyone could abort it, and
// vtkInteractorStyle::OnTimer() in a rotate/pan/spin/dolly state repeats the last pointer delta
// and renders: the camera would drift on every tick while a button is held, and every tick would
// publish a frame. So for the rest of the tick's dispatch the pointer has not moved (last event
// position = event position) and the interactor does not render.
void VtkReplay::BeginTickHiding()
{
    vtkRenderWindowInteractor *iren = interactor_;
    if (!iren || hiding_tick_)
        return;
    iren->SetLastEventPosition(iren->GetEventPosition());
    saved_enable_render_ = iren->GetEnableRender();
    iren->EnableRenderOff();
    hiding_tick_ = true;
}

void VtkReplay::EndTickHiding()
{
    if (!hiding_tick_)
        return;
    hiding_tick_ = false;
    if (vtkRenderWindowInteractor *iren = interactor_)
        iren->SetEnableRender(saved_enable_render_);
}

bool VtkReplay::OnTimer(vtkObject *, unsigned long event, void *call_data)
{
    if (!IsOurTick(event, call_data))
        return false; // the application's own timer: not ours to handle or hide
    // Drained already by the passive observer; nobody holds the focus, so we can simply stop
    // the tick here: styles and application observers never see it.
    EndTickHiding();
    return true;
}

int VtkReplay::Pump(int timeout_ms)
{
    EndTickHiding();
    if (tick_observer_)
        tick_observer_();
    if (timeout_ms != 0) {
        // Timed out or woken by sb_event_queue_wake: replay whatever is there (maybe nothing).
        int rc = sb_event_queue_wait(queue_, timeout_ms);
        if (rc != SB_OK && rc != SB_ETIMEDOUT && rc != SB_EWOKEN)
            return rc;
    }
    return DrainAndReplay();
}

int VtkReplay::DrainAndReplay()
{
    // An application observer calling sb_stream_pump() from inside a replayed event must not
    // replay (and reorder) the rest of the queue underneath the batch in progress.
    if (in_replay_)
        return 0;
    batch_.clear();
    while (batch_.size() < kMaxEventsPerDrain) {
        const size_t old_size = batch_.size();
        batch_.resize(old_size + kPopChunk);
        size_t got = 0;
        int rc = sb_event_queue_pop(queue_, batch_.data() + old_size, kPopChunk, &got);
        batch_.resize(old_size + (rc == SB_OK ? got : 0));
        if (rc != SB_OK || got < kPopChunk)
            break;
    }
    if (batch_.empty())
        return 0;
    const uint64_t replay_ns = sb__realtime_ns();
    last_input_mono_ns_ = sb__monotonic_ns();

    vtkRenderWindowInteractor *iren = interactor_;
    vtkRenderWindow *win = window_;
    if (!iren || !win) {
        stats_.events_invalid += batch_.size(); // nowhere to deliver them
        return 0;
    }

    in_replay_ = true;
    // Styles call Interactor->Render() after every move; one render at the end of the batch
    // shows the same final state at a fraction of the cost.
    const int enable_render = iren->GetEnableRender();
    iren->EnableRenderOff();
    int replayed = 0;
    uint64_t input_ns = 0;
    for (size_t i = 0; i < batch_.size(); i++) {
        // Of a run of moves with the same buttons and modifiers only the last matters.
        if (i + 1 < batch_.size() && SameMoveRun(batch_[i], batch_[i + 1]))
            continue;
        if (!interactor_ || !window_)
            break; // an observer destroyed the window or interactor mid-batch
        if (ReplayOne(batch_[i])) {
            replayed++;
            input_ns = batch_[i].timestamp_ns;
        }
    }
    if (replayed > 0 && input_observer_)
        input_observer_(input_ns, replay_ns);
    if (vtkRenderWindowInteractor *still = interactor_) {
        still->SetEnableRender(enable_render);
        if (replayed > 0 && window_) {
            stats_.renders_requested++;
            if (still->GetEnabled())
                still->Render();
            else
                window_->Render(); // an interactor not yet initialized renders nothing
        }
    }
    in_replay_ = false;
    return replayed;
}

// Any replayed event, not only a key, may reach an application handler that calls
// ExitCallback(), so the guard refuses every exit request raised while a batch runs (nothing
// local is dispatched in between: the batch runs to its end inside one tick or pump).
void VtkReplay::InstallExitGuard(vtkRenderWindowInteractor *iren)
{
    if (allow_remote_exit_ || exit_guard_tag_)
        return;
    exit_guard_tag_ = iren->AddObserver(vtkCommand::ExitEvent, this, &VtkReplay::OnExitEvent,
                                        kExitGuardPriority);
}

void VtkReplay::RemoveExitGuard()
{
    if (!exit_guard_tag_)
        return;
    if (vtkRenderWindowInteractor *iren = interactor_)
        iren->RemoveObserver(exit_guard_tag_);
    exit_guard_tag_ = 0;
}

bool VtkReplay::OnExitEvent(vtkObject *caller, unsigned long, void *)
{
    if (!in_replay_)
        return ExitAsVtkWould(static_cast<vtkRenderWindowInteractor *>(caller));
    // Logged once per stream: a viewer holding 'q' down must not flood the application's log.
    if (!exit_refusal_logged_) {
        exit_refusal_logged_ = true;
        sb__log("a browser's input asked the application to exit (VTK's 'q'/'e' keys): ignored; "
                "sb_stream_options.allow_remote_exit = 1 (STREAMBRIDGE_ALLOW_EXIT=1 for the "
                "autoload plugin) lets it");
    }
    return true; // abort: no application ExitEvent observer and no TerminateApp() sees it
}

// A local exit request: VTK's ExitCallback() invoked ExitEvent only because our guard observes
// it; without the guard it would have run the application's observers if it has any, and
// TerminateApp() if not. Whether it has any is asked with the guard out of the way (removing and
// re-adding an observer inside an ordinary callback is allowed; the re-added one, with a newer
// tag, is not called again for this event).
bool VtkReplay::ExitAsVtkWould(vtkRenderWindowInteractor *iren)
{
    iren->RemoveObserver(exit_guard_tag_);
    exit_guard_tag_ = 0;
    const bool application_observes = iren->HasObserver(vtkCommand::ExitEvent) != 0;
    InstallExitGuard(iren);
    if (application_observes)
        return false; // not aborted: they run now
    iren->TerminateApp();
    return true;
}

bool VtkReplay::ReplayOne(const sb_event &e)
{
    if (sb_event_validate(&e) != SB_OK) {
        stats_.events_invalid++;
        return false;
    }
    vtkRenderWindowInteractor *iren = interactor_;
    vtkRenderWindow *win = window_;
    if (e.type == SB_EVENT_RESIZE) {
        ReplayResize(e);
        stats_.events_replayed++;
        return true;
    }

    const int *size = win->GetSize();
    const int w = size[0], h = size[1];
    int x = 0, y = 0;
    if (!PlaceInWindow(e, w, h, &x, &y)) {
        stats_.events_invalid++;
        return false;
    }
    // SetEventInformationFlipY flips with the interactor's idea of the size: keep it true.
    const int *isize = iren->GetSize();
    if (isize[0] != w || isize[1] != h)
        iren->SetSize(w, h);
    SetEventInformation(iren, e, x, y);
    if (!InvokeVtkEvents(iren, e)) {
        stats_.events_invalid++;
        return false;
    }
    stats_.events_replayed++;
    return true;
}

bool VtkReplay::InvokeVtkEvents(vtkRenderWindowInteractor *iren, const sb_event &e)
{
    switch (e.type) {
    case SB_EVENT_POINTER_MOVE: iren->InvokeEvent(vtkCommand::MouseMoveEvent, nullptr); break;
    case SB_EVENT_BUTTON_PRESS: iren->InvokeEvent(PressEventFor(e.button), nullptr); break;
    case SB_EVENT_BUTTON_RELEASE: iren->InvokeEvent(ReleaseEventFor(e.button), nullptr); break;
    case SB_EVENT_WHEEL: {
        // One VTK wheel event per notch, as an X server sends one button 4/5 click per notch.
        const int notches =
            std::clamp(static_cast<int>(std::lround(std::fabs(e.wheel_delta))), 1, kMaxWheelNotches);
        const unsigned long id = e.wheel_delta > 0 ? vtkCommand::MouseWheelForwardEvent
                                                   : vtkCommand::MouseWheelBackwardEvent;
        for (int n = 0; n < notches && interactor_; n++)
            iren->InvokeEvent(id, nullptr);
        break;
    }
    case SB_EVENT_KEY_PRESS:
        iren->InvokeEvent(vtkCommand::KeyPressEvent, nullptr);
        // A printable key also types its character, as XLookupString reports it with the press.
        if (interactor_ && e.key_code >= 32 && e.key_code < 127)
            iren->InvokeEvent(vtkCommand::CharEvent, nullptr);
        break;
    case SB_EVENT_KEY_RELEASE: iren->InvokeEvent(vtkCommand::KeyReleaseEvent, nullptr); break;
    case SB_EVENT_CHAR: iren->InvokeEvent(vtkCommand::CharEvent, nullptr); break;
    default: return false;
    }
    return true;
}

void VtkReplay::ReplayResize(const sb_event &e)
{
    // Never larger than the ring can carry: a browser asking for more gets the maximum.
    const int w = std::min(e.width, static_cast<int>(max_w_));
    const int h = std::min(e.height, static_cast<int>(max_h_));
    window_->SetSize(w, h);
    if (vtkRenderWindowInteractor *iren = interactor_)
        iren->UpdateSize(w, h);
}

} // namespace sb
