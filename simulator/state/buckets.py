"""Rate-limit buckets for the provider routes: in this process, or in Redis for every process.

Without REDIS_URL the buckets live in this process (engine.ratelimit.LocalBuckets).
With it they live in Redis, one hash per bucket key under LLMSIM_REDIS_PREFIX, and one
Lua script refills, checks and takes both axes atomically, on Redis's clock: every
worker and replica shares one budget.

    state = await ratelimits.acquire(key, limit, input_tokens + max_tokens)  # or RateLimited
    ...answer...
    await ratelimits.settle(key, limit, reserved=input_tokens + max_tokens, actual=usage_total)

Those are the enforced limits (a scenario's own, or the model defaults where enforcement
is on). The reported ones (model defaults otherwise) never refuse, so they never wait:

    figures = ratelimits.count(key, limit, input_tokens + max_tokens, now)
    ...answer...
    ratelimits.settle_count(key, limit, reserved=input_tokens + max_tokens, actual=usage_total)

count in this process and, with REDIS_URL, reach Redis in batches (reported_counts).

When Redis does not answer, requests are let through (fail open) with the figures of
full buckets, and a warning is logged at most every WARN_EVERY_S; Redis is tried again
after RETRY_REDIS_AFTER_S. A simulator that stopped serving because its rate-limit
store is down would fail the load test it is part of for the wrong reason.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import deque
from typing import Any

import redis.asyncio
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from simulator.engine.ratelimit import (
    EPSILON,
    IDLE_S,
    UNLIMITED_STATE,
    LocalBuckets,
    RateLimit,
    RateLimited,
    RateLimitState,
    fresh_state,
    rejection,
    state_of,
)
from simulator.state.reported_counts import Batched, CountBatches, Levels

__all__ = [
    "RateLimit",
    "RateLimitState",
    "RateLimited",
    "acquire",
    "bucket_key",
    "close",
    "count",
    "in_process",
    "reset",
    "settle",
    "settle_count",
]

logger = logging.getLogger(__name__)

# A call that has no answer within this long (connecting included) lets its request
# through, and Redis is treated as down for RETRY_REDIS_AFTER_S.
TIMEOUT_S = 1.0
RETRY_REDIS_AFTER_S = 1.0
# How our connections show in CLIENT LIST.
CLIENT_NAME = "llmsim-ratelimits"
WARN_EVERY_S = 30.0

# Levels cross from Lua to Python as integers (Redis truncates Lua numbers): millionths.
_SCALE = 1_000_000

# What a Redis that is down, unreachable or too slow raises (TimeoutError, from
# asyncio.timeout, is an OSError).
_REDIS_DOWN = (RedisError, OSError)

# Every script: KEYS[1] is the bucket hash {r: requests, t: tokens, at: µs of Redis time};
# ARGV[1], ARGV[2] the requests and tokens per minute (0: no limit on that axis). Refill
# and comparison are engine.ratelimit's (LocalBuckets.take). Time is Redis's, so replicas
# with skewed clocks agree. An idle hash expires once it would be full again.
_REFILL = """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local stored = redis.call('HMGET', KEYS[1], 'r', 't', 'at')
local minutes, at = 0, now
if stored[3] then
  at = math.max(now, tonumber(stored[3]))
  minutes = math.max(0, now - tonumber(stored[3])) / 60000000
end
-- An axis without a limit holds -1; a missing or -1 level is full (a limit set later starts full).
local function refilled(level, limit)
  if limit == 0 then return -1 end
  level = tonumber(level)
  if level == nil or level < 0 then return limit end
  return math.min(limit, level + minutes * limit)
end
local requests, tokens = refilled(stored[1], rpm), refilled(stored[2], tpm)
"""

_SAVE = f"""
redis.call('HSET', KEYS[1], 'r', requests, 't', tokens, 'at', at)
redis.call('PEXPIRE', KEYS[1], {int(IDLE_S * 1000)})
"""

# ARGV[3]: tokens wanted. Takes 1 request and those tokens, both or neither; returns
# {1 if taken else 0, requests left, tokens left}, levels in millionths.
_ACQUIRE = (
    _REFILL
    + f"""
