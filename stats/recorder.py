"""This process's request statistics: cheap enough to touch on every request and stream write.

The request path only adds to integers and lists on the event-loop thread: no lock,
no await, no I/O, nothing that grows with traffic (latency goes into fixed log-scale
histogram buckets; distinct models and endpoints are capped). Everything else —
sharing with other processes (stats/sharing.py), merging and percentiles
(stats/report.py), Prometheus (stats/metrics.py) — works on `export()`, a plain-data
copy taken with single C-level copies, so another thread may take it safely.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger("llmsim.requests")

# Distinct model names are client input: beyond this many, the rest count as "other",
# as do names longer than a model name could plausibly be.
MAX_MODELS = 100
MAX_MODEL_NAME_CHARS = 256
OTHER = "other"


def _bounds() -> tuple[float, ...]:
    """Upper bounds (seconds) of the latency buckets: 10 per decade, 0.1 ms to 1,000 s.

    At most a third apart, so a percentile interpolated inside a bucket is off by a few
    per cent at worst; 1, 2.5 and 5 of each decade are among them, which are the
    coarser buckets /metrics exposes.
    """
    steps = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)
    return (*(round(step * 10.0**exponent, 6) for exponent in range(-4, 3) for step in steps), 1000.0)


BOUNDS = _bounds()
_monotonic = time.monotonic
_time = time.time
BUCKETS = len(BOUNDS) + 1  # the last one holds what is past the last bound (+Inf)


class Histogram:
    """Counts of observations (seconds) per fixed bucket, with their sum, min and max."""

    __slots__ = ("counts", "max", "min", "sum")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.sum = 0.0
        self.min = float("inf")
        self.max = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1
        self.sum += seconds
        if seconds > self.max:
            self.max = seconds
        if seconds < self.min:
            self.min = seconds

    def export(self) -> dict[str, Any]:
        counts = list(self.counts)  # one C-level copy
        return {
            "buckets": [[index, count] for index, count in enumerate(counts) if count],
            "sum": self.sum,
            "min": self.min if self.min != float("inf") else None,
            "max": self.max,
        }


class ModelStats:
    """Tokens, cost and latency of one model's requests."""

    __slots__ = ("completion_tokens", "cost_usd", "duration", "gaps", "prompt_tokens", "ttft")

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0  # of complete answers, at the model's prices
        self.ttft = Histogram()  # arrival → first body write of a stream
        self.gaps = Histogram()  # between two body writes of a stream
        self.duration = Histogram()  # arrival → last byte of a complete answer


# Per-second counts kept for the rolling rates and the sparklines.
WINDOW_SECONDS = 300


class State:
    """Everything a reset clears (the gauges of open requests are not in it)."""

    __slots__ = (
        "calls",
        "disconnects",
        "models",
        "received",
        "since",
        "window",
    )

    def __init__(self) -> None:
        self.since = time.time()
        self.received = 0
        # (endpoint, model, status, streamed, injected) → answered requests. Status 0: no
        # answer (the client left first, or an injected dropped connection).
        self.calls: dict[tuple[str, str, int, bool, bool], int] = {}
        self.models: dict[str, ModelStats] = {}
        self.disconnects = 0  # clients that left before their answer was complete
        # A ring of one-second slots [second, answered requests, completion tokens], each
        # stamped with its second (wall clock, so that processes can add theirs up).
        self.window = [[0, 0, 0] for _ in range(WINDOW_SECONDS)]


class CallLike(Protocol):
    """What the recorder reads of a simulator.server.http.Call."""

    arrival: float
    route: str
    path: str
    method: str
    status: int
    model: str
    stream: bool
    injected: bool
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    stream_opened: float
    last_write: float
    stream_ended: bool
    model_stats: ModelStats | None
    request_id: str


class Recorder:
    """The counters of this process; `recorder` below is the one the request path uses."""

    def __init__(self) -> None:
        self.process_started = time.time()
        self.active = 0  # requests being answered
        self.streams = 0  # of which streams whose headers went out
        self.state = State()
        # Set by the sharing publisher: the store's reset generation this state belongs to.
        self.epoch: int | None = None
        self.log_requests = False
        # Running and waiting answers per model (simulator.state.load.gauges, set at startup;
        # stats imports nothing from the server floors).
        self.load_gauges: Callable[[], dict[str, tuple[int, int]]] = dict

    # --- the request path ----------------------------------------------------------

    def started(self, call: CallLike) -> None:
        self.state.received += 1
        self.active += 1

    def stream_started(self, call: CallLike) -> None:
        """The stream's headers go out (start_stream)."""
        call.stream_opened = _monotonic()
        self.streams += 1
        stats = self.state.models.get(call.model)
        call.model_stats = stats if stats is not None else self._model_stats(call.model)[1]

    def wrote(self, call: CallLike) -> None:
        """A body write of a stream: the first carries the first token, then each gap between writes."""
        now = _monotonic()
        last = call.last_write
        call.last_write = now
        stats = call.model_stats
        if stats is None:  # a write without start_stream
            stats = call.model_stats = self._model_stats(call.model)[1]
        if last:
            stats.gaps.observe(now - last)
        else:
            stats.ttft.observe(now - call.arrival)

    def finished(self, call: CallLike) -> None:
        self.active -= 1
        state = self.state
        status = call.status
        if call.stream_opened:
            self.streams -= 1
            complete = call.stream_ended and 200 <= status < 300
        else:
            complete = 200 <= status < 300
        second = int(_time())
        slot = state.window[second % WINDOW_SECONDS]
        if slot[0] != second:
            slot[0], slot[1], slot[2] = second, 0, 0
        slot[1] += 1
        model = call.model
        if model:  # a completion: its tokens and latency, per model
            stats = state.models.get(model)
            if stats is None:
                model, stats = self._model_stats(model)
            stats.prompt_tokens += call.prompt_tokens
            if complete:
                completion = call.completion_tokens
                stats.completion_tokens += completion
                slot[2] += completion
                cost = call.cost_usd
                if cost is not None:
                    stats.cost_usd += cost
                stats.duration.observe(_monotonic() - call.arrival)
        # The route's template (/v1/models/{model_id}), not the path: bounded by the routes.
        key = (call.route, model, status, call.stream, call.injected)
        calls = state.calls
        calls[key] = calls.get(key, 0) + 1
        if not complete and status < 400 and not call.injected:  # no answer, or a stream cut short
            state.disconnects += 1
        if self.log_requests:
            _log(call, complete)

    def batch_answered(
        self, route: str, model: str, statuses: dict[tuple[int, bool], int], tokens: tuple[int, int], cost_usd: float
    ) -> None:
        """A batch's requests, answered when it is created: counted by (status, injected) under
        `route`, their prompt and completion tokens and cost under the model; they add no latency."""
        if model:
            model, stats = self._model_stats(model)
            stats.prompt_tokens += tokens[0]
            stats.completion_tokens += tokens[1]
            stats.cost_usd += cost_usd
        calls = self.state.calls
        for (status, injected), count in statuses.items():
            key = (route, model, status, False, injected)
            calls[key] = calls.get(key, 0) + count

    def _model_stats(self, model: str) -> tuple[str, ModelStats]:
        models = self.state.models
        if model not in models and (len(models) >= MAX_MODELS or len(model) > MAX_MODEL_NAME_CHARS):
            model = OTHER
        stats = models.get(model)
        if stats is None:
            stats = models[model] = ModelStats()
        return model, stats

    # --- everything else -------------------------------------------------------------

    def reset(self, epoch: int | None = None) -> None:
        """Clear the counters (not the gauges of requests still open); one reference swap."""
        self.state = State()
        self.epoch = epoch

    def export(self) -> dict[str, Any]:
        """A plain-data copy (JSON-ready) of this process's numbers, for report.merge()."""
        state = self.state
        models = dict(state.models)
        calls = dict(state.calls)
        now = int(time.time())
        return {
            "epoch": self.epoch,
            "updated_at": time.time(),
            "process_started": self.process_started,
            "since": state.since,
            "active": self.active,
            "streams": self.streams,
            "received": state.received,
            "disconnects": state.disconnects,
            "load": {model: list(figures) for model, figures in self.load_gauges().items()},
            "calls": [[*key, count] for key, count in calls.items()],
            "models": {
                name: {
                    "prompt_tokens": stats.prompt_tokens,
                    "completion_tokens": stats.completion_tokens,
                    "cost_usd": stats.cost_usd,
                    "ttft": stats.ttft.export(),
                    "gaps": stats.gaps.export(),
                    "duration": stats.duration.export(),
                }
                for name, stats in models.items()
            },
            "window": [
                [second, requests, tokens]
                for second, requests, tokens in (list(slot) for slot in state.window)
                if now - WINDOW_SECONDS < second <= now and (requests or tokens)
            ],
        }


def _log(call: CallLike, complete: bool) -> None:
    now = time.monotonic()
    fields = {
        "method": call.method,
        "path": call.path,
        "status": call.status,
        "model": call.model,
        "stream": call.stream,
        "injected": call.injected,
        "complete": complete,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "duration_ms": round((now - call.arrival) * 1000, 1),
    }
    logger.info(
        "%s %s %s model=%s stream=%s %.1f ms",
        fields["method"],
        call.path,
        call.status,
        call.model or "-",
        call.stream,
        fields["duration_ms"],
        extra={"fields": fields},
    )


recorder = Recorder()
