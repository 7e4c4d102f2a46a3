"""The immutable, in-memory view of everything the admin manages.

The request path reads only this: one Snapshot per process, replaced whole (never
mutated) when the admin changes something.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from simulator.engine.cost import Prices
from simulator.engine.errors import NO_ERRORS, ErrorProfile
from simulator.engine.latency import INSTANT, LatencyProfile
from simulator.engine.load import LoadLimit
from simulator.engine.ratelimit import RateLimit
from simulator.engine.rules import NO_RULES, RuleSet
from simulator.engine.toolcalls import ToolBehaviour
from simulator.engine.types import MEMO_NAME_CHARS

DEFAULT_TOOL_BEHAVIOUR = ToolBehaviour()

# Model names are client input: cap the per-snapshot memo of name lookups.
RESOLVE_MEMO_LIMIT = 4096
# Separators after which a longer name still belongs to a profile: "gpt-5-2025-08-07",
# "gpt-5.1", "o3-mini" belong to gpt-5, gpt-5 and o3.
_SNAPSHOT_SEPARATORS = ("-", ".", ":", "@")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    owned_by: str = "llmsim"
    provider: str = "openai"
    aliases: tuple[str, ...] = ()
    context_window: int = 128_000
    max_output_tokens: int = 16_384
    encoding: str = "o200k_base"
    latency: LatencyProfile = INSTANT
    reasoning: bool = False
    created: int = 1_700_000_000
    listed: bool = True
    # The model's default limits per scenario, API key and model: reported in the
    # rate-limit headers of every answer, enforced only where a scenario or the
    # settings say so (Scenario.enforce_model_limits). None: no limit, no headers.
    rate_limit: RateLimit | None = None
    # What an answer costs (engine.cost); None: prices unknown, answers cost nothing.
    prices: Prices | None = None
    # How many answers run at once, their slowdown and queue (engine.load); None: unlimited.
    load: LoadLimit | None = None
    # The shortest prompt prefix the model caches (engine.prompt_cache); None: it caches nothing.
    prompt_cache_min_tokens: int | None = None


DEFAULT_MODEL = ModelSpec(
    id="default",
    latency=LatencyProfile(ttft_mean_ms=600, ttft_stddev_ms=150, tbt_mean_ms=40, tbt_stddev_ms=12),
    listed=False,
    rate_limit=RateLimit(requests_per_minute=500, tokens_per_minute=500_000),  # gpt-5's, OpenAI Tier 1
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """How the simulated models behave: the global settings, or a named scenario layered on them."""

    name: str = "default"
    generator: str = "lorem"
    fixed_text: str = "This is a simulated response."
    target_tokens: int = 100
    # When set, every model answers with this latency (config `latency.profile`/custom).
    latency_override: LatencyProfile | None = None
    errors: ErrorProfile = NO_ERRORS
    seed: int | None = None
    tools: ToolBehaviour = DEFAULT_TOOL_BEHAVIOUR
    # The scenario's own limits, always enforced; without them the model's defaults count.
    rate_limit: RateLimit | None = None
    # Whether a model's default limits refuse (429) what does not fit, or are only reported.
    enforce_model_limits: bool = False
    rules: RuleSet = NO_RULES  # by priority (a plain sequence of rules is turned into one)
    # A replay scenario's recordings (a simulator.recording.replay.Replay; typed loosely,
    # as the engine imports nothing from the other floors): they answer before the rules.
    replay: object | None = None
    # Batches: how long one takes (seconds) and how it ends (engine/batch.py).
    batch_duration_s: float = 10.0
    batch_outcome: str = "completed"

    def __post_init__(self) -> None:
        if not isinstance(self.rules, RuleSet):
            object.__setattr__(self, "rules", RuleSet(self.rules))


DEFAULT_SCENARIO = Scenario()


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    models: tuple[ModelSpec, ...] = ()
    # Answers for models no profile matches (unless strict_models).
    default_model: ModelSpec = DEFAULT_MODEL
    strict_models: bool = False
    # What requests without x-llmsim-scenario get.
    default_scenario: Scenario = DEFAULT_SCENARIO
    scenarios: dict[str, Scenario] = field(default_factory=dict)  # by lower-case name
    _exact: dict[str, ModelSpec] = field(default_factory=dict, repr=False, compare=False)
    _memo: dict[str, ModelSpec | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_replays(self) -> bool:
        """Whether any scenario replays recordings (if none, requests need not look)."""
        return self._has_replays

    def __post_init__(self) -> None:
        scenarios = (self.default_scenario, *self.scenarios.values())
        object.__setattr__(self, "_has_replays", any(scenario.replay is not None for scenario in scenarios))
        for spec in self.models:
            self._exact.setdefault(spec.id.lower(), spec)
        for spec in self.models:
            for alias in spec.aliases:
                if not _is_pattern(alias):
                    self._exact.setdefault(alias.lower(), spec)

    def resolve(self, model: str) -> ModelSpec | None:
        """The profile for a requested model name, or None when nothing matches.

        Order: exact id, exact alias, alias glob pattern (`claude-*-sonnet-*`), then the
        longest id the name extends (`gpt-5-2025-08-07` → gpt-5).
        """
        key = model.lower()
        try:
            return self._memo[key]
        except KeyError:
            pass
        spec = self._exact.get(key) or self._match_pattern(key) or self._match_prefix(key)
        if len(self._memo) < RESOLVE_MEMO_LIMIT and len(key) <= MEMO_NAME_CHARS:
            self._memo[key] = spec
        return spec

    def model_for(self, model: str) -> ModelSpec | None:
        """The profile a request for `model` answers with; None means 404 (strict mode)."""
        spec = self.resolve(model)
        if spec is None and not self.strict_models:
            return self.default_model
        return spec

    def scenario(self, name: str | None) -> Scenario | None:
        """The scenario a request names (None: the default), or None when no scenario has that name."""
        if not name:
            return self.default_scenario
        return self.scenarios.get(name.strip().lower())

    def _match_pattern(self, key: str) -> ModelSpec | None:
        for spec in self.models:
            for alias in spec.aliases:
                if _is_pattern(alias) and fnmatch.fnmatchcase(key, alias.lower()):
                    return spec
        return None

    def _match_prefix(self, key: str) -> ModelSpec | None:
        best: ModelSpec | None = None
        best_key = ""
        for known, spec in self._exact.items():
            extends = key.startswith(known) and key[len(known) : len(known) + 1] in _SNAPSHOT_SEPARATORS
            if extends and len(known) > len(best_key):
                best, best_key = spec, known
        return best


def _is_pattern(alias: str) -> bool:
    return any(c in alias for c in "*?[")