local wanted = tonumber(ARGV[3])
local taken = 0
if (rpm == 0 or requests >= 1 - {EPSILON!r}) and (tpm == 0 or tokens >= wanted - {EPSILON!r}) then
  taken = 1
  if rpm > 0 then requests = requests - 1 end
  if tpm > 0 then tokens = tokens - wanted end
{_SAVE}
end
return {{taken, math.floor(requests * {_SCALE}), math.floor(tokens * {_SCALE})}}
"""
)

# ARGV[3]: tokens to give back (negative: to take), keeping the level within 0..limit.
_SETTLE = (
    _REFILL
    + f"""
if tpm == 0 or (not stored[3] and tonumber(ARGV[3]) >= 0) then return 0 end
tokens = math.max(0, math.min(tpm, tokens + tonumber(ARGV[3])))
{_SAVE}
return 1
"""
)


@functools.lru_cache(maxsize=4096)
def bucket_key(scenario: str, api_key: str, model: str) -> str:
    """The bucket of one scenario, API key and model; the API key is hashed, never stored."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{scenario}:{digest}:{model}"


class _Pipeline:
    """One Redis connection that every request of an event loop writes to, in turn.

    Commands are written as they come and their replies read back in order by one
    reader task (pipelining): concurrent requests share round trips, and a burst of
    thousands costs one socket. redis-py's pooled script call opens a socket per
    concurrent call instead, spends more CPU per call, and fails with "Too many
    connections" at 1000 concurrent calls.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.waiting: deque[asyncio.Future] = deque()
        self.reader: asyncio.Task | None = None
        self.broken = False

    async def call(self, *args: str | int) -> Any:
        """Send one command and wait for its reply."""
        if self.broken or not self.connection.is_connected:
            raise RedisConnectionError("the rate-limit connection to Redis is closed")
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        try:
            # With no socket timeout and no health check this writes before its first
            # await, so replies come back in the order of `waiting`.
            await self.connection.send_packed_command(self.connection.pack_command(*args), check_health=False)
        except BaseException as error:
            await self.close(error)
            raise
        return await future

    async def read(self) -> None:
        """Hand each reply to the oldest waiting call, until the connection fails."""
        try:
            while True:
                try:
                    reply: Any = await self.connection.read_response(disconnect_on_error=False)
                except ResponseError as error:  # an error reply; the connection is fine
                    reply = error
                future = self.waiting.popleft()
                if future.done():  # its caller gave up waiting
                    continue
                if isinstance(reply, ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except BaseException as error:
            await self.close(error)
            if isinstance(error, asyncio.CancelledError):
                raise

    async def close(self, error: BaseException | None = None) -> None:
        """Fail every waiting call and drop the connection; the next call opens a new one."""
        if self.broken:
            return
        self.broken = True
        failure = RedisConnectionError(f"the rate-limit connection to Redis closed ({error!r})")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(failure)
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
        await self.connection.disconnect(nowait=True)


# ARGV[3], ARGV[4]: the requests and tokens a process counted against a reported limit
# (tokens below 0: given back), taken whether they fit or not, each level stopping at
# empty; returns the levels after, in millionths (-1 for an axis without a limit).
_DRAIN = (
    _REFILL
    + f"""
