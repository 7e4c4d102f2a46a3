"""Resets that must reach every server process: rule sequence positions and in-memory rate limits.

Both live in each process's memory, so a reset made through one process (the management
API) would miss the others. A reset therefore bumps a counter in SnapshotVersion's row;
every process's snapshot poller (`simulator.state.snapshots.refresh`) hands the counters to
`catch_up()`, which resets what moved — within one poll interval. The process that took
the request resets at once and marks the new count as done, so its poller does not reset
a second time (which would undo the progress a test made meanwhile).

    reset_sequences()            # every process restarts every sequence
    await reset_rate_limits()    # every bucket refilled: Redis's, and each process's own
"""

from __future__ import annotations

import threading

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import F

from simulator.engine.rules import local_sequences
from simulator.models import SnapshotVersion
from simulator.state import buckets

_lock = threading.Lock()
# The counts this process has acted on; None until the first poll read them.
_done: dict[str, int | None] = {"sequence_resets": None, "rate_limit_resets": None}


def _reset_local(counter: str) -> None:
    if counter == "sequence_resets":
        local_sequences.reset()
    else:
        # Only the in-process buckets: Redis's are shared, and reset once by whoever asked.
        buckets.reset_in_process()


def catch_up(sequence_resets: int, rate_limit_resets: int) -> None:
    """Reset what another process asked for since the last poll (the first call only records)."""
    with _lock:
        for counter, value in (("sequence_resets", sequence_resets), ("rate_limit_resets", rate_limit_resets)):
            done = _done[counter]
            if done is not None and value != done:
                _reset_local(counter)
            _done[counter] = value


def _bump(counter: str, using: str = "default") -> int:
    """Add one to the counter in the database; returns the new count."""
    with transaction.atomic(using=using):
        rows = SnapshotVersion.objects.using(using)
        if not rows.filter(pk=1).update(**{counter: F(counter) + 1}):
            rows.get_or_create(pk=1, defaults={counter: 1})
        value = rows.filter(pk=1).values_list(counter, flat=True).get()
    with _lock:
        _reset_local(counter)
        _done[counter] = value
    return value


def reset_sequences(using: str = "default") -> int:
    """Restart every rule sequence in every process; returns the reset count."""
    return _bump("sequence_resets", using)


async def reset_rate_limits(using: str = "default") -> int:
    """Refill every rate-limit bucket: every process's and, with REDIS_URL, Redis's.

    Returns how many buckets Redis and this process forgot. Redis errors are raised
    (after the processes' own buckets were reset).
    """
    try:
        return await buckets.reset()  # this process's, and Redis's
    finally:
        await sync_to_async(_bump)("rate_limit_resets", using)  # the other processes'
