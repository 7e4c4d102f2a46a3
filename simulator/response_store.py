"""Stored Responses API answers (StoredResponse rows), written and read off the event loop.

The request path never runs the ORM itself: Django forbids it in an event loop, and a
query there would stall every stream of the process. Saves go to one writer thread,
which inserts whatever has queued up in one transaction (a burst of answers costs one
commit, not one each) and prunes the oldest rows every so often; reads and deletes go
to a small thread pool. Each call returns an awaitable for the event loop.

Only requests that store (`store: true`, the API's default), continue an earlier
response (`previous_response_id`) or retrieve one pay for any of this.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from .models import StoredResponse

logger = logging.getLogger(__name__)

# Saves one transaction takes at most (the rest wait for the next).
_BATCH_LIMIT = 500
# How far back previous_response_id is followed: a longer conversation is cut there.
MAX_CHAIN = 1000


@dataclass(frozen=True, slots=True)
class Record:
    """One stored response: its JSON exactly as answered, and its request's input items."""

    response_id: str
    model: str
    previous_response_id: str
    input_items: str  # JSON array
    response: str  # JSON object


class ResponseStore:
    """StoredResponse rows behind awaitables: save, get, chain, delete; keeps the newest `retain`."""

    def __init__(self, retain: int, using: str = "default", prune_every: int | None = None) -> None:
        self.retain = retain
        self.using = using
        # Pruning is one indexed DELETE, run every so many saves: the table holds at most
        # retain + prune_every rows between two prunes.
        self.prune_every = prune_every or max(1, min(1000, retain // 10))
        self._saved_since_prune = 0
        self._queue: queue.SimpleQueue[tuple[Record, concurrent.futures.Future[None]]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="llmsim-responses")

    # --- the event loop's side ---------------------------------------------------

    def save(self, record: Record) -> asyncio.Future[None]:
        """Store `record`; the future is done once it is committed (readable by every process)."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._start_writer()
        self._queue.put((record, done))
        return asyncio.wrap_future(done)

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

    async def _off_loop(self, work, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._guarded, work, *args)

    # --- the threads' side -------------------------------------------------------

    def _guarded(self, work, *args):
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
            try:
                self._guarded(self.write, [record for record, _ in batch])
            except Exception as exc:
                logger.exception("could not store %d responses", len(batch))
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)

    def write(self, records: list[Record]) -> None:
        """Insert `records` in one transaction, and prune when enough saves have come in."""
        rows = [
            StoredResponse(
                response_id=record.response_id,
                model=record.model,
                previous_response_id=record.previous_response_id,
                input_items=record.input_items,
                response=record.response,
            )
            for record in records
        ]
        with transaction.atomic(using=self.using):
            StoredResponse.objects.using(self.using).bulk_create(rows)
        self._saved_since_prune += len(rows)
        if self._saved_since_prune >= self.prune_every:
            self._saved_since_prune = 0
            self.prune()

    def prune(self) -> int:
        """Delete all but the newest `retain` rows (by insertion order); the number deleted.

        Raw SQL: QuerySet.delete() would load every row first, because the snapshot
        signal listens to every model's post_delete.
        """
        table = StoredResponse._meta.db_table
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {table}")
            newest = cursor.fetchone()[0]
            if newest is None or newest <= self.retain:
                return 0
            cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [newest - self.retain])
            return cursor.rowcount

    def _get(self, response_id: str) -> Record | None:
        row = (
            StoredResponse.objects.using(self.using)
            .filter(response_id=response_id)
            .values_list("response_id", "model", "previous_response_id", "input_items", "response")
            .first()
        )
        return Record(*row) if row else None

    def _chain(self, response_id: str) -> list[Record]:
        records: list[Record] = []
        seen: set[str] = set()
        next_id = response_id
        while next_id and next_id not in seen and len(records) < MAX_CHAIN:
            record = self._get(next_id)
            if record is None:
                break
            records.append(record)
            seen.add(next_id)
            next_id = record.previous_response_id
        records.reverse()
        return records

    def _delete(self, response_id: str) -> bool:
        table = StoredResponse._meta.db_table
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE response_id = %s", [response_id])
            return cursor.rowcount > 0


_store: ResponseStore | None = None


def store() -> ResponseStore:
    """This process's store (LLMSIM_RESPONSES_RETAIN rows at most, give or take a prune)."""
    global _store
    if _store is None:
        _store = ResponseStore(settings.LLMSIM_RESPONSES_RETAIN)
    return _store
