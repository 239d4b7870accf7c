"""`pip install ./python` offline (no index, nothing compiled, Debian's setuptools) into a venv
that sees python3-vtk9, then the installed package streams a window from outside the tree."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = r"""
import vtk, streambridge, urllib.request
assert "site-packages" in streambridge.__file__, streambridge.__file__
window = vtk.vtkRenderWindow()
window.SetOffScreenRendering(1)
window.SetSize(64, 48)
window.AddRenderer(vtk.vtkRenderer())
with streambridge.stream(window, token="installed") as s:
    s.render()
    assert s.stats()["frames_captured"] >= 1
    assert urllib.request.urlopen(s.url, timeout=30).status == 200
print("OK", streambridge.__version__)
"""


def test_pip_install_offline_into_a_venv(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("python3-pip is not installed")
    source = tmp_path / "source"
    shutil.copytree(os.path.join(REPO, "python"), source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation",
                              str(source)], env=env, capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run([str(venv / "bin" / "python"), "-c", SCRIPT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "OK 0.3.0" in run.stdout, run.stdout + run.stderr
