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

#include <sys/mman.h>
#include <sys/stat.h>

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
    sb_stream_options o = SB_STREAM_OPTIONS_INIT;
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
        {[](sb_stream_options &o) { o.port = 70000; }, "port 70000"},
        {[](sb_stream_options &o) { o.jpeg_quality_interactive = 0; }, "jpeg_quality_interactive 0"},
        {[](sb_stream_options &o) { o.jpeg_quality_still = 101; }, "jpeg_quality_still 101"},
        {[](sb_stream_options &o) { o.max_fps = 0; }, "max_fps 0"},
        {[](sb_stream_options &o) { o.max_fps = std::numeric_limits<double>::quiet_NaN(); },
         "max_fps nan"},
        {[](sb_stream_options &o) { o.timer_interval_ms = 0; }, "timer_interval_ms 0"},
        {[](sb_stream_options &o) { o.allow_remote_exit = 2; }, "allow_remote_exit 2"},
        {[](sb_stream_options &o) { o.shm_name = "bad/name"; }, "bad/name"},
    };
    for (const Case &c : cases) {
        sb_stream_options o = SB_STREAM_OPTIONS_INIT;
        c.mutate(o);
        CU_ASSERT_EQUAL(CreateWith(o), SB_EINVAL);
        if (!LastErrorHas(c.reason))
            std::fprintf(stderr, "expected '%s' in '%s'\n", c.reason, sb_last_error());
        CU_ASSERT(LastErrorHas(c.reason));
    }
}

void test_null_handles_rejected_or_ignored()
{
    sb_stream_destroy(nullptr);
    CU_ASSERT_EQUAL(sb_stream_pump(nullptr, 0), SB_EINVAL);
    CU_ASSERT(LastErrorHas("sb_stream_pump(): stream is NULL"));
    CU_ASSERT_EQUAL(sb_stream_render(nullptr), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_stream_serve(nullptr, nullptr), SB_EINVAL);
    sb_stream_stats st;
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
    sb_stream_options o = SB_STREAM_OPTIONS_INIT;
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
    sb_stream_options o = SB_STREAM_OPTIONS_INIT;
    o.serve = 1;
    o.port = 0; // ephemeral
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

CU_TestInfo api_tests[] = {
    {"null_window_rejected", test_null_window_rejected},
    {"null_out_rejected", test_null_out_rejected},
    {"non_window_vtk_object_rejected", test_non_window_vtk_object_rejected},
    {"garbage_pointers_rejected_without_crash", test_garbage_pointers_rejected_without_crash},
    {"options_version_checked", test_options_version_checked},
    {"bad_options_rejected_with_reason", test_bad_options_rejected_with_reason},
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
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"stream_api", nullptr, nullptr, nullptr, nullptr, api_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
