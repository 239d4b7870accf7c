// vtkSBViewStreamer - streams ParaView views to web browsers (streambridge), in the process that
// renders them.
//
// One per session, on the render server (in a builtin session: the one process of the GUI,
// pvpython or pvbatch; with pvserver: the server, where the views render). It is the VTK object
// behind the "StreamBridge" settings proxy (StreamBridge.xml): ParaView pushes the settings
// (port, bind address, access token, enabled) into it, and the client's view watcher
// (sbParaViewWatcher.cxx) tells it which views exist with AddView/RemoveView. The
// STREAMBRIDGE_* environment variables of the autoload plugin override the settings
// (docs/paraview.md).
//
// Threads: ParaView's main thread only (the thread that owns the views), like every VTK object.
#ifndef vtkSBViewStreamer_h
#define vtkSBViewStreamer_h

#include "StreamBridgeStreamerModule.h" // export macro
#include "vtkObject.h"

#include <memory> // std::unique_ptr

class vtkPVView;

class STREAMBRIDGESTREAMER_EXPORT vtkSBViewStreamer : public vtkObject
{
public:
  static vtkSBViewStreamer* New();
  vtkTypeMacro(vtkSBViewStreamer, vtkObject);
  void PrintSelf(ostream& os, vtkIndent indent) override;

  ///@{
  /// The settings. A change while views stream restarts the streams with the new values.
  void SetEnabled(int enabled);
  int GetEnabled();
  void SetPort(int port);
  int GetPort();
  void SetBindAddress(const char* address);
  void SetAccessToken(const char* token);
  ///@}

  /// Streams view (its render window) on the streamer's one web server, started with the first
  /// view: the first view streamed is the server's default stream (http://BIND:PORT/), the
  /// others are named after their view (name: its registration name, "RenderView2" ->
  /// http://BIND:PORT/v/RenderView2/). A view added twice keeps its first stream.
  void AddView(vtkPVView* view, const char* name);
  /// Stops streaming view (its viewers are closed, it leaves the picker); the server stops
  /// with the last view. Unknown views are ignored.
  void RemoveView(vtkPVView* view);
  /// Removes every view (the session is ending).
  void RemoveAllViews();

  /// Replays the browsers' input queued for every streamed view now (each view renders once if
  /// anything changed). For programs without an event loop (pvbatch, pvpython scripts);
  /// the GUI and Interact() run the replay from the views' interactor timers. Returns the
  /// number of events replayed.
  int Pump();

  /// The port of the web server, 0 when nothing is served.
  int GetServingPort();
  /// The number of views streamed now.
  int GetNumberOfStreamedViews();
  /// One line per streamed view: "VIEWNAME URL\n". Owned by this object, valid until its next call.
  const char* GetStreamList();

protected:
  vtkSBViewStreamer();
  ~vtkSBViewStreamer() override;

private:
  vtkSBViewStreamer(const vtkSBViewStreamer&) = delete;
  void operator=(const vtkSBViewStreamer&) = delete;

  class vtkInternals;
  std::unique_ptr<vtkInternals> Internals;
};

#endif
