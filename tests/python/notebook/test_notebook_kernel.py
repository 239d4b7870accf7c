"""examples/python/live_view.ipynb executed by nbclient in a real ipykernel (ctest
python_notebook_kernel, label notebook): the notebook builds a VTK scene and shows the stream
without Start(). Then input is queued as a browser's would be, and while the kernel sits idle
between cells the stream replays it: the served picture turns and takes the new size."""
import os
import re
import sys
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from conftest import REPO, wait_for  # noqa: E402

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = os.path.join(REPO, "examples", "python", "live_view.ipynb")


def jpeg_size(data):
    """(width, height) from a baseline/progressive JPEG's SOF marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = (data[i + 2] << 8) | data[i + 3]
        if marker in (0xC0, 0xC1, 0xC2):
            return (data[i + 7] << 8) | data[i + 8], (data[i + 5] << 8) | data[i + 6]
        i += 2 + length
    return None


def snapshot(port, token):
    url = "http://127.0.0.1:%d/snapshot.jpg?token=%s" % (port, token)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read()
    except (urllib.error.URLError, OSError):
        return None


def html_output(cell):
    for out in cell.get("outputs", []):
        html = out.get("data", {}).get("text/html")
        if html:
            return html
    return ""


def test_live_view_notebook_replays_input_in_an_idle_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.path.join(REPO, "python"))
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "STREAMBRIDGE_PUBLIC_URL", "STREAMBRIDGE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        html = html_output(nb.cells[-1])
        m = re.search(r'<iframe src="http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_.~-]+)"',
                      html)
        assert m, "no live-view iframe in the output: %r" % html
        port, token = int(m.group(1)), m.group(2)
        assert len(token) >= 20  # a random token by default in a notebook
        first = wait_for(lambda: snapshot(port, token), "the first frame")
        assert jpeg_size(first) == (480, 360)


        # A browser's drag and resize, queued from this cell; replayed after it, by the driver.
        drag = nbformat.v4.new_code_cell(
            "assert view.driven\n"
            "view.push_event(streambridge.SB_EVENT_BUTTON_PRESS, x=240, y=180, button=1)\n"
            "for i in range(30):\n"
            "    view.push_event(streambridge.SB_EVENT_POINTER_MOVE, x=240 + 4 * i, y=180,"
            " button=1)\n"
            "view.push_event(streambridge.SB_EVENT_BUTTON_RELEASE, x=360, y=180, button=1)\n"
            "view.push_event(streambridge.SB_EVENT_RESIZE, width=320, height=240)\n")
        nb.cells.append(drag)
        client.execute_cell(drag, len(nb.cells) - 1)
        turned = wait_for(lambda: (lambda j: j if j and jpeg_size(j) == (320, 240) else None)(
            snapshot(port, token)), "the resized frame, with no Start() and no pump() call")

        check = nbformat.v4.new_code_cell(
            "s = view.stats()\n"
            "print('replayed', s['events_replayed'], 'pumps', view._driver.pumps)")
        nb.cells.append(check)
        client.execute_cell(check, len(nb.cells) - 1)
        text = "".join(o.get("text", "") for o in check.outputs)
        replayed, pumps = map(int, re.search(r"replayed (\d+) pumps (\d+)", text).groups())
        assert replayed >= 4 and pumps >= 1, text
        assert turned != first
