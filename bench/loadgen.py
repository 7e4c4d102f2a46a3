"""An asyncio load generator for LLMSim's Chat Completions route.

Raw sockets and a minimal HTTP/1.1 client rather than an HTTP library: the client
must cost as little CPU as possible (it shares the machine with the server), and it
must see each body chunk the moment it arrives to time streamed tokens.

Two modes:

* `run_throughput`: keep-alive connections sending non-streaming requests
  back-to-back; requests per second and latency percentiles.
* `run_streams`: many streaming requests started at once; how closely the server
  keeps to the requested token schedule under that load.

Only 127.0.0.1 is ever targeted, and every loop is bounded in time and in count.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

HOST = "127.0.0.1"
CHAT_PATH = "/v1/chat/completions"

# Ceilings that keep a misbehaving server (or a very fast one) from running us forever.
MAX_REQUESTS = 5_000_000
REQUEST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
# After a failed request a worker waits before reconnecting, so a refusing server
# is not hammered in a tight loop that would also skew the client CPU figure.
ERROR_BACKOFF_S = 0.05

_SSE_DELIMITER = re.compile(rb"\r?\n\r?\n")


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as we understand it."""


# --- HTTP/1.1 client ------------------------------------------------------------


def build_request(port: int, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"POST {CHAT_PATH} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Authorization: Bearer bench",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass(slots=True)
class ResponseHead:
    status: int
    headers: dict[str, str]
    keep_alive: bool


async def read_head(reader: asyncio.StreamReader) -> ResponseHead:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed before a response") from exc
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"bad status line {status_line!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    return ResponseHead(int(rest[:3]), headers, keep_alive)


async def iter_body(reader: asyncio.StreamReader, head: ResponseHead) -> AsyncIterator[bytes]:
    """Yield the body as it arrives: chunked, Content-Length or close-delimited.

    A close-delimited body leaves the connection unusable; callers learn that from
    `body_reusable`.
    """
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers, if any, end with a blank line like the head does.
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return
            chunk = await reader.readexactly(size + 2)
            yield chunk[:-2]
    elif "content-length" in head.headers:
        remaining = int(head.headers["content-length"])
        while remaining > 0:
            data = await reader.read(min(remaining, 65536))
            if not data:
                raise ProtocolError("connection closed inside a Content-Length body")
            remaining -= len(data)
            yield data
    elif head.status in (204, 304) or 100 <= head.status < 200:
        return
    else:
        while data := await reader.read(65536):
            yield data


def body_reusable(head: ResponseHead) -> bool:
    framed = "chunked" in head.headers.get("transfer-encoding", "").lower() or "content-length" in head.headers
    return head.keep_alive and framed


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(HOST, port), CONNECT_TIMEOUT_S)


def close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


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
            "client_cpu_s": self.client_cpu_s,
            "client_cpu_pct": 100.0 * self.client_cpu_s / self.wall_s if self.wall_s else None,
        }


@dataclass(slots=True)
class _Window:
    """The measured interval and the shared request budget of one throughput run."""

    start: float
    end: float
    budget: int

    def counts(self, at: float) -> bool:
        return self.start <= at < self.end


async def _throughput_worker(port: int, request: bytes, window: _Window, result: ThroughputResult) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < window.end and window.budget > 0:
            window.budget -= 1
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    if writer is None:
                        reader, writer = await connect(port)
                        sent = time.perf_counter()  # a (re)connect is not request latency
                    assert reader is not None
                    writer.write(request)
                    head = await read_head(reader)
                    body = b"".join([chunk async for chunk in iter_body(reader, head)])
            except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError, ValueError) as exc:
                if window.counts(time.perf_counter()):
                    result.errors[type(exc).__name__] += 1
                close(writer)
                reader = writer = None
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            done = time.perf_counter()
            if window.counts(done):
                # A 200 whose body is not a completion is a server bug, not a success.
                status = head.status if head.status != 200 or b'"choices"' in body else -1
                result.statuses[status] += 1
                result.latencies_ms.append((done - sent) * 1000.0)
            if not body_reusable(head):
                close(writer)
                reader = writer = None
    finally:
        close(writer)


