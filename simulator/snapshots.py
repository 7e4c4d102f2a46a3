"""Turn the admin-managed tables into the engine's immutable Snapshot, and keep it fresh.

Each server process holds one Snapshot in memory (`current()`); a daemon thread polls
SnapshotVersion and swaps in a rebuilt snapshot when an edit bumped it. The request
path therefore never queries the database and never waits for a rebuild.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from .engine.errors import ErrorProfile as EngineErrorProfile
from .engine.latency import LatencyProfile
from .engine.snapshot import DEFAULT_MODEL, ModelSpec, Snapshot
from .engine.toolcalls import ToolBehaviour
from .models import ErrorProfile, ModelProfile, SimulatorSettings, SnapshotVersion

logger = logging.getLogger(__name__)

_current = Snapshot()
_refresher: threading.Thread | None = None
_lock = threading.Lock()


def current() -> Snapshot:
    """The snapshot requests are answered from (never blocks)."""
    return _current


def latency_of(profile: ModelProfile) -> LatencyProfile:
    return LatencyProfile(
        ttft_mean_ms=profile.ttft_mean_ms,
        ttft_stddev_ms=profile.ttft_stddev_ms,
        tbt_mean_ms=profile.tbt_mean_ms,
        tbt_stddev_ms=profile.tbt_stddev_ms,
        prefill_ms_per_1k_tokens=profile.prefill_ms_per_1k_tokens,
    )


def spec_of(profile: ModelProfile) -> ModelSpec:
    return ModelSpec(
        id=profile.model_id,
        owned_by=profile.owned_by,
        provider=profile.provider,
        aliases=tuple(profile.alias_list()),
        context_window=profile.context_window,
        max_output_tokens=profile.max_output_tokens,
        encoding=profile.encoding,
        latency=latency_of(profile),
        reasoning=profile.is_reasoning,
        created=int(profile.created_at.timestamp()),
        listed=profile.listed,
    )


def errors_of(profile: ErrorProfile | None) -> EngineErrorProfile:
    if profile is None:
        return EngineErrorProfile()
    return EngineErrorProfile(
        rate_limit_rate=profile.rate_limit_rate,
        server_error_rate=profile.server_error_rate,
        service_unavailable_rate=profile.service_unavailable_rate,
        timeout_rate=profile.timeout_rate,
        timeout_after_ms=profile.timeout_after_ms,
        timeout_disconnect=profile.timeout_action == ErrorProfile.TimeoutAction.DISCONNECT,
        retry_after_ms=profile.retry_after_ms,
    )


def read_version(using: str = "default") -> int:
    row = SnapshotVersion.objects.using(using).filter(pk=1).values_list("version", flat=True).first()
    return row or 0


def build_snapshot(using: str = "default") -> Snapshot:
    """Read every scenario table once and freeze the result."""
    version = read_version(using)
    config = (
        SimulatorSettings.objects.using(using)
        .select_related("latency_profile", "default_profile", "error_profile")
        .filter(pk=1)
        .first()
    ) or SimulatorSettings()
    models = tuple(spec_of(p) for p in ModelProfile.objects.using(using).all())
    return Snapshot(
        version=version,
        models=models,
        default_model=spec_of(config.default_profile) if config.default_profile else DEFAULT_MODEL,
        strict_models=config.strict_models,
        generator=config.generator,
        fixed_text=config.fixed_text,
        target_tokens=config.target_tokens,
        latency_override=latency_of(config.latency_profile) if config.latency_profile else None,
        errors=errors_of(config.error_profile),
        seed=config.seed,
        tools=ToolBehaviour(
            call_rate=config.tool_call_rate,
            rounds=config.tool_call_rounds,
            parallel_calls=config.parallel_tool_calls,
        ),
    )


def refresh(force: bool = False) -> bool:
    """Rebuild the snapshot if the stored version moved; True when it was replaced."""
    global _current
    with _lock:
        version = read_version()
        if not force and version == _current.version:
            return False
        _current = build_snapshot()
        logger.info("scenario snapshot %s loaded (%d model profiles)", _current.version, len(_current.models))
        return True


def _poll_forever(interval: float) -> None:
    while True:
        time.sleep(interval)
        try:
            refresh()
        except DatabaseError as exc:  # locked SQLite, restarting PostgreSQL: try again next round
            logger.warning("snapshot refresh failed: %s", exc)
        finally:
            close_old_connections()


def start() -> None:
    """Load the snapshot now and keep it fresh in the background (idempotent)."""
    global _refresher
    if _refresher is not None:
        return
    try:
        refresh(force=True)
    except DatabaseError as exc:
        # Not migrated yet: serve the built-in defaults until the tables appear.
        logger.warning("scenario tables unavailable (%s); serving built-in defaults", exc)
    finally:
        close_old_connections()
    _refresher = threading.Thread(
        target=_poll_forever, args=(settings.LLMSIM_SNAPSHOT_POLL_SECONDS,), name="llmsim-snapshot", daemon=True
    )
    _refresher.start()
