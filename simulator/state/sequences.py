"""Rule sequence positions that every server process shares, in Redis.

A sequence ("fail twice with 429, then answer") must play once per conversation, not
once per process: with several workers or replicas, an SDK's retry may land on another
one. Without REDIS_URL the positions live in each process (engine.rules.local_sequences);
with it, each position is a Redis counter (one INCR per request that meets a sequence
rule; plain rules and requests that match no rule never reach Redis). When Redis does
not answer, the process counts alone until it is back, like the rate limits' fail-open.

    position = await next_position("12:retry-then-answer:h:ab12…")  # 0 for the first request
"""

from __future__ import annotations

from simulator.engine.rules import local_sequences
from simulator.state import buckets


def shared() -> bool:
    """Whether positions live in Redis (REDIS_URL is set)."""
    return buckets.in_process is None


async def next_position(key: str) -> int | None:
    """The position this request takes in the sequence `key` (0-based), advancing it for
    every process; None when Redis is unavailable (the caller uses this process's count)."""
    store = buckets.redis_store()
    if store is None:
        return None
    count = await store.count(key)
    return None if count is None else count - 1


async def reset() -> int:
    """Restart every sequence in Redis and in this process; returns how many Redis positions were dropped.

    Redis errors are raised (after this process's positions were reset).
    """
    local_sequences.reset()
    store = buckets.redis_store()
    return 0 if store is None else await store.reset_counters()
