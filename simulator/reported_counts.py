"""The counts of reported rate limits (the model profiles' defaults), shared through Redis in batches.

A reported limit never refuses a request, so its request does not wait for Redis: it is
counted in this process's buckets at once (its answer's headers need the figures now),
and what the process counted is sent to Redis every SYNC_S, one script call per bucket,
whose answer is the shared level. So every process sees the others' requests within
about SYNC_S, and the request path pays no round trip. (A request under a scenario's
own limits still takes from Redis itself: to refuse exactly, it must.)

    batches = CountBatches(buckets, drain)
    batches.add(key, limit, requests=1, tokens=taken)            # a request counted
    batches.add(key, limit, requests=0, tokens=actual - taken)   # its settlement

Without REDIS_URL none of this runs: the process's buckets are the only ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

from .engine.ratelimit import LocalBuckets, RateLimit

# How often a process sends its counts to Redis and learns the others'.
SYNC_S = 0.1

# Takes (requests, tokens) from a key's shared buckets, each stopping at empty (tokens
# below 0 are given back); returns the levels after, or None when Redis does not answer.
Drain = Callable[[Hashable, RateLimit, float, float], Awaitable[tuple[float, float] | None]]


class _Counted:
    """What this process counted against one bucket since its last batch."""

    __slots__ = ("limit", "requests", "tokens")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.requests = 0.0
        self.tokens = 0.0


class CountBatches:
    """One event loop's counts on their way to Redis."""

    def __init__(self, buckets: LocalBuckets, drain: Drain) -> None:
        self.buckets = buckets
        self.drain = drain
        self.counted: dict[Hashable, _Counted] = {}
        self.sender: asyncio.Task | None = None

    def add(self, key: Hashable, limit: RateLimit, requests: float, tokens: float) -> None:
        """Note what the process took from a key's buckets (tokens below 0: given back)."""
        counted = self.counted.get(key)
        if counted is None:
            counted = self.counted[key] = _Counted(limit)
        counted.limit = limit
        counted.requests += requests
        counted.tokens += tokens
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._send_while_counting())

    async def _send_while_counting(self) -> None:
        """Send a batch every SYNC_S until a round finds nothing counted (the next add starts it again)."""
        try:
            while self.counted:
                await asyncio.sleep(SYNC_S)
                await self.send()
        finally:
            self.sender = None

    async def send(self) -> None:
        """Send what was counted and set this process's levels to the shared ones."""
        batch, self.counted = self.counted, {}
        if not batch:
            return
        levels = await asyncio.gather(
            *(self.drain(key, counted.limit, counted.requests, counted.tokens) for key, counted in batch.items())
        )
        now = time.monotonic()
        for (key, sent), shared in zip(batch.items(), levels, strict=True):
            if shared is None:  # Redis is away: this process's count stands alone meanwhile
                continue
            requests, tokens = shared
            since = self.counted.get(key)  # counted while the batch was on its way: not in Redis yet
            if since is not None:
                requests -= since.requests
                tokens -= since.tokens
            self.buckets.reconcile(key, sent.limit, requests, tokens, now)

    def clear(self) -> None:
        """Forget what was counted and not sent yet (the buckets were reset)."""
        self.counted.clear()
