// test_stream_api.cxx - the stream C API: argument and option checking, untrusted window
// pointers, shm naming, the server hookup, VTK errors as SB_EVTK, both destroy orders and
// complete detaching.
#include "sb_cunit.h"
#include "vtk_test_scene.h"

#include <vtkCommand.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkPNGReader.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkWeakPointer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

namespace {

bool LastErrorHas(const char *text)
{
    return std::string(sb_last_error()).find(text) != std::string::npos;
}

void test_null_window_rejected()
{
    sb_stream *s = reinterpret_cast<sb_stream *>(0x1);
    CU_ASSERT_EQUAL(sb_stream_create(nullptr, nullptr, &s), SB_EINVAL);
    CU_ASSERT(s == nullptr);
    CU_ASSERT(LastErrorHas("sb_stream_create(): render_window is NULL"));
}

void test_null_out_rejected()
{
    TestScene scene = MakeScene(true);
    CU_ASSERT_EQUAL(sb_stream_create(scene.window, nullptr, nullptr), SB_EINVAL);
    CU_ASSERT(LastErrorHas("out is NULL"));
}

void test_non_window_vtk_object_rejected()
{
    vtkNew<vtkSphereSource> sphere;
    sb_stream *s = nullptr;
    CU_ASSERT_EQUAL(sb_stream_create(sphere.GetPointer(), nullptr, &s), SB_EINVAL);
    CU_ASSERT(s == nullptr);
    CU_ASSERT(LastErrorHas("vtkSphereSource, not a vtkRenderWindow"));
}

void test_garbage_pointers_rejected_without_crash()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    // Misaligned: inside the real window object.
    CU_ASSERT_EQUAL(sb_stream_create(reinterpret_cast<char *>(scene.window.GetPointer()) + 1,
                                     nullptr, &s),
                    SB_EINVAL);
    CU_ASSERT(LastErrorHas("not aligned"));
    // Unmapped memory.
    void *page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(page != MAP_FAILED);
    CU_ASSERT_EQUAL(sb_stream_create(page, nullptr, &s), SB_EINVAL);
    CU_ASSERT(LastErrorHas("not readable"));
    munmap(page, 4096);
    // Readable memory that is no object: zeros, and bytes that look like a wild pointer.
    std::vector<uint64_t> zeros(16, 0);
    CU_ASSERT_EQUAL(sb_stream_create(zeros.data(), nullptr, &s), SB_EINVAL);
    CU_ASSERT(LastErrorHas("does not point to a VTK object"));
    std::vector<uint64_t> junk(16, 0x4141414141414140ull);
    CU_ASSERT_EQUAL(sb_stream_create(junk.data(), nullptr, &s), SB_EINVAL);
    CU_ASSERT(LastErrorHas("does not point to a VTK object"));
    CU_ASSERT(s == nullptr);
}

int CreateWith(const sb_stream_options &o)
{
    static TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    int rc = sb_stream_create(scene.window, &o, &s);
    sb_stream_destroy(s);
    return rc;
}

void test_options_version_checked()
{
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.version = 99;
    CU_ASSERT_EQUAL(CreateWith(o), SB_EVERSION);
    CU_ASSERT(LastErrorHas("options version 99"));
}

void test_bad_options_rejected_with_reason()
{
    struct Case {
        void (*mutate)(sb_stream_options &);
        const char *reason;
    };
    const Case cases[] = {
        {[](sb_stream_options &o) { o.max_width = 0; }, "max size 0x1080"},
        {[](sb_stream_options &o) { o.max_height = 20000; }, "max size 1920x20000"},
        {[](sb_stream_options &o) { o.buffer_count = 1; }, "buffer_count 1"},
        {[](sb_stream_options &o) { o.buffer_count = 17; }, "buffer_count 17"},
        {[](sb_stream_options &o) { o.serve = 2; }, "serve 2"},
        {[](sb_stream_options &o) { o.timer_interval_ms = 0; }, "timer_interval_ms 0"},
        {[](sb_stream_options &o) { o.allow_remote_exit = 2; }, "allow_remote_exit 2"},
        {[](sb_stream_options &o) { o.shm_name = "bad/name"; }, "bad/name"},
    };
    for (const Case &c : cases) {
        sb_stream_options o;
        sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
        c.mutate(o);
        CU_ASSERT_EQUAL(CreateWith(o), SB_EINVAL);
        if (!LastErrorHas(c.reason))
            std::fprintf(stderr, "expected '%s' in '%s'\n", c.reason, sb_last_error());
        CU_ASSERT(LastErrorHas(c.reason));
    }
}

