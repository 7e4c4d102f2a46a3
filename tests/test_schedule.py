"""The streaming scheduler (simulator.engine.schedule), on a real event loop.

The machine is shared: deadlines are asserted exactly on the early side (the
scheduler must never release a step before it is due) and loosely on the late side.
"""

from __future__ import annotations

import asyncio
import time

from simulator.engine.schedule import due_steps, sleep_until

# How late a release may be on a busy machine before we call it a bug.
SLACK_S = 0.1


async def releases(offsets, block_s: dict[int, float] | None = None, start: float | None = None):
    """Run due_steps; return its (first, end) ranges and when each was received, from start."""
    start = time.monotonic() if start is None else start
    out = []
    async for first, end in due_steps(start, offsets):
        out.append((first, end, time.monotonic() - start))
        if block_s and first in block_s:
            time.sleep(block_s[first])  # a consumer that blocks the event loop
    return out


def covered(ranges) -> list[int]:
    return [i for first, end, _ in ranges for i in range(first, end)]


def test_it_releases_each_step_no_earlier_than_its_deadline():
    offsets = [0.0, 0.03, 0.06, 0.09, 0.12]
    ranges = asyncio.run(releases(offsets))

    assert covered(ranges) == list(range(len(offsets)))
    for first, end, at in ranges:
        assert at >= max(offsets[first:end])
        assert at < offsets[first] + SLACK_S


def test_it_waits_for_the_first_deadline():
    ranges = asyncio.run(releases([0.05, 0.05]))
    (first, end, at), *rest = ranges
    assert (first, end) == (0, 2)  # steps due together come together
    assert rest == []
    assert 0.05 <= at < 0.05 + SLACK_S


def test_it_coalesces_the_steps_that_fell_due_while_the_loop_was_blocked():
    offsets = [0.0, 0.02, 0.04, 0.06, 0.08, 0.3]
    ranges = asyncio.run(releases(offsets, block_s={0: 0.15}))

    assert ranges[0][:2] == (0, 1)
    first, end, at = ranges[1]
    # Everything due by the time the loop woke up comes in one go, not one per gap.
    assert (first, end) == (1, 5)
    assert 0.15 <= at < 0.15 + SLACK_S
    assert covered(ranges) == list(range(len(offsets)))


def test_it_does_not_drift_after_falling_behind():
    offsets = [0.02 * i for i in range(16)]  # 0 .. 0.30 s
    ranges = asyncio.run(releases(offsets, block_s={0: 0.15}))

    assert covered(ranges) == list(range(len(offsets)))
    # A scheduler sleeping one gap per step would finish at 0.15 + 0.30 s.
    assert offsets[-1] <= ranges[-1][2] < offsets[-1] + SLACK_S


def test_it_releases_everything_at_once_when_already_late():
    offsets = [0.0, 0.1, 0.2, 0.3]
    ranges = asyncio.run(releases(offsets, start=time.monotonic() - 10))
    assert [(first, end) for first, end, _ in ranges] == [(0, 4)]


def test_it_follows_the_clock_it_is_given():
    # A clock running 1000 s ahead of the start: every deadline has passed.
    offsets = [1.0, 2.0, 500.0, 2000.0]

    async def run():
        def clock() -> float:
            return time.monotonic() + 1000

        async for first_range in due_steps(time.monotonic(), offsets, clock=clock):
            return first_range

    assert asyncio.run(run()) == (0, 3)


def test_it_yields_nothing_for_no_steps():
    assert asyncio.run(releases([])) == []


def test_it_sleeps_until_a_future_deadline():
    async def run():
        deadline = time.monotonic() + 0.05
        await sleep_until(deadline)
        return time.monotonic() - deadline

    late_by = asyncio.run(run())
    assert 0 <= late_by < SLACK_S


def test_it_returns_at_once_for_a_past_deadline():
    async def run():
        began = time.monotonic()
        await sleep_until(began - 5)
        return time.monotonic() - began

    assert asyncio.run(run()) < 0.01
