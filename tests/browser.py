"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright.

`playwright install` is never run (it downloads a browser of its own, which fails
offline); scripts/install-browser installs Debian's. Where either is missing the test
skips with the reason, except under LLMSIM_REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach the internet
# and is slow or flaky on a machine without it.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots the browser tests take, for people to look at (git-ignored).
ARTIFACTS = ROOT / "test-artifacts"


def missing(reason: str) -> NoReturn:
    if os.environ.get("LLMSIM_REQUIRE_SERVICES", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (LLMSIM_REQUIRE_SERVICES is set; run scripts/install-browser)")
    pytest.skip(f"{reason}: run scripts/install-browser")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (Playwright's Browser), closed on the way out."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        missing(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
