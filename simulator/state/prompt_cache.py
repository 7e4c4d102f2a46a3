"""The prompt cache's store: in this process, or in Redis for every process and replica.

Without REDIS_URL the stored prefixes live in this process (engine.prompt_cache.
LocalPromptCache). With it, each is a Redis key under LLMSIM_REDIS_PREFIX whose expiry is
its lifetime (PX): one pipelined round trip per lookup reads every candidate (MGET) and
writes the request's prefixes. When Redis does not answer, the request is answered as a
miss (nothing cached), like the rate limits' fail-open; Redis is tried again after
buckets.RETRY_REDIS_AFTER_S.

    if wanted(request, spec):  # cheap: most prompts are too short to be cached
        cached = await look_up(request, api_key, spec)  # None: nothing of this prompt can be cached
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError

from simulator.engine.prompt_cache import (
    CachedPrompt,
    CacheQuery,
    LocalPromptCache,
    cache_query,
    cached_prompt,
    may_reach,
    scope_of,
)
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CompletionRequest
from simulator.state import buckets

logger = logging.getLogger(__name__)

# What a Redis that is down, unreachable or too slow raises (TimeoutError is an OSError).
_REDIS_DOWN = (RedisError, OSError)

in_process = LocalPromptCache()
# Per Redis URL: until when it is treated as down (monotonic time).
_down_until: dict[str, float] = {}
_last_warning = -buckets.WARN_EVERY_S


def wanted(request: CompletionRequest, spec: ModelSpec) -> bool:
    """Whether any of the prompt may be cached: this API and model cache, and it may be long enough.

    Most requests are answered False: no hashing, no counting here, no Redis.
    """
    minimum = spec.prompt_cache_min_tokens
    return request.caching is not None and minimum is not None and may_reach(request, minimum)


async def look_up(request: CompletionRequest, api_key: str, spec: ModelSpec) -> CachedPrompt | None:
    """What of the request's prompt is read from and written to the cache (and store its prefixes).

    None when nothing of it can be cached (no caching on this API or model, or too short).
    """
    minimum = spec.prompt_cache_min_tokens
    if not wanted(request, spec) or minimum is None:
        return None
    # Counting a prompt this long takes a while: off the event loop.
    query = await asyncio.to_thread(cache_query, request, scope_of(api_key, spec.id), minimum, spec.encoding)
    if query is None:
        return None
    store = buckets.redis_store()
    found = in_process.look_up(query) if store is None else await _look_up_in_redis(store, query)
    return cached_prompt(query, found)


def key_prefix(prefix: str) -> str:
    return f"{prefix}:promptcache:"


async def _look_up_in_redis(store: buckets.RedisBuckets, query: CacheQuery) -> list[bool]:
    misses = [False] * len(query.candidates)
    if time.monotonic() < _down_until.get(store.url, 0.0):
        return misses
    prefix = key_prefix(store.prefix)
    try:
        async with asyncio.timeout(buckets.TIMEOUT_S):
            pipeline = store.client.pipeline(transaction=False)
            if query.candidates:
                pipeline.mget([prefix + boundary.key for boundary in query.candidates])
            for boundary in query.writes:
                # The value is the lifetime, so that a hit can be kept for another one.
                ttl_ms = int(boundary.ttl_s * 1000)
                pipeline.set(prefix + boundary.key, ttl_ms, px=ttl_ms)
            replies = await pipeline.execute()
    except _REDIS_DOWN as error:
        _note_down(store, error)
        return misses
    if not query.candidates:
        return misses
    values = replies[0]
    found = [value is not None for value in values]
    if query.explicit:
        hits = [(boundary, value) for boundary, value in zip(query.candidates, values, strict=True) if value]
        if hits:
            # Anthropic keeps a prefix that was read for another lifetime. A second round
            # trip, for Anthropic's hits only: which prefix was read is known only now.
            boundary, ttl_ms = hits[-1]
            try:
                async with asyncio.timeout(buckets.TIMEOUT_S):
                    await store.client.pexpire(prefix + boundary.key, int(ttl_ms))
            except _REDIS_DOWN as error:
                _note_down(store, error)
    return found


def _note_down(store: buckets.RedisBuckets, error: BaseException) -> None:
    global _last_warning
    _down_until[store.url] = time.monotonic() + buckets.RETRY_REDIS_AFTER_S
    now = time.monotonic()
    if now - _last_warning >= buckets.WARN_EVERY_S:
        logger.warning("Redis is unavailable for the prompt cache (%r): prompts are answered uncached", error)
        _last_warning = now


async def reset() -> int:
    """Forget every cached prefix: this process's and, with REDIS_URL, Redis's. Returns how many."""
    count = len(in_process)
    in_process.clear()
    store = buckets.redis_store()
    if store is not None:
        batch = [key async for key in store.client.scan_iter(match=_glob_escape(key_prefix(store.prefix)) + "*")]
        for start in range(0, len(batch), 1000):
            count += await store.client.unlink(*batch[start : start + 1000])
    return count


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
