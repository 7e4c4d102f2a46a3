"""`manage.py llmsim_top`: the terminal view, driven in a real pseudo-terminal (tmux)."""

from __future__ import annotations

import contextlib
import http.server
import json
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import INSTANT, ROOT, get_json, post

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


def start_top(session: str, url: str, columns: int, lines: int) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    command = shlex.join([sys.executable, "manage.py", "llmsim_top", "--url", url, "--interval", "0.3"])
    # COLUMNS/LINES from the test's environment would override the pane's real size.
    shell = f"cd {shlex.quote(str(ROOT))} && exec env -u COLUMNS -u LINES {command}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(columns), "-y", str(lines), shell], check=True
    )


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
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200
    total = get_json(f"{llmsim_server.base_url}/llmsim/stats")["requests"]["total"]

    session = f"llmsim-top-{uuid.uuid4().hex[:8]}"
    start_top(session, llmsim_server.base_url, 120, 40)
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


def busy_stats() -> dict:
    """GET /llmsim/stats of a server some hours into a load test: numbers of eight digits."""

    def latency(count: int, avg: float) -> dict:
        return {
            "count": count,
            "avg": avg,
            "min": avg / 10,
            "max": avg * 9.5,
            "p50": avg,
            "p95": avg * 2,
            "p99": avg * 4,
        }

    return {
        "time": time.time(),
        "processes": 4,
        "aggregation": "directory",
        "requests": {
            "total": 12_345_678,
            "answered": 12_345_000,
            "active": 678,
            "streams_open": 650,
            "streaming_total": 10_000_000,
            "non_streaming_total": 2_345_000,
            "client_disconnects": 1234,
            "by_status": {"200": 12_343_500, "429": 1500},
            "by_endpoint": {"/v1/chat/completions": 12_345_000},
            "by_model": {"gpt-4o-mini-2024-07-18": 8_000_000, "claude-sonnet-4-5": 4_345_000},
        },
        "tokens": {"prompt": 987_654_321, "completion": 1_234_567_890, "total": 2_222_222_211, "by_model": {}},
        "errors": {
            "total": 1500,
            "injected": 1200,
            "organic": 300,
            "by_status": {"429": {"injected": 1200, "organic": 300, "total": 1500, "kind": "rate_limit"}},
        },
        "latency_ms": {
            "ttft": latency(10_000_000, 1234.5),
            "inter_token": latency(987_654_321, 25.3),
            "duration": latency(12_343_500, 12345.6),
        },
        "rates": {"window_seconds": 60, "requests_per_second": 2057.6, "tokens_per_second": 205_761.9},
        "series": {"interval_seconds": 1, "end": int(time.time()), "requests": [2000] * 300, "tokens": [200_000] * 300},
    }


@contextlib.contextmanager
def stats_server(stats: dict) -> Iterator[str]:
    """An HTTP server answering GET /llmsim/stats with `stats`; yields its URL."""
    body = json.dumps(stats).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_at_80_columns_it_shows_every_latency_row_of_a_busy_server():
    session = f"llmsim-top-{uuid.uuid4().hex[:8]}"
    with stats_server(busy_stats()) as url:
        start_top(session, url, 80, 24)
        try:
            shown = wait_for_screen(session, "duration")
            rows = {line.split()[1]: line for line in shown.splitlines() if line.startswith("│  ") and "│" in line[1:]}
            for label in ("ttft", "inter-token", "duration"):
                assert label in rows, shown
                figures = rows[label].strip("│ ").split()
                assert len(figures) == 8, shown  # the label, count, avg, min, p50, p95, p99, max: none wrapped
            assert rows["ttft"].split()[2:4] == ["10M", "1,234"], shown
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
