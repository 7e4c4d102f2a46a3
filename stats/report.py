"""Merging the exports of several processes, and the /llmsim/stats JSON made from them.

An export (Recorder.export()) is plain data; counters and histogram buckets add up,
gauges add up over the processes that are still alive, per-second slots add up by
their second. Percentiles are read off the merged buckets.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stats.recorder import BOUNDS, BUCKETS, WINDOW_SECONDS

RATE_WINDOW_SECONDS = 60
# A process that has not published for this long is gone: its counters still count,
# its open requests and streams no longer do.
STALE_AFTER_SECONDS = 10.0
# Costs are sums of many small floats: rounded to a billionth of a dollar, past their noise.
COST_DIGITS = 9


@dataclass
class Latency:
    """A merged histogram (seconds)."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    sum: float = 0.0
    min: float | None = None
    max: float | None = None

    def add(self, exported: dict[str, Any]) -> None:
        """Add a Histogram.export()."""
        for index, count in exported["buckets"]:
            self.counts[index] += count
        self._add_extremes(exported["sum"], exported["min"], exported["max"])

    def absorb(self, other: Latency) -> None:
        for index, count in enumerate(other.counts):
            self.counts[index] += count
        self._add_extremes(other.sum, other.min, other.max)

    def _add_extremes(self, total: float, low: float | None, high: float | None) -> None:
        self.sum += total
        if low is not None and high is not None:  # else the histogram was empty
            self.min = low if self.min is None else min(self.min, low)
            self.max = high if self.max is None else max(self.max, high)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def quantile(self, q: float) -> float | None:
        """Interpolated inside its bucket, and kept within the observed min and max."""
        total = self.count
        if not total or self.min is None or self.max is None:
            return None
        rank = q * total
        cumulative = 0
        for index, count in enumerate(self.counts):
            if count and cumulative + count >= rank:
                lower = BOUNDS[index - 1] if index > 0 else 0.0
                upper = BOUNDS[index] if index < len(BOUNDS) else self.max
                value = lower + (upper - lower) * (rank - cumulative) / count
                return min(max(value, self.min), self.max)
            cumulative += count
        return self.max

    def summary_ms(self) -> dict[str, Any]:
        count = self.count

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 2)

        return {
            "count": count,
            "avg": ms(self.sum / count) if count else None,
            "min": ms(self.min),
            "max": ms(self.max),
            "p50": ms(self.quantile(0.50)),
            "p95": ms(self.quantile(0.95)),
            "p99": ms(self.quantile(0.99)),
        }


@dataclass
class ModelTotals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    ttft: Latency = field(default_factory=Latency)
    gaps: Latency = field(default_factory=Latency)
    duration: Latency = field(default_factory=Latency)


@dataclass
class Totals:
    """The numbers of every process that shares stats, added up."""

    now: float
    processes: int = 0
    since: float | None = None
    process_started: float | None = None
    active: int = 0
    streams: int = 0
    received: int = 0
    disconnects: int = 0
    calls: Counter[tuple[str, str, int, bool, bool]] = field(default_factory=Counter)
    models: dict[str, ModelTotals] = field(default_factory=dict)
    load: dict[str, list[int]] = field(default_factory=dict)  # model → [running, waiting], now
    window_requests: Counter[int] = field(default_factory=Counter)
    window_tokens: Counter[int] = field(default_factory=Counter)

    def model(self, name: str) -> ModelTotals:
        found = self.models.get(name)
        if found is None:
            found = self.models[name] = ModelTotals()
        return found

    def latency(self, kind: str) -> Latency:
        """One of ttft, gaps, duration over every model."""
        merged = Latency()
        for totals in self.models.values():
            merged.absorb(getattr(totals, kind))
        return merged


def merge(exports: list[dict[str, Any]], now: float | None = None) -> Totals:
    """Add up the exports of several processes (the first is usually this one's, live)."""
    totals = Totals(now=time.time() if now is None else now)
    for export in exports:
        totals.processes += 1
        totals.since = export["since"] if totals.since is None else min(totals.since, export["since"])
        started = export["process_started"]
        totals.process_started = started if totals.process_started is None else min(totals.process_started, started)
        if totals.now - export["updated_at"] <= STALE_AFTER_SECONDS:
            totals.active += export["active"]
            totals.streams += export["streams"]
            for name, (running, waiting) in export.get("load", {}).items():  # .get: older processes
                figures = totals.load.setdefault(name, [0, 0])
                figures[0] += running
                figures[1] += waiting
        totals.received += export["received"]
        totals.disconnects += export["disconnects"]
        for *key, count in export["calls"]:
            totals.calls[tuple(key)] += count
        for name, exported in export["models"].items():
            model = totals.model(name)
            model.prompt_tokens += exported["prompt_tokens"]
            model.completion_tokens += exported["completion_tokens"]
            # .get: a process of an older version, sharing through the same store, exports no cost.
            model.cost_usd += exported.get("cost_usd", 0.0)
            model.ttft.add(exported["ttft"])
            model.gaps.add(exported["gaps"])
            model.duration.add(exported["duration"])
        for second, requests, tokens in export["window"]:
            totals.window_requests[second] += requests
            totals.window_tokens[second] += tokens
    return totals


# Injected errors by status, as /metrics labels them.
ERROR_KINDS = {
    0: "disconnect",
    429: "rate_limit",
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "timeout",
    529: "overloaded",
}


def error_kind(status: int) -> str:
    return ERROR_KINDS.get(status, f"http_{status}")


def _sorted_counts(counter: Counter[Any]) -> dict[str, int]:
    return {str(key): count for key, count in sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))}


def to_json(totals: Totals, aggregation: str) -> dict[str, Any]:
    """The body of GET /llmsim/stats (documented in docs/observability.md)."""
    by_status: Counter[int] = Counter()
    by_endpoint: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    streaming = non_streaming = 0
    errors: dict[int, dict[str, int]] = {}
    for (endpoint, model, status, streamed, injected), count in totals.calls.items():
        by_status[status] += count
        by_endpoint[endpoint] += count
        if model:
            by_model[model] += count
        if streamed:
            streaming += count
        else:
            non_streaming += count
        if status >= 400 or injected:
            entry = errors.setdefault(status, {"injected": 0, "organic": 0})
            entry["injected" if injected else "organic"] += count
    answered = sum(by_status.values())
    injected_total = sum(entry["injected"] for entry in errors.values())
    organic_total = sum(entry["organic"] for entry in errors.values())
    prompt = sum(model.prompt_tokens for model in totals.models.values())
    completion = sum(model.completion_tokens for model in totals.models.values())
    cost = sum(model.cost_usd for model in totals.models.values())

    now_second = int(totals.now)
    span = now_second - int(totals.since if totals.since is not None else totals.now)
    rate_divisor = max(1, min(RATE_WINDOW_SECONDS, span))
    recent = range(now_second - RATE_WINDOW_SECONDS, now_second)  # whole seconds only
    series_seconds = range(now_second - WINDOW_SECONDS, now_second)
    return {
        "time": round(totals.now, 3),
        "since": round(totals.since, 3) if totals.since is not None else None,
        "uptime_seconds": round(totals.now - (totals.process_started or totals.now), 3),
        "processes": totals.processes,
        "aggregation": aggregation,
        "requests": {
            "total": totals.received,
            "answered": answered,
            "active": totals.active,
            "streams_open": totals.streams,
            "streaming_total": streaming,
            "non_streaming_total": non_streaming,
            "client_disconnects": totals.disconnects,
            "by_status": {str(status): count for status, count in sorted(by_status.items())},
            "by_endpoint": _sorted_counts(by_endpoint),
            "by_model": _sorted_counts(by_model),
        },
        "tokens": {
            "prompt": prompt,
            "completion": completion,
            "total": prompt + completion,
            "by_model": {
                name: {"prompt": model.prompt_tokens, "completion": model.completion_tokens}
                for name, model in sorted(totals.models.items())
                if name and (model.prompt_tokens or model.completion_tokens)
            },
        },
        "cost": {
            "total_usd": round(cost, COST_DIGITS),
            "by_model": {
                name: {"usd": round(model.cost_usd, COST_DIGITS)}
                for name, model in sorted(totals.models.items())
                if name and model.cost_usd
            },
        },
        "load": {
            "by_model": {
                name: {"running": running, "waiting": waiting}
                for name, (running, waiting) in sorted(totals.load.items())
            },
        },
        "errors": {
            "total": injected_total + organic_total,
            "injected": injected_total,
            "organic": organic_total,
            "by_status": {
                str(status): {**entry, "total": entry["injected"] + entry["organic"], "kind": error_kind(status)}
                for status, entry in sorted(errors.items())
            },
        },
        "latency_ms": {
            "ttft": totals.latency("ttft").summary_ms(),
            "inter_token": totals.latency("gaps").summary_ms(),
            "duration": totals.latency("duration").summary_ms(),
        },
        "rates": {
            "window_seconds": RATE_WINDOW_SECONDS,
            "requests_per_second": round(sum(totals.window_requests[s] for s in recent) / rate_divisor, 2),
            "tokens_per_second": round(sum(totals.window_tokens[s] for s in recent) / rate_divisor, 2),
        },
        "series": {
            "interval_seconds": 1,
            "end": now_second,
            "requests": [totals.window_requests[s] for s in series_seconds],
            "tokens": [totals.window_tokens[s] for s in series_seconds],
        },
    }
