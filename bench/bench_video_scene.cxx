// bench_video_scene.cxx - bench_video's rotating demo scene (bench_video_scene.h).
#include "bench_video_scene.h"

#include "demo_window.h"

#include <vtkCamera.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

struct bv_scene {
    std::unique_ptr<sbdemo::DemoWindow> window;
    uint64_t last_seq = 0;
};

extern "C" bv_scene *bv_scene_open(const char *name, uint32_t width, uint32_t height, char *why,
                                   size_t why_len)
{
    auto s = std::make_unique<bv_scene>();
    s->window = std::make_unique<sbdemo::DemoWindow>(static_cast<int>(width),
                                                     static_cast<int>(height), "bench_video");
    // Offscreen: the picture does not depend on a window manager or the Xvfb screen's size.
    s->window->window()->SetOffScreenRendering(1);
    sbdemo::SceneOptions options;
    options.name = name;
    std::string error;
    sbdemo::StreamSettings settings;
    settings.serve = false; // the ring only: bench_video encodes itself
    if (!s->window->BuildScene(options, &error) || !s->window->StartStream(settings, &error)) {
        std::snprintf(why, why_len, "%s", error.c_str());
        return nullptr;
    }
    return s.release();
}

extern "C" bool bv_scene_step(bv_scene *s, double degrees, bv_frame *out)
{
    s->window->renderer()->GetActiveCamera()->Azimuth(degrees);
    s->window->scene()->Tick();
    if (sb_stream_render(s->window->stream()) != SB_OK)
        return false;
    sb_frame_ring *ring = sb_stream_frame_ring(s->window->stream());
    sb_frame f;
    if (sb_frame_ring_acquire(ring, &f) != SB_OK)
        return false;
    if (f.info.seq == s->last_seq) { // the render committed no new frame
        sb_frame_ring_release(ring, &f);
        return false;
    }
    const uint32_t bpp = sb_pixel_format_size(f.info.format);
    const uint32_t row = f.info.width * bpp;
    const size_t size = static_cast<size_t>(row) * f.info.height;
    if (!out->pixels || out->width != f.info.width || out->height != f.info.height ||
        out->stride != row) {
        std::free(out->pixels);
        out->pixels = static_cast<uint8_t *>(std::malloc(size));
    }
    if (!out->pixels) {
        sb_frame_ring_release(ring, &f);
        return false;
    }
    for (uint32_t y = 0; y < f.info.height; y++)
        std::memcpy(out->pixels + static_cast<size_t>(y) * row,
                    f.pixels + static_cast<size_t>(y) * f.info.stride, row);
    out->width = f.info.width;
    out->height = f.info.height;
    out->stride = row;
    out->format = f.info.format;
    out->bottom_up = f.info.bottom_up != 0;
    s->last_seq = f.info.seq;
    return sb_frame_ring_release(ring, &f) == SB_OK;
}

extern "C" void bv_scene_close(bv_scene *s)
{
    delete s;
}

extern "C" void bv_frame_free(bv_frame *f)
{
    std::free(f->pixels);
    std::memset(f, 0, sizeof *f);
}
