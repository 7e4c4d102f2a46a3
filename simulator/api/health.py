"""GET /health for load balancers and test fixtures; GET /llmsim/stats."""

from __future__ import annotations

from stats.recorder import recorder

from .. import snapshots
from .http import JSON_CONTENT_TYPE, Call, dump_json, send_bytes
from .routes import route


@route("GET", "/health")
async def health(call: Call) -> None:
    snapshot = snapshots.current()
    body = dump_json({"status": "ok", "snapshot_version": snapshot.version, "model_profiles": len(snapshot.models)})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, (b"cache-control", b"no-store")])


@route("GET", "/llmsim/stats")
async def stats(call: Call) -> None:
    await send_bytes(call, 200, dump_json(recorder.snapshot()), [JSON_CONTENT_TYPE, (b"cache-control", b"no-store")])
