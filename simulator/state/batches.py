"""Files and batches (OpenAI's /v1/files and /v1/batches, Anthropic's Message Batches): the
rows, and the one module that reads and writes them.

A batch's answers are planned when it is created and stored with it, in request order;
its status follows from the clock (simulator/engine/batch.py), so no background task has
to be alive for a batch to finish. The first read of an OpenAI batch that has ended
writes its output and error files (`settle_files`). Everything here runs off the event
loop (`off_loop`, a small thread pool); every row written is counted for retention:
the newest LLMSIM_BATCHES_RETAIN batches and three times as many files are kept, each
kind within LLMSIM_BATCHES_RETAIN_BYTES (simulator/state/retention.py).

Models of the `simulator` app (simulator/models.py imports them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, models, transaction

from simulator.state import retention
from simulator.state.client_data import ClientData

T = TypeVar("T")


class StoredFile(ClientData):
    """A file uploaded through POST /v1/files, or a batch's output or error file."""

    public_id = models.CharField("id", max_length=64, unique=True, help_text="file-…, as clients see it.")
    created_at = models.BigIntegerField(help_text="Unix seconds.")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=30, help_text="batch, assistants, user_data, or batch_output.")
    bytes = models.PositiveBigIntegerField(default=0)
    content = models.BinaryField()

    class Meta(ClientData.Meta):
        verbose_name = "uploaded file"

    def __str__(self) -> str:
        return self.public_id


class Batch(ClientData):
    """An OpenAI batch or an Anthropic message batch: its requests' answers, planned when it
    was made, come out as its timeline (engine/batch.py) says they are done."""

    public_id = models.CharField("id", max_length=64, unique=True, help_text="batch_… or msgbatch_…")
    provider = models.CharField(max_length=20, help_text="openai or anthropic.")
    endpoint = models.CharField(max_length=64, blank=True, help_text="OpenAI: the endpoint every line calls.")
    input_file_id = models.CharField(max_length=64, blank=True)
    completion_window = models.CharField(max_length=10, default="24h")
    metadata = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="The first request's model.")
    created_at = models.FloatField(help_text="Unix seconds, fractional: the timeline starts here.")
    duration_s = models.FloatField(help_text="From creation to the end of processing.")
    outcome = models.CharField(max_length=20, help_text="completed, partial, expired or failed.")
    cancelled_at = models.FloatField(null=True, blank=True, help_text="When a cancel was asked for.")
    custom_ids = models.JSONField(default=list, help_text="Each request's custom_id, in order.")
    lines = models.TextField(blank=True, help_text="Each request's answer as a JSONL line, in order.")
    failed = models.JSONField(default=list, help_text="The indexes of the requests that failed.")
    errors = models.JSONField(null=True, blank=True, help_text="Why validation failed (outcome failed).")
    output_file_id = models.CharField(max_length=64, blank=True)
    error_file_id = models.CharField(max_length=64, blank=True)
    settled = models.BooleanField(default=False, help_text="Its output and error files are written.")

    class Meta(ClientData.Meta):
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.public_id


# --- off the event loop ------------------------------------------------------------------

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="llmsim-batches")