// The server's options are the server's to check (one set of ranges, its own messages), and every
// one of them reaches it through .server.
void test_bad_server_options_rejected_by_the_server()
{
    struct Case {
        void (*mutate)(sb_server_options &);
        const char *reason;
    };
    const Case cases[] = {
        {[](sb_server_options &o) { o.port = 70000; }, "port 70000"},
        {[](sb_server_options &o) { o.jpeg_quality_interactive = 0; }, "jpeg_quality_interactive 0"},
        {[](sb_server_options &o) { o.jpeg_quality_still = 101; }, "jpeg_quality_still 101"},
        {[](sb_server_options &o) { o.max_fps = 0; }, "max_fps 0"},
        {[](sb_server_options &o) { o.max_fps = std::numeric_limits<double>::quiet_NaN(); },
         "max_fps nan"},
        {[](sb_server_options &o) { o.still_delay_ms = 70000; }, "still_delay_ms 70000"},
        {[](sb_server_options &o) { o.max_clients = 0; }, "max_clients 0"},
        {[](sb_server_options &o) { o.ack_timeout_ms = 1; }, "ack_timeout_ms 1"},
        {[](sb_server_options &o) { o.keyframe_min_interval_ms = -1; },
         "keyframe_min_interval_ms -1"},
        {[](sb_server_options &o) { o.default_codec = "av1"; }, "default_codec \"av1\""},
        {[](sb_server_options &o) { o.version = 99; }, "options version 99"},
    };
    for (const Case &c : cases) {
        sb_stream_options o;
        sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
        o.serve = 1;
        c.mutate(o.server);
        int rc = CreateWith(o);
        CU_ASSERT(rc == SB_EINVAL || rc == SB_EVERSION);
        if (!LastErrorHas(c.reason))
            std::fprintf(stderr, "expected '%s' in '%s'\n", c.reason, sb_last_error());
        CU_ASSERT(LastErrorHas(c.reason));
        // Without serve too: sb_stream_serve(s, NULL) would use them later.
        o.serve = 0;
        rc = CreateWith(o);
        CU_ASSERT(rc == SB_EINVAL || rc == SB_EVERSION);
        CU_ASSERT(LastErrorHas(c.reason));
    }
}

void test_options_init_fills_defaults_and_refuses_other_versions()
{
    sb_stream_options o;
    memset(&o, 0xab, sizeof o);
    CU_ASSERT_EQUAL(sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION), SB_OK);
    CU_ASSERT_EQUAL(o.version, static_cast<unsigned>(SB_STREAM_OPTIONS_VERSION));
    CU_ASSERT_EQUAL(o.max_width, static_cast<uint32_t>(SB_STREAM_DEFAULT_MAX_WIDTH));
    CU_ASSERT_EQUAL(o.max_height, static_cast<uint32_t>(SB_STREAM_DEFAULT_MAX_HEIGHT));
    CU_ASSERT_EQUAL(o.buffer_count, static_cast<uint32_t>(SB_STREAM_DEFAULT_BUFFER_COUNT));
    CU_ASSERT(o.shm_name == nullptr);
    CU_ASSERT_EQUAL(o.serve, 0);
    CU_ASSERT_EQUAL(o.timer_interval_ms, SB_STREAM_DEFAULT_TIMER_INTERVAL_MS);
    CU_ASSERT_EQUAL(o.allow_remote_exit, 0);
    CU_ASSERT_EQUAL(o.readback, SB_STREAM_DEFAULT_READBACK);
    sb_server_options so;
    sb_server_options_init(&so, SB_SERVER_OPTIONS_VERSION);
    // .server too, with the server's own defaults.
    CU_ASSERT_EQUAL(o.server.version, so.version);
    CU_ASSERT_STRING_EQUAL(o.server.bind_address, so.bind_address);
    CU_ASSERT_EQUAL(o.server.port, so.port);
    CU_ASSERT_EQUAL(o.server.max_clients, so.max_clients);
    CU_ASSERT_EQUAL(o.server.ack_timeout_ms, so.ack_timeout_ms);
    CU_ASSERT(o.server.allowed_origins == nullptr);
    CU_ASSERT_EQUAL(sb_stream_options_init(&o, 1), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_stream_options_init(&o, 2), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_stream_options_init(&o, 4), SB_EVERSION);
    CU_ASSERT(LastErrorHas("options version 4"));
    CU_ASSERT_EQUAL(sb_stream_options_init(nullptr, SB_STREAM_OPTIONS_VERSION), SB_EINVAL);
    CU_ASSERT_EQUAL(CreateWith(o), SB_OK);
    o.version = 4;
    CU_ASSERT_EQUAL(CreateWith(o), SB_EVERSION);
    CU_ASSERT(LastErrorHas("options version 4 is not 1..3"));
    o.version = 0;
    CU_ASSERT_EQUAL(CreateWith(o), SB_EVERSION);
}