if rpm > 0 then requests = math.max(0, requests - tonumber(ARGV[3])) end
if tpm > 0 then tokens = math.max(0, math.min(tpm, tokens - tonumber(ARGV[4]))) end
{_SAVE}
return {{math.floor(requests * {_SCALE}), math.floor(tokens * {_SCALE})}}
"""
)

# KEYS[1]: a shared counter (the rule sequences' positions); ARGV[1]: ms to keep it after its last use.
_COUNT = """
local value = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return value
"""
# A sequence's position is forgotten a day after its conversation's last request.
COUNTER_TTL_S = 86_400.0

_ACQUIRE_SHA = hashlib.sha1(_ACQUIRE.encode()).hexdigest()
_COUNT_SHA = hashlib.sha1(_COUNT.encode()).hexdigest()
_DRAIN_SHA = hashlib.sha1(_DRAIN.encode()).hexdigest()
_SETTLE_SHA = hashlib.sha1(_SETTLE.encode()).hexdigest()


class RedisBuckets:
    """The buckets in Redis, reached from one event loop."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._pool = redis.asyncio.ConnectionPool.from_url(
            url,
            socket_timeout=None,  # the asyncio.timeout around each call bounds it
            socket_connect_timeout=TIMEOUT_S,
            # No retries: a retried script could take a budget twice, and a request must
            # not wait through backoffs for a Redis that is down.
            retry=Retry(NoBackoff(), 0),
            # RESP2: exactly one reply per command, never a push message, which keeps
            # the pipeline's replies in step with its callers.
            protocol=2,
            client_name=CLIENT_NAME,
        )
        # For reset(), off the request path.
        self.client = redis.asyncio.Redis(connection_pool=self._pool)
        self._pipeline: _Pipeline | None = None
        self._opening = asyncio.Lock()
        self._key_prefix = f"{prefix}:ratelimit:"
        self._counter_prefix = f"{prefix}:counter:"
        self._down_until = 0.0
        self._last_warning = -WARN_EVERY_S
        self._failed_since_warning = 0
        # The reported limits' counts of this loop, on their way here.
        self.counts = CountBatches(_local, self.drain)

    async def acquire(self, key: str, limit: RateLimit, tokens: int) -> RateLimitState:
        """The module's acquire(), in Redis; the figures of full buckets when Redis does not answer."""
        if time.monotonic() < self._down_until:
            return self._fail_open(limit, tokens, None)
        try:
            taken, *levels_scaled = await self._run(
                _ACQUIRE,
                _ACQUIRE_SHA,
                self._key_prefix + key,
                limit.requests_per_minute or 0,
                limit.tokens_per_minute or 0,
                tokens,
            )
        except _REDIS_DOWN as error:
            return self._fail_open(limit, tokens, error)
        levels = _levels(levels_scaled)
        if not taken:
            raise rejection(limit, levels.requests, levels.tokens, tokens)
        return state_of(limit, levels.requests, levels.tokens)

    async def settle(self, key: str, limit: RateLimit, reserved: int, actual: int) -> None:
        """The module's settle(), in Redis; skipped when Redis does not answer."""
        if time.monotonic() < self._down_until:
            return
        try:
            await self._run(
                _SETTLE,
                _SETTLE_SHA,
                self._key_prefix + key,
                limit.requests_per_minute or 0,
                limit.tokens_per_minute or 0,
                reserved - actual,
            )
        except _REDIS_DOWN as error:
            self._note_down(error)

    async def drain(self, counted: Batched) -> Levels | None:
        """Take what a process counted against a reported limit (see _DRAIN); the levels after,
        or None when Redis does not answer (noted like a failed acquire)."""
        if time.monotonic() < self._down_until:
            return None
        limit = counted.limit
        try:
            levels_scaled = await self._run(
                _DRAIN,
                _DRAIN_SHA,
                self._key_prefix + bucket_key(*counted.key),
                limit.requests_per_minute or 0,
                limit.tokens_per_minute or 0,
                counted.requests,
                counted.tokens,
            )
        except _REDIS_DOWN as error:
            self._note_down(error)
            return None
        return _levels(levels_scaled)

    async def _run(self, script: str, sha: str, key: str, *args: float) -> Any:
        """Run one of our scripts on one full Redis key (the pipeline loads it again after a SCRIPT FLUSH)."""
        pipeline = None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                pipeline = await self._open()
                command = ("EVALSHA", sha, 1, key, *args)
                try:
                    return await pipeline.call(*command)
                except NoScriptError:
                    # Someone ran SCRIPT FLUSH: nothing ran, so load the script and run it.
                    await pipeline.call("SCRIPT", "LOAD", script)
                    return await pipeline.call(*command)
        except TimeoutError as error:
            # A Redis that hangs: drop the connection, so the next try opens a new one.
            if pipeline is not None:
                await pipeline.close(error)
            raise

    async def _open(self) -> _Pipeline:
        """The loop's pipeline, connected (and the scripts loaded) on first use or after a failure."""
        pipeline = self._pipeline
        if pipeline is not None and not pipeline.broken:
            return pipeline
        async with self._opening:
            pipeline = self._pipeline
            if pipeline is None or pipeline.broken:
                connection = self._pool.make_connection()
                try:
                    await connection.connect()
                    for script in (_ACQUIRE, _SETTLE, _COUNT, _DRAIN):
                        await connection.send_command("SCRIPT", "LOAD", script)
                        await connection.read_response()
                except BaseException:
                    await connection.disconnect(nowait=True)
                    raise
                pipeline = self._pipeline = _Pipeline(connection)
                pipeline.reader = asyncio.create_task(pipeline.read())
        return pipeline

    async def count(self, name: str) -> int | None:
        """Add one to a shared counter (kept COUNTER_TTL_S after its last use); returns the new value.

        None when Redis is down (logged like the buckets' fail-open): the caller counts alone.
        """
        if time.monotonic() < self._down_until:
            self._note_down(None)
            return None
        try:
            return await self._run(_COUNT, _COUNT_SHA, self._counter_prefix + name, int(COUNTER_TTL_S * 1000))
        except _REDIS_DOWN as error:
            self._note_down(error)
            return None

    async def reset_counters(self) -> int:
        """Delete every shared counter under our prefix."""
        return await self._delete_under(self._counter_prefix)

    async def reset(self) -> int:
        """Delete every bucket under our prefix (SCAN, not KEYS: Redis keeps serving meanwhile)."""
        self.counts.clear()
        return await self._delete_under(self._key_prefix)

    async def _delete_under(self, prefix: str) -> int:
        count = 0
        batch: list[bytes] = []
        async for name in self.client.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                count += await self.client.unlink(*batch)
                batch.clear()
        if batch:
            count += await self.client.unlink(*batch)
        return count

    async def close(self) -> None:
        self.counts.stop()
        if self._pipeline is not None:
            await self._pipeline.close()
        await self.client.aclose()
        await self._pool.disconnect()

    def _fail_open(self, limit: RateLimit, tokens: int, error: BaseException | None) -> RateLimitState:
        self._note_down(error)
        return fresh_state(limit, tokens)

    def _note_down(self, error: BaseException | None) -> None:
        """Redis failed (error) or is still treated as down (None): retry later, warn now and then."""
        now = time.monotonic()
        if error is not None:
            self._down_until = now + RETRY_REDIS_AFTER_S
        self._failed_since_warning += 1
        if now - self._last_warning >= WARN_EVERY_S:
            logger.warning(
                "Redis at %s is unavailable for rate limits and sequences (%r): letting requests through "
                "without limits, sequences counted per process (%d since the last warning); trying again every %.0f s",
                _redacted(self.url),
                error or "still down",
                self._failed_since_warning,
                RETRY_REDIS_AFTER_S,
            )
            self._last_warning = now
            self._failed_since_warning = 0


