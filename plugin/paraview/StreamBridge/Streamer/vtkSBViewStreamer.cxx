// vtkSBViewStreamer.cxx - see vtkSBViewStreamer.h.
#include "vtkSBViewStreamer.h"

#include "autoload_settings.h"

#include "streambridge/error.h"
#include "streambridge/log.h"
#include "streambridge/stream.h"

#include "vtkObjectFactory.h"
#include "vtkPVView.h"
#include "vtkProcessModule.h"
#include "vtkGenericRenderWindowInteractor.h"
#include "vtkRenderWindow.h"
#include "vtkSmartPointer.h"
#include "vtkWeakPointer.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace
{

bool IsServerProcess()
{
  const int type = vtkProcessModule::GetProcessType();
  return type == vtkProcessModule::PROCESS_SERVER || type == vtkProcessModule::PROCESS_RENDER_SERVER ||
    type == vtkProcessModule::PROCESS_DATA_SERVER;
}

struct ViewStream
{
  vtkWeakPointer<vtkPVView> View;
  std::string Name;
  int Slot = 0;                // the view's port offset: port + Slot
  sb_stream* Stream = nullptr; // nullptr while not streamed (disabled, or it failed)
  // On a server: the interactor given to a window that had none (see Start()).
  vtkSmartPointer<vtkRenderWindowInteractor> ServerInteractor;
};

} // namespace

class vtkSBViewStreamer::vtkInternals
{
public:
  // As ParaView's settings have them; the environment overrides each (Effective*).
  bool Enabled = true;
  int Port = 8000;
  std::string BindAddress = "127.0.0.1";
  std::string AccessToken;

  std::vector<ViewStream> Views;
  std::string StreamList;

  ~vtkInternals() { this->StopAll(); }

  static const sb::AutoloadSettings& Env() { return sb::GetAutoloadSettings(); }
  bool EffectiveEnabled() const { return this->Enabled && Env().enabled; }
  int EffectivePort() const { return Env().has_port ? Env().port : this->Port; }
  const std::string& EffectiveBind() const
  {
    return Env().has_bind_address ? Env().bind_address : this->BindAddress;
  }
  const std::string& EffectiveToken() const
  {
    return Env().has_token ? Env().token : this->AccessToken;
  }

  // Each view gets the lowest port offset no other view holds, so the ports of the views that
  // stay do not move when one goes.
  int FreeSlot() const
  {
    for (int slot = 0;; slot++)
    {
      if (std::none_of(this->Views.begin(), this->Views.end(),
            [slot](const ViewStream& v) { return v.Slot == slot; }))
      {
        return slot;
      }
    }
  }

  void Start(ViewStream& v)
  {
    if (v.Stream || !this->EffectiveEnabled() || !v.View)
    {
      return;
    }
    vtkRenderWindow* window = v.View->GetRenderWindow();
    if (!window)
    {
      sb_log(SB_LOG_ERROR, "ParaView view %s has no render window: not streamed", v.Name.c_str());
      return;
    }
    const int basePort = this->EffectivePort();
    if (basePort != 0 && basePort + v.Slot > 65535)
    {
      sb_log(SB_LOG_ERROR, "not streaming ParaView view %s: port %d + %d is past 65535",
        v.Name.c_str(), basePort, v.Slot);
      return;
    }
    if (IsServerProcess() && !window->GetInteractor())
    {
      // On a server the client drives every render, in lockstep with this process; a render
      // from here breaks that protocol. The stream would give the window an interactor that
      // renders as it initializes, so it gets one first that never renders by itself.
      v.ServerInteractor = vtkSmartPointer<vtkGenericRenderWindowInteractor>::New();
      v.ServerInteractor->EnableRenderOff();
      v.ServerInteractor->SetRenderWindow(window);
      v.ServerInteractor->Initialize();
    }
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.serve = 1;
    o.allow_remote_exit = Env().allow_remote_exit ? 1 : 0;
    o.server.port = basePort == 0 ? 0 : basePort + v.Slot;
    o.server.bind_address = this->EffectiveBind().c_str();
    const std::string& token = this->EffectiveToken();
    o.server.access_token = token.empty() ? nullptr : token.c_str();
    o.server.allowed_origins = Env().allowed_origins.empty() ? nullptr : Env().allowed_origins.c_str();
    if (sb_stream_create(window, &o, &v.Stream) != SB_OK)
    {
      sb_log(SB_LOG_ERROR, "not streaming ParaView view %s (%s): %s", v.Name.c_str(),
        window->GetClassName(), sb_last_error());
      v.Stream = nullptr;
      return;
    }
    sb_log(SB_LOG_INFO, "streaming ParaView view %s at %s%s", v.Name.c_str(), this->Url(v).c_str(),
      token.empty() ? "" : " (access token required)");
    // No render from here: a ParaView window renders through its view (on a server, a render
    // outside the client's render protocol breaks it). The watcher asks the view for one.
  }

  void Stop(ViewStream& v)
  {
    sb_stream_destroy(v.Stream);
    v.Stream = nullptr;
    if (v.ServerInteractor)
    {
      v.ServerInteractor->SetRenderWindow(nullptr);
      v.ServerInteractor = nullptr;
    }
  }

  void StartAll()
  {
    for (ViewStream& v : this->Views)
    {
      this->Start(v);
    }
    this->UpdateStreamList();
  }

  void StopAll()
  {
    for (ViewStream& v : this->Views)
    {
      this->Stop(v);
    }
    this->UpdateStreamList();
  }

