"""Stats that add up across worker processes and replicas.

Each process counts in memory (stats/recorder.py). Where several processes serve,
a publisher thread in each one writes that process's export to a shared store once
a second and reads back the others'; a stats reader merges its own live numbers with
the others' last published ones (one or two publish intervals old). The request path
never waits on the store.

Stores, chosen by the environment:
- Redis (REDIS_URL): every replica's export under LLMSIM_REDIS_PREFIX;
- a directory (LLMSIM_STATS_DIR, which `manage.py serve` makes for its workers): one
  file per process;
- neither: this process alone (runserver, or one worker).

Reset: the store holds a reset generation (epoch). Resetting bumps it; every
publisher that sees a new epoch clears its counters, and readers ignore exports of
an older epoch, so no process's old numbers come back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson

from stats.recorder import Recorder, recorder
from stats.report import Totals, merge, to_json

logger = logging.getLogger(__name__)

# Exports of processes that have stopped publishing are kept this long (their counters
# still count), then Redis forgets them.
EXPORT_TTL_SECONDS = 24 * 3600


class RedisStore:
    name = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.epoch_key = f"{prefix}:stats:epoch"
        self.members_key = f"{prefix}:stats:processes"
        self.export_prefix = f"{prefix}:stats:process:"

    def epoch(self) -> int:
        return int(self.client.get(self.epoch_key) or 0)

    def bump_epoch(self) -> int:
        return int(self.client.incr(self.epoch_key))

    def publish(self, process: str, data: bytes) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.export_prefix + process, data, ex=EXPORT_TTL_SECONDS)
            pipe.sadd(self.members_key, process)
            pipe.expire(self.members_key, EXPORT_TTL_SECONDS)
            pipe.execute()

    def read(self) -> dict[str, bytes]:
        processes = sorted(member.decode() for member in self.client.smembers(self.members_key))
        if not processes:
            return {}
        values = self.client.mget([self.export_prefix + process for process in processes])
        gone = [process for process, value in zip(processes, values, strict=True) if value is None]
        if gone:
            self.client.srem(self.members_key, *gone)
        return {process: value for process, value in zip(processes, values, strict=True) if value is not None}


class DirectoryStore:
    name = "directory"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def epoch(self) -> int:
        try:
            return int((self.path / "epoch").read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def bump_epoch(self) -> int:
        epoch = self.epoch() + 1
        self._write("epoch", str(epoch).encode())
        return epoch

    def publish(self, process: str, data: bytes) -> None:
        self._write(f"process-{process}.json", data)

    def read(self) -> dict[str, bytes]:
        found = {}
        for file in self.path.glob("process-*.json"):
            with contextlib.suppress(FileNotFoundError):
                found[file.name[len("process-") : -len(".json")]] = file.read_bytes()
        return found

    def _write(self, name: str, data: bytes) -> None:
        temporary = self.path / f".{name}.{os.getpid()}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self.path / name)  # readers see the old file or the new one, never half


class Sharing:
    """This process's publisher and its view of the others."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.store: RedisStore | DirectoryStore | None = None
        self.interval = 1.0
        self.process = ""
        self.others: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    @property
    def mode(self) -> str:
        return self.store.name if self.store is not None else "process"

    def configure(self, redis_url: str, prefix: str, directory: str, interval: float) -> None:
        if redis_url:
            self.store = RedisStore(redis_url, prefix)
        elif directory:
            self.store = DirectoryStore(directory)
        else:
            self.store = None
        self.interval = interval

    def start(self) -> None:
        """Start publishing (once per server process)."""
        if self.store is None or (self._thread is not None and self._thread.is_alive()):
            return
        self.process = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._thread = threading.Thread(target=self._run, name="llmsim-stats-publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # the store is away: keep counting, try again next time
                logger.warning("could not share stats through %s", self.mode, exc_info=True)
            self._wake.wait(self.interval)
            self._wake.clear()

    def tick(self) -> None:
        """Catch up with a reset, publish this process's numbers, read the others'."""
        store = self.store
        if store is None:
            return
        epoch = store.epoch()
        if self.recorder.epoch is None:
            self.recorder.epoch = epoch  # what was counted before belongs to the current generation
        elif epoch != self.recorder.epoch:
            self.recorder.reset(epoch)
        store.publish(self.process, orjson.dumps(self.recorder.export()))
        others = []
        for process, data in store.read().items():
            if process == self.process:
                continue
            with contextlib.suppress(ValueError, KeyError):
                export = orjson.loads(data)
                if export["epoch"] == epoch:
                    others.append(export)
        self.others = others

    def totals(self) -> Totals:
        """Every process's numbers: this one's live, the others' as last published."""
        epoch = self.recorder.epoch
        return merge([self.recorder.export(), *(other for other in self.others if other["epoch"] == epoch)])

    def reset(self) -> None:
        """Clear the counters of every process that shares this store."""
        epoch = self.store.bump_epoch() if self.store is not None else None
        self.recorder.reset(epoch)
        self.others = []
        self._wake.set()  # publish the cleared numbers now rather than within a second


sharing = Sharing(recorder)


def snapshot() -> dict[str, Any]:
    """The body of GET /llmsim/stats."""
    return to_json(sharing.totals(), sharing.mode)


def reset() -> None:
    sharing.reset()
