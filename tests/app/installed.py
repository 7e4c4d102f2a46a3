"""The package as a user installs it: a wheel built from the checkout, installed alone into a
fresh venv. Shared by the tests of the package and of its pytest plugin, and built once per
test session (a wheel and a venv take several seconds).

The fresh venv gets the wheel alone (`--no-deps`); its dependencies come from this venv's
site-packages through a .pth file, as a download of each of them on every run would be slow.
The checkout is on no path of it: what runs is what the wheel holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT

# What the wheel is built from: the rest of the checkout (tests, bench, scripts) is not shipped.
FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
FOLDERS = ("docs", "simulator", "stats", "llmsim_project")
PIP = (sys.executable, "-m", "pip")

# The wheel and the venv of this test session (keyed by its base temporary folder).
_BUILT: dict[tuple[Path, str], Path] = {}


def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built without build isolation (this venv's setuptools, no download)."""
    key = (tmp_path_factory.getbasetemp(), "wheel")
    if key not in _BUILT:
        work = tmp_path_factory.mktemp("wheel")
        for name in FOLDERS:
            shutil.copytree(ROOT / name, work / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in FILES:
            shutil.copy2(ROOT / name, work / "src" / name)
        subprocess.run(
            [*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", work / "dist", work / "src"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (_BUILT[key],) = (work / "dist").glob("llmsim-*.whl")
    return _BUILT[key]


def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; the dependencies are this venv's."""
    key = (tmp_path_factory.getbasetemp(), "venv")
    if key not in _BUILT:
        built = wheel(tmp_path_factory)
        where = tmp_path_factory.mktemp("venv") / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", where], check=True, timeout=60)
        subprocess.run(
            [*PIP, "-q", "--python", where / "bin" / "python", "install", "--no-deps", built],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (site_packages,) = (where / "lib").glob("python3*/site-packages")
        dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        (site_packages / "llmsim-test-dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
        _BUILT[key] = where
    return _BUILT[key]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who set nothing: no LLMSim, Django or database settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LLMSIM_", "DJANGO_", "PYTHON")) and name not in ("DATABASE_URL", "REDIS_URL")
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}
