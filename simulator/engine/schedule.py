"""The streaming scheduler: release steps at their absolute deadlines.

Sleeping "one gap" per token accumulates every late wake-up into drift. Instead each
step has a deadline measured from the request's arrival; the scheduler sleeps until
the next deadline and then releases every step that is due, so an event loop that
fell behind catches up in one write rather than drifting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence


async def due_steps(
    start: float,
    offsets: Sequence[float],
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[tuple[int, int]]:
    """Yield `(first, end)` index ranges of the steps due, each as soon as it is due.

    `start` is the arrival time on `clock`; `offsets[i]` is step i's deadline in
    seconds after `start` (non-decreasing).
    """
    count = len(offsets)
    first = 0
    while first < count:
        now = clock()
        wait = start + offsets[first] - now
        if wait > 0:
            await asyncio.sleep(wait)
            now = clock()
        elapsed = now - start
        end = first
        while end < count and offsets[end] <= elapsed:
            end += 1
        if end == first:
            # Woke a hair early (timer granularity): sleep again for the remainder.
            continue
        yield first, end
        first = end


async def sleep_until(deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Sleep until `deadline` on `clock` (returns at once when it has passed)."""
    wait = deadline - clock()
    if wait > 0:
        await asyncio.sleep(wait)
