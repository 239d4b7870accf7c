# gui_scene.py - the script the GUI test gives ParaView (paraview --script=...): a Wavelet ->
# Contour pipeline shown in the active render view.
import os

from paraview.simple import *

if os.environ.get("SB_TEST_REMOTE_RENDER") == "1":
    # Connected to a pvserver: render there whatever the data size, so the server's view has
    # frames (below the threshold the client renders locally and the server does not).
    GetSettingsProxy("RenderViewSettings").RemoteRenderThreshold = 0

wavelet = Wavelet()
contour = Contour(Input=wavelet, ContourBy=["POINTS", "RTData"], Isosurfaces=[150.0])
view = GetActiveViewOrCreate("RenderView")
Show(contour, view)
ResetCamera(view)
Render(view)
print("gui_scene: shown in", GetActiveView().GetXMLName(), flush=True)
