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
  std::string Name;            // the view's registration name ("RenderView1")
  std::string StreamName;      // its stream's name on the server, while it streams
  sb_stream* Stream = nullptr; // nullptr while not streamed (disabled, or it failed)
  // On a server: the interactor given to a window that had none (see Start()).
  vtkSmartPointer<vtkRenderWindowInteractor> ServerInteractor;
};

// A stream name (server.h: 1..SB_SERVER_STREAM_NAME_MAX of [A-Za-z0-9._-], not "." or "..")
// from a view's registration name; "view" when nothing of it is usable.
std::string StreamNameFrom(const std::string& viewName)
{
  std::string name;
  for (char ch : viewName)
  {
    const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    name += ok ? ch : '-';
  }
  name = name.substr(0, 48);
  if (name.empty() || name.find_first_not_of('.') == std::string::npos ||
    name == SB_SERVER_DEFAULT_STREAM_NAME)
  {
    name = "view";
  }
  return name;
}

} // namespace

// Every view of the session on one web server (one port): the first view streamed is the
// server's default stream (the top-level endpoints, "/" its viewer while it is alone), the
// others are named after their view (/v/RenderView2/) and listed by the picker at "/". The
// server starts with the first view and stops with the last.
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
  sb_server* Server = nullptr;
  int ServerPort = 0;
  bool DefaultTaken = false; // the default stream was given out (once per server)

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

  // The web server, started with the first view. nullptr (logged) when it cannot start.
  sb_server* StartServer()
  {
    if (this->Server)
    {
      return this->Server;
    }
    sb_server_options o;
    sb_server_options_init(&o, SB_SERVER_OPTIONS_VERSION);
    o.port = this->EffectivePort();
    o.bind_address = this->EffectiveBind().c_str();
    const std::string& token = this->EffectiveToken();
    o.access_token = token.empty() ? nullptr : token.c_str();
    o.allowed_origins = Env().allowed_origins.empty() ? nullptr : Env().allowed_origins.c_str();
    if (sb_server_create(nullptr, nullptr, &o, &this->Server) != SB_OK)
    {
      sb_log(SB_LOG_ERROR, "not streaming ParaView views: %s", sb_last_error());
      this->Server = nullptr;
      return nullptr;
    }
    sb_server_get_port(this->Server, &this->ServerPort);
    this->DefaultTaken = false;
    return this->Server;
  }

  void StopServerWhenUnused()
  {
    if (!this->Server ||
      std::any_of(this->Views.begin(), this->Views.end(), [](const ViewStream& v) { return v.Stream; }))
    {
      return;
    }
    sb_server_destroy(this->Server);
    this->Server = nullptr;
    this->ServerPort = 0;
  }

  // The view's stream name: the default stream when none was given out yet, else its own
  // name, made unique on the server.
  std::string NameFor(const ViewStream& v) const
  {
    if (!this->DefaultTaken)
    {
      return SB_SERVER_DEFAULT_STREAM_NAME;
    }
    const std::string base = StreamNameFrom(v.Name);
    std::string unique = base;
    for (int k = 2;; k++)
    {
      if (std::none_of(this->Views.begin(), this->Views.end(),
            [&unique](const ViewStream& o) { return o.Stream && o.StreamName == unique; }))
      {
        return unique;
      }
      unique = base + "-" + std::to_string(k);
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
    sb_server* server = this->StartServer();
    if (!server)
    {
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
    o.allow_remote_exit = Env().allow_remote_exit ? 1 : 0;
    const std::string name = this->NameFor(v);
    if (sb_stream_create_on_server(server, name.c_str(), window, &o, &v.Stream) != SB_OK)
    {
      sb_log(SB_LOG_ERROR, "not streaming ParaView view %s (%s): %s", v.Name.c_str(),
        window->GetClassName(), sb_last_error());
      v.Stream = nullptr;
      this->StopServerWhenUnused();
      return;
    }
    v.StreamName = name;
    if (name == SB_SERVER_DEFAULT_STREAM_NAME)
    {
      this->DefaultTaken = true;
    }
    sb_log(SB_LOG_INFO, "streaming ParaView view %s at %s%s", v.Name.c_str(), this->Url(v).c_str(),
      this->EffectiveToken().empty() ? "" : " (access token required)");
    // No render from here: a ParaView window renders through its view (on a server, a render
    // outside the client's render protocol breaks it). The watcher asks the view for one.
  }

  void Stop(ViewStream& v)
  {
    sb_stream_destroy(v.Stream);
    v.Stream = nullptr;
    v.StreamName.clear();
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
    this->StopServerWhenUnused();
    this->UpdateStreamList();
  }

  // A setting changed: streams that run restart (with their server) with the new values.
  void Restart()
  {
    this->StopAll();
    this->StartAll();
  }

  std::string Url(const ViewStream& v) const
  {
    std::ostringstream url;
    url << "http://" << this->EffectiveBind() << ":" << this->ServerPort << "/";
    if (v.StreamName != SB_SERVER_DEFAULT_STREAM_NAME)
    {
      url << "v/" << v.StreamName << "/";
    }
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
  this->Internals->StopServerWhenUnused();
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
  return this->Internals->ServerPort;
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
