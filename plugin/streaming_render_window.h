// streaming_render_window.h - private: the render window the autoload factory hands out for
// "vtkRenderWindow". It is VTK's X11 OpenGL window plus one thing: after its first Render() it
// is streamed (window_streams.h), so windows that never get an interactor (offscreen batch
// scripts) stream too; such a window replays the viewers' input before each Render(). Everything else is vtkXOpenGLRenderWindow's.
#ifndef SB_STREAMING_RENDER_WINDOW_H
#define SB_STREAMING_RENDER_WINDOW_H

#include <vtkXOpenGLRenderWindow.h>

class sbStreamingRenderWindow : public vtkXOpenGLRenderWindow {
public:
    static sbStreamingRenderWindow *New();
    vtkTypeMacro(sbStreamingRenderWindow, vtkXOpenGLRenderWindow);
    void Render() override;
    // The application's last reference going away: the stream's own interactor (made for a
    // window without one) holds the other, so the stream stops and the window can be deleted.
    void UnRegister(vtkObjectBase *o) override;

protected:
    sbStreamingRenderWindow() = default;
    ~sbStreamingRenderWindow() override;

private:
    sbStreamingRenderWindow(const sbStreamingRenderWindow &) = delete;
    void operator=(const sbStreamingRenderWindow &) = delete;
    bool rendered_ = false;
    bool in_render_ = false; // replaying input renders: that render must not replay again
    bool releasing_ = false; // stopping the stream releases references: not again
};

#endif // SB_STREAMING_RENDER_WINDOW_H
