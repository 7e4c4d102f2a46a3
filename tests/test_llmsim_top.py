"""`manage.py llmsim_top`: the terminal view, driven in a real pseudo-terminal (tmux)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import INSTANT, ROOT, get_json, post

pytestmark = pytest.mark.live


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for_screen(session: str, text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{screen(session)}")


def session_alive(session: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0


def requests_total_on(shown: str) -> int | None:
    """The big "total" figure of the Requests panel (the line below the panel's title)."""
    lines = shown.splitlines()
    for index, line in enumerate(lines[:-1]):
        if "Requests" in line and "╭" in line:
            figures = lines[index + 1].replace("│", " ").split()
            return int(figures[0].replace(",", "")) if figures else None
    return None


@pytest.mark.parametrize("llmsim_server", ["runserver"], indirect=True)
def test_it_draws_live_numbers_and_quits_on_q(llmsim_server):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200
    total = get_json(f"{llmsim_server.base_url}/llmsim/stats")["requests"]["total"]

    session = f"llmsim-top-{uuid.uuid4().hex[:8]}"
    command = shlex.join(
        [sys.executable, "manage.py", "llmsim_top", "--url", llmsim_server.base_url, "--interval", "0.3"]
    )
    # COLUMNS/LINES from the test's environment would override the pane's real size.
    shell = f"cd {shlex.quote(str(ROOT))} && exec env -u COLUMNS -u LINES {command}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", shell], check=True)
    try:
        shown = wait_for_screen(session, "time to first token")
        for panel in ("Requests", "Tokens", "Latency", "Errors", "Models", "gpt-4o"):
            assert panel in shown
        assert requests_total_on(shown) == total

        for _ in range(3):
            assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200
        deadline = time.monotonic() + 10
        while requests_total_on(screen(session)) != total + 3:  # redrawn in place
            assert time.monotonic() < deadline, screen(session)
            time.sleep(0.2)

        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 10
        while session_alive(session):
            assert time.monotonic() < deadline, "llmsim_top did not quit on q"
            time.sleep(0.1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_once_prints_the_panels_and_a_clear_error_without_a_server():
    result = subprocess.run(
        [sys.executable, "manage.py", "llmsim_top", "--url", "http://127.0.0.1:9", "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "could not read http://127.0.0.1:9/llmsim/stats" in result.stderr
