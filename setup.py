"""Puts the manual into the wheel: README.md and docs/*.md, which the server shows at /docs/.

They live at the top of the repository (where GitHub shows them), outside every package, so
package data cannot name them; everything else about the package is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithManual(build_py):
    """build_py, then a copy of the manual in simulator/manual/ (simulator/docs_pages.py reads it)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install serves the checkout's own files
        target = Path(self.build_lib) / "simulator" / "manual"
        (target / "docs").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "README.md", target / "README.md")
        for page in sorted((ROOT / "docs").glob("*.md")):
            shutil.copy2(page, target / "docs" / page.name)


setup(cmdclass={"build_py": BuildPyWithManual})
