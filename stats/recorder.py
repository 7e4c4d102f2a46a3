"""In-process request counters: cheap enough to touch on every request.

Plain integer updates on the event loop thread — no lock, no await, no database.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Protocol

# Distinct model names are client input: beyond this many, the rest count as "other".
MAX_MODELS = 200


class CallLike(Protocol):
    path: str
    status: int
    model: str
    stream: bool
    prompt_tokens: int
    completion_tokens: int


class Recorder:
    def __init__(self) -> None:
        self.started_at = time.time()
        self.requests_total = 0
        self.active = 0
        self.by_status: Counter[int] = Counter()
        self.by_endpoint: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.streaming_total = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def started(self, call: CallLike) -> None:
        self.requests_total += 1
        self.active += 1

    def finished(self, call: CallLike) -> None:
        self.active -= 1
        # A status of 0 means the client left (or the connection was dropped) before an answer.
        self.by_status[call.status] += 1
        self.by_endpoint[call.path] += 1
        if call.model:
            model = call.model if call.model in self.by_model or len(self.by_model) < MAX_MODELS else "other"
            self.by_model[model] += 1
        if call.stream:
            self.streaming_total += 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens

    def snapshot(self) -> dict[str, Any]:
        return {
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "requests": {
                "total": self.requests_total,
                "active": self.active,
                "streaming_total": self.streaming_total,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_endpoint": dict(self.by_endpoint),
                "by_model": dict(self.by_model),
            },
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.prompt_tokens + self.completion_tokens,
            },
        }


recorder = Recorder()
