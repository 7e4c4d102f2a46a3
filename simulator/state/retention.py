"""Keeping a table of client-created rows bounded: its newest rows, within a count and a size.

Stored responses and the Assistants API's objects are written by clients, and a load
test writes them by the thousand: each such table keeps only its newest rows, at most
`rows` of them and at most `max_bytes` by their `size` column (models.ClientData), and
the rest is deleted oldest first. Rows are ordered by their auto-increment id, so
"older than" is "id at or below": the deletes are range deletes on the primary key (or
on an indexed foreign key), and the sizes are added up from the (id, size) index,
without reading the rows. The SQL is plain (SQLite and PostgreSQL alike).

BackgroundPruner is what each kind of table (Assistants, files and batches) shares: it
counts the writes and runs the kind's `prune` on a thread of its own now and then.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

# All the rows newer than a cutoff whose sizes, from the newest down, add up to more
# than the budget: the newest of them is the first that does not fit.
_OVER_BUDGET = """
SELECT MAX(id) FROM (
    SELECT id, SUM(size) OVER (ORDER BY id DESC ROWS UNBOUNDED PRECEDING) AS newer FROM {table} WHERE id > %s
) AS kept WHERE newer > %s
"""


def cutoff(cursor: Any, table: str, rows: int, max_bytes: int) -> int:
    """The id at and below which rows of `table` go (0: none): all but its newest `rows`, and
    of those, the older ones past `max_bytes` in all."""
    cursor.execute(f"SELECT MAX(id) FROM {table}")
    newest = cursor.fetchone()[0]
    if newest is None:
        return 0
    # Ids grow by one a row: the newest `rows` rows are those above newest - rows (fewer
    # where some were deleted meanwhile, never more).
    below = max(0, newest - rows)
    # Mostly the kept rows fit: one sum over the index says so, cheaper than the running total.
    cursor.execute(f"SELECT SUM(size) FROM {table} WHERE id > %s", [below])
    if (cursor.fetchone()[0] or 0) <= max_bytes:
        return below
    cursor.execute(_OVER_BUDGET.format(table=table), [below, max_bytes])
    over = cursor.fetchone()[0]
    return below if over is None else max(below, over)


def delete_through(cursor: Any, table: str, last_id: int, column: str = "id") -> int:
    """Delete the rows of `table` whose `column` (id, or a foreign key) is at most `last_id`; how many."""
    if last_id <= 0:
        return 0
    cursor.execute(f"DELETE FROM {table} WHERE {column} <= %s", [last_id])
    return cursor.rowcount


def prune_every(rows: int, max_bytes: int) -> tuple[int, int]:
    """How many rows, or bytes, may come in between two prunes: a tenth of the limits (at most
    1,000 rows), so that a table holds at most 110 % of them and a prune is rare."""
    return max(1, min(1000, rows // 10)), max(1, max_bytes // 10)


class BackgroundPruner(ABC):
    """Counts the rows a process writes to some tables (from any thread) and, once a tenth of
    a limit has come in, prunes them (`prune`) on a thread of its own: no request waits for
    a prune, and two never run at once. Every process counts its own writes: with several,
    a table holds at most its limits plus a tenth of them per process.
    """

    what = "tables"  # what the log calls them when a prune fails

    def __init__(self, retain: int, retain_bytes: int, using: str = "default") -> None:
        self.retain = retain
        self.retain_bytes = retain_bytes
        self.using = using
        self.every_rows, self.every_bytes = prune_every(retain, retain_bytes)
        self._rows = 0
        self._bytes = 0
        self._pending = False
        self._lock = threading.Lock()
        self._pruner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmsim-retention")

    @abstractmethod
    def prune(self) -> dict[str, int]:
        """Delete the oldest rows past the limits; how many went, by table."""

    def wrote(self, *rows: Any) -> None:
        """Count rows just written or grown (their `size`); queue a prune when it is time."""
        with self._lock:
            self._rows += len(rows)
            self._bytes += sum(row.size for row in rows)
            if self._pending or not self._due():
                return
            self._pending = True
        self._pruner.submit(self._prune_in_background)

    def _due(self) -> bool:
        """Whether a tenth of a limit has come in since the last prune began (hold the lock); if so, count anew."""
        if self._rows < self.every_rows and self._bytes < self.every_bytes:
            return False
        self._rows = self._bytes = 0
        return True

    def _prune_in_background(self) -> None:
        while True:
            try:
                self.prune()
            except DatabaseError as exc:  # busy or unreachable: the next prune catches up
                logger.warning("could not prune the %s: %s", self.what, exc)
            except Exception:
                logger.exception("could not prune the %s", self.what)
            finally:
                connections[self.using].close()  # prunes are rare: no connection kept for the next
            with self._lock:
                # What came in while this prune ran was counted, not queued: its turn is now.
                if not self._due():
                    self._pending = False
                    return
