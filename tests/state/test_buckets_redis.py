"""Rate-limit buckets in Redis (simulator.state.buckets with REDIS_URL): the engine's semantics,
atomic across concurrent callers and processes, and failing open when Redis is away.

Against the real Redis of tests/services.py, under a key prefix of this run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import subprocess
import sys
import time

import pytest
import redis

from simulator.engine.ratelimit import UNLIMITED_STATE, RateLimit, RateLimited
from simulator.state import buckets, reported_counts
from simulator.state import sequences as shared_sequences
from tests.conftest import ROOT, free_port
from tests.services import redis_url, unique_prefix

API_KEY = "sk-test-secret"
KEY = buckets.bucket_key("default", API_KEY, "gpt-4o")


def run(main):
    """Run `main()` on a fresh event loop, closing the loop's Redis connection afterwards."""

    async def wrapped():
        try:
            return await main()
        finally:
            await buckets.close()

    return asyncio.run(wrapped())


def acquire(limit: RateLimit, tokens: int, key: str = KEY):
    return run(lambda: buckets.acquire(key, limit, tokens))


def refused(limit: RateLimit, tokens: int) -> RateLimited:
    with pytest.raises(RateLimited) as excinfo:
        acquire(limit, tokens)
    return excinfo.value


@pytest.fixture
def shared(settings):
    """Buckets in the test Redis, under a prefix no other run sees; returns that prefix."""
    settings.REDIS_URL = redis_url()
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()
    yield settings.LLMSIM_REDIS_PREFIX
    run(buckets.reset)


@pytest.fixture
def store(shared):
    """A plain client on the test Redis, to look at what the buckets wrote."""
    with redis.Redis.from_url(redis_url()) as client:
        yield client


def test_a_new_bucket_is_full_and_the_state_says_what_is_left(shared):
    state = acquire(RateLimit(10, 1000), 100)
    assert (state.limit_requests, state.remaining_requests) == (10, 9)
    assert (state.limit_tokens, state.remaining_tokens) == (1000, 900)
    assert state.reset_requests_s == pytest.approx(6.0, abs=0.05)
    assert state.reset_tokens_s == pytest.approx(6.0, abs=0.05)


def test_a_refused_request_takes_nothing_and_says_when_to_retry(shared):
    limit = RateLimit(2, 100)
    acquire(limit, 80)
    error = refused(limit, 50)
    assert (error.which, error.limit, error.used, error.requested) == ("tokens", 100, 80, 50)
    assert error.retry_after_s == pytest.approx(30 * 60 / 100, abs=0.05)
    state = acquire(limit, 20)  # the refused request spent neither its request nor tokens
    assert (state.remaining_requests, state.remaining_tokens) == (0, 0)
    error = refused(limit, 0)
    assert (error.which, error.limit, error.used, error.requested) == ("requests", 2, 2, 1)
    assert error.retry_after_s == pytest.approx(30.0, abs=0.05)
    assert error.state.remaining_requests == 0


def test_a_request_larger_than_the_limit_can_never_be_retried(shared):
    error = refused(RateLimit(tokens_per_minute=1000), 1001)
    assert (error.which, error.retry_after_s) == ("tokens", None)


def test_buckets_refill_with_time(shared):
    limit = RateLimit(tokens_per_minute=6000)  # 100 tokens a second
    acquire(limit, 6000)
    time.sleep(0.3)
    assert acquire(limit, 20).remaining_tokens >= 10


def test_settle_gives_back_what_the_answer_did_not_use_and_takes_any_excess(shared):
    limit = RateLimit(tokens_per_minute=1000)
    acquire(limit, 600)
    run(lambda: buckets.settle(KEY, limit, reserved=600, actual=150))
    assert acquire(limit, 0).remaining_tokens == 850
    run(lambda: buckets.settle(KEY, limit, reserved=0, actual=5000))
    assert acquire(limit, 0).remaining_tokens == 0


def test_settle_never_fills_a_bucket_past_its_limit(shared):
    limit = RateLimit(tokens_per_minute=1000)
    acquire(limit, 10)
    run(lambda: buckets.settle(KEY, limit, reserved=600, actual=0))
    assert acquire(limit, 0).remaining_tokens == 1000


def test_settle_on_a_forgotten_bucket_writes_nothing(shared, store):
    run(lambda: buckets.settle(KEY, RateLimit(tokens_per_minute=1000), reserved=500, actual=100))
    assert store.keys(f"{shared}:*") == []


def test_unlimited_axes_are_not_counted(shared, store):
    assert acquire(RateLimit(), 10**9) is UNLIMITED_STATE
    assert store.keys(f"{shared}:*") == []
    state = acquire(RateLimit(requests_per_minute=2), 10**9)
    assert (state.remaining_requests, state.limit_tokens, state.remaining_tokens) == (1, None, None)
    # A tokens limit set later starts full.
    assert acquire(RateLimit(tokens_per_minute=100), 40).remaining_tokens == 60