  // A setting changed: streams that run restart with the new values.
  void Restart()
  {
    this->StopAll();
    this->StartAll();
  }

  static int ServingPort(const ViewStream& v)
  {
    int port = 0;
    if (v.Stream)
    {
      sb_server_get_port(sb_stream_server(v.Stream), &port);
    }
    return port;
  }

  std::string Url(const ViewStream& v) const
  {
    std::ostringstream url;
    url << "http://" << this->EffectiveBind() << ":" << ServingPort(v) << "/";
    return url.str();
  }

  void UpdateStreamList()
  {
    std::ostringstream list;
    for (const ViewStream& v : this->Views)
    {
      if (v.Stream)
      {
        list << v.Name << " " << this->Url(v) << "\n";
      }
    }
    this->StreamList = list.str();
  }
};

vtkStandardNewMacro(vtkSBViewStreamer);

vtkSBViewStreamer::vtkSBViewStreamer()
  : Internals(new vtkInternals())
{
}

vtkSBViewStreamer::~vtkSBViewStreamer() = default;

void vtkSBViewStreamer::SetEnabled(int enabled)
{
  if (this->Internals->Enabled != (enabled != 0))
  {
    this->Internals->Enabled = enabled != 0;
    this->Internals->Restart();
    this->Modified();
  }
}

int vtkSBViewStreamer::GetEnabled()
{
  return this->Internals->Enabled ? 1 : 0;
}

void vtkSBViewStreamer::SetPort(int port)
{
  if (port < 0 || port > 65535)
  {
    vtkErrorMacro("StreamBridge port " << port << " is not 0..65535; keeping "
                                       << this->Internals->Port);
    return;
  }
  if (this->Internals->Port != port)
  {
    this->Internals->Port = port;
    this->Internals->Restart();
    this->Modified();
  }
}

int vtkSBViewStreamer::GetPort()
{
  return this->Internals->Port;
}

void vtkSBViewStreamer::SetBindAddress(const char* address)
{
  const std::string value = address ? address : "";
  if (value.empty())
  {
    vtkErrorMacro("StreamBridge bind address is empty; keeping " << this->Internals->BindAddress);
    return;
  }
  if (this->Internals->BindAddress != value)
  {
    this->Internals->BindAddress = value;
    this->Internals->Restart();
    this->Modified();
  }
}

void vtkSBViewStreamer::SetAccessToken(const char* token)
{
  const std::string value = token ? token : "";
  if (this->Internals->AccessToken != value)
  {
    this->Internals->AccessToken = value;
    this->Internals->Restart();
    this->Modified();
  }
}

void vtkSBViewStreamer::AddView(vtkPVView* view, const char* name)
{
  if (!view)
  {
    return;
  }
  auto& views = this->Internals->Views;
  if (std::any_of(views.begin(), views.end(), [view](const ViewStream& v) { return v.View == view; }))
  {
    return;
  }
  ViewStream v;
  v.View = view;
  v.Name = name && *name ? name : view->GetClassName();
  v.Slot = this->Internals->FreeSlot();
  views.push_back(v);
  this->Internals->Start(views.back());
  this->Internals->UpdateStreamList();
  this->Modified();
}

void vtkSBViewStreamer::RemoveView(vtkPVView* view)
{
  auto& views = this->Internals->Views;
  auto it = std::find_if(
    views.begin(), views.end(), [view](const ViewStream& v) { return v.View == view; });
  if (it == views.end())
  {
    return;
  }
  this->Internals->Stop(*it);
  views.erase(it);
  this->Internals->UpdateStreamList();
  this->Modified();
}

void vtkSBViewStreamer::RemoveAllViews()
{
  this->Internals->StopAll();
  this->Internals->Views.clear();
  this->Internals->UpdateStreamList();
  this->Modified();
}

int vtkSBViewStreamer::Pump()
{
  // On a server the client owns the camera and every render: replayed input would render
  // outside the client's render protocol. Server-side streams are watched, not driven.
  if (IsServerProcess())
  {
    return 0;
  }
  int replayed = 0;
  for (ViewStream& v : this->Internals->Views)
  {
    if (!v.Stream)
    {
      continue;
    }
    const int rc = sb_stream_pump(v.Stream, 0);
    if (rc > 0)
    {
      replayed += rc;
    }
    else if (rc < 0)
    {
      sb_log(SB_LOG_ERROR, "ParaView view %s: %s", v.Name.c_str(), sb_last_error());
    }
  }
  return replayed;
}

int vtkSBViewStreamer::GetServingPort()
{
  for (const ViewStream& v : this->Internals->Views)
  {
    if (v.Stream)
    {
      return vtkInternals::ServingPort(v);
    }
  }
  return 0;
}

int vtkSBViewStreamer::GetNumberOfStreamedViews()
{
  const auto& views = this->Internals->Views;
  return static_cast<int>(
    std::count_if(views.begin(), views.end(), [](const ViewStream& v) { return v.Stream; }));
}

const char* vtkSBViewStreamer::GetStreamList()
{
  return this->Internals->StreamList.c_str();
}

void vtkSBViewStreamer::PrintSelf(ostream& os, vtkIndent indent)
{
  this->Superclass::PrintSelf(os, indent);
  os << indent << "Enabled: " << this->Internals->Enabled << "\n";
  os << indent << "Port: " << this->Internals->Port << "\n";
  os << indent << "BindAddress: " << this->Internals->BindAddress << "\n";
  os << indent << "Streams:\n" << this->Internals->StreamList;
}
