"""The counts of reported rate limits (the model profiles' defaults), shared through Redis in batches.

A reported limit never refuses a request, so its request does not wait for Redis: it is
counted in this process's buckets at once (its answer's headers need the figures now),
and what the process counted is sent to Redis every SYNC_S, one script call per bucket,
whose answer is the shared level. A bucket stays followed for FOLLOW_S after its last
count (sending nothing, learning the others' counts), so a process that answers one
request now and then still reports what the others took. A process's first request on
a bucket sees it full: it has not heard of the others yet. The request path pays no
round trip. (A request under a scenario's own limits still takes from Redis itself: to
refuse exactly, it must.)

    batches = CountBatches(buckets, drain)
    batches.add(key, limit, requests=1, tokens=reserved)          # a request counted
    batches.add(key, limit, requests=0, tokens=actual - reserved)  # its settlement

Without REDIS_URL none of this runs: the process's buckets are the only ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import NamedTuple

from simulator.engine.ratelimit import LocalBuckets, RateLimit

# How often a process sends its counts to Redis and learns the others'.
SYNC_S = 0.1
# How long a bucket is followed after this process last counted on it.
FOLLOW_S = 5.0


class Levels(NamedTuple):
    """How full a key's two shared buckets are: requests and tokens left (fractions included)."""

    requests: float
    tokens: float


class Batched(NamedTuple):
    """What this process counted against one key's buckets since the last batch (tokens below 0: given back)."""

    key: Hashable
    limit: RateLimit
    requests: float
    tokens: float


# Takes a Batched count from its key's shared buckets, each stopping at empty; returns
# the levels after, or None when Redis does not answer.
Drain = Callable[[Batched], Awaitable[Levels | None]]


class _Counted:
    """What this process counted against one bucket since its last batch."""

    __slots__ = ("idle_rounds", "limit", "requests", "tokens")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.requests = 0.0
        self.tokens = 0.0
        self.idle_rounds = 0  # batches sent since the last count


class CountBatches:
    """One event loop's counts on their way to Redis."""

    def __init__(self, buckets: LocalBuckets, drain: Drain, follow_s: float = FOLLOW_S) -> None:
        self.buckets = buckets
        self.drain = drain
        self.follow_rounds = round(follow_s / SYNC_S)
        self.counted: dict[Hashable, _Counted] = {}  # the buckets followed
        self.sender: asyncio.Task | None = None

    def add(self, key: Hashable, limit: RateLimit, requests: float, tokens: float) -> None:
        """Note what the process took from a key's buckets (tokens below 0: given back)."""
        counted = self.counted.get(key)
        if counted is None:
            counted = self.counted[key] = _Counted(limit)
        counted.limit = limit
        counted.requests += requests
        counted.tokens += tokens
        counted.idle_rounds = 0
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._send_while_following())

    async def _send_while_following(self) -> None:
        """Send a batch every SYNC_S while a bucket is followed (the next add starts it again)."""
        try:
            while self.counted:
                await asyncio.sleep(SYNC_S)
                await self.send()
        finally:
            self.sender = None

    async def send(self) -> None:
        """Send what was counted and set this process's levels to the shared ones."""
        batch: list[Batched] = []
        for key, counted in list(self.counted.items()):
            if counted.idle_rounds >= self.follow_rounds:
                del self.counted[key]
                continue
            batch.append(Batched(key, counted.limit, counted.requests, counted.tokens))
            counted.requests = counted.tokens = 0.0
            counted.idle_rounds += 1
        if not batch:
            return
        answers = await asyncio.gather(*(self.drain(sent) for sent in batch))
        now = time.monotonic()
        for sent, shared in zip(batch, answers, strict=True):
            if shared is None:  # Redis is away: this process's count stands alone meanwhile
                continue
            requests, tokens = shared.requests, shared.tokens
            since = self.counted.get(sent.key)  # counted while the batch was on its way: not in Redis yet
            if since is not None:
                requests -= since.requests
                tokens -= since.tokens
            self.buckets.reconcile(sent.key, sent.limit, requests, tokens, now)

    def clear(self) -> None:
        """Forget what was counted and not sent yet, and every bucket followed (the buckets were reset)."""
        self.counted.clear()

    def stop(self) -> None:
        """Stop sending (the store is closing); what was not sent is forgotten."""
        if self.sender is not None:
            self.sender.cancel()
        self.counted.clear()
