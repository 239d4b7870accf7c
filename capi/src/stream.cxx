// stream.cxx - the stream C API (streambridge/stream.h): ties a VTK render window to a frame
// ring and an event queue (and optionally the web server) through the bridge's capture and
// replay. Every entry point runs inside sb::firewall(); every VTK error raised during a call
// becomes SB_EVTK.
#include "capi_firewall.h"
#include "sb_error_internal.h"
#include "streambridge/stream.h"

#include "vtk_capture.h"
#include "vtk_error_trap.h"
#include "vtk_replay.h"

#include <vtkObjectBase.h>
#include <vtkOpenGLRenderWindow.h>
#include <vtkRenderWindow.h>
#include <vtkWeakPointer.h>

#include <dlfcn.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

namespace sb {

// Largest frame side a stream accepts (the same bound events.c puts on coordinates).
constexpr uint32_t kMaxFrameSide = 16384;

class Stream {
public:
    ~Stream()
    {
        // Observers first (no capture or replay may run against a freed ring or queue), then the
        // server (it reads the ring), then the ring and queue.
        replay.reset();
        capture.reset();
        sb_server_destroy(server);
        server = nullptr;
        sb_event_queue_destroy(queue);
        sb_frame_ring_destroy(ring);
    }

    // Options, with their strings owned here so the caller's need not outlive the call.
    sb_stream_options options{};
    std::string shm_name, bind_address, access_token;
    bool has_shm_name = false, has_access_token = false;

