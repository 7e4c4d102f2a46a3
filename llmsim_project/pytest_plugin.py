"""The pytest plugin of the installed package: a `llmsim_server` fixture for a project's own tests.

pytest loads it through the package's `pytest11` entry point, so a project that installs
llmsim gets the fixture with nothing to configure. It starts `llmsim serve` once per test
session in a subprocess, on a free port and a throw-away data directory (its own SQLite
database), and stops it at the end. Only the standard library is imported here: pytest
loads this module in every run of a venv that has llmsim, whether it uses it or not.

The fixture talks to the server the way a CI pipeline would: the management API
(`/llmsim/api/`) with a random LLMSIM_ADMIN_TOKEN that the fixture gives the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# The server migrates a new database before it listens: a few seconds, more on a busy CI machine.
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
# How long load() waits for the server to take up an imported file (it polls every 0.05 s here).
LOAD_TIMEOUT_S = 10
# Settings of the caller's environment that would point the throw-away server at something real.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "LLMSIM_CONFIG", "LLMSIM_DATA_DIR", "DJANGO_SETTINGS_MODULE")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "llmsim_serve_args",
        "extra arguments for `llmsim serve` in the llmsim_server fixture, e.g. --generator echo",
        default="",
    )


class LLMSimServer:
    """A running LLMSim: its address, and the few management calls a test needs."""

    def __init__(self, url: str, token: str, process: subprocess.Popen, log_path: Path) -> None:
        self.url = url
        self.openai_base_url = f"{url}/v1"
        self.anthropic_base_url = url
        self.gemini_base_url = url
        self.token = token  # LLMSIM_ADMIN_TOKEN: a bearer token for /llmsim/api/ and /llmsim/reset
        self.process = process
        self.log_path = log_path

    def load(self, source: str | os.PathLike) -> dict:
        """Import scenarios, rules, profiles or the seed's `mocks` (YAML or JSON text, or a file's
        path), as `llmsim import` does; returns once the server answers with them."""
        text = Path(source).read_text() if _is_path(source) else str(source)
        before = self.snapshot_version()
        result = self._call("POST", "/llmsim/api/import/", text.encode(), "application/yaml")
        if any(result.get(what) for what in ("created", "updated", "deleted")):
            # Any stored change moves the version, in the same transaction as the import.
            self._wait(lambda: self.snapshot_version() != before, "take up the imported file")
        return result

    def reset(self) -> None:
        """Rule sequences start over, rate-limit buckets are full again and the counters restart."""
        self._call("POST", "/llmsim/api/reset-sequences/")
        self._call("POST", "/llmsim/api/reset-rate-limits/")
        self._call("POST", "/llmsim/reset")

    def stats(self) -> dict:
        """GET /llmsim/stats: the counters (docs/observability.md)."""
        return self._call("GET", "/llmsim/stats")

    def snapshot_version(self) -> int:
        return self._call("GET", "/health")["snapshot_version"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _call(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> dict:
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            # The server's message (e.g. which line of an imported file is wrong) is the useful part.
            raise AssertionError(f"LLMSim {method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None

    def _wait(self, done, what: str) -> None:
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"LLMSim did not {what} within {LOAD_TIMEOUT_S} s")
            time.sleep(0.05)


def _is_path(source: str | os.PathLike) -> bool:
    if isinstance(source, os.PathLike):
        return True
    # A one-line string naming an existing file; YAML text has a newline or a colon-space.
    return "\n" not in source and len(source) < 4096 and Path(source).is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(data_dir: Path, extra_args: list[str]) -> LLMSimServer:
    """`llmsim serve` on a free port with its data in data_dir; returns once /health answers."""
    port, token = _free_port(), secrets.token_urlsafe(24)
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update(
        LLMSIM_ADMIN_TOKEN=token,
        LLMSIM_SNAPSHOT_POLL_SECONDS="0.05",  # an imported file is answered at once, not within a second
        PYTHONUNBUFFERED="1",
    )
    command = [sys.executable, "-m", "llmsim_project.cli", "--data-dir", str(data_dir), "serve"]
    # One worker: /health and the counters are that process's, and it resets at once.
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", *extra_args]
    log_path = data_dir / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = LLMSimServer(f"http://127.0.0.1:{port}", token, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"llmsim serve exited with {process.returncode}:\n{server.log()}")
        with contextlib.suppress(OSError, ValueError, AssertionError):  # not listening yet, or starting
            server.snapshot_version()
            return server
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"llmsim serve did not answer /health in {START_TIMEOUT_S} s:\n{server.log()}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (the server finishes what it is doing), then SIGKILL for the whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its workers too, if any outlived it
    process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def llmsim_server(pytestconfig: pytest.Config) -> Iterator[LLMSimServer]:
    """A live LLMSim for the whole test session: `.url`, `.openai_base_url`, `.load(yaml)`,
    `.reset()`, `.stats()`. Its database is thrown away at the end."""
    extra_args = shlex.split(pytestconfig.getini("llmsim_serve_args"))
    with tempfile.TemporaryDirectory(prefix="llmsim-pytest-") as directory:
        server = start(Path(directory), extra_args)
        try:
            yield server
        finally:
            stop(server.process)
