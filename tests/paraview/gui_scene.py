# gui_scene.py - the script the GUI test gives ParaView (paraview --script=...): a Wavelet ->
# Contour pipeline shown in the active render view.
from paraview.simple import *

wavelet = Wavelet()
contour = Contour(Input=wavelet, ContourBy=["POINTS", "RTData"], Isosurfaces=[150.0])
view = GetActiveViewOrCreate("RenderView")
Show(contour, view)
ResetCamera(view)
Render(view)
print("gui_scene: shown in", GetActiveView().GetXMLName(), flush=True)