    vtkWeakPointer<vtkOpenGLRenderWindow> window;
    sb_frame_ring *ring = nullptr;
    sb_event_queue *queue = nullptr;
    sb_server *server = nullptr;
    std::unique_ptr<VtkCapture> capture;
    std::unique_ptr<VtkReplay> replay;
};

namespace {

// Copies len bytes at addr without dereferencing it: the kernel reports unmapped memory as
// EFAULT instead of the process dying of SIGSEGV.
bool MemoryIsReadable(const void *addr, size_t len)
{
    char probe[16];
    if (len > sizeof probe)
        len = sizeof probe;
    struct iovec local = {probe, len};
    struct iovec remote = {const_cast<void *>(addr), len};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

// The render window arrives as an untrusted void* (from C or ctypes). A real VTK object starts
// with a vtable pointer that points into a loaded module image (libvtk*, the executable); checking
// that before the first virtual call turns most wrong pointers into SB_EINVAL instead of a crash.
// A pointer to readable memory that happens to look like that cannot be told apart.
int CheckRenderWindowPointer(void *p, const char *func, vtkOpenGLRenderWindow **out)
{
    if (!p)
        return sb__set_error(SB_EINVAL, func, "render_window is NULL");
    if (reinterpret_cast<uintptr_t>(p) % alignof(void *) != 0)
        return sb__set_error(SB_EINVAL, func,
                             "render_window %p is not aligned like a C++ object: not a "
                             "vtkRenderWindow address",
                             p);
    void *vptr = nullptr;
    if (!MemoryIsReadable(p, sizeof vptr))
        return sb__set_error(SB_EINVAL, func, "render_window %p is not readable memory", p);
    // Readable, so this plain read is safe.
    vptr = *static_cast<void *const *>(p);
    Dl_info info;
    if (!vptr || reinterpret_cast<uintptr_t>(vptr) % alignof(void *) != 0 ||
        !MemoryIsReadable(vptr, sizeof(void *)) || dladdr(vptr, &info) == 0)
        return sb__set_error(SB_EINVAL, func,
                             "render_window %p does not point to a VTK object (no vtable)", p);
    auto *object = static_cast<vtkObjectBase *>(p);
    vtkRenderWindow *window = vtkRenderWindow::SafeDownCast(object);
    if (!window)
        return sb__set_error(SB_EINVAL, func, "render_window %p is a %s, not a vtkRenderWindow",
                             p, object->GetClassName());
    auto *gl_window = vtkOpenGLRenderWindow::SafeDownCast(window);
    if (!gl_window)
        return sb__set_error(SB_EINVAL, func,
                             "render_window %p is a %s, not an OpenGL (vtkOpenGLRenderWindow) "
                             "render window",
                             p, window->GetClassName());
    *out = gl_window;
    return SB_OK;
}

int CheckOptions(const sb_stream_options &o, const char *func)
{
    if (o.version != SB_STREAM_OPTIONS_VERSION)
        return sb__set_error(SB_EVERSION, func,
                             "options version %u is not supported (this library knows %d; "
                             "initialize with SB_STREAM_OPTIONS_INIT)",
                             o.version, SB_STREAM_OPTIONS_VERSION);
    if (o.max_width < 1 || o.max_width > kMaxFrameSide || o.max_height < 1 ||
        o.max_height > kMaxFrameSide)
        return sb__set_error(SB_EINVAL, func, "max size %ux%u must be 1..%u on each side",
                             o.max_width, o.max_height, kMaxFrameSide);
    if (o.buffer_count < 2 || o.buffer_count > SB_FRAME_RING_MAX_BUFFERS)
        return sb__set_error(SB_EINVAL, func, "buffer_count %u must be 2..%d", o.buffer_count,
                             SB_FRAME_RING_MAX_BUFFERS);
    if (o.serve != 0 && o.serve != 1)
        return sb__set_error(SB_EINVAL, func, "serve %d must be 0 or 1", o.serve);
    if (o.port < 0 || o.port > 65535)
        return sb__set_error(SB_EINVAL, func, "port %d must be 0..65535 (0 = ephemeral)", o.port);
    if (o.jpeg_quality_interactive < 1 || o.jpeg_quality_interactive > 100)
        return sb__set_error(SB_EINVAL, func, "jpeg_quality_interactive %d must be 1..100",
                             o.jpeg_quality_interactive);
    if (o.jpeg_quality_still < 1 || o.jpeg_quality_still > 100)
        return sb__set_error(SB_EINVAL, func, "jpeg_quality_still %d must be 1..100",
                             o.jpeg_quality_still);
    if (!std::isfinite(o.max_fps) || o.max_fps <= 0.0 || o.max_fps > 1000.0)
        return sb__set_error(SB_EINVAL, func, "max_fps %g must be in (0, 1000]", o.max_fps);
    if (o.timer_interval_ms < 1 || o.timer_interval_ms > 10000)
        return sb__set_error(SB_EINVAL, func, "timer_interval_ms %d must be 1..10000",
                             o.timer_interval_ms);
    if (o.allow_remote_exit != 0 && o.allow_remote_exit != 1)
        return sb__set_error(SB_EINVAL, func, "allow_remote_exit %d must be 0 or 1",
                             o.allow_remote_exit);
    return SB_OK;
}

sb_server_options ServerOptionsFrom(const Stream &s)
{
    sb_server_options so{};
    sb_server_options_init(&so, SB_SERVER_OPTIONS_VERSION); // C++17: no designated initializers
    so.bind_address = s.bind_address.c_str();
    so.port = s.options.port;
    so.jpeg_quality_interactive = s.options.jpeg_quality_interactive;
    so.jpeg_quality_still = s.options.jpeg_quality_still;
    so.max_fps = s.options.max_fps;
    so.access_token = s.has_access_token ? s.access_token.c_str() : nullptr;
    return so;
}

int StartServer(Stream &s, const sb_server_options *opts, const char *func)
{
    if (s.server) {
        int port = 0;
        sb_server_get_port(s.server, &port);
        return sb__set_error(SB_ESTATE, func, "a server already runs for this stream (port %d)",
                             port);
    }
    sb_server_options from_stream = ServerOptionsFrom(s);
    // sb_server_create sets its own error text (with its name) on failure.
    return sb_server_create(s.ring, s.queue, opts ? opts : &from_stream, &s.server);
}

// Turns a VTK error caught during the call into SB_EVTK (unless the call already failed).
int WithVtkErrors(const VtkErrorTrap &trap, int rc, const char *func)
{
    if (rc >= 0 && trap.Caught())
        return sb__set_error(SB_EVTK, func, "%s", trap.Message().c_str());
    return rc;
}

} // namespace
} // namespace sb

using sb::Stream;

extern "C" {

int sb_stream_create(void *render_window, const sb_stream_options *opts, sb_stream **out)
{
    static const char *const func = "sb_stream_create";
    return sb::firewall(func, [&]() -> int {
        if (!out)
            return sb__set_error(SB_EINVAL, func, "out is NULL");
        *out = nullptr;
        const sb_stream_options defaults = SB_STREAM_OPTIONS_INIT;
        const sb_stream_options &o = opts ? *opts : defaults;
        int rc = sb::CheckOptions(o, func);
        if (rc != SB_OK)
            return rc;
        vtkOpenGLRenderWindow *window = nullptr;
        rc = sb::CheckRenderWindowPointer(render_window, func, &window);
        if (rc != SB_OK)
            return rc;

        auto s = std::make_unique<Stream>();
        s->options = o;
        s->has_shm_name = o.shm_name != nullptr;
        s->shm_name = o.shm_name ? o.shm_name : "";
        s->bind_address = o.bind_address ? o.bind_address : "127.0.0.1";
        s->has_access_token = o.access_token != nullptr;
        s->access_token = o.access_token ? o.access_token : "";
        s->options.shm_name = nullptr; // strings are read from the copies above only
        s->options.bind_address = nullptr;
        s->options.access_token = nullptr;
        s->window = window;

        sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
        ro.max_width = o.max_width;
        ro.max_height = o.max_height;
        ro.buffer_count = o.buffer_count;
        ro.shm_name = s->has_shm_name ? s->shm_name.c_str() : nullptr;
        rc = sb_frame_ring_create(&ro, &s->ring);
        if (rc != SB_OK)
            return rc;
        sb_event_queue_options qo = SB_EVENT_QUEUE_OPTIONS_INIT;
        // "" asks each for a generated name; the queue must share the ring's, so pass it on.
        qo.shm_name = s->has_shm_name ? sb_frame_ring_name(s->ring) : nullptr;
        rc = sb_event_queue_create(&qo, &s->queue);
        if (rc != SB_OK)
            return rc;

        sb::VtkErrorTrap trap(window);
        s->capture = std::make_unique<sb::VtkCapture>(window, s->ring);
        s->replay = std::make_unique<sb::VtkReplay>(window, s->queue, o.max_width, o.max_height,
                                                    o.timer_interval_ms,
                                                    o.allow_remote_exit == 1);
        rc = s->replay->Attach();
        if (rc != SB_OK)
            return rc;
        if (trap.Caught())
            return sb::WithVtkErrors(trap, rc, func);
        if (o.serve) {
            rc = sb::StartServer(*s, nullptr, func);
            if (rc != SB_OK)
                return rc;
        }
        *out = sb::wrap(s.release());
        return SB_OK;
    });
}

void sb_stream_destroy(sb_stream *stream)
{
    sb::firewall("sb_stream_destroy", [&]() { delete sb::unwrap(stream); });
}

int sb_stream_pump(sb_stream *stream, int timeout_ms)
{
    static const char *const func = "sb_stream_pump";
    return sb::firewall(func, [&]() -> int {
        Stream *s = sb::unwrap(stream);
        if (!s)
            return sb__set_error(SB_EINVAL, func, "stream is NULL");
        if (timeout_ms < -1)
            return sb__set_error(SB_EINVAL, func, "timeout_ms %d must be -1, 0 or positive",
                                 timeout_ms);
        if (!s->window)
            return sb__set_error(SB_ESTATE, func, "the render window was destroyed");
        sb::VtkErrorTrap trap(s->window);
        int rc = s->replay->Pump(timeout_ms);
        return sb::WithVtkErrors(trap, rc, func);
    });
}

int sb_stream_render(sb_stream *stream)
{
    static const char *const func = "sb_stream_render";
    return sb::firewall(func, [&]() -> int {
        Stream *s = sb::unwrap(stream);
        if (!s)
            return sb__set_error(SB_EINVAL, func, "stream is NULL");
        vtkOpenGLRenderWindow *window = s->window;
        if (!window)
            return sb__set_error(SB_ESTATE, func, "the render window was destroyed");
        const sb::CaptureStats before = s->capture->Stats();
        sb::VtkErrorTrap trap(window);
        window->Render();
        int rc = sb::WithVtkErrors(trap, SB_OK, func);
        if (rc != SB_OK)
            return rc;
        const sb::CaptureStats &after = s->capture->Stats();
        if (after.frames_refused_too_big > before.frames_refused_too_big) {
            const int *size = window->GetSize();
            return sb__set_error(SB_ETOOBIG, func,
                                 "rendered, but the %dx%d window exceeds the stream's maximum "
                                 "frame %ux%u: nothing was captured",
                                 size[0], size[1], s->options.max_width, s->options.max_height);
        }
        if (after.capture_failures > before.capture_failures)
            return sb__set_error(SB_EINTERNAL, func, "rendered, but the capture failed (see log)");
        return SB_OK;
    });
}

sb_frame_ring *sb_stream_frame_ring(sb_stream *stream)
{
    Stream *s = sb::unwrap(stream);
    return s ? s->ring : nullptr;
}

sb_event_queue *sb_stream_event_queue(sb_stream *stream)
{
    Stream *s = sb::unwrap(stream);
    return s ? s->queue : nullptr;
}

sb_server *sb_stream_server(sb_stream *stream)
{
    Stream *s = sb::unwrap(stream);
    return s ? s->server : nullptr;
}

int sb_stream_serve(sb_stream *stream, const sb_server_options *opts)
{
    static const char *const func = "sb_stream_serve";
    return sb::firewall(func, [&]() -> int {
        Stream *s = sb::unwrap(stream);
        if (!s)
            return sb__set_error(SB_EINVAL, func, "stream is NULL");
        return sb::StartServer(*s, opts, func);
    });
}

int sb_stream_get_stats(sb_stream *stream, sb_stream_stats *stats)
{
    static const char *const func = "sb_stream_get_stats";
    return sb::firewall(func, [&]() -> int {
        Stream *s = sb::unwrap(stream);
        if (!s)
            return sb__set_error(SB_EINVAL, func, "stream is NULL");
        if (!stats)
            return sb__set_error(SB_EINVAL, func, "stats is NULL");
        const sb::CaptureStats &c = s->capture->Stats();
        const sb::ReplayStats &r = s->replay->Stats();
        stats->frames_captured = c.frames_captured;
        stats->frames_refused_too_big = c.frames_refused_too_big;
        stats->events_replayed = r.events_replayed;
        stats->events_invalid = r.events_invalid;
        stats->renders_requested = r.renders_requested;
        stats->capture_ms_mean =
            c.frames_captured ? c.capture_ms_total / static_cast<double>(c.frames_captured) : 0.0;
        return SB_OK;
    });
}

} // extern "C"
