"""A load generator for LLMSim's Chat Completions route (Linux, standard library only).

The requests, the two run modes and their figures; the sockets and the epoll loop
are in `event_loop.py`, the HTTP/1.1 and SSE parsing in `parsers.py`.

Two modes:

* `run_throughput`: keep-alive connections sending non-streaming requests
  back-to-back; requests per second and latency percentiles.
* `run_streams`: many streaming requests started at once; how closely the server
  keeps to the requested token schedule under that load.

Both report the client's own CPU share (whole run and busiest window) so that a
saturated client is not mistaken for a slow server.

Only 127.0.0.1 is ever targeted, and every loop is bounded in time and in count.
"""

from __future__ import annotations

import gc
import json
import resource
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from event_loop import HOST, TICK_S, Connection, EventLoop
from parsers import ResponseHead, SSEScanner

CHAT_PATH = "/v1/chat/completions"

# Ceilings that keep a misbehaving server (or a very fast one) from running us forever.
MAX_REQUESTS = 5_000_000
REQUEST_TIMEOUT_S = 30.0
# Connecting (and priming) every stream before the common start.
PREPARE_TIMEOUT_S = 30.0
# Connections being set up (connected and primed) at once: under every server's listen
# backlog (Node's default, aimock's, is 511). Opening 4,000 at once overflowed it, and
# the kernel's SYN retries (after 1 s, then 3 s more) made aimock's preparation take
# 4.7 s, near its 5 s keep-alive timeout for the connections primed first.
PREPARE_AT_ONCE = 256
# After a failed request a connection waits before reconnecting, so a refusing server
# is not hammered in a tight loop that would also skew the client CPU figure.
ERROR_BACKOFF_S = 0.05
# Above this share of its core the client may be what limits the figures.
CLIENT_CPU_LIMIT_PCT = 80.0
# File descriptors kept free beside the connections (epoll, logs, the interpreter's own).
SPARE_FDS = 64


class ClientLimitError(Exception):
    """This process cannot open as many connections as the run needs."""


# --- HTTP/1.1 requests ---------------------------------------------------------


def build_health_request(port: int) -> bytes:
    return f"GET /health HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


# The headers the openai SDK (3.63, Python) sends with every request besides Host,
# Authorization, Content-Type and Content-Length, as a user's requests carry them: the
# server parses and the application reads a head of this size. Not its Accept-Encoding:
# a server that compressed would be measured on another answer.
SDK_HEADERS = {
    "Connection": "keep-alive",
    "accept": "application/json",
    "user-agent": "OpenAI/Python 3.63.0",
    "x-stainless-lang": "python",
    "x-stainless-package-version": "3.63.0",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "CPython",
    "x-stainless-runtime-version": "3.11.7",
    "x-stainless-async": "false",
    "x-stainless-retry-count": "0",
    "x-stainless-read-timeout": "600",
}


