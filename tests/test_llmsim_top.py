"""`manage.py llmsim_top`: the terminal view, driven in a real pseudo-terminal (tmux)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import INSTANT, ROOT, post

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


@pytest.mark.parametrize("llmsim_server", ["runserver"], indirect=True)
def test_it_draws_live_numbers_and_quits_on_q(llmsim_server):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    model = f"gpt-4o-top-{uuid.uuid4().hex[:6]}"
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200

    session = f"llmsim-top-{uuid.uuid4().hex[:8]}"
    command = shlex.join(
        [sys.executable, "manage.py", "llmsim_top", "--url", llmsim_server.base_url, "--interval", "0.3"]
    )
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "40",
            f"cd {shlex.quote(str(ROOT))} && {command}",
        ],
        check=True,
    )
    try:
        shown = wait_for_screen(session, model)
        for panel in ("Requests", "Tokens", "Latency", "time to first token", "Errors", "Models"):
            assert panel in shown
        model_row = next(line for line in shown.splitlines() if model in line)
        assert " 1 " in model_row

        for _ in range(2):
            assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200
        deadline = time.monotonic() + 10
        while " 3 " not in next(line for line in screen(session).splitlines() if model in line):
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