// sb_stream_options as 0.1 defined it (version 1): the server options flat among the stream's.
struct StreamOptions01 {
    unsigned int version;
    uint32_t max_width, max_height, buffer_count;
    const char *shm_name;
    int serve;
    const char *bind_address;
    int port;
    int jpeg_quality_interactive;
    int jpeg_quality_still;
    double max_fps;
    const char *access_token;
    int timer_interval_ms;
    int allow_remote_exit;
};

void test_version_1_options_still_accepted()
{
    StreamOptions01 v1 = {1, 640, 480, 4, nullptr, 1, "127.0.0.1", 0, 60, 90, 30.0, nullptr, 10, 0};
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    int rc = sb_stream_create(scene.window, reinterpret_cast<const sb_stream_options *>(&v1), &s);
    CU_ASSERT_EQUAL_FATAL(rc, SB_OK);
    CU_ASSERT_EQUAL(sb_frame_ring_max_width(sb_stream_frame_ring(s)), 640u);
    CU_ASSERT_EQUAL(sb_frame_ring_max_height(sb_stream_frame_ring(s)), 480u);
    CU_ASSERT_FATAL(sb_stream_server(s) != nullptr); // serve and port 0 were read
    int port = 0;
    CU_ASSERT_EQUAL(sb_server_get_port(sb_stream_server(s), &port), SB_OK);
    CU_ASSERT(port > 0);
    sb_stream_destroy(s);
    // Its flat server fields reach the server.
    v1.jpeg_quality_still = 101;
    CU_ASSERT_EQUAL(sb_stream_create(scene.window,
                                     reinterpret_cast<const sb_stream_options *>(&v1), &s),
                    SB_EINVAL);
    CU_ASSERT(LastErrorHas("jpeg_quality_still 101"));
    CU_ASSERT(s == nullptr);
}

// Status of the reply to a WebSocket upgrade sent with the given Origin (-1 if none).
int WebSocketUpgradeStatus(int port, const char *origin)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    timeval tv{30, 0}; // a reply that never comes fails the test, however slow the machine
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string request = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\nOrigin: " +
                          origin + "\r\n\r\n";
    int status = -1;
    char reply[64] = "";
    size_t n = 0;
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        while (n < 12) {
            ssize_t r = read(fd, reply + n, sizeof reply - 1 - n);
            if (r <= 0)
                break;
            n += static_cast<size_t>(r);
        }
        reply[n] = '\0';
        if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
            status = -1;
    }
    close(fd);
    return status;
}