def _levels(scaled: list[int]) -> Levels:
    """The levels a script returned, in millionths: {requests, tokens}."""
    requests, tokens = scaled
    return Levels(requests / _SCALE, tokens / _SCALE)


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    _credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


_local = LocalBuckets()
# One Redis store per event loop, as connections belong to the loop that opened them:
# the server has one loop per process, but a sync view reaching reset() through
# async_to_sync, or a test's asyncio.run, brings its own.
_stores: dict[asyncio.AbstractEventLoop, RedisBuckets] = {}


# settings.REDIS_URL, kept here rather than read through Django's lazy settings on every
# request. Tests that override it fire setting_changed, which refreshes it.
_redis_url = ""
# The buckets when they live in this process (no REDIS_URL), else None: the request path
# (server.pipeline) takes from them directly, without a coroutine.
in_process: LocalBuckets | None = _local


@receiver(setting_changed)
def _settings_changed(setting: str = "", **kwargs: Any) -> None:
    global _redis_url, in_process
    if setting in ("REDIS_URL", ""):
        _redis_url = getattr(settings, "REDIS_URL", "") or ""
        in_process = None if _redis_url else _local


def redis_store() -> RedisBuckets | None:
    """The running loop's Redis store, or None without REDIS_URL."""
    url = _redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    store = _stores.get(loop)
    if store is None or store.url != url or store.prefix != settings.LLMSIM_REDIS_PREFIX:
        for closed in [other for other in list(_stores) if other.is_closed()]:
            del _stores[closed]
        # Its connections open lazily, inside this loop.
        store = _stores[loop] = RedisBuckets(url, settings.LLMSIM_REDIS_PREFIX)
    return store


