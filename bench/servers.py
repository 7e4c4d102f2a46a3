"""The servers under test: start, pin, watch and stop them (Linux: /proc, sched_setaffinity).

The kinds, each started from the project root (LLMSim and the reference with this interpreter):

* `serve`: `manage.py serve` (LLMSim's production command; uvicorn, N workers).
* `runserver`: `manage.py runserver` (Daphne's development server).
* `reference`: `bench/reference_app.py` under uvicorn with uvloop and httptools, the
  ceiling: the least any Python ASGI app can do to answer the same requests.
* the peers `aimock` and `fakellm` (bench/peers.py): other mock servers, each with a
  fixture written for the scenario.

A server runs in a session of its own (start_new_session), so "the server" is every
process of that session: its CPU time and memory are summed over all of them, and it
is stopped and pinned as a whole.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from event_loop import HOST
from peers import HEALTH_PATHS, PEER_KINDS, Schedule, peer_command, write_fixture

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVER_KINDS = ("serve", "runserver", "reference", *PEER_KINDS)
DJANGO_KINDS = ("serve", "runserver")
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Worker processes of `serve` may come up after the first one answers /health.
SETTLE_TIMEOUT_S = 10.0
SETTLE_STABLE_S = 1.0
REFERENCE_BACKLOG = 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Server:
    """A server subprocess we started (process None: an external one, from --url)."""

    kind: str
    process: subprocess.Popen[bytes] | None
    port: int
    log_path: Path | None = None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def pids(self) -> list[int]:
        """Every live process of the server's session, its descendants included."""
        if self.process is None:
            return []
        return sorted(set(session_members(self.process.pid)) | set(process_tree(self.process.pid)))


