"""Shared fixtures: a live LLMSim server (Daphne via `manage.py runserver`, as users
run it) on a throw-away SQLite database, and the official SDK clients pointed at it."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# How each server under test is started: Daphne through runserver (the newcomer's
# path), `serve` (granian, the throughput path) and `serve --server uvicorn`, one
# process each.
SERVER_COMMANDS = {
    "runserver": lambda port: ["runserver", f"127.0.0.1:{port}", "--noreload"],
    "serve": lambda port: ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-migrate"],
    "serve-uvicorn": lambda port: [
        *("serve", "--server", "uvicorn", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", "1", "--no-migrate"),
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class LiveServer:
    base_url: str
    db_path: Path
    process: subprocess.Popen
    log_path: Path
    db_alias: str = "live"

    def health(self) -> dict:
        return get_json(f"{self.base_url}/health")

    def wait_for_version(self, version: int, timeout: float = 10) -> None:
        """Block until the server's snapshot has caught up with `version`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health()["snapshot_version"] >= version:
                return
            time.sleep(0.05)
        raise AssertionError(f"server did not load snapshot {version} within {timeout}s")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


_TEMPLATE: list[Path] = []


def _migrated_template() -> Path:
    """A freshly migrated SQLite file, made once per test session and copied for each server.

    Migrating takes seconds; a copy takes milliseconds, and every server still starts
    from a database it owns.
    """
    if not _TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="llmsim-template-"))
        atexit.register(shutil.rmtree, directory, True)
        path = directory / "template.sqlite3"
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def start_server(
    tmp: Path,
    kind: str = "runserver",
    extra_env: dict[str, str] | None = None,
    command: Callable[[int], list[str]] | None = None,
    migrate: bool = True,
) -> LiveServer:
    """Migrate a fresh SQLite file, start the server (see SERVER_COMMANDS, or `command(port)`
    for other arguments; it must listen on 127.0.0.1) and wait for /health.

    A DATABASE_URL in `extra_env` is migrated first (a new SQLite file is a copy of the
    migrated template), unless `migrate` is False: a replica sharing a database that a
    server started before has migrated already.
    """
    db_path = tmp / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "LLMSIM_SNAPSHOT_POLL_SECONDS": "0.05",  # edits reach the server fast: tests wait on them
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    database_url = (extra_env or {}).get("DATABASE_URL")
    if database_url is None:
        shutil.copyfile(_migrated_template(), db_path)
    elif migrate:
        new_file = Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite:///") else None
        if new_file is not None and not new_file.exists():
            shutil.copyfile(_migrated_template(), new_file)
        else:
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", *(command or SERVER_COMMANDS[kind])(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # one process group with its workers, for stop_server
    )
    server = LiveServer(f"http://127.0.0.1:{port}", db_path, process, log_path, f"live_{kind}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            if server.health()["status"] == "ok":
                return server
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"server did not answer /health within 60 s:\n{server.log()}")


def stop_server(server: LiveServer) -> None:
    """Stop the server and every worker it started (its whole process group)."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    except ProcessLookupError:
        return
    # Workers that outlive their parent would keep ports and CPU: end any left over.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)


def pytest_collection_modifyitems(config, items) -> None:
    """Run a module's live tests only against the servers it names in LIVE_SERVERS.

    Transport behaviour (streaming, pacing, disconnects, drops) is tested against every
    server command; a module whose tests are about a provider's JSON can say
    `LIVE_SERVERS = ("serve",)` and keep the suite within its time budget. A test can
    say the same with `@pytest.mark.live_servers("serve")`.
    """
    kept, dropped = [], []
    reasons = config.stash.setdefault(LIVE_SERVER_DESELECTIONS, {})
    for item in items:
        marker = item.get_closest_marker("live_servers")
        wanted = marker.args if marker is not None else getattr(item.module, "LIVE_SERVERS", None)
        server = getattr(getattr(item, "callspec", None), "params", {}).get("llmsim_server")
        if wanted is not None and server is not None and server not in wanted:
            dropped.append(item)
            reasons.setdefault(tuple(sorted(wanted)), []).append(item.path.name)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# Why tests were deselected, for the summary at the end: pytest only counts them.
LIVE_SERVER_DESELECTIONS = pytest.StashKey[dict[tuple[str, ...], list[str]]]()
ALL_DESELECTED = pytest.StashKey[int]()


def pytest_configure(config) -> None:
    config.stash[ALL_DESELECTED] = 0


def pytest_deselected(items) -> None:
    if items:
        config = items[0].config
        config.stash[ALL_DESELECTED] = config.stash.get(ALL_DESELECTED, 0) + len(items)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say why tests were deselected (skips say why already: pytest.ini has -ra)."""
    by_kinds = config.stash.get(LIVE_SERVER_DESELECTIONS, {})
    ours = sum(len(modules) for modules in by_kinds.values())
    others = config.stash.get(ALL_DESELECTED, 0) - ours
    if ours:
        terminalreporter.write_line(
            f"deselected {ours} tests, the copies for servers their module (LIVE_SERVERS) or mark "
            "(live_servers) leaves out:"
        )
        for kinds, modules in sorted(by_kinds.items()):
            names = ", ".join(sorted(set(modules)))
            terminalreporter.write_line(f"  {' and '.join(kinds)} only: {len(modules)} ({names})")
    if others > 0:
        terminalreporter.write_line(f"deselected {others} tests by -k, -m or --deselect")


