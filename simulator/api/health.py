"""GET /health for load balancers and test fixtures; GET /llmsim/stats and /metrics."""

from __future__ import annotations

from stats import metrics, sharing

from .. import snapshots
from .http import JSON_CONTENT_TYPE, Call, dump_json, send_bytes
from .routes import route

NO_STORE = (b"cache-control", b"no-store")


@route("GET", "/health")
async def health(call: Call) -> None:
    snapshot = snapshots.current()
    body = dump_json({"status": "ok", "snapshot_version": snapshot.version, "model_profiles": len(snapshot.models)})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, NO_STORE])


@route("GET", "/llmsim/stats")
async def stats(call: Call) -> None:
    """Every process's numbers, added up (see stats/sharing.py and the README)."""
    await send_bytes(call, 200, dump_json(sharing.snapshot()), [JSON_CONTENT_TYPE, NO_STORE])


@route("GET", "/metrics")
async def prometheus_metrics(call: Call) -> None:
    """The same numbers in Prometheus's text format."""
    await send_bytes(call, 200, metrics.render(), [(b"content-type", metrics.CONTENT_TYPE.encode()), NO_STORE])
