// vtk_capture.h - private: copies every finished frame of a VTK OpenGL render window into a
// frame ring, on the render thread, without an intermediate buffer.
//
// Observes the window's EndEvent. On VTK 9.1 (OpenGL2) vtkRenderWindow::Render() renders every
// renderer/layer into RenderFramebuffer, then Frame() resolves multisampling into the
// single-sampled DisplayFramebuffer (and, with SwapBuffers on, blits that to the hardware back
// buffer and swaps), and only then fires EndEvent. DisplayFramebuffer therefore holds the
// complete, resolved frame for on-screen and offscreen windows alike, whether or not the swap
// has happened, and is read with one glReadPixels straight into the ring slot, in the pixel
// layout the driver reports as its own for that framebuffer (GL_IMPLEMENTATION_COLOR_READ_FORMAT:
// RGBA for Mesa's framebuffer objects, BGRA elsewhere), bottom row first.
//
// Two readbacks (docs/bridge.md, "Readback"): Sync reads straight into a ring slot and publishes
// at once. Async reads into one of two pixel buffer objects (the driver may copy in the
// background while the application goes on) and publishes that frame one step later: when the
// next frame's read has been queued (the next EndEvent), or when the window stops rendering, at
// PublishPending() (the replay's timer tick, sb_stream_pump, sb_stream_render). A pending frame
// carries its own size, layout and times, so it is published as the frame it was, never torn
// (glReadPixels into a buffer object is one snapshot) and never more than one frame late.
#ifndef SB_VTK_CAPTURE_H
#define SB_VTK_CAPTURE_H

#include "sb_samples.h"
#include "streambridge/frame_ring.h"

#include <vtkWeakPointer.h>

#include <chrono>
#include <cstdint>

class vtkObject;
class vtkOpenGLFramebufferObject;
class vtkOpenGLRenderWindow;

namespace sb {

enum class Readback { Sync, Async };

struct CaptureStats {
    uint64_t frames_captured = 0;
    uint64_t frames_refused_too_big = 0;
    uint64_t capture_failures = 0; // GL error or ring failure
    double capture_ms_total = 0.0;
    sb_samples render_ms{};           // StartEvent -> EndEvent of each captured frame
    sb_samples input_to_publish_ms{}; // input_ns -> commit, frames made from input
};

class VtkCapture {
public:
    // Observes window's StartEvent and EndEvent; ring is borrowed and must outlive this object.
    VtkCapture(vtkOpenGLRenderWindow *window, sb_frame_ring *ring,
               Readback readback = Readback::Sync);
    ~VtkCapture();
    VtkCapture(const VtkCapture &) = delete;
    VtkCapture &operator=(const VtkCapture &) = delete;

    // Removes the observer and frees the pixel buffers (idempotent; safe after the window died).
    void Detach();
    // Reads the window's current displayed frame into the ring now (synchronously, whatever the
    // readback; a pending asynchronous frame is published first, so order holds). SB_OK,
    // SB_ETOOBIG (counted, logged once per oversize episode) or another error with
    // sb_last_error() set.
    int CaptureNow();
    // Async readback: publishes the frame still waiting in its pixel buffer, if any (the window
    // stopped rendering). SB_OK when there was none. Render thread only.
    int PublishPending();
    bool HasPending() const { return pending_ >= 0; }
    // The replay took input whose newest event has timestamp input_ns from the queue at
    // replay_ns (CLOCK_REALTIME): the next frame committed carries both (sb_frame_info). A
    // later call before that frame replaces them (the frame then holds newer input).
    void NoteInput(uint64_t input_ns, uint64_t replay_ns);

    const CaptureStats &Stats() const { return stats_; }

private:
    // SB_OK when a width x height frame fits the ring; else counts and logs the refusal
    // (once per oversize episode) and returns SB_ETOOBIG.
    int CheckFitsRing(int width, int height);
    // Reads the display framebuffer into a new ring slot, left open for sb_frame_ring_commit()
    // on success (aborted on a GL error).
    int ReadIntoRingSlot(vtkOpenGLRenderWindow *win, vtkOpenGLFramebufferObject *display,
                         int width, int height);
    // The times of the walk that made a frame (sb_frame_info), taken at its EndEvent.
    struct FrameTimes {
        uint64_t render_start_ns = 0, render_end_ns = 0, input_ns = 0, replay_ns = 0;
    };
    // Takes the times of the frame under way (the input it shows is spent: the next frame shows
    // it only if newer input comes).
    FrameTimes TakeFrameTimes();
    // Commits the slot just filled, with the frame's times (input, replay, render).
    int CommitWithTimes(const FrameTimes &times);
    // Async: queues the read of the display framebuffer into a free pixel buffer, then publishes
    // the one pending before it.
    int CaptureAsync();
    // Maps pixel buffer i and copies it into a new ring slot, committed with its times.
    int PublishBuffer(int i);
    // Counts a capture's outcome rc in the stats (a frame and its cost since t0, or a failure);
    // returns rc.
    int CountCapture(int rc, std::chrono::steady_clock::time_point t0);
    void ReleasePixelBuffers();
    // Whether win's OpenGL context is the one the pixel buffers were made in.
    bool SameContext(vtkOpenGLRenderWindow *win) const;
    void OnStartEvent(vtkObject *, unsigned long, void *);
    void OnEndEvent(vtkObject *, unsigned long, void *);
    void OnWindowDeleted(vtkObject *, unsigned long, void *);

    vtkWeakPointer<vtkOpenGLRenderWindow> window_;
    sb_frame_ring *ring_;
    unsigned long start_tag_ = 0;
    unsigned long end_tag_ = 0;
    unsigned long delete_tag_ = 0;
    bool oversize_logged_ = false;
    // The frame under way: its render's StartEvent/EndEvent and the input it will show.
    uint64_t render_start_ns_ = 0;
    uint64_t render_end_ns_ = 0;
    uint64_t input_ns_ = 0;
    uint64_t replay_ns_ = 0;
    CaptureStats stats_;

    // Async readback: two pixel buffer objects of the window's context, one being filled while
    // the other waits to be published. pending_ is the index of the one waiting, -1 none.
    struct PixelBuffer {
        unsigned int id = 0; // GL name, 0 = not made yet
        size_t bytes = 0;    // allocated size
        int width = 0, height = 0;
        uint32_t sb_format = 0;
        FrameTimes times;
    };
    Readback readback_;
    PixelBuffer pbo_[2];
    int pending_ = -1;
    // The GL context the buffers belong to: its address and VTK's state object for it.
    void *pbo_context_ = nullptr;
    const void *pbo_state_ = nullptr;
};

} // namespace sb

#endif // SB_VTK_CAPTURE_H
