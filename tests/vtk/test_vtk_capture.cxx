// test_vtk_capture.cxx - capture of VTK render windows into the frame ring (known scene, both
// window kinds, layers, sizes, oversize refusal).
#include "sb_cunit.h"
#include "vtk_test_scene.h"

#include <vtkCommand.h>
#include <vtkRenderWindowInteractor.h>

#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

sb_stream *Attach(vtkRenderWindow *w, uint32_t max_w = 1920, uint32_t max_h = 1080)
{
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.max_width = max_w;
    o.max_height = max_h;
    sb_stream *s = nullptr;
    int rc = sb_stream_create(w, &o, &s);
    if (rc != SB_OK)
        std::fprintf(stderr, "sb_stream_create: %s\n", sb_last_error());
    return s;
}

void CheckKnownScene(bool offscreen)
{
    TestScene scene = MakeScene(offscreen);
    sb_stream *s = Attach(scene.window);
    CU_ASSERT_FATAL(s != nullptr);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    sb_frame_ring *ring = sb_stream_frame_ring(s);
    Rgb c{};
    sb_frame_info info{};
    CU_ASSERT_FATAL(NewestPixel(ring, kSceneW / 2, kSceneH / 2, &c, &info));
    CU_ASSERT_EQUAL(info.width, static_cast<uint32_t>(kSceneW));
    CU_ASSERT_EQUAL(info.height, static_cast<uint32_t>(kSceneH));
    // The driver's own layout (RGBA for Mesa's framebuffer objects); the colours checked below
    // prove the channel order matches the declared format.
    CU_ASSERT(info.format == SB_PIXEL_BGRA || info.format == SB_PIXEL_RGBA);
    CU_ASSERT_EQUAL(info.bottom_up, 1u);
    CU_ASSERT(IsColour(c, 255, 0, 0));
    const int corners[4][2] = {{2, 2}, {kSceneW - 3, 2}, {2, kSceneH - 3}, {kSceneW - 3, kSceneH - 3}};
    for (const auto &xy : corners) {
        CU_ASSERT(NewestPixel(ring, xy[0], xy[1], &c));
        CU_ASSERT(IsColour(c, 0, 0, 255));
    }
    sb_stream_destroy(s);
}

// The cube sits at world y = 2 with the camera looking down -z, +y up: in the picture it is
// above the centre. Its projected centre is at 2 / (10 * tan 15deg) of the half height.
int CubeRowFromTop()
{
    const double half = kSceneH / 2.0;
    return static_cast<int>(half - half * 2.0 / (10.0 * std::tan(15.0 * M_PI / 180.0)));
}

void test_offscreen_known_scene_captured()
{
    CheckKnownScene(true);
}

void test_onscreen_known_scene_captured()
{
    CheckKnownScene(false);
}

void test_capture_is_not_upside_down()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = Attach(scene.window);
    CU_ASSERT_FATAL(s != nullptr);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    Rgb top{}, mirrored{};
    const int row = CubeRowFromTop();
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, row, &top));
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, kSceneH - 1 - row, &mirrored));
    CU_ASSERT(IsColour(top, 0, 255, 0));
    CU_ASSERT(IsColour(mirrored, 0, 0, 255));
    sb_stream_destroy(s);
}

void test_every_render_is_captured_once()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = Attach(scene.window);
    CU_ASSERT_FATAL(s != nullptr);
    sb_stream_stats before{}, after{};
    before.version = after.version = SB_STREAM_STATS_VERSION;
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &before), SB_OK);
    const uint64_t seq0 = sb_frame_ring_latest_seq(sb_stream_frame_ring(s));
    for (int i = 0; i < 5; i++)
        scene.window->Render(); // the application's own renders, not through the stream
    CU_ASSERT_EQUAL(sb_stream_get_stats(s, &after), SB_OK);
    CU_ASSERT_EQUAL(after.frames_captured - before.frames_captured, 5u);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(sb_stream_frame_ring(s)) - seq0, 5u);
    CU_ASSERT(after.capture_ms_mean > 0.0);
    sb_stream_destroy(s);
}

void test_multisampled_window_captured_resolved()
{
    // The application's multisampling stays as it is; the capture reads the resolved image.
    TestScene scene = MakeScene(true);
    scene.window->SetMultiSamples(8);
    scene.window->Render();
    const int app_samples = scene.window->GetMultiSamples();
    sb_stream *s = Attach(scene.window);
    CU_ASSERT_FATAL(s != nullptr);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    CU_ASSERT_EQUAL(scene.window->GetMultiSamples(), app_samples);
    Rgb c{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, kSceneH / 2, &c));
    CU_ASSERT(IsColour(c, 255, 0, 0));
    sb_stream_destroy(s);
}

