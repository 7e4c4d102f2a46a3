"""Load shared through Redis (simulator.state.load with LLMSIM_LOAD_SHARED): two processes'
admissions share one capacity and one queue; a crashed holder's lease expires; a Redis that
is away leaves each process admitting on its own.

Against the real Redis of tests/services.py, under a key prefix of this run. Each RedisLoad
below has its own connection, as two server processes would.
"""

from __future__ import annotations

import asyncio

import pytest

from simulator.engine.load import Admission, LoadLimit, Overloaded
from simulator.state import load
from simulator.state.load import RedisLoad
from tests.conftest import free_port
from tests.services import redis_url, unique_prefix

LIMIT = LoadLimit(max_concurrency=2, load_factor=3.0, queue_size=1)


@pytest.fixture
def prefix() -> str:
    redis_url()  # skips without a test Redis
    return unique_prefix()


def two_processes(prefix: str) -> tuple[RedisLoad, RedisLoad]:
    url = redis_url()
    return RedisLoad(url, prefix, Admission()), RedisLoad(url, prefix, Admission())


async def closed(*stores: RedisLoad) -> None:
    await asyncio.sleep(0.05)  # the releases sent in the background
    for store in stores:
        await store.client.aclose()


def test_two_processes_share_one_capacity_and_one_queue(prefix):
    async def scenario():
        one, other = two_processes(prefix)
        first = await one.admit("m", LIMIT)
        second = await other.admit("m", LIMIT)  # the second running in the cluster: x3
        waiting = asyncio.create_task(one.admit("m", LIMIT))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded) as caught:
            await other.admit("m", LIMIT)
        gauges = (one.gauges(), other.gauges())
        other.release(second)  # another process's release lets this one's waiter in
        third = await asyncio.wait_for(waiting, 2)
        one.release(first)
        one.release(third)
        await closed(one, other)
        return first, second, third, caught.value, gauges

    first, second, third, overloaded, gauges = asyncio.run(scenario())
    assert (first.stretch, second.stretch) == (1.0, 3.0)
    assert third.waited_s >= 0.05 and third.stretch == 3.0
    assert overloaded.retry_after_s >= 1
    assert gauges == ({"m": (1, 1)}, {"m": (1, 0)})


def test_a_waiter_that_leaves_frees_its_place(prefix):
    async def scenario():
        one, other = two_processes(prefix)
        running = [await one.admit("m", LIMIT) for _ in range(2)]
        leaving = asyncio.create_task(other.admit("m", LIMIT))
        await asyncio.sleep(0.05)
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        await asyncio.sleep(0.05)
        staying = asyncio.create_task(other.admit("m", LIMIT))  # queued, not refused
        await asyncio.sleep(0.05)
        one.release(running[0])
        ticket = await asyncio.wait_for(staying, 2)
        for held in (running[1], ticket):
            (one if held in running else other).release(held)
        await closed(one, other)
        return ticket

    assert asyncio.run(scenario()).waited_s > 0


def test_the_lease_of_a_process_that_died_expires(prefix, monkeypatch):
    monkeypatch.setattr(load, "LEASE_S", 0.2)

    async def scenario():
        crashed, alive = two_processes(prefix)
        limit = LoadLimit(max_concurrency=1, queue_size=1)
        await crashed.admit("m", limit)  # never released
        ticket = await asyncio.wait_for(alive.admit("m", limit), 2)
        alive.release(ticket)
        await closed(crashed, alive)
        return ticket

    assert asyncio.run(scenario()).waited_s >= 0.1


def test_without_redis_a_process_admits_on_its_own_counts():
    async def scenario():
        away = RedisLoad(f"redis://127.0.0.1:{free_port()}/0", unique_prefix(), Admission())
        limit = LoadLimit(max_concurrency=1)
        ticket = await away.admit("m", limit)
        with pytest.raises(Overloaded):
            await away.admit("m", limit)
        await away.client.aclose()
        return ticket, away.fallback.gauges()

    ticket, gauges = asyncio.run(scenario())
    assert ticket.lease == "" and gauges == {"m": (1, 0)}


def test_the_setting_sends_admissions_to_redis(prefix, settings):
    settings.REDIS_URL = redis_url()
    settings.LLMSIM_REDIS_PREFIX = prefix
    settings.LLMSIM_LOAD_SHARED = True

    async def scenario():
        assert load.admit_at_once("m", LIMIT) is None  # no local shortcut: every admission asks Redis
        ticket = await load.admit("m", LIMIT)
        gauges = load.gauges()
        load.release(ticket)
        await asyncio.sleep(0.05)
        await load.store().client.aclose()
        return ticket, gauges

    ticket, gauges = asyncio.run(scenario())
    assert ticket.lease and gauges == {"m": (1, 0)}
