// vtk_replay.h - private: replays queued sb_events into a VTK render window's interactor, on the
// render thread, as a real mouse and keyboard would deliver them.
//
// Three ways the queue gets drained:
//  - a repeating interactor timer (when the application runs iren->Start()), and while input
//    flows a second one of 1 ms (see PaceTimers): a passive observer
//    (VTK runs those even while a style or widget holds the interactor's focus) drains the queue
//    for our timer id only; our ticks are hidden from everyone else (aborted when nobody holds
//    the focus, made motionless and render-free for a focus holder);
//  - Pump() from an application's own loop;
//  - a window without an interactor gets a vtkGenericRenderWindowInteractor with a
//    trackball-camera style (no event loop: Pump() drives it).
// Events are invoked on the interactor (InvokeEvent), so the application's interactor style,
// widgets, pickers and observers all see them. Renders from styles are held back during a batch
// and replaced by one render at its end.
//
// Browser input never ends the application unless it opts in (allow_remote_exit): VTK's styles
// answer 'q'/'e' with rwi->ExitCallback(), which invokes ExitEvent when anyone observes it and
// calls TerminateApp() otherwise. An ExitEvent observer of the highest priority, installed with
// the replay, aborts that event while a batch is replayed, so neither TerminateApp() nor the
// application's own ExitEvent observers run. Outside a batch (the local keyboard, the window
// manager's close) it steps aside and does what VTK would have done without it: the
// application's ExitEvent observers run, or, when it has none, TerminateApp(). It is installed
// once rather than around each batch because batches mostly run inside a passive timer
// observer, where VTK forbids adding or removing observers (and warns on every batch).
#ifndef SB_VTK_REPLAY_H
#define SB_VTK_REPLAY_H

#include "streambridge/event_queue.h"

#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkSmartPointer.h>
#include <vtkWeakPointer.h>

#include <cstdint>
#include <functional>
#include <vector>

class vtkCallbackCommand;
class vtkObject;

namespace sb {

struct ReplayStats {
    uint64_t events_replayed = 0;
    uint64_t events_invalid = 0;
    uint64_t renders_requested = 0;
};

class VtkReplay {
public:
    // window and queue are borrowed (the queue must outlive this object). max_w/max_h bound
    // resize requests. timer_interval_ms drives the interactor timer. allow_remote_exit: replayed
    // input may end the application through the interactor's ExitCallback() as a local key would.
    VtkReplay(vtkRenderWindow *window, sb_event_queue *queue, uint32_t max_w, uint32_t max_h,
              int timer_interval_ms, bool allow_remote_exit = false);
    ~VtkReplay();
    VtkReplay(const VtkReplay &) = delete;
    VtkReplay &operator=(const VtkReplay &) = delete;

    // Finds or makes the interactor and starts the timer. SB_OK or an error (sb_last_error()).
    int Attach();
    // Removes every observer and timer and gives back the window's interactor slot when the
    // interactor is ours. Idempotent; safe when the window or interactor died already.
    void Detach();

    // Waits up to timeout_ms for an event, drains the queue, replays, renders once if anything
    // was replayed. Returns the number of events replayed or an error.
    int Pump(int timeout_ms);
    // Drains and replays what is queued now. Returns the number replayed.
    int DrainAndReplay();

    const ReplayStats &Stats() const { return stats_; }

    // Told after each batch that replayed something, before its render: the timestamp_ns of
    // the batch's last replayed event and when the batch was taken from the queue
    // (CLOCK_REALTIME ns). The stream hands both to the capture, so the frame that shows the
    // input carries them (sb_frame_info.input_ns, replay_ns).
    using InputObserver = std::function<void(uint64_t input_ns, uint64_t replay_ns)>;
    void SetInputObserver(InputObserver observer) { input_observer_ = std::move(observer); }
    // Told at each of our timer ticks and at the start of each Pump(), before anything is
    // replayed: the moments the render thread is ours although nothing may render. The stream
    // publishes a frame still waiting in its asynchronous readback there (the window stopped
    // rendering).
    using TickObserver = std::function<void()>;
    void SetTickObserver(TickObserver observer) { tick_observer_ = std::move(observer); }

private:
    bool OnTimer(vtkObject *, unsigned long event, void *call_data);
    static void OnAnyEventPassive(vtkObject *, unsigned long event, void *client_data,
                                  void *call_data);
    bool IsOurTick(unsigned long event, void *call_data) const;
    void PaceTimers(int tick_id);
    void BeginTickHiding();
    void EndTickHiding();
    void OnObjectDeleted(vtkObject *caller, unsigned long, void *);
    void InstallExitGuard(vtkRenderWindowInteractor *iren);
    void RemoveExitGuard();
    bool OnExitEvent(vtkObject *, unsigned long, void *);
    bool ExitAsVtkWould(vtkRenderWindowInteractor *iren);
    bool ReplayOne(const struct sb_event &e);
    // Invokes the VTK events of e (already placed in the window); false for a type it has none
    // for. Stops early when an observer destroys the interactor.
    bool InvokeVtkEvents(vtkRenderWindowInteractor *iren, const struct sb_event &e);
    void ReplayResize(const struct sb_event &e);

    vtkWeakPointer<vtkRenderWindow> window_;
    vtkWeakPointer<vtkRenderWindowInteractor> interactor_;
    vtkSmartPointer<vtkRenderWindowInteractor> own_interactor_;
    sb_event_queue *queue_;
    uint32_t max_w_, max_h_;
    int timer_interval_ms_;
    int timer_id_ = 0;
    int fast_timer_id_ = 0;          // the 1 ms timer, only while input flows
    uint64_t last_input_mono_ns_ = 0; // CLOCK_MONOTONIC of the last drain that found input
    unsigned long timer_tag_ = 0;
    std::vector<unsigned long> passive_tags_;
    vtkSmartPointer<vtkCallbackCommand> passive_command_;
    bool hiding_tick_ = false;    // one of our ticks is being dispatched (see BeginTickHiding)
    int saved_enable_render_ = 1; // the interactor's EnableRender before it
    unsigned long iren_delete_tag_ = 0;
    unsigned long window_delete_tag_ = 0;
    bool in_replay_ = false;
    bool allow_remote_exit_;
    unsigned long exit_guard_tag_ = 0; // our ExitEvent observer (none with allow_remote_exit)
    bool exit_refusal_logged_ = false;
    std::vector<sb_event> batch_;
    ReplayStats stats_;
    InputObserver input_observer_;
    TickObserver tick_observer_;
};

} // namespace sb

#endif // SB_VTK_REPLAY_H
