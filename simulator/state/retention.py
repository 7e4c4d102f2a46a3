"""Keeping a table of client-created rows bounded: its newest rows, within a count and a size.

Stored responses and the Assistants API's objects are written by clients, and a load
test writes them by the thousand: each such table keeps only its newest rows, at most
`rows` of them and at most `max_bytes` by their `size` column (models.ClientData), and
the rest is deleted oldest first. Rows are ordered by their auto-increment id, so
"older than" is "id at or below": the deletes are range deletes on the primary key (or
on an indexed foreign key), and the sizes are added up from the (id, size) index,
without reading the rows. The SQL is plain (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from typing import Any

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
