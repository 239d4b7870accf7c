// stream.cxx - the stream C API (streambridge/stream.h): ties a VTK render window to a frame
// ring and an event queue (and optionally the web server) through the bridge's capture and
// replay. Every entry point runs inside sb::firewall(); every VTK error raised during a call
// becomes SB_EVTK.
#include "capi_firewall.h"
#include "sb_error_internal.h"
#include "server_attach.h"
#include "server_options.h"
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

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sb {

// The 0.1 layout (version 1) of sb_stream_options, still accepted: the server options it had
// lay flat among the stream's. Read through timer_interval_ms only (what version 1 defines).
struct StreamOptionsV1 {
    unsigned int version;
    uint32_t max_width;
    uint32_t max_height;
    uint32_t buffer_count;
    const char *shm_name;
    int serve;
    const char *bind_address;
    int port;
    int jpeg_quality_interactive;
    int jpeg_quality_still;
    double max_fps;
    const char *access_token;
    int timer_interval_ms;
};
static_assert(SB_SAMPLES_MAX == SB_STREAM_LATENCY_SAMPLES,
              "sb_stream_stats documents the capture's sample window");

constexpr size_t kStreamOptionsV1Size =
    offsetof(StreamOptionsV1, timer_interval_ms) + sizeof(int);

// The 0.2 layout (version 2), frozen: version 3 put readback before the embedded server
// options, which stay last. Read through .server, whose own version says how much of it exists.
struct StreamOptionsV2 {
    unsigned int version;
    uint32_t max_width;
    uint32_t max_height;
    uint32_t buffer_count;
    const char *shm_name;
    int serve;
    int timer_interval_ms;
    int allow_remote_exit;
    sb_server_options server;
};

class Stream {
public:
    ~Stream()
    {
        Unregister(this);
        // Observers first (no capture or replay may run against a freed ring or queue), then the
        // server (it reads the ring), then the ring and queue.
        replay.reset();
        capture.reset();
        if (shared_server) {
            // After a destroyed server's stop the stream is gone already (SB_ENOENT): fine.
            sb_server_remove_stream(shared_server, stream_name.c_str());
            sb__server_release(shared_server);
            shared_server = nullptr;
        }
        sb_server_destroy(server);
        server = nullptr;
        sb_event_queue_destroy(queue);
        sb_frame_ring_destroy(ring);
    }

    // Options, with their strings owned here so the caller's need not outlive the call
    // (options.server keeps the caller's server options version: the server completes it).
    sb_stream_options options{};
    std::string shm_name, bind_address, access_token, allowed_origins, video_codecs, default_codec;
    std::string rtp_host, rtp_codec, rtp_janus_url;
    bool has_shm_name = false;

    void OwnStrings()
    {
        has_shm_name = Own(options.shm_name, shm_name);
        Own(options.server.bind_address, bind_address);
        Own(options.server.access_token, access_token);
        Own(options.server.allowed_origins, allowed_origins);
        Own(options.server.video_codecs, video_codecs);
        Own(options.server.default_codec, default_codec);
        Own(options.server.rtp_host, rtp_host);
        Own(options.server.rtp_codec, rtp_codec);
        Own(options.server.rtp_janus_url, rtp_janus_url);
    }

    vtkWeakPointer<vtkOpenGLRenderWindow> window;
    sb_frame_ring *ring = nullptr;
    sb_event_queue *queue = nullptr;
    sb_server *server = nullptr;        // owned: sb_stream_create's serve / sb_stream_serve
    sb_server *shared_server = nullptr; // borrowed: sb_stream_create_on_server (held)
    std::string stream_name;            // its name on shared_server
    std::unique_ptr<VtkCapture> capture;
    std::unique_ptr<VtkReplay> replay;

    // One stream per window: a second stream's interactor hooks would be torn out from under it
    // when the first is destroyed (its input then replays as events_invalid). Claims window for
    // s, or false when a live stream already streams it (a window deleted while its stream
    // lives frees its claim: the weak pointer reads null).
    static bool Claim(Stream *s, vtkOpenGLRenderWindow *window)
    {
        std::lock_guard<std::mutex> lock(RegistryMutex());
        for (const Stream *other : Registry())
            if (other->window.GetPointer() == window)
                return false;
        s->window = window;
        Registry().push_back(s);
        return true;
    }

private:
    static std::mutex &RegistryMutex()
    {
        static std::mutex m;
        return m;
    }
    static std::vector<Stream *> &Registry()
    {
        static std::vector<Stream *> live;
        return live;
    }
    static void Unregister(Stream *s)
    {
        std::lock_guard<std::mutex> lock(RegistryMutex());
        auto &live = Registry();
        live.erase(std::remove(live.begin(), live.end(), s), live.end());
    }

    // Points field at a copy kept in storage (NULL stays NULL); true when field was set.
    static bool Own(const char *&field, std::string &storage)
    {
        if (!field)
            return false;
        storage = field;
        field = storage.c_str();
        return true;
    }
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

// The size of the caller's embedded server options (version 2 on), from their own version.
int ServerOptionsSize(unsigned int stream_version, unsigned int server_version, size_t *size,
                      const char *func)
{
    *size = sb__server_options_size(server_version);
    if (*size == 0)
        return sb__set_error(SB_EVERSION, func,
                             "server options version %u (in stream options version %u) is not "
                             "1..%d (use sb_stream_options_init or SB_STREAM_OPTIONS_INIT)",
                             server_version, stream_version, SB_SERVER_OPTIONS_VERSION);
    return SB_OK;
}

// The caller's options of any accepted version as the current layout, in *full.
int CompleteOptions(const sb_stream_options *opts, sb_stream_options *full, const char *func)
{
    int rc = sb_stream_options_init(full, SB_STREAM_OPTIONS_VERSION);
    if (rc != SB_OK || !opts)
        return rc;
    switch (opts->version) {
    case 1: {
        StreamOptionsV1 v1{};
        memcpy(&v1, opts, kStreamOptionsV1Size);
        full->max_width = v1.max_width;
        full->max_height = v1.max_height;
        full->buffer_count = v1.buffer_count;
        full->shm_name = v1.shm_name;
        full->serve = v1.serve;
        full->timer_interval_ms = v1.timer_interval_ms;
        full->server.bind_address = v1.bind_address;
        full->server.port = v1.port;
        full->server.jpeg_quality_interactive = v1.jpeg_quality_interactive;
        full->server.jpeg_quality_still = v1.jpeg_quality_still;
        full->server.max_fps = v1.max_fps;
        full->server.access_token = v1.access_token;
        return SB_OK;
    }
    case 2: {
        StreamOptionsV2 v2{};
        size_t server_size = 0;
        rc = ServerOptionsSize(opts->version, reinterpret_cast<const StreamOptionsV2 *>(opts)
                                                  ->server.version,
                               &server_size, func);
        if (rc != SB_OK)
            return rc;
        memcpy(&v2, opts, offsetof(StreamOptionsV2, server) + server_size);
        full->max_width = v2.max_width;
        full->max_height = v2.max_height;
        full->buffer_count = v2.buffer_count;
        full->shm_name = v2.shm_name;
        full->serve = v2.serve;
        full->timer_interval_ms = v2.timer_interval_ms;
        full->allow_remote_exit = v2.allow_remote_exit;
        memcpy(&full->server, &v2.server, server_size);
        return SB_OK;
    }
    case 3: {
        // .server is the last member and grows at its end: its own version says how much of
        // the caller's struct exists. Fields an older server version lacks keep the defaults
        // sb_stream_options_init put there.
        size_t server_size = 0;
        rc = ServerOptionsSize(opts->version, opts->server.version, &server_size, func);
        if (rc != SB_OK)
            return rc;
        memcpy(full, opts, offsetof(sb_stream_options, server) + server_size);
        return SB_OK;
    }
    default:
        return sb__set_error(SB_EVERSION, func,
                             "options version %u is not 1..%d (use sb_stream_options_init or "
                             "SB_STREAM_OPTIONS_INIT)",
                             opts->version, SB_STREAM_OPTIONS_VERSION);
    }
}

// The stream's own options, then the server's (.server) by the server's own check.
int CheckOptions(const sb_stream_options &o, const char *func)
{
    if (o.max_width < 1 || o.max_width > SB_MAX_FRAME_SIDE || o.max_height < 1 ||
        o.max_height > SB_MAX_FRAME_SIDE)
        return sb__set_error(SB_EINVAL, func, "max size %ux%u must be 1..%d on each side",
                             o.max_width, o.max_height, SB_MAX_FRAME_SIDE);
    if (o.buffer_count < 2 || o.buffer_count > SB_FRAME_RING_MAX_BUFFERS)
        return sb__set_error(SB_EINVAL, func, "buffer_count %u must be 2..%d", o.buffer_count,
                             SB_FRAME_RING_MAX_BUFFERS);
    if (o.serve != 0 && o.serve != 1)
        return sb__set_error(SB_EINVAL, func, "serve %d must be 0 or 1", o.serve);
    if (o.timer_interval_ms < 1 || o.timer_interval_ms > 10000)
        return sb__set_error(SB_EINVAL, func, "timer_interval_ms %d must be 1..10000",
                             o.timer_interval_ms);
    if (o.allow_remote_exit != 0 && o.allow_remote_exit != 1)
        return sb__set_error(SB_EINVAL, func, "allow_remote_exit %d must be 0 or 1",
                             o.allow_remote_exit);
    if (o.readback != SB_STREAM_READBACK_SYNC && o.readback != SB_STREAM_READBACK_ASYNC)
        return sb__set_error(SB_EINVAL, func,
                             "readback %d must be SB_STREAM_READBACK_SYNC (%d) or "
                             "SB_STREAM_READBACK_ASYNC (%d)",
                             o.readback, SB_STREAM_READBACK_SYNC, SB_STREAM_READBACK_ASYNC);
    // The server's options, by the server's one validation, whether or not serve is set:
    // sb_stream_serve(s, NULL) uses them later, and a wrong option is reported where it was given.
    return sb__server_options_check(&o.server, func);
}

int StartServer(Stream &s, const sb_server_options *opts, const char *func)
{
    if (s.shared_server)
        return sb__set_error(SB_ESTATE, func, "the stream is served by a shared server (stream "
                             "\"%s\"): sb_stream_create_on_server", s.stream_name.c_str());
    if (s.server) {
        int port = 0;
        sb_server_get_port(s.server, &port);
        return sb__set_error(SB_ESTATE, func, "a server already runs for this stream (port %d)",
                             port);
    }
    // sb_server_create checks the options and sets its own error text (with its name).
    return sb_server_create(s.ring, s.queue, opts ? opts : &s.options.server, &s.server);
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

namespace sb {
namespace {

// Everything sb_stream_create and sb_stream_create_on_server share: the options, the window,
// the ring and queue, the capture and the replay. Serving is the caller's.
int MakeStream(void *render_window, const sb_stream_options *opts, const char *func,
               std::unique_ptr<Stream> &out)
{
    auto s = std::make_unique<Stream>();
    int rc = CompleteOptions(opts, &s->options, func);
    if (rc != SB_OK)
        return rc;
    s->OwnStrings();
    const sb_stream_options &o = s->options;
    rc = CheckOptions(o, func);
    if (rc != SB_OK)
        return rc;
    vtkOpenGLRenderWindow *window = nullptr;
    rc = CheckRenderWindowPointer(render_window, func, &window);
    if (rc != SB_OK)
        return rc;
    if (!Stream::Claim(s.get(), window))
        return sb__set_error(SB_ESTATE, func,
                             "render window %p is already streamed by another sb_stream: one "
                             "stream per window (destroy that one first, or serve more viewers "
                             "and codecs from it)",
                             render_window);

    sb_frame_ring_options ro;
    sb_frame_ring_options_init(&ro, SB_FRAME_RING_OPTIONS_VERSION);
    ro.max_width = o.max_width;
    ro.max_height = o.max_height;
    ro.buffer_count = o.buffer_count;
    ro.shm_name = o.shm_name;
    rc = sb_frame_ring_create(&ro, &s->ring);
    if (rc != SB_OK)
        return rc;
    sb_event_queue_options qo;
    sb_event_queue_options_init(&qo, SB_EVENT_QUEUE_OPTIONS_VERSION);
    qo.shm_name = s->has_shm_name ? sb_frame_ring_name(s->ring) : nullptr;
    rc = sb_event_queue_create(&qo, &s->queue);
    if (rc != SB_OK)
        return rc;

    VtkErrorTrap trap(window);
    s->capture = std::make_unique<VtkCapture>(
        window, s->ring,
        o.readback == SB_STREAM_READBACK_ASYNC ? Readback::Async : Readback::Sync);
    s->replay = std::make_unique<VtkReplay>(window, s->queue, o.max_width, o.max_height,
                                            o.timer_interval_ms, o.allow_remote_exit == 1);
    VtkCapture *capture = s->capture.get();
    s->replay->SetInputObserver([capture](uint64_t input_ns, uint64_t replay_ns) {
        capture->NoteInput(input_ns, replay_ns);
    });
    // A frame read back asynchronously waits for the next render; when none comes, the
    // replay's next tick (or pump) publishes it.
    s->replay->SetTickObserver([capture]() {
        // Counted in the capture's stats; logged once, as a failed capture at EndEvent.
        if (capture->HasPending() && capture->PublishPending() != SB_OK &&
            capture->Stats().capture_failures == 1)
            sb__log("publishing the last rendered frame failed: %s", sb_last_error());
    });
    rc = s->replay->Attach();
    if (rc != SB_OK)
        return rc;
    if (trap.Caught())
        return WithVtkErrors(trap, rc, func);
    out = std::move(s);
    return SB_OK;
}

} // namespace
} // namespace sb

extern "C" {

int sb_stream_create(void *render_window, const sb_stream_options *opts, sb_stream **out)
{
    static const char *const func = "sb_stream_create";
    return sb::firewall(func, [&]() -> int {
        if (!out)
            return sb__set_error(SB_EINVAL, func, "out is NULL");
        *out = nullptr;
        std::unique_ptr<Stream> s;
        int rc = sb::MakeStream(render_window, opts, func, s);
        if (rc != SB_OK)
            return rc;
        if (s->options.serve) {
            rc = sb::StartServer(*s, nullptr, func);
            if (rc != SB_OK)
                return rc;
        }
        *out = sb::wrap(s.release());
        return SB_OK;
    });
}

int sb_stream_create_on_server(sb_server *server, const char *name, void *render_window,
                               const sb_stream_options *opts, sb_stream **out)
{
    static const char *const func = "sb_stream_create_on_server";
    return sb::firewall(func, [&]() -> int {
        if (!out)
            return sb__set_error(SB_EINVAL, func, "out is NULL");
        *out = nullptr;
        if (!server)
            return sb__set_error(SB_EINVAL, func, "server is NULL");
        if (!name)
            return sb__set_error(SB_EINVAL, func, "name is NULL");
        if (sb__server_destroyed(server))
            return sb__set_error(SB_ESTATE, func, "the server was destroyed");
        std::unique_ptr<Stream> s;
        int rc = sb::MakeStream(render_window, opts, func, s);
        if (rc != SB_OK)
            return rc;
        rc = sb_server_add_stream(server, name, s->ring, s->queue);
        if (rc != SB_OK)
            return rc; // its error names the reason (bad name, name in use)
        sb__server_hold(server);
        s->shared_server = server;
        s->stream_name = name;
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
        // The caller expects this render's frame in the ring on return, whatever the readback.
        s->capture->PublishPending();
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
    return !s ? nullptr : s->shared_server ? s->shared_server : s->server;
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

int sb_stream_options_init(sb_stream_options *opts, unsigned int version)
{
    static const char *const func = "sb_stream_options_init";
    return sb::firewall(func, [&]() -> int {
        if (!opts)
            return sb__set_error(SB_EINVAL, func, "opts is NULL");
        if (version != SB_STREAM_OPTIONS_VERSION)
            return sb__set_error(SB_EVERSION, func,
                                 "options version %u cannot be filled: only %d (a version-1 "
                                 "or -2 struct is another type, still accepted by "
                                 "sb_stream_create)",
                                 version, SB_STREAM_OPTIONS_VERSION);
        *opts = sb_stream_options{};
        opts->version = SB_STREAM_OPTIONS_VERSION;
        opts->max_width = SB_STREAM_DEFAULT_MAX_WIDTH;
        opts->max_height = SB_STREAM_DEFAULT_MAX_HEIGHT;
        opts->buffer_count = SB_STREAM_DEFAULT_BUFFER_COUNT;
        opts->shm_name = nullptr;
        opts->serve = 0;
        opts->timer_interval_ms = SB_STREAM_DEFAULT_TIMER_INTERVAL_MS;
        opts->allow_remote_exit = 0;
        opts->readback = SB_STREAM_DEFAULT_READBACK;
        return sb_server_options_init(&opts->server, SB_SERVER_OPTIONS_VERSION);
    });
}

int sb_stream_get_stats(const sb_stream *stream, sb_stream_stats *out)
{
    static const char *const func = "sb_stream_get_stats";
    return sb::firewall(func, [&]() -> int {
        const Stream *s = sb::unwrap(stream);
        if (!s)
            return sb__set_error(SB_EINVAL, func, "stream is NULL");
        if (!out)
            return sb__set_error(SB_EINVAL, func, "stats is NULL");
        size_t size;
        switch (out->version) {
        case 1: size = offsetof(sb_stream_stats, render_ms_p50); break;
        case 2: size = sizeof(sb_stream_stats); break;
        default:
            return sb__set_error(SB_EVERSION, func, "stats version %u is not 1..%d (use "
                                 "SB_STREAM_STATS_VERSION)", out->version,
                                 SB_STREAM_STATS_VERSION);
        }
        const sb::CaptureStats &c = s->capture->Stats();
        const sb::ReplayStats &r = s->replay->Stats();
        // Filled whole here, handed out as the prefix the caller's version has.
        sb_stream_stats stats{};
        stats.version = out->version;
        stats.frames_captured = c.frames_captured;
        stats.frames_refused_too_big = c.frames_refused_too_big;
        stats.events_replayed = r.events_replayed;
        stats.events_invalid = r.events_invalid;
        stats.renders_requested = r.renders_requested;
        stats.capture_ms_mean =
            c.frames_captured ? c.capture_ms_total / static_cast<double>(c.frames_captured) : 0.0;
        sb_sample_summary render{}, input{};
        sb__samples_summary(&c.render_ms, &render);
        sb__samples_summary(&c.input_to_publish_ms, &input);
        stats.render_ms_p50 = render.p50;
        stats.render_ms_p99 = render.p99;
        stats.input_to_publish_ms_p50 = input.p50;
        stats.input_to_publish_ms_p99 = input.p99;
        memcpy(out, &stats, size);
        return SB_OK;
    });
}

} // extern "C"
