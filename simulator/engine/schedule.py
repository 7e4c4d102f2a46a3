"""The streaming scheduler: release steps at their absolute deadlines.

Sleeping "one gap" per token accumulates every late wake-up into drift. Instead each
step has a deadline measured from the request's arrival; the scheduler wakes at the
next deadline and releases every step that is due, so a stream that fell behind
catches up in one write rather than drifting. `pacer().pace()` does this for every
stream of an event loop with one timer.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
import weakref
from bisect import bisect_right
from collections.abc import Callable, Coroutine, Sequence
from typing import Any


async def sleep_until(deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Sleep until `deadline` on `clock` (returns at once when it has passed)."""
    wait = deadline - clock()
    if wait > 0:
        await asyncio.sleep(wait)


# The granularity of event-loop timers (uvloop: one millisecond).
TIMER_RESOLUTION_S = 0.001


class Pacer:
    """One timer for every paced stream of an event loop, waking once per tick for all that are due.

    A task per stream that sleeps until each token is due pays, per token, for a
    timer, a future and a task step that resumes its whole chain of coroutines. The
    pacer files each stream under the timer tick (a millisecond) its next step is due
    in: streams started together with the same pace share their ticks, so a thousand of
    them cost one heap entry and one wake-up per tick, not a thousand. It drives each
    stream's write itself: a write that completes at once (the usual case) costs no task
    step at all; one that waits (a client reading slowly) is resumed when its future is
    done, and the stream's later steps wait for it, going out together when it completes.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float] = time.monotonic) -> None:
        self._loop = loop
        self._clock = clock
        self._due: dict[int, list[_PacedStream]] = {}  # tick -> the streams with a step due in it
        self._ticks: list[int] = []  # the keys of _due, as a heap: the soonest first
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: int | None = None

    def pace(
        self,
        start: float,
        offsets: Sequence[float],
        emit: Callable[[int, int], Coroutine[Any, Any, None]],
    ) -> asyncio.Future[None]:
        """Run `emit(first, end)` for each range of due steps; the future resolves after the last.

        `start` is the arrival time on the pacer's clock, `offsets[i]` step i's deadline
        in seconds after it. Cancelling the future stops the stream.
        """
        stream = _PacedStream(start, offsets, emit, self._loop.create_future())
        if offsets:
            self._schedule(stream)
        else:
            stream.done.set_result(None)
        return stream.done

    def _schedule(self, stream: _PacedStream, not_before: int = 0) -> None:
        # The tick that ends at or after the deadline: a step never goes out before it is due.
        tick = max(math.ceil((stream.start + stream.offsets[stream.next]) / TIMER_RESOLUTION_S), not_before)
        streams = self._due.get(tick)
        if streams is not None:
            streams.append(stream)
            return
        self._due[tick] = [stream]
        heapq.heappush(self._ticks, tick)
        if self._timer_tick is None or tick < self._timer_tick:
            self._arm(tick)

    def _arm(self, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_tick = tick
        self._timer = self._loop.call_later(max(tick * TIMER_RESOLUTION_S - self._clock(), 0.0), self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_tick = None, None
        ticks = self._ticks
        # uvloop's timers count whole milliseconds and may fire up to one early; what is
        # due within that goes out now instead of being spun on until the exact instant.
        horizon = self._clock() + TIMER_RESOLUTION_S
        last_tick = math.floor(horizon / TIMER_RESOLUTION_S)
        while ticks and ticks[0] <= last_tick:
            for stream in self._due.pop(heapq.heappop(ticks)):
                if not stream.done.done():
                    self._emit(stream, horizon)
        if ticks:
            self._arm(ticks[0])

    def _emit(self, stream: _PacedStream, horizon: float) -> None:
        end = bisect_right(stream.offsets, horizon - stream.start, stream.next)
        if end == stream.next:  # rounding put it a hair early: the next tick, not this one again
            self._schedule(stream, math.floor(horizon / TIMER_RESOLUTION_S) + 1)
            return
        first, stream.next = stream.next, end
        self._drive(stream, stream.emit(first, end))

    def _drive(self, stream: _PacedStream, write: Coroutine[Any, Any, None]) -> None:
        """Step the write coroutine as a task would, without being one."""
        try:
            waiting_on = write.send(None)
        except StopIteration:
            self._written(stream)
            return
        except asyncio.CancelledError:
            stream.done.cancel()
            return
        except Exception as exc:  # handed to whoever awaits the stream
            if not stream.done.done():
                stream.done.set_exception(exc)
            return
        if waiting_on is None:  # a bare yield (asyncio.sleep(0)): resume on the next turn
            self._loop.call_soon(self._drive, stream, write)
            return
        # The write waits on a future (flow control): resume it when that is done, as a
        # task would (which is also what the future's __await__ expects).
        waiting_on._asyncio_future_blocking = False
        waiting_on.add_done_callback(lambda _: self._drive(stream, write))

    def _written(self, stream: _PacedStream) -> None:
        if stream.done.done():
            return
        if stream.next >= len(stream.offsets):
            stream.done.set_result(None)
        else:
            self._schedule(stream)


class _PacedStream:
    __slots__ = ("done", "emit", "next", "offsets", "start")

    def __init__(
        self,
        start: float,
        offsets: Sequence[float],
        emit: Callable[[int, int], Coroutine[Any, Any, None]],
        done: asyncio.Future[None],
    ) -> None:
        self.start = start
        self.offsets = offsets
        self.emit = emit
        self.done = done
        self.next = 0


_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


def pacer() -> Pacer:
    """The running event loop's pacer."""
    loop = asyncio.get_running_loop()
    found = _pacers.get(loop)
    if found is None:
        found = _pacers[loop] = Pacer(loop)
    return found
