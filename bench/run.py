"""Benchmark LLMSim: start the server, load it, print the figures, stop it.

    python bench/run.py [--server runserver|serve] [--port P] [--duration 10]
                        [--connections 64] [--streams 200] [--only throughput|streams]
                        [--pin | --no-pin] [--json FILE] [--url http://127.0.0.1:P]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from loadgen import HOST, run_streams, run_throughput

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


# --- the server under test ------------------------------------------------------


@dataclass(slots=True)
class Server:
    """The server subprocess we started (None when benchmarking an external one)."""

    process: subprocess.Popen[bytes] | None
    port: int
    log_path: Path | None = None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(kind: str, port: int) -> list[str]:
    if kind == "serve":
        return [sys.executable, "manage.py", "serve", "--host", HOST, "--port", str(port)]
    return [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"]


def bench_environment(workdir: Path) -> dict[str, str]:
    # A throw-away database keeps the user's db.sqlite3 (and its scenarios) out of it.
    return {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}", "PYTHONUNBUFFERED": "1"}


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"migrate failed ({done.returncode}):\n{done.stdout}{done.stderr}")


@contextmanager
def pinned_to(cpu: int | None) -> Iterator[None]:
    """Run the block with this process on `cpu`; children started inside inherit it.

    Pinning before the fork (rather than the child's pid afterwards) also covers
    threads and worker processes the server starts during its own startup.
    """
    if cpu is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def start_server(kind: str, port: int, workdir: Path, cpu: int | None) -> Server:
    env = bench_environment(workdir)
    migrate(env)
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log, pinned_to(cpu):
        # A file, not a pipe: nobody reads the server's per-request log during the
        # run, and a full pipe would stall the server. A new session keeps the
        # terminal's Ctrl-C away from it, so stop_server decides how it ends.
        process = subprocess.Popen(
            server_command(kind, port),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(process, port, log_path)


def stop_server(server: Server) -> None:
    process = server.process
    if process is None:
        return
    # The whole session we created: `serve` may have started worker processes,
    # which could outlive their parent.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_healthy(server: Server) -> None:
    url = f"http://{HOST}:{server.port}/health"
    # No proxy: an http_proxy in the environment must not intercept a local check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            sys.exit(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer 200 within {HEALTH_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, read from /proc (Linux); processes that exit meanwhile are skipped."""
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


def proc_status_kib(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def server_cpu_seconds(server: Server) -> float | None:
    """User + system CPU time of the server's processes so far."""
    if server.process is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in process_tree(server.process.pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are 14 and 15.
        fields = stat.rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def server_peak_rss_mib(server: Server) -> float | None:
    """Peak resident memory (VmHWM), summed over the server's processes."""
    if server.process is None:
        return None
    return sum(proc_status_kib(pid, "VmHWM") for pid in process_tree(server.process.pid)) / 1024.0


# --- measuring ------------------------------------------------------------------


def measured(server: Server, work: Coroutine[Any, Any, T]) -> tuple[T, float | None]:
    """Run the load coroutine `work`; also return the server CPU seconds it caused."""
    cpu_before = server_cpu_seconds(server)
    result = asyncio.run(work)
    cpu_after = server_cpu_seconds(server)
    return result, None if cpu_before is None or cpu_after is None else cpu_after - cpu_before


def bench_throughput(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    result, server_cpu = measured(server, run_throughput(server.port, args.connections, args.duration, args.warmup))
    figures = result.summary()
    figures["server_cpu_pct"] = None if server_cpu is None else 100.0 * server_cpu / result.wall_s
    return figures


def bench_streams(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    result, server_cpu = measured(server, run_streams(server.port, args.streams))
    figures = result.summary()
    figures["server_cpu_pct"] = None if server_cpu is None else 100.0 * server_cpu / result.wall_s
    figures["server_peak_rss_mib"] = server_peak_rss_mib(server)
    return figures


# --- the report -----------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_pcts(summary: dict[str, float | None], digits: int = 1, unit: str = "") -> str:
    return "  ".join(f"{name} {fmt(value, digits)}{unit}" for name, value in summary.items())


def report_throughput(f: dict[str, Any]) -> str:
    lines = [
        f"throughput: {f['connections']} keep-alive connections, non-streaming, "
        f"{f['duration_s']:g} s measured after {f['warmup_s']:g} s warm-up",
        f"  requests/s       {f['requests_per_s']:.1f}  ({f['answers']} answers)",
        f"  latency          {fmt_pcts(f['latency_ms'], unit=' ms')}",
        f"  non-200 answers  {f['non_200']}" + (f"  {f['statuses']}" if f["non_200"] else ""),
        f"  errors           {f['errors']}" + (f"  {f['error_kinds']}" if f["errors"] else ""),
        f"  client CPU       {fmt(f['client_cpu_pct'])}% of one core",
    ]
    if f["server_cpu_pct"] is not None:
        lines.append(f"  server CPU       {fmt(f['server_cpu_pct'])}% of one core")
    return "\n".join(lines)


def report_streams(f: dict[str, Any]) -> str:
    events = f["content_events_per_stream"]
    lines = [
        f"streams: {f['started']} concurrent, ttft {f['ttft_ms']:g} ms, tbt {f['tbt_ms']:g} ms, "
        f"{f['tokens']} tokens (ideal duration {f['ideal_duration_ms']:g} ms)",
        f"  completed        {f['completed']}/{f['started']} with [DONE]",
        f"  TTFT lateness    {fmt_pcts(f['ttft_lateness_ms'], unit=' ms')}",
        f"  token gap        {fmt_pcts(f['token_gap_ms'], unit=' ms')}",
        f"  duration ratio   {fmt_pcts(f['duration_ratio'], digits=3)}",
        f"  content events   min {events['min']}  max {events['max']} per stream",
        f"  client CPU       {fmt(f['client_cpu_pct'])}% of one core",
    ]
    if f["statuses"] != {"200": f["started"]}:
        lines.append(f"  statuses         {f['statuses']}")
    if f["errors"]:
        lines.append(f"  errors           {f['errors']}")
    if f["server_cpu_pct"] is not None:
        lines.append(f"  server CPU       {fmt(f['server_cpu_pct'])}% of one core")
    if f["server_peak_rss_mib"] is not None:
        lines.append(f"  server peak RSS  {f['server_peak_rss_mib']:.1f} MiB (VmHWM)")
    return "\n".join(lines)


# --- entry point ----------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("runserver", "serve"), default="runserver")
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--url", help="benchmark this already-running server (127.0.0.1 only) instead")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds of the throughput run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before it")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--only", choices=("throughput", "streams"))
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="server on one CPU, load generator on another (default: on with 2+ CPUs)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.streams < 1:
        parser.error("--duration, --connections and --streams must be positive")
    return args


def url_port(url: str) -> int:
    parts = urlsplit(url)
    # The load loops are only ever pointed at this machine.
    if parts.scheme != "http" or parts.hostname not in (HOST, "localhost") or parts.port is None:
        sys.exit(f"--url must look like http://{HOST}:PORT, not {url!r}")
    return parts.port


def choose_cpus(pin: bool | None) -> tuple[int | None, int | None]:
    """(server CPU, load generator CPU): the first two CPUs we may run on, or neither."""
    allowed = sorted(os.sched_getaffinity(0))
    if pin is None:
        pin = len(allowed) >= 2
    if not pin:
        return None, None
    if len(allowed) < 2:
        sys.exit("--pin needs at least two CPUs")
    return allowed[0], allowed[1]


def run(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    wait_healthy(server)
    figures: dict[str, Any] = {}
    if args.only in (None, "throughput"):
        figures["throughput"] = bench_throughput(server, args)
        print(report_throughput(figures["throughput"]) + "\n", flush=True)
    if args.only in (None, "streams"):
        figures["streams"] = bench_streams(server, args)
        print(report_streams(figures["streams"]) + "\n", flush=True)
    return figures


def describe(args: argparse.Namespace, server: Server, cpus: tuple[int | None, int | None]) -> str:
    target = args.url or f"manage.py {args.server} on {HOST}:{server.port}"
    server_cpu, client_cpu = cpus
    if client_cpu is None:
        return f"{target}; no CPU pinning"
    if server.process is None:
        return f"{target}; load generator pinned to CPU {client_cpu} (the server is not ours to pin)"
    return f"{target}; server pinned to CPU {server_cpu}, load generator to CPU {client_cpu}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cpus = choose_cpus(args.pin)
    # Treat `kill` like Ctrl-C: asyncio.run then cancels the load cleanly, and the
    # finally below stops the server.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    server: Server | None = None
    with tempfile.TemporaryDirectory(prefix="llmsim-bench-") as tmp:
        try:
            if args.url:
                server = Server(None, url_port(args.url))
            else:
                server = start_server(args.server, args.port or free_port(), Path(tmp), cpus[0])
            if cpus[1] is not None:
                os.sched_setaffinity(0, {cpus[1]})
            print(f"LLMSim benchmark: {describe(args, server, cpus)}\n", flush=True)
            figures = run(args, server)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        finally:
            if server is not None:
                stop_server(server)
    figures["setup"] = {"server": args.url or args.server, "pinned": cpus[1] is not None}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
