"""Recorders (`manage.py llmsim_record`) as subprocesses, for the recording tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, free_port


@dataclass
class Recorder:
    base_url: str
    cassettes: Path
    process: subprocess.Popen
    log_path: Path

    def files(self) -> list[Path]:
        return sorted(self.cassettes.glob("*.yaml"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_recorders(tmp: Path, upstreams: dict[str, list[str]]) -> dict[str, Recorder]:
    """Start one recorder per name (its extra arguments given) at once, and wait until each listens."""
    recorders = {}
    for name, arguments in upstreams.items():
        port = free_port()
        log_path = tmp / f"{name}.log"
        command = ["llmsim_record", "--cassettes", str(tmp / name), "--port", str(port), *arguments]
        process = subprocess.Popen(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        recorders[name] = Recorder(f"http://127.0.0.1:{port}", tmp / name, process, log_path)
    deadline = time.monotonic() + 60
    for recorder in recorders.values():
        port = int(recorder.base_url.rsplit(":", 1)[1])
        while not _listening(port):
            if recorder.process.poll() is not None or time.monotonic() > deadline:
                stop_recorders(recorders)
                raise RuntimeError(f"the recorder did not start:\n{recorder.log()}")
            time.sleep(0.1)
    return recorders


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def stop_recorders(recorders: dict[str, Recorder]) -> None:
    for recorder in recorders.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(recorder.process.pid, signal.SIGTERM)
        recorder.process.wait(timeout=10)