async def run_throughput(
    port: int,
    connections: int = 64,
    duration_s: float = 10.0,
    warmup_s: float = 2.0,
    model: str = "instant",
    tokens: int = 20,
) -> ThroughputResult:
    request = build_request(
        port,
        {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        {"x-llmsim-tokens": str(tokens)},
    )
    result = ThroughputResult(connections, warmup_s, duration_s)
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    window = _Window(wall_before + warmup_s, wall_before + warmup_s + duration_s, budget=MAX_REQUESTS)
    workers = [asyncio.create_task(_throughput_worker(port, request, window, result)) for _ in range(connections)]
    # Workers stop sending at the window's end; one still waiting on an answer then
    # is cancelled after this grace so a stuck server cannot hold the run open.
    _, pending = await asyncio.wait(workers, timeout=warmup_s + duration_s + REQUEST_TIMEOUT_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    result.client_cpu_s = cpu_seconds() - cpu_before
    result.wall_s = time.perf_counter() - wall_before
    return result


# --- streams mode ---------------------------------------------------------------


class SSEParser:
    """Split a byte stream into server-sent events by their blank-line delimiter.

    TCP reads (and HTTP chunks) do not follow event boundaries: one read may end
    mid-event or hold several events.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        """The `data:` payload of every event completed by `data`."""
        *events, self._buffer = _SSE_DELIMITER.split(self._buffer + data)
        payloads = []
        for event in events:
            lines = [line for line in event.decode().splitlines() if line.startswith("data:")]
            if lines:
                payloads.append("\n".join(line[5:].removeprefix(" ") for line in lines))
        return payloads


def has_content(payload: str) -> bool:
    try:
        chunk = json.loads(payload)
        return bool(chunk["choices"][0]["delta"].get("content"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False


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
    wall_s: float = 0.0

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
            "client_cpu_s": self.client_cpu_s,
            "client_cpu_pct": 100.0 * self.client_cpu_s / self.wall_s if self.wall_s else None,
        }


async def _read_stream(reader: asyncio.StreamReader, record: StreamRecord) -> None:
    head = await read_head(reader)
    record.status = head.status
    parser = SSEParser()
    async for data in iter_body(reader, head):
        arrived = time.perf_counter()
        for payload in parser.feed(data):
            if payload == "[DONE]":
                record.done_at = arrived
            elif has_content(payload):
                record.token_times.append(arrived)


class _StartingLine:
    """Hold every stream until all have connected (or failed to), then release them together."""

    def __init__(self, runners: int) -> None:
        self._waiting = runners
        self.all_arrived = asyncio.Event()
        self.go = asyncio.Event()
        if runners <= 0:
            self.all_arrived.set()

    def arrive(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0:
            self.all_arrived.set()


async def _stream(port: int, request: bytes, line: _StartingLine, record: StreamRecord, timeout_s: float) -> None:
    writer = None
    try:
        # Connect before the common start so the listen backlog (SYN retries of a
        # second or more) is not counted against the server's token schedule.
        try:
            reader, writer = await connect(port)
        finally:
            line.arrive()
        await line.go.wait()
        record.sent_at = time.perf_counter()
        writer.write(request)
        async with asyncio.timeout(timeout_s):
            await _read_stream(reader, record)
    except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError, ValueError) as exc:
        record.error = type(exc).__name__
    finally:
        close(writer)


async def run_streams(
    port: int,
    streams: int = 200,
    ttft_ms: float = 200.0,
    tbt_ms: float = 20.0,
    tokens: int = 100,
    model: str = "instant",
) -> StreamsResult:
    request = build_request(
        port,
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        {"x-llmsim-ttft-ms": f"{ttft_ms:g}", "x-llmsim-tbt-ms": f"{tbt_ms:g}", "x-llmsim-tokens": str(tokens)},
    )
    result = StreamsResult(ttft_ms, tbt_ms, tokens, [StreamRecord() for _ in range(streams)])
    # Generous, yet bounded: a server ten times slower than asked still finishes.
    timeout_s = max(30.0, 10 * result.ideal_ms / 1000.0)
    line = _StartingLine(streams)
    tasks = [asyncio.create_task(_stream(port, request, line, r, timeout_s)) for r in result.records]
    await line.all_arrived.wait()  # bounded: each connect times out
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    line.go.set()
    await asyncio.gather(*tasks)
    result.client_cpu_s = cpu_seconds() - cpu_before
    result.wall_s = time.perf_counter() - wall_before
    return result