def _in_thread(work: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    return work(*args)


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """Run ORM work in the batches' thread pool; the event loop goes on with other streams."""
    return await asyncio.get_running_loop().run_in_executor(_pool, partial(_in_thread, work, *args))


def save(row: ClientData) -> ClientData:
    """Insert a row and count it for retention."""
    row.save()
    batches_retention().wrote(row)
    return row


class UnknownCursor(LookupError):
    """A list's `after` (or `before`) names no row of that list."""


def _page(rows: Any, after: str | None, before: str | None, limit: int, descending: bool = True) -> tuple[list, bool]:
    """One page of `rows` by creation order (newest first when `descending`) and whether more follow.

    `after`: the rows past that one in the list's order; `before`: those ahead of it.
    """

    def cursor(public_id: str) -> int:
        pk = rows.filter(public_id=public_id).values_list("pk", flat=True).first()
        if pk is None:
            raise UnknownCursor(public_id)
        return pk

    later, earlier = ("pk__lt", "pk__gt") if descending else ("pk__gt", "pk__lt")
    if before is not None:
        items = list(rows.filter(**{earlier: cursor(before)}).order_by("pk" if descending else "-pk")[: limit + 1])
        return items[:limit][::-1], len(items) > limit
    if after is not None:
        rows = rows.filter(**{later: cursor(after)})
    items = list(rows.order_by("-pk" if descending else "pk")[: limit + 1])
    return items[:limit], len(items) > limit


def find_file(public_id: str, with_content: bool = False) -> StoredFile | None:
    rows = StoredFile.objects.all() if with_content else StoredFile.objects.defer("content")
    return rows.filter(public_id=public_id).first()


def file_page(purpose: str | None, after: str | None, limit: int, descending: bool) -> tuple[list[StoredFile], bool]:
    """A page of the files (without their content), of one purpose if given."""
    rows = StoredFile.objects.defer("content")
    return _page(rows.filter(purpose=purpose) if purpose else rows, after, None, limit, descending)


def delete_stored_file(public_id: str) -> bool:
    """Delete the file; False when there was none by that id."""
    return StoredFile.objects.filter(public_id=public_id).delete()[0] > 0


def find_batch(public_id: str, provider: str, with_lines: bool = False) -> Batch | None:
    """The batch, its stored answers (up to megabytes) read only when asked for or first used."""
    rows = Batch.objects.filter(provider=provider)
    return (rows if with_lines else rows.defer("lines")).filter(public_id=public_id).first()


def batch_page(provider: str, after: str | None, before: str | None, limit: int) -> tuple[list[Batch], bool]:
    """A page of one provider's batches, newest first."""
    return _page(Batch.objects.filter(provider=provider).defer("lines"), after, before, limit)


def mark_cancelled(batch: Batch, now: float) -> Batch:
    """Note a cancel (the first one counts: another process may have noted it already)."""
    Batch.objects.filter(pk=batch.pk, cancelled_at=None).update(cancelled_at=now)
    batch.refresh_from_db(fields=["cancelled_at"])
    return batch


def delete_stored_batch(batch: Batch) -> None:
    Batch.objects.filter(pk=batch.pk).delete()


def file_id_for(batch_id: str, kind: str) -> str:
    """The id of a batch's output or error file: derived, so two processes settling one batch agree."""
    return "file-" + hashlib.sha256(f"{batch_id}/{kind}".encode()).hexdigest()[:24]


def settle_files(batch: Batch, output: bytes, errors: bytes, created_at: int) -> Batch:
    """Write an ended OpenAI batch's output and error files, once whoever reads it first."""
    output_id = file_id_for(batch.public_id, "output") if output else ""
    error_id = file_id_for(batch.public_id, "error") if errors else ""
    with transaction.atomic():
        # The update first: of two processes settling at once, one gets the row.
        taken = Batch.objects.filter(pk=batch.pk, settled=False).update(
            settled=True, output_file_id=output_id, error_file_id=error_id
        )
        files = [
            StoredFile(
                public_id=file_id,
                created_at=created_at,
                filename=f"{batch.public_id}_{kind}.jsonl",
                purpose="batch_output",
                bytes=len(content),
                content=content,
            )
            for file_id, kind, content in ((output_id, "output", output), (error_id, "error", errors))
            if file_id
        ]
        for row in files if taken else ():
            row.save()
    if taken:
        batches_retention().wrote(*files)
    batch.refresh_from_db()
    return batch


# --- retention ----------------------------------------------------------------------------

FILES = StoredFile._meta.db_table
BATCHES = Batch._meta.db_table
# Files kept per batch kept: its input, output and error files.
FILES_PER_BATCH = 3


class BatchesRetention(retention.BackgroundPruner):
    """Prunes the files and batches tables when enough rows have come in (retention.BackgroundPruner)."""

    what = "files and batches tables"

    def prune(self) -> dict[str, int]:
        """Delete the oldest rows past the limits; how many went, by table."""
        connection = connections[self.using]
        with connection.cursor() as cursor:
            files = retention.cutoff(cursor, FILES, self.retain * FILES_PER_BATCH, self.retain_bytes)
            batches = retention.cutoff(cursor, BATCHES, self.retain, self.retain_bytes)
        try:
            with transaction.atomic(using=self.using), connection.cursor() as cursor:
                return {
                    FILES: retention.delete_through(cursor, FILES, files),
                    BATCHES: retention.delete_through(cursor, BATCHES, batches),
                }
        except DatabaseError:
            connection.close()
            raise


_retention: BatchesRetention | None = None
_made = threading.Lock()


def batches_retention() -> BatchesRetention:
    """This process's retention (LLMSIM_BATCHES_RETAIN, LLMSIM_BATCHES_RETAIN_BYTES)."""
    global _retention
    with _made:
        if _retention is None:
            _retention = BatchesRetention(settings.LLMSIM_BATCHES_RETAIN, settings.LLMSIM_BATCHES_RETAIN_BYTES)
    return _retention