void test_allowed_origins_reaches_the_server()
{
    TestScene scene = MakeScene(true);
    const char *viewer = "http://viewer.example:8080";
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.serve = 1;
    o.server.port = 0;
    sb_stream *s = nullptr;
    CU_ASSERT_EQUAL_FATAL(sb_stream_create(scene.window, &o, &s), SB_OK);
    int port = 0;
    sb_server_get_port(sb_stream_server(s), &port);
    CU_ASSERT_EQUAL(WebSocketUpgradeStatus(port, viewer), 403); // a foreign origin by default
    sb_stream_destroy(s);

    std::string origins = std::string("http://other.example,") + viewer;
    o.server.allowed_origins = origins.c_str();
    CU_ASSERT_EQUAL_FATAL(sb_stream_create(scene.window, &o, &s), SB_OK);
    origins.assign(origins.size(), 'x'); // the stream keeps its own copy
    sb_server_get_port(sb_stream_server(s), &port);
    CU_ASSERT_EQUAL(WebSocketUpgradeStatus(port, viewer), 101);
    sb_stream_destroy(s);
}

void test_stats_version_checked()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    sb_stream_stats st{};
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_EVERSION); // version 0
    st.version = SB_STREAM_STATS_VERSION + 1;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_EVERSION);
    CU_ASSERT(LastErrorHas("stats version 3"));
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    CU_ASSERT_EQUAL(st.version, static_cast<unsigned>(SB_STREAM_STATS_VERSION));
    sb_stream_destroy(s);
}

// A version-1 caller (0.2 before the percentiles) gets its fields and nothing is written past
// them.
void test_stats_version_1_still_filled()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_stream_stats st;
    std::memset(&st, 0xAB, sizeof st);
    st.version = 1;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    CU_ASSERT_EQUAL(st.version, 1u);
    CU_ASSERT(st.frames_captured >= 1u);
    const size_t v1_end = offsetof(sb_stream_stats, render_ms_p50);
    const auto *bytes = reinterpret_cast<const unsigned char *>(&st);
    bool untouched = true;
    for (size_t i = v1_end; i < sizeof st; i++)
        untouched = untouched && bytes[i] == 0xAB;
    CU_ASSERT(untouched);
    sb_stream_destroy(s);
}

uint64_t RealtimeNs()
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The producer's side of a frame's walk (docs/shm-layout.md, slot header): a frame made from
// replayed input carries the input's timestamp, when it was replayed, its render's start and end
// and its capture, in that order; a frame rendered without input carries the render only.
void test_frames_carry_their_times_in_order()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    sb_frame_ring *ring = sb_stream_frame_ring(s);

    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    Rgb px;
    sb_frame_info plain{};
    CU_ASSERT_FATAL(NewestPixel(ring, 0, 0, &px, &plain));
    CU_ASSERT_EQUAL(plain.input_ns, 0u);
    CU_ASSERT_EQUAL(plain.replay_ns, 0u);
    CU_ASSERT(plain.render_start_ns != 0);
    CU_ASSERT(plain.render_start_ns <= plain.render_end_ns);
    CU_ASSERT(plain.render_end_ns <= plain.capture_ns);

    // A drag whose events carry their arrival time, as the server stamps them.
    const uint64_t pushed_ns = RealtimeNs();
    sb_event press = MakeEvent(SB_EVENT_BUTTON_PRESS, 100, 100, SB_BUTTON_LEFT);
    sb_event move = MakeEvent(SB_EVENT_POINTER_MOVE, 140, 110, SB_BUTTON_LEFT);
    press.timestamp_ns = pushed_ns;
    move.timestamp_ns = pushed_ns + 1;
    CU_ASSERT_EQUAL(Push(s, press), SB_OK);
    CU_ASSERT_EQUAL(Push(s, move), SB_OK);
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 2);
    sb_frame_info f{};
    CU_ASSERT_FATAL(NewestPixel(ring, 0, 0, &px, &f));
    CU_ASSERT(f.seq > plain.seq);
    CU_ASSERT_EQUAL(f.input_ns, move.timestamp_ns); // the newest event that went in
    CU_ASSERT(f.input_ns <= f.replay_ns);
    CU_ASSERT(f.replay_ns <= f.render_start_ns);
    CU_ASSERT(f.render_start_ns <= f.render_end_ns);
    CU_ASSERT(f.render_end_ns <= f.capture_ns);

    // The input is spent: the next frame without new input does not claim it.
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_frame_info after{};
    CU_ASSERT_FATAL(NewestPixel(ring, 0, 0, &px, &after));
    CU_ASSERT_EQUAL(after.input_ns, 0u);

    // And the stream's percentiles saw both kinds of frame.
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    CU_ASSERT(st.render_ms_p50 > 0.0);
    CU_ASSERT(st.render_ms_p99 >= st.render_ms_p50);
    CU_ASSERT(st.input_to_publish_ms_p50 > 0.0);
    CU_ASSERT(st.input_to_publish_ms_p99 >= st.input_to_publish_ms_p50);
    sb_stream_destroy(s);
}