def test_a_bucket_is_one_hash_that_expires_once_it_would_be_full(shared, store):
    acquire(RateLimit(10, 1000), 100)
    (name,) = store.keys(f"{shared}:*")
    assert name.decode() == f"{shared}:ratelimit:{KEY}"
    assert API_KEY not in name.decode()
    assert store.type(name) == b"hash"
    assert 0 < store.pttl(name) <= 60_000


def test_reset_forgets_our_buckets_only(shared, store):
    neighbour = f"{unique_prefix()}:ratelimit:default:x:gpt-4o"
    store.hset(neighbour, "r", 0)
    try:
        limit = RateLimit(requests_per_minute=1)
        acquire(limit, 0, key="a")
        acquire(limit, 0, key="b")
        assert run(buckets.reset) == 2
        assert store.keys(f"{shared}:*") == []
        assert acquire(limit, 0, key="a").remaining_requests == 0
        assert store.exists(neighbour)
    finally:
        store.delete(neighbour)


@pytest.mark.parametrize(
    ("limit", "tokens", "budget"),
    [(RateLimit(requests_per_minute=100), 0, 100), (RateLimit(tokens_per_minute=1000), 7, 142)],
    ids=["requests", "tokens"],
)
def test_concurrent_requests_never_overshoot_the_budget(shared, limit, tokens, budget):
    async def burst():
        async def one():
            try:
                await buckets.acquire(KEY, limit, tokens)
                return True
            except RateLimited:
                return False

        started = time.monotonic()
        results = await asyncio.gather(*(one() for _ in range(400)))
        return sum(results), time.monotonic() - started

    granted, elapsed_s = run(burst)
    # What refilled during the burst may be granted too.
    assert budget <= granted <= budget + refilled_requests(limit, tokens, elapsed_s)


def refilled_requests(limit: RateLimit, tokens: int, elapsed_s: float) -> int:
    """How many more requests a budget admits after `elapsed_s` of refill."""
    if limit.requests_per_minute is not None:
        return math.ceil(elapsed_s * limit.requests_per_minute / 60)
    return math.ceil(elapsed_s * limit.tokens_per_minute / 60 / tokens)


def test_it_reconnects_after_losing_its_connection(shared, store):
    limit = RateLimit(requests_per_minute=10)

    async def scenario():
        await buckets.acquire(KEY, limit, 0)
        # Other runs' connections have the same name; killing them only makes them reconnect.
        ours = [client["id"] for client in store.client_list() if client["name"] == buckets.CLIENT_NAME]
        assert ours
        for client_id in ours:
            store.client_kill_filter(_id=client_id)
        await asyncio.sleep(0.1)  # the reader sees the connection close
        return await buckets.acquire(KEY, limit, 0)

    assert run(scenario).remaining_requests == 8  # a real answer from Redis, not a fail-open guess


def test_it_loads_its_scripts_again_after_a_script_flush(shared, store):
    limit = RateLimit(requests_per_minute=10)

    async def scenario():
        await buckets.acquire(KEY, limit, 0)
        # Harmless to other users of this Redis: EVALSHA callers load scripts again.
        store.script_flush()
        return await buckets.acquire(KEY, limit, 0)

    assert run(scenario).remaining_requests == 8


def test_it_lets_requests_through_when_redis_is_down(settings, caplog):
    settings.REDIS_URL = f"redis://:secret@127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()
    limit = RateLimit(requests_per_minute=1, tokens_per_minute=1000)

    async def scenario():
        started = time.monotonic()
        states = [await buckets.acquire(KEY, limit, 100) for _ in range(3)]
        await buckets.settle(KEY, limit, reserved=100, actual=10)
        return states, time.monotonic() - started

    with caplog.at_level(logging.WARNING, logger="simulator.state.buckets"):
        states, elapsed_s = run(scenario)
    # Figures of full buckets, for every request, although the limit is 1 a minute.
    assert [(s.remaining_requests, s.remaining_tokens) for s in states] == [(0, 900)] * 3
    assert elapsed_s < 1.0
    (record,) = caplog.records  # one warning, not one per request
    assert "unavailable" in record.getMessage()
    assert "secret" not in record.getMessage()


def test_it_lets_requests_through_when_redis_hangs(settings, monkeypatch, caplog):
    """A server that accepts connections and never answers: each request waits TIMEOUT_S at most."""
    monkeypatch.setattr(buckets, "TIMEOUT_S", 0.2)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        settings.LLMSIM_REDIS_PREFIX = unique_prefix()
        limit = RateLimit(requests_per_minute=1)

        async def scenario():
            started = time.monotonic()
            first = await buckets.acquire(KEY, limit, 0)
            waited_s = time.monotonic() - started
            second = await buckets.acquire(KEY, limit, 0)  # Redis is known down: no wait
            return first, second, waited_s, time.monotonic() - started - waited_s

        with caplog.at_level(logging.WARNING, logger="simulator.state.buckets"):
            first, second, waited_s, second_s = run(scenario)
    finally:
        listener.close()
    assert first.remaining_requests == second.remaining_requests == 0
    assert 0.15 < waited_s < 0.8
    assert second_s < 0.05
    assert len(caplog.records) == 1


