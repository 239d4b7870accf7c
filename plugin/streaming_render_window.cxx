// streaming_render_window.cxx - see streaming_render_window.h.
#include "streaming_render_window.h"

#include "window_streams.h"

#include <vtkObjectFactory.h>

// Not vtkStandardNewMacro's factory lookup for our own name; a plain new like VTK's own classes.
vtkStandardNewMacro(sbStreamingRenderWindow);

void sbStreamingRenderWindow::Render()
{
    // A window without an interactor has no event loop draining the viewers' input: it is
    // replayed here, before each of the application's renders.
    if (rendered_ && !in_render_) {
        in_render_ = true;
        sb::ReplayQueuedInput(this);
        in_render_ = false;
    }
    Superclass::Render();
    if (!rendered_) {
        rendered_ = true; // before: streaming renders once more, which must not come back here
        sb::WindowRenderedFirstTime(this);
    }
}

sbStreamingRenderWindow::~sbStreamingRenderWindow()
{
    // Normally done already by the DeleteEvent observer (window_streams.cxx).
    sb::StopStreamingWindow(this);
}
