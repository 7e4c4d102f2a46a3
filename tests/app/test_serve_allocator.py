"""`serve` under granian: its workers give freed memory back at once, unless the user says otherwise.

granian's allocator (jemalloc) reads `_RJEM_MALLOC_CONF` once, when granian is imported:
what matters is the environment granian finds then. The memory it saves is a benchmark
figure (docs/benchmarks.md, `bench/run.py --only streams`), not a timed test.
"""

from __future__ import annotations

import os
import sys
import types

import pytest

from simulator.management.commands import serve

OPTIONS = {"access_log": False, "verbosity": 1}


@pytest.fixture
def granian_seen(monkeypatch):
    """Stand in for granian; what it found in the environment when imported, then when it served."""
    seen: list[str | None] = []
    module = types.ModuleType("granian")

    def __getattr__(name: str):
        if name != "Granian":
            raise AttributeError(name)
        seen.append(os.environ.get(serve.GRANIAN_ALLOCATOR[0]))

        class Granian:
            def __init__(self, *args, **kwargs) -> None:
                seen.append(os.environ.get(serve.GRANIAN_ALLOCATOR[0]))

            def serve(self) -> None:
                pass

        return Granian

    module.__getattr__ = __getattr__
    monkeypatch.setitem(sys.modules, "granian", module)
    monkeypatch.delenv(serve.GRANIAN_ALLOCATOR[0], raising=False)
    return seen


def test_granian_is_imported_with_freed_pages_returned_at_once(granian_seen):
    serve._serve_granian("127.0.0.1", 8000, 1, OPTIONS)
    assert granian_seen == ["dirty_decay_ms:0,muzzy_decay_ms:0"] * 2
    assert os.environ[serve.GRANIAN_ALLOCATOR[0]] == "dirty_decay_ms:0,muzzy_decay_ms:0"  # workers inherit it


def test_an_allocator_setting_of_the_users_own_wins(granian_seen, monkeypatch):
    monkeypatch.setenv(serve.GRANIAN_ALLOCATOR[0], "narenas:2")
    serve._serve_granian("127.0.0.1", 8000, 1, OPTIONS)
    assert granian_seen == ["narenas:2"] * 2
