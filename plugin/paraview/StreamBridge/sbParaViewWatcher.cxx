// sbParaViewWatcher.cxx - see sbParaViewWatcher.h.
#include "sbParaViewWatcher.h"

#include "vtkClientServerStream.h"
#include "vtkCommand.h"
#include "vtkNew.h"
#include "vtkPVSession.h"
#include "vtkPVView.h"
#include "vtkProcessModule.h"
#include "vtkSMParaViewPipelineController.h"
#include "vtkSMPluginManager.h"
#include "vtkSMProxyIterator.h"
#include "vtkSMProxyManager.h"
#include "vtkSMRenderViewProxy.h"
#include "vtkSMSession.h"
#include "vtkSMSessionProxyManager.h"
#include "vtkSmartPointer.h"
#include "vtkWeakPointer.h"

#include <algorithm>
#include <string>
#include <vector>

namespace
{

constexpr const char* kSettingsGroup = "settings";
constexpr const char* kStreamerName = "StreamBridge";

class sbViewWatcher
{
public:
  void Install()
  {
    vtkSMProxyManager* pm = vtkSMProxyManager::GetProxyManager();
    pm->AddObserver(vtkSMProxyManager::ActiveSessionChanged, this, &sbViewWatcher::OnSessionChanged);
    // A plugin's proxy definitions exist only once its load has finished: the first sync of a
    // session that was there before the plugin happens here.
    pm->GetPluginManager()->AddObserver(
      vtkSMPluginManager::PluginLoadedEvent, this, &sbViewWatcher::OnPluginLoaded);
    this->Hook(pm->GetActiveSessionProxyManager());
  }

private:
  struct Session
  {
    vtkWeakPointer<vtkSMSessionProxyManager> Pxm;
    // The render views handed to this session's streamer.
    std::vector<vtkWeakPointer<vtkSMProxy>> Streamed;
  };

  void OnSessionChanged(vtkObject*, unsigned long, void*)
  {
    this->Hook(vtkSMProxyManager::GetProxyManager()->GetActiveSessionProxyManager());
  }

  void OnPluginLoaded(vtkObject*, unsigned long, void*)
  {
    this->Prune();
    for (size_t i = 0; i < this->Sessions.size(); i++)
    {
      this->Sync(this->Sessions[i]);
    }
  }

  void Hook(vtkSMSessionProxyManager* pxm)
  {
    this->Prune();
    if (!pxm ||
      std::any_of(this->Sessions.begin(), this->Sessions.end(),
        [pxm](const Session& s) { return s.Pxm == pxm; }))
    {
      return;
    }
    pxm->AddObserver(vtkCommand::RegisterEvent, this, &sbViewWatcher::OnRegistration);
    pxm->AddObserver(vtkCommand::UnRegisterEvent, this, &sbViewWatcher::OnRegistration);
    this->Sessions.push_back(Session{ pxm, {} });
    this->Sync(this->Sessions.back());
  }

  // Sessions whose proxy manager is gone (disconnected) are forgotten.
  void Prune()
  {
    this->Sessions.erase(std::remove_if(this->Sessions.begin(), this->Sessions.end(),
                           [](const Session& s) { return !s.Pxm; }),
      this->Sessions.end());
  }

  Session* Find(vtkObject* pxm)
  {
    for (Session& s : this->Sessions)
    {
      if (s.Pxm.GetPointer() == pxm)
      {
        return &s;
      }
    }
    return nullptr;
  }

  void OnRegistration(vtkObject* caller, unsigned long event, void* callData)
  {
    auto* info = static_cast<vtkSMProxyManager::RegisteredProxyInformation*>(callData);
    if (!info || info->Type != vtkSMProxyManager::RegisteredProxyInformation::PROXY ||
      !info->GroupName || std::string(info->GroupName) != "views" || this->Syncing)
    {
      return;
    }
    Session* s = this->Find(caller);
    if (!s)
    {
      return;
    }
    if (event == vtkCommand::UnRegisterEvent)
    {
      this->Forget(*s, info->Proxy);
    }
    else
    {
      this->Sync(*s);
    }
  }

  // The session's streamer proxy, made (with any other missing settings proxy, as the GUI does
  // after a plugin load) when pvpython/pvbatch loaded the plugin after the session started.
  vtkSMProxy* Streamer(Session& s)
  {
    vtkSMSessionProxyManager* pxm = s.Pxm;
    if (vtkSMProxy* streamer = pxm->GetProxy(kSettingsGroup, kStreamerName))
    {
      return streamer;
    }
    if (!pxm->HasDefinition(kSettingsGroup, kStreamerName))
    {
      return nullptr; // the plugin's definitions are not processed yet (PluginLoadedEvent comes)
    }
    vtkNew<vtkSMParaViewPipelineController> controller;
    controller->UpdateSettingsProxies(pxm->GetSession());
    return pxm->GetProxy(kSettingsGroup, kStreamerName);
  }