# Run by each process of the two-process test: connect, say "ready", wait for "go" on
# stdin, hammer one key from an event loop of its own, and print what was granted.
WORKER = """
import asyncio, json, sys, time
import django
django.setup()
from simulator.state import buckets
from simulator.engine.ratelimit import RateLimit, RateLimited

rpm, tpm, tokens, attempts = json.loads(sys.argv[1])
limit = RateLimit(rpm, tpm)

async def main():
    await buckets.acquire("warm-up", RateLimit(10**6), 0)  # connected, scripts loaded
    print("ready", flush=True)
    sys.stdin.readline()
    granted = 0
    started = time.time()
    pending = iter(range(attempts))

    async def worker():
        nonlocal granted
        for _ in pending:
            try:
                await buckets.acquire("shared", limit, tokens)
                granted += 1
            except RateLimited:
                pass

    await asyncio.gather(*(worker() for _ in range(50)))
    print(json.dumps({"granted": granted, "started": started, "finished": time.time()}), flush=True)
    await buckets.close()

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("limit", "tokens", "budget"),
    [(RateLimit(requests_per_minute=300), 0, 300), (RateLimit(tokens_per_minute=3000), 10, 300)],
    ids=["requests", "tokens"],
)
def test_two_processes_share_one_budget(shared, limit, tokens, budget):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmsim_project.settings",
        "REDIS_URL": redis_url(),
        "LLMSIM_REDIS_PREFIX": shared,
    }
    arguments = json.dumps([limit.requests_per_minute, limit.tokens_per_minute, tokens, 400])
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, arguments],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n"
        for process in processes:  # both start together
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = [json.loads(process.stdout.readline()) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    granted = sum(report["granted"] for report in reports)
    elapsed_s = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    # One budget: 300 in all, not 300 each (plus what refilled while they ran).
    assert budget <= granted <= budget + refilled_requests(limit, tokens, elapsed_s), reports
    # They competed: each began before the other was done. (Which of them gets how much
    # is a race: a fast one may take the whole budget before the other's first request.)
    first_done = min(report["finished"] for report in reports)
    assert all(report["started"] < first_done for report in reports), reports


# --- reported limits: counted here, shared in batches (simulator.state.reported_counts) ----------


def test_reported_counts_reach_redis_in_a_batch_and_bring_back_the_shared_level(shared, store):
    limit = RateLimit(100, 10_000)
    key = ("default", f"sk-{unique_prefix()}", "gpt-4o")

    async def scenario():
        counted = [buckets.count(key, limit, 100, time.monotonic()) for _ in range(3)]
        # Another process takes 10 requests from the same bucket meanwhile.
        for _ in range(10):
            await buckets.acquire(buckets.bucket_key(*key), limit, 0)
        await asyncio.sleep(reported_counts.SYNC_S * 3)
        return counted, buckets.count(key, limit, 100, time.monotonic())

    counted, after = run(scenario)
    assert [state.remaining_requests for state in counted] == [99, 98, 97]  # at once, from this process's count
    assert store.exists(f"{shared}:ratelimit:{buckets.bucket_key(*key)}")
    # 100 - 3 - 10 - 1: the others' requests too (and a loose clock's refill)
    assert after.remaining_requests in (85, 86)


def test_reported_counts_never_wait_for_a_redis_that_is_down(settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()
    limit = RateLimit(3, None)
    key = ("default", f"sk-{unique_prefix()}", "gpt-4o")

    async def scenario():
        started = time.monotonic()
        counted = [buckets.count(key, limit, 0, time.monotonic()) for _ in range(5)]
        took_s = time.monotonic() - started
        await asyncio.sleep(reported_counts.SYNC_S * 3)
        return counted, took_s, buckets.count(key, limit, 0, time.monotonic())

    with caplog.at_level(logging.WARNING, logger="simulator.state.buckets"):
        counted, took_s, after = run(scenario)
    assert [state.remaining_requests for state in counted] == [2, 1, 0, 0, 0]
    assert took_s < 0.05 and after.remaining_requests == 0  # never refused, and counted in the process meanwhile
    assert any("unavailable" in record.message for record in caplog.records)


# --- shared sequence positions (simulator.state.sequences) ----------------------------


def test_sequence_positions_count_up_in_redis_and_reset_apart_from_the_buckets(shared, store):
    async def scenario():
        positions = [await shared_sequences.next_position("7:retry:h:abc") for _ in range(3)]
        other = await shared_sequences.next_position("7:retry:h:def")
        await buckets.acquire(KEY, RateLimit(10, None), 0)
        dropped = await shared_sequences.reset()
        after = await shared_sequences.next_position("7:retry:h:abc")
        return positions, other, dropped, after

    positions, other, dropped, after = run(scenario)
    assert positions == [0, 1, 2] and other == 0
    assert dropped == 2 and after == 0
    assert store.exists(f"{shared}:ratelimit:{KEY}")  # the bucket survived the sequences' reset
    assert 0 < store.pttl(f"{shared}:counter:7:retry:h:abc") <= buckets.COUNTER_TTL_S * 1000


def test_sequence_positions_fall_back_to_the_process_when_redis_is_down(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()
    assert run(lambda: shared_sequences.next_position("7:retry:h:abc")) is None
