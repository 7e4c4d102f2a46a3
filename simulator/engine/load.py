"""Load: how many answers of one model run at once, how they slow each other down, and
who waits or is turned away.

A model profile with a LoadLimit runs at most `max_concurrency` of its answers at once.
Each answer's time between tokens (and its prefill) is stretched by the number running
when it was admitted (`stretch`): x1 alone, x`load_factor` at full capacity, linear
between. The stretch is decided once, at admission, and kept for the whole answer even
as others start or finish: a simplification (a real server's speed changes as its batch
does) that keeps a stream's schedule fixed when it is planned.

Past capacity, requests wait in a FIFO queue of `queue_size` places (their time to first
token grows by the wait); past that they are Overloaded, with a retry-after of the time
until the soonest running answer is due to end (at least 1 s).

    admission = Admission()
    ticket = await admission.admit("gpt-5", limit)   # or raises Overloaded
    ...plan with ticket.stretch, ttft += ticket.waited_s; admission.expect(ticket, end)...
    admission.release(ticket)                        # exactly once, however the answer ended
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

# The shortest retry-after an overload answer carries.
MIN_RETRY_AFTER_S = 1.0
OVERLOAD_STATUSES = (503, 429)  # OpenAI answers an overload with one of these (the profile's choice)


@dataclass(frozen=True, slots=True)
class LoadLimit:
    """A model's capacity: answers at once, their slowdown at full load, the queue behind them."""

    max_concurrency: int
    load_factor: float = 1.0
    queue_size: int = 0
    # What OpenAI's routes answer an overload with: 503 (the engine is overloaded) or 429.
    overload_status: int = 503


def stretch(limit: LoadLimit, running: int) -> float:
    """How much slower each token comes with `running` answers of the model running (this one included)."""
    if limit.max_concurrency <= 1 or running <= 1:
        return 1.0
    share = (min(running, limit.max_concurrency) - 1) / (limit.max_concurrency - 1)
    return 1.0 + (limit.load_factor - 1.0) * share


class Overloaded(Exception):
    """The model runs at capacity and its queue is full: the provider's overload answer."""

    def __init__(self, limit: LoadLimit, retry_after_s: float) -> None:
        super().__init__(f"overloaded: {limit.max_concurrency} running, {limit.queue_size} waiting")
        self.limit = limit
        self.retry_after_s = max(MIN_RETRY_AFTER_S, retry_after_s)


@dataclass(eq=False, slots=True)
class Ticket:
    """One admitted answer: the slowdown it runs at, how long it queued, and what to release."""

    model: str
    stretch: float
    waited_s: float = 0.0
    # Set by the store that admitted it (the Redis store keeps its lease id here).
    lease: str = ""
    released: bool = False


@dataclass(slots=True)
class _ModelLoad:
    """One model's running answers (each with the time it is due to end) and its queue."""

    running: dict[Ticket, float] = field(default_factory=dict)
    waiting: deque[asyncio.Future[int]] = field(default_factory=deque)
    # Slots handed to woken waiters that have not resumed yet: nobody else may take them.
    promised: int = 0


class Admission:
    """The running answers and queues of this process, per model.

    A model's entry stays once made, idle or not: the models are the snapshot's
    profiles, few, and one that answers a request at a time would otherwise remake
    its entry for each.
    """

    def __init__(self) -> None:
        self._models: dict[str, _ModelLoad] = {}

    def admit_at_once(self, model: str, limit: LoadLimit) -> Ticket | None:
        """A slot if one is free and nobody waits for it; else None (then await admit())."""
        load = self._models.get(model)
        if load is None:
            load = self._models[model] = _ModelLoad()
        elif len(load.running) + load.promised >= limit.max_concurrency or load.waiting:
            return None
        return self._start(load, model, limit, 0.0)

    async def admit(self, model: str, limit: LoadLimit) -> Ticket:
        """A slot for an answer of `model`, at once or after a wait in the queue; Overloaded when both are full.

        A waiter that is cancelled (its client left) gives up its place in the queue.
        """
        load = self._models.get(model)
        if load is None:
            load = self._models[model] = _ModelLoad()
        if len(load.running) + load.promised < limit.max_concurrency and not load.waiting:
            return self._start(load, model, limit, 0.0)
        if len(load.waiting) >= limit.queue_size:
            raise Overloaded(limit, self._soonest_end(load))
        queued_at = time.monotonic()
        place: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        load.waiting.append(place)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                # The slot was handed over as the waiter was cancelled: pass it on.
                load.promised -= 1
                self._hand_over(load)
            else:
                load.waiting.remove(place)
            raise
        load.promised -= 1
        return self._start(load, model, limit, time.monotonic() - queued_at)

    def expect(self, ticket: Ticket, ends_at: float) -> None:
        """When the admitted answer is due to end (time.monotonic()): what retry-after is counted from."""
        load = self._models.get(ticket.model)
        if load is not None and ticket in load.running:
            load.running[ticket] = ends_at

    def release(self, ticket: Ticket) -> None:
        """The answer is over (complete, failed or abandoned): its slot goes to the first waiter."""
        if ticket.released:
            return
        ticket.released = True
        load = self._models.get(ticket.model)
        if load is None or load.running.pop(ticket, None) is None:
            return
        self._hand_over(load)

    def gauges(self) -> dict[str, tuple[int, int]]:
        """Running and waiting answers per model (models with neither are left out).

        Safe to call from another thread (the stats publisher): it iterates a copy.
        """
        return {
            model: (len(load.running) + load.promised, len(load.waiting))
            for model, load in list(self._models.items())
            if load.running or load.waiting or load.promised
        }

    def _start(self, load: _ModelLoad, model: str, limit: LoadLimit, waited_s: float) -> Ticket:
        ticket = Ticket(model, 1.0, waited_s)
        load.running[ticket] = time.monotonic()  # until expect() says when it ends
        ticket.stretch = stretch(limit, len(load.running))
        return ticket

    def _hand_over(self, load: _ModelLoad) -> None:
        """Wake the first waiter still waiting."""
        while load.waiting:
            place = load.waiting.popleft()
            if not place.done():
                place.set_result(0)
                load.promised += 1
                return

    @staticmethod
    def _soonest_end(load: _ModelLoad) -> float:
        if not load.running:
            return MIN_RETRY_AFTER_S
        return min(load.running.values()) - time.monotonic()
