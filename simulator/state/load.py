"""Where the models' load is counted: in this process (the default), or in Redis for every
process and replica (LLMSIM_LOAD_SHARED=true with REDIS_URL).

    ticket = await load.admit(spec.id, spec.load)   # or engine.load.Overloaded
    load.expect(ticket, ends_at)                    # once planned: what retry-after counts from
    load.release(ticket)                            # when the answer is over, whatever its outcome

In Redis, per model (keys under LLMSIM_REDIS_PREFIX:load:<model>:): a sorted set of
running leases scored by when they expire, a sorted set of waiting tickets scored by
their place in line, and a sorted set of the waiters' heartbeats. One Lua script admits,
another lets a waiter in when its place comes (waiters ask every POLL_S, so a freed slot
is taken within about that long), another releases. A lease lasts until its answer is
due to end plus LEASE_MARGIN_S (LEASE_S until it is planned), and a waiter that stops
asking for HEARTBEAT_S loses its place: a process that crashes frees what it held.

When Redis does not answer, this process admits on its own counts (a warning is logged
now and then): a simulator that stops serving because its load store is down would fail
the load test for the wrong reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import redis.asyncio
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import RedisError

from simulator.engine.load import Admission, LoadLimit, Overloaded, Ticket, stretch

logger = logging.getLogger(__name__)

POLL_S = 0.02  # how often a waiter asks whether its place has come
HEARTBEAT_S = 2.0  # a waiter silent this long has gone
LEASE_S = 60.0  # a slot's lease before its answer is planned
LEASE_MARGIN_S = 30.0  # kept past the answer's planned end (a slow reader stretches it)
TIMEOUT_S = 1.0
WARN_EVERY_S = 30.0

# KEYS: running, queue, heartbeats, sequence. Every script first drops expired leases and
# silent waiters, on Redis's clock (replicas with skewed clocks agree).
_PURGE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, ticket in ipairs(gone) do
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[3], ticket)
end
local function keep()
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
end
"""

# ARGV: ticket, capacity, queue size, lease ms, key lifetime ms, heartbeat ms.
# Returns {1, running} admitted; {0, place} queued; {-1, ms until the soonest lease ends} overloaded.
_ADMIT = (
    _PURGE
    + """
local running = redis.call('ZCARD', KEYS[1])
local waiting = redis.call('ZCARD', KEYS[2])
if running < tonumber(ARGV[2]) and waiting == 0 then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
  keep()
  return {1, running + 1}
end
if waiting < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[1])
  keep()
  return {0, waiting + 1}
end
local soonest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if soonest[2] == nil then return {-1, 0} end
return {-1, tonumber(soonest[2]) - now}
"""
)

# ARGV as _ADMIT. Returns {1, running} when the waiter's place has come, {0, place} while
# it waits (heartbeat renewed), {-2, 0} when it has lost its place (it was silent too long).
_POLL = (
    _PURGE
    + """
local place = redis.call('ZRANK', KEYS[2], ARGV[1])
if place == false then return {-2, 0} end
local running = redis.call('ZCARD', KEYS[1])
if place < tonumber(ARGV[2]) - running then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
  keep()
  return {1, running + 1}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[1])
keep()
return {0, place + 1}
"""
)

