"""Turn the admin-managed tables into the engine's immutable Snapshot, and keep it fresh.

Each server process holds one Snapshot in memory (`current()`); a daemon thread polls
SnapshotVersion and swaps in a rebuilt snapshot when an edit bumped it. The request
path therefore never queries the database and never waits for a rebuild. The process's
own startup configuration is layered over the stored settings in every build
(simulator/process_overrides.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from simulator import process_overrides
from simulator.engine.cost import Prices
from simulator.engine.errors import ErrorProfile as EngineErrorProfile
from simulator.engine.latency import LatencyProfile
from simulator.engine.load import LoadLimit
from simulator.engine.ratelimit import RateLimit
from simulator.engine.rules import Match, Rule, RuleError, parse_action
from simulator.engine.snapshot import DEFAULT_MODEL, ModelSpec, Scenario, Snapshot
from simulator.engine.toolcalls import ToolBehaviour
from simulator.models import ErrorProfile, ModelProfile, ResponseRule, SimulatorSettings, SnapshotVersion
from simulator.models import Scenario as ScenarioRow
from simulator.process_overrides import NO_OVERRIDES, Overrides
from simulator.state import recordings, resets

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
        distribution=profile.latency_distribution,
        ttft_p99_ms=profile.ttft_p99_ms,
        tbt_p99_ms=profile.tbt_p99_ms,
        stall_probability=profile.stall_probability,
        stall_ms=profile.stall_ms,
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
        rate_limit=rate_limit_of(profile.requests_per_minute, profile.tokens_per_minute),
        prices=prices_of(profile),
        load=load_of(profile),
        prompt_cache_min_tokens=profile.prompt_cache_min_tokens,
    )


def load_of(profile: ModelProfile) -> LoadLimit | None:
    """The profile's capacity; None when max_concurrency is empty (no limit)."""
    if not profile.max_concurrency:
        return None
    return LoadLimit(profile.max_concurrency, profile.load_factor, profile.queue_size, profile.overload_status)


def prices_of(profile: ModelProfile) -> Prices | None:
    """The profile's prices; None unless both the input and the output price are known."""
    if profile.input_usd_per_mtok is None or profile.output_usd_per_mtok is None:
        return None
    return Prices(
        input_usd_per_mtok=profile.input_usd_per_mtok,
        output_usd_per_mtok=profile.output_usd_per_mtok,
        cached_input_usd_per_mtok=profile.cached_input_usd_per_mtok,
        cache_write_usd_per_mtok=profile.cache_write_usd_per_mtok,
    )


def rate_limit_of(requests_per_minute: int | None, tokens_per_minute: int | None) -> RateLimit | None:
    """The limits of a row; None when it sets none (0 cannot come from the admin, but a raw row or an
    import could carry it: no limit)."""
    rpm, tpm = requests_per_minute or None, tokens_per_minute or None
    return RateLimit(rpm, tpm) if rpm or tpm else None


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
        disconnect_rate=profile.disconnect_rate,
        stream_error_rate=profile.stream_error_rate,
        stall_rate=profile.stall_rate,
        fault_after_tokens=profile.fault_after_tokens,
        stall_ms=profile.stall_ms,
    )


def rule_of(row: ResponseRule) -> Rule | None:
    """The engine's rule, or None (logged) for a row that slipped past validation."""
    try:
        steps, scope, when_exhausted = parse_action(row.action)
        match = Match(
            model=row.match_model,
            last_user=row.match_last_user,
            any_message=row.match_any_message,
            system=row.match_system,
            regex=row.regex,
            ignore_case=row.ignore_case,
            tools_present=row.match_tools_present,
            tool_offered=row.match_tool_offered,
            last_is_tool_result=row.match_last_is_tool_result,
            header=row.match_header,
            api_key=row.match_api_key,
        )
        return Rule(
            name=row.name,
            match=match,
            steps=steps,
            priority=row.priority,
            scope=scope,
            when_exhausted=when_exhausted,
            id=row.pk,
        )
    except RuleError as exc:
        logger.warning("response rule %r of scenario %s is ignored: %s", row.name, row.scenario_id, exc)
        return None


