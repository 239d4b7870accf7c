// sbParaViewWatcher.h - the client side of the StreamBridge plugin.
//
// sbParaViewPluginLoaded() runs when ParaView loads the plugin (paraview_add_plugin INITIALIZERS),
// in every process that loads it. In a process that holds the server manager (the GUI, pvpython,
// pvbatch) it starts the view watcher: it follows every session's render views as they are
// registered and unregistered, and hands each one to the session's vtkSBViewStreamer, the
// "StreamBridge" settings proxy's object on the render server (this very process in a builtin
// session; pvserver when connected to one). Nothing here depends on Qt, so the GUI and the
// Python executables share it. Server processes do nothing here: the client drives them.
#ifndef sbParaViewWatcher_h
#define sbParaViewWatcher_h

void sbParaViewPluginLoaded();

#endif