# ARGV[1]: ticket. Takes it out of the running and the waiting alike.
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# ARGV[1]: ticket, ARGV[2]: ms from now its lease lasts (only a lease still held is renewed).
_EXPECT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return renewed
"""


class RedisLoad:
    """Admission shared by every process through one Redis, reached from one event loop."""

    def __init__(self, url: str, prefix: str, fallback: Admission) -> None:
        self.url = url
        self.prefix = prefix
        self.client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
        self._admit = self.client.register_script(_ADMIT)
        self._poll = self.client.register_script(_POLL)
        self._release = self.client.register_script(_RELEASE)
        self._expect = self.client.register_script(_EXPECT)
        self.fallback = fallback
        # This process's own share, for its stats: model → [running, waiting].
        self.counts: dict[str, list[int]] = {}
        self._last_warning = -WARN_EVERY_S

    def keys(self, model: str) -> list[str]:
        base = f"{self.prefix}:load:{model}:"
        return [base + "running", base + "queue", base + "heartbeats", base + "sequence"]

    async def admit(self, model: str, limit: LoadLimit) -> Ticket:
        lease = uuid.uuid4().hex
        keys = self.keys(model)
        args = [lease, limit.max_concurrency, limit.queue_size, _ms(LEASE_S), _ms(LEASE_S * 2), _ms(HEARTBEAT_S)]
        try:
            async with asyncio.timeout(TIMEOUT_S):
                status, figure = await self._admit(keys, args)
        except (RedisError, OSError) as error:
            self._warn(error)
            return await self.fallback.admit(model, limit)
        if status == -1:
            raise Overloaded(limit, figure / 1000.0 - LEASE_MARGIN_S)
        counts = self.counts.setdefault(model, [0, 0])
        queued_at = time.monotonic()
        if status == 0:
            counts[1] += 1
            try:
                status, figure = await self._wait(keys, args, limit)
            except (RedisError, OSError) as error:  # Redis went away while this request waited
                self._forget(lease, keys)
                self._warn(error)
                return await self.fallback.admit(model, limit)
            except BaseException:
                self._forget(lease, keys)  # cancelled (the client left), or overloaded
                raise
            finally:
                counts[1] -= 1
        counts[0] += 1
        return Ticket(model, stretch(limit, figure), time.monotonic() - queued_at, lease=lease)

    async def _wait(self, keys: list[str], args: list[Any], limit: LoadLimit) -> tuple[int, int]:
        while True:
            await asyncio.sleep(POLL_S)
            async with asyncio.timeout(TIMEOUT_S):
                status, figure = await self._poll(keys, args)
            if status == 1:
                return status, figure
            if status == -2:  # lost its place (silent too long: this loop was stalled)
                async with asyncio.timeout(TIMEOUT_S):
                    status, figure = await self._admit(keys, args)
                if status == 1:
                    return status, figure
                if status == -1:
                    raise Overloaded(limit, figure / 1000.0 - LEASE_MARGIN_S)

    def expect(self, ticket: Ticket, ends_at: float) -> None:
        lasts_ms = _ms(max(0.0, ends_at - time.monotonic()) + LEASE_MARGIN_S)
        _in_background(self._expect(self.keys(ticket.model)[:1], [ticket.lease, lasts_ms]))

    def release(self, ticket: Ticket) -> None:
        counts = self.counts.get(ticket.model)
        if counts is not None:
            counts[0] -= 1
            if counts == [0, 0]:
                del self.counts[ticket.model]
        self._forget(ticket.lease, self.keys(ticket.model))

    def gauges(self) -> dict[str, tuple[int, int]]:
        return {model: (running, waiting) for model, (running, waiting) in list(self.counts.items())}

    def _forget(self, lease: str, keys: list[str]) -> None:
        _in_background(self._release(keys[:3], [lease]))

    def _warn(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            logger.warning("Redis is unavailable for shared load (%r): this process admits on its own counts", error)
            self._last_warning = now


_background: set[asyncio.Task] = set()


def _in_background(work: Any) -> None:
    async def quietly() -> None:
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await work
        except (RedisError, OSError) as error:  # the lease expires on its own
            logger.debug("shared load update failed: %r", error)

    task = asyncio.get_running_loop().create_task(quietly())
    _background.add(task)  # the loop holds tasks weakly
    task.add_done_callback(_background.discard)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


# This process's admission; with shared load, the running loop's Redis store (connections
# belong to the loop that opened them).
local = Admission()
_stores: dict[asyncio.AbstractEventLoop, RedisLoad] = {}
_shared_url = ""


@receiver(setting_changed)
def _settings_changed(setting: str = "", **kwargs: Any) -> None:
    global _shared_url
    if setting in ("REDIS_URL", "LLMSIM_LOAD_SHARED", ""):
        shared = getattr(settings, "LLMSIM_LOAD_SHARED", False)
        _shared_url = (getattr(settings, "REDIS_URL", "") or "") if shared else ""


def store() -> Admission | RedisLoad:
    """Where this request's load is counted."""
    if not _shared_url:
        return local
    loop = asyncio.get_running_loop()
    found = _stores.get(loop)
    if found is None or found.url != _shared_url or found.prefix != settings.LLMSIM_REDIS_PREFIX:
        for closed in [other for other in list(_stores) if other.is_closed()]:
            del _stores[closed]
        found = _stores[loop] = RedisLoad(_shared_url, settings.LLMSIM_REDIS_PREFIX, local)
    return found


def admit_at_once(model: str, limit: LoadLimit) -> Ticket | None:
    """A slot without waiting, where one is free in this process; None: await admit()."""
    return None if _shared_url else local.admit_at_once(model, limit)


async def admit(model: str, limit: LoadLimit) -> Ticket:
    """A slot for an answer of `model` (see engine.load.Admission.admit)."""
    return await store().admit(model, limit)


def expect(ticket: Ticket, ends_at: float) -> None:
    (local if not ticket.lease else store()).expect(ticket, ends_at)


def release(ticket: Ticket) -> None:
    """Give the ticket's slot back (once; later calls do nothing)."""
    if ticket.released:
        return
    if not ticket.lease:
        local.release(ticket)
        return
    ticket.released = True
    store().release(ticket)


def gauges() -> dict[str, tuple[int, int]]:
    """Running and waiting answers per model, of this process (the stats add the processes up)."""
    found = local.gauges()
    for shared in list(_stores.values()):  # the stats publisher's thread reads them too
        for model, (running, waiting) in shared.gauges().items():
            old = found.get(model, (0, 0))
            found[model] = (old[0] + running, old[1] + waiting)
    return found


_settings_changed()