def scenario_of(row: ScenarioRow, base: Scenario, rules: tuple[Rule, ...]) -> Scenario:
    """A named scenario: its own values where set, the global settings' elsewhere."""
    tools = base.tools
    if row.tool_call_rate is not None or row.tool_call_rounds is not None or row.parallel_tool_calls is not None:
        tools = ToolBehaviour(
            call_rate=tools.call_rate if row.tool_call_rate is None else row.tool_call_rate,
            rounds=tools.rounds if row.tool_call_rounds is None else row.tool_call_rounds,
            parallel_calls=tools.parallel_calls if row.parallel_tool_calls is None else row.parallel_tool_calls,
        )
    enforce = row.enforce_model_rate_limits
    return Scenario(
        name=row.name,
        generator=row.generator or base.generator,
        fixed_text=row.fixed_text or base.fixed_text,
        target_tokens=row.target_tokens or base.target_tokens,
        latency_override=latency_of(row.latency_profile) if row.latency_profile else base.latency_override,
        errors=errors_of(row.error_profile) if row.error_profile else base.errors,
        seed=row.seed if row.seed is not None else base.seed,
        tools=tools,
        rate_limit=rate_limit_of(row.requests_per_minute, row.tokens_per_minute),
        enforce_model_limits=base.enforce_model_limits if enforce is None else enforce,
        rules=rules,
        batch_duration_s=row.batch_duration_s,
        batch_outcome=row.batch_outcome,
    )


def read_version(using: str = "default") -> int:
    row = SnapshotVersion.objects.using(using).filter(pk=1).values_list("version", flat=True).first()
    return row or 0


def _read_counters() -> tuple[int, int, int]:
    """The version and the two reset counters, in the one query each poll makes."""
    fields = ("version", "sequence_resets", "rate_limit_resets")
    return SnapshotVersion.objects.filter(pk=1).values_list(*fields).first() or (0, 0, 0)


def build_snapshot(using: str = "default", overrides: Overrides = NO_OVERRIDES) -> Snapshot:
    """Read every scenario table once, layer `overrides` over the stored settings, and freeze the result."""
    version = read_version(using)
    stored = (
        SimulatorSettings.objects.using(using)
        .select_related("latency_profile", "default_profile", "error_profile", "default_scenario")
        .filter(pk=1)
        .first()
    ) or SimulatorSettings()
    config = process_overrides.layer(stored, overrides, using)  # in memory: never saved
    models = tuple(spec_of(p) for p in ModelProfile.objects.using(using).all())
    base = Scenario(
        name="",
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
        enforce_model_limits=config.enforce_model_rate_limits,
    )
    rules: dict[int, list[Rule]] = {}
    for row in ResponseRule.objects.using(using).filter(enabled=True).order_by("priority", "id"):
        rule = rule_of(row)
        if rule is not None:
            rules.setdefault(row.scenario_id, []).append(rule)
    rows = list(ScenarioRow.objects.using(using).select_related("latency_profile", "error_profile"))
    replays = recordings.replays_by_scenario(rows, using)
    scenarios = {
        row.name.lower(): replace(scenario_of(row, base, tuple(rules.get(row.pk, ()))), replay=replays.get(row.pk))
        for row in rows
    }
    default = scenarios.get(config.default_scenario.name.lower()) if config.default_scenario_id else None
    return Snapshot(
        version=version,
        models=models,
        default_model=spec_of(config.default_profile) if config.default_profile else DEFAULT_MODEL,
        strict_models=config.strict_models,
        default_scenario=default or replace(base, name="default"),
        scenarios=scenarios,
    )


def refresh(force: bool = False) -> bool:
    """Rebuild the snapshot if the stored version moved; True when it was replaced."""
    global _current
    with _lock:
        version, sequence_resets, rate_limit_resets = _read_counters()
        resets.catch_up(sequence_resets, rate_limit_resets)  # the management API's resets, from any process
        if not force and version == _current.version:
            return False
        _current = build_snapshot(overrides=process_overrides.mine())
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
