"""Keeping the Assistants API's tables bounded, as stored responses are (simulator/state/retention.py).

A load test creates assistants, threads, messages and runs by the thousand and seldom
deletes them. Each of the four tables keeps only its newest rows: LLMSIM_ASSISTANTS_RETAIN
assistants and as many threads, ten times as many messages and runs, and of each kind
at most LLMSIM_ASSISTANTS_RETAIN_BYTES by the rows' sizes. A pruned thread takes its
messages and runs along; a pruned message or run leaves its thread with the newer ones.

The Assistants routes count what they write (in their thread pool); once a tenth of a
limit has come in, one prune is queued on a thread of its own, so that no request waits
for it and two never run at once. Every process counts its own writes: with several,
a table holds at most its limits plus a tenth of them per process.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import connections, transaction

from simulator.models import Assistant, Run, Thread, ThreadMessage
from simulator.state import retention

ASSISTANTS = Assistant._meta.db_table
THREADS = Thread._meta.db_table
MESSAGES = ThreadMessage._meta.db_table
RUNS = Run._meta.db_table
# Messages and runs kept, per assistant or thread kept: a thread holds a few of each.
PER_THREAD = 10


class AssistantsRetention(retention.BackgroundPruner):
    """Prunes the four Assistants tables when enough rows have come in (retention.BackgroundPruner)."""

    what = "Assistants tables"

    def prune(self) -> dict[str, int]:
        """Delete the oldest rows past the limits; how many went, by table."""
        connection = connections[self.using]
        # The cutoffs are read first, outside the transaction: SQLite's writers wait for
        # it, and adding up sizes takes longer than the deletes.
        with connection.cursor() as cursor:
            threads = retention.cutoff(cursor, THREADS, self.retain, self.retain_bytes)
            messages = retention.cutoff(cursor, MESSAGES, self.retain * PER_THREAD, self.retain_bytes)
            runs = retention.cutoff(cursor, RUNS, self.retain * PER_THREAD, self.retain_bytes)
            assistants = retention.cutoff(cursor, ASSISTANTS, self.retain, self.retain_bytes)
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            # A thread's messages and runs go first: the database checks their foreign keys.
            deleted = {
                MESSAGES: retention.delete_through(cursor, MESSAGES, threads, "thread_id")
                + retention.delete_through(cursor, MESSAGES, messages),
                RUNS: retention.delete_through(cursor, RUNS, threads, "thread_id")
                + retention.delete_through(cursor, RUNS, runs),
                THREADS: retention.delete_through(cursor, THREADS, threads),
                ASSISTANTS: retention.delete_through(cursor, ASSISTANTS, assistants),
            }
        return deleted


_retention: AssistantsRetention | None = None
_made = threading.Lock()


def assistants_retention() -> AssistantsRetention:
    """This process's retention (LLMSIM_ASSISTANTS_RETAIN, LLMSIM_ASSISTANTS_RETAIN_BYTES)."""
    global _retention
    with _made:  # called from the Assistants thread pool: one instance, whichever thread comes first
        if _retention is None:
            _retention = AssistantsRetention(settings.LLMSIM_ASSISTANTS_RETAIN, settings.LLMSIM_ASSISTANTS_RETAIN_BYTES)
    return _retention
