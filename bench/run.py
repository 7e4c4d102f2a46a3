"""Benchmark LLMSim against a raw-ASGI reference: start each server, load it, print the figures.

    python bench/run.py --all [--rounds 3] [--json FILE] [--markdown FILE]
    python bench/run.py [--server serve|runserver|reference|aimock|fakellm | --servers LIST] [--peers LIST]
                        [--rounds N] [--streams 200,1000,2000] [--only throughput|streams]
                        [--serve-workers N] [--server-cpus 0] [--client-cpus 1] [--no-pin]
                        [--duration 10] [--warmup 2] [--connections 64] [--no-prime]
                        [--port P | --url http://127.0.0.1:P]
    python bench/run.py --scenario-cost 6 [--serve-workers 1] [--duration 6]
    python bench/run.py --workers-scaling [--client-cpus 2] [--markdown FILE]

Every scenario gets a freshly started server, pinned apart from the load generator;
the table at the end has a column per server and each figure's ratio to the
reference's (and serve's to each peer's). The peers, aimock and fakellm, are installed
into bench/.peers/ on first use (bench/peers.py); one that cannot be is skipped, with
the reason. See docs/benchmarks.md for what each figure means.

The throughput scenario runs first, in --rounds interleaved rounds (3 when several
servers run, else 1): every server once per round, in the same order. A server's
throughput figures are those of its median round, and a ratio between two servers is
the median of the per-round ratios (bench/rounds.py). The streams scenarios then run
once per server.

--scenario-cost N measures what scenarios cost (issue 5's figure): N pairs of
throughput runs of `serve`, without and with bench/loaded_scenario.py's ten rules
and rate limits, alternating which goes first (ABBA), since this machine's speed
drifts by more than the difference between runs minutes apart.

--workers-scaling runs serve's throughput and 2,000 streams with one worker, then
two, the client on the same CPU in both, and prints the figures side by side with
the two-worker ÷ one-worker ratio (issue 24's "serve --workers N scales").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from event_loop import HOST
from loadgen import ClientLimitError, check_open_files, raise_open_files_limit, run_streams, run_throughput
from peers import PEER_KINDS, Schedule, prepare, streams_skip_reason
from report import (
    Figures,
    machine_details,
    markdown_scaling_section,
    markdown_section,
    report_streams,
    report_throughput,
    rounds_notes,
    saturation_notes,
    text_scaling,
    text_table,
    text_targets,
    workers_label,
    write_markdown,
)
from rounds import interleaved, median_round
from servers import (
    DJANGO_KINDS,
    SERVER_KINDS,
    Server,
    cpu_seconds_of,
    cpu_used_since,
    describe_processes,
    free_port,
    migrate,
    others_cpu_times,
    pin_processes,
    reset_peak_rss,
    start_server,
    stop_server,
    total_kib,
    wait_healthy,
    wait_settled,
)

DEFAULT_STREAMS = (200,)
DEFAULT_STREAMS_ALL = (1000, 2000, 4000)
# Throughput rounds when several servers are compared: one is mostly noise (see bench/rounds.py).
DEFAULT_ROUNDS_SEVERAL = 3
# --workers-scaling: serve with each of these worker counts, throughput and these streams.
SCALING_WORKERS = (1, 2)
SCALING_STREAMS = (2000,)
# Before a streams scenario: a few short streams, so that code paths loaded on first
# use are in memory before the baseline RSS is read, then a pause for them to close.
WARMUP_STREAMS = 32
SETTLE_S = 0.5
REFERENCE_MODULES = ("uvicorn", "uvloop", "httptools")
# What every answer is asked for: LLMSim and the reference read it from the request's
# x-llmsim-* headers, the peers from the fixture they are started with.
THROUGHPUT_SCHEDULE = Schedule(tokens=20)
STREAM_SCHEDULE = Schedule(tokens=100, ttft_ms=200.0, tbt_ms=20.0, stream=True)


# --- the plan -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pinning:
    """The CPUs of the server's processes and of the load generator (None: not pinned)."""

    server: frozenset[int] | None
    client: frozenset[int] | None

    def describe(self, external: bool) -> str:
        if self.client is None:
            return "no CPU pinning"
        client = f"load generator on CPU {cpu_list(self.client)}"
        if external:
            return f"{client} (the server is not ours to pin)"
        assert self.server is not None
        shared = self.server & self.client
        note = f" (sharing CPU {cpu_list(shared)})" if shared else ""
        return f"server on CPU {cpu_list(self.server)}, {client}{note}"


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str  # "throughput" or "streams_<count>"
    streams: int = 0

    @property
    def title(self) -> str:
        return "throughput" if self.key == "throughput" else f"{self.streams} streams"

    @property
    def schedule(self) -> Schedule:
        return THROUGHPUT_SCHEDULE if self.key == "throughput" else STREAM_SCHEDULE


def cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def parse_cpus(text: str) -> frozenset[int]:
    """ "0", "0,1" or "0-3,6" """
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            cpus.update(range(int(low), int(high or low) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a CPU list: {text!r}") from None
    if not cpus:
        raise argparse.ArgumentTypeError("empty CPU list")
    return frozenset(cpus)


def parse_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(dict.fromkeys(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of numbers: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("stream counts must be positive")
    return counts


def parse_servers(text: str) -> tuple[str, ...]:
    kinds = tuple(part.strip() for part in text.split(","))
    unknown = [kind for kind in kinds if kind not in SERVER_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown server {unknown}; choose from {', '.join(SERVER_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--server", choices=SERVER_KINDS, help="one server (default: runserver)")
    which.add_argument("--servers", type=parse_servers, help="comma list, run in this order")
    which.add_argument("--all", action="store_true", help="--servers " + ",".join(SERVER_KINDS))
    which.add_argument("--url", help="benchmark this already-running server (127.0.0.1 only) instead")
    parser.add_argument(
        "--peers",
        type=parse_peers,
        default=(),
        help=f"also run these peers after the servers, comma list of {','.join(PEER_KINDS)} (--all has both)",
    )
    parser.add_argument("--port", type=int, help="port of the servers we start (default: a free one each time)")
    parser.add_argument("--serve-workers", type=int, help="pass --workers N to serve (default: its own default)")
    parser.add_argument(
        "--loaded-scenario",
        action="store_true",
        help="make every request walk ten response rules and take from rate limits (bench/loaded_scenario.py)",
    )
    parser.add_argument(
        "--scenario-cost",
        type=int,
        metavar="PAIRS",
        help="throughput of serve without and with the loaded scenario, PAIRS alternating pairs",
    )
    parser.add_argument(
        "--workers-scaling",
        action="store_true",
        help="serve with 1 and with 2 workers (throughput and 2,000 streams), the client on the same CPU in both",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"throughput rounds, every server once per round, interleaved (default: {DEFAULT_ROUNDS_SEVERAL} "
        "for several servers, else 1)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds of the throughput run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before it")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--streams",
        type=parse_counts,
        help="comma list of concurrent stream counts, one scenario each (default: "
        f"{counts_text(DEFAULT_STREAMS_ALL)} for several servers, {counts_text(SCALING_STREAMS)} "
        f"for --workers-scaling, else {counts_text(DEFAULT_STREAMS)})",
    )
    parser.add_argument("--only", choices=("throughput", "streams"))
    parser.add_argument(
        "--prime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="answer GET /health on each stream's connection before the common start (default: on)",
    )
    parser.add_argument("--server-cpus", type=parse_cpus, help='CPUs of the server\'s processes, e.g. "0" or "0,1"')
    parser.add_argument("--client-cpus", type=parse_cpus, help='CPUs of the load generator, e.g. "1"')
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="server on one CPU, load generator on another (default: on with 2+ CPUs)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--markdown",
        type=Path,
        help="write the results section (machine, table) to this file, or with --workers-scaling the workers "
        "section; see docs/benchmarks.md",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1:
        parser.error("--duration and --connections must be positive")
    if args.serve_workers is not None and args.serve_workers < 1:
        parser.error("--serve-workers must be at least 1")
    if args.pin is False and (args.server_cpus or args.client_cpus):
        parser.error("--no-pin contradicts --server-cpus/--client-cpus")
    if args.url and args.peers:
        parser.error("--peers starts its own servers (no --url)")
    if args.scenario_cost is not None and (args.scenario_cost < 1 or args.url):
        parser.error("--scenario-cost needs at least 1 pair, and starts its own servers (no --url)")
    if args.workers_scaling and (args.url or args.all or args.servers or args.server or args.peers):
        parser.error("--workers-scaling runs serve, which it starts itself (no --url, --server(s), --all, --peers)")
    if args.workers_scaling and (args.server_cpus or args.serve_workers or args.pin is False):
        parser.error("--workers-scaling chooses the server's CPUs and workers itself (only --client-cpus)")
    if args.workers_scaling and args.scenario_cost is not None:
        parser.error("--workers-scaling and --scenario-cost are separate runs")
    if args.rounds is not None and (args.rounds < 1 or args.workers_scaling or args.scenario_cost is not None):
        parser.error(
            "--rounds needs at least 1, and is for the servers' comparison (no --workers-scaling, --scenario-cost)"
        )
    return args


def counts_text(counts: tuple[int, ...]) -> str:
    return ",".join(map(str, counts))


def parse_peers(text: str) -> tuple[str, ...]:
    kinds = tuple(part.strip() for part in text.split(","))
    unknown = [kind for kind in kinds if kind not in PEER_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown peer {unknown}; choose from {', '.join(PEER_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def server_kinds(args: argparse.Namespace) -> tuple[str, ...]:
    if args.url:
        return ("external",)
    if args.all:
        return SERVER_KINDS
    chosen = args.servers or (args.server or "runserver",)
    return tuple(dict.fromkeys([*chosen, *args.peers]))


def throughput_rounds(args: argparse.Namespace, servers: tuple[str, ...]) -> int:
    if args.rounds is not None:
        return args.rounds
    return DEFAULT_ROUNDS_SEVERAL if len(servers) > 1 else 1


def plan_scenarios(args: argparse.Namespace, default_counts: tuple[int, ...]) -> list[Scenario]:
    counts = args.streams or default_counts
    scenarios = []
    if args.only in (None, "throughput"):
        scenarios.append(Scenario("throughput"))
    if args.only in (None, "streams"):
        scenarios.extend(Scenario(f"streams_{count}", count) for count in counts)
    return scenarios


def choose_pinning(args: argparse.Namespace) -> Pinning:
    allowed = frozenset(os.sched_getaffinity(0))
    if args.pin is False:
        return Pinning(None, None)
    if args.server_cpus or args.client_cpus:
        server, client = args.server_cpus, args.client_cpus
        outside = (server or frozenset()) | (client or frozenset())
        if not outside <= allowed:
            sys.exit(f"CPUs {cpu_list(outside - allowed)} are not available (allowed: {cpu_list(allowed)})")
        # The side not given gets the first other CPU, or shares when there is none.
        if server is None:
            server = frozenset(sorted(allowed - client)[:1]) or client
        if client is None:
            client = frozenset(sorted(allowed - server)[:1]) or server
        return Pinning(server, client)
    ordered = sorted(allowed)
    if len(ordered) >= 2:
        return Pinning(frozenset(ordered[:1]), frozenset(ordered[1:2]))
    if args.pin:
        sys.exit("--pin needs at least two CPUs")
    return Pinning(None, None)


def url_port(url: str) -> int:
    parts = urlsplit(url)
    # The load loops are only ever pointed at this machine.
    if parts.scheme != "http" or parts.hostname not in (HOST, "localhost") or parts.port is None:
        sys.exit(f"--url must look like http://{HOST}:PORT, not {url!r}")
    return parts.port


def check_reference_runnable(servers: tuple[str, ...]) -> None:
    missing = [name for name in REFERENCE_MODULES if importlib.util.find_spec(name) is None]
    if "reference" in servers and missing:
        sys.exit(f"the reference server needs {', '.join(missing)}: pip install {' '.join(REFERENCE_MODULES)}")


# --- one server, one scenario -------------------------------------------------------


@contextmanager
def running(
    kind: str, args: argparse.Namespace, pinning: Pinning, workdir: Path, schedule: Schedule = THROUGHPUT_SCHEDULE
) -> Iterator[Server]:
    """A freshly started server, healthy, settled and pinned; stopped afterwards."""
    if args.url:
        server = Server(kind, None, url_port(args.url))
        wait_healthy(server)
        yield server
        return
    workers = args.serve_workers if kind == "serve" else None
    server = start_server(kind, args.port or free_port(), workdir, pinning.server, workers, schedule)
    try:
        wait_healthy(server)
        wait_settled(server)
        if pinning.server is not None:
            # Inherited from the pinned parent already; this also catches any process
            # or thread that set its own affinity during startup.
            pin_processes(server.pids(), pinning.server)
        yield server
    finally:
        stop_server(server)


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU counters at the start of a measurement."""

    wall: float
    server_cpu: float
    others_cpu: dict[int, float]


def usage_now(server: Server) -> Usage:
    pids = server.pids()
    return Usage(time.perf_counter(), cpu_seconds_of(pids), others_cpu_times([*pids, os.getpid()]))


def usage_since(server: Server, before: Usage) -> dict[str, float | None]:
    after = usage_now(server)
    wall = after.wall - before.wall
    ours = server.process is not None
    return {
        "server_cpu_pct": 100.0 * (after.server_cpu - before.server_cpu) / wall if ours else None,
        "others_cpu_pct": 100.0 * cpu_used_since(before.others_cpu, after.others_cpu) / wall if ours else None,
    }


def bench_throughput(server: Server, args: argparse.Namespace) -> Figures:
    before = usage_now(server)
    figures = run_throughput(
        server.port, args.connections, args.duration, args.warmup, tokens=THROUGHPUT_SCHEDULE.tokens
    ).summary()
    figures.update(usage_since(server, before))
    return figures


def bench_streams(server: Server, streams: int, args: argparse.Namespace) -> Figures:
    # A peer answers these on the scenario's schedule (its fixture's): slower, same purpose.
    run_streams(server.port, WARMUP_STREAMS, ttft_ms=0.0, tbt_ms=0.0, tokens=5)
    time.sleep(SETTLE_S)
    pids = server.pids()
    reset = reset_peak_rss(pids)
    rss_before = total_kib(pids, "VmRSS")
    before = usage_now(server)
    ttft_ms, tbt_ms, tokens = STREAM_SCHEDULE.ttft_ms, STREAM_SCHEDULE.tbt_ms, STREAM_SCHEDULE.tokens
    figures = run_streams(server.port, streams, ttft_ms, tbt_ms, tokens, prime=args.prime).summary()
    figures.update(usage_since(server, before))
    figures.update(memory_figures(server, rss_before, streams, reset))
    return figures


def memory_figures(server: Server, rss_before_kib: int, streams: int, reset: bool) -> dict[str, Any]:
    if server.process is None:
        return {"server_rss_before_mib": None, "server_peak_rss_mib": None, "peak_rss_per_stream_kb": None}
    peak = total_kib(server.pids(), "VmHWM")
    return {
        "server_rss_before_mib": rss_before_kib / 1024.0,
        "server_peak_rss_mib": peak / 1024.0,
        "peak_rss_per_stream_kb": (peak - rss_before_kib) / streams,
        "peak_rss_reset": reset,
    }


def bench_scenario(server: Server, scenario: Scenario, args: argparse.Namespace) -> Figures:
    if scenario.key == "throughput":
        figures = bench_throughput(server, args)
        print(report_throughput(figures) + "\n", flush=True)
    else:
        figures = bench_streams(server, scenario.streams, args)
        print(report_streams(figures) + "\n", flush=True)
    return figures


# --- entry point --------------------------------------------------------------------


def scenario_skip_reason(kind: str, scenario: Scenario) -> str | None:
    return streams_skip_reason(kind) if scenario.streams else None


def run_all(
    servers: tuple[str, ...],
    scenarios: list[Scenario],
    args: argparse.Namespace,
    pinning: Pinning,
    skipped: dict[str, str],
) -> tuple[dict[str, dict[str, Figures]], dict[str, str]]:
    """Throughput in interleaved rounds, then each server's streams scenarios.

    A scenario a peer cannot run goes into `skipped`, with why.
    """
    results: dict[str, dict[str, Figures]] = {kind: {} for kind in servers}
    placements: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="llmsim-bench-") as tmp:
        workdir = Path(tmp)
        if not args.url and any(kind in DJANGO_KINDS for kind in servers):
            migrate(workdir, args.loaded_scenario)

        def run_one(kind: str, scenario: Scenario, title: str) -> Figures:
            with running(kind, args, pinning, workdir, scenario.schedule) as server:
                placements[kind] = describe_processes(server)
                print(f"=== {kind}, {title} (port {server.port}; {placements[kind]})", flush=True)
                return bench_scenario(server, scenario, args)

        if any(scenario.key == "throughput" for scenario in scenarios):
            rounds = throughput_rounds(args, servers)
            runs: dict[str, list[Figures]] = {kind: [] for kind in servers}
            for number, kind in interleaved(servers, rounds):
                title = "throughput" if rounds == 1 else f"throughput, round {number}/{rounds}"
                runs[kind].append(run_one(kind, Scenario("throughput"), title))
            for kind in servers:
                results[kind]["throughput"] = median_round(runs[kind])
        for kind in servers:
            for scenario in (scenario for scenario in scenarios if scenario.streams):
                reason = scenario_skip_reason(kind, scenario)
                if reason:
                    # Only streams are ever skipped, for a reason of the peer's: one entry for all counts.
                    skipped[f"{kind}, streams"] = reason
                    print(f"=== {kind}, {scenario.title}: skipped ({reason})\n", flush=True)
                    continue
                results[kind][scenario.key] = run_one(kind, scenario, scenario.title)
    return results, placements


def scenario_cost_order(pair: int) -> tuple[bool, bool]:
    """Whether the loaded run comes first or second in this pair: ABBA, so drift cancels."""
    return (False, True) if pair % 2 == 0 else (True, False)


def scenario_cost_summary(plain: list[float], loaded: list[float]) -> str:
    """The loaded runs' throughput against the plain ones: ratio of the means, and the median pair."""
    pairs = sorted(100.0 * (b / a - 1) for a, b in zip(plain, loaded, strict=True))
    median = statistics.median(pairs)
    mean_plain, mean_loaded = sum(plain) / len(plain), sum(loaded) / len(loaded)
    return (
        f"scenario cost: plain {mean_plain:,.0f} req/s, loaded {mean_loaded:,.0f} req/s; "
        f"mean {100.0 * (mean_loaded / mean_plain - 1):+.1f} %, median pair {median:+.1f} % "
        f"(pairs {pairs[0]:+.1f} to {pairs[-1]:+.1f} %; the target is -10 % at most)"
    )


def run_scenario_cost(args: argparse.Namespace, pinning: Pinning) -> None:
    """--scenario-cost: alternating throughput runs of serve on a plain and a loaded database."""
    runs: dict[bool, list[float]] = {False: [], True: []}
    with (
        tempfile.TemporaryDirectory(prefix="llmsim-bench-") as plain_dir,
        tempfile.TemporaryDirectory(prefix="llmsim-bench-loaded-") as loaded_dir,
    ):
        workdirs = {False: Path(plain_dir), True: Path(loaded_dir)}
        for loaded, workdir in workdirs.items():
            migrate(workdir, loaded)
        for pair in range(args.scenario_cost):
            for loaded in scenario_cost_order(pair):
                with running("serve", args, pinning, workdirs[loaded]) as server:
                    figures = bench_throughput(server, args)
                runs[loaded].append(figures["requests_per_s"])
            plain, with_rules = runs[False][-1], runs[True][-1]
            change = 100 * (with_rules / plain - 1)
            print(f"pair {pair + 1}: plain {plain:,.0f}, loaded {with_rules:,.0f} req/s ({change:+.1f} %)", flush=True)
    print(scenario_cost_summary(runs[False], runs[True]))


def scaling_pinnings(allowed: list[int], client: frozenset[int] | None) -> dict[int, Pinning]:
    """Where serve runs with each of SCALING_WORKERS workers; the client stays put.

    The client takes `client`, else the third CPU, else (two CPUs) the second: then the
    second worker shares the client's core, as it must on a 2-core machine.
    """
    if client is None:
        client = frozenset({allowed[2] if len(allowed) > 2 else allowed[-1]})
    own = [cpu for cpu in allowed if cpu not in client]
    pinnings = {}
    for workers in SCALING_WORKERS:
        cpus = own[:workers] + sorted(client)[: max(0, workers - len(own))]
        pinnings[workers] = Pinning(frozenset(cpus), client)
    return pinnings


def run_workers_scaling(args: argparse.Namespace, argv: list[str] | None) -> None:
    """--workers-scaling: serve's throughput and streams with 1 and with 2 workers, one table."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        sys.exit("--workers-scaling needs at least two CPUs")
    unavailable = (args.client_cpus or frozenset()) - set(allowed)
    if unavailable:
        sys.exit(f"CPUs {cpu_list(unavailable)} are not available (allowed: {cpu_list(frozenset(allowed))})")
    pinnings = scaling_pinnings(allowed, args.client_cpus)
    scenarios = plan_scenarios(args, SCALING_STREAMS)
    prepare_client(next(iter(pinnings.values())), args, scenarios)
    machine = machine_details(os.cpu_count() or 0)
    by_workers: dict[int, dict[str, Figures]] = {}
    placements: dict[str, str] = {}
    try:
        for workers, pinning in pinnings.items():
            print(f"--- serve --workers {workers}: {pinning.describe(external=False)}\n", flush=True)
            with_workers = argparse.Namespace(**{**vars(args), "serve_workers": workers})
            results, placed = run_all(("serve",), scenarios, with_workers, pinning, {})
            by_workers[workers] = results["serve"]
            placements[workers_label(workers)] = f"{pinning.describe(external=False)}; serve: {placed['serve']}"
    except KeyboardInterrupt:
        sys.exit("interrupted")
    except ClientLimitError as exc:
        sys.exit(str(exc))
    print(text_scaling(by_workers))
    setup = {"command": command_line(argv), "processes": placements}
    if args.json:
        payload = {"machine": machine, "setup": setup, "results": by_workers}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if args.markdown:
        write_markdown(args.markdown, markdown_scaling_section(by_workers, machine, setup), block="workers")
        print(f"workers section written to {args.markdown}")


def prepare_client(pinning: Pinning, args: argparse.Namespace, scenarios: list[Scenario]) -> int:
    """Get this process ready to be the load generator; the open-files limit it raised to."""
    open_files = raise_open_files_limit()
    try:  # fail now rather than after the first servers have run
        check_open_files(max([args.connections, *(scenario.streams for scenario in scenarios)]))
    except ClientLimitError as exc:
        sys.exit(str(exc))
    # Treat `kill` like Ctrl-C, so that the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    if pinning.client is not None:
        os.sched_setaffinity(0, pinning.client)
    return open_files


def command_line(argv: list[str] | None) -> str:
    return " ".join(["python bench/run.py", *(sys.argv[1:] if argv is None else argv)])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.scenario_cost is not None:
        pinning = choose_pinning(args)
        prepare_client(pinning, args, [Scenario("throughput")])
        run_scenario_cost(args, pinning)
        return
    if args.workers_scaling:
        run_workers_scaling(args, argv)
        return
    servers = server_kinds(args)
    scenarios = plan_scenarios(args, DEFAULT_STREAMS_ALL if len(servers) > 1 else DEFAULT_STREAMS)
    check_reference_runnable(servers)
    peers, skipped = prepare(servers)
    for kind, reason in skipped.items():
        print(f"{kind}: skipped ({reason})", flush=True)
    servers = tuple(kind for kind in servers if kind not in skipped)
    if not servers:
        sys.exit("nothing left to run")
    pinning = choose_pinning(args)
    open_files = prepare_client(pinning, args, scenarios)
    rounds = throughput_rounds(args, servers)
    titles = [f"throughput in {rounds} rounds" if s.key == "throughput" and rounds > 1 else s.title for s in scenarios]
    print(
        f"LLMSim benchmark: {', '.join(servers)}; {', '.join(titles)}; "
        f"{pinning.describe(bool(args.url))}; open files limit {open_files}\n",
        flush=True,
    )
    # Before the run: the revision measured is the one checked out when it started.
    machine = machine_details(os.cpu_count() or 0)
    try:
        results, placements = run_all(servers, scenarios, args, pinning, skipped)
    except KeyboardInterrupt:
        sys.exit("interrupted")
    except ClientLimitError as exc:
        sys.exit(str(exc))
    print(text_table(results))
    for note in [*rounds_notes(results), *saturation_notes(results)]:
        print(note)
    for what, reason in skipped.items():
        print(f"skipped: {what} ({reason})")
    targets = text_targets(results)
    if targets:
        print("\n" + targets)
    setup = {"peers": peers, "skipped": skipped}
    write_outputs(args, argv, machine, results, placements, pinning, setup)


def write_outputs(
    args: argparse.Namespace,
    argv: list[str] | None,
    machine: dict[str, Any],
    results: dict[str, dict[str, Figures]],
    placements: dict[str, str],
    pinning: Pinning,
    peer_setup: dict[str, Any],
) -> None:
    setup: dict[str, Any] = {
        "command": command_line(argv),
        "pinning": pinning.describe(bool(args.url)),
        "processes": placements,
        "serve_workers": args.serve_workers,
        "primed_streams": args.prime,
        **peer_setup,
    }
    if args.json:
        payload = {"machine": machine, "setup": setup, "results": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if args.markdown:
        write_markdown(args.markdown, markdown_section(results, machine, setup))
        print(f"results section written to {args.markdown}")


if __name__ == "__main__":
    main()
