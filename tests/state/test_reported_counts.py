"""The reported limits' counts on their way to Redis (simulator.state.reported_counts), against a fake store."""

from __future__ import annotations

import asyncio
import time

from simulator.engine.ratelimit import LocalBuckets, RateLimit
from simulator.state.reported_counts import SYNC_S, Batched, CountBatches, Levels

LIMIT = RateLimit(100, 10_000)


class FakeStore:
    """A shared store whose levels others have drawn on, recording what it is sent."""

    def __init__(self, requests_left: float = 90.0, tokens_left: float = 9_000.0) -> None:
        self.levels = Levels(requests_left, tokens_left)
        self.sent: list[tuple[object, float, float]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.down = False

    async def drain(self, counted: Batched) -> Levels | None:
        self.sent.append((counted.key, counted.requests, counted.tokens))
        await self.release.wait()
        if self.down:
            return None
        self.levels = Levels(self.levels.requests - counted.requests, self.levels.tokens - counted.tokens)
        return self.levels


def left(buckets: LocalBuckets, key: str = "k") -> tuple[int, int]:
    state = buckets.take(key, LIMIT, 0, time.monotonic(), refuse=False)
    return state.remaining_requests + 1, state.remaining_tokens  # before this look took its request


def test_a_batch_sends_each_buckets_sum_once_and_brings_back_the_shared_levels():
    async def main():
        buckets, store = LocalBuckets(), FakeStore()
        batches = CountBatches(buckets, store.drain, follow_s=SYNC_S * 2)
        for _ in range(3):
            buckets.take("k", LIMIT, 100, time.monotonic(), refuse=False)
            batches.add("k", LIMIT, 1, 100)
        batches.add("k", LIMIT, 0, -40)  # a settlement gave 40 back
        await asyncio.sleep(SYNC_S * 5)
        return buckets, store, batches

    buckets, store, batches = asyncio.run(main())
    # The sum once, then the bucket followed for a while (nothing sent, the shared level learnt).
    assert store.sent == [("k", 3, 260), ("k", 0, 0)]
    requests, tokens = left(buckets)
    # The store's 90 and 9,000, less what was sent, and the refill since (a loose clock).
    assert requests in (87, 88)
    assert 8_740 <= tokens < 8_900
    assert batches.sender is None and not batches.counted  # followed no more: no task left behind


def test_a_followed_bucket_learns_what_the_others_took():
    async def main():
        buckets, store = LocalBuckets(), FakeStore()
        batches = CountBatches(buckets, store.drain)
        buckets.take("k", LIMIT, 100, time.monotonic(), refuse=False)
        batches.add("k", LIMIT, 1, 100)
        await asyncio.sleep(SYNC_S * 1.5)
        store.levels = Levels(50.0, 5_000.0)  # the other processes took a lot meanwhile
        await asyncio.sleep(SYNC_S * 2)
        batches.clear()
        return buckets

    assert left(asyncio.run(main()))[0] in (50, 51)


def test_what_is_counted_while_a_batch_is_on_its_way_is_kept():
    async def main():
        buckets, store = LocalBuckets(), FakeStore()
        store.release.clear()
        batches = CountBatches(buckets, store.drain, follow_s=SYNC_S)
        batches.add("k", LIMIT, 1, 100)
        await asyncio.sleep(SYNC_S * 1.5)  # the batch is sent and waits for its answer
        buckets.take("k", LIMIT, 100, time.monotonic(), refuse=False)
        batches.add("k", LIMIT, 1, 100)  # counted meanwhile: not in the store's answer
        store.release.set()
        await asyncio.sleep(SYNC_S * 3)
        return buckets, store

    buckets, store = asyncio.run(main())
    assert store.sent[:2] == [("k", 1, 100), ("k", 1, 100)]
    assert left(buckets)[0] in (88, 89)  # 90 - 1 - 1: both, once each (and a loose clock's refill)


def test_while_the_store_is_away_the_process_counts_alone():
    async def main():
        buckets, store = LocalBuckets(), FakeStore()
        store.down = True
        batches = CountBatches(buckets, store.drain, follow_s=SYNC_S)
        for _ in range(2):
            buckets.take("k", LIMIT, 100, time.monotonic(), refuse=False)
            batches.add("k", LIMIT, 1, 100)
        await asyncio.sleep(SYNC_S * 3)
        return buckets

    assert left(asyncio.run(main()))[0] == 98  # its own two, not the store's 90


def test_clear_forgets_what_was_not_sent():
    async def main():
        store = FakeStore()
        batches = CountBatches(LocalBuckets(), store.drain)
        batches.add("k", LIMIT, 1, 100)
        batches.clear()
        await asyncio.sleep(SYNC_S * 2)
        return store

    assert asyncio.run(main()).sent == []