void test_null_handles_rejected_or_ignored()
{
    sb_stream_destroy(nullptr);
    CU_ASSERT_EQUAL(sb_stream_pump(nullptr, 0), SB_EINVAL);
    CU_ASSERT(LastErrorHas("sb_stream_pump(): stream is NULL"));
    CU_ASSERT_EQUAL(sb_stream_render(nullptr), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_stream_serve(nullptr, nullptr), SB_EINVAL);
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(nullptr, &st), SB_EINVAL);
    CU_ASSERT(sb_stream_frame_ring(nullptr) == nullptr);
    CU_ASSERT(sb_stream_event_queue(nullptr) == nullptr);
    CU_ASSERT(sb_stream_server(nullptr) == nullptr);
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, nullptr), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_stream_pump(s, -2), SB_EINVAL);
    sb_stream_destroy(s);
}

bool SegmentExists(const std::string &name, const char *suffix)
{
    struct stat st;
    return stat(("/dev/shm/streambridge-" + name + "-" + suffix).c_str(), &st) == 0;
}

void test_shm_stream_shares_one_generated_name()
{
    TestScene scene = MakeScene(true);
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.shm_name = "";
    o.max_width = 640;
    o.max_height = 480;
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, &o, &s) == SB_OK);
    const std::string name = sb_frame_ring_name(sb_stream_frame_ring(s));
    CU_ASSERT(!name.empty());
    CU_ASSERT_EQUAL(name, std::string(sb_event_queue_name(sb_stream_event_queue(s))));
    CU_ASSERT(SegmentExists(name, "ring"));
    CU_ASSERT(SegmentExists(name, "events"));
    CU_ASSERT_EQUAL(sb_frame_ring_max_width(sb_stream_frame_ring(s)), 640u);
    // A reader in "another process" sees the captured frame.
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_frame_ring *reader = nullptr;
    CU_ASSERT_FATAL(sb_frame_ring_attach(name.c_str(), &reader) == SB_OK);
    Rgb c{};
    CU_ASSERT(NewestPixel(reader, kSceneW / 2, kSceneH / 2, &c));
    CU_ASSERT(IsColour(c, 255, 0, 0));
    sb_frame_ring_destroy(reader);
    sb_stream_destroy(s);
    CU_ASSERT(!SegmentExists(name, "ring"));
    CU_ASSERT(!SegmentExists(name, "events"));
}

void test_serve_starts_server_or_says_not_built()
{
    TestScene scene = MakeScene(true);
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.serve = 1;
    o.server.port = 0; // ephemeral
    sb_stream *s = nullptr;
    int rc = sb_stream_create(scene.window, &o, &s);
    CU_ASSERT_EQUAL_FATAL(rc, SB_OK);
    CU_ASSERT_FATAL(sb_stream_server(s) != nullptr);
    int port = 0;
    CU_ASSERT_EQUAL(sb_server_get_port(sb_stream_server(s), &port), SB_OK);
    CU_ASSERT(port > 0);
    CU_ASSERT_EQUAL(sb_stream_serve(s, nullptr), SB_ESTATE);
    CU_ASSERT(LastErrorHas("already runs"));
    sb_stream_destroy(s);
}

void test_serve_later_with_explicit_options()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    CU_ASSERT(sb_stream_server(s) == nullptr);
    sb_server_options so{};
    sb_server_options_init(&so, SB_SERVER_OPTIONS_VERSION);
    so.port = 0;
    int rc = sb_stream_serve(s, &so);
    CU_ASSERT_EQUAL(rc, SB_OK);
    CU_ASSERT(sb_stream_server(s) != nullptr);
    sb_stream_destroy(s);
}

