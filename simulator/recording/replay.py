"""Replay: which recorded answer a request to a replay scenario gets, and at what speed.

Plain data and lookups; simulator/server/replay.py writes the answer. A request is
anonymised as the recorder anonymised the recorded ones (the same masks, the scenario's
redact patterns), then keyed by the scenario's strictness (simulator.recording.matching).
The values the mask replaced are put back into the answer (`restore`): a recorded
"I wrote to <email-1>" says the caller's own address again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.recording import matching
from simulator.recording.anonymise import Anonymiser

SPEED_HEADER = "x-llmsim-replay-speed"
UNMATCHED = ("generate", "error")


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    source: str  # the cassette's file name
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str  # a whole answer (empty for a stream)
    chunks: tuple[tuple[float, str], ...] | None  # a stream: (ms since the request, text)
    complete: bool  # False: the recording ends in a dropped connection
    duration_ms: float
    model: str
    stream: bool
    last_user_text: str


@dataclass(frozen=True, slots=True)
class Replay:
    """A replay scenario's recordings and settings, as the snapshot holds them."""

    book: matching.ReplayBook
    match: str = matching.DEFAULT_STRICTNESS
    speed: float = 1.0
    unmatched: str = "generate"
    redact: tuple[str, ...] = ()


class BadSpeed(ValueError):
    """An x-llmsim-replay-speed header that is not a number ≥ 0."""


def speed_for(headers: Mapping[str, str], replay: Replay) -> float:
    text = headers.get(SPEED_HEADER)
    if text is None:
        return replay.speed
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed >= 0 or speed == float("inf"):  # also refuses NaN
        raise BadSpeed(f"{SPEED_HEADER} must be a number of 0 or more (0: as fast as possible), not {text!r}")
    return speed


def find(replay: Replay, provider: str, method: str, path: str, body: Any) -> tuple[RecordedAnswer | None, Anonymiser]:
    """The recording that answers this request (None: no match), and the request's masks."""
    anonymiser = Anonymiser(replay.redact)
    masked = anonymiser.json(body)
    key = matching.request_key(provider, method, path, masked, replay.match)
    return replay.book.find(key, replay.match), anonymiser


def nearest(replay: Replay, provider: str, body: Any) -> str:
    """Names the recording most like this request, for the error of an unmatched request."""
    masked = Anonymiser(replay.redact).json(body)
    text = matching.last_user_text(matching.conversation_of(provider, masked))
    found = matching.nearest(text, replay.book.candidates)
    if found is None:
        return "the scenario has no recordings"
    label, ratio = found
    return f"the nearest is {label} ({ratio:.0%} alike in its last user message)"
