"""What LLMSim's management commands say when their database is not ready."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError
from django.db import OperationalError, ProgrammingError


@contextmanager
def scenario_tables(database: str) -> Iterator[None]:
    """A database without LLMSim's tables (a fresh clone before its first migrate), or one
    that cannot be opened, becomes a CommandError saying what to do instead of a traceback."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        raise CommandError(
            f"The {database!r} database cannot be used ({str(exc).strip()}). If it is new, create "
            "LLMSim's tables first: python manage.py migrate (scripts/serve does it for you)."
        ) from None