void test_vtk_error_during_render_becomes_sb_evtk()
{
    TestScene scene = MakeScene(true);
    // A mapper fed from a reader of a file that does not exist: VTK reports an error on every
    // render (through the global output window, as errors of objects nobody observes go).
    vtkNew<vtkPNGReader> reader;
    reader->SetFileName("/nonexistent/streambridge-test.png");
    vtkNew<vtkPolyDataMapper> orphan_mapper;
    orphan_mapper->SetInputConnection(reader->GetOutputPort());
    vtkNew<vtkActor> orphan;
    orphan->SetMapper(orphan_mapper);
    scene.renderer->AddActor(orphan);
    sb_stream *s = nullptr;
    int rc = sb_stream_create(scene.window, nullptr, &s);
    // Creating renders once (the generic interactor's Initialize), so the error already shows.
    CU_ASSERT_EQUAL(rc, SB_EVTK);
    CU_ASSERT(s == nullptr);
    CU_ASSERT(LastErrorHas("sb_stream_create(): "));
    CU_ASSERT(LastErrorHas("vtkPNGReader ("));
    CU_ASSERT(std::string(sb_last_error()).find('\n') == std::string::npos);
    CU_ASSERT(LastErrorHas("streambridge-test.png"));
    // With an interactor of its own, the window is not rendered by create: the error comes
    // from sb_stream_render.
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    reader->Modified(); // so the next render runs the reader (and fails) again
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_EVTK);
    CU_ASSERT(LastErrorHas("sb_stream_render(): "));
    CU_ASSERT(LastErrorHas("streambridge-test.png"));
    scene.renderer->RemoveActor(orphan);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_stream_destroy(s);
}

void test_destroy_removes_every_observer()
{
    TestScene scene = MakeScene(false);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    iren->SetInteractorStyle(nullptr); // so only our timer observer can be there
    iren->Initialize();
    CU_ASSERT(!scene.window->HasObserver(vtkCommand::EndEvent));
    CU_ASSERT(!iren->HasObserver(vtkCommand::TimerEvent));
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    CU_ASSERT(scene.window->HasObserver(vtkCommand::EndEvent));
    CU_ASSERT(scene.window->HasObserver(vtkCommand::DeleteEvent));
    CU_ASSERT(iren->HasObserver(vtkCommand::TimerEvent));
    sb_stream_destroy(s);
    CU_ASSERT(!scene.window->HasObserver(vtkCommand::EndEvent));
    CU_ASSERT(!scene.window->HasObserver(vtkCommand::DeleteEvent));
    CU_ASSERT(!scene.window->HasObserver(vtkCommand::ErrorEvent));
    CU_ASSERT(!iren->HasObserver(vtkCommand::TimerEvent));
    CU_ASSERT(!iren->HasObserver(vtkCommand::DeleteEvent));
    CU_ASSERT(scene.window->GetInteractor() == iren.GetPointer());
    scene.window->Render(); // no capture into a freed ring (ASan would see it)
}

void test_destroy_gives_back_the_generated_interactor()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    CU_ASSERT(scene.window->GetInteractor() != nullptr);
    sb_stream_destroy(s);
    CU_ASSERT(scene.window->GetInteractor() == nullptr);
    scene.window->Render();
}

void test_stream_destroyed_before_window()
{
    TestScene scene = MakeScene(false);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    iren->Initialize();
    sb_stream *s = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_stream_destroy(s);
    scene.window->Render();
}

void test_window_destroyed_before_stream()
{
    sb_stream *s = nullptr;
    {
        TestScene scene = MakeScene(false);
        vtkNew<vtkRenderWindowInteractor> iren;
        iren->SetRenderWindow(scene.window);
        iren->Initialize();
        CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
        CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    } // the application drops the window and its interactor: both are deleted here
    sb_event e = MakeEvent(SB_EVENT_POINTER_MOVE, 1, 1);
    CU_ASSERT_EQUAL(sb_event_queue_push(sb_stream_event_queue(s), &e), SB_OK);
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), SB_ESTATE);
    CU_ASSERT(LastErrorHas("destroyed"));
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_ESTATE);
    // The frames captured before stay readable.
    Rgb c{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, kSceneH / 2, &c));
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    sb_stream_destroy(s);
}