def build_request(port: int, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"POST {CHAT_PATH} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Authorization: Bearer bench",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in {**SDK_HEADERS, **headers}.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


# --- statistics -----------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None without data."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize(values: Sequence[float], quantiles: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    summary = {f"p{q:g}": percentile(ordered, q) for q in quantiles}
    summary["max"] = ordered[-1] if ordered else None
    return summary


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """This process's CPU share over a run, and in its busiest TICK_S window.

    The average hides bursts: 2,000 streams' tokens fall due together every 20 ms,
    and a client saturated during those bursts reads late while averaging 60 %.
    """

    def __init__(self) -> None:
        self._start_cpu = self._last_cpu = cpu_seconds()
        self._start_wall = self._last_wall = time.perf_counter()
        self.peak_pct = 0.0

    def sample(self, now: float) -> None:
        cpu = cpu_seconds()
        if now - self._last_wall >= TICK_S / 2:
            self.peak_pct = max(self.peak_pct, 100.0 * (cpu - self._last_cpu) / (now - self._last_wall))
            self._last_cpu, self._last_wall = cpu, now

    def totals(self) -> tuple[float, float]:
        """(CPU seconds, wall seconds) since the meter started."""
        return cpu_seconds() - self._start_cpu, time.perf_counter() - self._start_wall


def client_figures(cpu_s: float, wall_s: float, peak_pct: float) -> dict[str, Any]:
    average = 100.0 * cpu_s / wall_s if wall_s else None
    return {
        "client_cpu_s": cpu_s,
        "client_cpu_pct": average,
        "client_cpu_peak_pct": peak_pct,
        "client_saturated": average is not None and average >= CLIENT_CPU_LIMIT_PCT,
    }


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection during a run.

    A full collection over the hundreds of thousands of timestamps a run keeps
    stalls the client for tens of milliseconds, which would show up as token gaps.
    The load creates no reference cycles worth collecting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the new soft limit.

    Each stream is a socket; the usual soft limit of 1,024 would stop a run at about
    1,000 streams. Servers started afterwards inherit the raised limit too.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        # The kernel refuses "unlimited" for open files; nr_open is the real ceiling.
        with open("/proc/sys/fs/nr_open") as nr_open:
            target = int(nr_open.read())
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def check_open_files(connections: int) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and connections + SPARE_FDS > soft:
        raise ClientLimitError(
            f"{connections} connections need about {connections + SPARE_FDS} open files; the limit is {soft} "
            "(raise the hard limit: ulimit -Hn)"
        )


# --- throughput mode ------------------------------------------------------------


@dataclass(slots=True)
class ThroughputResult:
    connections: int
    warmup_s: float
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0
    client_cpu_peak_pct: float = 0.0
    wall_s: float = 0.0  # warm-up, measured window, and the last answers' tail

    def summary(self) -> dict[str, Any]:
        answered = sum(self.statuses.values())
        return {
            "connections": self.connections,
            "warmup_s": self.warmup_s,
            "duration_s": self.duration_s,
            "answers": answered,
            "requests_per_s": answered / self.duration_s,
            "latency_ms": summarize(self.latencies_ms, (50, 90, 99)),
            "non_200": answered - self.statuses[200],
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "wall_s": self.wall_s,
            **client_figures(self.client_cpu_s, self.wall_s, self.client_cpu_peak_pct),
        }


@dataclass(slots=True)
class _Window:
    """The measured interval, the shared request budget and the connections still running."""

    start: float
    end: float
    budget: int
    running: int

    def counts(self, at: float) -> bool:
        return self.start <= at < self.end

    def open(self, at: float) -> bool:
        return at < self.end and self.budget > 0


class _ThroughputConnection(Connection):
    """Sends the next request the moment the previous answer is complete."""

    __slots__ = ("_body", "_request", "_result", "_window", "finished", "in_flight", "sent_at")

    def __init__(self, loop: EventLoop, port: int, request: bytes, window: _Window, result: ThroughputResult) -> None:
        super().__init__(loop, port)
        self._request = request
        self._window = window
        self._result = result
        self._body: list[bytes] = []
        self.sent_at = 0.0
        self.in_flight = False  # a request (or the connect before it) awaits its answer
        self.finished = False

    def start(self) -> None:
        if not self._window.open(time.perf_counter()):
            self._finish()
            return
        self.in_flight, self.sent_at = True, time.perf_counter()
        try:
            self.open()
        except OSError as exc:
            self.on_lost(type(exc).__name__)

    def on_connected(self) -> None:
        self._send_next()

    def _send_next(self) -> None:
        window = self._window
        if not window.open(time.perf_counter()):
            self.close()
            self.in_flight = False
            self._finish()
            return
        window.budget -= 1
        self._body.clear()
        self.in_flight = True
        self.sent_at = time.perf_counter()  # after a (re)connect: that is not request latency
        self.send(self._request)

    def on_body(self, piece: bytes) -> None:
        self._body.append(piece)

    def on_response(self, now: float) -> None:
        self.in_flight = False
        head = self.parser.head
        assert head is not None
        if self._window.counts(now):
            # A 200 whose body is not a completion is a server bug, not a success.
            ok = head.status != 200 or b'"choices"' in b"".join(self._body)
            self._result.statuses[head.status if ok else -1] += 1
            self._result.latencies_ms.append((now - self.sent_at) * 1000.0)
        if head.reusable:
            self.parser.next_response()
            self._send_next()
        else:
            self.close()
            self.start()

    def on_lost(self, error: str) -> None:
        now = time.perf_counter()
        if not self.in_flight:  # the server closed an idle keep-alive connection
            self.start()
            return
        self.in_flight = False
        if self._window.counts(now):
            self._result.errors[error] += 1
        self._loop.call_at(now + ERROR_BACKOFF_S, self.start)

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self._window.running -= 1

    def check_timeout(self, now: float) -> None:
        if self.in_flight and self.sock is not None and now - self.sent_at > REQUEST_TIMEOUT_S:
            self.fail(TimeoutError.__name__)


def run_throughput(
    port: int,
    connections: int = 64,
    duration_s: float = 10.0,
    warmup_s: float = 2.0,
    model: str = "instant",
    tokens: int = 20,
) -> ThroughputResult:
    check_open_files(connections)
    request = build_request(
        port,
        {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        {"x-llmsim-tokens": str(tokens)},
    )
    result = ThroughputResult(connections, warmup_s, duration_s)
    loop = EventLoop()
    meter = CpuMeter()
    start = time.perf_counter()
    window = _Window(start + warmup_s, start + warmup_s + duration_s, MAX_REQUESTS, running=connections)
    workers = [_ThroughputConnection(loop, port, request, window, result) for _ in range(connections)]

    def tick(now: float) -> None:
        meter.sample(now)
        for worker in workers:
            worker.check_timeout(now)

    try:
        with collector_paused():
            for worker in workers:
                worker.start()
            # Connections stop sending at the window's end; one still waiting on an
            # answer then has REQUEST_TIMEOUT_S before it is dropped.
            deadline = window.end + REQUEST_TIMEOUT_S
            loop.run(lambda: window.running <= 0, deadline, tick)
    finally:
        for worker in workers:
            worker.close()
        loop.close()
    result.client_cpu_s, result.wall_s = meter.totals()
    result.client_cpu_peak_pct = meter.peak_pct
    return result


# --- streams mode ---------------------------------------------------------------


@dataclass(slots=True)
class StreamRecord:
    sent_at: float = 0.0
    status: int = 0
    token_times: list[float] = field(default_factory=list)  # perf_counter of each content event
    done_at: float | None = None
    error: str | None = None


@dataclass(slots=True)
class StreamsResult:
    ttft_ms: float
    tbt_ms: float
    tokens: int
    records: list[StreamRecord]
    client_cpu_s: float = 0.0
    client_cpu_peak_pct: float = 0.0
    wall_s: float = 0.0  # from the common start to the last stream's end

    @property
    def ideal_ms(self) -> float:
        return self.ttft_ms + (self.tokens - 1) * self.tbt_ms

    def summary(self) -> dict[str, Any]:
        ttft_late = [(r.token_times[0] - r.sent_at) * 1000.0 - self.ttft_ms for r in self.records if r.token_times]
        gaps = [(later - earlier) * 1000.0 for r in self.records for earlier, later in pairwise(r.token_times)]
        ratios = [(r.done_at - r.sent_at) * 1000.0 / self.ideal_ms for r in self.records if r.done_at is not None]
        token_counts = [len(r.token_times) for r in self.records]
        return {
            "started": len(self.records),
            "completed": sum(r.done_at is not None for r in self.records),
            "ttft_ms": self.ttft_ms,
            "tbt_ms": self.tbt_ms,
            "tokens": self.tokens,
            "ideal_duration_ms": self.ideal_ms,
            "ttft_lateness_ms": summarize(ttft_late, (50, 99)),
            "token_gap_ms": summarize(gaps, (50, 99)),
            "duration_ratio": summarize(ratios, (50, 99)),
            "content_events_per_stream": {"min": min(token_counts, default=0), "max": max(token_counts, default=0)},
            "statuses": dict(Counter(str(r.status) for r in self.records)),
            "errors": dict(Counter(r.error for r in self.records if r.error)),
            "wall_s": self.wall_s,
            **client_figures(self.client_cpu_s, self.wall_s, self.client_cpu_peak_pct),
        }


@dataclass(slots=True)
class _Tally:
    """How many streams are still getting ready, and still running."""

    preparing: int
    running: int


class _StreamConnection(Connection):
    """One stream: connect (and prime), wait for the common start, read the events."""

    __slots__ = ("_events", "_prime", "_priming", "_tally", "finished", "ready", "record")

    def __init__(self, loop: EventLoop, port: int, record: StreamRecord, tally: _Tally, prime: bytes | None) -> None:
        super().__init__(loop, port)
        self.record = record
        self._tally = tally
        self._events = SSEScanner()
        self._prime = prime
        self._priming = False
        self.ready = False  # connected (and primed), or failed to: either way done waiting at the line
        self.finished = False

    def start(self) -> None:
        try:
            self.open()
        except OSError as exc:
            self.on_lost(type(exc).__name__)

    def on_connected(self) -> None:
        if self._prime is None:
            self._at_line()
        else:
            self._priming = True
            self.send(self._prime)

    def on_body(self, piece: bytes) -> None:
        if self._priming:
            return  # the health answer's body
        seen = self._events.feed(piece)
        if seen.content_events:
            self.record.token_times.extend([self.arrived] * seen.content_events)
        if seen.done:
            self.record.done_at = self.arrived

    def on_response(self, now: float) -> None:
        head = self.parser.head
        assert head is not None
        if self._priming:
            self._primed(head)
            return
        self.record.status = head.status
        self.close()
        self._finish()

    def _primed(self, head: ResponseHead) -> None:
        self._priming = False
        if head.status == 200 and head.reusable:
            self.parser.next_response()
            self._at_line()
        else:
            self.fail(f"health check answered {head.status}")

    def on_lost(self, error: str) -> None:
        if self.parser.head is not None and not self._priming:
            self.record.status = self.parser.head.status
        self.record.error = error
        self._at_line()
        self._finish()

    def _at_line(self) -> None:
        if not self.ready:
            self.ready = True
            self._tally.preparing -= 1

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self._tally.running -= 1


def _prepare_all(loop: EventLoop, streams: list[_StreamConnection], tally: _Tally) -> None:
    """Connect (and prime) every stream before the common start.

    Connecting beforehand keeps the listen backlog (SYN retries of a second or
    more) out of the token schedule. Priming, a `GET /health` answered on each
    connection, also keeps out the server's accept loop: a connection the kernel
    has completed may still wait in the accept queue, and uvicorn (uvloop) was
    measured accepting about ten a second while 1,400 streams were running, which
    made a few per cent of the streams start seconds late.
    """
    waiting = deque(streams)

    def all_ready() -> bool:
        # Called on every turn of the loop: start more as earlier ones get ready.
        while waiting and tally.preparing - len(waiting) < PREPARE_AT_ONCE:
            waiting.popleft().start()
        return tally.preparing <= 0

    loop.run(all_ready, time.perf_counter() + PREPARE_TIMEOUT_S)
    for stream in streams:
        if not stream.finished and not stream.ready:
            stream.fail(TimeoutError.__name__)


def _release_all(streams: list[_StreamConnection], request: bytes) -> None:
    for stream in streams:
        if stream.finished:
            continue
        stream.record.sent_at = time.perf_counter()
        try:
            stream.send(request)
        except OSError as exc:
            stream.fail(type(exc).__name__)


def run_streams(
    port: int,
    streams: int = 200,
    ttft_ms: float = 200.0,
    tbt_ms: float = 20.0,
    tokens: int = 100,
    model: str = "instant",
    prime: bool = True,
) -> StreamsResult:
    """`streams` streaming requests released together; see _prepare_all for `prime`."""
    check_open_files(streams)
    request = build_request(
        port,
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        {"x-llmsim-ttft-ms": f"{ttft_ms:g}", "x-llmsim-tbt-ms": f"{tbt_ms:g}", "x-llmsim-tokens": str(tokens)},
    )
    result = StreamsResult(ttft_ms, tbt_ms, tokens, [StreamRecord() for _ in range(streams)])
    # Generous, yet bounded: a server ten times slower than asked still finishes.
    timeout_s = max(30.0, 10 * result.ideal_ms / 1000.0)
    loop = EventLoop()
    tally = _Tally(preparing=streams, running=streams)
    health = build_health_request(port) if prime else None
    connections = [_StreamConnection(loop, port, record, tally, health) for record in result.records]
    try:
        with collector_paused():
            _prepare_all(loop, connections, tally)
            meter = CpuMeter()
            _release_all(connections, request)
            loop.run(lambda: tally.running <= 0, time.perf_counter() + timeout_s, meter.sample)
            result.client_cpu_s, result.wall_s = meter.totals()
            result.client_cpu_peak_pct = meter.peak_pct
        for connection in connections:
            if not connection.finished:
                connection.fail(TimeoutError.__name__)
    finally:
        for connection in connections:
            connection.close()
        loop.close()
    return result
