"""Shared pieces of the package tests: the package from this checkout, scenes, condition waits."""
import os
import sys
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))

DEADLINE_S = 60  # generous: a loaded machine is slow, not broken


def wait_for(condition, what, deadline_s=DEADLINE_S, interval_s=0.02):
    """Polls condition() until it returns something truthy (returned) or the deadline passes
    (the test fails saying what never happened)."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail("never happened within %d s: %s" % (deadline_s, what))
        time.sleep(interval_s)  # poll interval of wait_for()


async def wait_for_async(condition, what, deadline_s=DEADLINE_S, interval_s=0.02):
    """wait_for() for a test running on an asyncio loop: between polls the loop idles (as a
    notebook kernel's does between cells), so callbacks scheduled on it run."""
    import asyncio
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail("never happened within %d s: %s" % (deadline_s, what))
        await asyncio.sleep(interval_s)  # poll interval of wait_for_async()


def make_window(background=(0.1, 0.1, 0.3), size=(320, 240)):
    """An offscreen python3-vtk9 window with a cone, rendered by the caller."""
    import vtk
    cone = vtk.vtkConeSource()
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(cone.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(*background)
    renderer.AddActor(actor)
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(*size)
    window.AddRenderer(renderer)
    window._keep = (cone, mapper, actor, renderer)  # the pipeline lives as long as the window
    return window


@pytest.fixture
def window():
    w = make_window()
    yield w
    w.Finalize()
