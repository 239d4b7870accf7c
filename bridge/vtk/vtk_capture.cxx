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
#include <cstring>

namespace sb {

VtkCapture::VtkCapture(vtkOpenGLRenderWindow *window, sb_frame_ring *ring, Readback readback)
    : window_(window), ring_(ring), readback_(readback)
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
    ReleasePixelBuffers();
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
    // The window removes all its observers right after DeleteEvent; never touch it again. A
    // pending frame goes with it: its pixel buffers die with the window's context.
    pending_ = -1;
    for (PixelBuffer &b : pbo_)
        b = PixelBuffer{};
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
    int rc = readback_ == Readback::Async ? CaptureAsync() : CaptureNow();
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

// Errors VTK's own calls left pending (VTK checks them only in debug builds) are not ours: without
// this, the first glGetError after our read would report them as the read's.
void ClearStaleGlErrors()
{
    for (int i = 0; i < 16 && glGetError() != GL_NO_ERROR; i++) {
    }
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
    // Frames reach the ring in the order they were rendered.
    if (PublishPending() != SB_OK)
        sb__log("a pending frame could not be published: %s", sb_last_error());
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
        rc = CommitWithTimes(TakeFrameTimes());
    return CountCapture(rc, t0);
}

int VtkCapture::CountCapture(int rc, std::chrono::steady_clock::time_point t0)
{
    if (rc != SB_OK) {
        stats_.capture_failures++;
        return rc;
    }
    stats_.frames_captured++;
    stats_.capture_ms_total +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return SB_OK;
}

VtkCapture::FrameTimes VtkCapture::TakeFrameTimes()
{
    FrameTimes t;
    const bool rendered = render_end_ns_ != 0 && render_start_ns_ != 0 &&
                          render_start_ns_ <= render_end_ns_;
    t.render_start_ns = rendered ? render_start_ns_ : 0;
    t.render_end_ns = rendered ? render_end_ns_ : 0;
    t.input_ns = input_ns_;
    t.replay_ns = replay_ns_;
    // This frame shows that input; the next one shows it only if newer input comes.
    input_ns_ = 0;
    replay_ns_ = 0;
    return t;
}

// Commits the slot just filled, with the times of the walk that made the frame (input, replay,
// render; docs/architecture.md), and records the render and input->publish samples.
int VtkCapture::CommitWithTimes(const FrameTimes &times)
{
    sb_frame_info info{};
    info.bottom_up = 1;
    info.capture_ns = sb__realtime_ns();
    info.render_start_ns = times.render_start_ns;
    info.render_end_ns = times.render_end_ns;
    info.input_ns = times.input_ns;
    info.replay_ns = times.replay_ns;
    int rc = sb_frame_ring_commit_info(ring_, &info, nullptr);
    if (rc != SB_OK)
        return rc;
    if (info.render_end_ns != 0)
        sb__samples_add(&stats_.render_ms,
                        static_cast<double>(info.render_end_ns - info.render_start_ns) / 1e6);
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
    ClearStaleGlErrors();
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

// Binds pbo as the pixel pack buffer for the life of this object, then gives the previous
// binding back (VTK's state cache does not track it, VTK itself binds and unbinds its own).
class PackBufferBinding {
public:
    explicit PackBufferBinding(GLuint pbo)
    {
        glGetIntegerv(GL_PIXEL_PACK_BUFFER_BINDING, &previous_);
        glBindBuffer(GL_PIXEL_PACK_BUFFER, pbo);
    }
    ~PackBufferBinding() { glBindBuffer(GL_PIXEL_PACK_BUFFER, static_cast<GLuint>(previous_)); }
    PackBufferBinding(const PackBufferBinding &) = delete;
    PackBufferBinding &operator=(const PackBufferBinding &) = delete;

private:
    GLint previous_ = 0;
};

bool VtkCapture::SameContext(vtkOpenGLRenderWindow *win) const
{
    return win->GetGenericContext() == pbo_context_ && win->GetState() == pbo_state_;
}

// Whether the bound pixel pack buffer still has the size we gave it (a guard: a buffer that
// lost its storage is reallocated, and a frame in it dropped, rather than read as garbage).
bool BoundBufferHolds(size_t bytes)
{
    GLint size = 0;
    glGetBufferParameteriv(GL_PIXEL_PACK_BUFFER, GL_BUFFER_SIZE, &size);
    return size >= 0 && static_cast<size_t>(size) == bytes;
}

int VtkCapture::CaptureAsync()
{
    vtkOpenGLRenderWindow *win = window_;
    if (!win)
        return SB_FAIL(SB_ESTATE, "the render window is gone");
    vtkOpenGLFramebufferObject *display = win->GetDisplayFramebuffer();
    int width = 0, height = 0;
    if (display)
        display->GetLastSize(width, height);
    if (!display || width <= 0 || height <= 0)
        return SB_FAIL(SB_ESTATE, "the render window has not rendered yet");
    const auto t0 = std::chrono::steady_clock::now();
    int rc = CheckFitsRing(width, height);
    if (rc != SB_OK) {
        // This frame cannot be streamed; the one before it still can.
        PublishPending();
        return rc;
    }
    win->MakeCurrent();
    // A new context knows nothing of our buffers (their names may even be VTK's there): VTK
    // 9.1 makes the context again on some window changes (an X interactor's first Start()),
    // often at the same address, but always with a new vtkOpenGLState.
    if (!SameContext(win)) {
        if (pending_ >= 0) {
            // Lost with the old context's buffer: counted as a failed capture.
            stats_.capture_failures++;
            pending_ = -1;
        }
        for (PixelBuffer &b : pbo_)
            b = PixelBuffer{};
        pbo_context_ = win->GetGenericContext();
        pbo_state_ = win->GetState();
    }
    const int target = pending_ == 0 ? 1 : 0;
    PixelBuffer &b = pbo_[target];
    const size_t bytes = static_cast<size_t>(width) * static_cast<size_t>(height) * 4;
    if (b.id == 0)
        glGenBuffers(1, &b.id);

    ClearStaleGlErrors();
    vtkOpenGLState *state = win->GetState();
    state->PushReadFramebufferBinding();
    display->Bind(GL_READ_FRAMEBUFFER);
    display->ActivateReadBuffer(0);
    const ReadLayout layout = NativeReadLayout();
    GLenum gl_error = GL_NO_ERROR;
    {
        PackBufferBinding bound(b.id);
        if (b.bytes != bytes || !BoundBufferHolds(b.bytes)) {
            // GL_STREAM_READ: written once by GL, read once by us.
            glBufferData(GL_PIXEL_PACK_BUFFER, static_cast<GLsizeiptr>(bytes), nullptr,
                         GL_STREAM_READ);
            b.bytes = bytes;
        }
        // Into the bound buffer (offset 0): returns once the copy is queued.
        gl_error = ReadPixelsTight(width, height, layout.gl_format, nullptr);
    }
    state->PopReadFramebufferBinding();
    if (gl_error != GL_NO_ERROR) {
        // The buffer is made again next time. This frame is read the synchronous way, so a
        // driver that refuses the buffer costs speed, never a frame.
        b.bytes = 0;
        PublishPending();
        return CaptureNow();
    }
    b.width = width;
    b.height = height;
    b.sb_format = layout.sb_format;
    b.times = TakeFrameTimes();
    // The read's share here; the publish below counts its own.
    stats_.capture_ms_total +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    // The frame before this one: its copy had a whole render to finish.
    rc = PublishPending();
    pending_ = target;
    return rc;
}

int VtkCapture::PublishPending()
{
    if (pending_ < 0)
        return SB_OK;
    const int i = pending_;
    pending_ = -1;
    vtkOpenGLRenderWindow *win = window_;
    if (!win)
        return SB_FAIL(SB_ESTATE, "the render window is gone");
    const auto t0 = std::chrono::steady_clock::now();
    win->MakeCurrent();
    return CountCapture(PublishBuffer(i), t0);
}

int VtkCapture::PublishBuffer(int i)
{
    const PixelBuffer &b = pbo_[i];
    if (!SameContext(window_))
        return sb__set_error(SB_EVTK, kCaptureNow,
                             "the %dx%d frame waiting in a pixel buffer was lost with the "
                             "window's OpenGL context",
                             b.width, b.height);
    // The window may have grown past the ring since; a refused frame is counted as any other.
    int rc = CheckFitsRing(b.width, b.height);
    if (rc != SB_OK)
        return rc;
    uint8_t *pixels = nullptr;
    uint32_t stride = 0;
    rc = sb_frame_ring_begin_write(ring_, static_cast<uint32_t>(b.width),
                                   static_cast<uint32_t>(b.height), b.sb_format, &pixels,
                                   &stride);
    if (rc != SB_OK)
        return rc;
    bool copied = false;
    ClearStaleGlErrors();
    {
        PackBufferBinding bound(b.id);
        // The window's context was made again since the read (VTK does on some window
        // changes): the frame is lost with its buffer; the next render brings a new one.
        if (!BoundBufferHolds(b.bytes)) {
            sb_frame_ring_abort_write(ring_);
            return sb__set_error(SB_EVTK, kCaptureNow,
                                 "the %dx%d frame waiting in a pixel buffer was lost with the "
                                 "window's OpenGL context",
                                 b.width, b.height);
        }
        // Waits for the copy glReadPixels queued, if the driver has not finished it yet.
        const void *mapped = glMapBufferRange(GL_PIXEL_PACK_BUFFER, 0,
                                              static_cast<GLsizeiptr>(b.bytes), GL_MAP_READ_BIT);
        if (mapped) {
            const size_t row = static_cast<size_t>(b.width) * 4;
            if (stride == row) {
                memcpy(pixels, mapped, row * static_cast<size_t>(b.height));
            } else {
                for (int y = 0; y < b.height; y++)
                    memcpy(pixels + static_cast<size_t>(y) * stride,
                           static_cast<const uint8_t *>(mapped) + static_cast<size_t>(y) * row,
                           row);
            }
            // False when the buffer's contents were lost (a mode change): the copy is garbage.
            copied = glUnmapBuffer(GL_PIXEL_PACK_BUFFER) == GL_TRUE;
        }
    }
    const GLenum gl_error = glGetError();
    if (!copied || gl_error != GL_NO_ERROR) {
        sb_frame_ring_abort_write(ring_);
        return sb__set_error(SB_EVTK, kCaptureNow,
                             "mapping the %dx%d pixel buffer failed: GL error 0x%x", b.width,
                             b.height, static_cast<unsigned>(gl_error));
    }
    return CommitWithTimes(b.times);
}

void VtkCapture::ReleasePixelBuffers()
{
    pending_ = -1;
    vtkOpenGLRenderWindow *win = window_;
    // Only in the context that made them, while the window still has it (the display
    // framebuffer loses its GL name when the window releases its graphics resources).
    vtkOpenGLFramebufferObject *display = win ? win->GetDisplayFramebuffer() : nullptr;
    const bool context_alive = display && display->GetFBOIndex() != 0 && SameContext(win);
    for (PixelBuffer &b : pbo_) {
        if (b.id != 0 && context_alive) {
            win->MakeCurrent();
            glDeleteBuffers(1, &b.id);
        }
        b = PixelBuffer{};
    }
}

} // namespace sb