void test_window_without_interactor_released_before_stream()
{
    // Our generated interactor holds a reference to the window, so the window outlives the
    // application's reference until the stream goes; then everything is freed.
    sb_stream *s = nullptr;
    vtkWeakPointer<vtkRenderWindow> weak;
    {
        TestScene scene = MakeScene(true);
        weak = scene.window;
        CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &s) == SB_OK);
    }
    CU_ASSERT(weak != nullptr);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_stream_destroy(s);
    CU_ASSERT(weak == nullptr);
}

// Pushes e to s's queue and pumps: the one event replays, none invalid (its interactor hooks are
// in place).
void ExpectOneEventReplays(sb_stream *s, const sb_event &e)
{
    CU_ASSERT_EQUAL(sb_event_queue_push(sb_stream_event_queue(s), &e), SB_OK);
    CU_ASSERT_EQUAL(sb_stream_pump(s, 0), 1);
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &st), SB_OK);
    CU_ASSERT_EQUAL(st.events_replayed, 1u);
    CU_ASSERT_EQUAL(st.events_invalid, 0u);
}

void test_second_stream_on_a_window_refused()
{
    TestScene scene = MakeScene(false);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(scene.window);
    iren->Initialize();
    sb_stream *first = nullptr, *second = nullptr;
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &first) == SB_OK);
    CU_ASSERT_EQUAL(sb_stream_create(scene.window, nullptr, &second), SB_ESTATE);
    CU_ASSERT(second == nullptr);
    CU_ASSERT(LastErrorHas("already streamed"));
    // The refusal left the first stream whole: its input still replays.
    const sb_event e = MakeEvent(SB_EVENT_POINTER_MOVE, 1, 1);
    ExpectOneEventReplays(first, e);
    sb_stream_destroy(first);
    // Once the first is gone the window can be streamed again, and its input replays.
    CU_ASSERT_FATAL(sb_stream_create(scene.window, nullptr, &second) == SB_OK);
    ExpectOneEventReplays(second, e);
    sb_stream_destroy(second);
}

CU_TestInfo api_tests[] = {
    {"null_window_rejected", test_null_window_rejected},
    {"null_out_rejected", test_null_out_rejected},
    {"non_window_vtk_object_rejected", test_non_window_vtk_object_rejected},
    {"garbage_pointers_rejected_without_crash", test_garbage_pointers_rejected_without_crash},
    {"options_version_checked", test_options_version_checked},
    {"bad_options_rejected_with_reason", test_bad_options_rejected_with_reason},
    {"bad_server_options_rejected_by_the_server", test_bad_server_options_rejected_by_the_server},
    {"options_init_fills_defaults_and_refuses_other_versions",
     test_options_init_fills_defaults_and_refuses_other_versions},
    {"version_1_options_still_accepted", test_version_1_options_still_accepted},
    {"allowed_origins_reaches_the_server", test_allowed_origins_reaches_the_server},
    {"stats_version_checked", test_stats_version_checked},
    {"stats_version_1_still_filled", test_stats_version_1_still_filled},
    {"frames_carry_their_times_in_order", test_frames_carry_their_times_in_order},
    {"null_handles_rejected_or_ignored", test_null_handles_rejected_or_ignored},
    {"shm_stream_shares_one_generated_name", test_shm_stream_shares_one_generated_name},
    {"serve_starts_server_or_says_not_built", test_serve_starts_server_or_says_not_built},
    {"serve_later_with_explicit_options", test_serve_later_with_explicit_options},
    {"vtk_error_during_render_becomes_sb_evtk", test_vtk_error_during_render_becomes_sb_evtk},
    {"destroy_removes_every_observer", test_destroy_removes_every_observer},
    {"destroy_gives_back_the_generated_interactor",
     test_destroy_gives_back_the_generated_interactor},
    {"stream_destroyed_before_window", test_stream_destroyed_before_window},
    {"window_destroyed_before_stream", test_window_destroyed_before_stream},
    {"window_without_interactor_released_before_stream",
     test_window_without_interactor_released_before_stream},
    {"second_stream_on_a_window_refused", test_second_stream_on_a_window_refused},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"stream_api", nullptr, nullptr, nullptr, nullptr, api_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
