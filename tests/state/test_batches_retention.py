"""Files and batches are kept within LLMSIM_BATCHES_RETAIN and LLMSIM_BATCHES_RETAIN_BYTES:
the oldest go, so that a load test cannot fill the disk."""

from __future__ import annotations

import pytest

from simulator.state.batches import Batch, BatchesRetention, StoredFile, file_id_for, settle_files


def a_file(number: int, size: int = 10) -> StoredFile:
    row = StoredFile(public_id=f"file-{number}", created_at=0, filename="a.jsonl", purpose="batch", content=b"x" * size)
    row.save()
    return row


def a_batch(number: int, lines: str = "") -> Batch:
    row = Batch(
        public_id=f"batch_{number}",
        provider="openai",
        created_at=0,
        duration_s=0,
        outcome="completed",
        custom_ids=["a"],
        lines=lines,
    )
    row.save()
    return row


@pytest.mark.django_db
def test_it_keeps_the_newest_batches_and_three_files_per_batch():
    for number in range(10):
        a_file(number)
        a_batch(number)
    deleted = BatchesRetention(retain=2, retain_bytes=10**9).prune()
    assert deleted == {StoredFile._meta.db_table: 4, Batch._meta.db_table: 8}
    assert list(Batch.objects.order_by("pk").values_list("public_id", flat=True)) == ["batch_8", "batch_9"]
    assert StoredFile.objects.count() == 6


@pytest.mark.django_db
def test_it_keeps_files_within_the_bytes_budget():
    for number in range(5):
        a_file(number, size=1000)
    BatchesRetention(retain=100, retain_bytes=2500).prune()
    assert list(StoredFile.objects.order_by("pk").values_list("public_id", flat=True)) == ["file-3", "file-4"]


@pytest.mark.django_db
def test_a_batch_is_settled_once_whoever_reads_it_first():
    batch = a_batch(1, '{"line": 1}')
    settle_files(batch, b"out\n", b"", 0)
    again = settle_files(Batch.objects.get(pk=batch.pk), b"other\n", b"more\n", 0)
    assert (again.output_file_id, again.error_file_id) == (file_id_for("batch_1", "output"), "")
    assert bytes(StoredFile.objects.get(public_id=again.output_file_id).content) == b"out\n"
    assert StoredFile.objects.count() == 1