  void Sync(Session& s)
  {
    if (!s.Pxm || this->Syncing)
    {
      return;
    }
    this->Syncing = true;
    if (vtkSMProxy* streamer = this->Streamer(s))
    {
      vtkNew<vtkSMProxyIterator> it;
      it->SetSessionProxyManager(s.Pxm);
      it->SetModeToOneGroup();
      for (it->Begin("views"); !it->IsAtEnd(); it->Next())
      {
        if (auto* view = vtkSMRenderViewProxy::SafeDownCast(it->GetProxy()))
        {
          this->Offer(s, streamer, view, it->GetKey());
        }
      }
    }
    this->Syncing = false;
  }

  static bool Contains(const Session& s, vtkSMProxy* view)
  {
    return std::any_of(s.Streamed.begin(), s.Streamed.end(),
      [view](const vtkWeakPointer<vtkSMProxy>& p) { return p == view; });
  }

  // Hands view to the streamer once its interactor is in place, so the browser's input goes
  // through the view's own interactor style (ParaView's camera manipulators).
  void Offer(Session& s, vtkSMProxy* streamer, vtkSMRenderViewProxy* view, const char* name)
  {
    if (Contains(s, view))
    {
      return;
    }
    if (!view->GetInteractor())
    {
      if (vtkPVView::GetUseGenericOpenGLRenderWindow())
      {
        // The GUI: the view's widget sets up its Qt interactor when it is shown. Ask again
        // after the view's next render.
        this->WaitForRender(view);
        return;
      }
      // pvpython, pvbatch: ParaView's own way to give a view the interactor its style needs
      // (pvbatch: one without an event loop; the script pumps, streambridge_paraview.pump()).
      view->MakeRenderWindowInteractor(/*quiet=*/true);
    }
    vtkClientServerStream stream;
    stream << vtkClientServerStream::Invoke << VTKOBJECT(streamer) << "AddView" << VTKOBJECT(view)
           << name << vtkClientServerStream::End;
    streamer->GetSession()->ExecuteStream(
      streamer->GetLocation() & vtkPVSession::RENDER_SERVER, stream, false);
    s.Streamed.push_back(view);
    streamer->UpdatePropertyInformation();
    // A first frame for the viewers, rendered the ParaView way (the view may have rendered
    // before the stream existed; a view in the middle of a render ignores it).
    view->StillRender();
  }

  void WaitForRender(vtkSMRenderViewProxy* view)
  {
    if (std::any_of(this->Waiting.begin(), this->Waiting.end(),
          [view](const WaitingView& w) { return w.View == view; }))
    {
      return;
    }
    this->Waiting.push_back(WaitingView{
      view, view->AddObserver(vtkCommand::EndEvent, this, &sbViewWatcher::OnViewRendered) });
  }

  void OnViewRendered(vtkObject* caller, unsigned long, void*)
  {
    auto* view = vtkSMRenderViewProxy::SafeDownCast(caller);
    if (!view || !view->GetInteractor())
    {
      return;
    }
    auto waiting = std::find_if(this->Waiting.begin(), this->Waiting.end(),
      [view](const WaitingView& w) { return w.View == view; });
    if (waiting != this->Waiting.end())
    {
      view->RemoveObserver(waiting->Tag);
      this->Waiting.erase(waiting);
    }
    for (Session& s : this->Sessions)
    {
      if (s.Pxm == view->GetSessionProxyManager())
      {
        this->Sync(s);
      }
    }
  }

  void Forget(Session& s, vtkSMProxy* view)
  {
    auto it = std::find_if(s.Streamed.begin(), s.Streamed.end(),
      [view](const vtkWeakPointer<vtkSMProxy>& p) { return p == view; });
    if (it == s.Streamed.end())
    {
      return;
    }
    s.Streamed.erase(it);
    vtkSMProxy* streamer = s.Pxm->GetProxy(kSettingsGroup, kStreamerName);
    if (!streamer)
    {
      return;
    }
    vtkClientServerStream stream;
    stream << vtkClientServerStream::Invoke << VTKOBJECT(streamer) << "RemoveView"
           << VTKOBJECT(view) << vtkClientServerStream::End;
    streamer->GetSession()->ExecuteStream(
      streamer->GetLocation() & vtkPVSession::RENDER_SERVER, stream, false);
    streamer->UpdatePropertyInformation();
  }

  std::vector<Session> Sessions;
  // GUI views waiting for their interactor, with the tag of their EndEvent observer.
  struct WaitingView
  {
    vtkWeakPointer<vtkSMRenderViewProxy> View;
    unsigned long Tag;
  };
  std::vector<WaitingView> Waiting;
  bool Syncing = false;
};

} // namespace

void sbParaViewPluginLoaded()
{
  const int type = vtkProcessModule::GetProcessType();
  if (type != vtkProcessModule::PROCESS_CLIENT && type != vtkProcessModule::PROCESS_BATCH)
  {
    return; // a server: the client's watcher tells it which views to stream
  }
  // One per process, for the process's lifetime (ParaView loads a plugin library once and never
  // unloads it; the observers it leaves go with the objects they observe).
  static sbViewWatcher* watcher = nullptr;
  if (!watcher)
  {
    watcher = new sbViewWatcher();
    watcher->Install();
  }
}
