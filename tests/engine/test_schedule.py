"""The streaming scheduler (simulator.engine.schedule), on a real event loop.

The machine is shared: deadlines are asserted exactly on the early side (a step may
go out at most one timer tick before it is due) and loosely on the late side.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from simulator.engine.schedule import TIMER_RESOLUTION_S, pacer, sleep_until

# How late a release may be on a busy machine before we call it a bug.
SLACK_S = 0.1


async def releases(offsets, block_s: dict[int, float] | None = None):
    """Pace one stream; return its (first, end) ranges and when each went out, from start."""
    start = time.monotonic()
    out = []

    async def emit(first, end):
        out.append((first, end, time.monotonic() - start))
        if block_s and first in block_s:
            time.sleep(block_s[first])  # a write that blocks the event loop

    await pacer().pace(start, offsets, emit)
    return out


def covered(ranges) -> list[int]:
    return [i for first, end, _ in ranges for i in range(first, end)]


def test_it_releases_each_step_no_earlier_than_its_deadline():
    offsets = [0.0, 0.03, 0.06, 0.09, 0.12]
    ranges = asyncio.run(releases(offsets))

    assert covered(ranges) == list(range(len(offsets)))
    for first, end, at in ranges:
        assert at >= max(offsets[first:end]) - TIMER_RESOLUTION_S
        assert at < offsets[first] + SLACK_S


def test_it_waits_for_the_first_deadline():
    ranges = asyncio.run(releases([0.05, 0.05]))
    (first, end, at), *rest = ranges
    assert (first, end) == (0, 2)  # steps due together come together
    assert rest == []
    assert 0.05 - TIMER_RESOLUTION_S <= at < 0.05 + SLACK_S


def test_it_coalesces_the_steps_that_fell_due_while_the_loop_was_blocked():
    offsets = [0.0, 0.02, 0.04, 0.06, 0.08, 0.3]
    ranges = asyncio.run(releases(offsets, block_s={0: 0.15}))

    assert ranges[0][:2] == (0, 1)
    first, end, at = ranges[1]
    # Everything due by the time the loop woke up comes in one go, not one per gap.
    assert (first, end) == (1, 5)
    assert 0.15 <= at < 0.15 + SLACK_S
    assert covered(ranges) == list(range(len(offsets)))
    # ...and the schedule does not drift: the last step is still due at 0.3 s.
    assert 0.3 - TIMER_RESOLUTION_S <= ranges[-1][2] < 0.3 + SLACK_S


def test_no_steps_resolve_at_once():
    async def main():
        return await asyncio.wait_for(pacer().pace(time.monotonic(), [], None), 1)

    assert asyncio.run(main()) is None


def test_many_streams_share_one_pacer_and_each_keeps_its_schedule():
    async def main():
        start = time.monotonic()
        seen: dict[int, list[float]] = {i: [] for i in range(50)}

        def emitter(stream):
            async def emit(first, end):
                seen[stream].extend([time.monotonic() - start] * (end - first))

            return emit

        futures = [pacer().pace(start, [0.01 * i + 0.001 * s for i in range(10)], emitter(s)) for s in range(50)]
        await asyncio.gather(*futures)
        return seen

    seen = asyncio.run(main())
    for stream, times in seen.items():
        assert len(times) == 10
        assert times[-1] >= 0.09 + 0.001 * stream - TIMER_RESOLUTION_S


def test_cancelling_the_future_stops_the_stream():
    async def main():
        start = time.monotonic()
        out = []

        async def emit(first, end):
            out.append(first)

        # Steps 2 and 3 due long after the cancel, so that a loaded machine's late wake-up
        # from the 70 ms sleep does not find them due already.
        future = pacer().pace(start, [0.0, 0.05, 0.5, 0.55], emit)
        await asyncio.sleep(0.07)
        future.cancel()
        await asyncio.sleep(0.6)
        return out

    assert asyncio.run(main()) == [0, 1]


def test_a_write_that_waits_holds_back_later_steps_which_then_go_out_together():
    async def main():
        start = time.monotonic()
        out = []
        gate = asyncio.get_running_loop().create_future()

        async def emit(first, end):
            out.append((first, end))
            if first == 0:
                await gate  # a client that stopped reading: the write waits on flow control

        # Step 3 is due well after the gate opens: on a loaded machine the 50 ms sleep can
        # run long, and a step 3 due at 60 ms had fallen due too (it failed so under CI).
        future = pacer().pace(start, [0.0, 0.02, 0.04, 0.5], emit)
        await asyncio.sleep(0.05)
        assert out == [(0, 1)]
        gate.set_result(None)
        await asyncio.wait_for(future, 5)
        return out

    out = asyncio.run(main())
    assert out[0] == (0, 1)
    assert out[1] == (1, 3)  # steps 1 and 2 fell due while the write waited
    assert [i for first, end in out for i in range(first, end)] == [0, 1, 2, 3]


def test_an_error_in_a_write_reaches_whoever_awaits_the_stream():
    async def main():
        async def emit(first, end):
            raise ConnectionResetError("client gone")

        await pacer().pace(time.monotonic(), [0.0, 0.01], emit)

    with pytest.raises(ConnectionResetError):
        asyncio.run(main())


def test_sleep_until_waits_for_the_deadline():
    async def main():
        began = time.monotonic()
        await sleep_until(began + 0.05)
        return time.monotonic() - began

    assert 0.05 <= asyncio.run(main()) < 0.05 + SLACK_S


def test_sleep_until_returns_at_once_for_a_past_deadline():
    async def main():
        began = time.monotonic()
        await sleep_until(began - 5)
        return time.monotonic() - began

    assert asyncio.run(main()) < 0.02