@pytest.fixture(scope="session", params=sorted(SERVER_COMMANDS))
def llmsim_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """A live server; every test that uses it runs against each server command."""
    server = start_server(tmp_path_factory.mktemp(f"live-{request.param}"), request.param)
    register_live_database(server)
    yield server
    stop_server(server)


def register_live_database(server: LiveServer) -> None:
    """Let this test process edit the live server's database through the ORM."""
    from django.db import connections

    connections.settings[server.db_alias] = {**connections.settings["default"], "NAME": str(server.db_path)}


@pytest.fixture
def live_db(llmsim_server, django_db_blocker) -> Iterator[str]:
    """The database alias of the live server's data, unblocked for this test."""
    with django_db_blocker.unblock():
        yield llmsim_server.db_alias
        from django.db import connections

        connections[llmsim_server.db_alias].close()


@pytest.fixture
def edit(llmsim_server, live_db):
    """Change scenario rows on the live server and wait until it serves them.

    Usage: `edit(obj, field=value, ...)`; every edit is undone after the test.
    """
    from simulator.state.snapshots import read_version

    undo: list[tuple[object, dict]] = []

    def apply(obj, **fields):
        undo.append((obj, {name: getattr(obj, name) for name in fields}))
        for name, value in fields.items():
            setattr(obj, name, value)
        obj.save(using=live_db)
        llmsim_server.wait_for_version(read_version(live_db))
        return obj

    yield apply
    for obj, fields in reversed(undo):
        for name, value in fields.items():
            setattr(obj, name, value)
        obj.save(using=live_db)
    llmsim_server.wait_for_version(read_version(live_db))


@pytest.fixture(scope="module")
def module_scenarios(llmsim_server, django_db_blocker):
    """Create scenarios with rules on the live server once for a whole test module.

    Usage: `module_scenarios(name, rules=[{"match_header": ..., "action": ...}], **fields)`;
    they are deleted after the module. Cheaper than a scenario per test: each creation
    waits for the server to load the new snapshot.
    """
    from simulator.models import ResponseRule, Scenario
    from simulator.state.snapshots import read_version

    alias = llmsim_server.db_alias
    created = []

    def make(name: str, rules: list[dict] = (), **fields):
        with django_db_blocker.unblock():
            scenario = Scenario(name=name, **fields)
            scenario.save(using=alias)
            created.append(scenario)
            for priority, rule in enumerate(rules):
                row = ResponseRule(scenario=scenario, **{"name": f"rule-{priority}", "priority": priority, **rule})
                row.full_clean()
                row.save(using=alias)
            llmsim_server.wait_for_version(read_version(alias))
        return scenario

    yield make
    with django_db_blocker.unblock():
        for scenario in created:
            scenario.delete(using=alias)
        llmsim_server.wait_for_version(read_version(alias))
        from django.db import connections

        connections[alias].close()


@pytest.fixture
def no_shipped_examples(db) -> None:
    """The test database without the error profiles and scenarios migration 0013 ships, for
    tests that count or name every row (their rows are deleted, in this test's transaction)."""
    from simulator.models import ErrorProfile, Scenario

    Scenario.objects.all().delete()
    ErrorProfile.objects.all().delete()


@pytest.fixture
def client(llmsim_server):
    import openai

    with openai.OpenAI(base_url=f"{llmsim_server.base_url}/v1", api_key="test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def async_client(llmsim_server):
    import openai

    return openai.AsyncOpenAI(base_url=f"{llmsim_server.base_url}/v1", api_key="test", max_retries=0)


INSTANT = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"}


@pytest.fixture
def anthropic_client(llmsim_server):
    """The anthropic SDK on the live server, answering at once (INSTANT), without retries."""
    import anthropic

    with anthropic.Anthropic(
        base_url=llmsim_server.base_url, api_key="test", max_retries=0, default_headers=INSTANT
    ) as sdk:
        yield sdk


@pytest.fixture
def genai_client(llmsim_server):
    """The google-genai SDK on the live server (its default /v1 paths), answering at once (INSTANT)."""
    from google import genai

    with genai.Client(api_key="test", http_options={"base_url": llmsim_server.base_url, "headers": INSTANT}) as sdk:
        yield sdk


def post(server: LiveServer, path: str, body: bytes | dict | str, headers: dict[str, str] | None = None):
    """Raw HTTP POST; returns (status, headers, parsed JSON or text)."""
    data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(
        f"{server.base_url}{path}",
        data=data,
        method="POST",
        headers={"Authorization": "Bearer test", "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, error.headers, error.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = raw.decode(errors="replace")
    return status, response_headers, payload
