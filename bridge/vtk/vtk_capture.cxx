// vtk_capture.cxx - see vtk_capture.h.
#include "vtk_capture.h"

#include "sb_clock.h"
#include "sb_error_internal.h"

#include <vtkCommand.h>
#include <vtkOpenGLFramebufferObject.h>
#include <vtkOpenGLRenderWindow.h>
#include <vtkOpenGLState.h>
#include <vtk_glew.h>

#include <chrono>

namespace sb {

VtkCapture::VtkCapture(vtkOpenGLRenderWindow *window, sb_frame_ring *ring)
    : window_(window), ring_(ring)
{
    start_tag_ = window->AddObserver(vtkCommand::StartEvent, this, &VtkCapture::OnStartEvent);
    end_tag_ = window->AddObserver(vtkCommand::EndEvent, this, &VtkCapture::OnEndEvent);
    delete_tag_ =
        window->AddObserver(vtkCommand::DeleteEvent, this, &VtkCapture::OnWindowDeleted);
}

VtkCapture::~VtkCapture()
{
    Detach();
}

void VtkCapture::Detach()
{
    if (window_) {
        window_->RemoveObserver(start_tag_);
        window_->RemoveObserver(end_tag_);
        window_->RemoveObserver(delete_tag_);
    }
    start_tag_ = 0;
    end_tag_ = 0;
    delete_tag_ = 0;
    window_ = nullptr;
}

void VtkCapture::OnWindowDeleted(vtkObject *, unsigned long, void *)
{
    // The window removes all its observers right after DeleteEvent; never touch it again.
    window_ = nullptr;
    start_tag_ = 0;
    end_tag_ = 0;
    delete_tag_ = 0;
}

void VtkCapture::NoteInput(uint64_t input_ns, uint64_t replay_ns)
{
    input_ns_ = input_ns;
    replay_ns_ = replay_ns;
}

void VtkCapture::OnStartEvent(vtkObject *, unsigned long, void *)
{
    render_start_ns_ = sb__realtime_ns();
}

void VtkCapture::OnEndEvent(vtkObject *, unsigned long, void *)
{
    render_end_ns_ = sb__realtime_ns();
    // Errors are counted and logged; the application's render must go on regardless.
    int rc = CaptureNow();
    // Spent: a capture outside a render (CaptureNow from the API) has no render times.
    render_start_ns_ = 0;
    render_end_ns_ = 0;
    if (rc != SB_OK && rc != SB_ETOOBIG && stats_.capture_failures == 1)
        sb__log("frame capture failed (further failures only counted): %s", sb_last_error());
}

namespace {

// The capture's steps report errors under the name of the call they serve, as SB_FAIL does in
// CaptureNow itself.
constexpr const char kCaptureNow[] = "CaptureNow";

// The pixel layout the driver keeps the bound read framebuffer in. Reading in that layout makes
// glReadPixels a copy and not a per-pixel swizzle (4x slower at 1080p on Mesa: its RGBA8
// framebuffer objects are RGBA, its X window buffers BGRA). The encoder takes either as is.
struct ReadLayout {
    GLenum gl_format;
    uint32_t sb_format;
};

ReadLayout NativeReadLayout()
{
    GLint read_format = 0, read_type = 0;
    glGetIntegerv(GL_IMPLEMENTATION_COLOR_READ_FORMAT, &read_format);
    glGetIntegerv(GL_IMPLEMENTATION_COLOR_READ_TYPE, &read_type);
    const bool native_rgba = read_format == GL_RGBA && read_type == GL_UNSIGNED_BYTE;
    return native_rgba ? ReadLayout{GL_RGBA, SB_PIXEL_RGBA} : ReadLayout{GL_BGRA, SB_PIXEL_BGRA};
}

// glReadPixels of the bound read framebuffer into rows of exactly width*4 bytes (a ring slot):
// tight packing, which any pack alignment up to 4 gives. Returns glGetError().
GLenum ReadPixelsTight(int width, int height, GLenum gl_format, uint8_t *pixels)
{
    GLint pack_alignment = 4;
    glGetIntegerv(GL_PACK_ALIGNMENT, &pack_alignment);
    const bool fix_alignment = pack_alignment > 4;
    if (fix_alignment)
        glPixelStorei(GL_PACK_ALIGNMENT, 4);
    glReadPixels(0, 0, width, height, gl_format, GL_UNSIGNED_BYTE, pixels);
    if (fix_alignment)
        glPixelStorei(GL_PACK_ALIGNMENT, pack_alignment);
    return glGetError();
}

} // namespace

int VtkCapture::CaptureNow()
{
    vtkOpenGLRenderWindow *win = window_;
    if (!win)
        return SB_FAIL(SB_ESTATE, "the render window is gone");
    vtkOpenGLFramebufferObject *display = win->GetDisplayFramebuffer();
    if (!display)
        return SB_FAIL(SB_ESTATE, "the render window has not rendered yet");
    int width = 0, height = 0;
    display->GetLastSize(width, height);
    if (width <= 0 || height <= 0)
        return SB_FAIL(SB_ESTATE, "the render window has not rendered yet");
    int rc = CheckFitsRing(width, height);
    if (rc != SB_OK)
        return rc;

    const auto t0 = std::chrono::steady_clock::now();
    rc = ReadIntoRingSlot(win, display, width, height);
    if (rc == SB_OK)
        rc = CommitWithTimes();
    if (rc != SB_OK) {
        stats_.capture_failures++;
        return rc;
    }
    stats_.frames_captured++;
    stats_.capture_ms_total +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return SB_OK;
}

// Commits the slot ReadIntoRingSlot filled, with the times of the walk that made the frame
// (input, replay, render; docs/architecture.md), and records the render and input->publish
// samples.
int VtkCapture::CommitWithTimes()
{
    sb_frame_info info{};
    info.bottom_up = 1;
    info.capture_ns = sb__realtime_ns();
    const bool rendered = render_end_ns_ != 0 && render_start_ns_ != 0 &&
                          render_start_ns_ <= render_end_ns_;
    info.render_start_ns = rendered ? render_start_ns_ : 0;
    info.render_end_ns = rendered ? render_end_ns_ : 0;
    info.input_ns = input_ns_;
    info.replay_ns = replay_ns_;
    int rc = sb_frame_ring_commit_info(ring_, &info, nullptr);
    if (rc != SB_OK)
        return rc;
    // This frame shows that input; the next one shows it only if newer input comes.
    input_ns_ = 0;
    replay_ns_ = 0;
    if (rendered)
        sb__samples_add(&stats_.render_ms,
                        static_cast<double>(render_end_ns_ - render_start_ns_) / 1e6);
    if (info.input_ns != 0 && info.input_ns <= info.capture_ns)
        sb__samples_add(&stats_.input_to_publish_ms,
                        static_cast<double>(info.capture_ns - info.input_ns) / 1e6);
    return SB_OK;
}

int VtkCapture::CheckFitsRing(int width, int height)
{
    const uint32_t max_w = sb_frame_ring_max_width(ring_);
    const uint32_t max_h = sb_frame_ring_max_height(ring_);
    if (static_cast<uint32_t>(width) <= max_w && static_cast<uint32_t>(height) <= max_h) {
        oversize_logged_ = false;
        return SB_OK;
    }
    // Refused whole (never cropped, which would silently show the wrong picture); said once
    // per oversize episode so a window left too big does not flood stderr.
    stats_.frames_refused_too_big++;
    if (!oversize_logged_) {
        sb__log("window %dx%d exceeds the stream's maximum frame %ux%u: frames are not "
                "streamed until it is made smaller",
                width, height, max_w, max_h);
        oversize_logged_ = true;
    }
    return sb__set_error(SB_ETOOBIG, kCaptureNow,
                         "window %dx%d exceeds the stream's maximum frame %ux%u", width, height,
                         max_w, max_h);
}

int VtkCapture::ReadIntoRingSlot(vtkOpenGLRenderWindow *win, vtkOpenGLFramebufferObject *display,
                                 int width, int height)
{
    win->MakeCurrent();
    vtkOpenGLState *state = win->GetState();
    // Through VTK's state cache, so VTK's idea of the bound read framebuffer stays true.
    state->PushReadFramebufferBinding();
    display->Bind(GL_READ_FRAMEBUFFER);
    display->ActivateReadBuffer(0);
    const ReadLayout layout = NativeReadLayout();

    uint8_t *pixels = nullptr;
    uint32_t stride = 0;
    int rc = sb_frame_ring_begin_write(ring_, static_cast<uint32_t>(width),
                                       static_cast<uint32_t>(height), layout.sb_format, &pixels,
                                       &stride);
    if (rc != SB_OK) {
        state->PopReadFramebufferBinding();
        return rc;
    }
    const GLenum gl_error = ReadPixelsTight(width, height, layout.gl_format, pixels);
    state->PopReadFramebufferBinding();
    if (gl_error != GL_NO_ERROR) {
        sb_frame_ring_abort_write(ring_);
        return sb__set_error(SB_EVTK, kCaptureNow,
                             "glReadPixels of the %dx%d display framebuffer failed: GL error "
                             "0x%x",
                             width, height, static_cast<unsigned>(gl_error));
    }
    return SB_OK;
}

} // namespace sb
