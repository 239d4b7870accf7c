// window_streams.h - private: every render window of the application as one stream on the
// plugin's one server (one port). The first window streamed is the default stream (served at
// the top-level endpoints, "/" its viewer while it is alone); the others are named after their
// window (or window-N) and listed by the picker at "/". The server starts with the first
// window and stops with the last. Windows come here from two places: the streaming interactor's
// Initialize() (windows with an interactor) and the streaming render window's first Render()
// (windows without one: offscreen batch scripts). A window that is not streamed gets one log
// line saying why. All on VTK's thread.
#ifndef SB_WINDOW_STREAMS_H
#define SB_WINDOW_STREAMS_H

class vtkRenderWindow;

namespace sb {

// Streams window unless it streams already or was tried (one attempt per window). Returns
// whether it streams.
bool StreamWindow(vtkRenderWindow *window);
// The window's stream leaves the server (its viewers are closed); the server stops with the
// last stream. Nothing when the window does not stream.
void StopStreamingWindow(vtkRenderWindow *window);
// Replays the viewers' queued input into window (no event loop drains it when the window has
// no interactor): the streaming render window calls it before each Render(). Nothing when the
// window does not stream or has nothing queued.
void ReplayQueuedInput(vtkRenderWindow *window);
// Whether the window streams with an interactor of the stream's own (it had none): that
// interactor and the window hold each other, so when the application lets go of its last
// reference the stream must let go too, or the window would never be deleted.
bool StreamHoldsLastReference(vtkRenderWindow *window);
// Called by the streaming render window after its first Render(): streams it now unless its
// interactor is the plugin's and will do it at its Initialize().
void WindowRenderedFirstTime(vtkRenderWindow *window);

} // namespace sb

#endif // SB_WINDOW_STREAMS_H
