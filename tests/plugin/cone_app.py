#!/usr/bin/python3
"""cone_app.py - a plain python3-vtk9 application that knows nothing of streambridge; the
autoload plugin test runs it with VTK_AUTOLOAD_PATH set. Same arguments and behaviour as
cone_app.cxx:  cone_app.py WIDTH HEIGHT QUIT_FILE MAX_SECONDS"""

import os
import sys
import time

import vtk


def main():
    if len(sys.argv) != 5:
        print("usage: cone_app.py WIDTH HEIGHT QUIT_FILE MAX_SECONDS", file=sys.stderr)
        return 2
    width, height, quit_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    deadline = time.monotonic() + float(sys.argv[4])

    cone = vtk.vtkConeSource()
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(cone.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    renderer = vtk.vtkRenderer()
    renderer.AddActor(actor)
    renderer.SetBackground(0.1, 0.1, 0.3)
    window = vtk.vtkRenderWindow()
    window.SetSize(width, height)
    window.AddRenderer(renderer)
    iren = vtk.vtkRenderWindowInteractor()
    iren.SetRenderWindow(window)
    window.Render()
    iren.Initialize()

    timed_out = []

    def on_timer(caller, _event):
        quit_now = os.path.exists(quit_file)
        if not quit_now and time.monotonic() > deadline:
            timed_out.append(True)
            quit_now = True
        if quit_now:
            caller.TerminateApp()

    iren.AddObserver("TimerEvent", on_timer)
    iren.CreateRepeatingTimer(100)
    print("ready", iren.GetClassName(), flush=True)
    iren.Start()
    return 3 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