void test_two_layers_captured()
{
    TestScene scene = MakeScene(true);
    scene.window->SetNumberOfLayers(2);
    vtkNew<vtkRenderer> overlay;
    overlay->SetLayer(1);
    overlay->InteractiveOff();
    vtkNew<vtkCubeSource> marker; // a yellow square on the left, drawn by the overlay layer only
    marker->SetCenter(-3.0, 0, 0);
    marker->SetXLength(0.6);
    marker->SetYLength(0.6);
    marker->SetZLength(0.6);
    overlay->AddActor(MakeUnlitActor(marker, 1, 1, 0));
    SetFixedCamera(overlay);
    scene.window->AddRenderer(overlay);
    sb_stream *s = Attach(scene.window);
    CU_ASSERT_FATAL(s != nullptr);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    // x = -3 projects to 160 - 120 * 3 / (10 tan 15deg) = about 26.
    const int marker_x = static_cast<int>(kSceneW / 2.0 - (kSceneH / 2.0) * 3.0 / (10.0 * std::tan(15.0 * M_PI / 180.0)));
    Rgb c{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), marker_x, kSceneH / 2, &c));
    CU_ASSERT(IsColour(c, 255, 255, 0));
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, kSceneH / 2, &c));
    CU_ASSERT(IsColour(c, 255, 0, 0)); // layer 0 still there
    sb_stream_destroy(s);
}

void test_frame_size_follows_window_size()
{
    TestScene scene = MakeScene(true);
    sb_stream *s = Attach(scene.window);
    CU_ASSERT_FATAL(s != nullptr);
    scene.window->SetSize(201, 123); // odd sizes: rows are not multiples of 8 bytes
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    Rgb c{};
    sb_frame_info info{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), 100, 61, &c, &info));
    CU_ASSERT_EQUAL(info.width, 201u);
    CU_ASSERT_EQUAL(info.height, 123u);
    CU_ASSERT_EQUAL(info.stride, 201u * 4u);
    CU_ASSERT(IsColour(c, 255, 0, 0));
    sb_stream_destroy(s);
}

// Runs fn with stderr sent to a temporary file and returns what was written.
template <typename Fn>
std::string CaptureStderr(Fn fn)
{
    std::fflush(stderr);
    char path[] = "/tmp/sb_test_stderr_XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string text;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        text.append(buf, static_cast<size_t>(n));
    close(fd);
    unlink(path);
    return text;
}

size_t Count(const std::string &hay, const std::string &needle)
{
    size_t n = 0;
    for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1))
        n++;
    return n;
}

void test_oversize_window_refused_once_then_recovers()
{
    TestScene scene = MakeScene(true, 400, 300);
    sb_stream *s = nullptr;
    int rc1 = 0, rc2 = 0;
    const std::string log = CaptureStderr([&] {
        s = Attach(scene.window, kSceneW, kSceneH);
        rc1 = sb_stream_render(s);
        rc2 = sb_stream_render(s);
    });
    CU_ASSERT_FATAL(s != nullptr);
    CU_ASSERT_EQUAL(rc1, SB_ETOOBIG);
    CU_ASSERT_EQUAL(rc2, SB_ETOOBIG);
    CU_ASSERT(std::string(sb_last_error()).find("400x300") != std::string::npos);
    CU_ASSERT_EQUAL(Count(log, "exceeds the stream's maximum frame"), 1u); // logged once
    sb_stream_stats st{};
    st.version = SB_STREAM_STATS_VERSION;
    sb_stream_get_stats(s, &st);
    CU_ASSERT(st.frames_refused_too_big >= 2);
    CU_ASSERT_EQUAL(st.frames_captured, 0u);
    CU_ASSERT_EQUAL(sb_frame_ring_latest_seq(sb_stream_frame_ring(s)), 0u); // nothing cropped

    scene.window->SetSize(kSceneW, kSceneH);
    CU_ASSERT_EQUAL(sb_stream_render(s), SB_OK);
    Rgb c{};
    sb_frame_info info{};
    CU_ASSERT(NewestPixel(sb_stream_frame_ring(s), kSceneW / 2, kSceneH / 2, &c, &info));
    CU_ASSERT_EQUAL(info.width, static_cast<uint32_t>(kSceneW));
    CU_ASSERT(IsColour(c, 255, 0, 0));
    sb_stream_destroy(s);
}

CU_TestInfo capture_tests[] = {
    {"offscreen_known_scene_captured", test_offscreen_known_scene_captured},
    {"onscreen_known_scene_captured", test_onscreen_known_scene_captured},
    {"capture_is_not_upside_down", test_capture_is_not_upside_down},
    {"every_render_is_captured_once", test_every_render_is_captured_once},
    {"multisampled_window_captured_resolved", test_multisampled_window_captured_resolved},
    {"two_layers_captured", test_two_layers_captured},
    {"frame_size_follows_window_size", test_frame_size_follows_window_size},
    {"oversize_window_refused_once_then_recovers", test_oversize_window_refused_once_then_recovers},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"vtk_capture", nullptr, nullptr, nullptr, nullptr, capture_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
