"""The package: a wheel built from the project, installed into a fresh venv, and its `llmsim`
command run from an empty folder with nothing set up (the wheel and the venv: tests/app/installed.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import openai
import pytest

from tests.app import installed
from tests.app.installed import clean_env
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.live

START_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return installed.wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    return installed.venv(tmp_path_factory)


def llmsim(venv: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv / "bin" / "llmsim", *args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=60
    )


def test_requirements_txt_and_pyproject_list_the_same_dependencies():
    listed = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    required = [line for line in listed if line and not line.startswith("#")]
    with open(ROOT / "pyproject.toml", "rb") as file:
        assert tomllib.load(file)["project"]["dependencies"] == required


def test_the_wheel_carries_templates_static_files_migrations_the_manual_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "llmsim_project/cli.py",
        "llmsim_project/templates/llmsim/landing.html",
        "llmsim_project/templates/admin/base_site.html",
        "llmsim_project/static/llmsim/dashboard.js",
        "stats/templates/stats/dashboard.html",
        "simulator/migrations/0001_initial.py",
        "simulator/manual/README.md",
        "simulator/manual/docs/getting-started.md",
        "llmsim-0.1.0.dist-info/licenses/LICENSE",
    }
    assert expected - names == set()
    assert [name for name in names if name.startswith(("tests/", "bench/", "scripts/"))] == []
    entry_points = zipfile.ZipFile(wheel).read("llmsim-0.1.0.dist-info/entry_points.txt").decode()
    assert "llmsim = llmsim_project.cli:main" in entry_points


def test_llmsim_help_lists_the_subcommands_and_runs_the_installed_code(venv, tmp_path):
    result = llmsim(venv, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "import", "export", "top", "token"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    serve_help = llmsim(venv, "serve", "--help", cwd=tmp_path)
    assert "--target-tokens" in serve_help.stdout and "--workers" in serve_help.stdout
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import llmsim_project; print(llmsim_project.__file__)"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv))


def test_llmsim_migrate_creates_the_database_in_the_per_user_data_directory_and_export_reads_it(venv, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = llmsim(venv, "migrate", cwd=folder, XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    assert result.returncode == 0, result.stderr
    database = tmp_path / "xdg" / "llmsim" / "db.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        applied = connection.execute("SELECT count(*) FROM django_migrations WHERE app = 'simulator'").fetchone()[0]
    assert applied == len(list((ROOT / "simulator" / "migrations").glob("0*.py")))
    exported = llmsim(venv, "export", cwd=folder, XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    assert exported.returncode == 0 and "gpt-4o" in exported.stdout, exported.stderr  # the presets it loaded
    assert list(folder.iterdir()) == []


def test_llmsim_serve_starts_from_an_empty_folder_answers_the_openai_sdk_and_stops_on_sigterm(venv, tmp_path):
    folder, data = tmp_path / "empty", tmp_path / "data"
    folder.mkdir()
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                venv / "bin" / "llmsim",
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
                "--generator",
                "echo",
                "--data-dir",
                data,
            ],
            cwd=folder,
            env=clean_env(HOME=str(tmp_path / "home")),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, process, log_path)
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hello from a fresh venv"}],
            extra_headers={"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"},
        )
        assert "hello from a fresh venv" in answer.choices[0].message.content
        with urllib.request.urlopen(f"{base}/docs/", timeout=10) as response:
            assert "Two commands" in response.read().decode()

        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=15)
        assert time.monotonic() - stopping < 10 and status in (0, -signal.SIGTERM)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    output = log_path.read_text()
    password = (data / ".llmsim-admin-password").read_text().strip()
    assert f"Created admin login 'admin', password: {password}" in output
    assert f"Admin:             {base}/admin/" in output
    assert {path.name for path in data.iterdir()} >= {"db.sqlite3", ".llmsim-secret-key", ".llmsim-admin-password"}
    assert list(folder.iterdir()) == []


def wait_for_health(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llmsim serve exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/health", timeout=2):
            return
        time.sleep(0.2)
    pytest.fail(f"llmsim serve did not answer /health in {START_TIMEOUT_S} s:\n{log_path.read_text()}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no terminal to run --tui in")
def test_llmsim_serve_tui_shows_the_dashboard_and_quitting_it_stops_the_server(venv, tmp_path):
    port = free_port()
    session = f"llmsim-tui-{port}"
    command = f"{venv}/bin/llmsim serve --tui --port {port} --workers 1 --data-dir {tmp_path / 'data'}; sleep 60"
    environment = [f"-e{name}={value}" for name, value in clean_env(HOME=str(tmp_path / "home")).items()]
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-c", tmp_path, *environment, command],
        check=True,
    )
    try:
        assert wait_for_screen(session, "LLMSim top"), screen(session)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        assert wait_for_screen(session, "Server stopped"), screen(session)
        assert f"http://127.0.0.1:{port}/admin/" in screen(session)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for_screen(session: str, text: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if text in screen(session):
            return True
        time.sleep(0.2)
    return False