async def acquire(key: str, limit: RateLimit, tokens: int) -> RateLimitState:
    """Take 1 request and `tokens` tokens from the key's buckets, both or neither.

    Raises RateLimited (nothing taken) when they do not fit. Never blocks the loop; with
    Redis, one round trip.
    """
    if limit.unlimited:
        return UNLIMITED_STATE
    store = redis_store()
    if store is None:
        return _local.take(key, limit, tokens, time.monotonic())
    return await store.acquire(key, limit, tokens)


async def settle(key: str, limit: RateLimit, reserved: int, actual: int) -> None:
    """Give back the tokens reserved but not used (or take the excess), once the answer is known."""
    if limit.tokens_per_minute is None or reserved == actual:
        return
    store = redis_store()
    if store is None:
        _local.settle(key, limit, reserved, actual, time.monotonic())
        return
    await store.settle(key, limit, reserved, actual)


def count(key: tuple[str, str, str], limit: RateLimit, tokens: int, now: float) -> RateLimitState:
    """Count a request against a limit that is reported, not enforced: never refuses, never
    waits (LocalBuckets.take with refuse=False, in this process's buckets).

    With REDIS_URL the count reaches the other processes within reported_counts.SYNC_S.
    """
    figures = _local.take(key, limit, tokens, now, refuse=False)
    if _redis_url:
        redis_store().counts.add(key, limit, 1, tokens)
    return figures


def settle_count(key: tuple[str, str, str], limit: RateLimit, reserved: int, actual: int) -> None:
    """settle() for a count(): give back the tokens reserved beyond what the answer used (or take the rest)."""
    if limit.tokens_per_minute is None or reserved == actual:
        return
    _local.settle(key, limit, reserved, actual, time.monotonic())
    if _redis_url:
        redis_store().counts.add(key, limit, 0, actual - reserved)


_settling: set[asyncio.Task] = set()


def settle_soon(key: str, limit: RateLimit, reserved: int, actual: int) -> None:
    """settle() for a caller that cannot wait (the end of a request): in-process at once, Redis in the background."""
    if limit.tokens_per_minute is None or reserved == actual:
        return
    if not _redis_url:
        _local.settle(key, limit, reserved, actual, time.monotonic())
        return
    task = asyncio.get_running_loop().create_task(settle(key, limit, reserved, actual))
    _settling.add(task)  # the loop holds tasks weakly
    task.add_done_callback(_settling.discard)


async def reset() -> int:
    """Refill every bucket (forget them all): in this process and, with REDIS_URL, in Redis.

    Returns how many buckets were forgotten. Redis errors are raised, not swallowed.
    """
    count = reset_in_process()
    store = redis_store()
    if store is not None:
        count += await store.reset()
    return count


def reset_in_process() -> int:
    """Refill this process's own buckets (forget them); returns how many there were."""
    return _local.reset()


async def close() -> None:
    """Close the running loop's Redis connection (tests, shutdown)."""
    store = _stores.pop(asyncio.get_running_loop(), None)
    if store is not None:
        await store.close()


_settings_changed()
