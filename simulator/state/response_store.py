"""Stored Responses API answers (StoredResponse rows), written and read off the event loop.

The request path never runs a query itself: Django forbids it in an event loop, and a
query there would stall every stream of the process. Saves go to one writer thread,
which inserts whatever has queued up in one transaction (a burst of answers costs one
commit, not one each), wakes the waiting requests with one call per batch, and prunes
the oldest rows every so often (the table keeps the newest LLMSIM_RESPONSES_RETAIN rows
within LLMSIM_RESPONSES_RETAIN_BYTES: simulator/state/retention.py); reads and deletes go to
a small thread pool. The SQL is written out (portable between SQLite and PostgreSQL):
the ORM's per-row Python cost would be paid under the interpreter lock the event loop
needs.

Only requests that store (`store: true`, the API's default), continue an earlier
response (`previous_response_id`) or retrieve one pay for any of this.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from simulator.models import StoredResponse
from simulator.state import retention

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Saves one transaction takes at most (the rest wait for the next).
_BATCH_LIMIT = 500
# How far back previous_response_id is followed: a longer conversation is cut there.
MAX_CHAIN = 1000

_TABLE = StoredResponse._meta.db_table
_COLUMNS = "response_id, model, previous_response_id, input_items, response"
_INSERT = f"INSERT INTO {_TABLE} (created, size, {_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
_SELECT = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE response_id = %s"
# The response and its predecessors in one query, newest first.
_CHAIN = f"""
WITH RECURSIVE chain (depth, {_COLUMNS}) AS (
    SELECT 0, {_COLUMNS} FROM {_TABLE} WHERE response_id = %s
    UNION ALL
    SELECT chain.depth + 1, {", ".join(f"r.{c.strip()}" for c in _COLUMNS.split(","))}
    FROM {_TABLE} r JOIN chain ON r.response_id = chain.previous_response_id
    WHERE chain.depth < %s
)
SELECT {_COLUMNS} FROM chain ORDER BY depth DESC
"""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored response: its JSON exactly as answered, and its request's input items."""

    response_id: str
    model: str
    previous_response_id: str
    input_items: str  # JSON array
    response: str  # JSON object

    @property
    def size(self) -> int:
        """Its bytes as stored (what LLMSIM_RESPONSES_RETAIN_BYTES counts)."""
        return len(self.input_items.encode()) + len(self.response.encode())


Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]


class ResponseStore:
    """StoredResponse rows behind awaitables: save, get, chain, delete; keeps the newest
    `retain` rows within `retain_bytes`."""

    def __init__(self, retain: int, retain_bytes: int, using: str = "default", prune_every: int | None = None) -> None:
        self.retain = retain
        self.retain_bytes = retain_bytes
        self.using = using
        # Pruning is one indexed DELETE, run every so many saves or bytes: the table holds
        # at most retain + prune_every rows, and retain_bytes + prune_every_bytes (and one
        # response), between two prunes.
        rows, size = retention.prune_every(retain, retain_bytes)
        self.prune_every = prune_every or rows
        self.prune_every_bytes = size
        self._saved_since_prune = 0
        self._bytes_since_prune = 0
        self._queue: queue.SimpleQueue[tuple[Record, Waiter]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="llmsim-responses")

    # --- the event loop's side ---------------------------------------------------

    def save(self, record: Record) -> asyncio.Future[None]:
        """Store `record`; the future is done once it is committed (readable by every process)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._start_writer()
        self._queue.put((record, (loop, done)))
        return done

    async def get(self, response_id: str) -> Record | None:
        return await self._off_loop(self._get, response_id)

    async def chain(self, response_id: str) -> list[Record]:
        """The response and those it continues (previous_response_id), oldest first; [] when it is unknown.

        A predecessor pruned or deleted in the meantime ends the chain there.
        """
        return await self._off_loop(self._chain, response_id)

    async def delete(self, response_id: str) -> bool:
        """Delete the response; False when there was none by that id."""
        return await self._off_loop(self._delete, response_id)

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._guarded, work, *args)

    # --- the threads' side -------------------------------------------------------

    def _guarded(self, work: Callable[..., T], *args: Any) -> T:
        try:
            return work(*args)
        except DatabaseError:
            # A broken connection (a restarted PostgreSQL) must not stay this thread's.
            connections[self.using].close()
            raise

    def _start_writer(self) -> None:
        if self._writer is not None:
            return
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_forever, name="llmsim-responses-writer", daemon=True)
                self._writer.start()

    def _write_forever(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _BATCH_LIMIT:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error: Exception | None = None
            try:
                self._guarded(self.write, [record for record, _ in batch])
            except Exception as exc:
                logger.exception("could not store %d responses", len(batch))
                error = exc
            # One wake-up per event loop for the whole batch, not one per request.
            waiters: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, (loop, done) in batch:
                waiters.setdefault(loop, []).append(done)
            for loop, futures in waiters.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_settle, futures, error)

    def write(self, records: list[Record]) -> None:
        """Insert `records` in one transaction, and prune when enough saves have come in."""
        connection = connections[self.using]
        created = connection.ops.adapt_datetimefield_value(timezone.now())
        sizes = [r.size for r in records]
        rows = [
            (created, size, r.response_id, r.model, r.previous_response_id, r.input_items, r.response)
            for r, size in zip(records, sizes, strict=True)
        ]
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            cursor.executemany(_INSERT, rows)
        self._saved_since_prune += len(rows)
        self._bytes_since_prune += sum(sizes)
        if self._saved_since_prune >= self.prune_every or self._bytes_since_prune >= self.prune_every_bytes:
            self._saved_since_prune = self._bytes_since_prune = 0
            self.prune()

    def prune(self) -> int:
        """Delete all but the newest `retain` rows (by insertion order) within `retain_bytes`; the number deleted."""
        with connections[self.using].cursor() as cursor:
            last = retention.cutoff(cursor, _TABLE, self.retain, self.retain_bytes)
            return retention.delete_through(cursor, _TABLE, last)

    def _get(self, response_id: str) -> Record | None:
        with connections[self.using].cursor() as cursor:
            cursor.execute(_SELECT, [response_id])
            row = cursor.fetchone()
        return Record(*row) if row else None

    def _chain(self, response_id: str) -> list[Record]:
        with connections[self.using].cursor() as cursor:
            cursor.execute(_CHAIN, [response_id, MAX_CHAIN - 1])
            return [Record(*row) for row in cursor.fetchall()]

    def _delete(self, response_id: str) -> bool:
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"DELETE FROM {_TABLE} WHERE response_id = %s", [response_id])
            return cursor.rowcount > 0


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for done in futures:
        if done.done():  # the request was cancelled meanwhile
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


_store: ResponseStore | None = None


def store() -> ResponseStore:
    """This process's store (LLMSIM_RESPONSES_RETAIN rows and LLMSIM_RESPONSES_RETAIN_BYTES at
    most, give or take a prune)."""
    global _store
    if _store is None:
        _store = ResponseStore(settings.LLMSIM_RESPONSES_RETAIN, settings.LLMSIM_RESPONSES_RETAIN_BYTES)
    return _store
