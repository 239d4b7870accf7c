// bench_capture - render-thread cost of capturing a VTK window into the frame ring, next to the
// bare reads it is built on. Run under Xvfb: tests/xvfb-run.sh build/bench/bench_capture
//
// For each size (640x480, 1280x720, 1920x1080), median milliseconds per frame of:
//   capture        VtkCapture::CaptureNow(): ring slot + glReadPixels(GL_BGRA) from VTK's display
//                  framebuffer straight into the slot + commit (what the EndEvent observer runs)
//   capture@End    the same, measured inside real renders (includes waiting for the renderer to
//                  finish the frame, which a plain read after glFinish does not)
//   bgra           bare glReadPixels(GL_BGRA) of the same framebuffer (3 buffers in turn, as the ring)
//   rgba           bare glReadPixels(GL_RGBA) of the same framebuffer
//   ratio          capture / the faster of bgra and rgba (the driver's native format); target <= 1.2
//   vtk front/back vtkRenderWindow::GetRGBACharPixelData (front = display framebuffer, back =
//                  render framebuffer, resolved by VTK when multisampled), with the window's
//                  default multisampling and with multisampling 0
// All reads happen after glFinish(), so they time the read, not the rendering.
#include "vtk_capture.h"

#include "streambridge/streambridge.h"

#include <vtkActor.h>
#include <vtkConeSource.h>
#include <vtkNew.h>
#include <vtkOpenGLFramebufferObject.h>
#include <vtkOpenGLRenderWindow.h>
#include <vtkOpenGLState.h>
#include <vtkPolyDataMapper.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkUnsignedCharArray.h>
#include <vtk_glew.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

namespace {

constexpr int kReps = 40;

double MedianMs(const std::function<void()> &fn)
{
    std::vector<double> ms;
    fn(); // warm-up (allocations, first-use paths)
    for (int i = 0; i < kReps; i++) {
        glFinish();
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

vtkSmartPointer<vtkOpenGLRenderWindow> MakeWindow(int w, int h, int multisamples)
{
    auto window = vtkSmartPointer<vtkOpenGLRenderWindow>::Take(
        vtkOpenGLRenderWindow::SafeDownCast(vtkRenderWindow::New()));
    window->SetOffScreenRendering(1);
    if (multisamples >= 0)
        window->SetMultiSamples(multisamples);
    window->SetSize(w, h);
    vtkNew<vtkRenderer> renderer;
    renderer->SetBackground(0.1, 0.1, 0.3);
    vtkNew<vtkConeSource> cone;
    cone->SetResolution(64);
    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputConnection(cone->GetOutputPort());
    vtkNew<vtkActor> actor;
    actor->SetMapper(mapper);
    renderer->AddActor(actor);
    window->AddRenderer(renderer);
    window->Render();
    return window;
}

// Reads into three buffers in turn: the same memory footprint as a 3-slot ring, so the
// comparison with the capture is not skewed by one small buffer staying in the CPU cache.
double BareRead(vtkOpenGLRenderWindow *window, GLenum format, std::vector<std::vector<uint8_t>> &bufs)
{
    size_t next = 0;
    vtkOpenGLFramebufferObject *display = window->GetDisplayFramebuffer();
    int w = 0, h = 0;
    display->GetLastSize(w, h);
    return MedianMs([&] {
        window->MakeCurrent();
        vtkOpenGLState *state = window->GetState();
        state->PushReadFramebufferBinding();
        display->Bind(GL_READ_FRAMEBUFFER);
        display->ActivateReadBuffer(0);
        glReadPixels(0, 0, w, h, format, GL_UNSIGNED_BYTE, bufs[next++ % bufs.size()].data());
        state->PopReadFramebufferBinding();
    });
}

double VtkRead(vtkOpenGLRenderWindow *window, int front)
{
    const int *size = window->GetSize();
    vtkNew<vtkUnsignedCharArray> data;
    return MedianMs([&] { window->GetRGBACharPixelData(0, 0, size[0] - 1, size[1] - 1, front, data); });
}

} // namespace

int main()
{
    const int sizes[][2] = {{640, 480}, {1280, 720}, {1920, 1080}};
    std::printf("median ms per frame, %d reps, offscreen VTK window under Xvfb/Mesa\n", kReps);
    std::printf("%-10s %8s %10s %8s %8s %6s | %9s %9s %9s %9s\n", "size", "capture", "capture@End",
                "bgra", "rgba", "ratio", "vtk-front", "vtk-back", "front-ms0", "back-ms0");
    for (const auto &wh : sizes) {
        const int w = wh[0], h = wh[1];
        auto window = MakeWindow(w, h, -1); // the window's default multisampling
        sb_frame_ring_options ro;
        sb_frame_ring_options_init(&ro, SB_FRAME_RING_OPTIONS_VERSION);
        sb_frame_ring *ring = nullptr;
        if (sb_frame_ring_create(&ro, &ring) != SB_OK) {
            std::fprintf(stderr, "ring: %s\n", sb_last_error());
            return 1;
        }
        std::vector<std::vector<uint8_t>> bufs(3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 4));
        double capture_at_end = 0;
        {
            sb::VtkCapture capture(window, ring);
            for (int i = 0; i < kReps; i++)
                window->Render();
            capture_at_end = capture.Stats().capture_ms_total / capture.Stats().frames_captured;
            const double capture_ms = MedianMs([&] { capture.CaptureNow(); });
            const double bgra = BareRead(window, GL_BGRA, bufs);
            const double rgba = BareRead(window, GL_RGBA, bufs);
            const double vtk_front = VtkRead(window, 1);
            const double vtk_back = VtkRead(window, 0);
            auto window_ms0 = MakeWindow(w, h, 0);
            const double front0 = VtkRead(window_ms0, 1);
            const double back0 = VtkRead(window_ms0, 0);
            std::printf("%4dx%-5d %8.3f %10.3f %8.3f %8.3f %5.2fx | %9.3f %9.3f %9.3f %9.3f  (%d samples)\n",
                        w, h, capture_ms, capture_at_end, bgra, rgba,
                        capture_ms / std::min(bgra, rgba), vtk_front,
                        vtk_back, front0, back0, window->GetMultiSamples());
        }
        sb_frame_ring_destroy(ring);
    }
    return 0;
}
