"""GET /health for load balancers and test fixtures; GET /llmsim/stats and /metrics."""

from __future__ import annotations

from functools import wraps

from simulator import process_overrides
from simulator.providers.openai.errors import send_error
from simulator.server.http import JSON_CONTENT_TYPE, Call, ProviderError, dump_json, send_bytes
from simulator.server.router import Handler
from simulator.state import snapshots
from stats import access, metrics, sharing

NO_STORE = (b"cache-control", b"no-store")


def ops_only(handler: Handler) -> Handler:
    """Answer 401 (OpenAI's error format, as every error of these routes) to whom
    LLMSIM_OPS_AUTH does not let in (see stats/access.py)."""

    @wraps(handler)
    async def wrapper(call: Call) -> None:
        if await access.allowed(call.headers):
            await handler(call)
            return
        challenge = (b"www-authenticate", b'Bearer realm="llmsim"')
        await send_error(call, ProviderError(401, access.REFUSED, "authentication", headers=[challenge, NO_STORE]))

    return wrapper


async def health(call: Call) -> None:
    snapshot = snapshots.current()
    body = dump_json(
        {
            "status": "ok",
            "snapshot_version": snapshot.version,
            "model_profiles": len(snapshot.models),
            "overrides": process_overrides.current(),  # what this process's startup configuration sets
        }
    )
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, NO_STORE])


@ops_only
async def stats(call: Call) -> None:
    """Every process's numbers, added up (see stats/sharing.py and docs/observability.md)."""
    await send_bytes(call, 200, dump_json(sharing.snapshot()), [JSON_CONTENT_TYPE, NO_STORE])


@ops_only
async def prometheus_metrics(call: Call) -> None:
    """The same numbers in Prometheus's text format."""
    await send_bytes(call, 200, metrics.render(), [(b"content-type", metrics.CONTENT_TYPE.encode()), NO_STORE])