# --- starting and stopping ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(kind: str, port: int, serve_workers: int | None = None) -> list[str]:
    if kind == "serve":
        workers = [] if serve_workers is None else ["--workers", str(serve_workers)]
        return [sys.executable, "manage.py", "serve", "--host", HOST, "--port", str(port), *workers]
    if kind == "runserver":
        return [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"]
    if kind == "reference":
        return [
            *(sys.executable, "-m", "uvicorn", "bench.reference_app:app"),
            *("--host", HOST, "--port", str(port)),
            *("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
            *("--backlog", str(REFERENCE_BACKLOG), "--lifespan", "off"),
        ]
    raise ValueError(f"unknown server kind {kind!r}")


def bench_environment(workdir: Path) -> dict[str, str]:
    # A throw-away database keeps the user's db.sqlite3 (and its scenarios) out of it.
    return {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}", "PYTHONUNBUFFERED": "1"}


def migrate(workdir: Path, loaded_scenario: bool = False) -> None:
    """Migrate the throw-away database; with `loaded_scenario`, install bench/loaded_scenario.py's scenario."""
    commands = [[sys.executable, "manage.py", "migrate", "--noinput"]]
    if loaded_scenario:
        commands.append([sys.executable, "bench/loaded_scenario.py"])
    for command in commands:
        done = subprocess.run(command, cwd=PROJECT_ROOT, env=bench_environment(workdir), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command[1:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


@contextmanager
def pinned_to(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run the block with this process on `cpus`; children started inside inherit them.

    Pinning before the fork (rather than the child's pid afterwards) also covers
    threads and worker processes the server starts during its own startup, and
    `serve`, which starts one worker per CPU it may run on, sees only these.
    """
    if cpus is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def start_server(
    kind: str,
    port: int,
    workdir: Path,
    cpus: frozenset[int] | None,
    serve_workers: int | None = None,
    schedule: Schedule | None = None,
) -> Server:
    """Start `kind` on `port`; a peer answers every request as `schedule` says (LLMSim reads the headers)."""
    log_path = workdir / f"{kind}-{port}.log"
    if kind in PEER_KINDS:
        if schedule is None:
            raise ValueError(f"{kind} answers from a fixture: it needs the scenario's schedule")
        fixture = write_fixture(kind, schedule, workdir)
        command = peer_command(kind, port, fixture, HOST)
    else:
        command = server_command(kind, port, serve_workers)
    with open(log_path, "wb") as log, pinned_to(cpus):
        # A file, not a pipe: nobody reads the server's per-request log during the
        # run, and a full pipe would stall the server. A new session keeps the
        # terminal's Ctrl-C away from it, so stop_server decides how it ends.
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=bench_environment(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(kind, process, port, log_path)


def stop_server(server: Server) -> None:
    process = server.process
    if process is None:
        return
    # The whole session we created: `serve` starts worker processes, which could
    # outlive their parent.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Workers still exiting after their parent: give them the same grace, then kill.
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while session_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_healthy(server: Server) -> None:
    url = f"http://{HOST}:{server.port}{HEALTH_PATHS.get(server.kind, '/health')}"
    # No proxy: an http_proxy in the environment must not intercept a local check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            sys.exit(f"{server.kind} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer 200 within {HEALTH_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def wait_settled(server: Server) -> None:
    """Wait until the server's set of processes has not changed for SETTLE_STABLE_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    seen, since = server.pids(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < SETTLE_STABLE_S:
        time.sleep(0.1)
        now_pids = server.pids()
        if now_pids != seen:
            seen, since = now_pids, time.monotonic()


# --- processes and CPUs -------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the parenthesised command name (field 3 onwards), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes whose session id is `session`."""
    members = []
    for pid in all_pids():
        fields = _stat_fields(pid)
        # fields[0] is the state, fields[3] the session id.
        if fields is not None and fields[0] != "Z" and int(fields[3]) == session:
            members.append(pid)
    return members


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc; processes that exit meanwhile are skipped."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    pids = [pid]
    for tid in tids:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


def pin_processes(pids: Iterable[int], cpus: frozenset[int]) -> None:
    """Pin every thread of these processes (affinity is per thread) to `cpus`."""
    for pid in pids:
        with suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with suppress(OSError):
                    os.sched_setaffinity(int(tid), cpus)


def allowed_cpus(pid: int) -> str:
    """The CPUs a process may run on, as /proc shows them (e.g. "0" or "0-1")."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "?"
    for line in status.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"


def describe_processes(server: Server) -> str:
    """How many processes the server has and where they may run, e.g. "3 processes on CPUs 0-1"."""
    pids = server.pids()
    if not pids:
        return "not ours to inspect"
    by_cpus: dict[str, int] = {}
    for pid in pids:
        cpus = allowed_cpus(pid)
        by_cpus[cpus] = by_cpus.get(cpus, 0) + 1
    return ", ".join(f"{count} process{'es' if count != 1 else ''} on CPUs {cpus}" for cpus, count in by_cpus.items())


def cpu_seconds_of(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes so far."""
    return sum(cpu_seconds_by_pid(pids).values())


def cpu_seconds_by_pid(pids: Iterable[int]) -> dict[int, float]:
    times = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime and stime are fields 14 and 15 of stat.
            times[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return times


def others_cpu_times(excluded: Iterable[int]) -> dict[int, float]:
    """CPU time so far of every process but these: the machine's background load."""
    skip = set(excluded)
    return cpu_seconds_by_pid(pid for pid in all_pids() if pid not in skip)


def cpu_used_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU time used between two snapshots by the processes alive at the second.

    Processes that ended in between are missed (their time goes to the parent's
    cutime only when reaped, with all they used before); never negative.
    """
    return sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items())


# --- memory -------------------------------------------------------------------------


def status_kib(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def total_kib(pids: Iterable[int], field: str) -> int:
    """VmRSS or VmHWM (peak resident memory) summed over the processes, in KiB."""
    return sum(status_kib(pid, field) for pid in pids)


def reset_peak_rss(pids: Iterable[int]) -> bool:
    """Set each process's VmHWM back to its current RSS (Linux 4.0+); False if any refused.

    Startup (migrations, imports) can peak above the steady state, and that peak
    would otherwise be charged to the streams.
    """
    ok = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok
