"""Calibration: fit model latency profiles to the timing of recorded streams.

For each recorded stream we take the time to first token (the first chunk that carries
generated text or a tool-call delta, not a role-only or metadata chunk), the gaps
between consecutive content chunks, and the prompt size the provider reported. Per
model, `fit` turns those into the fields of a ModelProfile: TTFT mean and spread (with
prefill per 1k prompt tokens by least squares on prompt size when the prompts differ
enough) and time between tokens, mean and spread.

The simulator's profile (simulator/engine/latency.py) draws TTFT from the mean and
spread and then adds prefill per 1k prompt tokens, so when prefill is fitted the mean is
the regression's intercept at 0 tokens and the spread that of the residuals.
"""

from __future__ import annotations

import bisect
import json
import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from simulator.recording.cassettes import Chunk, Exchange, model_of, read_directory

# Prefill is only fitted when enough prompts of different enough sizes were seen:
# with prompts all about the same size the slope is noise.
MIN_PREFILL_SAMPLES = 3
MIN_PREFILL_SPREAD_TOKENS = 200
ANTHROPIC_CONTENT_DELTAS = ("text_delta", "input_json_delta", "thinking_delta")


@dataclass(frozen=True, slots=True)
class StreamSample:
    """The timing of one recorded stream."""

    model: str
    provider: str
    ttft_ms: float
    gaps_ms: tuple[float, ...]
    prompt_tokens: int | None
    content_chunks: int


@dataclass(frozen=True, slots=True)
class Fit:
    """A model's latency profile as fitted to its recorded streams, with the observed percentiles."""

    model: str
    provider: str
    streams: int
    ttft_mean_ms: float
    ttft_stddev_ms: float
    prefill_ms_per_1k_tokens: float
    tbt_mean_ms: float
    tbt_stddev_ms: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    tbt_p50_ms: float
    tbt_p99_ms: float
    gap_count: int


@dataclass(frozen=True, slots=True)
class _Event:
    """One parsed piece of a stream: its SSE event name (if any), its JSON payload, when it arrived."""

    at_ms: float
    name: str
    data: Any


def samples_of(exchange: Exchange) -> StreamSample | None:
    """The timing of a streamed, complete, status-200 exchange; None for anything else."""
    response = exchange.response
    if not response.streamed or not response.complete or response.status != 200:
        return None
    content_times: list[float] = []
    prompt_tokens: int | None = None
    for event in _events(exchange):
        if _carries_content(exchange.provider, event):
            content_times.append(event.at_ms)
        reported = _prompt_tokens(exchange.provider, event)
        if reported is not None:
            prompt_tokens = reported
    if not content_times:
        return None
    return StreamSample(
        model=model_of(exchange),
        provider=exchange.provider,
        ttft_ms=content_times[0],
        gaps_ms=tuple(later - earlier for earlier, later in pairwise(content_times)),
        prompt_tokens=prompt_tokens,
        content_chunks=len(content_times),
    )


def _events(exchange: Exchange) -> Iterator[_Event]:
    chunks = exchange.response.chunks or ()
    content_type = exchange.response.headers.get("content-type", "")
    looks_like_array = "".join(chunk.text for chunk in chunks).lstrip().startswith("[")
    if "event-stream" not in content_type and looks_like_array:
        yield from _json_array_events(chunks)
    else:
        yield from _sse_events(chunks)


def _sse_events(chunks: Iterable[Chunk]) -> Iterator[_Event]:
    # Each chunk is one whole SSE event by the cassette contract; splitting on blank lines
    # anyway keeps a hand-written cassette with several events in one chunk readable.
    for chunk in chunks:
        text = chunk.text.replace("\r\n", "\n")
        for block in text.split("\n\n"):
            name, data_lines = "", []
            for line in block.split("\n"):
                if line.startswith("event:"):
                    name = line[len("event:") :].strip()
                elif line.startswith("data:"):
                    data_lines.append(line[len("data:") :].removeprefix(" "))
            data = "\n".join(data_lines)
            if not data or data.strip() == "[DONE]":
                continue
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            yield _Event(chunk.at_ms, name or _type_of(payload), payload)


def _type_of(payload: Any) -> str:
    return payload.get("type", "") if isinstance(payload, dict) else ""


def _json_array_events(chunks: tuple[Chunk, ...]) -> Iterator[_Event]:
    """Gemini without alt=sse streams one JSON array in arbitrary pieces: each element
    arrived when the piece holding its last character did."""
    text = "".join(chunk.text for chunk in chunks)
    ends: list[int] = []  # ends[i]: offset just past chunk i in `text`
    for chunk in chunks:
        ends.append((ends[-1] if ends else 0) + len(chunk.text))
    decoder = json.JSONDecoder()
    position = text.find("[") + 1
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        try:
            element, position = decoder.raw_decode(text, position)
        except ValueError:
            return  # a malformed tail: the elements before it still count
        chunk_index = bisect.bisect_left(ends, position)
        yield _Event(chunks[min(chunk_index, len(chunks) - 1)].at_ms, "", element)


def _carries_content(provider: str, event: _Event) -> bool:
    data = event.data
    if not isinstance(data, dict):
        return False
    if provider == "anthropic":
        # Signatures and citations are metadata that arrives as deltas too.
        return event.name == "content_block_delta" and _dig(data, "delta", "type") in ANTHROPIC_CONTENT_DELTAS
    if provider == "gemini":
        return any("text" in part or "functionCall" in part for part in _gemini_parts(data))
    if event.name.startswith("response."):  # OpenAI Responses
        return event.name in ("response.output_text.delta", "response.function_call_arguments.delta")
    for choice in data.get("choices") or ():  # OpenAI chat
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
            return True
    return False


def _gemini_parts(data: dict) -> list:
    candidates = data.get("candidates") or [{}]
    content = candidates[0].get("content") if isinstance(candidates[0], dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts or () if isinstance(part, dict)]


def _prompt_tokens(provider: str, event: _Event) -> int | None:
    data = event.data
    if not isinstance(data, dict):
        return None
    if provider == "anthropic":
        if event.name != "message_start":
            return None
        return _integer(_dig(data, "message", "usage", "input_tokens"))
    if provider == "gemini":
        return _integer(_dig(data, "usageMetadata", "promptTokenCount"))
    if event.name == "response.completed":
        return _integer(_dig(data, "response", "usage", "input_tokens"))
    # Chat Completions: the final chunk has usage when the client asked for include_usage.
    return _integer(_dig(data, "usage", "prompt_tokens"))


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fit(samples: Iterable[StreamSample], model: str) -> Fit:
    """Fit the profile of `model` to those of `samples` that are its streams (at least one)."""
    mine = [sample for sample in samples if sample.model == model]
    if not mine:
        raise ValueError(f"no recorded streams for model {model!r}")
    ttfts = [sample.ttft_ms for sample in mine]
    gaps = [gap for sample in mine for gap in sample.gaps_ms]
    ttft_mean, ttft_stddev = statistics.fmean(ttfts), _stddev(ttfts)
    prefill = 0.0
    sized = [(sample.prompt_tokens / 1000.0, sample.ttft_ms) for sample in mine if sample.prompt_tokens is not None]
    if len(sized) >= MIN_PREFILL_SAMPLES:
        sizes = [size for size, _ in sized]
        if (max(sizes) - min(sizes)) * 1000.0 >= MIN_PREFILL_SPREAD_TOKENS:
            slope, intercept = _least_squares(sized)
            if slope > 0:  # a negative slope is noise: prompts do not make answers faster
                prefill = slope
                residuals = [ttft - (intercept + slope * size) for size, ttft in sized]
                # Two parameters were fitted, so the residuals have n - 2 degrees of freedom.
                ttft_stddev = math.sqrt(sum(r * r for r in residuals) / (len(residuals) - 2))
                ttft_mean = max(intercept, 0.0)
    return Fit(
        model=model,
        provider=mine[0].provider,
        streams=len(mine),
        ttft_mean_ms=ttft_mean,
        ttft_stddev_ms=ttft_stddev,
        prefill_ms_per_1k_tokens=prefill,
        tbt_mean_ms=statistics.fmean(gaps) if gaps else 0.0,
        tbt_stddev_ms=_stddev(gaps),
        ttft_p50_ms=_percentile(ttfts, 50),
        ttft_p99_ms=_percentile(ttfts, 99),
        tbt_p50_ms=_percentile(gaps, 50),
        tbt_p99_ms=_percentile(gaps, 99),
        gap_count=len(gaps),
    )


def _stddev(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) >= 2 else 0.0


def _least_squares(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Slope and intercept of the line that fits (x, y) points best."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_mean, y_mean = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - x_mean) ** 2 for x in xs)
    slope = sum((x - x_mean) * (y - y_mean) for x, y in points) / spread
    return slope, y_mean - slope * x_mean


def _percentile(values: list[float], percent: float) -> float:
    """Linear interpolation between the closest ranks; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fit_directory(path: Path, model: str | None = None) -> list[Fit]:
    """One fit per model with recorded streams in the cassettes of `path` (or only `model`), by name."""
    samples = [sample for _, exchange in read_directory(path) if (sample := samples_of(exchange)) is not None]
    models = sorted({sample.model for sample in samples if sample.model and (model is None or sample.model == model)})
    return [fit(samples, name) for name in models]


_COLUMNS = (
    ("model", "{f.model}"),
    ("streams", "{f.streams}"),
    ("TTFT mean", "{f.ttft_mean_ms:.1f}"),
    ("TTFT sd", "{f.ttft_stddev_ms:.1f}"),
    ("TTFT p50", "{f.ttft_p50_ms:.1f}"),
    ("TTFT p99", "{f.ttft_p99_ms:.1f}"),
    ("prefill per 1k", "{f.prefill_ms_per_1k_tokens:.1f}"),
    ("TBT mean", "{f.tbt_mean_ms:.1f}"),
    ("TBT sd", "{f.tbt_stddev_ms:.1f}"),
    ("TBT p50", "{f.tbt_p50_ms:.1f}"),
    ("TBT p99", "{f.tbt_p99_ms:.1f}"),
    ("gaps", "{f.gap_count}"),
)


def format_fits(fits: Iterable[Fit]) -> str:
    """The fits as a plain-text table, times in ms."""
    rows = [[title for title, _ in _COLUMNS]]
    rows += [[template.format(f=one) for _, template in _COLUMNS] for one in fits]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
