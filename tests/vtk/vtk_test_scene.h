// vtk_test_scene.h - the known scene of the VTK tests and helpers to read the frame ring and
// push events.
//
// Scene: 320x240, blue background, an unlit red sphere (radius 1) at the origin and a small unlit
// green cube near the TOP of the view (so an upside-down capture is caught), camera at (0,0,10)
// looking at the origin with +y up. Unlit colours are exact, whatever the lights.
#ifndef SB_VTK_TEST_SCENE_H
#define SB_VTK_TEST_SCENE_H

#include "streambridge/streambridge.h"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkCubeSource.h>
#include <vtkNew.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkSphereSource.h>

#include <cmath>
#include <cstring>
#include <unistd.h>

// Xlib, declared here so its macros (None, Bool, Status...) stay out of the VTK headers' way.
extern "C" struct _XDisplay *XOpenDisplay(const char *display_name);

// One X connection for every window of a test binary. Mesa leaks a little per X connection it
// closes (in its dlopen'ed driver, outside our code), which LeakSanitizer would report in the ASan
// build if every test window opened its own. The retry is only a guard; Xvfb's
// reset on last disconnect, which once failed connections opened back to back, is switched off
// by tests/xvfb-run.sh (-noreset).
inline void *SharedTestDisplay()
{
    static _XDisplay *display = [] {
        for (int attempt = 0; attempt < 50; attempt++) {
            if (_XDisplay *d = XOpenDisplay(nullptr))
                return d;
            usleep(20000);
        }
        return static_cast<_XDisplay *>(nullptr);
    }();
    return display;
}

constexpr int kSceneW = 320;
constexpr int kSceneH = 240;

struct TestScene {
    vtkSmartPointer<vtkRenderWindow> window;
    vtkSmartPointer<vtkRenderer> renderer;
};

inline vtkSmartPointer<vtkActor> MakeUnlitActor(vtkAlgorithm *source, double r, double g, double b)
{
    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputConnection(source->GetOutputPort());
    auto actor = vtkSmartPointer<vtkActor>::New();
    actor->SetMapper(mapper);
    actor->GetProperty()->SetColor(r, g, b);
    actor->GetProperty()->LightingOff();
    return actor;
}

inline void SetFixedCamera(vtkRenderer *renderer)
{
    vtkCamera *camera = renderer->GetActiveCamera();
    camera->SetPosition(0, 0, 10);
    camera->SetFocalPoint(0, 0, 0);
    camera->SetViewUp(0, 1, 0);
    camera->SetViewAngle(30);
    renderer->ResetCameraClippingRange();
}

// offscreen: rendered into VTK's framebuffers only (no X window mapped).
inline TestScene MakeScene(bool offscreen, int width = kSceneW, int height = kSceneH)
{
    TestScene s;
    s.window = vtkSmartPointer<vtkRenderWindow>::New();
    s.window->SetDisplayId(SharedTestDisplay());
    s.window->SetOffScreenRendering(offscreen ? 1 : 0);
    s.window->SetSize(width, height);
    s.renderer = vtkSmartPointer<vtkRenderer>::New();
    s.renderer->SetBackground(0, 0, 1);
    s.window->AddRenderer(s.renderer);

    vtkNew<vtkSphereSource> sphere;
    sphere->SetRadius(1.0);
    sphere->SetThetaResolution(32);
    sphere->SetPhiResolution(32);
    s.renderer->AddActor(MakeUnlitActor(sphere, 1, 0, 0));
    vtkNew<vtkCubeSource> cube;
    cube->SetCenter(0, 2.0, 0);
    cube->SetXLength(0.4);
    cube->SetYLength(0.4);
    cube->SetZLength(0.4);
    s.renderer->AddActor(MakeUnlitActor(cube, 0, 1, 0));
    SetFixedCamera(s.renderer);
    return s;
}

struct Rgb {
    int r, g, b;
};

// Pixel (x, y) of the newest frame, y counted from the TOP as a viewer sees it. Returns false
// when no frame is available or (x, y) is outside it.
inline bool NewestPixel(sb_frame_ring *ring, int x, int y, Rgb *out, sb_frame_info *info = nullptr)
{
    sb_frame frame;
    if (sb_frame_ring_acquire(ring, &frame) != SB_OK)
        return false;
    bool ok = false;
    const sb_frame_info &fi = frame.info;
    if (x >= 0 && y >= 0 && x < static_cast<int>(fi.width) && y < static_cast<int>(fi.height) &&
        (fi.format == SB_PIXEL_BGRA || fi.format == SB_PIXEL_RGBA)) {
        const uint32_t row = fi.bottom_up ? fi.height - 1 - static_cast<uint32_t>(y)
                                          : static_cast<uint32_t>(y);
        const uint8_t *p = frame.pixels + row * fi.stride + static_cast<uint32_t>(x) * 4;
        *out = fi.format == SB_PIXEL_BGRA ? Rgb{p[2], p[1], p[0]} : Rgb{p[0], p[1], p[2]};
        ok = true;
    }
    if (info)
        *info = fi;
    if (sb_frame_ring_release(ring, &frame) != SB_OK)
        ok = false;
    return ok;
}

inline bool IsColour(Rgb c, int r, int g, int b)
{
    const int tol = 40;
    return std::abs(c.r - r) <= tol && std::abs(c.g - g) <= tol && std::abs(c.b - b) <= tol;
}

inline sb_event MakeEvent(uint32_t type, int x, int y, uint32_t button = SB_BUTTON_NONE,
                          uint32_t modifiers = 0)
{
    sb_event e;
    std::memset(&e, 0, sizeof e);
    e.type = type;
    e.x = x;
    e.y = y;
    e.button = button;
    e.modifiers = modifiers;
    return e;
}

inline sb_event MakeKey(uint32_t type, char c, const char *keysym)
{
    sb_event e = MakeEvent(type, kSceneW / 2, kSceneH / 2);
    e.key_code = static_cast<unsigned char>(c);
    std::strncpy(e.keysym, keysym, SB_KEYSYM_MAX - 1);
    return e;
}

inline int Push(sb_stream *s, const sb_event &e)
{
    return sb_event_queue_push(sb_stream_event_queue(s), &e);
}

// Presses button at (x0,y0), moves in steps to (x1,y1), releases there; top-left coordinates.
inline void PushDrag(sb_stream *s, uint32_t button, uint32_t mods, int x0, int y0, int x1, int y1,
                     int steps = 5)
{
    Push(s, MakeEvent(SB_EVENT_BUTTON_PRESS, x0, y0, button, mods));
    for (int i = 1; i <= steps; i++)
        Push(s, MakeEvent(SB_EVENT_POINTER_MOVE, x0 + (x1 - x0) * i / steps,
                          y0 + (y1 - y0) * i / steps, button, mods));
    Push(s, MakeEvent(SB_EVENT_BUTTON_RELEASE, x1, y1, button, mods));
}

inline double CameraDistance(vtkRenderer *r)
{
    return r->GetActiveCamera()->GetDistance();
}

#endif // SB_VTK_TEST_SCENE_H
