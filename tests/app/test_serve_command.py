"""`manage.py serve`: a config file, LLMSIM_* variables and flags reach a live server."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from tests.conftest import ROOT, LiveServer, free_port, post, stop_server

pytestmark = pytest.mark.live

CONFIG = """
latency: {profile: instant}
response: {generator: echo}
errors: {rate_limit_rate: 0, server_error_rate: 0, timeout_rate: 0}
"""
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "echo me"}]}


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # The outer environment must not leak settings into the server under test.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LLMSIM_")}
    return {**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PYTHONUNBUFFERED": "1", **extra}


def start_serve(tmp_path: Path, args: list[str], **extra_env: str) -> LiveServer:
    """Start `manage.py serve` on a free port; the caller stops it."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), *args],
        cwd=ROOT,
        env=serve_env(tmp_path, **extra_env),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # one process group with its workers, for stop_server
    )
    return LiveServer(f"http://127.0.0.1:{port}", tmp_path / "db.sqlite3", process, log_path)


def wait_until_healthy(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"serve exited early:\n{server.log()}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            if server.health()["status"] == "ok":
                return
        time.sleep(0.1)
    raise AssertionError(f"serve did not answer /health within {timeout} s:\n{server.log()}")


def answer_text(server: LiveServer) -> str:
    status, _, body = post(server, "/v1/chat/completions", CHAT, {"Authorization": "Bearer t"})
    assert status == 200, body
    return body["choices"][0]["message"]["content"]


def stored_settings(db_path: Path) -> dict:
    """The SimulatorSettings row as the admin shows it, read straight from the SQLite file."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT s.generator, p.model_id AS latency_profile, e.name AS error_profile"
            " FROM simulator_simulatorsettings s"
            " LEFT JOIN simulator_modelprofile p ON p.id = s.latency_profile_id"
            " LEFT JOIN simulator_errorprofile e ON e.id = s.error_profile_id"
            " WHERE s.id = 1"
        ).fetchone()
    return dict(row)


def test_it_serves_what_the_config_file_sets(tmp_path):
    config = tmp_path / "llmsim.yaml"
    config.write_text(CONFIG)
    server = start_serve(tmp_path, ["--config", str(config), "--workers", "1"])
    try:
        wait_until_healthy(server)
        assert answer_text(server) == "echo me"
        # The file's settings are the server's own: the stored settings keep their values.
        assert stored_settings(server.db_path) == {"generator": "lorem", "latency_profile": None, "error_profile": None}
        overrides = server.health()["overrides"]
        assert (overrides["response.generator"], overrides["latency.profile"]) == ("echo", "instant")
        assert f"listening on {server.base_url}/" in server.log()
    finally:
        stop_server(server)


def test_command_line_flags_win_over_the_environment(tmp_path):
    config = tmp_path / "llmsim.yaml"
    config.write_text(CONFIG)
    server = start_serve(
        tmp_path, ["--config", str(config), "--generator", "lorem", "--workers", "1"], LLMSIM_GENERATOR="echo"
    )
    try:
        wait_until_healthy(server)
        assert answer_text(server) != "echo me"
        assert server.health()["overrides"]["response.generator"] == "lorem"
    finally:
        stop_server(server)


def test_it_refuses_a_config_with_an_unknown_key(tmp_path):
    config = tmp_path / "llmsim.yaml"
    config.write_text("response: {generator: echo, colour: blue}\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--config", str(config), "--port", str(free_port())],
        cwd=ROOT,
        env=serve_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "response.colour" in result.stderr
    assert str(config) in result.stderr
    assert "Traceback" not in result.stderr


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker pids from /proc (Linux)")
def test_a_worker_killed_by_the_oom_killer_is_replaced(tmp_path):
    server = start_serve(tmp_path, ["--workers", "1"])
    try:
        wait_until_healthy(server)
        (worker,) = _children(server.process.pid)
        os.kill(worker, 9)  # what the OOM killer sends
        killed = time.monotonic()
        while time.monotonic() - killed < 10:
            assert server.process.poll() is None, f"serve exited with its worker:\n{server.log()}"
            with contextlib.suppress(OSError, urllib.error.URLError):
                if server.health()["status"] == "ok" and _children(server.process.pid) != [worker]:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no worker answered within 10 s of the kill:\n{server.log()}")
        assert time.monotonic() - killed < 5
        assert answer_text(server)
    finally:
        stop_server(server)


def test_its_help_names_granian_as_the_default_and_the_alternatives():
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    description = " ".join(result.stdout.split("\n\n")[1].split())  # the paragraph after the usage
    assert description.startswith("Serve LLMSim with granian in one worker process per core")
    assert "--server uvicorn or daphne" in description
    assert "granian (default" in " ".join(result.stdout.split())  # the --server option says so too
